//! Loading a daemon file and source files, and the file and key every refusal names.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::config::S3Location;

fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    p
}

const DAEMON: &str = r#"
[daemon]
sources_dir = "sources"
state_dir = "state"
[targets.resize]
function = "resize"
retry = { max_attempts = 5, base_delay = "100ms", max_delay = "1s", max_event_age = "1h" }
"#;

#[test]
fn loads_a_daemon_file_and_sources() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "fanin.toml", DAEMON);
    write(dir.path(), "sources/orders.toml", "type = \"sqs\"\nqueue_url = \"http://q\"\ntarget = \"resize\"\n");
    write(
        dir.path(),
        "sources/nightly.toml",
        "type = \"cron\"\nschedule = \"0 0 2 * * *\"\ntimezone = \"Asia/Tokyo\"\ncatch_up = \"1h\"\ntarget = \"resize\"\n",
    );
    let c = Config::load(&file).unwrap();
    assert_eq!(c.sources.len(), 2);
    assert_eq!(c.sources[0].name, "nightly");
    assert_eq!(c.targets["resize"].retry.max_attempts, 5);
    assert_eq!(c.targets["resize"].retry.base_delay, Duration::from_millis(100));
    assert_eq!(c.daemon.state_dir, dir.path().join("state"));
}

fn error_of(daemon: &str, sources: &[(&str, &str)]) -> ConfigError {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "fanin.toml", daemon);
    std::fs::create_dir_all(dir.path().join("sources")).unwrap();
    for (name, text) in sources {
        write(dir.path(), &format!("sources/{name}"), text);
    }
    Config::load(&file).unwrap_err()
}

#[test]
fn unknown_key_in_daemon_file_is_named() {
    let e = error_of(&format!("{DAEMON}\n[targets.other]\nfunction = \"x\"\nretyr = 3\n"), &[]);
    assert!(e.file.ends_with("fanin.toml"));
    assert_eq!(e.key, "targets.other.retyr");
    assert!(e.message.contains("retyr"), "{e}");
}

#[test]
fn unknown_key_in_source_file_is_named() {
    let e = error_of(DAEMON, &[("a.toml", "type = \"sqs\"\nqueue_url = \"u\"\ntarget = \"resize\"\nqueue_ulr = 1\n")]);
    assert!(e.file.ends_with("sources/a.toml"));
    assert!(e.message.contains("queue_ulr"), "{e}");
}

#[test]
fn route_to_missing_target_names_file_and_key() {
    let e = error_of(DAEMON, &[("a.toml", "type = \"sqs\"\nqueue_url = \"u\"\ntarget = \"nope\"\n")]);
    assert!(e.file.ends_with("sources/a.toml"));
    assert_eq!(e.key, "target");
    assert!(e.message.contains("nope"));
}

#[test]
fn target_defined_twice_is_refused() {
    let e = error_of(DAEMON, &[("a.toml", "type = \"sqs\"\nqueue_url = \"u\"\ntarget = \"resize\"\n[targets.resize]\nfunction = \"f\"\n")]);
    assert_eq!(e.key, "targets.resize");
    assert!(e.message.contains("defined twice"));
}

#[test]
fn bad_schedule_and_timezone_are_named() {
    let e = error_of(DAEMON, &[("c.toml", "type = \"cron\"\nschedule = \"0 2 * * *\"\ntarget = \"resize\"\n")]);
    assert_eq!(e.key, "schedule");
    let e = error_of(DAEMON, &[("c.toml", "type = \"cron\"\nschedule = \"0 0 2 * * *\"\ntimezone = \"Mars/Base\"\ntarget = \"resize\"\n")]);
    assert_eq!(e.key, "timezone");
}

#[test]
fn bad_duration_and_rate_are_named() {
    let e = error_of("[daemon]\nshutdown_grace = \"soon\"\n", &[]);
    assert_eq!(e.key, "daemon.shutdown_grace");
    let e = error_of("[targets.a]\nfunction = \"a\"\nrate = \"fast\"\n", &[]);
    assert_eq!(e.key, "targets.a.rate");
}

#[test]
fn a_bad_route_filter_names_its_route_and_path() {
    let e = error_of(
        DAEMON,
        &[("a.toml", "type = \"sqs\"\nqueue_url = \"u\"\n[[routes]]\ntarget = \"resize\"\nfilter = { detail = { state = \"ALARM\" } }\n")],
    );
    assert_eq!(e.key, "routes[0].filter.detail.state", "{e}");
}

#[test]
fn an_alarm_source_is_fed_by_a_queue_or_polls_never_both() {
    let alarm = |rest: &str| error_of(DAEMON, &[("a.toml", &format!("type = \"cloudwatch_alarm\"\ntarget = \"resize\"\n{rest}"))]);
    assert_eq!(alarm("").key, "queue_url");
    assert_eq!(alarm("queue_url = \"u\"\npoll_interval = \"1m\"\n").key, "poll_interval");
    assert_eq!(alarm("poll_interval = \"soon\"\n").key, "poll_interval");
    assert_eq!(alarm("poll_interval = \"1m\"\npollers = 2\n").key, "pollers");
    assert_eq!(alarm("poll_interval = \"1m\"\nsetup = { rule = \"r\" }\n").key, "setup");

    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "fanin.toml", DAEMON);
    write(
        dir.path(),
        "sources/a.toml",
        "type = \"cloudwatch_alarm\"\npoll_interval = \"30s\"\nstates = [\"ALARM\"]\ntarget = \"resize\"\n",
    );
    let SourceKind::AlarmPoll(polling) = &Config::load(&file).unwrap().sources[0].kind else { panic!("not polling") };
    assert_eq!(polling.poll_interval, Duration::from_secs(30));
    assert_eq!(polling.options.states, ["ALARM"]);
}

#[test]
fn setup_tables_name_what_they_miss() {
    let source = |text: &str| error_of(DAEMON, &[("a.toml", &format!("queue_url = \"u\"\ntarget = \"resize\"\n{text}"))]);
    assert_eq!(source("type = \"eventbridge\"\nsetup = { rule = \"r\" }\n").key, "setup.pattern");
    assert_eq!(source("type = \"s3\"\nsetup = {}\n").key, "setup.bucket");
    assert_eq!(source("type = \"sns\"\nsetup = {}\n").key, "setup.topic_arn");
    assert_eq!(source("type = \"s3\"\nsetup = { bucket = \"b\", rule = \"r\" }\n").key, "setup.rule");
}

#[test]
fn fleet_claims_are_an_s3_location() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "fanin.toml", &format!("{DAEMON}\n[fleet]\nclaims = \"s3://ops/fanin/claims\"\nhost = \"a\"\n"));
    std::fs::create_dir_all(dir.path().join("sources")).unwrap();
    let fleet = Config::load(&file).unwrap().fleet;
    assert_eq!(fleet.claims, Some(S3Location { bucket: "ops".into(), prefix: "fanin/claims/".into() }));
    assert_eq!(fleet.host.as_deref(), Some("a"));
    assert_eq!("s3://ops".parse::<S3Location>().unwrap().prefix, "");
    let e = error_of(&format!("{DAEMON}\n[fleet]\nclaims = \"ops/claims/\"\n"), &[]);
    assert_eq!(e.key, "fleet.claims", "{e}");
}

#[test]
fn a_missing_or_unknown_type_lists_every_type() {
    let e = error_of(DAEMON, &[("a.toml", "queue_url = \"u\"\ntarget = \"resize\"\n")]);
    assert_eq!((e.key.as_str(), e.message.as_str()), ("type", "missing: one of sqs, s3, sns, eventbridge, cloudwatch_alarm, cron or http"));
    let e = error_of(DAEMON, &[("a.toml", "type = \"kafka\"\ntarget = \"resize\"\n")]);
    assert_eq!(e.message, "unknown source type \"kafka\"; expected sqs, s3, sns, eventbridge, cloudwatch_alarm, cron or http");
}

#[test]
fn daemon_limits_past_what_the_daemon_holds_are_refused_with_their_range() {
    let daemon = |text: &str| error_of(&format!("[daemon]\nsources_dir = \"sources\"\nstate_dir = \"state\"\n{text}\n"), &[]);
    let e = daemon("queue_capacity = 4611686018427387904");
    assert_eq!((e.key.as_str(), e.message.as_str()), ("daemon.queue_capacity", "must be at most 1000000 (it is 4611686018427387904)"));
    assert_eq!(daemon("queue_capacity = 0").message, "must be at least 1");
    assert_eq!(daemon("max_in_flight = 100001").key, "daemon.max_in_flight");
    let e = daemon("shutdown_grace = \"1000000000y\"");
    assert_eq!(e.key, "daemon.shutdown_grace");
    assert!(e.message.starts_with("must be between 0s and 1h (it is "), "{e}");
    // An empty directory would be the daemon file's own: it would read itself as a source.
    let e = error_of("[daemon]\nsources_dir = \"\"\n", &[]);
    assert_eq!((e.key.as_str(), e.message.as_str()), ("daemon.sources_dir", "must not be empty"));
    let e = error_of("[daemon]\nsources_dir = \".\"\n", &[]);
    assert_eq!(e.key, "daemon.sources_dir");
    assert!(e.message.ends_with("holds this daemon file: give the source files a directory of their own"), "{e}");
}

#[test]
fn aws_settings_no_call_could_be_made_with_are_refused() {
    let aws = |text: &str| error_of(&format!("{DAEMON}\n[aws]\n{text}\n"), &[]);
    // The SDK panics on an endpoint that is no URL.
    assert_eq!(aws("endpoint_url = \"\"").key, "aws.endpoint_url");
    assert_eq!(aws("endpoint_url = \"localhost:4566\"").key, "aws.endpoint_url");
    assert_eq!(aws("region = \"\"").key, "aws.region");
    assert_eq!(aws("region = \"US East\"").key, "aws.region");
    assert_eq!(aws("assume_role_arn = \"fanin\"").key, "aws.assume_role_arn");
    assert_eq!(aws("profile = \"\"").key, "aws.profile");
    assert_eq!(aws("account_id = \"1234\"").message, "\"1234\" is not an AWS account id (12 digits)");
}

#[test]
fn sinks_no_record_could_be_written_to_are_refused() {
    let sink = |text: &str| error_of(&format!("{DAEMON}\n[dlq.x]\n{text}\n"), &[]);
    assert_eq!(sink("type = \"file\"\npath = \"\"").key, "dlq.x.path");
    assert_eq!(sink("type = \"sqs\"\nqueue_url = \"\"").key, "dlq.x.queue_url");
    assert_eq!(sink("type = \"sqs\"\nqueue_url = \"http://q\"\nlarge_records = { bucket = \"\" }").key, "dlq.x.large_records.bucket");
    let e = sink(&format!("type = \"s3\"\nbucket = \"b\"\nprefix = \"{}\"", "p".repeat(513)));
    assert_eq!((e.key.as_str(), e.message.as_str()), ("dlq.x.prefix", "must be at most 512 bytes (it is 513): S3 keys are at most 1024"));
}

#[test]
fn an_empty_fleet_host_and_an_empty_route_list_are_refused() {
    assert_eq!(error_of(&format!("{DAEMON}\n[fleet]\nhost = \"\"\n"), &[]).key, "fleet.host");
    let e = error_of(DAEMON, &[("c.toml", "type = \"cron\"\nschedule = \"0 0 2 * * *\"\nroutes = []\n")]);
    assert_eq!(e.key, "routes");
}

#[test]
fn source_limits_are_named_in_their_file() {
    let source = |text: &str| error_of(DAEMON, &[("a.toml", &format!("target = \"resize\"\n{text}\n"))]);
    assert_eq!(source("type = \"sqs\"\nqueue_url = \"\"").key, "queue_url");
    assert_eq!(source("type = \"sqs\"\nqueue_url = \"http://q\"\npollers = 1001").message, "must be at most 1000 (it is 1001)");
    assert_eq!(source("type = \"cron\"\nschedule = \"0 0 2 * * *\"\ncatch_up = \"32d\"").message, "must be between 0s and 31d (it is 32d)");
    let big = format!("type = \"cron\"\nschedule = \"0 0 2 * * *\"\npayload = {{ k = \"{}\" }}", "x".repeat(1024 * 1024));
    assert_eq!(source(&big).key, "payload");
    assert_eq!(source("type = \"cloudwatch_alarm\"\npoll_interval = \"1000000000y\"").key, "poll_interval");
    assert_eq!(source("type = \"cloudwatch_alarm\"\npoll_interval = \"1m\"\nalarm_name_prefix = \"\"").key, "alarm_name_prefix");
    assert_eq!(source("type = \"sns\"\nqueue_url = \"http://q\"\ntopic_arn = \"news\"").key, "topic_arn");
    let rule = |r: &str| source(&format!("type = \"eventbridge\"\nqueue_url = \"http://q\"\nsetup = {{ {r} }}"));
    assert_eq!(rule("rule = \"a rule\", pattern = { source = [\"x\"] }").key, "setup.rule");
    assert_eq!(rule("rule = \"r\", event_bus = \"\", pattern = { source = [\"x\"] }").key, "setup.event_bus");
    assert_eq!(rule("rule = \"r\", pattern = { source = \"x\" }").key, "setup.pattern.source");
}
