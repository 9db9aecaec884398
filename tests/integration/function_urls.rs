//! Function URL targets against the test endpoint's function URLs: the event POSTed as the
//! body, SigV4-signed (service `lambda`, the region) for `AWS_IAM`, unsigned for `NONE`; status
//! decides delivered, retried (429 with `Retry-After`, 5xx, timeouts) or dead-lettered at once.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::harness::{eventually, unique, Daemon, Moto, Setup};
use crate::support::lambda_endpoint::{Behavior, LambdaEndpoint, Reply};
use crate::support::{body_n, numbered, PATIENCE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_posted_signed_or_not_and_statuses_decide_retry_or_dead_letter() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    // signed: 429 with Retry-After, then 500, then 200; open: 200; the rest dead-letter at once.
    lambda.set_behavior(
        "signed",
        Behavior::from_fn(|_, seen| match seen {
            0 => Reply::throttle("CallerRateLimitExceeded", Some(1)),
            1 => Reply::service_error(),
            _ => Reply::AcceptWith(br#"{"ok":true}"#.to_vec()),
        }),
    );
    lambda.set_behavior("denied", Behavior::always(Reply::error(403, "AccessDeniedException", "Forbidden")));
    lambda.set_behavior("missing", Behavior::always(Reply::error(404, "ResourceNotFoundException", "Not found")));
    lambda.set_behavior("large", Behavior::always(Reply::error(413, "RequestTooLargeException", "Too large")));
    lambda.set_behavior("teapot", Behavior::always(Reply::error(418, "Teapot", "I'm a teapot")));
    let queue = moto.queue(&unique("hooks")).await;
    moto.send_all(&queue, &numbered(2)).await;
    let targets: String = [("signed", "AWS_IAM"), ("open", "NONE"), ("denied", "AWS_IAM"), ("missing", "NONE"), ("large", "NONE"), ("teapot", "NONE")]
        .iter()
        .map(|(name, auth)| {
            format!(
                "[targets.{name}]\nurl = \"{}\"\nauth = \"{auth}\"\nretry = {{ max_attempts = 4, base_delay = \"50ms\", max_delay = \"100ms\", max_event_age = \"1h\" }}\n",
                lambda.function_url(name)
            )
        })
        .collect();
    let setup = Setup::new("", &targets);
    let routes: String =
        ["signed", "open", "denied", "missing", "large", "teapot"].iter().map(|t| format!("[[routes]]\ntarget = \"{t}\"\n")).collect();
    setup.source("hooks", &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\nshape = \"body\"\n{routes}"));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "the queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    let calls = lambda.invocations();
    assert!(calls.iter().all(|c| c.via_url), "everything went to a URL, nothing through Invoke");
    for c in calls.iter().filter(|c| c.function_name == "signed") {
        let auth = c.authorization.as_deref().expect("AWS_IAM signs");
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=test/") && auth.contains("/us-east-1/lambda/aws4_request"), "{auth}");
    }
    assert!(calls.iter().filter(|c| c.function_name == "open").all(|c| c.authorization.is_none()), "NONE sends no signature");
    // Each event as the body; signed: throttled, failed, then accepted (3 tries each).
    let signed: Vec<_> = calls.iter().filter(|c| c.function_name == "signed").collect();
    assert_eq!(signed.len(), 6, "{signed:?}");
    for n in 0..2u64 {
        let tries: Vec<_> = signed.iter().filter(|c| c.payload_json() == json!({"n": n})).collect();
        assert_eq!(tries.iter().map(|c| c.status).collect::<Vec<_>>(), [Some(429), Some(500), Some(200)]);
        assert!(tries[1].received_at - tries[0].received_at >= Duration::from_millis(950), "Retry-After: 1 was honoured");
    }
    let records = setup.dead_letters();
    let mut dead: Vec<(String, String, u64)> = records
        .iter()
        .map(|r| {
            (
                r["fanin"]["target"].as_str().unwrap().to_string(),
                r["requestContext"]["condition"].as_str().unwrap().to_string(),
                r["requestContext"]["approximateInvokeCount"].as_u64().unwrap(),
            )
        })
        .collect();
    dead.sort();
    dead.dedup();
    let want = |t: &str, c: &str| (t.to_string(), c.to_string(), 1);
    assert_eq!(
        dead,
        [want("denied", "AccessDenied"), want("large", "RequestTooLarge"), want("missing", "ResourceNotFound"), want("teapot", "Rejected")]
    );
    assert_eq!(records.len(), 8);
    let r = records.iter().find(|r| r["fanin"]["target"] == "teapot").unwrap();
    assert_eq!(r["requestContext"]["functionArn"], lambda.function_url("teapot").as_str());
    assert_eq!(r["responseContext"]["statusCode"], 418);
    assert_eq!(body_n(&json!({"Records": [{"body": r["requestPayload"].to_string()}]})), r["requestPayload"]["n"].as_u64().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_that_does_not_answer_in_time_is_retried_until_the_event_is_too_old() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior("slow", Behavior::always(Reply::slow(Duration::from_secs(3), Reply::Accept)));
    let queue = moto.queue(&unique("slow-hook")).await;
    moto.send_all(&queue, &numbered(1)).await;
    let setup = Setup::new(
        "",
        &format!("[targets.slow]\nurl = \"{}\"\nauth = \"NONE\"\ninvoke_timeout = \"500ms\"\nretry = {{ max_attempts = 1, base_delay = \"50ms\", max_delay = \"100ms\", max_event_age = \"6s\" }}\n", lambda.function_url("slow")),
    );
    setup.source("slow", &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\ntarget = \"slow\"\n"));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "the queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());
    let records = setup.dead_letters();
    assert_eq!(records.len(), 1);
    // A timeout is the service's failure, not the function's: it does not use up max_attempts
    // (1 here) and is retried until max_event_age.
    assert_eq!(records[0]["requestContext"]["condition"], "EventAgeExceeded");
    assert!(records[0]["requestContext"]["approximateInvokeCount"].as_u64().unwrap() >= 2, "{}", records[0]);
    assert_eq!(records[0]["responseContext"]["errorType"], "Timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_reaches_each_url_sending_nothing_and_iam_policy_grants_iam_urls_only() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let setup = Setup::new(
        "",
        &format!(
            "[targets.hook]\nurl = \"{}\"\nfunction = \"hook-fn\"\n[targets.open]\nurl = \"{}\"\nauth = \"NONE\"\n[targets.closed]\nurl = \"http://127.0.0.1:9/url/x/\"\nauth = \"NONE\"\n",
            lambda.function_url("hook"),
            lambda.function_url("open")
        ),
    );
    let config = setup.config();
    let mut run = Daemon::spawn(&["validate", "--config", config.to_str().unwrap()], &moto, &lambda.url(), &[]);
    assert_eq!(run.wait(PATIENCE).code(), Some(1), "{}", run.stdout());
    let out = run.stdout();
    assert!(
        out.contains(&format!(
            "ok    target hook: function URL {}: resolves and answers (plain HTTP); nothing sent",
            lambda.function_url("hook")
        )),
        "{out}"
    );
    assert!(out.contains("FAIL  target closed: function URL http://127.0.0.1:9/url/x/:"), "{out}");
    assert!(lambda.invocations().is_empty(), "validate sends no event");

    let mut run = Daemon::spawn(&["iam-policy", "--config", config.to_str().unwrap()], &moto, &lambda.url(), &[]);
    assert!(run.wait(PATIENCE).success());
    let policy: Value = serde_json::from_str(&run.stdout()).unwrap();
    let statement = policy["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "InvokeFunctionUrls").cloned();
    assert_eq!(
        statement,
        Some(json!({"Sid": "InvokeFunctionUrls", "Effect": "Allow", "Action": ["lambda:InvokeFunctionUrl"],
                    "Resource": ["arn:aws:lambda:us-east-1:*:function:hook-fn"],
                    "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}})),
        "only the IAM-authenticated URL, on the function it names: {policy}"
    );
}
