//! Native shapes, checked by the parsers function authors use: every source type and path
//! delivers an event that aws-lambda-powertools' parser models (pinned, in `.venv`) accept.
//!
//! The inputs are messages as AWS documents them (`tests/conformance/aws_samples.json`), not
//! what the emulator emits: moto leaves fields out that AWS always sends (its S3 records have
//! no `userIdentity` or `sequencer`, its EventBridge events no `account`), and fanin passes
//! those through as they came. Cron fires, polled alarms and claim-check pointers are made by
//! fanin itself and come from the emulator run as they are.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
use serde_json::{json, Value};

use crate::support::harness::{eventually, unique, Daemon, Moto, Setup};
use crate::support::lambda_endpoint::LambdaEndpoint;
use crate::support::PATIENCE;

/// The Python with Powertools installed (`scripts/test` sets it).
fn powertools_python() -> String {
    std::env::var("FANIN_TEST_POWERTOOLS_PYTHON").unwrap_or_else(|_| {
        panic!("FANIN_TEST_POWERTOOLS_PYTHON is not set: the conformance test needs aws-lambda-powertools; run it with scripts/test")
    })
}

fn checker() -> String {
    format!("{}/tests/conformance/powertools_check.py", env!("CARGO_MANIFEST_DIR"))
}

/// Runs the checker on `cases`: its exit code and output.
fn check(cases: &Value) -> (Option<i32>, String) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec_pretty(cases).unwrap()).unwrap();
    let out = Command::new(powertools_python()).arg(checker()).arg(file.path()).output().unwrap();
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Documented sample bodies by case name.
fn samples() -> BTreeMap<String, String> {
    let path = format!("{}/tests/conformance/aws_samples.json", env!("CARGO_MANIFEST_DIR"));
    let all: BTreeMap<String, Value> = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    all.into_iter().map(|(k, v)| (k, v["body"].as_str().expect("a body string").to_string())).collect()
}

#[test]
fn the_checker_refuses_what_powertools_refuses() {
    let out = Command::new(powertools_python()).arg(checker()).arg("--self-test").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    // A cron event without an account, as fanin sent it before it knew one.
    let cron = json!({"version": "0", "id": "t-1", "detail-type": "Scheduled Event", "source": "aws.events", "account": null,
                      "time": "2026-11-27T02:00:00Z", "region": "us-east-1", "resources": [], "detail": {}});
    let (code, out) = check(&json!({ "cron": { "kind": "cron", "event": cron } }));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAIL cron") && out.contains("account"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_source_type_and_path_delivers_what_powertools_accepts() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let samples = samples();
    let topic = "arn:aws:sns:us-east-1:123456789012:conformance";
    // (case, source type and keys, sample sent to its queue, Powertools kind)
    let queued: [(&str, String, &str, &str); 11] = [
        ("sqs_record", "type = \"sqs\"".into(), "sqs_plain", "sqs"),
        ("sqs_body", "type = \"sqs\"\nshape = \"body\"".into(), "sqs_plain", "sqs_body"),
        ("s3_direct", "type = \"s3\"".into(), "s3_direct", "s3"),
        ("s3_via_sns_enveloped", "type = \"s3\"".into(), "s3_via_sns_enveloped", "s3"),
        ("s3_via_sns_raw", "type = \"s3\"".into(), "s3_via_sns_raw", "s3"),
        ("s3_via_eventbridge", "type = \"s3\"".into(), "s3_via_eventbridge", "s3"),
        ("sns_enveloped", "type = \"sns\"".into(), "sns_enveloped", "sns"),
        ("sns_raw", format!("type = \"sns\"\ntopic_arn = \"{topic}\""), "sns_raw", "sns"),
        ("eventbridge", "type = \"eventbridge\"".into(), "eventbridge", "eventbridge"),
        ("alarm_via_eventbridge", "type = \"cloudwatch_alarm\"".into(), "alarm_via_eventbridge", "alarm"),
        ("alarm_via_sns", "type = \"cloudwatch_alarm\"".into(), "alarm_via_sns_enveloped", "alarm"),
    ];
    let bucket = unique("claims");
    moto.s3().create_bucket().bucket(&bucket).send().await.unwrap();
    let mut targets: String = queued.iter().map(|(case, ..)| format!("[targets.{case}]\nfunction = \"{case}\"\n")).collect();
    targets.push_str("[targets.cron]\nfunction = \"cron\"\n[targets.alarm_polled]\nfunction = \"alarm_polled\"\n");
    targets.push_str(&format!("[targets.claim_check]\nfunction = \"claim_check\"\nlarge_payloads = {{ bucket = \"{bucket}\" }}\n"));
    let setup = Setup::new("", &targets);

    let mut queues = Vec::new();
    for (case, source, sample, _) in &queued {
        let queue = moto.queue(&unique(case)).await;
        moto.send_all(&queue, std::slice::from_ref(&samples[*sample])).await;
        setup.source(case, &format!("{source}\nqueue_url = \"{queue}\"\nwait_time = \"1s\"\ntarget = \"{case}\"\n"));
        queues.push(queue);
    }
    let large = moto.queue(&unique("claim")).await;
    moto.send_all(&large, &["x".repeat(1024 * 1024)]).await;
    setup.source("claim_check", &format!("type = \"sqs\"\nqueue_url = \"{large}\"\nwait_time = \"1s\"\ntarget = \"claim_check\"\n"));
    setup.source("cron", "type = \"cron\"\nschedule = \"* * * * * *\"\ntarget = \"cron\"\n");
    let cloudwatch = moto.cloudwatch();
    let alarm = unique("conformance");
    cloudwatch
        .put_metric_alarm()
        .alarm_name(&alarm)
        .namespace("AWS/EC2")
        .metric_name("CPUUtilization")
        .statistic(Statistic::Average)
        .period(60)
        .evaluation_periods(1)
        .threshold(90.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    setup.source(
        "alarm_polled",
        &format!("type = \"cloudwatch_alarm\"\npoll_interval = \"1s\"\nalarm_name_prefix = \"{alarm}\"\ntarget = \"alarm_polled\"\n"),
    );

    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "the alarm source to poll once", || async { daemon.log().contains("cloudwatch alarm polling started") }).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    cloudwatch.set_alarm_state().alarm_name(&alarm).state_value(StateValue::Alarm).state_reason("conformance").send().await.unwrap();
    let functions: Vec<&str> = queued.iter().map(|(case, ..)| *case).chain(["cron", "alarm_polled", "claim_check"]).collect();
    eventually(PATIENCE, "an event at every function", || async { functions.iter().all(|f| !lambda.accepted_payloads(f).is_empty()) })
        .await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());
    assert!(setup.dead_letters().is_empty(), "{:?}", setup.dead_letters());

    let mut cases = serde_json::Map::new();
    for (case, _, _, kind) in &queued {
        cases.insert(case.to_string(), json!({ "kind": kind, "event": lambda.accepted_payloads(case)[0] }));
    }
    cases.insert("cron".into(), json!({ "kind": "cron", "event": lambda.accepted_payloads("cron")[0] }));
    let polled = lambda
        .accepted_payloads("alarm_polled")
        .into_iter()
        .find(|p| p["alarmData"]["state"]["value"] == "ALARM")
        .expect("the ALARM transition");
    cases.insert("alarm_polled".into(), json!({ "kind": "alarm", "event": polled }));
    let pointer = lambda.accepted_payloads("claim_check")[0].clone();
    let require: Vec<String> = ["bucket", "key", "size", "eventId", "source"].iter().map(|f| format!("fanin.claimCheck.{f}")).collect();
    cases.insert("claim_check".into(), json!({ "kind": "claim_check", "event": pointer, "require": require }));

    let (code, out) = check(&Value::Object(cases));
    println!("{out}");
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("ok ")).count(), functions.len(), "{out}");
}

#[test]
fn the_samples_fanin_events_prints_are_what_powertools_accepts() {
    let nowhere = Moto { url: "http://127.0.0.1:9".into() };
    let samples: [(&str, &[&str], &str); 9] = [
        ("events_sqs", &["sqs"], "sqs"),
        ("events_sqs_body", &["sqs", "--shape", "body"], "sqs_body"),
        ("events_s3", &["s3", "--key", "in/photo 1.jpg"], "s3"),
        ("events_s3_deleted", &["s3", "--reason", "DeleteObject"], "s3"),
        ("events_sns", &["sns", "--subject", "Hello"], "sns"),
        ("events_eventbridge", &["eventbridge"], "eventbridge"),
        ("events_alarm", &["cloudwatch_alarm"], "alarm"),
        ("events_alarm_ok", &["cloudwatch_alarm", "--state", "OK", "--previous-state", "ALARM"], "alarm"),
        ("events_cron", &["cron"], "cron"),
    ];
    let mut cases = serde_json::Map::new();
    for (case, args, kind) in samples {
        let mut all = vec!["events"];
        all.extend_from_slice(args);
        let mut run = Daemon::spawn(&all, &nowhere, "http://127.0.0.1:9", &[]);
        assert!(run.wait(Duration::from_secs(30)).success(), "{}", run.log());
        let event: Value = serde_json::from_str(&run.stdout()).unwrap_or_else(|e| panic!("{e}: {}", run.stdout()));
        cases.insert(case.into(), json!({ "kind": kind, "event": event }));
    }
    let (code, out) = check(&Value::Object(cases));
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("ok ")).count(), samples.len(), "{out}");
}
