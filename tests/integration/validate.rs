//! `fanin validate`: every target DryRun-invoked, every queue and sink looked up or written,
//! every schedule's next fires listed; advice in the operator's terms; exit 1 on a failure.

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;

use crate::support::harness::{unique, Daemon, Moto, Setup};
use crate::support::lambda_endpoint::{Behavior, InvocationType, LambdaEndpoint, Reply};

/// A port nothing listens on: any call to it fails at once.
const CLOSED: &str = "http://127.0.0.1:9";

/// Runs `fanin validate` on `setup` with `args`; its exit code and stdout.
fn validate(setup: &Setup, moto: &Moto, lambda_url: &str, args: &[&str]) -> (Option<i32>, String) {
    validate_with(setup, moto, lambda_url, args, &[])
}

/// [`validate`] with more environment variables.
fn validate_with(setup: &Setup, moto: &Moto, lambda_url: &str, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let config = setup.config();
    let mut all = vec!["validate", "--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    let mut run = Daemon::spawn(&all, moto, lambda_url, env);
    let status = run.wait(Duration::from_secs(60));
    (status.code(), run.stdout())
}

/// The line of `out` that reports on `kind name`, and the advice lines indented under it.
fn finding<'a>(out: &'a str, status: &str, kind_name: &str) -> String {
    let head = format!("{status:<4}  {kind_name}: ");
    let mut lines = out.lines().skip_while(|l| !l.starts_with(&head));
    let first = lines.next().unwrap_or_else(|| panic!("no `{head}` line in:\n{out}"));
    let advice: Vec<&'a str> = lines.take_while(|l| l.starts_with("      ")).collect();
    std::iter::once(first).chain(advice).collect::<Vec<_>>().join("\n")
}

/// The statement in a check's advice (pretty JSON after the introduction).
fn statement_in(advice: &str) -> serde_json::Value {
    let start = advice.find('{').unwrap_or_else(|| panic!("no statement in {advice:?}"));
    serde_json::from_str(&advice[start..]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_passes_when_every_target_queue_sink_and_schedule_is_there() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let queue = moto.queue(&unique("orders")).await;
    let dead_queue = moto.queue(&unique("dead")).await;
    let bucket = unique("dlq-ok");
    moto.s3().create_bucket().bucket(&bucket).send().await.unwrap();
    let setup = Setup::new(
        "",
        &format!(
            "[dlq.objects]\ntype = \"s3\"\nbucket = \"{bucket}\"\nprefix = \"dead/\"\n\
             [dlq.messages]\ntype = \"sqs\"\nqueue_url = \"{dead_queue}\"\n\
             [targets.work]\nfunction = \"work\"\nqualifier = \"live\"\ndlq = \"objects\"\n\
             [targets.audit]\nfunction = \"arn:aws:lambda:us-east-1:123456789012:function:audit\"\ndlq = \"messages\"\n\
             [targets.tick]\nfunction = \"tick\"\n"
        ),
    );
    setup.source(
        "orders",
        &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\n[[routes]]\ntarget = \"work\"\n[[routes]]\ntarget = \"audit\"\n"),
    );
    setup.source("nightly", "type = \"cron\"\nschedule = \"0 0 2 * * *\"\ntimezone = \"Asia/Tokyo\"\ntarget = \"tick\"\n");

    let (code, out) = validate(&setup, &moto, &lambda.url(), &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("FAIL") && !out.contains("warn "), "{out}");
    for (kind_name, says) in [
        ("account aws", "123456789012 (from sts:GetCallerIdentity, asked once at start)"),
        ("target work", "work (qualifier live): exists and may be invoked (DryRun)"),
        ("target audit", "function:audit: exists and may be invoked"),
        ("target tick", "tick: exists"),
        ("source orders", &format!("queue {queue} exists and may be read")),
        ("schedule nightly", "`0 0 2 * * *` in Asia/Tokyo: next "),
        ("dlq default", "dlq.jsonl: can be created"),
        ("dlq messages", &format!("queue {dead_queue} exists")),
        ("dlq objects", &format!("s3://{bucket}/dead/: a marker object was written and deleted")),
        ("state cron", "writable"),
    ] {
        let line = finding(&out, "ok", kind_name);
        assert!(line.contains(says), "{line:?} should say {says:?}");
    }
    assert!(out.ends_with("10 checks: 10 ok, 0 warn, 0 failed\n"), "{out}");

    // Every call was a DryRun, with the qualifier where one is configured.
    assert!(lambda.invocations().is_empty(), "validate runs no function");
    let calls = lambda.dry_runs();
    assert_eq!(calls.len(), 3);
    assert!(calls.iter().all(|c| c.invocation_type == InvocationType::DryRun));
    assert!(calls.iter().any(|c| c.function_name == "work" && c.qualifier.as_deref() == Some("live")));
    // Nothing left behind: no marker object, no state directory.
    let left = moto.s3().list_objects_v2().bucket(&bucket).send().await.unwrap();
    assert_eq!(left.key_count(), Some(0), "the marker was deleted");
    assert!(!setup.state_dir().exists(), "validate creates no state directory");

    let (code, json) = validate(&setup, &moto, &lambda.url(), &["--format", "json"]);
    assert_eq!(code, Some(0), "{json}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(report["ok"], true);
    let checks = report["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 10);
    assert!(checks.iter().all(|c| c["status"] == "ok" && c["advice"].is_null()), "{report:#}");
    let kinds: Vec<(&str, &str)> = checks.iter().map(|c| (c["kind"].as_str().unwrap(), c["name"].as_str().unwrap())).collect();
    assert_eq!(
        kinds,
        [
            ("account", "aws"),
            ("target", "audit"),
            ("target", "tick"),
            ("target", "work"),
            ("schedule", "nightly"),
            ("source", "orders"),
            ("dlq", "default"),
            ("dlq", "messages"),
            ("dlq", "objects"),
            ("state", "cron"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_names_a_missing_function_and_suggests_checking_name_and_region() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior("ghost", Behavior::not_found());
    lambda.set_behavior("gone", Behavior::not_found());
    let setup = Setup::new(
        "",
        "[targets.ghost]\nfunction = \"ghost\"\n[targets.gone]\nfunction = \"gone\"\nqualifier = \"live\"\n[targets.fine]\nfunction = \"fine\"\n",
    );
    let (code, out) = validate(&setup, &moto, &lambda.url(), &[]);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(
        finding(&out, "FAIL", "target ghost"),
        "FAIL  target ghost: function ghost not found in region us-east-1\n      \
         check the name in targets.ghost.function (a name, partial ARN or full ARN) and the region ([aws] region, AWS_REGION):\n      \
         aws lambda get-function --function-name ghost --region us-east-1"
    );
    // With a qualifier, the function itself missing is told apart from a missing alias.
    let gone = finding(&out, "FAIL", "target gone");
    assert!(gone.starts_with("FAIL  target gone: function gone not found in region us-east-1"), "{gone}");
    finding(&out, "ok", "target fine");
    assert!(out.ends_with("2 failed\n"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_tells_a_missing_alias_from_a_missing_function() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    // The function exists; its alias does not.
    lambda.set_behavior(
        "resize",
        Behavior::from_fn(|inv, _| match &inv.qualifier {
            Some(_) => Reply::not_found(&format!("{}:{}", inv.function_name, inv.qualifier.as_deref().unwrap())),
            None => Reply::Accept,
        }),
    );
    let setup = Setup::new("", "[targets.resize]\nfunction = \"resize\"\nqualifier = \"live\"\n");
    let (code, out) = validate(&setup, &moto, &lambda.url(), &[]);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(
        finding(&out, "FAIL", "target resize"),
        "FAIL  target resize: function resize has no alias or version \"live\"\n      \
         see the aliases and versions it has, then fix targets.resize.qualifier:\n      \
         aws lambda list-aliases --function-name resize\n      \
         aws lambda list-versions-by-function --function-name resize"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_shows_the_missing_statement_when_invoke_is_denied() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior("locked", Behavior::always(Reply::access_denied()));
    // The queue's URL carries the account the statement names.
    let queue = moto.queue(&unique("locked-in")).await;
    let setup = Setup::new("", "[targets.locked]\nfunction = \"locked\"\nqualifier = \"v2\"\n");
    setup.source("orders", &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\ntarget = \"locked\"\n"));

    let (code, out) = validate(&setup, &moto, &lambda.url(), &[]);
    assert_eq!(code, Some(1), "{out}");
    let text = finding(&out, "FAIL", "target locked");
    assert!(text.contains("locked (qualifier v2): invoke denied: AccessDeniedException (403)"), "{text}");
    assert!(text.contains("fanin iam-policy --config"), "{text}");

    let (code, json) = validate(&setup, &moto, &lambda.url(), &["--format", "json"]);
    assert_eq!(code, Some(1));
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["ok"], false);
    let check = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "locked").unwrap();
    assert_eq!(check["status"], "fail");
    assert_eq!(
        statement_in(check["advice"].as_str().unwrap()),
        serde_json::json!({
            "Sid": "InvokeTargets",
            "Effect": "Allow",
            "Action": ["lambda:InvokeFunction"],
            "Resource": ["arn:aws:lambda:us-east-1:123456789012:function:locked:v2"],
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_names_a_missing_queue() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let name = unique("never-made");
    let url = format!("{}/123456789012/{name}", moto.url);
    let setup = Setup::new("", "[targets.work]\nfunction = \"work\"\n");
    setup.source("orders", &format!("type = \"sqs\"\nqueue_url = \"{url}\"\ntarget = \"work\"\n"));
    let (code, out) = validate(&setup, &moto, &lambda.url(), &[]);
    assert_eq!(code, Some(1), "{out}");
    let text = finding(&out, "FAIL", "source orders");
    assert!(text.starts_with(&format!("FAIL  source orders: queue {url} does not exist\n")), "{text}");
    assert!(text.contains("sources/orders.toml"), "names the file to fix: {text}");
    assert!(text.ends_with(&format!("aws sqs get-queue-url --queue-name {name}")), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_fails_on_a_missing_bucket_and_a_directory_that_cannot_be_made() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let bucket = unique("no-such-bucket");
    let setup = Setup::new("", "");
    // Root may write anywhere, but nothing can make a directory under a regular file.
    let plain = setup.dir.path().join("plain");
    std::fs::write(&plain, "").unwrap();
    let file = plain.join("dead/dlq.jsonl");
    let text = format!(
        "[dlq.objects]\ntype = \"s3\"\nbucket = \"{bucket}\"\n[dlq.local]\ntype = \"file\"\npath = \"{}\"\n\
         [targets.a]\nfunction = \"a\"\ndlq = \"objects\"\n[targets.b]\nfunction = \"b\"\ndlq = \"local\"\n",
        file.display()
    );
    std::fs::write(setup.config(), std::fs::read_to_string(setup.config()).unwrap() + &text).unwrap();

    let (code, out) = validate(&setup, &moto, &lambda.url(), &[]);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(
        finding(&out, "FAIL", "dlq objects"),
        format!(
            "FAIL  dlq objects: bucket {bucket} does not exist\n      \
             create it, or fix dlq.objects.bucket:\n      \
             aws s3 mb s3://{bucket} --region us-east-1"
        )
    );
    let local = finding(&out, "FAIL", "dlq local");
    assert!(local.starts_with(&format!("FAIL  dlq local: file {}: cannot be written: ", file.display())), "{local}");
    assert!(local.contains("writable by the user fanin runs as") && local.contains("dlq.local.path"), "{local}");
    assert!(!out.contains("dlq default"), "no target uses the default sink: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_warns_where_sqs_cannot_keep_what_fanin_retries() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let sqs = moto.sqs();
    let dead = moto.queue(&unique("redriven")).await;
    let dead_arn =
        sqs.get_queue_attributes().queue_url(&dead).attribute_names(QueueAttributeName::QueueArn).send().await.unwrap().attributes.unwrap()
            [&QueueAttributeName::QueueArn]
            .clone();
    let queue = sqs
        .create_queue()
        .queue_name(unique("short-lived"))
        .attributes(QueueAttributeName::MessageRetentionPeriod, "3600")
        .attributes(QueueAttributeName::RedrivePolicy, format!(r#"{{"deadLetterTargetArn":"{dead_arn}","maxReceiveCount":"2"}}"#))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let setup = Setup::new(
        "",
        "[targets.patient]\nfunction = \"patient\"\nretry = { max_attempts = 1000, base_delay = \"1s\", max_delay = \"5m\", max_event_age = \"13h\" }\n",
    );
    setup.source("orders", &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\ntarget = \"patient\"\n"));

    let (code, out) = validate(&setup, &moto, &lambda.url(), &[]);
    assert_eq!(code, Some(0), "warnings alone do not fail: {out}");
    let warnings: Vec<&str> = out.lines().filter(|l| l.starts_with("warn  source orders: ")).collect();
    assert_eq!(warnings.len(), 3, "{out}");
    assert!(
        out.contains("the queue keeps messages 1h (MessageRetentionPeriod), less than targets.patient.retry.max_event_age 13h"),
        "{out}"
    );
    assert!(out.contains(&format!("aws sqs set-queue-attributes --queue-url {queue} --attributes MessageRetentionPeriod=46800")), "{out}");
    assert!(out.contains(&format!("the queue's redrive policy moves a message to {dead_arn} after 2 receive(s)")), "{out}");
    assert!(out.contains("target patient may hold a message up to 13h"), "{out}");
    assert!(out.contains("longer than the 12h SQS keeps a received message hidden"), "{out}");
}

#[test]
fn validate_offline_makes_no_aws_call_and_lists_the_next_fires() {
    // Every AWS endpoint is a closed port: any call would fail the run.
    let moto = Moto { url: CLOSED.into() };
    let lambda = LambdaEndpoint::start();
    let setup = Setup::new(
        "",
        "[dlq.objects]\ntype = \"s3\"\nbucket = \"b\"\n[dlq.messages]\ntype = \"sqs\"\nqueue_url = \"http://127.0.0.1:9/123456789012/dead\"\n\
         [targets.work]\nfunction = \"work\"\ndlq = \"objects\"\n[targets.tick]\nfunction = \"tick\"\n",
    );
    setup.source("orders", "type = \"sqs\"\nqueue_url = \"http://127.0.0.1:9/123456789012/orders\"\ntarget = \"work\"\n");
    setup.source("nightly", "type = \"cron\"\nschedule = \"0 0 2 * * *\"\ntimezone = \"Asia/Tokyo\"\ntarget = \"tick\"\n");

    let (code, out) = validate(&setup, &moto, &lambda.url(), &["--offline"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(lambda.invocations().is_empty() && lambda.dry_runs().is_empty(), "no Lambda call");
    assert!(out.starts_with("offline: "), "{out}");
    let nightly = finding(&out, "ok", "schedule nightly");
    assert!(nightly.starts_with("ok    schedule nightly: `0 0 2 * * *` in Asia/Tokyo: next "), "{nightly}");
    assert_eq!(nightly.matches(" 02:00:00 JST (+09:00)").count(), 3, "{nightly}");
    finding(&out, "ok", "dlq default");
    finding(&out, "ok", "state cron");
    assert!(!out.contains("target ") && !out.contains("dlq objects") && !out.contains("dlq messages"), "{out}");
    assert!(out.ends_with("3 checks: 3 ok, 0 warn, 0 failed\n"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_counts_the_alarms_a_polling_source_finds_and_warns_when_there_are_none() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let prefix = unique("validate-alarm");
    moto.cloudwatch()
        .put_metric_alarm()
        .alarm_name(format!("{prefix}-cpu"))
        .namespace("AWS/EC2")
        .metric_name("CPUUtilization")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Average)
        .period(60)
        .evaluation_periods(1)
        .threshold(90.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    let setup = Setup::new("", "[targets.pager]\nfunction = \"pager\"\n");
    setup.source(
        "found",
        &format!("type = \"cloudwatch_alarm\"\npoll_interval = \"1m\"\nalarm_name_prefix = \"{prefix}\"\ntarget = \"pager\"\n"),
    );
    setup.source(
        "none",
        &format!("type = \"cloudwatch_alarm\"\npoll_interval = \"1m\"\nalarm_name_prefix = \"{prefix}-nothing\"\ntarget = \"pager\"\n"),
    );
    let (code, out) = validate(&setup, &moto, &lambda.url(), &[]);
    assert_eq!(code, Some(0), "a warning is no failure: {out}");
    assert!(finding(&out, "ok", "source found").contains(&format!("DescribeAlarms finds 1 of alarms named {prefix}*")), "{out}");
    let none = finding(&out, "warn", "source none");
    assert!(none.contains("nothing to poll yet") && none.contains("sources/none.toml"), "{none}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_checks_that_fleet_claims_can_be_written() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let (bucket, missing) = (unique("claims"), unique("no-such-bucket"));
    moto.s3().create_bucket().bucket(&bucket).send().await.unwrap();
    for (claims_bucket, status) in [(&bucket, "ok"), (&missing, "FAIL")] {
        let setup = Setup::new("", &format!("[targets.tick]\nfunction = \"tick\"\n[fleet]\nclaims = \"s3://{claims_bucket}/claims/\"\n"));
        setup.source("nightly", "type = \"cron\"\nschedule = \"0 0 2 * * *\"\ntarget = \"tick\"\n");
        let (code, out) = validate(&setup, &moto, &lambda.url(), &[]);
        assert_eq!(code, Some(if status == "ok" { 0 } else { 1 }), "{out}");
        assert!(finding(&out, status, "fleet claims").contains(&format!("s3://{claims_bucket}/claims/")), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_fails_when_the_account_can_be_told_neither_way_and_warns_when_it_disagrees() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let setup = Setup::new("", "[targets.work]\nfunction = \"work\"\n");
    let (code, out) = validate(&setup, &moto, &lambda.url(), &[]);
    assert_eq!(code, Some(0), "{out}");
    let unreachable = [("AWS_ENDPOINT_URL_STS", CLOSED)];
    let (code, out) = validate_with(&setup, &moto, &lambda.url(), &[], &unreachable);
    assert_eq!(code, Some(1), "{out}");
    let line = finding(&out, "FAIL", "account aws");
    assert!(line.contains("sts:GetCallerIdentity"), "{line}");
    assert!(out.contains("set [aws] account_id"), "{out}");

    let text = std::fs::read_to_string(setup.config()).unwrap().replace("[aws]\n", "[aws]\naccount_id = \"210987654321\"\n");
    std::fs::write(setup.config(), text).unwrap();
    let (_, out) = validate(&setup, &moto, &lambda.url(), &[]);
    let line = finding(&out, "warn", "account aws");
    assert!(line.contains("210987654321") && line.contains("123456789012"), "{line}");
    // Configured, and STS out of reach: the configured account stands.
    let (code, out) = validate_with(&setup, &moto, &lambda.url(), &[], &unreachable);
    assert_eq!(code, Some(0), "{out}");
    let line = finding(&out, "ok", "account aws");
    assert!(line.contains("210987654321 ([aws] account_id"), "{line}");
}
