//! `fanin setup` against fresh buckets, topics, rules and queues: without `--apply` it lists
//! the changes and makes none; with it, it wires every source while keeping what others
//! configured; real traffic then flows through what it wired; a second run changes nothing.

use std::time::Duration;

use aws_sdk_s3::types::{Event as S3Event, NotificationConfiguration, QueueConfiguration};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{json, Value};

use crate::support::harness::{eventually, unique, Daemon, Moto, Setup};
use crate::support::lambda_endpoint::LambdaEndpoint;
use crate::support::PATIENCE;

/// Runs `fanin setup --config <setup> [extra]` to completion; its stdout.
fn fanin_setup(setup: &Setup, moto: &Moto, lambda_url: &str, extra: &[&str]) -> String {
    let config = setup.config();
    let mut args = vec!["setup", "--config", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    let mut run = Daemon::spawn(&args, moto, lambda_url, &[]);
    let status = run.wait(Duration::from_secs(60));
    assert!(status.success(), "fanin setup {extra:?} failed ({status}):\n{}\n{}", run.stdout(), run.log());
    run.stdout()
}

async fn policy_sids(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<String> {
    let out = sqs.get_queue_attributes().queue_url(queue_url).attribute_names(QueueAttributeName::Policy).send().await.unwrap();
    let Some(text) = out.attributes().and_then(|a| a.get(&QueueAttributeName::Policy)).cloned() else { return vec![] };
    let policy: Value = serde_json::from_str(&text).unwrap();
    policy["Statement"].as_array().unwrap().iter().map(|s| s["Sid"].as_str().unwrap().to_string()).collect()
}

async fn notification_ids(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let out = s3.get_bucket_notification_configuration().bucket(bucket).send().await.unwrap();
    let mut ids: Vec<String> = out.queue_configurations().iter().map(|q| q.id().unwrap_or_default().to_string()).collect();
    ids.sort();
    ids
}

async fn subscribed(sns: &aws_sdk_sns::Client, topic: &str, queue_arn: &str) -> bool {
    let out = sns.list_subscriptions_by_topic().topic_arn(topic).send().await.unwrap();
    out.subscriptions().iter().any(|s| s.protocol() == Some("sqs") && s.endpoint() == Some(queue_arn))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_wires_fresh_resources_keeps_others_entries_and_a_second_run_changes_nothing() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let (sqs, s3, sns, events) = (moto.sqs(), moto.s3(), moto.sns(), moto.eventbridge());

    let (bucket, bare_bucket) = (unique("photos"), unique("bare"));
    for b in [&bucket, &bare_bucket] {
        s3.create_bucket().bucket(b).send().await.unwrap();
    }
    let (uploads, news, bus, alarms) = (
        moto.queue(&unique("uploads")).await,
        moto.queue(&unique("news")).await,
        moto.queue(&unique("bus")).await,
        moto.queue(&unique("alarms")).await,
    );
    // What others configured, which setup must keep: a notification on the bucket to another
    // queue, and a statement in the uploads queue's policy.
    let theirs = moto.queue(&unique("theirs")).await;
    let (inbox, thumbs) = (moto.queue(&unique("inbox")).await, moto.queue(&unique("thumbs")).await);
    let their_notification = QueueConfiguration::builder()
        .id("theirs")
        .queue_arn(moto.queue_arn(&theirs))
        .events(S3Event::from("s3:ObjectRemoved:*"))
        .build()
        .unwrap();
    s3.put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(NotificationConfiguration::builder().queue_configurations(their_notification).build())
        .send()
        .await
        .unwrap();
    let their_statement = json!({"Version": "2012-10-17", "Statement": [{"Sid": "theirs", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sqs:SendMessage", "Resource": moto.queue_arn(&uploads)}]});
    sqs.set_queue_attributes()
        .queue_url(&uploads)
        .attributes(QueueAttributeName::Policy, their_statement.to_string())
        .send()
        .await
        .unwrap();
    let topic = sns.create_topic().name(unique("news")).send().await.unwrap().topic_arn.unwrap();
    let (shop, rule, alarm_rule, alarm_prefix) = (unique("shop"), unique("shop-rule"), unique("alarm-rule"), unique("prod"));

    let setup = Setup::new(
        "",
        "[targets.resize]\nfunction = \"resize\"\n[targets.notify]\nfunction = \"notify\"\n\
         [targets.audit]\nfunction = \"audit\"\n[targets.pager]\nfunction = \"pager\"\n",
    );
    setup.source("uploads", &format!("type = \"s3\"\nqueue_url = \"{uploads}\"\nwait_time = \"1s\"\nsuffix = \".jpg\"\ntarget = \"resize\"\nsetup = {{ bucket = \"{bucket}\" }}\n"));
    // Two sources on a bucket that has no notification configuration at all: neither put may
    // undo the other's.
    for (name, queue) in [("inbox", &inbox), ("thumbs", &thumbs)] {
        setup.source(name, &format!("type = \"s3\"\nqueue_url = \"{queue}\"\nwait_time = \"1s\"\nprefix = \"{name}/\"\ntarget = \"resize\"\nsetup = {{ bucket = \"{bare_bucket}\" }}\n"));
    }
    setup.source(
        "news",
        &format!(
            "type = \"sns\"\nqueue_url = \"{news}\"\nwait_time = \"1s\"\ntopic_arn = \"{topic}\"\ntarget = \"notify\"\nsetup = {{}}\n"
        ),
    );
    setup.source(
        "bus",
        &format!("type = \"eventbridge\"\nqueue_url = \"{bus}\"\nwait_time = \"1s\"\ntarget = \"audit\"\nsetup = {{ rule = \"{rule}\", pattern = {{ source = [\"{shop}\"] }} }}\n"),
    );
    setup.source(
        "alarms",
        &format!("type = \"cloudwatch_alarm\"\nqueue_url = \"{alarms}\"\nwait_time = \"1s\"\nalarm_name_prefix = \"{alarm_prefix}\"\ntarget = \"pager\"\nsetup = {{ rule = \"{alarm_rule}\" }}\n"),
    );

    // Without --apply: the list, and nothing changed.
    let listed = fanin_setup(&setup, &moto, &lambda.url(), &[]);
    let would: Vec<&str> = listed.lines().filter(|l| l.contains(": would change: ")).collect();
    // 6 queue policies, 3 bucket notifications, the subscription, 2 rules and 2 targets.
    assert_eq!(would.len(), 14, "{listed}");
    let next = format!("run `fanin setup --config {} --apply` to make them", setup.config().display());
    assert!(listed.contains(&next), "the next command keeps --config: {listed}");
    assert!(listed.contains(&format!("s3 bucket {bucket}: add notification fanin-uploads")), "{listed}");
    assert_eq!(notification_ids(&s3, &bucket).await, ["theirs"]);
    assert_eq!(policy_sids(&sqs, &uploads).await, ["theirs"]);
    assert!(!subscribed(&sns, &topic, &moto.queue_arn(&news)).await);
    assert!(events.describe_rule().name(&rule).send().await.is_err(), "no rule yet");

    // --apply: wired, others' entries kept.
    let applied = fanin_setup(&setup, &moto, &lambda.url(), &["--apply"]);
    assert!(applied.contains("14 change(s) made."), "{applied}");
    assert_eq!(notification_ids(&s3, &bucket).await, ["fanin-uploads", "theirs"]);
    assert_eq!(notification_ids(&s3, &bare_bucket).await, ["fanin-inbox", "fanin-thumbs"]);
    assert_eq!(policy_sids(&sqs, &uploads).await, ["theirs", "fanin-uploads"]);
    for (queue, sid) in [(&news, "fanin-news"), (&bus, "fanin-bus"), (&alarms, "fanin-alarms")] {
        assert_eq!(policy_sids(&sqs, queue).await, [sid]);
    }
    assert!(subscribed(&sns, &topic, &moto.queue_arn(&news)).await);
    let described = events.describe_rule().name(&rule).send().await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(described.event_pattern().unwrap()).unwrap(), json!({"source": [shop]}));
    let targets = events.list_targets_by_rule().rule(&alarm_rule).send().await.unwrap();
    assert_eq!(targets.targets()[0].arn(), moto.queue_arn(&alarms));

    // A second run, listing or applying, finds nothing to do.
    for extra in [&[][..], &["--apply"][..]] {
        let again = fanin_setup(&setup, &moto, &lambda.url(), extra);
        assert!(again.contains("Nothing to change"), "{again}");
    }

    // Real traffic through what setup wired.
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    s3.put_object().bucket(&bucket).key("new photo.jpg").body(b"jpeg".to_vec().into()).send().await.unwrap();
    s3.put_object().bucket(&bucket).key("notes.txt").body(b"text".to_vec().into()).send().await.unwrap();
    sns.publish().topic_arn(&topic).subject("Hello").message("news of the day").send().await.unwrap();
    let entry = |source: &str, detail_type: &str, detail: Value| {
        aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .source(source)
            .detail_type(detail_type)
            .detail(detail.to_string())
            .build()
    };
    let alarm_arn = format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm_prefix}-cpu");
    events
        .put_events()
        .entries(entry(&shop, "OrderPlaced", json!({"amount": 5})))
        .entries(entry("elsewhere", "OrderPlaced", json!({"amount": 6})))
        .entries(
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .source("aws.cloudwatch")
                .detail_type("CloudWatch Alarm State Change")
                .resources(&alarm_arn)
                .detail(
                    json!({"alarmName": format!("{alarm_prefix}-cpu"),
                           "state": {"value": "ALARM", "reason": "high", "timestamp": "2026-11-27T01:00:00.000+0000"},
                           "previousState": {"value": "OK", "reason": "fine", "timestamp": "2026-11-27T00:00:00.000+0000"},
                           "configuration": {"metrics": []}})
                    .to_string(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let accepted = |function: &str| lambda.accepted_payloads(function);
    eventually(PATIENCE, "an event at every function", || async {
        ["resize", "notify", "audit", "pager"].iter().all(|f| !accepted(f).is_empty())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    let resize = accepted("resize");
    assert_eq!(resize.len(), 1, "only the .jpg: {resize:?}");
    assert_eq!(resize[0]["Records"][0]["s3"]["object"]["key"], "new+photo.jpg");
    let notify = accepted("notify");
    assert_eq!(notify.len(), 1);
    assert_eq!(notify[0]["Records"][0]["Sns"]["Subject"], "Hello");
    assert_eq!(notify[0]["Records"][0]["Sns"]["Message"], "news of the day");
    let audit = accepted("audit");
    assert_eq!(audit.len(), 1, "only the rule's source: {audit:?}");
    assert_eq!(audit[0]["source"], shop.as_str());
    let pager = accepted("pager");
    assert_eq!(pager.len(), 1);
    assert_eq!(pager[0]["alarmArn"], alarm_arn.as_str());
    assert_eq!(pager[0]["alarmData"]["state"]["value"], "ALARM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_names_the_source_whose_queue_or_topic_is_missing_and_changes_nothing() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let queue = moto.queue(&unique("present")).await;
    let missing_queue = format!("{}/123456789012/{}", moto.url, unique("never-made"));
    let missing_topic = format!("arn:aws:sns:us-east-1:123456789012:{}", unique("never-made"));
    let setup = Setup::new("", "[targets.notify]\nfunction = \"notify\"\n");
    let config = setup.config();
    let run = |expect: &str| {
        let mut run = Daemon::spawn(&["setup", "--config", config.to_str().unwrap(), "--apply"], &moto, &lambda.url(), &[]);
        let status = run.wait(Duration::from_secs(60));
        assert_eq!(status.code(), Some(1), "{}\n{}", run.stdout(), run.log());
        assert!(run.log().contains(expect), "{expect:?} not in:\n{}", run.log());
    };

    // No source asks for wiring: nothing to do, and no AWS call is needed to say so.
    setup.source("plain", &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\ntarget = \"notify\"\n"));
    let idle = fanin_setup(&setup, &Moto { url: "http://127.0.0.1:9".into() }, &lambda.url(), &["--apply"]);
    assert!(idle.contains("No source has a `setup` table"), "{idle}");

    setup.source(
        "news",
        &format!("type = \"sns\"\nqueue_url = \"{missing_queue}\"\ntopic_arn = \"{missing_topic}\"\ntarget = \"notify\"\nsetup = {{}}\n"),
    );
    run("source news (");
    run("create it first");

    setup.source(
        "news",
        &format!("type = \"sns\"\nqueue_url = \"{queue}\"\ntopic_arn = \"{missing_topic}\"\ntarget = \"notify\"\nsetup = {{}}\n"),
    );
    run(&format!("sns topic {missing_topic}"));
    // Nothing was changed on the queue that exists: changes are made only once all are known.
    assert!(policy_sids(&moto.sqs(), &queue).await.is_empty());
}

/// An SNS `SubscriptionConfirmation` as SNS sends it to a queue subscribed from another account.
fn confirmation(topic: &str, token: &str) -> String {
    json!({
        "Type": "SubscriptionConfirmation", "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b", "Token": token, "TopicArn": topic,
        "Message": format!("You have chosen to subscribe to the topic {topic}.\nTo confirm the subscription, visit the SubscribeURL included in this message."),
        "SubscribeURL": format!("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}&Token={token}"),
        "Timestamp": "2026-11-27T06:00:00.000Z", "SignatureVersion": "1", "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-EXAMPLE.pem"
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_confirmation_for_the_sources_own_topic_is_confirmed_and_no_other() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let topic = moto.sns().create_topic().name(unique("shared-news")).send().await.unwrap().topic_arn.unwrap();
    let ghost_topic = format!("arn:aws:sns:us-east-1:123456789012:{}", unique("deleted"));
    let (news, ghost) = (moto.queue(&unique("news")).await, moto.queue(&unique("ghost")).await);
    // Its own topic's, and a stranger's that must not be confirmed (it is acknowledged and counted).
    moto.send_all(&news, &[confirmation(&topic, "token-1"), confirmation("arn:aws:sns:us-east-1:210987654321:stranger", "token-2")]).await;
    // Its own topic's, but SNS refuses it (here: the topic is gone): the message stays.
    moto.send_all(&ghost, &[confirmation(&ghost_topic, "token-3")]).await;

    let setup = Setup::new("", "[targets.notify]\nfunction = \"notify\"\n");
    setup.source(
        "news",
        &format!(
            "type = \"sns\"\nqueue_url = \"{news}\"\nwait_time = \"1s\"\ntopic_arn = \"{topic}\"\ntarget = \"notify\"\nsetup = {{}}\n"
        ),
    );
    setup.source(
        "ghost",
        &format!("type = \"sns\"\nqueue_url = \"{ghost}\"\nwait_time = \"1s\"\ntopic_arn = \"{ghost_topic}\"\ntarget = \"notify\"\n"),
    );
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "the news queue to be empty", || async { moto.depth(&news).await == (0, 0) }).await;
    eventually(PATIENCE, "the refused confirmation to be logged", || async { daemon.log().contains("could not confirm") }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    let log = daemon.log();
    let confirmed: Vec<&str> = log.lines().filter(|l| l.contains("confirmed the queue's subscription")).collect();
    assert_eq!(confirmed.len(), 1, "{log}");
    assert!(confirmed[0].contains(&topic), "{}", confirmed[0]);
    let (visible, in_flight) = moto.depth(&ghost).await;
    assert_eq!(visible + in_flight, 1, "a refused confirmation stays for another try");
    assert!(lambda.invocations().is_empty(), "confirmations are never delivered");
}
