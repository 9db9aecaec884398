//! Running it as a service: metrics that equal what happened, health and readiness, and the
//! systemd notification protocol (READY, WATCHDOG, STOPPING).

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use crate::support::harness::{eventually, http_get, unique, Daemon, Moto, Setup};
use crate::support::lambda_endpoint::{Behavior, LambdaEndpoint, Reply};
use crate::support::{numbered, PATIENCE};

/// The value of the sample `name{labels}` in Prometheus text, 0 when absent.
fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(series, _)| {
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            metric == name && labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_exactly_what_happened() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior("ghost", Behavior::not_found());
    lambda.set_behavior("busy", Behavior::fail_first(1, Reply::throttle("CallerRateLimitExceeded", None)));
    let orders = moto.queue(&unique("orders")).await;
    let lost = moto.queue(&unique("lost")).await;
    moto.send_all(&orders, &numbered(12)).await;
    moto.send_all(&lost, &numbered(3)).await;
    let setup = Setup::new(
        "",
        "[targets.busy]\nfunction = \"busy\"\nretry = { max_attempts = 3, base_delay = \"10ms\", max_delay = \"20ms\", max_event_age = \"1h\" }\n\
         [targets.ghost]\nfunction = \"ghost\"\n",
    );
    setup.source("orders", &format!("type = \"sqs\"\nqueue_url = \"{orders}\"\ntarget = \"busy\"\n"));
    setup.source("lost", &format!("type = \"sqs\"\nqueue_url = \"{lost}\"\ntarget = \"ghost\"\n"));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    let addr = daemon.metrics_addr().await;
    eventually(PATIENCE, "both queues empty", || async {
        moto.depth(&orders).await == (0, 0) && moto.depth(&lost).await == (0, 0)
    })
    .await;

    let (status, m) = http_get(&addr, "/metrics");
    assert_eq!(status, 200);
    let get = |name: &str, labels: &[(&str, &str)]| sample(&m, name, labels);
    assert_eq!(get("fanin_events_received_total", &[("source", "orders")]), 12.0, "{m}");
    assert_eq!(get("fanin_events_received_total", &[("source", "lost")]), 3.0);
    assert_eq!(get("fanin_events_dispatched_total", &[("source", "orders"), ("target", "busy")]), 12.0);
    assert_eq!(get("fanin_invoke_throttles_total", &[("target", "busy"), ("reason", "CallerRateLimitExceeded")]), 12.0);
    assert_eq!(get("fanin_invoke_retries_total", &[("source", "orders"), ("target", "busy")]), 12.0);
    assert_eq!(get("fanin_events_dead_lettered_total", &[("source", "lost"), ("condition", "ResourceNotFound")]), 3.0);
    assert_eq!(get("fanin_invoke_duration_seconds_count", &[("target", "busy")]), 24.0);
    assert_eq!(get("fanin_invoke_duration_seconds_count", &[("target", "ghost")]), 3.0);
    assert!(m.contains("fanin_queue_depth") && m.contains("fanin_invocations_in_flight") && m.contains("fanin_oldest_event_age_seconds"));
    for line in m.lines().filter(|l| l.starts_with("fanin_")) {
        assert!(!line.contains("event_id") && !line.contains("message"), "unbounded label in {line}");
    }
    assert!(daemon.terminate(Duration::from_secs(30)).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_say_why() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let good = moto.queue(&unique("good")).await;
    let setup = Setup::new("", "[targets.work]\nfunction = \"work\"\n");
    setup.source("good", &format!("type = \"sqs\"\nqueue_url = \"{good}\"\ntarget = \"work\"\nwait_time = \"1s\"\n"));
    setup.source("broken", &format!("type = \"sqs\"\nqueue_url = \"{}/123456789012/{}\"\ntarget = \"work\"\n", moto.url, unique("missing")));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    let addr = daemon.metrics_addr().await;

    eventually(PATIENCE, "/healthz to answer 200", || async { http_get(&addr, "/healthz").0 == 200 }).await;
    eventually(PATIENCE, "/readyz to name the broken source", || async {
        let (status, body) = http_get(&addr, "/readyz");
        status == 503 && body.contains("source broken") && body.contains("failed polls in a row")
    })
    .await;
    let (_, body) = http_get(&addr, "/readyz");
    assert!(!body.contains("source good"), "the good source is fine: {body}");
    assert_eq!(http_get(&addr, "/nothing").0, 404);
    assert!(daemon.terminate(Duration::from_secs(30)).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_hears_ready_watchdog_and_stopping() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let queue = moto.queue(&unique("watched")).await;
    let setup = Setup::new("", "[targets.work]\nfunction = \"work\"\n");
    setup.source("watched", &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\ntarget = \"work\"\n"));
    let config = setup.config();
    let mut daemon = Daemon::spawn(
        &["run", "--config", config.to_str().unwrap()],
        &moto,
        &lambda.url(),
        &[("NOTIFY_SOCKET", socket_path.to_str().unwrap()), ("WATCHDOG_USEC", "400000")],
    );

    let mut heard: Vec<String> = Vec::new();
    let receive_for = |d: Duration, heard: &mut Vec<String>| {
        let end = std::time::Instant::now() + d;
        let mut buf = [0u8; 512];
        while std::time::Instant::now() < end {
            if let Ok(n) = socket.recv(&mut buf) {
                heard.push(String::from_utf8_lossy(&buf[..n]).trim().to_string());
            }
        }
    };
    receive_for(Duration::from_secs(3), &mut heard);
    assert!(heard.iter().any(|m| m == "READY=1"), "{heard:?}");
    let pings = heard.iter().filter(|m| m.as_str() == "WATCHDOG=1").count();
    assert!(pings >= 5, "a WATCHDOG=1 at least every 200 ms: {pings} in {heard:?}");

    unsafe { libc::kill(daemon.pid(), libc::SIGTERM) };
    let status = daemon.wait(Duration::from_secs(30));
    receive_for(Duration::from_millis(300), &mut heard);
    assert!(heard.iter().any(|m| m == "STOPPING=1"), "{heard:?}");
    assert!(status.success());
}
