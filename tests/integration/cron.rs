//! Cron: a schedule fires once per instant, and after a stop catch-up fires each missed
//! instant once. (Daylight-saving cases run with fixed instants in the schedule's unit tests.)

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::support::harness::{eventually, Daemon, Moto, Setup};
use crate::support::lambda_endpoint::LambdaEndpoint;
use crate::support::PATIENCE;

/// Fire time → how many times it was delivered, from the Scheduled Events Lambda accepted.
fn fires(lambda: &LambdaEndpoint) -> BTreeMap<DateTime<Utc>, usize> {
    let mut fires = BTreeMap::new();
    for inv in lambda.accepted() {
        let event = inv.payload_json();
        assert_eq!(event["detail-type"], "Scheduled Event");
        assert_eq!(event["source"], "aws.events");
        let time: DateTime<Utc> = event["time"].as_str().unwrap().parse().unwrap();
        assert_eq!(event["id"], format!("tick-{}", time.format("%Y%m%dT%H%M%SZ")), "the id is derived from name and fire time");
        *fires.entry(time).or_default() += 1;
    }
    fires
}

fn assert_every_second_once(fires: &BTreeMap<DateTime<Utc>, usize>) {
    let times: Vec<_> = fires.keys().collect();
    for pair in times.windows(2) {
        assert_eq!(*pair[1] - *pair[0], chrono::Duration::seconds(1), "a second was skipped: {times:?}");
    }
    for (t, n) in fires {
        assert_eq!(*n, 1, "{t} fired {n} times");
    }
}

fn setup() -> Setup {
    let setup = Setup::new("", "[targets.work]\nfunction = \"work\"\n");
    setup.source("tick", "type = \"cron\"\nschedule = \"* * * * * *\"\ntimezone = \"Europe/Berlin\"\ncatch_up = \"10m\"\ntarget = \"work\"\n");
    setup
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_every_second_schedule_fires_once_a_second() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let setup = setup();
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "five fires", || async { lambda.accepted_count() >= 5 }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());
    let fires = fires(&lambda);
    assert!(fires.len() >= 5);
    assert_every_second_once(&fires);
    for inv in lambda.accepted() {
        let time: DateTime<Utc> = inv.payload_json()["time"].as_str().unwrap().parse().unwrap();
        let arrived: DateTime<Utc> = inv.received_wall.into();
        assert!(arrived >= time, "fired before its instant");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_stop_catch_up_fires_each_missed_instant_once() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let setup = setup();
    let mut first = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "three fires", || async { lambda.accepted_count() >= 3 }).await;
    assert!(first.terminate(Duration::from_secs(30)).success());
    let before = fires(&lambda);
    let last_before = *before.keys().last().unwrap();

    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut second = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "fires after the restart", || async {
        fires(&lambda).keys().last().is_some_and(|t| *t > Utc::now() - chrono::Duration::seconds(2) && *t > last_before + chrono::Duration::seconds(6))
    })
    .await;
    assert!(second.terminate(Duration::from_secs(30)).success());
    let fires = fires(&lambda);
    assert!(second.log().contains("catching up missed fires"));
    assert_every_second_once(&fires);
}
