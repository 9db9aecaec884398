//! Running it as a service: metrics that equal what happened, health and readiness, and the
//! systemd notification protocol (READY, WATCHDOG, STOPPING).

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use crate::support::harness::{eventually, http_get, unique, Daemon, Moto, Setup};
use crate::support::lambda_endpoint::{Behavior, LambdaEndpoint, Reply};
use crate::support::{numbered, PATIENCE};

/// The value of the sample `name{labels}` in Prometheus text, 0 when absent.
pub(crate) fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
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
    // One poller each: moto can hand one message to two concurrent receives (SQS does not),
    // and this test counts exactly.
    setup.source("orders", &format!("type = \"sqs\"\nqueue_url = \"{orders}\"\ntarget = \"busy\"\npollers = 1\n"));
    setup.source("lost", &format!("type = \"sqs\"\nqueue_url = \"{lost}\"\ntarget = \"ghost\"\npollers = 1\n"));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    let addr = daemon.metrics_addr().await;
    eventually(PATIENCE, "both queues empty", || async { moto.depth(&orders).await == (0, 0) && moto.depth(&lost).await == (0, 0) }).await;

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
    setup
        .source("broken", &format!("type = \"sqs\"\nqueue_url = \"{}/123456789012/{}\"\ntarget = \"work\"\n", moto.url, unique("missing")));
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

#[test]
fn the_systemd_unit_is_notify_type_with_reload_watchdog_and_hardening() {
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/fanin.service")).unwrap();
    for line in [
        "Type=notify",
        "ExecStartPre=/usr/bin/fanin validate --offline --config /etc/fanin/fanin.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "WatchdogSec=30",
        "DynamicUser=yes",
        "StateDirectory=fanin",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "SystemCallFilter=@system-service",
        "UMask=077",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing from the unit");
    }
    let Ok(out) = std::process::Command::new("systemd-analyze")
        .args(["security", "--offline=true", concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/fanin.service")])
        .output()
    else {
        println!("systemd-analyze is not installed here: exposure not rated");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let rating: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for fanin.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no rating in: {text}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert!(rating <= 2.0, "exposure {rating} is above 2.0");
}

#[test]
fn the_install_script_lays_out_binary_unit_and_configuration() {
    let root = tempfile::tempdir().unwrap();
    let run = || {
        std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/install"))
            .env("DESTDIR", root.path())
            .env("FANIN_BIN", env!("CARGO_BIN_EXE_fanin"))
            .output()
            .unwrap()
    };
    let out = run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let at = |p: &str| root.path().join(p);
    assert!(at("usr/bin/fanin").is_file());
    assert!(at("lib/systemd/system/fanin.service").is_file());
    assert!(at("etc/fanin/sources/orders.toml.example").is_file());
    // The man page and completions, from the binary's own command-line definitions.
    let man = std::fs::read_to_string(at("usr/share/man/man1/fanin.1")).unwrap();
    assert!(man.contains(".TH fanin 1") && man.contains("invoke") && man.contains("dlq") && man.contains("replay"), "{man}");
    for (path, says) in [
        ("usr/share/bash-completion/completions/fanin", "_fanin()"),
        ("usr/share/zsh/vendor-completions/_fanin", "#compdef fanin"),
        ("usr/share/fish/vendor_completions.d/fanin.fish", "complete -c fanin"),
    ] {
        let script = std::fs::read_to_string(at(path)).unwrap();
        assert!(script.contains(says) && script.contains("invoke") && script.contains("events"), "{path}: {script}");
    }
    let bash = std::process::Command::new("bash").arg("-n").arg(at("usr/share/bash-completion/completions/fanin")).output().unwrap();
    assert!(bash.status.success(), "the bash completion does not parse: {}", String::from_utf8_lossy(&bash.stderr));
    // The installed configuration parses as installed (sources_dir is relative to it).
    let check = std::process::Command::new(at("usr/bin/fanin"))
        .args(["validate", "--offline", "--config", at("etc/fanin/fanin.toml").to_str().unwrap()])
        .env("FANIN__DAEMON__STATE_DIR", root.path().join("state"))
        .output()
        .unwrap();
    assert!(check.status.success(), "{}\n{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));
    // A second install keeps the operator's configuration.
    std::fs::write(at("etc/fanin/fanin.toml"), "# mine\n").unwrap();
    assert!(run().status.success());
    assert_eq!(std::fs::read_to_string(at("etc/fanin/fanin.toml")).unwrap(), "# mine\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_leave_payloads_out_unless_asked_and_rate_limit_repeated_errors() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    // The function fails every time: each event uses up its 3 attempts.
    lambda.set_behavior(
        "down",
        Behavior::always(Reply::FunctionError { kind: "Unhandled".into(), error_type: "Boom".into(), message: "down".into() }),
    );
    let mut calls_before = 0;
    for log_payloads in [false, true] {
        let queue = moto.queue(&unique("secret")).await;
        let bodies: Vec<String> = (0..20).map(|n| format!("{{\"n\":{n},\"card\":\"tok-4242\"}}")).collect();
        moto.send_all(&queue, &bodies).await;
        let setup = Setup::new(
            &format!("log_payloads = {log_payloads}"),
            "[targets.down]\nfunction = \"down\"\ninvocation_type = \"RequestResponse\"\nretry = { max_attempts = 3, base_delay = \"10ms\", max_delay = \"20ms\", max_event_age = \"1h\" }\n",
        );
        setup.source("secret", &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\ntarget = \"down\"\n"));
        let config = setup.config();
        let mut daemon = Daemon::spawn(&["--log-format", "json", "run", "--config", config.to_str().unwrap()], &moto, &lambda.url(), &[]);
        eventually(PATIENCE, "20 dead letters", || async { setup.dead_letters().len() >= 20 }).await;
        // One more event after the limiter's 10 s window: its first failure is logged with the
        // count of those left out before it.
        tokio::time::sleep(Duration::from_secs(11)).await;
        moto.send_all(&queue, &["{\"n\":20,\"card\":\"tok-4242\"}".to_string()]).await;
        eventually(PATIENCE, "21 dead letters", || async { setup.dead_letters().len() >= 21 }).await;
        assert!(daemon.terminate(Duration::from_secs(30)).success());

        let log = daemon.log();
        let lines: Vec<serde_json::Value> =
            log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
        let failed: Vec<_> = lines.iter().filter(|l| l["fields"]["message"] == "invoke failed").collect();
        let failures = lambda.invocations().len() - calls_before;
        calls_before += failures;
        assert_eq!(failures, 63, "3 attempts for each of 21 events");
        assert!((2..=10).contains(&failed.len()), "63 identical failures rate-limited to a few lines, got {}", failed.len());
        assert!(failed.iter().all(|l| l["fields"]["target"] == "down" && l["fields"]["event_id"].is_string()));
        let accounted: u64 = failed.iter().map(|l| 1 + l["fields"]["similar_left_out"].as_u64().expect("similar_left_out")).sum();
        assert_eq!(accounted as usize, failures, "the logged lines and those they say were left out are every failure");
        assert_eq!(log.contains("tok-4242"), log_payloads, "payloads in the log only when asked (log_payloads = {log_payloads})");
    }
}
