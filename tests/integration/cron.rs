//! Cron: a schedule fires once per instant, after a stop catch-up fires each missed instant
//! once, and a fleet sharing `[fleet] claims` fires each instant on one host. (Daylight-saving
//! cases run with fixed instants in the schedule's unit tests.)

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::support::harness::{eventually, unique, Daemon, Moto, Setup};
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

/// A host of a fleet: the `tick` schedule (every second, no catch-up unless `catch_up`), claims
/// under `s3://<bucket>/claims/`, host name `host`.
fn fleet_host(bucket: &str, host: &str, catch_up: &str) -> Setup {
    let setup = Setup::new("", &format!("[targets.work]\nfunction = \"work\"\n[fleet]\nclaims = \"s3://{bucket}/claims\"\nhost = \"{host}\"\n"));
    setup.source("tick", &format!("type = \"cron\"\nschedule = \"* * * * * *\"\ntarget = \"work\"\n{catch_up}"));
    setup
}

async fn claim_hosts(moto: &Moto, bucket: &str) -> BTreeMap<String, String> {
    let s3 = moto.s3();
    let listed = s3.list_objects_v2().bucket(bucket).prefix("claims/tick/").send().await.unwrap();
    let mut hosts = BTreeMap::new();
    for object in listed.contents() {
        let key = object.key().unwrap().to_string();
        let body = s3.get_object().bucket(bucket).key(&key).send().await.unwrap().body.collect().await.unwrap().into_bytes();
        let claim: serde_json::Value = serde_json::from_slice(&body).unwrap();
        hosts.insert(key, claim["host"].as_str().unwrap().to_string());
    }
    hosts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_sharing_claims_fire_each_instant_once() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let bucket = unique("claims");
    moto.s3().create_bucket().bucket(&bucket).send().await.unwrap();
    let (a, b) = (fleet_host(&bucket, "host-a", ""), fleet_host(&bucket, "host-b", ""));
    let mut daemons = [Daemon::start(&a, &moto, &lambda.url()), Daemon::start(&b, &moto, &lambda.url())];
    eventually(PATIENCE, "six fires", || async { lambda.accepted_count() >= 6 }).await;
    for daemon in &mut daemons {
        assert!(daemon.terminate(Duration::from_secs(30)).success());
    }
    let fires = fires(&lambda);
    assert!(fires.len() >= 6);
    assert_every_second_once(&fires);
    // Every delivered fire was claimed, each by one of the two.
    let hosts = claim_hosts(&moto, &bucket).await;
    for at in fires.keys() {
        let key = format!("claims/tick/{}", at.format("%Y%m%dT%H%M%SZ"));
        assert!(hosts.get(&key).is_some_and(|h| h == "host-a" || h == "host-b"), "{key} not claimed: {hosts:?}");
    }
    // And the host that lost an instant said so.
    assert!(daemons.iter().any(|d| d.log().contains("claimed by another host")), "no host ever lost a claim");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_fires_what_this_host_claimed_before_and_leaves_what_another_claimed() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let bucket = unique("claims");
    let s3 = moto.s3();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let me = fleet_host(&bucket, "me", "catch_up = \"10m\"\n");
    // The last fire that settled here was 6 s ago; the one after it this host had claimed (and
    // then stopped before it settled); the next another host claimed.
    let last = DateTime::<Utc>::from_timestamp(Utc::now().timestamp() - 6, 0).unwrap();
    let second = |n: i64| last + chrono::Duration::seconds(n);
    std::fs::create_dir_all(me.state_dir().join("cron")).unwrap();
    std::fs::write(me.state_dir().join("cron/tick.json"), serde_json::json!({ "lastFire": last }).to_string()).unwrap();
    for (n, host) in [(1, "me"), (2, "other")] {
        let key = format!("claims/tick/{}", second(n).format("%Y%m%dT%H%M%SZ"));
        let claim = serde_json::json!({ "host": host, "claimedAt": second(n) }).to_string();
        s3.put_object().bucket(&bucket).key(key).body(claim.into_bytes().into()).send().await.unwrap();
    }

    let mut daemon = Daemon::start(&me, &moto, &lambda.url());
    eventually(PATIENCE, "the catch-up and a fire after it", || async {
        fires(&lambda).keys().last().is_some_and(|t| *t > second(7))
    })
    .await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());
    let fires = fires(&lambda);
    assert!(fires.contains_key(&second(1)), "its own claim is fired again: {fires:?}");
    assert!(!fires.contains_key(&second(2)), "another host's claim is left to it: {fires:?}");
    for n in 3..=7 {
        assert_eq!(fires.get(&second(n)), Some(&1), "{} missed or repeated: {fires:?}", second(n));
    }
    assert_eq!(claim_hosts(&moto, &bucket).await[&format!("claims/tick/{}", second(3).format("%Y%m%dT%H%M%SZ"))], "me");
}
