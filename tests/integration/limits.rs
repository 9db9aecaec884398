//! A target's limits, measured where Lambda would see them: at the stand-in, whose replies take
//! a fixed time, so every call is open from its arrival until its answer is sent. What is
//! asserted are maxima that hold however loaded the machine is: never more calls open at once
//! than the limit allows, never more arrivals in a second than the rate (with slack for calls
//! bunched in transit).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::fake_sqs::FakeSqs;
use crate::support::harness::{eventually, Daemon, Moto, Setup};
use crate::support::lambda_endpoint::{max_overlap, Behavior, Invocation, LambdaEndpoint, Reply};
use crate::support::PATIENCE;

/// How long every reply takes.
const DELAY: Duration = Duration::from_millis(200);

/// A daemon reading `messages` messages from an in-process SQS (no redelivery) into the
/// targets `targets`, routed by source name: `sources` are (source name, target).
fn start(lambda: &LambdaEndpoint, sqs: &FakeSqs, daemon_extra: &str, targets: &str, sources: &[(&str, &str)]) -> (Setup, Daemon) {
    let moto = Moto::from_env();
    let setup = Setup::new(daemon_extra, targets);
    for (name, target) in sources {
        setup.source(
            name,
            &format!("type = \"sqs\"\nqueue_url = \"{}\"\ntarget = \"{target}\"\npollers = 2\nwait_time = \"1s\"\n", sqs.queue_url()),
        );
    }
    let config = setup.config();
    let daemon =
        Daemon::spawn(&["run", "--config", config.to_str().unwrap()], &moto, &lambda.url(), &[("AWS_ENDPOINT_URL_SQS", &sqs.url())]);
    (setup, daemon)
}

fn numbered_body(i: usize) -> String {
    format!(r#"{{"n":{i}}}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrency_bounds_the_calls_open_at_once() {
    let lambda = LambdaEndpoint::start();
    lambda.set_default_behavior(Behavior::always(Reply::slow(DELAY, Reply::Accept)));
    let sqs = FakeSqs::start(60, numbered_body);
    let (_setup, mut daemon) =
        start(&lambda, &sqs, "", "[targets.work]\nfunction = \"work\"\nmax_concurrency = 4\n", &[("backlog", "work")]);
    eventually(PATIENCE, "every message deleted", || async { sqs.deleted() == 60 }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    assert_eq!(lambda.accepted_count(), 60);
    // 60 waiting, 4 allowed: the limit is reached and never passed.
    assert_eq!(lambda.max_in_flight("work"), 4, "calls open at once, with max_concurrency = 4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_in_flight_bounds_the_calls_open_at_once_across_targets() {
    let lambda = LambdaEndpoint::start();
    lambda.set_default_behavior(Behavior::always(Reply::slow(DELAY, Reply::Accept)));
    let sqs = FakeSqs::start(60, numbered_body);
    // Two sources read the one queue, each into its own target allowed 64: the daemon allows 3.
    let targets =
        "[targets.left]\nfunction = \"left\"\nmax_concurrency = 64\n[targets.right]\nfunction = \"right\"\nmax_concurrency = 64\n";
    let (_setup, mut daemon) = start(&lambda, &sqs, "max_in_flight = 3", targets, &[("one", "left"), ("two", "right")]);
    eventually(PATIENCE, "every message deleted", || async { sqs.deleted() == 60 }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    assert_eq!(lambda.accepted_count(), 60);
    assert_eq!(max_overlap(&lambda.invocations()), 3, "calls open at once across both targets, with max_in_flight = 3");
}

/// The most of `calls` that arrived within any `window`.
fn most_arrivals_within(calls: &[Invocation], window: Duration) -> usize {
    let mut at: Vec<Instant> = calls.iter().map(|c| c.received_at).collect();
    at.sort();
    (0..at.len()).map(|i| at[i..].iter().take_while(|t| t.duration_since(at[i]) < window).count()).max().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_bounds_the_arrivals_in_any_second() {
    const N: usize = 150;
    let lambda = LambdaEndpoint::start();
    lambda.set_default_behavior(Behavior::always(Reply::slow(Duration::from_millis(20), Reply::Accept)));
    let sqs = FakeSqs::start(N, numbered_body);
    let (_setup, mut daemon) =
        start(&lambda, &sqs, "", "[targets.work]\nfunction = \"work\"\nmax_concurrency = 64\nrate = \"25/s\"\n", &[("backlog", "work")]);
    eventually(PATIENCE, "every message deleted", || async { sqs.deleted() == N }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    let calls = lambda.invocations();
    assert_eq!(calls.len(), N);
    // 25 a second, and a bucket of one: at most 26 in a second as sent. The slack of 4 covers
    // calls sent on time and held up in transit on a loaded machine, then arriving together.
    let most = most_arrivals_within(&calls, Duration::from_secs(1));
    assert!(most <= 30, "{most} calls arrived within one second, with rate = 25/s");
    // Over the whole run: 150 calls at 25/s take at least (150 - 1) / 25 s.
    let first = calls.iter().map(|c| c.received_at).min().unwrap();
    let last = calls.iter().map(|c| c.received_at).max().unwrap();
    assert!(last.duration_since(first) >= Duration::from_millis(149 * 40 * 9 / 10), "{N} calls in {:?}", last.duration_since(first));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stretch_of_429s_cuts_the_calls_open_at_once() {
    const STRETCH: Duration = Duration::from_secs(3);
    let lambda = LambdaEndpoint::start();
    // The first 24 calls are accepted; from the 25th on, every call for 3 s is throttled
    // (no Retry-After, so nothing pauses: only the concurrency limit can fall); then accepted.
    let calls = Arc::new(AtomicUsize::new(0));
    let stretch_from: Arc<Mutex<Option<Instant>>> = Arc::default();
    let started = stretch_from.clone();
    lambda.set_default_behavior(Behavior::from_fn(move |_, _| {
        let throttled = if calls.fetch_add(1, Ordering::SeqCst) < 24 {
            false
        } else {
            let mut from = started.lock().unwrap();
            from.get_or_insert_with(Instant::now).elapsed() < STRETCH
        };
        Reply::slow(DELAY, if throttled { Reply::throttle("ConcurrentInvocationLimitExceeded", None) } else { Reply::Accept })
    }));
    let sqs = FakeSqs::start(300, numbered_body);
    let targets = "[targets.work]\nfunction = \"work\"\nmax_concurrency = 8\nretry = { base_delay = \"10ms\", max_delay = \"20ms\", max_event_age = \"1h\" }\n";
    let (_setup, mut daemon) = start(&lambda, &sqs, "", targets, &[("backlog", "work")]);
    eventually(PATIENCE, "the stretch of 429s to pass", || async {
        stretch_from.lock().unwrap().is_some_and(|from| from.elapsed() > STRETCH + Duration::from_secs(1))
    })
    .await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    let from = stretch_from.lock().unwrap().unwrap();
    let all = lambda.invocations();
    let before: Vec<Invocation> = all.iter().filter(|c| c.received_at < from).cloned().collect();
    assert_eq!(max_overlap(&before), 8, "before the 429s, max_concurrency = 8 is reached");
    // Each round of 429s cuts the limit by a quarter: 8, 6, 4, 3, 2, 1. In the stretch's second
    // half at most half of 8 are open at once (1 once the cuts are done; the margin is for a
    // slow machine's slower rounds).
    let late: Vec<Invocation> =
        all.iter().filter(|c| c.received_at >= from + STRETCH / 2 && c.received_at < from + STRETCH).cloned().collect();
    assert!(!late.is_empty(), "no call in the stretch's second half");
    let most = max_overlap(&late);
    assert!(most <= 4, "{most} calls open at once after 1.5 s of 429s, with max_concurrency = 8");
}
