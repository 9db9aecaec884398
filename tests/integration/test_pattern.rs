//! `fanin test-pattern`: an event against a pattern (`true`/`false`, exit 0), a refused pattern
//! (EventBridge's message, exit 2), `--explain`, and every route of a source, fed by
//! `fanin events` through a pipe. No AWS is needed.

use std::process::Command;
use std::time::Duration;

use crate::support::harness::{Daemon, Moto, Setup};

/// Runs `fanin ARGS` with `input` on standard input: (exit code, stdout, stderr).
fn fanin(args: &[&str], input: &str) -> (Option<i32>, String, String) {
    let nowhere = Moto { url: "http://127.0.0.1:9".into() };
    let mut run = Daemon::spawn_fed(args, &nowhere, "http://127.0.0.1:9", &[], Some(input.as_bytes()));
    let status = run.wait(Duration::from_secs(30));
    (status.code(), run.stdout(), run.log())
}

const ORDER: &str = r#"{"kind": "Order", "amount": 250, "customer": {"tier": "gold"}}"#;

#[test]
fn an_event_against_a_pattern_prints_true_or_false_and_exits_0() {
    let (code, out, err) = fanin(&["test-pattern", "--pattern", r#"{"kind": [{"equals-ignore-case": "order"}]}"#], ORDER);
    assert_eq!((code, out.as_str()), (Some(0), "true\n"), "stderr: {err}");
    let (code, out, err) = fanin(&["test-pattern", "--pattern", r#"{"amount": [{"numeric": [">", 1000]}]}"#, "--event", "-"], ORDER);
    assert_eq!((code, out.as_str()), (Some(0), "false\n"), "stderr: {err}");
    // A pattern from a file, and a dotted key meeting the event's nested field.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pattern.json");
    std::fs::write(&file, r#"{"customer.tier": ["gold"]}"#).unwrap();
    let (code, out, _) = fanin(&["test-pattern", "--pattern", file.to_str().unwrap()], ORDER);
    assert_eq!((code, out.as_str()), (Some(0), "true\n"));
}

#[test]
fn a_pattern_eventbridge_refuses_is_refused_with_its_message_and_exit_2() {
    let (code, out, err) = fanin(&["test-pattern", "--pattern", r#"{"EventBusArn": [{"wildcard": "*:*:*:*:*:event-bus/*"}]}"#], ORDER);
    assert_eq!(code, Some(2), "stdout: {out}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("Event pattern is not valid. Reason: Rule is too complex - try using fewer wildcard characters"), "{err}");
    assert!(err.contains("EventBusArn"), "{err}");
    let (code, _, err) = fanin(&["test-pattern", "--pattern", r#"{"kind": "Order"}"#], ORDER);
    assert_eq!(code, Some(2));
    assert!(err.contains("Event pattern is not valid. Reason:") && err.contains("kind"), "{err}");
    // An event that is not JSON is a usage error too.
    let (code, _, err) = fanin(&["test-pattern", "--pattern", r#"{"kind": ["Order"]}"#], "not json");
    assert_eq!(code, Some(2));
    assert!(err.contains("Event is not valid JSON"), "{err}");
}

#[test]
fn explain_names_the_field_that_decided() {
    let pattern = r#"{"kind": ["Order"], "customer": {"tier": ["platinum"]}}"#;
    let (code, out, _) = fanin(&["test-pattern", "--pattern", pattern, "--explain"], ORDER);
    assert_eq!(code, Some(0));
    assert_eq!(out, "false\n  customer.tier: \"gold\" (does not match)\n");
    let pattern = r#"{"kind": ["Order"], "customer": {"tier": ["gold"]}}"#;
    let (_, out, _) = fanin(&["test-pattern", "--pattern", pattern, "--explain"], ORDER);
    assert_eq!(out, "true\n  kind: \"Order\" (matches)\n  customer.tier: \"gold\" (matches)\n");
}

/// A configuration with an `orders` source (the body as the event) and three routes.
fn orders_setup() -> Setup {
    let s = Setup::new(
        "",
        "[targets.orders]\nfunction = \"orders\"\n[targets.big-orders]\nfunction = \"big-orders\"\n[targets.audit]\nfunction = \"audit\"\n",
    );
    s.source(
        "orders",
        r#"type = "sqs"
queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/orders"
shape = "body"

[[routes]]
target = "orders"
filter = { kind = [{ "equals-ignore-case" = "order" }] }

[[routes]]
target = "big-orders"
filter = { amount = [{ numeric = [">", 1000] }] }

[[routes]]
target = "audit"
"#,
    );
    s
}

#[test]
fn a_source_s_routes_say_which_targets_the_event_reaches() {
    let s = orders_setup();
    let config = s.config();
    let (code, out, err) = fanin(&["test-pattern", "--source", "orders", "--config", config.to_str().unwrap()], ORDER);
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(out, "orders      true\nbig-orders  false\naudit       true (no filter)\nreaches: orders, audit\n");
    let (_, out, _) = fanin(&["test-pattern", "--source", "orders", "--config", config.to_str().unwrap(), "--explain"], ORDER);
    assert!(out.contains("big-orders  false\n    amount: 250 (does not match)\n"), "{out}");
    // An unknown source names the ones there are; a broken configuration is exit 2 as everywhere.
    let (code, _, err) = fanin(&["test-pattern", "--source", "nope", "--config", config.to_str().unwrap()], ORDER);
    assert_eq!(code, Some(2));
    assert!(err.contains("no source named \"nope\"") && err.contains("orders"), "{err}");
    s.source("broken", "type = \"sqs\"\nqueue_url = \"http://q\"\ntarget = \"missing\"\n");
    let (code, _, err) = fanin(&["test-pattern", "--source", "orders", "--config", config.to_str().unwrap()], ORDER);
    assert_eq!(code, Some(2));
    assert!(err.contains("configuration error"), "{err}");
}

#[test]
fn fanin_events_piped_into_test_pattern_checks_a_source_s_routes() {
    let s = orders_setup();
    let fanin = env!("CARGO_BIN_EXE_fanin");
    let line = format!(
        "{fanin} events sqs --shape body --message '{{\"kind\":\"ORDER\",\"amount\":5000}}' | {fanin} test-pattern --source orders --config {}",
        s.config().display()
    );
    let out = Command::new("sh").arg("-c").arg(&line).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{line}: {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.ends_with("reaches: orders, big-orders, audit\n"), "{stdout}");
}
