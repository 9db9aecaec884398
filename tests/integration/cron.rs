//! Cron: a schedule fires once per instant, after a stop catch-up fires each missed instant
//! once, and a fleet sharing `[fleet] claims` fires each instant on one host. (Daylight-saving
//! cases run with fixed instants in the schedule's unit tests.)

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::support::harness::{eventually, unique, Daemon, Moto, Setup};
use crate::support::lambda_endpoint::{Behavior, LambdaEndpoint, Reply};
use crate::support::PATIENCE;

/// Fire time → how many times it was delivered, from the Scheduled Events Lambda accepted.
fn fires(lambda: &LambdaEndpoint) -> BTreeMap<DateTime<Utc>, usize> {
    let mut fires = BTreeMap::new();
    for inv in lambda.accepted() {
        let event = inv.payload_json();
        assert_eq!(event["detail-type"], "Scheduled Event");
        assert_eq!(event["source"], "aws.events");
        // EventBridge always names the account; moto's STS answers 123456789012.
        assert_eq!(event["account"], "123456789012");
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
    setup.source(
        "tick",
        "type = \"cron\"\nschedule = \"* * * * * *\"\ntimezone = \"Europe/Berlin\"\ncatch_up = \"10m\"\ntarget = \"work\"\n",
    );
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
        fires(&lambda)
            .keys()
            .last()
            .is_some_and(|t| *t > Utc::now() - chrono::Duration::seconds(2) && *t > last_before + chrono::Duration::seconds(6))
    })
    .await;
    assert!(second.terminate(Duration::from_secs(30)).success());
    let fires = fires(&lambda);
    assert!(second.log().contains("catching up missed fires"));
    assert_every_second_once(&fires);
}

/// A host of a fleet: the `tick` schedule (every second, no catch-up unless `catch_up`), claims
/// under `s3://<bucket>/claims/`, host name `host` (empty: the machine's).
fn fleet_host(bucket: &str, host: &str, catch_up: &str) -> Setup {
    let host = if host.is_empty() { String::new() } else { format!("host = \"{host}\"\n") };
    let setup = Setup::new("", &format!("[targets.work]\nfunction = \"work\"\n[fleet]\nclaims = \"s3://{bucket}/claims\"\n{host}"));
    setup.source("tick", &format!("type = \"cron\"\nschedule = \"* * * * * *\"\ntarget = \"work\"\n{catch_up}"));
    setup
}

/// Claim key → the claim's `field` (`host` or `instance`).
async fn claims(moto: &Moto, bucket: &str, field: &str) -> BTreeMap<String, String> {
    let s3 = moto.s3();
    let listed = s3.list_objects_v2().bucket(bucket).prefix("claims/tick/").send().await.unwrap();
    let mut hosts = BTreeMap::new();
    for object in listed.contents() {
        let key = object.key().unwrap().to_string();
        let body = s3.get_object().bucket(bucket).key(&key).send().await.unwrap().body.collect().await.unwrap().into_bytes();
        let claim: serde_json::Value = serde_json::from_slice(&body).unwrap();
        hosts.insert(key, claim[field].as_str().unwrap().to_string());
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
    let hosts = claims(&moto, &bucket, "host").await;
    for at in fires.keys() {
        let key = format!("claims/tick/{}", at.format("%Y%m%dT%H%M%SZ"));
        assert!(hosts.get(&key).is_some_and(|h| h == "host-a" || h == "host-b"), "{key} not claimed: {hosts:?}");
    }
    // And the host that lost an instant said so.
    assert!(daemons.iter().any(|d| d.log().contains("claimed by another instance")), "no host ever lost a claim");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_one_host_fire_each_instant_once() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let bucket = unique("claims");
    moto.s3().create_bucket().bucket(&bucket).send().await.unwrap();
    // One configuration, no fleet.host: all three label their claims with this machine's name.
    let setups: Vec<Setup> = (0..3).map(|_| fleet_host(&bucket, "", "")).collect();
    let mut daemons: Vec<Daemon> = setups.iter().map(|s| Daemon::start(s, &moto, &lambda.url())).collect();
    eventually(PATIENCE, "eight fires", || async { fires(&lambda).len() >= 8 }).await;
    for daemon in &mut daemons {
        assert!(daemon.terminate(Duration::from_secs(30)).success());
    }
    let fires = fires(&lambda);
    assert_every_second_once(&fires);
    let ids: Vec<String> = setups.iter().map(|s| std::fs::read_to_string(s.state_dir().join("instance-id")).unwrap()).collect();
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2], "instances share an id: {ids:?}");
    let owners = claims(&moto, &bucket, "instance").await;
    let labels = claims(&moto, &bucket, "host").await;
    assert!(labels.values().collect::<std::collections::BTreeSet<_>>().len() == 1, "one host label: {labels:?}");
    assert!(owners.values().all(|o| ids.contains(o)), "{owners:?} vs {ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_one_state_dir_is_refused_naming_the_lock() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let setup = Setup::new("", "[targets.work]\nfunction = \"work\"\n");
    setup.source("tick", "type = \"cron\"\nschedule = \"0 0 0 1 1 *\"\ntarget = \"work\"\n");
    let mut first = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "the first to run", || async { first.log().contains("fanin running") }).await;
    let mut second = Daemon::start(&setup, &moto, &lambda.url());
    let status = second.wait(PATIENCE);
    assert_eq!(status.code(), Some(2), "{}", second.log());
    // The file and key, and the lock file (as the configuration spells the directory).
    let log = second.log();
    assert!(log.contains("fanin.toml: daemon.state_dir") && log.contains("/state/fanin.lock is locked"), "{log}");
    assert!(setup.state_dir().join("fanin.lock").exists());
    assert!(second.log().contains(&format!("pid {}", first.pid())), "{}", second.log());
    assert!(first.running(), "the first process was disturbed");
    assert!(first.terminate(Duration::from_secs(30)).success());
    // Once it is gone, the directory is free again.
    let mut third = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "a new process to run", || async { third.log().contains("fanin running") }).await;
    assert!(third.terminate(Duration::from_secs(30)).success());
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
    std::fs::write(me.state_dir().join("instance-id"), "me-instance").unwrap();
    // Both claims carry this host's name: the instance, not the host, owns a claim.
    for (n, instance) in [(1, "me-instance"), (2, "other-instance")] {
        let key = format!("claims/tick/{}", second(n).format("%Y%m%dT%H%M%SZ"));
        let claim = serde_json::json!({ "instance": instance, "host": "me", "claimedAt": second(n) }).to_string();
        s3.put_object().bucket(&bucket).key(key).body(claim.into_bytes().into()).send().await.unwrap();
    }

    let mut daemon = Daemon::start(&me, &moto, &lambda.url());
    eventually(PATIENCE, "the catch-up and a fire after it", || async { fires(&lambda).keys().last().is_some_and(|t| *t > second(7)) })
        .await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());
    let fires = fires(&lambda);
    assert!(fires.contains_key(&second(1)), "its own claim is fired again: {fires:?}");
    assert!(!fires.contains_key(&second(2)), "another host's claim is left to it: {fires:?}");
    for n in 3..=7 {
        assert_eq!(fires.get(&second(n)), Some(&1), "{} missed or repeated: {fires:?}", second(n));
    }
    let third = format!("claims/tick/{}", second(3).format("%Y%m%dT%H%M%SZ"));
    assert_eq!(claims(&moto, &bucket, "instance").await[&third], "me-instance");
    assert_eq!(claims(&moto, &bucket, "host").await[&third], "me");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_comes_from_the_configuration_else_sts_and_no_account_is_a_clear_start_up_error() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let configured = Setup::new("", "[targets.work]\nfunction = \"work\"\n");
    let text = std::fs::read_to_string(configured.config()).unwrap().replace("[aws]\n", "[aws]\naccount_id = \"210987654321\"\n");
    std::fs::write(configured.config(), text).unwrap();
    configured.source("tick", "type = \"cron\"\nschedule = \"* * * * * *\"\ntarget = \"work\"\n");
    // STS unreachable: the configured account is used without asking.
    let config = configured.config();
    let args = ["run", "--config", config.to_str().unwrap()];
    let mut daemon = Daemon::spawn(&args, &moto, &lambda.url(), &[("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")]);
    eventually(PATIENCE, "a fire", || async { lambda.accepted_count() >= 1 }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());
    assert_eq!(lambda.accepted()[0].payload_json()["account"], "210987654321");

    // Neither configured nor reachable: no start, and the error says what to do.
    let unknown = setup();
    let config = unknown.config();
    let args = ["run", "--config", config.to_str().unwrap()];
    let mut daemon = Daemon::spawn(&args, &moto, &lambda.url(), &[("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")]);
    assert_eq!(daemon.wait(PATIENCE).code(), Some(1), "{}", daemon.log());
    assert!(daemon.log().contains("sts:GetCallerIdentity") && daemon.log().contains("[aws] account_id"), "{}", daemon.log());
}

/// A host of a fleet whose fires stay unsettled while the function fails: `tick` every two
/// seconds with a minute of catch-up, claims under `s3://<bucket>/claims/` with a 4 s lease,
/// and a target that retries for long enough to outlast the failures.
fn leasing_host(bucket: &str, host: &str) -> Setup {
    let setup = Setup::new(
        "",
        &format!(
            "[targets.work]\nfunction = \"work\"\nretry = {{ max_attempts = 100, base_delay = \"200ms\", max_delay = \"1s\" }}\n\
             [fleet]\nclaims = \"s3://{bucket}/claims\"\nhost = \"{host}\"\nlease = \"4s\"\n"
        ),
    );
    setup.source("tick", "type = \"cron\"\nschedule = \"*/2 * * * * *\"\ncatch_up = \"1m\"\ntarget = \"work\"\n");
    setup
}

const LEASE: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fires_claimed_by_a_host_killed_for_good_are_taken_over_once_their_lease_runs_out() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let bucket = unique("claims");
    moto.s3().create_bucket().bucket(&bucket).send().await.unwrap();
    // The function fails until the test says so: both hosts hold claimed fires unsettled.
    let failing = Arc::new(AtomicBool::new(true));
    let fails = failing.clone();
    lambda.set_default_behavior(Behavior::from_fn(
        move |_, _| if fails.load(Ordering::SeqCst) { Reply::service_error() } else { Reply::Accept },
    ));
    let setups = [leasing_host(&bucket, "host-a"), leasing_host(&bucket, "host-b")];
    let mut daemons: Vec<Daemon> = setups.iter().map(|s| Daemon::start(s, &moto, &lambda.url())).collect();
    eventually(PATIENCE, "both hosts to claim fires", || async {
        let ids: Vec<String> =
            setups.iter().map(|s| std::fs::read_to_string(s.state_dir().join("instance-id")).unwrap_or_default()).collect();
        let owners = claims(&moto, &bucket, "instance").await;
        owners.len() >= 4 && ids.iter().all(|id| owners.values().any(|o| o == id))
    })
    .await;

    // Host a dies for good, holding claimed fires that have not settled.
    let victim = std::fs::read_to_string(setups[0].state_dir().join("instance-id")).unwrap();
    daemons[0].kill9();
    let killed: DateTime<Utc> = Utc::now();
    let held = claims(&moto, &bucket, "instance").await.into_iter().filter(|(_, o)| *o == victim).count();
    assert!(held > 0, "the killed host held no claim");

    // The function recovers 3 s after the kill, before the killed host's lease runs out.
    tokio::time::sleep(Duration::from_secs(3)).await;
    failing.store(false, Ordering::SeqCst);
    let recovers_wall = Utc::now();

    // Every instant until the kill reaches the function within a lease and 10 s of the kill
    // and the function's recovery, whichever is later.
    let deadline = killed.max(recovers_wall) + chrono::Duration::from_std(LEASE + Duration::from_secs(10)).unwrap();
    let due: Vec<DateTime<Utc>> = claims(&moto, &bucket, "instance")
        .await
        .keys()
        .map(|k| chrono::NaiveDateTime::parse_from_str(k.rsplit('/').next().unwrap(), "%Y%m%dT%H%M%SZ").unwrap().and_utc())
        .filter(|t| *t <= killed)
        .collect();
    let (first, last) = (due[0], *due.last().unwrap());
    assert_eq!((last - first).num_seconds() / 2 + 1, due.len() as i64, "an instant was never claimed: {due:?}");
    let delivered_all = || {
        let fires = fires(&lambda);
        due.iter().all(|t| fires.contains_key(t))
    };
    while !delivered_all() && Utc::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let delivered = fires(&lambda);
    for t in &due {
        let first_delivery = lambda
            .accepted()
            .iter()
            .filter(|inv| inv.payload_json()["time"].as_str().is_some_and(|s| s.parse::<DateTime<Utc>>().unwrap() == *t))
            .map(|inv| DateTime::<Utc>::from(inv.received_wall))
            .min();
        assert!(
            first_delivery.is_some_and(|d| d <= deadline),
            "{t} did not reach the function by {deadline} (first: {first_delivery:?}): {delivered:?}"
        );
    }
    // The survivor keeps firing; a few more instants, then every instant is counted.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(daemons[1].terminate(Duration::from_secs(30)).success());
    let delivered = fires(&lambda);
    let times: Vec<_> = delivered.keys().copied().collect();
    for pair in times.windows(2) {
        assert_eq!(pair[1] - pair[0], chrono::Duration::seconds(2), "an instant is missing: {times:?}");
    }
    for (t, n) in &delivered {
        assert!(*n <= 2, "{t} reached the function {n} times");
    }
    assert!(daemons[1].log().contains("firing a claimed fire that did not settle"), "no takeover logged");
}
