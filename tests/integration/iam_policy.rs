//! `fanin iam-policy`: exactly the functions, queues and sinks configured, merged into one
//! statement per action group, and clean under parliament (the IAM policy linter).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::support::harness::{Daemon, Moto, Setup};

/// `iam-policy` makes no AWS call: every endpoint is a closed port.
const CLOSED: &str = "http://127.0.0.1:9";

/// Runs `fanin iam-policy` with `args` and `env`; the parsed policy.
fn iam_policy(args: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let mut all = vec!["iam-policy"];
    all.extend_from_slice(args);
    let mut run = Daemon::spawn(&all, &Moto { url: CLOSED.into() }, CLOSED, env);
    let status = run.wait(Duration::from_secs(30));
    assert!(status.success(), "iam-policy failed ({status}): {}", run.log());
    serde_json::from_str(&run.stdout()).unwrap_or_else(|e| panic!("{e}: {}", run.stdout()))
}

/// Parliament's findings on `policy` (empty: clean), at every severity down to INFO. The policy
/// goes in on stdin: parliament refuses `--file` when its stdin is not a terminal.
fn parliament(policy: &serde_json::Value) -> String {
    let bin = std::env::var("FANIN_TEST_PARLIAMENT")
        .unwrap_or_else(|_| panic!("FANIN_TEST_PARLIAMENT is not set: the iam-policy tests need parliament; run them with scripts/test"));
    let mut child = Command::new(&bin)
        .args(["--minimum_severity", "INFO"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    child.stdin.take().unwrap().write_all(policy.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let findings = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // Exit 0 with no output is clean, 1 is findings; anything else is parliament failing.
    match out.status.code() {
        Some(0) if findings.is_empty() => String::new(),
        Some(1) if !findings.is_empty() => findings,
        _ => panic!("parliament failed ({}): {findings}\n{}", out.status, String::from_utf8_lossy(&out.stderr)),
    }
}

#[test]
fn parliament_flags_what_it_should() {
    // So that a clean run below means something.
    let bad = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Bad", "Effect": "Allow", "Action": ["s3:PutObject"], "Resource": ["arn:aws:s3:::bucket"]}
    ]});
    assert!(parliament(&bad).contains("No resources match"));
}

#[test]
fn iam_policy_for_the_example_configuration_is_exact_and_clean() {
    let root = env!("CARGO_MANIFEST_DIR");
    let config = format!("{root}/config/fanin.toml");
    // Its sources_dir is relative to /etc/fanin; the examples stand in the repository's sources/.
    let sources = format!("{root}/sources");
    let env = [("FANIN__DAEMON__SOURCES_DIR", sources.as_str())];
    let policy = iam_policy(&["--config", &config], &env);
    assert_eq!(
        policy,
        json!({
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "InvokeTargets",
                    "Effect": "Allow",
                    "Action": ["lambda:InvokeFunction"],
                    "Resource": [
                        "arn:aws:lambda:us-east-1:123456789012:function:archive-order",
                        "arn:aws:lambda:us-east-1:123456789012:function:audit",
                        "arn:aws:lambda:us-east-1:123456789012:function:heartbeat",
                        "arn:aws:lambda:us-east-1:123456789012:function:notify",
                        "arn:aws:lambda:us-east-1:123456789012:function:pager",
                        "arn:aws:lambda:us-east-1:123456789012:function:process-order:live",
                        "arn:aws:lambda:us-east-1:123456789012:function:resize:live",
                    ],
                },
                {
                    "Sid": "ConsumeSourceQueues",
                    "Effect": "Allow",
                    "Action": ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
                    "Resource": [
                        "arn:aws:sqs:us-east-1:123456789012:alarms-events",
                        "arn:aws:sqs:us-east-1:123456789012:bus-events",
                        "arn:aws:sqs:us-east-1:123456789012:news-events",
                        "arn:aws:sqs:us-east-1:123456789012:orders",
                        "arn:aws:sqs:us-east-1:123456789012:uploads-events",
                    ],
                },
                {
                    "Sid": "ConfirmSubscriptions",
                    "Effect": "Allow",
                    "Action": ["sns:ConfirmSubscription"],
                    "Resource": ["arn:aws:sns:us-east-1:123456789012:news"],
                },
            ],
        })
    );
    assert_eq!(parliament(&policy), "");

    // What `fanin setup --apply` calls, on exactly the queues, bucket, topic and rules it wires.
    let with_setup = iam_policy(&["--config", &config, "--include-setup"], &env);
    let statements = with_setup["Statement"].as_array().unwrap();
    assert_eq!(statements[..3], policy["Statement"].as_array().unwrap()[..]);
    let queue = |name: &str| format!("arn:aws:sqs:us-east-1:123456789012:{name}");
    assert_eq!(
        statements[3..],
        [
            json!({"Sid": "SetupQueuePolicies", "Effect": "Allow", "Action": ["sqs:GetQueueAttributes", "sqs:SetQueueAttributes"],
                   "Resource": [queue("alarms-events"), queue("bus-events"), queue("news-events"), queue("uploads-events")]}),
            json!({"Sid": "SetupBucketNotifications", "Effect": "Allow", "Action": ["s3:GetBucketNotification", "s3:PutBucketNotification"],
                   "Resource": ["arn:aws:s3:::photos"]}),
            json!({"Sid": "SetupTopicSubscriptions", "Effect": "Allow", "Action": ["sns:ListSubscriptionsByTopic", "sns:Subscribe"],
                   "Resource": ["arn:aws:sns:us-east-1:123456789012:news"]}),
            json!({"Sid": "SetupRules", "Effect": "Allow",
                   "Action": ["events:DescribeRule", "events:ListTargetsByRule", "events:PutRule", "events:PutTargets"],
                   "Resource": ["arn:aws:events:us-east-1:123456789012:rule/alarms-to-fanin", "arn:aws:events:us-east-1:123456789012:rule/shop-to-fanin"]}),
        ]
    );
    assert_eq!(parliament(&with_setup), "");
}

#[test]
fn iam_policy_grants_alarm_polling_and_rules_on_a_custom_bus() {
    let setup = Setup::new("", "[targets.pager]\nfunction = \"pager\"\n");
    setup.source("polled", "type = \"cloudwatch_alarm\"\npoll_interval = \"1m\"\nalarm_name_prefix = \"prod-\"\ntarget = \"pager\"\n");
    setup.source(
        "bus",
        "type = \"eventbridge\"\nqueue_url = \"https://sqs.eu-west-1.amazonaws.com/123456789012/bus\"\ntarget = \"pager\"\n\
         setup = { rule = \"orders\", event_bus = \"shop\", pattern = { source = [\"shop\"] } }\n",
    );
    let config = setup.config();
    let policy = iam_policy(&["--config", config.to_str().unwrap(), "--include-setup"], &[]);
    let statement = |sid: &str| policy["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == sid).cloned();
    assert_eq!(
        statement("DescribeAlarms").unwrap(),
        json!({"Sid": "DescribeAlarms", "Effect": "Allow", "Action": ["cloudwatch:DescribeAlarms"],
               "Resource": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:*"]})
    );
    assert_eq!(statement("SetupRules").unwrap()["Resource"], json!(["arn:aws:events:eu-west-1:123456789012:rule/shop/orders"]));
    assert_eq!(parliament(&policy), "");
    // Without --include-setup, only what the daemon calls.
    let policy = iam_policy(&["--config", config.to_str().unwrap()], &[]);
    assert!(policy["Statement"].as_array().unwrap().iter().all(|s| !s["Sid"].as_str().unwrap().starts_with("Setup")), "{policy}");
}

#[test]
fn iam_policy_grants_exactly_the_functions_queues_and_sinks_configured() {
    let setup = Setup::new(
        "",
        "[dlq.local]\ntype = \"file\"\npath = \"dead.jsonl\"\n\
         [dlq.messages]\ntype = \"sqs\"\nqueue_url = \"https://sqs.us-east-1.amazonaws.com/123456789012/dead\"\n\
         [dlq.objects]\ntype = \"s3\"\nbucket = \"ops-bucket\"\nprefix = \"fanin/dlq/\"\n\
         [dlq.everything]\ntype = \"s3\"\nbucket = \"other-bucket\"\nprefix = \"\"\n\
         [targets.plain]\nfunction = \"plain\"\ndlq = \"local\"\n\
         [targets.aliased]\nfunction = \"aliased\"\nqualifier = \"live\"\ndlq = \"messages\"\n\
         [targets.suffixed]\nfunction = \"suffixed:7\"\ndlq = \"objects\"\n\
         [targets.partial]\nfunction = \"123456789012:function:partial\"\ndlq = \"everything\"\n\
         [targets.full]\nfunction = \"arn:aws:lambda:us-east-1:123456789012:function:full\"\nqualifier = \"3\"\n\
         [targets.twice]\nfunction = \"plain\"\n",
    );
    setup.source("orders", "type = \"sqs\"\nqueue_url = \"https://sqs.us-east-1.amazonaws.com/123456789012/orders\"\ntarget = \"plain\"\n");
    setup.source(
        "audit",
        "type = \"sqs\"\nqueue_url = \"https://sqs.us-east-1.amazonaws.com/123456789012/audit.fifo\"\ntarget = \"aliased\"\n",
    );
    setup.source("nightly", "type = \"cron\"\nschedule = \"0 0 2 * * *\"\ntarget = \"full\"\n");

    let policy = iam_policy(&["--config", setup.config().to_str().unwrap()], &[]);
    let lambda = |rest: &str| format!("arn:aws:lambda:us-east-1:123456789012:function:{rest}");
    assert_eq!(
        policy,
        json!({
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "InvokeTargets",
                    "Effect": "Allow",
                    "Action": ["lambda:InvokeFunction"],
                    // Sorted, each once; a qualified invoke is granted on the qualified ARN only.
                    "Resource": [lambda("aliased:live"), lambda("full:3"), lambda("partial"), lambda("plain"), lambda("suffixed:7")],
                },
                {
                    "Sid": "ConsumeSourceQueues",
                    "Effect": "Allow",
                    "Action": ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
                    "Resource": ["arn:aws:sqs:us-east-1:123456789012:audit.fifo", "arn:aws:sqs:us-east-1:123456789012:orders"],
                },
                {
                    "Sid": "SendDeadLetterMessages",
                    "Effect": "Allow",
                    "Action": ["sqs:SendMessage"],
                    "Resource": ["arn:aws:sqs:us-east-1:123456789012:dead"],
                },
                {
                    "Sid": "WriteDeadLetterObjects",
                    "Effect": "Allow",
                    "Action": ["s3:PutObject"],
                    "Resource": ["arn:aws:s3:::ops-bucket/fanin/dlq/*", "arn:aws:s3:::other-bucket/*"],
                },
            ],
        })
    );
    assert_eq!(parliament(&policy), "");
}

#[test]
fn iam_policy_uses_a_wildcard_account_only_where_nothing_names_one() {
    let setup = Setup::new("", "[targets.plain]\nfunction = \"plain\"\n");
    let config = setup.config();
    let policy = iam_policy(&["--config", config.to_str().unwrap()], &[]);
    assert_eq!(policy["Statement"][0]["Resource"], json!(["arn:aws:lambda:us-east-1:*:function:plain"]));
    assert_eq!(parliament(&policy), "");
    // The role fanin assumes names the account its bare function names resolve in.
    let role = [("FANIN__AWS__ASSUME_ROLE_ARN", "arn:aws:iam::210987654321:role/fanin")];
    let policy = iam_policy(&["--config", config.to_str().unwrap()], &role);
    assert_eq!(policy["Statement"][0]["Resource"], json!(["arn:aws:lambda:us-east-1:210987654321:function:plain"]));
    // [aws] account_id names it outright.
    let account = [("FANIN__AWS__ACCOUNT_ID", "109876543210"), role[0]];
    let policy = iam_policy(&["--config", config.to_str().unwrap()], &account);
    assert_eq!(policy["Statement"][0]["Resource"], json!(["arn:aws:lambda:us-east-1:109876543210:function:plain"]));
}

#[test]
fn iam_policy_has_no_statement_on_every_resource() {
    // Without [aws] account_id fanin asks sts:GetCallerIdentity at start; STS answers that
    // call for every identity, whatever its policies say, so it needs no statement (and would
    // need one on "*").
    let setup = Setup::new("", "[targets.plain]\nfunction = \"plain\"\n");
    let policy = iam_policy(&["--config", setup.config().to_str().unwrap()], &[]);
    for statement in policy["Statement"].as_array().unwrap() {
        assert!(statement["Resource"].as_array().unwrap().iter().all(|r| r != "*"), "{statement}");
        assert!(statement["Action"].as_array().unwrap().iter().all(|a| !a.as_str().unwrap().starts_with("sts:")), "{statement}");
    }
}

#[test]
fn iam_policy_grants_fleet_claims_only_where_a_schedule_claims() {
    let setup = Setup::new("", "[targets.t]\nfunction = \"t\"\n[fleet]\nclaims = \"s3://ops-bucket/fanin/claims/\"\n");
    let config = setup.config();
    let statements = |policy: &serde_json::Value| policy["Statement"].as_array().unwrap().clone();
    // No schedule: nothing is ever claimed.
    let policy = iam_policy(&["--config", config.to_str().unwrap()], &[]);
    assert!(statements(&policy).iter().all(|s| s["Sid"] != "ClaimCronFires"), "{policy}");
    setup.source("nightly", "type = \"cron\"\nschedule = \"0 0 2 * * *\"\ntarget = \"t\"\n");
    let policy = iam_policy(&["--config", config.to_str().unwrap()], &[]);
    let claims = statements(&policy).into_iter().find(|s| s["Sid"] == "ClaimCronFires").expect("a claims statement");
    assert_eq!(
        claims,
        json!({"Sid": "ClaimCronFires", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": ["arn:aws:s3:::ops-bucket/fanin/claims/*"]})
    );
    assert_eq!(parliament(&policy), "");
}

#[test]
fn iam_policy_grants_writing_large_payloads_and_large_records() {
    let setup = Setup::new(
        "",
        "[dlq.messages]\ntype = \"sqs\"\nqueue_url = \"https://sqs.us-east-1.amazonaws.com/123456789012/dead\"\n\
         large_records = { bucket = \"ops-bucket\" }\n\
         [targets.big]\nfunction = \"big\"\nlarge_payloads = { bucket = \"ops-bucket\" }\ndlq = \"messages\"\n[targets.small]\nfunction = \"small\"\n",
    );
    let policy = iam_policy(&["--config", setup.config().to_str().unwrap()], &[]);
    let statement = policy["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "WriteLargePayloads").cloned();
    assert_eq!(
        statement,
        Some(
            json!({"Sid": "WriteLargePayloads", "Effect": "Allow", "Action": ["s3:PutObject"], "Resource": ["arn:aws:s3:::ops-bucket/fanin/payloads/*"]})
        )
    );
    // An SQS sink's large records go to S3 too.
    let objects = policy["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "WriteDeadLetterObjects").cloned();
    assert_eq!(objects.unwrap()["Resource"], json!(["arn:aws:s3:::ops-bucket/fanin/dlq/large/*"]));
    assert_eq!(parliament(&policy), "");
}

#[test]
fn iam_policy_for_function_url_and_state_machine_targets_is_exact_and_clean() {
    let setup = Setup::new(
        "",
        "[targets.hook]\nurl = \"https://abc.lambda-url.us-east-1.on.aws/\"\nfunction = \"hook-fn\"\n\
         [targets.open]\nurl = \"https://def.lambda-url.us-east-1.on.aws/\"\nauth = \"NONE\"\n\
         [targets.flow]\nstate_machine = \"arn:aws:states:us-east-1:123456789012:stateMachine:orders\"\n",
    );
    let policy = iam_policy(&["--config", setup.config().to_str().unwrap()], &[]);
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(
        statements[..2],
        [
            json!({"Sid": "InvokeFunctionUrls", "Effect": "Allow", "Action": ["lambda:InvokeFunctionUrl"],
                   "Resource": ["arn:aws:lambda:us-east-1:123456789012:function:hook-fn"],
                   "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}}),
            json!({"Sid": "StartExecutions", "Effect": "Allow", "Action": ["states:StartExecution"],
                   "Resource": ["arn:aws:states:us-east-1:123456789012:stateMachine:orders"]}),
        ]
    );
    assert!(statements.iter().all(|s| s["Sid"] != "InvokeTargets"), "{policy}");
    assert_eq!(parliament(&policy), "");
}
