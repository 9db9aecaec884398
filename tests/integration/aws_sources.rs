//! S3, SNS, EventBridge and CloudWatch alarm sources end to end through moto: real buckets,
//! topics, rules and queues; the function receives what the service's own trigger would give.

use std::time::Duration;

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Event as S3Event, NotificationConfiguration, QueueConfiguration};
use aws_sdk_sns::types::MessageAttributeValue;
use serde_json::{json, Value};

use crate::support::harness::{eventually, http_get, unique, Daemon, Moto, Setup};
use crate::support::lambda_endpoint::LambdaEndpoint;
use crate::support::PATIENCE;

/// `+` → space and `%XX` → byte, as S3 encodes keys in notifications.
fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() && u8::from_str_radix(&s[i + 1..i + 3], 16).is_ok() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_notifications_arrive_as_lambdas_s3_event_with_every_kind_of_key() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let s3 = moto.s3();
    let bucket = unique("uploads");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let queue = moto.queue(&unique("uploads-events")).await;
    s3.put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .queue_arn(moto.queue_arn(&queue))
                        .events(S3Event::from("s3:ObjectCreated:*"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    let keys = ["in/file 1.json", "a+b.txt", "100%.txt", "ünï/çødé.txt", "deep/er/path/x.jpg"];
    for key in keys {
        s3.put_object().bucket(&bucket).key(key).body(b"x".to_vec().into()).send().await.unwrap();
    }
    s3.copy_object().bucket(&bucket).key("copied.txt").copy_source(format!("{bucket}/a%2Bb.txt")).send().await.unwrap();
    let upload = s3.create_multipart_upload().bucket(&bucket).key("big file.bin").send().await.unwrap();
    let id = upload.upload_id().unwrap();
    let part = s3
        .upload_part()
        .bucket(&bucket)
        .key("big file.bin")
        .upload_id(id)
        .part_number(1)
        .body(vec![7u8; 1024].into())
        .send()
        .await
        .unwrap();
    s3.complete_multipart_upload()
        .bucket(&bucket)
        .key("big file.bin")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder().parts(CompletedPart::builder().part_number(1).e_tag(part.e_tag().unwrap()).build()).build(),
        )
        .send()
        .await
        .unwrap();

    let setup = Setup::new("", "[targets.resize]\nfunction = \"resize\"\n");
    setup.source("uploads", &format!("type = \"s3\"\nqueue_url = \"{queue}\"\ntarget = \"resize\"\nwait_time = \"1s\"\n"));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    let addr = daemon.metrics_addr().await;
    eventually(PATIENCE, "seven S3 events delivered", || async { lambda.accepted_payloads("resize").len() >= 7 }).await;
    eventually(PATIENCE, "the queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    let (_, metrics) = http_get(&addr, "/metrics");
    assert!(
        metrics.lines().any(|l| l.starts_with("fanin_events_skipped_total") && l.contains("s3:TestEvent") && l.ends_with(" 1")),
        "the test event S3 sends on configuration is skipped and counted:\n{metrics}"
    );
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    let mut seen = Vec::new();
    for p in lambda.accepted_payloads("resize") {
        let records = p["Records"].as_array().unwrap();
        assert_eq!(records.len(), 1, "one record per event");
        let r = &records[0];
        assert_eq!(r["eventSource"], "aws:s3");
        assert_eq!(r["s3"]["bucket"]["name"], bucket.as_str());
        seen.push((form_decode(r["s3"]["object"]["key"].as_str().unwrap()), r["eventName"].as_str().unwrap().to_string()));
    }
    // moto also notifies an ObjectCreated:Put for the multipart upload; S3 does not.
    seen.retain(|(k, e)| !(k == "big file.bin" && e == "ObjectCreated:Put"));
    seen.sort();
    let mut want: Vec<(String, String)> = keys.iter().map(|k| (k.to_string(), "ObjectCreated:Put".to_string())).collect();
    want.push(("copied.txt".into(), "ObjectCreated:Copy".into()));
    want.push(("big file.bin".into(), "ObjectCreated:CompleteMultipartUpload".into()));
    want.sort();
    assert_eq!(seen, want, "the key the record carries decodes to the key that was put");
    assert!(setup.dead_letters().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_messages_raw_and_enveloped_arrive_as_lambdas_sns_event() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let sns = moto.sns();
    let topic = sns.create_topic().name(unique("news")).send().await.unwrap().topic_arn.unwrap();
    let enveloped = moto.queue(&unique("news-enveloped")).await;
    let raw = moto.queue(&unique("news-raw")).await;
    sns.subscribe().topic_arn(&topic).protocol("sqs").endpoint(moto.queue_arn(&enveloped)).send().await.unwrap();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(moto.queue_arn(&raw))
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    sns.publish()
        .topic_arn(&topic)
        .subject("Order placed")
        .message("{\"order\":42}")
        .message_attributes("kind", MessageAttributeValue::builder().data_type("String").string_value("order").build().unwrap())
        .send()
        .await
        .unwrap();

    let setup = Setup::new("", "[targets.enveloped]\nfunction = \"enveloped\"\n[targets.raw]\nfunction = \"raw\"\n");
    setup.source("enveloped", &format!("type = \"sns\"\nqueue_url = \"{enveloped}\"\ntarget = \"enveloped\"\nwait_time = \"1s\"\n"));
    setup.source("raw", &format!("type = \"sns\"\nqueue_url = \"{raw}\"\ntopic_arn = \"{topic}\"\ntarget = \"raw\"\nwait_time = \"1s\"\n"));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "both deliveries", || async {
        !lambda.accepted_payloads("enveloped").is_empty() && !lambda.accepted_payloads("raw").is_empty()
    })
    .await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    for (function, subject) in [("enveloped", json!("Order placed")), ("raw", Value::Null)] {
        let p = &lambda.accepted_payloads(function)[0];
        let r = &p["Records"][0];
        assert_eq!(r["EventSource"], "aws:sns", "{function}: {p}");
        assert_eq!(r["EventVersion"], "1.0");
        assert!(r["EventSubscriptionArn"].as_str().unwrap().starts_with(&topic));
        let m = &r["Sns"];
        assert_eq!(m["Type"], "Notification");
        assert_eq!(m["TopicArn"], topic.as_str());
        assert_eq!(m["Message"], "{\"order\":42}");
        assert_eq!(m["Subject"], subject, "{function}: raw delivery carries no subject");
        assert_eq!(m["MessageAttributes"]["kind"], json!({"Type": "String", "Value": "order"}), "{function}");
        for field in ["MessageId", "Timestamp", "SignatureVersion", "Signature", "SigningCertUrl", "UnsubscribeUrl"] {
            assert!(m.get(field).is_some(), "{function}: Sns.{field} missing: {m}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventbridge_events_reach_only_the_matching_routes() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let events = moto.eventbridge();
    let queue = moto.queue(&unique("bus-target")).await;
    let rule = unique("orders-rule");
    events.put_rule().name(&rule).event_pattern(json!({"source": ["app.orders"]}).to_string()).send().await.unwrap();
    events
        .put_targets()
        .rule(&rule)
        .targets(aws_sdk_eventbridge::types::Target::builder().id("q").arn(moto.queue_arn(&queue)).build().unwrap())
        .send()
        .await
        .unwrap();
    for (source, amount) in [("app.orders", 50), ("app.orders", 500), ("app.other", 900)] {
        events
            .put_events()
            .entries(
                aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .source(source)
                    .detail_type("OrderPlaced")
                    .detail(json!({"amount": amount}).to_string())
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    let setup = Setup::new("", "[targets.all]\nfunction = \"all\"\n[targets.big]\nfunction = \"big\"\n");
    setup.source(
        "bus",
        &format!(
            "type = \"eventbridge\"\nqueue_url = \"{queue}\"\nwait_time = \"1s\"\n\
             [[routes]]\ntarget = \"all\"\n\
             [[routes]]\ntarget = \"big\"\nfilter = {{ detail = {{ amount = [{{ numeric = [\">=\", 100] }}] }} }}\n"
        ),
    );
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "two events at all, one at big", || async {
        lambda.accepted_payloads("all").len() >= 2 && !lambda.accepted_payloads("big").is_empty()
    })
    .await;
    eventually(PATIENCE, "the queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());
    let amounts = |f: &str| {
        let mut v: Vec<i64> = lambda.accepted_payloads(f).iter().map(|p| p["detail"]["amount"].as_i64().unwrap()).collect();
        v.sort();
        v
    };
    assert_eq!(amounts("all"), vec![50, 500], "the rule kept app.other out; the event arrives as is");
    assert_eq!(amounts("big"), vec![500]);
    let p = &lambda.accepted_payloads("big")[0];
    assert_eq!(p["source"], "app.orders");
    assert_eq!(p["detail-type"], "OrderPlaced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_state_changes_arrive_as_the_alarm_action_event_and_bad_ones_are_dead_lettered() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let queue = moto.queue(&unique("alarms")).await;
    let sqs = moto.sqs();
    let sns = moto.sns();
    let topic = sns.create_topic().name(unique("alarm-topic")).send().await.unwrap().topic_arn.unwrap();
    sns.subscribe().topic_arn(&topic).protocol("sqs").endpoint(moto.queue_arn(&queue)).send().await.unwrap();

    // As EventBridge delivers "CloudWatch Alarm State Change" to a queue target.
    let from_eventbridge = json!({
        "version": "0", "id": "4f1c5d2e-0000-0000-0000-000000000001", "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch", "account": "123456789012", "time": "2026-11-27T01:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:cpu-high"],
        "detail": {
            "alarmName": "cpu-high",
            "state": {"value": "ALARM", "reason": "Threshold Crossed", "timestamp": "2026-11-27T01:00:00.000+0000"},
            "previousState": {"value": "OK", "reason": "fine", "timestamp": "2026-11-27T00:00:00.000+0000"},
            "configuration": {"description": "CPU", "metrics": [{"id": "m1", "metricStat": {"metric": {"namespace": "AWS/EC2", "name": "CPUUtilization", "dimensions": {"InstanceId": "i-1"}}, "period": 300, "stat": "Average"}, "returnData": true}]}
        }
    });
    sqs.send_message().queue_url(&queue).message_body(from_eventbridge.to_string()).send().await.unwrap();
    // As an SNS alarm action publishes it.
    let alarm_message = json!({
        "AlarmName": "disk-full", "AlarmDescription": "Disk", "AWSAccountId": "123456789012", "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed", "StateChangeTime": "2026-11-27T01:00:00.000+0000", "Region": "US East (N. Virginia)",
        "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:disk-full", "OldStateValue": "OK",
        "Trigger": {"MetricName": "DiskUsed", "Namespace": "CWAgent", "StatisticType": "Statistic", "Statistic": "AVERAGE", "Unit": null,
                    "Dimensions": [{"name": "path", "value": "/"}], "Period": 60, "EvaluationPeriods": 1,
                    "ComparisonOperator": "GreaterThanThreshold", "Threshold": 90.0}
    });
    sns.publish().topic_arn(&topic).subject("ALARM: disk-full").message(alarm_message.to_string()).send().await.unwrap();
    // An alarm in a state that does not exist, and a truncated message.
    let mut bad_state = from_eventbridge.clone();
    bad_state["detail"]["state"]["value"] = json!("ON_FIRE");
    sqs.send_message().queue_url(&queue).message_body(bad_state.to_string()).send().await.unwrap();
    sqs.send_message().queue_url(&queue).message_body("{\"detail-type\": \"CloudWatch Alarm").send().await.unwrap();

    let setup = Setup::new("", "[targets.pager]\nfunction = \"pager\"\n");
    setup.source("alarms", &format!("type = \"cloudwatch_alarm\"\nqueue_url = \"{queue}\"\ntarget = \"pager\"\nwait_time = \"1s\"\n"));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "the queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    let mut got = lambda.accepted_payloads("pager");
    got.sort_by_key(|p| p["alarmData"]["alarmName"].as_str().unwrap().to_string());
    assert_eq!(got.len(), 2, "{got:?}");
    for (p, name) in got.iter().zip(["cpu-high", "disk-full"]) {
        assert_eq!(p["source"], "aws.cloudwatch");
        assert_eq!(p["alarmArn"], format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"));
        assert_eq!(p["alarmData"]["alarmName"], name);
        assert_eq!(p["alarmData"]["state"]["value"], "ALARM");
        assert_eq!(p["alarmData"]["previousState"]["value"], "OK");
        assert!(p["alarmData"]["configuration"].is_object());
        assert_eq!(p["accountId"], "123456789012");
    }
    let dead = setup.dead_letters();
    assert_eq!(dead.len(), 2);
    assert!(dead.iter().all(|r| r["requestContext"]["condition"] == "InvalidEvent"), "{dead:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_s3_and_sns_messages_are_dead_lettered_as_invalid() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let s3_queue = moto.queue(&unique("bad-s3")).await;
    let sqs = moto.sqs();
    for body in [
        "{\"Records\":[{\"eventSource\":\"aws:s3\"",
        "{\"Records\":[{\"eventSource\":\"aws:s3\",\"eventName\":\"ObjectCreated:Put\"}]}",
        "{\"Type\":\"Notification\",\"MessageId\":\"m\",\"TopicArn\":\"arn:aws:sns:us-east-1:123456789012:t\",\"Message\":\"not an S3 notification\",\"Timestamp\":\"2026-11-27T01:00:00.000Z\"}",
    ] {
        sqs.send_message().queue_url(&s3_queue).message_body(body).send().await.unwrap();
    }
    let eb_queue = moto.queue(&unique("bad-eb")).await;
    sqs.send_message().queue_url(&eb_queue).message_body("[1,2,3]").send().await.unwrap();
    let setup = Setup::new("", "[targets.work]\nfunction = \"work\"\n");
    setup.source("bad-s3", &format!("type = \"s3\"\nqueue_url = \"{s3_queue}\"\ntarget = \"work\"\nwait_time = \"1s\"\n"));
    setup.source("bad-eb", &format!("type = \"eventbridge\"\nqueue_url = \"{eb_queue}\"\ntarget = \"work\"\nwait_time = \"1s\"\n"));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "both queues empty", || async { moto.depth(&s3_queue).await == (0, 0) && moto.depth(&eb_queue).await == (0, 0) })
        .await;
    assert!(daemon.running(), "no crash");
    assert!(daemon.terminate(Duration::from_secs(30)).success());
    let dead = setup.dead_letters();
    assert_eq!(dead.len(), 4, "{dead:?}");
    for r in &dead {
        assert_eq!(r["requestContext"]["condition"], "InvalidEvent");
        assert!(r["responseContext"]["errorMessage"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert!(lambda.invocations().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_notifications_through_sns_and_through_eventbridge_arrive_as_the_same_s3_event() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let s3 = moto.s3();
    let sns = moto.sns();
    let events = moto.eventbridge();

    // Bucket one notifies a topic the queue is subscribed to.
    let via_sns_bucket = unique("via-sns");
    s3.create_bucket().bucket(&via_sns_bucket).send().await.unwrap();
    let topic = sns.create_topic().name(unique("uploads-topic")).send().await.unwrap().topic_arn.unwrap();
    let via_sns = moto.queue(&unique("via-sns-events")).await;
    sns.subscribe().topic_arn(&topic).protocol("sqs").endpoint(moto.queue_arn(&via_sns)).send().await.unwrap();
    s3.put_bucket_notification_configuration()
        .bucket(&via_sns_bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .topic_configurations(
                    aws_sdk_s3::types::TopicConfiguration::builder()
                        .topic_arn(&topic)
                        .events(S3Event::from("s3:ObjectCreated:*"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    // Bucket two sends its events to EventBridge, where a rule targets the queue.
    let via_eb_bucket = unique("via-eb");
    s3.create_bucket().bucket(&via_eb_bucket).send().await.unwrap();
    let via_eb = moto.queue(&unique("via-eb-events")).await;
    let rule = unique("s3-rule");
    events
        .put_rule()
        .name(&rule)
        .event_pattern(json!({"source": ["aws.s3"], "detail": {"bucket": {"name": [via_eb_bucket.as_str()]}}}).to_string())
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule(&rule)
        .targets(aws_sdk_eventbridge::types::Target::builder().id("q").arn(moto.queue_arn(&via_eb)).build().unwrap())
        .send()
        .await
        .unwrap();
    s3.put_bucket_notification_configuration()
        .bucket(&via_eb_bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .event_bridge_configuration(aws_sdk_s3::types::EventBridgeConfiguration::builder().build())
                .build(),
        )
        .send()
        .await
        .unwrap();

    let keys = ["in/file 1.json", "ünï+%.txt"];
    for bucket in [&via_sns_bucket, &via_eb_bucket] {
        for key in keys {
            s3.put_object().bucket(bucket.as_str()).key(key).body(b"x".to_vec().into()).send().await.unwrap();
        }
    }

    let setup = Setup::new("", "[targets.sns]\nfunction = \"sns\"\n[targets.eb]\nfunction = \"eb\"\n");
    setup.source("via-sns", &format!("type = \"s3\"\nqueue_url = \"{via_sns}\"\ntarget = \"sns\"\nwait_time = \"1s\"\n"));
    // moto also sends an "Object Tags Added" event for each put; the event-name filter keeps
    // the creations (what an operator routing uploads would write anyway).
    setup.source(
        "via-eb",
        &format!("type = \"s3\"\nqueue_url = \"{via_eb}\"\nevents = [\"ObjectCreated:*\"]\ntarget = \"eb\"\nwait_time = \"1s\"\n"),
    );
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "two S3 events by each path", || async {
        lambda.accepted_payloads("sns").len() >= 2 && lambda.accepted_payloads("eb").len() >= 2
    })
    .await;
    eventually(PATIENCE, "both queues empty", || async { moto.depth(&via_sns).await == (0, 0) && moto.depth(&via_eb).await == (0, 0) })
        .await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    for (function, bucket) in [("sns", &via_sns_bucket), ("eb", &via_eb_bucket)] {
        let mut got: Vec<String> = lambda
            .accepted_payloads(function)
            .iter()
            .map(|p| {
                let r = &p["Records"][0];
                assert_eq!(p["Records"].as_array().unwrap().len(), 1);
                assert_eq!(r["eventSource"], "aws:s3", "{function}: {p}");
                assert_eq!(r["s3"]["bucket"]["name"], bucket.as_str());
                assert!(r["eventName"].as_str().unwrap().starts_with("ObjectCreated:"), "{function}: {p}");
                form_decode(r["s3"]["object"]["key"].as_str().unwrap())
            })
            .collect();
        got.sort();
        let mut want: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "{function}: the decoded key is the key that was put");
    }
    assert!(setup.dead_letters().is_empty(), "{:?}", setup.dead_letters());
}
