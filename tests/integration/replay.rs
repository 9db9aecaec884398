//! `fanin replay`: from a file, an SQS queue and S3; what fails again goes back with its
//! replay count raised; an interrupted replay resumes without sending anything twice; a dry
//! run changes nothing.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use aws_sdk_sqs::types::MessageAttributeValue;
use serde_json::{json, Value};

use crate::support::harness::{eventually, read_jsonl, unique, Daemon, Moto};
use crate::support::lambda_endpoint::{Behavior, LambdaEndpoint, Reply};
use crate::support::PATIENCE;

/// A record in fanin's format, as the daemon writes it.
fn fanin_record(n: u64, function: &str, condition: &str) -> Value {
    json!({
        "version": "1.0",
        "timestamp": format!("2026-11-26T01:02:{:02}.000Z", n % 60),
        "requestContext": {"requestId": format!("req-{n}"), "functionArn": function, "condition": condition, "approximateInvokeCount": 3},
        "requestPayload": {"n": n},
        "responseContext": {"statusCode": 429, "errorType": "TooManyRequestsException", "errorMessage": "Rate Exceeded."},
        "fanin": {"source": "orders", "eventId": format!("event-{n}"), "target": "work", "firstAttemptAt": null, "lastAttemptAt": null}
    })
}

/// A record in Lambda's own on-failure destination format.
fn lambda_record(n: u64) -> Value {
    json!({
        "version": "1.0",
        "timestamp": "2026-11-26T01:02:03.456Z",
        "requestContext": {"requestId": format!("lambda-req-{n}"), "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:work:$LATEST",
                           "condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": {"n": n},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "boom"}
    })
}

fn write_jsonl(path: &Path, records: &[Value], extra_lines: &[&str]) {
    let mut text: String = records.iter().map(|r| format!("{r}\n")).collect();
    for l in extra_lines {
        text.push_str(l);
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

fn replay(args: &[&str], moto: &Moto, lambda: &LambdaEndpoint) -> Daemon {
    let mut all = vec!["replay"];
    all.extend_from_slice(args);
    Daemon::spawn(&all, moto, &lambda.url(), &[])
}

/// Accepted payload `n` → how many times.
fn accepted_n(lambda: &LambdaEndpoint) -> HashMap<u64, usize> {
    let mut m = HashMap::new();
    for inv in lambda.accepted() {
        *m.entry(inv.payload_json()["n"].as_u64().unwrap()).or_default() += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_replay_removes_what_was_accepted_and_writes_back_what_failed_again() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior("ghost", Behavior::not_found());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dlq.jsonl");
    let mut records: Vec<Value> = (0..8).map(|n| fanin_record(n, "work:live", "RetriesExhausted")).collect();
    records.push(fanin_record(8, "ghost", "ResourceNotFound"));
    records.push(fanin_record(9, "ghost", "ResourceNotFound"));
    write_jsonl(&file, &records, &["this line is not a record"]);

    let from = format!("file:{}", file.display());
    let mut run = replay(&["--from", &from], &moto, &lambda);
    let status = run.wait(PATIENCE);
    assert_eq!(status.code(), Some(1), "something failed again: exit 1\n{}\n{}", run.stdout(), run.log());

    let accepted = accepted_n(&lambda);
    assert_eq!(accepted.len(), 8);
    assert!(accepted.values().all(|&c| c == 1));
    for inv in lambda.accepted() {
        assert_eq!(inv.function_name, "work");
        assert_eq!(inv.qualifier.as_deref(), Some("live"));
    }
    let left = read_jsonl_lenient(&file);
    assert_eq!(left.len(), 3, "two records written back and the unreadable line kept: {left:?}");
    for r in left.iter().filter(|r| r.is_object()) {
        assert_eq!(r["fanin"]["replayCount"], 1);
        assert_eq!(r["fanin"]["source"], "orders");
        assert!(r["fanin"]["eventId"] == "event-8" || r["fanin"]["eventId"] == "event-9");
        assert_eq!(r["requestContext"]["condition"], "ResourceNotFound");
    }
    assert!(run.stdout().contains("delivered and removed: 8"), "{}", run.stdout());

    // The function is back: a second replay empties the file but for the unreadable line.
    lambda.set_behavior("ghost", Behavior::accept());
    let mut again = replay(&["--from", &from], &moto, &lambda);
    assert_eq!(again.wait(PATIENCE).code(), Some(0), "{}", again.log());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "this line is not a record\n");
    assert_eq!(accepted_n(&lambda).len(), 10);
}

/// Lines as JSON where they parse, strings where they do not.
fn read_jsonl_lenient(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap_or(Value::String(l.into()))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_changes_nothing_and_says_what_it_would_send() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dlq.jsonl");
    let mut records: Vec<Value> = (0..3).map(|n| fanin_record(n, "work", "RetriesExhausted")).collect();
    records.push(fanin_record(3, "other:v2", "ResourceNotFound"));
    write_jsonl(&file, &records, &[]);
    let before = std::fs::read(&file).unwrap();

    let mut run = replay(&["--from", &format!("file:{}", file.display()), "--dry-run"], &moto, &lambda);
    assert_eq!(run.wait(PATIENCE).code(), Some(0), "{}", run.log());
    assert_eq!(lambda.invocations().len(), 0, "a dry run sends nothing");
    assert_eq!(std::fs::read(&file).unwrap(), before, "a dry run changes nothing");
    let out = run.stdout();
    for expected in ["would send 4 events", "work: 3", "other:v2: 1", "RetriesExhausted: 3", "ResourceNotFound: 1", "event-0 -> work"] {
        assert!(out.contains(expected), "{expected:?} missing from:\n{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_replay_resumes_without_sending_anything_twice() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior("work", Behavior::always(Reply::slow(Duration::from_millis(100), Reply::Accept)));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dlq.jsonl");
    let records: Vec<Value> = (0..150).map(|n| fanin_record(n, "work", "RetriesExhausted")).collect();
    write_jsonl(&file, &records, &[]);
    let from = format!("file:{}", file.display());

    let mut first = replay(&["--from", &from, "--concurrency", "4"], &moto, &lambda);
    eventually(PATIENCE, "some deliveries", || async { lambda.accepted_count() >= 40 }).await;
    first.interrupt();
    let status = first.wait(PATIENCE);
    assert_eq!(status.code(), Some(1), "interrupted with records left: exit 1\n{}", first.log());
    let sent_first = lambda.accepted_count();
    assert!(sent_first < 150, "the interrupt came too late to test anything");
    assert_eq!(read_jsonl(&file).len(), 150 - sent_first, "what was accepted is gone from the file");

    lambda.set_behavior("work", Behavior::accept());
    let mut second = replay(&["--from", &from], &moto, &lambda);
    assert_eq!(second.wait(PATIENCE).code(), Some(0), "{}", second.log());
    let accepted = accepted_n(&lambda);
    assert_eq!(accepted.len(), 150, "every record sent");
    let twice: Vec<_> = accepted.iter().filter(|(_, &c)| c > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    assert!(read_jsonl(&file).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqs_replay_reads_lambdas_destination_records_and_legacy_dead_letters() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let sqs = moto.sqs();
    let destination = moto.queue(&unique("destination")).await;
    let legacy = moto.queue(&unique("legacy-dlq")).await;
    for n in 0..3 {
        sqs.send_message().queue_url(&destination).message_body(lambda_record(n).to_string()).send().await.unwrap();
        let attr = |v: &str| MessageAttributeValue::builder().data_type("String").string_value(v).build().unwrap();
        sqs.send_message()
            .queue_url(&legacy)
            .message_body(json!({"n": 100 + n}).to_string())
            .message_attributes("RequestID", attr(&format!("r-{n}")))
            .message_attributes("ErrorCode", attr("200"))
            .message_attributes("ErrorMessage", attr("Unhandled"))
            .send()
            .await
            .unwrap();
    }

    let mut run = replay(&["--from", &format!("sqs:{destination}")], &moto, &lambda);
    assert_eq!(run.wait(PATIENCE).code(), Some(0), "{}", run.log());
    assert_eq!(moto.depth(&destination).await, (0, 0), "replayed messages deleted");
    for inv in lambda.accepted() {
        assert_eq!(inv.function_name, "work");
        assert_eq!(inv.qualifier.as_deref(), Some("$LATEST"));
    }

    // Legacy messages do not say where they were going: without --target nothing is sent.
    let mut refused = replay(&["--from", &format!("sqs:{legacy}")], &moto, &lambda);
    assert_eq!(refused.wait(PATIENCE).code(), Some(1));
    assert!(refused.log().contains("give --target"));
    assert_eq!(moto.depth(&legacy).await, (3, 0), "left, and visible again at once");
    let mut run = replay(&["--from", &format!("sqs:{legacy}"), "--target", "legacy-fn"], &moto, &lambda);
    assert_eq!(run.wait(PATIENCE).code(), Some(0), "{}", run.log());
    assert_eq!(moto.depth(&legacy).await, (0, 0));
    let mut got: Vec<(u64, String)> =
        lambda.accepted().iter().map(|i| (i.payload_json()["n"].as_u64().unwrap(), i.function_name.clone())).collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (0, "work".into()),
            (1, "work".into()),
            (2, "work".into()),
            (100, "legacy-fn".into()),
            (101, "legacy-fn".into()),
            (102, "legacy-fn".into())
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_replay_deletes_or_keeps_and_writes_back_failures_in_place() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior("ghost", Behavior::not_found());
    let s3 = moto.s3();
    let bucket = unique("dead");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let put = |key: String, record: Value| {
        let s3 = s3.clone();
        let bucket = bucket.clone();
        async move { s3.put_object().bucket(bucket).key(key).body(record.to_string().into_bytes().into()).send().await.unwrap() }
    };
    for n in 0..3 {
        // Keys with a space and a plus, as event ids can make them.
        put(format!("dlq/2026/11/26/01/event {n}+x.work.json"), fanin_record(n, "work", "RetriesExhausted")).await;
    }
    put("dlq/2026/11/26/01/event-9.ghost.json".into(), fanin_record(9, "ghost", "ResourceNotFound")).await;

    let mut run = replay(&["--from", &format!("s3://{bucket}/dlq/"), "--keep"], &moto, &lambda);
    assert_eq!(run.wait(PATIENCE).code(), Some(1), "the ghost failed again\n{}", run.log());
    let kept = moto.objects(&bucket, "dlq/replayed/").await;
    assert_eq!(kept.len(), 3, "--keep moves replayed records under replayed/");
    let all = moto.objects(&bucket, "dlq/").await;
    assert_eq!(all.len(), 4, "3 moved + the ghost written back in place");
    let ghost = all.iter().find(|r| r["fanin"]["eventId"] == "event-9").unwrap();
    assert_eq!(ghost["fanin"]["replayCount"], 1);
    assert_eq!(accepted_n(&lambda).len(), 3);

    // Without --keep the record is deleted; replayed/ is not read again.
    lambda.set_behavior("ghost", Behavior::accept());
    let mut run = replay(&["--from", &format!("s3://{bucket}/dlq/")], &moto, &lambda);
    assert_eq!(run.wait(PATIENCE).code(), Some(0), "{}", run.log());
    assert_eq!(moto.objects(&bucket, "dlq/").await.len(), 3, "only the kept copies remain");
    assert_eq!(accepted_n(&lambda).len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_since_and_until_pick_what_is_replayed() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dlq.jsonl");
    let records: Vec<Value> =
        (0..10).map(|n| fanin_record(n, "work", if n % 2 == 0 { "ResourceNotFound" } else { "RetriesExhausted" })).collect();
    write_jsonl(&file, &records, &[]);
    let from = format!("file:{}", file.display());

    let filter = r#"{"requestContext":{"condition":["ResourceNotFound"]},"requestPayload":{"n":[{"numeric":["<",8]}]}}"#;
    let mut run = replay(&["--from", &from, "--filter", filter, "--since", "2026-11-26T01:02:02Z"], &moto, &lambda);
    assert_eq!(run.wait(PATIENCE).code(), Some(0), "{}", run.log());
    let mut sent: Vec<u64> = accepted_n(&lambda).into_keys().collect();
    sent.sort();
    assert_eq!(sent, vec![2, 4, 6], "even (ResourceNotFound), below 8, at or after :02");
    let left: Vec<u64> = read_jsonl(&file).iter().map(|r| r["requestPayload"]["n"].as_u64().unwrap()).collect();
    assert_eq!(left, vec![0, 1, 3, 5, 7, 8, 9], "the rest untouched, in order");

    let mut run = replay(&["--from", &from, "--until", "2026-11-26T01:02:05Z", "--dry-run"], &moto, &lambda);
    assert_eq!(run.wait(PATIENCE).code(), Some(0));
    assert!(run.stdout().contains("would send 3 events"), "0, 1 and 3 died before :05\n{}", run.stdout());

    let mut bad = replay(&["--from", &from, "--filter", r#"{"requestContext":{"condition":"x"}}"#], &moto, &lambda);
    assert_eq!(bad.wait(PATIENCE).code(), Some(2), "a bad pattern is a usage error");
    assert!(bad.log().contains("requestContext.condition"), "{}", bad.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_last_line_and_a_line_that_is_not_utf8_are_skipped_with_a_warning_and_the_rest_replays() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dlq.jsonl");
    let mut bytes: Vec<u8> = (0..3).flat_map(|n| format!("{}\n", fanin_record(n, "work", "RetriesExhausted")).into_bytes()).collect();
    bytes.extend_from_slice(b"{\"version\":\"1.0\",\"requestPayload\":{\"n\":\"caf\xe9\"}}\n");
    // A crash during the write: the last record ends half way, without its newline.
    let torn = fanin_record(3, "work", "RetriesExhausted").to_string();
    bytes.extend_from_slice(&torn.as_bytes()[..torn.len() / 2]);
    std::fs::write(&file, &bytes).unwrap();

    let from = format!("file:{}", file.display());
    let mut run = replay(&["--from", &from], &moto, &lambda);
    let status = run.wait(PATIENCE);
    let log = run.log();
    assert_eq!(status.code(), Some(0), "{}\n{log}", run.stdout());
    assert_eq!(accepted_n(&lambda).keys().copied().collect::<std::collections::BTreeSet<_>>(), (0..3).collect());
    assert!(log.contains("dlq.jsonl:4: not UTF-8"), "{log}");
    assert!(log.contains("dlq.jsonl:5: "), "{log}");
    assert!(run.stdout().contains("read 3 dead letters") && run.stdout().contains("(2 unreadable)"), "{}", run.stdout());
    // What could not be read stays, byte for byte.
    let left = std::fs::read(&file).unwrap();
    let mut expected = b"{\"version\":\"1.0\",\"requestPayload\":{\"n\":\"caf\xe9\"}}\n".to_vec();
    expected.extend_from_slice(&torn.as_bytes()[..torn.len() / 2]);
    expected.push(b'\n');
    assert_eq!(left, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqs_store_longer_than_the_window_replays_in_one_run_each_record_once_and_holds_no_more_than_the_window() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    // Slow enough that the window, not the queue, bounds what is in flight.
    lambda.set_behavior("work", Behavior::always(Reply::slow(Duration::from_millis(20), Reply::Accept)));
    let queue = moto.queue(&unique("long-dlq")).await;
    let bodies: Vec<String> = (0..120).map(|n| fanin_record(n, "work", "RetriesExhausted").to_string()).collect();
    moto.send_all(&queue, &bodies).await;

    let window = 8;
    let mut run = replay(&["--from", &format!("sqs:{queue}"), "--window", &window.to_string(), "--concurrency", "4"], &moto, &lambda);
    let mut most_in_flight = 0;
    while run.running() {
        most_in_flight = most_in_flight.max(moto.depth(&queue).await.1);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(run.wait(PATIENCE).code(), Some(0), "{}\n{}", run.stdout(), run.log());
    let accepted = accepted_n(&lambda);
    assert_eq!(accepted.len(), 120, "every record sent in one run");
    let twice: Vec<_> = accepted.iter().filter(|(_, &c)| c > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    assert_eq!(moto.depth(&queue).await, (0, 0), "every record removed");
    // One receive (10) may be read ahead of the window's permits.
    assert!(most_in_flight <= window + 10, "held {most_in_flight} messages at once with a window of {window}");
    assert!(run.stdout().contains("delivered and removed: 120"), "{}", run.stdout());
}

/// The configuration of the fixed typo: target `orders` now sends to `process-order`; its
/// sink `local` is a file relative to the configuration file.
fn fixed_configuration() -> crate::support::harness::Setup {
    crate::support::harness::Setup::new(
        "",
        "[targets.orders]\nfunction = \"process-order\"\ndlq = \"local\"\n\n[dlq.local]\ntype = \"file\"\npath = \"../state/dlq.jsonl\"\n",
    )
}

/// A record of `orders` dead-lettered while its function was misspelt.
fn misspelt_record(n: u64) -> Value {
    let mut r = fanin_record(n, "proces-order", "ResourceNotFound");
    r["fanin"]["target"] = json!("orders");
    r["fanin"]["firstAttemptAt"] = json!("2026-11-26T00:00:00.000Z");
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_config_a_record_goes_to_its_target_as_configured_now_and_what_dies_again_keeps_its_target_and_first_attempt() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior("proces-order", Behavior::not_found());
    lambda.set_behavior("process-order", Behavior::not_found());
    let setup = fixed_configuration();
    std::fs::create_dir_all(setup.state_dir()).unwrap();
    let file = setup.state_dir().join("dlq.jsonl");
    write_jsonl(&file, &(0..4).map(misspelt_record).collect::<Vec<_>>(), &[]);
    let config = setup.config();
    let config = config.to_str().unwrap();

    // `--from local`: the sink, where the daemon writes it (relative to the configuration file,
    // not to this test's working directory).
    let mut dry = replay(&["--from", "local", "-c", config, "--dry-run"], &moto, &lambda);
    assert_eq!(dry.wait(PATIENCE).code(), Some(0), "{}", dry.log());
    assert!(
        dry.stdout().contains("target orders (function proces-order) -> target orders (function process-order): 4"),
        "the dry run says where each group goes:\n{}",
        dry.stdout()
    );
    assert_eq!(lambda.invocations().len(), 0);

    // Still broken: every record dies again, and goes back as the daemon wrote it.
    let mut run = replay(&["--from", "local", "-c", config], &moto, &lambda);
    assert_eq!(run.wait(PATIENCE).code(), Some(1), "{}\n{}", run.stdout(), run.log());
    assert!(lambda.invocations().iter().all(|i| i.function_name == "process-order"), "sent to the fixed function, not the typo");
    let back = read_jsonl(&file);
    assert_eq!(back.len(), 4);
    for r in &back {
        assert_eq!(r["fanin"]["target"], "orders", "the target's name, not the function: {r}");
        assert_eq!(r["fanin"]["firstAttemptAt"], "2026-11-26T00:00:00.000Z", "the first attempt ever: {r}");
        assert_eq!(r["fanin"]["replayCount"], 1);
        assert_eq!(r["fanin"]["source"], "orders");
    }
    let mut stats = Daemon::spawn(&["dlq", "stats", "--from", "local", "-c", config, "--format", "json"], &moto, &lambda.url(), &[]);
    assert_eq!(stats.wait(PATIENCE).code(), Some(0), "{}", stats.log());
    let doc: Value = serde_json::from_str(&stats.stdout()).unwrap();
    assert_eq!(doc["groups"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(doc["groups"][0]["target"], "orders", "still grouped under the target's name: {doc}");

    // Fixed for good: everything goes to process-order, and the file empties.
    lambda.set_behavior("process-order", Behavior::accept());
    let mut run = replay(&["--from", "local", "-c", config], &moto, &lambda);
    assert_eq!(run.wait(PATIENCE).code(), Some(0), "{}", run.log());
    assert_eq!(lambda.accepted().iter().filter(|i| i.function_name == "process-order").count(), 4);
    assert!(lambda.invocations_for("proces-order").is_empty(), "never the misspelt function");
    assert!(read_jsonl(&file).is_empty());

    // A name that is no sink is a usage error naming the sinks there are.
    let mut wrong = replay(&["--from", "locale", "-c", config], &moto, &lambda);
    assert_eq!(wrong.wait(PATIENCE).code(), Some(2));
    assert!(wrong.log().contains("no dead-letter sink of that name") && wrong.log().contains("local, default"), "{}", wrong.log());
}
