//! `RequestResponse` done fully (function errors retried or not, their payload, log tail and
//! executed version in the record) and success destinations (`on_success`): Lambda's
//! on-success record for every accepted event, written before the upstream delete.

use std::time::Duration;

use crate::support::harness::{eventually, read_jsonl, unique, Daemon, Moto, Setup};
use crate::support::lambda_endpoint::{Behavior, LambdaEndpoint, Reply};
use crate::support::{body_n, numbered, PATIENCE};

fn key_error() -> Reply {
    Reply::FunctionError { kind: "Unhandled".into(), error_type: "KeyError".into(), message: "'Records'".into() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_errors_are_retried_then_dead_lettered_with_their_payload_log_tail_and_version() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior("sync", Behavior::always(key_error()));
    lambda.set_behavior("once", Behavior::always(key_error()));
    let queue = moto.queue(&unique("sync")).await;
    moto.send_all(&queue, &numbered(2)).await;
    let retry = "retry = { max_attempts = 3, base_delay = \"50ms\", max_delay = \"100ms\", max_event_age = \"1h\"";
    let setup = Setup::new(
        "",
        &format!(
            "[targets.sync]\nfunction = \"sync\"\nqualifier = \"4\"\ninvocation_type = \"RequestResponse\"\nlog_type = \"Tail\"\n{retry} }}\n\
             [targets.once]\nfunction = \"once\"\ninvocation_type = \"RequestResponse\"\n{retry}, retry_function_errors = false }}\n"
        ),
    );
    setup.source(
        "sync",
        &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\n[[routes]]\ntarget = \"sync\"\n[[routes]]\ntarget = \"once\"\n"),
    );
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "the queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    let records = setup.dead_letters();
    assert_eq!(records.len(), 4, "{records:?}");
    for r in &records {
        let (ctx, response) = (&r["requestContext"], &r["responseContext"]);
        assert_eq!(ctx["condition"], "RetriesExhausted");
        assert_eq!(response["statusCode"], 200);
        assert_eq!(response["functionError"], "Unhandled");
        assert_eq!(response["errorType"], "KeyError");
        assert_eq!(response["errorMessage"], "'Records'");
        assert_eq!(r["responsePayload"]["errorType"], "KeyError", "Lambda's own record carries the error payload");
        match r["fanin"]["target"].as_str().unwrap() {
            "sync" => {
                assert_eq!(ctx["approximateInvokeCount"], 3, "function errors are retried by default");
                assert_eq!(response["executedVersion"], "4");
                let tail = response["logTail"].as_str().expect("log_type = Tail keeps the log's end");
                assert!(tail.contains("START RequestId") && tail.contains("ERROR"), "{tail}");
            }
            "once" => {
                assert_eq!(ctx["approximateInvokeCount"], 1, "retry_function_errors = false: dead-lettered at once");
                assert_eq!(response["executedVersion"], "$LATEST");
                assert!(response.get("logTail").is_none(), "no log asked for: {response}");
            }
            other => panic!("{other}"),
        }
    }
    assert_eq!(lambda.invocations_for("sync").len(), 6);
    assert_eq!(lambda.invocations_for("once").len(), 2);
    // The warning carries the log tail, never the payload (log_payloads is off).
    let log = daemon.log();
    let warning = log.lines().find(|l| l.contains("invoke failed") && l.contains("target=sync")).expect("a warning");
    assert!(warning.contains("log_tail=") && warning.contains("KeyError"), "{warning}");
    assert!(!warning.contains("payload=") && !warning.contains("\\\"n\\\""), "{warning}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_success_writes_lambdas_success_record_for_every_accepted_event() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior("sync", Behavior::always(Reply::AcceptWith(br#"{"ok":true}"#.to_vec())));
    let queue = moto.queue(&unique("fine")).await;
    moto.send_all(&queue, &numbered(5)).await;
    let setup = Setup::new(
        "",
        "[dlq.done]\ntype = \"file\"\npath = \"../state/done.jsonl\"\n\
         [targets.async]\nfunction = \"async\"\non_success = \"done\"\n\
         [targets.sync]\nfunction = \"sync\"\nqualifier = \"7\"\ninvocation_type = \"RequestResponse\"\non_success = \"done\"\n",
    );
    setup.source(
        "fine",
        &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\n[[routes]]\ntarget = \"async\"\n[[routes]]\ntarget = \"sync\"\n"),
    );
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "the queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    let records = read_jsonl(&setup.state_dir().join("done.jsonl"));
    assert_eq!(records.len(), 10, "one per event and target: {records:?}");
    assert!(setup.dead_letters().is_empty());
    let mut numbers: Vec<(String, u64)> =
        records.iter().map(|r| (r["fanin"]["target"].as_str().unwrap().to_string(), body_n(&r["requestPayload"]))).collect();
    numbers.sort();
    let want: Vec<(String, u64)> = ["async", "sync"].iter().flat_map(|t| (0..5).map(move |n| (t.to_string(), n))).collect();
    assert_eq!(numbers, want);
    for r in &records {
        assert_eq!(r["version"], "1.0");
        assert_eq!(r["requestContext"]["condition"], "Success");
        assert_eq!(r["requestContext"]["approximateInvokeCount"], 1);
        assert!(r["requestContext"]["requestId"].as_str().is_some_and(|s| !s.is_empty()));
        if r["fanin"]["target"] == "sync" {
            assert_eq!(r["responseContext"]["statusCode"], 200);
            assert_eq!(r["responseContext"]["executedVersion"], "7");
            assert_eq!(r["responsePayload"], serde_json::json!({"ok": true}));
            assert_eq!(r["requestContext"]["functionArn"], "arn:aws:lambda:us-east-1:123456789012:function:sync:7");
        } else {
            assert_eq!(r["responseContext"]["statusCode"], 202);
            assert!(r.get("responsePayload").is_none(), "an asynchronous call has no answer: {r}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_on_success_sink_that_is_down_keeps_the_message_upstream_until_it_is_back() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let queue = moto.queue(&unique("waiting")).await;
    moto.send_all(&queue, &numbered(3)).await;
    let bucket = unique("successes");
    let setup = Setup::new("", &format!("[dlq.done]\ntype = \"s3\"\nbucket = \"{bucket}\"\nprefix = \"ok/\"\n[targets.work]\nfunction = \"work\"\non_success = \"done\"\n"));
    setup.source("waiting", &format!("type = \"sqs\"\nqueue_url = \"{queue}\"\ntarget = \"work\"\nvisibility_timeout = \"3s\"\n"));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "every message to come back at least once", || async {
        let tries = lambda.invocations();
        (0..3).all(|n| tries.iter().filter(|i| body_n(&i.payload_json()) == n).count() >= 2)
    })
    .await;
    let (visible, in_flight) = moto.depth(&queue).await;
    assert_eq!(visible + in_flight, 3, "a message was deleted although its success record was not written");
    assert!(daemon.log().contains("on-success record not written"), "the log says so");
    moto.s3().create_bucket().bucket(&bucket).send().await.unwrap();
    eventually(PATIENCE, "the queue to be empty once the sink is back", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());
    let records = moto.objects(&bucket, "ok/").await;
    let mut numbers: Vec<u64> = records.iter().map(|r| body_n(&r["requestPayload"])).collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers, [0, 1, 2]);
    assert!(records.iter().all(|r| r["requestContext"]["condition"] == "Success"));
}
