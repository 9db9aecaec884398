//! The polling `cloudwatch_alarm` source against moto's CloudWatch: one event per state
//! transition, as an alarm's Lambda action gives it, and a restart between transitions neither
//! repeats nor misses one.

use std::time::Duration;

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, StateValue, Statistic};
use serde_json::Value;

use crate::support::harness::{eventually, http_get, unique, Daemon, Moto, Setup};
use crate::support::lambda_endpoint::LambdaEndpoint;
use crate::support::PATIENCE;

/// (alarm name, new state, previous state) of what reached `function`, in arrival order.
fn transitions(lambda: &LambdaEndpoint, function: &str) -> Vec<(String, String, String)> {
    lambda
        .invocations_for(function)
        .iter()
        .filter(|i| i.is_accepted())
        .map(|i| {
            let p: Value = i.payload_json();
            let data = &p["alarmData"];
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (text(&data["alarmName"]), text(&data["state"]["value"]), text(&data["previousState"]["value"]))
        })
        .collect()
}

async fn set_state(cloudwatch: &aws_sdk_cloudwatch::Client, name: &str, state: StateValue) {
    cloudwatch.set_alarm_state().alarm_name(name).state_value(state).state_reason(format!("test sets {name}")).send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polled_alarm_transitions_arrive_once_each_across_a_restart() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let cloudwatch = moto.cloudwatch();
    let prefix = unique("poll");
    let (cpu, disk, other) = (format!("{prefix}-cpu"), format!("{prefix}-disk"), unique("elsewhere"));
    for name in [&cpu, &disk, &other] {
        cloudwatch
            .put_metric_alarm()
            .alarm_name(name)
            .alarm_description(format!("{name} is too high"))
            .namespace("AWS/EC2")
            .metric_name("CPUUtilization")
            .dimensions(Dimension::builder().name("InstanceId").value("i-0123").build())
            .statistic(Statistic::Average)
            .period(60)
            .evaluation_periods(1)
            .threshold(90.0)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .send()
            .await
            .unwrap();
    }

    let setup = Setup::new("", "[targets.watch]\nfunction = \"watch\"\n[targets.pager]\nfunction = \"pager\"\n");
    // Every transition of the prefix's alarms to one function; only those into ALARM to the other.
    setup.source(
        "alarms",
        &format!("type = \"cloudwatch_alarm\"\npoll_interval = \"1s\"\nalarm_name_prefix = \"{prefix}\"\ntarget = \"watch\"\n"),
    );
    setup.source(
        "paging",
        &format!("type = \"cloudwatch_alarm\"\npoll_interval = \"1s\"\nalarm_name_prefix = \"{prefix}\"\nstates = [\"ALARM\"]\ntarget = \"pager\"\n"),
    );
    let state_file = setup.state_dir().join("alarms/alarms.json");

    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    // The first round takes the states as they are (no event for alarms that did not move).
    eventually(PATIENCE, "the first round's state file", || async { state_file.exists() }).await;
    set_state(&cloudwatch, &cpu, StateValue::Alarm).await;
    set_state(&cloudwatch, &other, StateValue::Alarm).await;
    eventually(PATIENCE, "the cpu alarm's transition", || async { !transitions(&lambda, "watch").is_empty() }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    // What happens while fanin is down is delivered when it is back, once.
    set_state(&cloudwatch, &cpu, StateValue::Ok).await;
    set_state(&cloudwatch, &disk, StateValue::Alarm).await;
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "the transitions made while down", || async { transitions(&lambda, "watch").len() >= 3 }).await;
    set_state(&cloudwatch, &cpu, StateValue::Alarm).await;
    eventually(PATIENCE, "a transition after the restart", || async { transitions(&lambda, "watch").len() >= 4 }).await;
    // A few more rounds: nothing is delivered twice.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    let watch = transitions(&lambda, "watch");
    let t = |n: &str, s: &str, p: &str| (n.to_string(), s.to_string(), p.to_string());
    assert_eq!(watch[0], t(&cpu, "ALARM", "OK"), "{watch:?}");
    let mut while_down = watch[1..3].to_vec();
    while_down.sort();
    assert_eq!(while_down, vec![t(&cpu, "OK", "ALARM"), t(&disk, "ALARM", "OK")], "{watch:?}");
    assert_eq!(watch[3..], [t(&cpu, "ALARM", "OK")], "{watch:?}");

    let mut pager = transitions(&lambda, "pager");
    pager.sort();
    assert_eq!(pager, vec![t(&cpu, "ALARM", "OK"), t(&cpu, "ALARM", "OK"), t(&disk, "ALARM", "OK")], "only changes into ALARM");

    // The event is the one an alarm's Lambda action gives.
    let first: Value = lambda.invocations_for("watch").iter().find(|i| i.is_accepted()).unwrap().payload_json();
    assert_eq!(first["source"], "aws.cloudwatch");
    assert_eq!(first["alarmArn"], format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{cpu}"));
    assert_eq!(first["accountId"], "123456789012");
    assert_eq!(first["region"], "us-east-1");
    let data = &first["alarmData"];
    assert_eq!(data["state"]["reason"], format!("test sets {cpu}"));
    assert!(data["state"]["timestamp"].as_str().unwrap().ends_with("+0000"), "{data}");
    assert_eq!(data["configuration"]["description"], format!("{cpu} is too high"));
    let metric = &data["configuration"]["metrics"][0]["metricStat"];
    assert_eq!(metric["metric"]["namespace"], "AWS/EC2");
    assert_eq!(metric["metric"]["name"], "CPUUtilization");
    assert_eq!(metric["metric"]["dimensions"]["InstanceId"], "i-0123");
    assert_eq!(metric["stat"], "Average");
    assert_eq!(metric["period"], 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polling_source_that_cannot_reach_cloudwatch_says_so_and_keeps_trying() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let setup = Setup::new("", "[targets.watch]\nfunction = \"watch\"\n");
    setup.source("alarms", "type = \"cloudwatch_alarm\"\npoll_interval = \"1s\"\ntarget = \"watch\"\n");
    let config = setup.config();
    // Nothing listens there.
    let mut daemon = Daemon::spawn(
        &["run", "--config", config.to_str().unwrap()],
        &moto,
        &lambda.url(),
        &[("AWS_ENDPOINT_URL_CLOUDWATCH", "http://127.0.0.1:9")],
    );
    let addr = daemon.metrics_addr().await;
    eventually(PATIENCE, "/readyz to name the failing source", || async {
        let (status, body) = http_get(&addr, "/readyz");
        status == 503 && body.contains("source alarms") && body.contains("failed polls in a row")
    })
    .await;
    assert!(daemon.running(), "a failing source does not stop the daemon");
    assert!(daemon.log().contains("DescribeAlarms failed"), "{}", daemon.log());
    // No round completed, so no state was taken for the first run's baseline.
    assert!(!setup.state_dir().join("alarms/alarms.json").exists());
    assert!(daemon.terminate(Duration::from_secs(30)).success());
    assert!(lambda.invocations_for("watch").is_empty());
}
