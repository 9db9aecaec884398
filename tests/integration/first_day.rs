//! What a newcomer meets first: start-up that says what is wrong (a function that does not
//! exist, no region, no credentials) in one line, and configurations that load but do nothing
//! warned about by `validate` and at start.

use std::time::Duration;

use crate::support::harness::{eventually, http_get, Daemon, Moto, Setup};
use crate::support::lambda_endpoint::LambdaEndpoint;
use crate::support::PATIENCE;

/// Runs `fanin validate` (with `args`) on `setup` and returns its exit code and output.
fn validate(setup: &Setup, moto: &Moto, lambda_url: &str, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let config = setup.config();
    let mut all = vec!["validate", "--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    let mut run = Daemon::spawn(&all, moto, lambda_url, env);
    let status = run.wait(Duration::from_secs(60));
    (status.code(), format!("{}{}", run.stdout(), run.log()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_whose_function_does_not_exist_makes_readyz_say_so_and_logs_one_error() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_missing(&["proces-order"]);
    let queue = moto.queue(&crate::support::harness::unique("orders")).await;
    let setup = Setup::new("", "[targets.orders]\nfunction = \"proces-order\"\n[targets.work]\nfunction = \"work\"\n");
    setup.source(
        "orders",
        &format!(
            "type = \"sqs\"\nqueue_url = \"{queue}\"\nwait_time = \"1s\"\nroutes = [{{ target = \"orders\" }}, {{ target = \"work\" }}]\n"
        ),
    );
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    let addr = daemon.metrics_addr().await;

    eventually(PATIENCE, "/readyz to name the missing function", || async {
        let (status, body) = http_get(&addr, "/readyz");
        status == 503 && body.contains("target orders: function proces-order not found")
    })
    .await;
    let (_, body) = http_get(&addr, "/readyz");
    assert!(!body.contains("target work"), "the function that exists is fine: {body}");
    assert_eq!(http_get(&addr, "/healthz").0, 200, "a bad target is not a dead daemon");
    let log = daemon.log();
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("target fails its check")).collect();
    assert_eq!(errors.len(), 1, "one error line: {log}");
    assert!(errors[0].contains("targets.orders.function"), "the error names the key to fix: {}", errors[0]);
    assert!(lambda.invocations().is_empty(), "the check runs no function");
    assert_eq!(lambda.dry_runs().iter().filter(|d| d.function_name == "work").count(), 1, "each target is checked once");
    assert!(daemon.terminate(Duration::from_secs(30)).success());
}

#[test]
fn no_region_is_one_line_that_names_the_fix() {
    let moto = Moto::from_env();
    let setup = Setup::new("", "[targets.work]\nfunction = \"work\"\n");
    let text = std::fs::read_to_string(setup.config()).unwrap().replace("region = \"us-east-1\"", "");
    std::fs::write(setup.config(), text).unwrap();
    let env = [("AWS_REGION", ""), ("HOME", setup.dir.path().to_str().unwrap())];

    let (code, out) = validate(&setup, &moto, "http://127.0.0.1:9", &[], &env);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAIL  aws setup: no region: set [aws] region in the daemon file, or AWS_REGION"), "{out}");
    assert!(!out.contains("signing region") && !out.contains("account_id"), "no other advice: {out}");

    let mut run = Daemon::spawn(&["run", "--config", setup.config().to_str().unwrap()], &moto, "http://127.0.0.1:9", &env);
    assert_eq!(run.wait(Duration::from_secs(60)).code(), Some(1));
    let log = run.log();
    assert!(log.lines().last().unwrap_or_default().ends_with("no region: set [aws] region in the daemon file, or AWS_REGION"), "{log}");
    assert!(!log.contains("account_id"), "{log}");
}

#[test]
fn no_credentials_is_one_line_that_says_what_was_tried() {
    let moto = Moto::from_env();
    let setup = Setup::new("", "[targets.work]\nfunction = \"work\"\n");
    let home = setup.dir.path().to_str().unwrap();
    let env = [("AWS_ACCESS_KEY_ID", ""), ("AWS_SECRET_ACCESS_KEY", ""), ("HOME", home)];

    let (code, out) = validate(&setup, &moto, "http://127.0.0.1:9", &[], &env);
    assert_eq!(code, Some(1), "{out}");
    let line = out.lines().find(|l| l.contains("no credentials found")).unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains("tried the environment") && line.contains("IMDS") && line.contains("set AWS_ACCESS_KEY_ID"), "{line}");
    assert!(out.len() < 2000, "no debug dumps ({} bytes): {out}", out.len());

    let mut run = Daemon::spawn(&["run", "--config", setup.config().to_str().unwrap()], &moto, "http://127.0.0.1:9", &env);
    assert_eq!(run.wait(Duration::from_secs(60)).code(), Some(1));
    let log = run.log();
    assert!(log.lines().last().unwrap_or_default().contains("no credentials found: tried the environment"), "{log}");
    assert!(!log.contains("account_id") && !log.contains("ProviderError"), "{log}");
}

#[test]
fn silent_no_ops_are_warnings_from_validate_and_at_start() {
    let moto = Moto::from_env();
    let setup = Setup::new(
        "",
        "[dlq.a]\ntype = \"file\"\npath = \"../state/dead.jsonl\"\n[dlq.b]\ntype = \"file\"\npath = \"../state/./dead.jsonl\"\n\
         [targets.work]\nfunction = \"work\"\ndlq = \"a\"\n[targets.spare]\nfunction = \"spare\"\ndlq = \"b\"\n",
    );
    setup.source("nightly", "type = \"cron\"\nschedule = \"0 0 2 * * *\"\ntarget = \"work\"\n");
    std::fs::write(setup.dir.path().join("sources/orders.tml"), "type = \"sqs\"\n").unwrap();

    let (code, out) = validate(&setup, &moto, "http://127.0.0.1:9", &["--offline"], &[]);
    assert_eq!(code, Some(0), "warnings do not fail validate: {out}");
    for says in [
        "orders.tml is not read: only files whose name ends in .toml are sources",
        "targets.spare: no source routes to this target",
        "dlq.a, dlq.b: these sinks all write",
    ] {
        assert!(out.lines().any(|l| l.starts_with("warn  config") && l.contains(says)), "no warning {says:?} in {out}");
    }

    let mut run = Daemon::spawn(&["run", "--config", setup.config().to_str().unwrap()], &moto, "http://127.0.0.1:9", &[]);
    eventually_sync(|| run.log().contains("fanin running"));
    let log = run.log();
    for says in ["orders.tml is not read", "no source routes to this target", "these sinks all write"] {
        assert!(log.lines().any(|l| l.contains("WARN") && l.contains(says)), "no warning {says:?} in {log}");
    }
    assert!(run.terminate(Duration::from_secs(30)).success());

    // No source file at all.
    std::fs::remove_file(setup.dir.path().join("sources/nightly.toml")).unwrap();
    std::fs::remove_file(setup.dir.path().join("sources/orders.tml")).unwrap();
    let (code, out) = validate(&setup, &moto, "http://127.0.0.1:9", &["--offline"], &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("no source file (*.toml) in"), "{out}");
}

#[test]
fn a_queue_arn_and_an_eventbridge_schedule_are_refused_with_what_to_write() {
    let moto = Moto::from_env();
    let setup = Setup::new("", "[targets.work]\nfunction = \"work\"\n");
    setup.source("orders", "type = \"sqs\"\nqueue_url = \"arn:aws:sqs:eu-west-1:123456789012:orders\"\ntarget = \"work\"\n");
    let (code, out) = validate(&setup, &moto, "http://127.0.0.1:9", &["--offline"], &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("queue_url: queue_url must be the queue's URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME), not its ARN: write https://sqs.eu-west-1.amazonaws.com/123456789012/orders"),
        "{out}"
    );
    assert!(!out.contains("get-queue-url"), "{out}");

    std::fs::remove_file(setup.dir.path().join("sources/orders.toml")).unwrap();
    setup.source("noon", "type = \"cron\"\nschedule = \"cron(0 12 * * ? *)\"\ntarget = \"work\"\n");
    let (code, out) = validate(&setup, &moto, "http://127.0.0.1:9", &["--offline"], &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("sources/noon.toml: schedule:")
            && out.contains("six fields: sec min hour day-of-month month day-of-week: write `0 0 12 * * *`"),
        "{out}"
    );
}

/// Waits up to [`PATIENCE`] for `done`.
fn eventually_sync(mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "timed out");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_depth_counts_events_not_pollers_room_and_the_last_line_says_what_the_run_did() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_missing(&["gone"]);
    let queue = moto.queue(&crate::support::harness::unique("orders")).await;
    let setup = Setup::new("", "[targets.work]\nfunction = \"work\"\n[targets.gone]\nfunction = \"gone\"\n");
    // Two pollers of ten: the room they reserve is 20 slots with nothing in them.
    let routes = "routes = [{ target = \"work\" }, { target = \"gone\", filter = { kind = [\"lost\"] } }]";
    setup.source(
        "orders",
        &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\nshape = \"body\"\npollers = 2\nwait_time = \"2s\"\n{routes}\n"),
    );
    moto.send_all(&queue, &["{\"kind\":\"ok\"}".to_string(), "{\"kind\":\"ok\"}".to_string(), "{\"kind\":\"lost\"}".to_string()]).await;
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    let addr = daemon.metrics_addr().await;
    eventually(PATIENCE, "the queue drained", || async { moto.depth(&queue).await == (0, 0) }).await;

    // The dispatcher publishes the depth on its next beat.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, m) = http_get(&addr, "/metrics");
    assert!(m.contains("fanin_queue_depth"), "{m}");
    assert_eq!(crate::operations::sample(&m, "fanin_queue_depth", &[]), 0.0, "nothing waits: {m}");

    assert!(daemon.terminate(Duration::from_secs(30)).success());
    let log = daemon.log();
    let last = log.lines().last().unwrap_or_default();
    assert!(
        last.ends_with("fanin stopped: received 3 events; Lambda accepted 3 deliveries, 1 went to dead-letter sinks, 0 messages left upstream to come back"),
        "{log}"
    );
}

/// `fanin <args> --help`, as printed.
fn help(args: &[&str]) -> String {
    let nowhere = Moto { url: "http://127.0.0.1:9".into() };
    let mut all = args.to_vec();
    all.push("--help");
    let mut run = Daemon::spawn(&all, &nowhere, "http://127.0.0.1:9", &[]);
    assert_eq!(run.wait(Duration::from_secs(30)).code(), Some(0), "{}", run.log());
    run.stdout()
}

#[test]
fn every_command_that_reads_a_configuration_takes_it_the_same_way_and_every_help_ends_with_examples() {
    let reads_config: &[&[&str]] = &[
        &["run"],
        &["validate"],
        &["setup"],
        &["invoke"],
        &["iam-policy"],
        &["test-pattern"],
        &["replay"],
        &["dlq", "stats"],
        &["dlq", "list"],
        &["dlq", "show"],
    ];
    for args in reads_config {
        let text = help(args);
        let line =
            text.lines().find(|l| l.contains("--config")).unwrap_or_else(|| panic!("fanin {args:?} --help has no --config:\n{text}"));
        assert!(line.trim_start().starts_with("-c, --config <CONFIG>"), "fanin {args:?}: {line:?}");
        assert!(text.contains("[default: /etc/fanin/fanin.toml]"), "fanin {args:?} --help:\n{text}");
    }
    let all: &[&[&str]] = &[
        &["run"],
        &["validate"],
        &["replay"],
        &["setup"],
        &["events"],
        &["test-pattern"],
        &["invoke"],
        &["dlq"],
        &["dlq", "stats"],
        &["dlq", "list"],
        &["dlq", "show"],
        &["completions"],
        &["iam-policy"],
    ];
    for args in all {
        let text = help(args);
        let examples = text.split("\nExamples:\n").nth(1).unwrap_or_else(|| panic!("fanin {args:?} --help ends without examples:\n{text}"));
        let lines: Vec<&str> = examples.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(
            (1..=2).contains(&lines.len()) && lines.iter().all(|l| l.trim_start().starts_with("fanin ") || l.contains(" fanin ")),
            "fanin {args:?}: {examples}"
        );
    }
    // Every shell the README names is one `completions` takes.
    let completions = help(&["completions"]);
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        assert!(completions.contains(shell), "{completions}");
    }
}

#[test]
fn the_shipped_production_example_passes_validate_offline_as_it_is() {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config/fanin.toml");
    let nowhere = Moto { url: "http://127.0.0.1:9".into() };
    let mut run = Daemon::spawn(&["validate", "--offline", "-c", config], &nowhere, "http://127.0.0.1:9", &[]);
    let status = run.wait(Duration::from_secs(60));
    let out = run.stdout();
    // Its state directory is /var/lib/fanin, which only the service's user (or root) may make.
    let fails: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL")).collect();
    if unsafe { libc::geteuid() } == 0 {
        assert_eq!(status.code(), Some(0), "{out}\n{}", run.log());
    } else {
        assert!(!fails.is_empty() && fails.iter().all(|l| l.contains("/var/lib/fanin")), "{out}\n{}", run.log());
    }
    assert!(out.contains("does not exist: no source runs"), "its sources_dir is /etc/fanin/sources once installed: {out}");
}
