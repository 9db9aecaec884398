//! SIGHUP re-reads the configuration: added sources start, removed ones stop after their
//! in-flight events, changed targets apply, and a bad configuration is refused while the old
//! one keeps running.

use std::collections::HashSet;
use std::time::Duration;

use crate::support::harness::{eventually, http_get, unique, Daemon, Moto, Setup};
use crate::support::lambda_endpoint::{Behavior, LambdaEndpoint, Reply};
use crate::support::{body_n, numbered, PATIENCE};

fn hangup(daemon: &Daemon) {
    unsafe { libc::kill(daemon.pid(), libc::SIGHUP) };
}

async fn started(daemon: &Daemon) {
    eventually(PATIENCE, "fanin to run", || async { daemon.log().contains("fanin running") }).await;
}

async fn reloaded(daemon: &Daemon, times: usize) {
    eventually(PATIENCE, "the reload", || async {
        let log = daemon.log();
        log.matches("configuration reloaded").count() + log.matches("reload refused").count() >= times
    })
    .await;
}

fn source(queue: &str, target: &str) -> String {
    format!("type = \"sqs\"\nqueue_url = \"{queue}\"\ntarget = \"{target}\"\nwait_time = \"1s\"\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_added_source_starts_and_a_changed_target_applies() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let first = moto.queue(&unique("first")).await;
    let second = moto.queue(&unique("second")).await;
    let setup = Setup::new("", "[targets.work]\nfunction = \"v1\"\n");
    setup.source("first", &source(&first, "work"));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    started(&daemon).await;
    moto.send_all(&first, &numbered(3)).await;
    eventually(PATIENCE, "three to v1", || async { lambda.invocations_for("v1").len() >= 3 }).await;

    // A new source file, and the target now points at another function.
    setup.source("second", &source(&second, "work"));
    let daemon_file = std::fs::read_to_string(setup.config()).unwrap().replace("function = \"v1\"", "function = \"v2\"");
    std::fs::write(setup.config(), daemon_file).unwrap();
    hangup(&daemon);
    reloaded(&daemon, 1).await;
    moto.send_all(&second, &numbered(4)).await;
    moto.send_all(&first, &numbered(2)).await;
    eventually(PATIENCE, "six to v2", || async { lambda.invocations_for("v2").len() >= 6 }).await;
    assert_eq!(lambda.invocations_for("v1").len(), 3, "nothing after the reload went to the old function");
    eventually(PATIENCE, "both queues empty", || async { moto.depth(&first).await == (0, 0) && moto.depth(&second).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_source_stops_after_its_in_flight_events_and_loses_nothing() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior("work", Behavior::always(Reply::slow(Duration::from_secs(2), Reply::Accept)));
    let queue = moto.queue(&unique("going")).await;
    let setup = Setup::new("", "[targets.work]\nfunction = \"work\"\nmax_concurrency = 4\n");
    setup.source("going", &source(&queue, "work"));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    started(&daemon).await;
    moto.send_all(&queue, &numbered(4)).await;
    eventually(PATIENCE, "four invokes in flight", || async { lambda.invocations().len() >= 4 }).await;

    std::fs::remove_file(setup.dir.path().join("sources/going.toml")).unwrap();
    hangup(&daemon);
    reloaded(&daemon, 1).await;
    eventually(PATIENCE, "the four in flight delivered and deleted", || async {
        lambda.accepted_count() >= 4 && moto.depth(&queue).await == (0, 0)
    })
    .await;
    moto.send_all(&queue, &numbered(3)).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(moto.depth(&queue).await, (3, 0), "a removed source pulls no more");
    let mut delivered: Vec<u64> = lambda.accepted().iter().map(|i| body_n(&i.payload_json())).collect();
    delivered.sort();
    assert_eq!(delivered, vec![0, 1, 2, 3], "each in-flight event delivered once");
    assert!(daemon.terminate(Duration::from_secs(30)).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_configuration_is_refused_and_the_old_one_keeps_running() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let queue = moto.queue(&unique("steady")).await;
    let setup = Setup::new("", "[targets.work]\nfunction = \"work\"\n");
    setup.source("steady", &source(&queue, "work"));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    started(&daemon).await;
    let addr = daemon.metrics_addr().await;

    setup.source("broken", "type = \"sqs\"\nqueue_url = \"x\"\ntarget = \"nowhere\"\n");
    hangup(&daemon);
    reloaded(&daemon, 1).await;
    let log = daemon.log();
    let line = log.lines().find(|l| l.contains("reload refused")).unwrap();
    assert!(line.contains("sources/broken.toml") && line.contains("nowhere"), "the log names file and problem: {line}");
    let (_, metrics) = http_get(&addr, "/metrics");
    assert!(metrics.lines().any(|l| l.starts_with("fanin_config_reloads_total{result=\"refused\"} 1")), "{metrics}");

    moto.send_all(&queue, &numbered(3)).await;
    eventually(PATIENCE, "the old configuration still delivering", || async { lambda.accepted_count() >= 3 }).await;
    assert!(daemon.running());
    assert!(daemon.terminate(Duration::from_secs(30)).success());
}

/// Removes source `name` (whose file also defines its target) after the function's second
/// call, then waits until nothing moves: every message must have reached Lambda or still be
/// in the queue. `daemon_extra` goes into the daemon file's `[daemon]` table.
async fn remove_mid_stream(queue: &str, fifo: bool, daemon_extra: &str) {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior("work", Behavior::always(Reply::slow(Duration::from_secs(1), Reply::Accept)));
    let sqs = moto.sqs();
    for n in 0..20u64 {
        let send = sqs.send_message().queue_url(queue).message_body(format!("{{\"n\":{n}}}"));
        let send = if fifo { send.message_group_id("one").message_deduplication_id(format!("m{n}")) } else { send };
        send.send().await.unwrap();
    }
    let setup = Setup::new(daemon_extra, "");
    // A long visibility timeout: what is left in flight stays counted as in the queue.
    setup.source(
        "orders",
        &format!(
            "type = \"sqs\"\nqueue_url = \"{queue}\"\ntarget = \"work\"\nwait_time = \"1s\"\npollers = 1\nvisibility_timeout = \"120s\"\n\
             [targets.work]\nfunction = \"work\"\nmax_concurrency = 1\n"
        ),
    );
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    started(&daemon).await;
    eventually(PATIENCE, "the second call", || async { lambda.invocations().len() >= 2 }).await;
    std::fs::remove_file(setup.dir.path().join("sources/orders.toml")).unwrap();
    hangup(&daemon);
    reloaded(&daemon, 1).await;

    // Settled when the calls stop coming and the queue's count stops changing.
    let mut last = (usize::MAX, (usize::MAX, usize::MAX));
    loop {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let now = (lambda.invocations().len(), moto.depth(queue).await);
        if now == last {
            break;
        }
        last = now;
    }
    let delivered: HashSet<u64> = lambda.accepted().iter().map(|i| body_n(&i.payload_json())).collect();
    let (visible, in_flight) = moto.depth(queue).await;
    assert!(setup.dead_letters().is_empty(), "{:?}", setup.dead_letters());
    assert_eq!(
        delivered.len() + visible + in_flight,
        20,
        "deleted from SQS without reaching Lambda: {} delivered, {visible} visible, {in_flight} in flight",
        delivered.len()
    );
    assert!(daemon.log().contains("stopping source (removed or changed)"));
    assert!(daemon.terminate(Duration::from_secs(30)).success());
}

/// A FIFO group's messages waiting behind the one in flight, and a standard queue's batch
/// waiting for room in fanin's queue, are released when their source goes away with its
/// target: they stay in SQS rather than being deleted as "unrouted".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_removed_with_its_target_leaves_what_it_had_not_delivered_in_the_queue() {
    let moto = Moto::from_env();
    let fifo = moto.queue(&format!("{}.fifo", unique("orders"))).await;
    remove_mid_stream(&fifo, true, "").await;
    let standard = moto.queue(&unique("orders")).await;
    remove_mid_stream(&standard, false, "queue_capacity = 2").await;
}
