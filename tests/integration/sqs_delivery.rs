//! SQS in, Lambda out: shape, completeness, throttles and 5xx, FIFO order, a kill in the
//! middle, shutdown, odd messages.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};

use crate::support::harness::{eventually, http_get, unique, Daemon, Moto, Setup};
use crate::support::lambda_endpoint::{Behavior, InvocationType, LambdaEndpoint, Reply};
use crate::support::{body_n, numbered, PATIENCE};

fn sqs_source(queue_url: &str, extra: &str) -> String {
    format!("type = \"sqs\"\nqueue_url = \"{queue_url}\"\ntarget = \"work\"\n{extra}\n")
}

/// Distinct message numbers Lambda accepted.
fn accepted_numbers(lambda: &LambdaEndpoint) -> HashSet<u64> {
    lambda.accepted().iter().map(|i| body_n(&i.payload_json())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_messages_are_each_invoked_in_lambdas_sqs_shape_and_deleted() {
    use crate::support::fake_sqs::FakeSqs;
    const N: usize = 1000;
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    // The in-process SQS counts its calls: long polls of 10, deletes in batches of 10.
    let sqs = FakeSqs::start(N, |i| format!(r#"{{"n":{i}}}"#));
    let setup = Setup::new("", "[targets.work]\nfunction = \"work\"\nqualifier = \"live\"\nclient_context = { app = \"fanin\" }\n");
    setup.source("orders", &sqs_source(&sqs.queue_url(), "pollers = 4"));
    let config = setup.config();
    let mut daemon =
        Daemon::spawn(&["run", "--config", config.to_str().unwrap()], &moto, &lambda.url(), &[("AWS_ENDPOINT_URL_SQS", &sqs.url())]);

    eventually(PATIENCE, "all 1000 messages invoked", || async { accepted_numbers(&lambda).len() == N }).await;
    eventually(PATIENCE, "every message deleted", || async { sqs.deleted() == N }).await;
    let (receives, deletes) = (sqs.receive_calls(), sqs.delete_calls());
    let waits = sqs.wait_times();
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    // Batches of 10 both ways: about N / 10 calls each. The slack covers the four pollers'
    // empty long polls once the queue ran dry, and batches flushed before they filled.
    assert!((N / 10..=N / 10 + N / 20).contains(&receives), "{receives} ReceiveMessage calls for {N} messages");
    assert!((N / 10..=N / 10 + N / 20).contains(&deletes), "{deletes} delete calls for {N} messages");
    assert!(!waits.is_empty() && waits.iter().all(|w| w.is_some_and(|s| s > 0)), "every receive a long poll: {waits:?}");

    for inv in lambda.accepted() {
        assert_eq!(inv.invocation_type, InvocationType::Event);
        assert_eq!(inv.function_name, "work");
        assert_eq!(inv.qualifier.as_deref(), Some("live"));
        assert_eq!(inv.client_context.as_deref(), Some("{\"app\":\"fanin\"}"));
        let p = inv.payload_json();
        let records = p["Records"].as_array().expect("Records");
        assert_eq!(records.len(), 1, "one record per event");
        let r = &records[0];
        assert_eq!(r["eventSource"], "aws:sqs");
        assert_eq!(r["eventSourceARN"], sqs.queue_arn());
        assert_eq!(r["awsRegion"], "us-east-1");
        assert!(r["messageId"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(r["receiptHandle"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(r["md5OfBody"].as_str().is_some_and(|s| s.len() == 32));
        assert!(r["attributes"]["SentTimestamp"].as_str().is_some_and(|s| s.parse::<u64>().is_ok()));
        assert!(r["attributes"]["ApproximateReceiveCount"].as_str().is_some());
    }
}

/// What Lambda answers message `n` on its attempt `seen` (0-based), chosen by the message's
/// own number so every run is the same:
/// * n % 10 == 0: a 429 with retryAfterSeconds = 1, then accepted;
/// * n % 10 == 1, 2: three 429s without Retry-After, then accepted (4 attempts, past max_attempts);
/// * n % 10 == 3: two ServiceExceptions, then accepted;
/// * n % 10 == 4: a 429, then the function fails every time: dead-lettered after its 2 attempts
///   of its own, 3 calls in all;
/// * the rest: accepted at once.
fn flaky_reply(n: u64, seen: u32) -> Reply {
    let function_error = || Reply::FunctionError { kind: "Unhandled".into(), error_type: "Boom".into(), message: "failed".into() };
    match (n % 10, seen) {
        (0, 0) => Reply::throttle("ReservedFunctionConcurrentInvocationLimitExceeded", Some(1)),
        (1 | 2, 0..=2) => Reply::throttle("ConcurrentInvocationLimitExceeded", None),
        (3, 0..=1) => Reply::service_error(),
        (4, 0) => Reply::throttle("ConcurrentInvocationLimitExceeded", None),
        (4, _) => function_error(),
        _ => Reply::Accept,
    }
}

/// The statuses message `n`'s attempts get under [`flaky_reply`] (a function error is a 200).
fn flaky_statuses(n: u64) -> Vec<u16> {
    match n % 10 {
        0 => vec![429, 200],
        1 | 2 => vec![429, 429, 429, 200],
        3 => vec![500, 500, 200],
        4 => vec![429, 200, 200],
        _ => vec![200],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttles_and_server_errors_lose_nothing_do_not_use_up_the_attempts_and_respect_retry_after() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior(
        "work",
        Behavior::from_fn(|inv, seen| {
            let p = inv.payload_json();
            // fanin's DryRun of the target at start carries no record.
            if p["Records"][0]["body"].is_string() {
                flaky_reply(body_n(&p), seen)
            } else {
                Reply::Accept
            }
        }),
    );
    let queue = moto.queue(&unique("flaky")).await;
    moto.send_all(&queue, &numbered(300)).await;
    // Synchronous calls, so the function's own failures are seen and count against max_attempts.
    let setup = Setup::new(
        "",
        "[targets.work]\nfunction = \"work\"\ninvocation_type = \"RequestResponse\"\nmax_concurrency = 16\nretry = { max_attempts = 2, base_delay = \"50ms\", max_delay = \"400ms\", max_event_age = \"1h\" }\n",
    );
    // One poller: moto can hand one message to two concurrent receives (SQS does not), which
    // would double a message's attempts here.
    setup.source("flaky", &sqs_source(&queue, "pollers = 1"));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());

    eventually(PATIENCE, "the queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    // Attempts per message, in arrival order: exactly the planned ones, no more, no fewer.
    let mut attempts: BTreeMap<u64, Vec<_>> = BTreeMap::new();
    for inv in lambda.invocations() {
        attempts.entry(body_n(&inv.payload_json())).or_default().push(inv);
    }
    assert_eq!(attempts.len(), 300, "every message invoked");
    for (n, tries) in &attempts {
        let statuses: Vec<u16> = tries.iter().map(|i| i.status.unwrap()).collect();
        assert_eq!(statuses, flaky_statuses(*n), "message {n}'s attempts");
        // A 429 that carried retryAfterSeconds = 1: the next try waits at least that long.
        if n % 10 == 0 {
            let gap = tries[1].received_at.duration_since(tries[0].received_at);
            assert!(gap >= Duration::from_millis(990), "message {n}: retried {gap:?} after a 429 with retryAfterSeconds=1");
        }
    }

    // As in Lambda's own asynchronous queue, throttles and the service's 500s are retried until
    // max_event_age: none uses up max_attempts (2 here). Only the function's own failures do:
    // exactly the messages whose function failed twice are dead-lettered, each after 3 calls.
    let mut dead: Vec<(u64, String, u64)> = setup
        .dead_letters()
        .iter()
        .map(|r| {
            (
                body_n(&r["requestPayload"]),
                r["requestContext"]["condition"].as_str().unwrap().to_string(),
                r["requestContext"]["approximateInvokeCount"].as_u64().unwrap(),
            )
        })
        .collect();
    dead.sort();
    let want: Vec<(u64, String, u64)> = (0..300).filter(|n| n % 10 == 4).map(|n| (n, "RetriesExhausted".to_string(), 3)).collect();
    assert_eq!(dead, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_groups_keep_their_order() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    // Every answer takes 150 ms; message b/10 fails once (a ServiceException, retried after a
    // backoff): b/11… must wait for its retry.
    let failed_once = std::sync::Arc::new(AtomicBool::new(false));
    let failing = failed_once.clone();
    lambda.set_behavior(
        "work",
        Behavior::from_fn(move |inv, _| {
            let p = inv.payload_json();
            let body: serde_json::Value = serde_json::from_str(p["Records"][0]["body"].as_str().unwrap_or("{}")).unwrap_or_default();
            let reply = if body["group"] == "b" && body["seq"] == 10 && !failing.swap(true, Ordering::SeqCst) {
                Reply::service_error()
            } else {
                Reply::Accept
            };
            Reply::slow(Duration::from_millis(150), reply)
        }),
    );
    let queue = moto.queue(&format!("{}.fifo", unique("ordered"))).await;
    let sqs = moto.sqs();
    let groups = ["a", "b", "c"];
    for seq in 0..20 {
        for g in groups {
            let body = serde_json::json!({ "group": g, "seq": seq }).to_string();
            sqs.send_message()
                .queue_url(&queue)
                .message_body(body)
                .message_group_id(g)
                .message_deduplication_id(format!("{g}-{seq}"))
                .send()
                .await
                .unwrap();
        }
    }
    let setup = Setup::new(
        "",
        "[targets.work]\nfunction = \"work\"\nretry = { max_attempts = 3, base_delay = \"500ms\", max_delay = \"1s\", max_event_age = \"1h\" }\n",
    );
    // One poller and a short long-poll, for moto's sake: two concurrent receives can each take
    // a message of the same group (SQS locks the group; moto checks the lock before it waits),
    // and a waiting receive does not wake when a group unlocks.
    setup.source("ordered", &sqs_source(&queue, "pollers = 1\nwait_time = \"1s\""));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "60 messages delivered", || async { lambda.accepted_count() >= 60 }).await;
    eventually(PATIENCE, "the queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());
    assert!(failed_once.load(Ordering::SeqCst), "b/10 never failed: the test tests nothing");

    // Each group's calls in arrival order: (seq, status, arrived, answered).
    let mut calls: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for inv in lambda.invocations() {
        let p = inv.payload_json();
        let body: serde_json::Value = serde_json::from_str(p["Records"][0]["body"].as_str().unwrap()).unwrap();
        assert_eq!(p["Records"][0]["attributes"]["MessageGroupId"], body["group"]);
        calls.entry(body["group"].as_str().unwrap().into()).or_default().push((
            body["seq"].as_u64().unwrap(),
            inv.status,
            inv.received_at,
            inv.answered_at.expect("every call answered"),
        ));
    }
    for g in groups {
        let seqs: Vec<u64> = calls[g].iter().map(|c| c.0).collect();
        let want: Vec<u64> = if g == "b" { (0..=10).chain(10..20).collect() } else { (0..20).collect() };
        assert_eq!(seqs, want, "group {g}: calls out of order, missing, or b/10's successors not waiting for its retry");
        // One call of a group at a time: the next arrives only after the one before was answered.
        for pair in calls[g].windows(2) {
            assert!(pair[1].2 >= pair[0].3, "group {g}: seq {} arrived before seq {} was answered", pair[1].0, pair[0].0);
        }
    }
    assert_eq!(calls["b"][10].1, Some(500), "b/10's first call failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_in_the_middle_loses_nothing() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior("work", Behavior::always(Reply::slow(Duration::from_millis(15), Reply::Accept)));
    let queue = moto.queue(&unique("killed")).await;
    moto.send_all(&queue, &numbered(1000)).await;
    let setup = Setup::new("", "[targets.work]\nfunction = \"work\"\nmax_concurrency = 8\n");
    setup.source("killed", &sqs_source(&queue, "pollers = 2\nvisibility_timeout = \"5s\""));

    let mut first = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "a third of the messages delivered", || async { lambda.accepted_count() >= 330 }).await;
    first.kill9();
    // Counted once what the killed process had already sent has landed: an invoke still on the
    // wire at the kill reaches the function, a delete still on the wire reaches SQS. Anything the
    // first run invoked and had not deleted comes back.
    let mut depth = moto.depth(&queue).await;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = moto.depth(&queue).await;
        if now == depth {
            break;
        }
        depth = now;
    }
    let before_restart = lambda.accepted_count();
    let deleted_before_restart = 1000 - (depth.0 + depth.1);

    let mut second = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "every message delivered", || async { accepted_numbers(&lambda).len() == 1000 }).await;
    eventually(PATIENCE, "the queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(second.terminate(Duration::from_secs(30)).success());

    let total = lambda.accepted_count();
    assert!(setup.dead_letters().is_empty());
    assert!(before_restart < 1000, "the kill came too late to test anything");
    // At least once, and no more than that: the duplicates are exactly the messages the first
    // run invoked and had not yet deleted (the second run invokes each of them again).
    let duplicates = total - 1000;
    let unsettled_at_kill = before_restart - deleted_before_restart;
    assert!(
        (unsettled_at_kill..=unsettled_at_kill + 2).contains(&duplicates),
        "{duplicates} duplicates, but the kill left {unsettled_at_kill} invoked and not deleted ({before_restart} invoked, {deleted_before_restart} deleted)"
    );
    assert!(deleted_before_restart > 0, "the first run deleted nothing before the kill");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_invokes_finish_and_leaves_the_rest_in_the_queue() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior("work", Behavior::always(Reply::slow(Duration::from_secs(3), Reply::Accept)));
    let queue = moto.queue(&unique("draining")).await;
    moto.send_all(&queue, &numbered(20)).await;
    let setup = Setup::new("", "[targets.work]\nfunction = \"work\"\nmax_concurrency = 4\ninvoke_timeout = \"20s\"\n");
    setup.source("draining", &sqs_source(&queue, "pollers = 1"));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "four invokes in flight", || async { lambda.invocations().len() >= 4 }).await;

    let status = daemon.terminate(Duration::from_secs(30));
    assert!(status.success(), "exit status {status:?}");
    let started = lambda.invocations().len();
    let delivered = lambda.accepted_count();
    assert_eq!(started, delivered, "every invoke under way when SIGTERM came finished");
    assert!((4..20).contains(&delivered));
    let (visible, in_flight) = moto.depth(&queue).await;
    assert_eq!(visible + in_flight, 20 - delivered, "delivered messages deleted, the rest left in SQS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_messages_are_dead_lettered_or_delivered_never_a_crash() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let sqs = moto.sqs();
    let body_queue = moto.queue(&unique("raw")).await;
    let sqs_queue = moto.queue(&unique("full")).await;
    sqs.set_queue_attributes().queue_url(&sqs_queue).attributes(QueueAttributeName::MaximumMessageSize, "1048576").send().await.unwrap();

    // shape = "body": JSON goes through as is; anything else is an InvalidEvent.
    for body in ["{\"ok\":true}", "not json", "{\"truncated\":", " "] {
        sqs.send_message().queue_url(&body_queue).message_body(body).send().await.unwrap();
    }
    // shape = "sqs": bytes that are not UTF-8 in a binary attribute, and a 1 MiB body.
    sqs.send_message()
        .queue_url(&sqs_queue)
        .message_body("binary attribute")
        .message_attributes(
            "raw",
            MessageAttributeValue::builder().data_type("Binary").binary_value(Blob::new(vec![0xff, 0xc3, 0x28, 0x00])).build().unwrap(),
        )
        .send()
        .await
        .unwrap();
    let huge = "x".repeat(1024 * 1024);
    sqs.send_message().queue_url(&sqs_queue).message_body(&huge).send().await.expect("a 1 MiB message");

    let setup = Setup::new("", "[targets.work]\nfunction = \"work\"\n");
    setup.source("raw", &format!("type = \"sqs\"\nqueue_url = \"{body_queue}\"\nshape = \"body\"\ntarget = \"work\"\n"));
    setup.source("full", &format!("type = \"sqs\"\nqueue_url = \"{sqs_queue}\"\ntarget = \"work\"\n"));
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());

    eventually(PATIENCE, "both queues empty", || async {
        moto.depth(&body_queue).await == (0, 0) && moto.depth(&sqs_queue).await == (0, 0)
    })
    .await;
    assert!(daemon.running(), "fanin crashed: {}", daemon.log());

    let accepted: Vec<serde_json::Value> = lambda.accepted().iter().map(|i| i.payload_json()).collect();
    assert!(accepted.contains(&serde_json::json!({"ok": true})), "the JSON body delivered as is");
    let binary = accepted.iter().find(|p| p["Records"][0]["body"] == "binary attribute").expect("binary attribute delivered");
    assert_eq!(binary["Records"][0]["messageAttributes"]["raw"]["binaryValue"], "/8MoAA==");
    assert_eq!(binary["Records"][0]["messageAttributes"]["raw"]["dataType"], "Binary");
    assert_eq!(lambda.invocations().len(), 2, "nothing that was going to fail was sent");

    let dead = setup.dead_letters();
    let mut conditions: Vec<(String, String)> = dead
        .iter()
        .map(|r| {
            let payload = match &r["requestPayload"] {
                serde_json::Value::String(s) => s.clone(),
                other => other["Records"][0]["body"].as_str().map(|b| format!("{} bytes", b.len())).unwrap_or_default(),
            };
            (r["requestContext"]["condition"].as_str().unwrap().to_string(), payload)
        })
        .collect();
    conditions.sort();
    assert_eq!(
        conditions,
        vec![
            ("InvalidEvent".to_string(), " ".to_string()),
            ("InvalidEvent".to_string(), "not json".to_string()),
            ("InvalidEvent".to_string(), "{\"truncated\":".to_string()),
            ("RequestTooLarge".to_string(), format!("{} bytes", huge.len())),
        ]
    );
    for r in &dead {
        assert_eq!(r["requestContext"]["approximateInvokeCount"], 0);
        assert_eq!(r["fanin"]["target"], "work");
    }
    assert!(daemon.terminate(Duration::from_secs(30)).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_overrides_and_the_config_endpoint_url_apply() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let queue = moto.queue(&unique("override")).await;
    moto.send_all(&queue, &numbered(5)).await;
    let setup = Setup::new("", "[targets.work]\nfunction = \"work\"\n");
    // No AWS_ENDPOINT_URL: SQS is reached through [aws] endpoint_url, set here by override.
    setup.source("override", &sqs_source(&queue, ""));
    let config = setup.config();
    let args = ["run", "--config", config.to_str().unwrap()];
    let mut daemon = Daemon::spawn(
        &args,
        &moto,
        &lambda.url(),
        &[("FANIN__TARGETS__WORK__FUNCTION", "renamed"), ("FANIN__AWS__ENDPOINT_URL", &moto.url), ("AWS_ENDPOINT_URL", "")],
    );
    eventually(PATIENCE, "five deliveries", || async { lambda.accepted_count() >= 5 }).await;
    assert!(lambda.accepted().iter().all(|i| i.function_name == "renamed"));
    assert!(daemon.terminate(Duration::from_secs(30)).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_target_causes_no_duplicate_deliveries() {
    use crate::support::fake_sqs::FakeSqs;
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    // One at a time, each answered after 0.7 s, some only on the third try: messages wait in
    // fanin and between retries far longer than their 3 s visibility timeout.
    lambda.set_behavior(
        "work",
        Behavior::from_fn(|inv, seen| {
            let reply = if inv.payload.len() % 2 == 0 && seen < 2 { Reply::service_error() } else { Reply::Accept };
            Reply::slow(Duration::from_millis(700), reply)
        }),
    );
    // An SQS that keeps the visibility timeout: a message whose visibility is not extended in
    // time is handed out again.
    let sqs = FakeSqs::start_with_visibility(12, |i| format!(r#"{{"n":{i}}}"#));
    let setup = Setup::new(
        "",
        "[targets.work]\nfunction = \"work\"\nmax_concurrency = 1\nretry = { max_attempts = 3, base_delay = \"1s\", max_delay = \"2s\", max_event_age = \"1h\" }\n",
    );
    setup.source("patient", &sqs_source(&sqs.queue_url(), "pollers = 1\nwait_time = \"1s\"\nvisibility_timeout = \"3s\""));
    let config = setup.config();
    let mut daemon =
        Daemon::spawn(&["run", "--config", config.to_str().unwrap()], &moto, &lambda.url(), &[("AWS_ENDPOINT_URL_SQS", &sqs.url())]);
    let addr = daemon.metrics_addr().await;
    eventually(PATIENCE, "every message deleted", || async { sqs.deleted() == 12 }).await;
    let (_, metrics) = http_get(&addr, "/metrics");
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    // The heartbeat kept every message invisible: none was handed out twice, none suppressed.
    assert!(sqs.visibility_calls() > 0, "no ChangeMessageVisibility(Batch) call was made");
    assert_eq!(sqs.handed_out_again(), 0, "a message's visibility ran out while fanin held it");
    assert_eq!(counter(&metrics, "fanin_duplicates_suppressed_total", "source=\"patient\""), 0, "{metrics}");
    let accepted = lambda.accepted();
    let mut numbers: Vec<u64> = accepted.iter().map(|i| body_n(&i.payload_json())).collect();
    numbers.sort();
    assert_eq!(numbers, (0..12).collect::<Vec<_>>(), "each message delivered exactly once");
    for inv in &accepted {
        assert_eq!(inv.payload_json()["Records"][0]["attributes"]["ApproximateReceiveCount"], "1", "received once");
    }
    let first = accepted.first().unwrap().received_at;
    let last = accepted.last().unwrap().received_at;
    assert!(last.duration_since(first) > Duration::from_secs(6), "the run outlasted the visibility timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_filters_send_each_event_to_every_matching_target_and_count_the_unrouted() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let queue = moto.queue(&unique("routed")).await;
    let bodies = [
        r#"{"id":1,"kind":"order","amount":50}"#,
        r#"{"id":2,"kind":"order","amount":500}"#,
        r#"{"id":3,"kind":"refund","amount":10}"#,
        r#"{"id":4,"kind":"ORDER","amount":101}"#,
    ];
    moto.send_all(&queue, &bodies.map(String::from)).await;
    let setup = Setup::new("", "[targets.orders]\nfunction = \"orders\"\n[targets.big]\nfunction = \"big\"\n");
    setup.source(
        "routed",
        &format!(
            "type = \"sqs\"\nqueue_url = \"{queue}\"\nshape = \"body\"\n\
             [[routes]]\ntarget = \"orders\"\nfilter = {{ kind = [{{ \"equals-ignore-case\" = \"order\" }}] }}\n\
             [[routes]]\ntarget = \"big\"\nfilter = {{ amount = [{{ numeric = [\">\", 100] }}] }}\n"
        ),
    );
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    let addr = daemon.metrics_addr().await;
    eventually(PATIENCE, "the queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    let (_, metrics) = http_get(&addr, "/metrics");
    assert!(metrics.lines().any(|l| l == "fanin_events_unrouted_total{source=\"routed\"} 1"), "{metrics}");
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    let ids = |f: &str| {
        let mut v: Vec<u64> = lambda.invocations_for(f).iter().map(|i| i.payload_json()["id"].as_u64().unwrap()).collect();
        v.sort();
        v
    };
    assert_eq!(ids("orders"), vec![1, 2, 4]);
    assert_eq!(ids("big"), vec![2, 4]);
    assert!(daemon.log().contains("no route matched"), "the unrouted event is acknowledged, and said so");
}

/// The value of the counter line `name{…label…}` in a Prometheus text page (0 if absent).
fn counter(metrics: &str, name: &str, label: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name) && l.contains(label))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_handed_out_again_while_in_flight_is_invoked_once_and_deleted_by_its_newest_receipt() {
    use crate::support::fake_sqs::FakeSqs;
    const N: usize = 40;
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    // Slow enough that every first copy is still in flight when its second copy arrives.
    lambda.set_behavior("work", Behavior::always(Reply::slow(Duration::from_millis(1500), Reply::Accept)));
    let sqs = FakeSqs::start_handing_out_twice(N, |i| format!(r#"{{"n":{i}}}"#));
    let setup = Setup::new("", "[targets.work]\nfunction = \"work\"\nmax_concurrency = 64\n");
    setup.source("twice", &sqs_source(&sqs.queue_url(), "pollers = 2\nwait_time = \"1s\""));
    let config = setup.config();
    let mut daemon =
        Daemon::spawn(&["run", "--config", config.to_str().unwrap()], &moto, &lambda.url(), &[("AWS_ENDPOINT_URL_SQS", &sqs.url())]);

    // Only the newest receipt handle deletes a message handed out twice.
    eventually(PATIENCE, "every message deleted", || async { sqs.deleted() == N }).await;
    let addr = daemon.metrics_addr().await;
    let (_, metrics) = http_get(&addr, "/metrics");
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    let again = sqs.handed_out_again();
    assert!(again > 0, "the fake handed out no second copy: the test tests nothing");
    assert_eq!(lambda.invocations().len(), N, "a copy of a message in flight was invoked again");
    assert_eq!(accepted_numbers(&lambda).len(), N);
    assert_eq!(counter(&metrics, "fanin_duplicates_suppressed_total", "source=\"twice\"") as usize, again, "{metrics}");
}
