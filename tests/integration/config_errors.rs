//! Bad configuration is refused before anything runs: exit code 2, the file and the key named.

use std::time::Duration;

use crate::support::harness::{Daemon, Moto, Setup};

/// Runs `fanin run` on `setup`, checks it is refused naming the file and the key, and returns
/// the error line.
fn refused(setup: &Setup, env: &[(&str, &str)], file_ends: &str, key: &str) -> String {
    let moto = Moto { url: "http://127.0.0.1:9".into() };
    let mut d = Daemon::spawn(&["run", "--config", setup.config().to_str().unwrap()], &moto, "http://127.0.0.1:9", env);
    let status = d.wait(Duration::from_secs(30));
    let log = d.log();
    assert_eq!(status.code(), Some(2), "exit code; stderr: {log}");
    let line = log.lines().find(|l| l.contains("configuration error")).unwrap_or_else(|| panic!("no error line in {log}"));
    assert!(line.contains(file_ends), "{line:?} should name {file_ends}");
    assert!(line.contains(&format!(": {key}:")), "{line:?} should name key {key}");
    assert!(log.len() < 10_000, "the error repeats what it refuses ({} bytes)", log.len());
    line.to_string()
}

const TARGET: &str = "[targets.work]\nfunction = \"work\"\n";

#[test]
fn unknown_key_in_the_daemon_file() {
    let s = Setup::new("queue_capacityy = 5", TARGET);
    refused(&s, &[], "config/fanin.toml", "daemon.queue_capacityy");
}

#[test]
fn unknown_key_in_a_source_file() {
    let s = Setup::new("", TARGET);
    s.source("orders", "type = \"sqs\"\nqueue_url = \"http://q\"\ntarget = \"work\"\nvisibility = \"30s\"\n");
    refused(&s, &[], "sources/orders.toml", "visibility");
}

#[test]
fn a_route_to_a_target_that_does_not_exist() {
    let s = Setup::new("", TARGET);
    s.source("orders", "type = \"sqs\"\nqueue_url = \"http://q\"\ntarget = \"wrok\"\n");
    refused(&s, &[], "sources/orders.toml", "target");
}

#[test]
fn a_target_defined_twice() {
    let s = Setup::new("", TARGET);
    s.source("orders", "type = \"sqs\"\nqueue_url = \"http://q\"\ntarget = \"work\"\n\n[targets.work]\nfunction = \"x\"\n");
    refused(&s, &[], "sources/orders.toml", "targets.work");
}

#[test]
fn an_unparsable_schedule() {
    let s = Setup::new("", TARGET);
    s.source("nightly", "type = \"cron\"\nschedule = \"0 2 * * *\"\ntarget = \"work\"\n");
    refused(&s, &[], "sources/nightly.toml", "schedule");
}

#[test]
fn a_bad_environment_override_names_its_key() {
    let s = Setup::new("", TARGET);
    refused(&s, &[("FANIN__DAEMON__SHUTDOWN_GRACE", "soon")], "config/fanin.toml", "daemon.shutdown_grace");
}

#[test]
fn a_bad_environment_override_is_blamed_on_the_variable_not_the_file() {
    let s = Setup::new("", TARGET);
    let line = refused(&s, &[("FANIN__DAEMON__MAX_IN_FLIGHT", "abc")], "config/fanin.toml", "daemon.max_in_flight");
    assert!(line.contains("environment variable FANIN__DAEMON__MAX_IN_FLIGHT"), "{line:?} should name the variable");
    assert!(line.contains("\"abc\" is not a whole number"), "{line:?} should say what is wrong in plain words");
    // A value the variable sets that fails a later check is blamed on it too.
    let line = refused(&s, &[("FANIN__DAEMON__MAX_IN_FLIGHT", "0")], "config/fanin.toml", "daemon.max_in_flight");
    assert!(line.contains("environment variable FANIN__DAEMON__MAX_IN_FLIGHT"), "{line:?} should name the variable");
    // Without the variable the file is blamed, as before.
    let line = refused(&Setup::new("max_in_flight = \"abc\"", TARGET), &[], "config/fanin.toml", "daemon.max_in_flight");
    assert!(!line.contains("environment"), "{line:?} blames a variable that is not set");
}

#[test]
fn a_source_files_type_errors_say_how_to_write_the_value() {
    let s = Setup::new("", TARGET);
    let queue = "type = \"sqs\"\nqueue_url = \"http://q\"\ntarget = \"work\"\n";
    s.source("orders", &format!("{queue}visibility_timeout = 30\n"));
    let line = refused(&s, &[], "sources/orders.toml", "visibility_timeout");
    assert!(line.contains("write it like \"30s\""), "{line:?} should say how to write a duration");
    s.source("orders", &format!("{queue}pollers = \"two\"\n"));
    let line = refused(&s, &[], "sources/orders.toml", "pollers");
    assert!(line.contains("\"two\" is not a whole number"), "{line:?} should say what a pollers value is");
    assert!(!line.contains("usize"), "{line:?} speaks Rust");
    s.source("orders", &format!("{queue}pollers = 2\nwait_time = true\n"));
    let line = refused(&s, &[], "sources/orders.toml", "wait_time");
    assert!(line.contains("`true` is not a duration"), "{line:?}");
}

#[test]
fn a_missing_configuration_file_says_to_give_one() {
    let s = Setup::new("", TARGET);
    std::fs::remove_file(s.config()).unwrap();
    let moto = Moto { url: "http://127.0.0.1:9".into() };
    let mut d = Daemon::spawn(&["run", "--config", s.config().to_str().unwrap()], &moto, "http://127.0.0.1:9", &[]);
    assert_eq!(d.wait(Duration::from_secs(30)).code(), Some(2));
    let expected = format!("fanin: no configuration at {}: give --config FILE\n", s.config().display());
    assert_eq!(d.log(), expected);
    // The default: the installed path, named as it is.
    let mut d = Daemon::spawn(&["validate"], &moto, "http://127.0.0.1:9", &[]);
    assert_eq!(d.wait(Duration::from_secs(30)).code(), Some(2));
    if !std::path::Path::new("/etc/fanin/fanin.toml").exists() {
        assert_eq!(d.log(), "fanin: no configuration at /etc/fanin/fanin.toml: give --config FILE\n");
    }
}

#[test]
fn a_ten_megabyte_string_is_refused_quickly_without_repeating_it() {
    let huge = "x".repeat(10 * 1024 * 1024);
    let started = std::time::Instant::now();
    let s = Setup::new("", TARGET);
    s.source("nightly", &format!("type = \"cron\"\nschedule = \"{huge}\"\ntarget = \"work\"\n"));
    refused(&s, &[], "sources/nightly.toml", "schedule");
    let s = Setup::new("", &format!("[targets.work]\nfunction = \"{huge}\"\n"));
    refused(&s, &[], "config/fanin.toml", "targets.work.function");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
}

#[test]
fn a_configuration_that_is_not_utf8_is_refused_naming_the_file() {
    let s = Setup::new("", TARGET);
    std::fs::write(s.dir.path().join("sources/orders.toml"), b"type = \"sqs\"\nqueue_url = \"\xff\xfe\"\ntarget = \"work\"\n").unwrap();
    refused_file(&s, "sources/orders.toml");
    let mut daemon_file = std::fs::read(s.config()).unwrap();
    daemon_file.extend_from_slice(b"\n# caf\xe9\n");
    std::fs::remove_file(s.dir.path().join("sources/orders.toml")).unwrap();
    std::fs::write(s.config(), daemon_file).unwrap();
    refused_file(&s, "config/fanin.toml");
}

/// Refused (exit 2) with `file_ends` named, whatever the key, and the error short.
fn refused_file(setup: &Setup, file_ends: &str) {
    let moto = Moto { url: "http://127.0.0.1:9".into() };
    let mut d = Daemon::spawn(&["run", "--config", setup.config().to_str().unwrap()], &moto, "http://127.0.0.1:9", &[]);
    let status = d.wait(Duration::from_secs(30));
    let log = d.log();
    assert_eq!(status.code(), Some(2), "exit code; stderr: {log}");
    let line = log.lines().find(|l| l.contains("configuration error")).unwrap_or_else(|| panic!("no error line in {log}"));
    assert!(line.contains(file_ends), "{line:?} should name {file_ends}");
}

#[test]
fn a_log_tail_for_an_asynchronous_target_and_an_unknown_success_sink() {
    let s = Setup::new("", "[targets.work]\nfunction = \"work\"\nlog_type = \"Tail\"\n");
    refused(&s, &[], "config/fanin.toml", "targets.work.log_type");
    let s = Setup::new("", "[targets.work]\nfunction = \"work\"\non_success = \"nowhere\"\n");
    refused(&s, &[], "config/fanin.toml", "targets.work.on_success");
}

#[test]
fn a_target_must_be_one_kind_and_name_it_well() {
    let s =
        Setup::new("", "[targets.work]\nfunction = \"work\"\nstate_machine = \"arn:aws:states:us-east-1:123456789012:stateMachine:m\"\n");
    refused(&s, &[], "config/fanin.toml", "targets.work");
    let s = Setup::new("", "[targets.work]\nqualifier = \"live\"\n");
    refused(&s, &[], "config/fanin.toml", "targets.work");
    let s = Setup::new("", "[targets.work]\nstate_machine = \"orders\"\n");
    refused(&s, &[], "config/fanin.toml", "targets.work.state_machine");
    let s = Setup::new("", "[targets.work]\nurl = \"ftp://example.com/\"\n");
    refused(&s, &[], "config/fanin.toml", "targets.work.url");
    let s = Setup::new("", "[targets.work]\nurl = \"https://abc.lambda-url.us-east-1.on.aws/\"\nauth = \"SOMETIMES\"\n");
    refused(&s, &[], "config/fanin.toml", "targets.work.auth");
}
