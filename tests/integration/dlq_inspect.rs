//! `fanin dlq stats|list|show`: counts by target, condition and error type, a list in time
//! order, one record whole; from a file, an SQS queue and S3, changing none of them.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use aws_sdk_sqs::types::MessageAttributeValue;
use serde_json::{json, Value};

use crate::support::harness::{unique, Daemon, Moto};
use crate::support::PATIENCE;

/// No Lambda call is made by `fanin dlq`: nothing listens here.
const NO_LAMBDA: &str = "http://127.0.0.1:9";

/// A record in fanin's format, dead at second `second` of 01:02.
fn fanin_record(event: &str, second: u32, target: &str, function: &str, condition: &str, status: u16, error_type: &str) -> Value {
    json!({
        "version": "1.0",
        "timestamp": format!("2026-11-26T01:02:{second:02}.000Z"),
        "requestContext": {"requestId": format!("req-{event}-{target}"), "functionArn": function, "condition": condition, "approximateInvokeCount": 3},
        "requestPayload": {"event": event, "for": target},
        "responseContext": {"statusCode": status, "errorType": error_type, "errorMessage": "it failed"},
        "fanin": {"source": "orders", "eventId": event, "target": target, "firstAttemptAt": null, "lastAttemptAt": null}
    })
}

/// A record in Lambda's own on-failure destination format (a function error).
fn lambda_record(n: u64) -> Value {
    json!({
        "version": "1.0",
        "timestamp": "2026-11-26T01:03:00.456Z",
        "requestContext": {"requestId": format!("lambda-req-{n}"), "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:work:$LATEST",
                           "condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": {"n": n},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "boom", "errorType": "ValueError"}
    })
}

fn dlq(args: &[&str], moto: &Moto) -> Daemon {
    let mut all = vec!["dlq"];
    all.extend_from_slice(args);
    let mut run = Daemon::spawn(&all, moto, NO_LAMBDA, &[]);
    run.wait(PATIENCE);
    run
}

fn code(run: &mut Daemon) -> Option<i32> {
    run.wait(PATIENCE).code()
}

/// Runs `fanin dlq ARGS --format json`; exit 0 expected; the document it printed.
fn dlq_json(args: &[&str], moto: &Moto) -> Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--format", "json"]);
    let mut run = dlq(&all, moto);
    assert_eq!(code(&mut run), Some(0), "{}\n{}", run.stdout(), run.log());
    serde_json::from_str(&run.stdout()).unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{}", run.stdout()))
}

/// Runs `fanin dlq ARGS`; exit 0 expected; what it printed.
fn dlq_text(args: &[&str], moto: &Moto) -> String {
    let mut run = dlq(args, moto);
    assert_eq!(code(&mut run), Some(0), "{}\n{}", run.stdout(), run.log());
    run.stdout()
}

fn event_ids(doc: &Value) -> Vec<String> {
    doc["records"].as_array().unwrap().iter().map(|r| r["eventId"].as_str().unwrap().to_string()).collect()
}

/// Two targets, three conditions and error types, one event dead for both targets, out of
/// time order in the file, and a line that is not a record (line 7).
fn write_file(path: &Path) {
    let records = [
        fanin_record("event-3", 3, "ghost", "ghost", "ResourceNotFound", 404, "ResourceNotFoundException"),
        fanin_record("event-0", 0, "work", "work:live", "RetriesExhausted", 429, "TooManyRequestsException"),
        fanin_record("event-2", 2, "work", "work:live", "RetriesExhausted", 429, "TooManyRequestsException"),
        fanin_record("event-1", 1, "work", "work:live", "RetriesExhausted", 429, "TooManyRequestsException"),
        fanin_record("event-4", 4, "ghost", "ghost", "ResourceNotFound", 404, "ResourceNotFoundException"),
        fanin_record("event-5", 5, "work", "work:live", "EventAgeExceeded", 429, "TooManyRequestsException"),
    ];
    let mut text: String = records.iter().map(|r| format!("{r}\n")).collect();
    text.push_str("this line is not a record\n");
    text.push_str(&format!("{}\n", fanin_record("event-1", 6, "ghost", "ghost", "ResourceNotFound", 404, "ResourceNotFoundException")));
    std::fs::write(path, text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_list_and_show_over_a_file_group_by_target_condition_and_error_type_and_change_nothing() {
    let moto = Moto::from_env();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dlq.jsonl");
    write_file(&file);
    let before = std::fs::read(&file).unwrap();
    let from = format!("file:{}", file.display());

    // stats, as JSON, field by field.
    let stats = dlq_json(&["stats", "--from", &from], &moto);
    assert_eq!(stats["from"], from.as_str());
    assert_eq!(stats["read"], 7);
    assert_eq!(stats["selected"], 7);
    assert_eq!(stats["complete"], true);
    let unreadable = stats["unreadable"].as_array().unwrap();
    assert_eq!(unreadable.len(), 1, "{stats}");
    assert!(unreadable[0].as_str().unwrap().contains("dlq.jsonl:7: not JSON"), "{stats}");
    assert_eq!(stats["total"], json!({"count": 7, "oldest": "2026-11-26T01:02:00.000Z", "newest": "2026-11-26T01:02:06.000Z"}));
    assert_eq!(
        stats["groups"],
        json!([
            {"target": "ghost", "condition": "ResourceNotFound", "errorType": "ResourceNotFoundException", "count": 3,
             "oldest": "2026-11-26T01:02:03.000Z", "newest": "2026-11-26T01:02:06.000Z", "firstEventId": "event-3", "lastEventId": "event-1"},
            {"target": "work", "condition": "EventAgeExceeded", "errorType": "TooManyRequestsException", "count": 1,
             "oldest": "2026-11-26T01:02:05.000Z", "newest": "2026-11-26T01:02:05.000Z", "firstEventId": "event-5", "lastEventId": "event-5"},
            {"target": "work", "condition": "RetriesExhausted", "errorType": "TooManyRequestsException", "count": 3,
             "oldest": "2026-11-26T01:02:00.000Z", "newest": "2026-11-26T01:02:02.000Z", "firstEventId": "event-0", "lastEventId": "event-2"}
        ])
    );

    // stats, as text: one line per group, its first and last, a total, the unreadable line.
    let text = dlq_text(&["stats", "--from", &from], &moto);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("read 7 dead letters from {from} (1 unreadable); 7 selected"), "{text}");
    let words = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(words(lines[1]), ["TARGET", "CONDITION", "ERROR", "TYPE", "COUNT", "OLDEST", "NEWEST"], "{text}");
    assert_eq!(
        words(lines[2]),
        ["ghost", "ResourceNotFound", "ResourceNotFoundException", "3", "2026-11-26T01:02:03.000Z", "2026-11-26T01:02:06.000Z"],
        "{text}"
    );
    assert_eq!(words(lines[3]), ["first", "event-3", "last", "event-1"], "{text}");
    assert_eq!(
        words(lines[6]),
        ["work", "RetriesExhausted", "TooManyRequestsException", "3", "2026-11-26T01:02:00.000Z", "2026-11-26T01:02:02.000Z"]
    );
    assert_eq!(words(lines[8]), ["total", "7", "2026-11-26T01:02:00.000Z", "2026-11-26T01:02:06.000Z"], "{text}");
    assert_eq!(lines[9], "unreadable, skipped: 1", "{text}");
    assert!(lines[10].contains("dlq.jsonl:7: not JSON"), "{text}");

    // list: oldest first, numbered, every field of an entry.
    let list = dlq_json(&["list", "--from", &from], &moto);
    assert_eq!(event_ids(&list), ["event-0", "event-1", "event-2", "event-3", "event-4", "event-5", "event-1"]);
    let indexes: Vec<u64> = list["records"].as_array().unwrap().iter().map(|r| r["index"].as_u64().unwrap()).collect();
    assert_eq!(indexes, [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(
        list["records"][6],
        json!({"index": 7, "timestamp": "2026-11-26T01:02:06.000Z", "target": "ghost", "function": "ghost", "condition": "ResourceNotFound",
               "errorType": "ResourceNotFoundException", "eventId": "event-1", "source": "orders", "format": "fanin", "replayCount": 0,
               "location": format!("{}:8", file.display())})
    );
    assert_eq!(list["records"][0]["function"], "work:live");
    assert_eq!(list["unreadable"].as_array().unwrap().len(), 1);
    let text = dlq_text(&["list", "--from", &from], &moto);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 9, "header, column names, 7 records:\n{text}");
    assert_eq!(
        words(lines[2]),
        ["1", "2026-11-26T01:02:00.000Z", "work", "RetriesExhausted", "TooManyRequestsException", "event-0", "orders"]
    );
    assert_eq!(words(lines[8])[..3], ["7", "2026-11-26T01:02:06.000Z", "ghost"]);

    // show: by number, by event id (the first of two, with a note), by both; the payload whole.
    let text = dlq_text(&["show", "--from", &from, "4"], &moto);
    assert!(text.starts_with("record 4 of 7 selected from "), "{text}");
    assert!(text.contains("event id:     event-3") && text.contains("error type:   ResourceNotFoundException"), "{text}");
    let json_start = text.find("record:\n{").expect("the record, pretty-printed") + "record:\n".len();
    let shown: Value = serde_json::from_str(&text[json_start..]).unwrap();
    assert_eq!(shown, serde_json::from_str::<Value>(std::str::from_utf8(&before).unwrap().lines().next().unwrap()).unwrap());
    assert!(text.contains("\"requestPayload\": {"), "pretty-printed: {text}");

    let mut run = dlq(&["show", "--from", &from, "--id", "event-1", "--format", "json"], &moto);
    assert_eq!(code(&mut run), Some(0), "{}", run.log());
    assert!(run.log().contains("2 records have event id \"event-1\"; showing number 2; the others are number 7"), "{}", run.log());
    let one: Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(one["index"], 2);
    assert_eq!(one["eventId"], "event-1");
    assert_eq!(one["target"], "work");
    assert_eq!(one["location"], format!("{}:4", file.display()));
    assert_eq!(one["record"]["requestPayload"], json!({"event": "event-1", "for": "work"}));
    assert_eq!(one["record"]["responseContext"]["statusCode"], 429);
    assert_eq!(one["read"], 7);
    let other = dlq_json(&["show", "--from", &from, "--id", "event-1", "7"], &moto);
    assert_eq!(other["record"]["requestPayload"], json!({"event": "event-1", "for": "ghost"}));

    // A record that is not there: exit 1, said plainly. No record named: a usage error.
    let mut run = dlq(&["show", "--from", &from, "8"], &moto);
    assert_eq!(code(&mut run), Some(1));
    assert!(run.log().contains("no record 8 among the 7 selected"), "{}", run.log());
    let mut run = dlq(&["show", "--from", &from, "--id", "event-0", "7"], &moto);
    assert_eq!(code(&mut run), Some(1), "record 7 is not event-0");
    assert!(run.log().contains("no record 7 with event id \"event-0\""), "{}", run.log());
    let mut run = dlq(&["show", "--from", &from], &moto);
    assert_eq!(code(&mut run), Some(2), "show needs --id or a number");

    assert_eq!(std::fs::read(&file).unwrap(), before, "the file is only read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_file_is_read_and_a_missing_one_is_an_error() {
    let moto = Moto::from_env();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dlq.jsonl");
    std::fs::write(&file, "").unwrap();
    let from = format!("file:{}", file.display());
    let stats = dlq_json(&["stats", "--from", &from], &moto);
    assert_eq!(stats["total"], json!({"count": 0, "oldest": null, "newest": null}));
    assert_eq!(stats["groups"], json!([]));
    assert!(dlq_text(&["list", "--from", &from], &moto).contains("no dead letters"));

    let missing = format!("file:{}", dir.path().join("nothing.jsonl").display());
    let mut run = dlq(&["stats", "--from", &missing], &moto);
    assert_eq!(code(&mut run), Some(1), "{}", run.log());
    assert!(run.log().contains("nothing.jsonl"), "{}", run.log());
    let mut run = dlq(&["list", "--from", "ftp://somewhere"], &moto);
    assert_eq!(code(&mut run), Some(2), "an unknown --from is a usage error\n{}", run.log());
}

/// Every message in the queue, received and counted by id (they are held for a minute after).
async fn receive_all(moto: &Moto, queue: &str) -> HashSet<String> {
    let sqs = moto.sqs();
    let mut ids = HashSet::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(60)
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return ids;
        }
        ids.extend(messages.iter().map(|m| m.message_id().unwrap().to_string()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_sqs_it_reads_all_three_formats_and_leaves_every_message_in_the_queue_visible() {
    let moto = Moto::from_env();
    let sqs = moto.sqs();
    let queue = moto.queue(&unique("dlq-inspect")).await;
    let bodies = vec![
        fanin_record("event-0", 0, "work", "work:live", "RetriesExhausted", 429, "TooManyRequestsException").to_string(),
        fanin_record("event-1", 1, "ghost", "ghost", "ResourceNotFound", 404, "ResourceNotFoundException").to_string(),
        lambda_record(0).to_string(),
        lambda_record(1).to_string(),
        // Neither a record nor a legacy message (no attributes): unreadable, and left as it is.
        json!({"stray": true}).to_string(),
    ];
    moto.send_all(&queue, &bodies).await;
    let attr = |v: &str| MessageAttributeValue::builder().data_type("String").string_value(v).build().unwrap();
    sqs.send_message()
        .queue_url(&queue)
        .message_body(json!({"n": 100}).to_string())
        .message_attributes("RequestID", attr("r-legacy"))
        .message_attributes("ErrorCode", attr("200"))
        .message_attributes("ErrorMessage", attr("Unhandled"))
        .send()
        .await
        .unwrap();
    let from = format!("sqs:{queue}");

    let stats = dlq_json(&["stats", "--from", &from], &moto);
    assert_eq!(moto.depth(&queue).await, (6, 0), "every message visible again at once, none deleted");
    assert_eq!(stats["read"], 5);
    assert_eq!(stats["complete"], true);
    let unreadable = stats["unreadable"].as_array().unwrap();
    assert_eq!(unreadable.len(), 1, "{stats}");
    assert!(unreadable[0].as_str().unwrap().contains("neither a dead-letter record nor a legacy"), "{stats}");
    assert_eq!(
        stats["groups"],
        json!([
            // Legacy messages name no target; their condition and error type are the ErrorCode.
            {"target": null, "condition": "200", "errorType": "200", "count": 1, "oldest": null, "newest": null,
             "firstEventId": "r-legacy", "lastEventId": "r-legacy"},
            {"target": "arn:aws:lambda:us-east-1:123456789012:function:work:$LATEST", "condition": "RetriesExhausted", "errorType": "ValueError",
             "count": 2, "oldest": "2026-11-26T01:03:00.456Z", "newest": "2026-11-26T01:03:00.456Z",
             "firstEventId": "lambda-req-0", "lastEventId": "lambda-req-1"},
            {"target": "ghost", "condition": "ResourceNotFound", "errorType": "ResourceNotFoundException", "count": 1,
             "oldest": "2026-11-26T01:02:01.000Z", "newest": "2026-11-26T01:02:01.000Z", "firstEventId": "event-1", "lastEventId": "event-1"},
            {"target": "work", "condition": "RetriesExhausted", "errorType": "TooManyRequestsException", "count": 1,
             "oldest": "2026-11-26T01:02:00.000Z", "newest": "2026-11-26T01:02:00.000Z", "firstEventId": "event-0", "lastEventId": "event-0"}
        ])
    );

    let list = dlq_json(&["list", "--from", &from], &moto);
    assert_eq!(moto.depth(&queue).await, (6, 0));
    assert_eq!(event_ids(&list), ["event-0", "event-1", "lambda-req-0", "lambda-req-1", "r-legacy"], "undated legacy last");
    let formats: Vec<&str> = list["records"].as_array().unwrap().iter().map(|r| r["format"].as_str().unwrap()).collect();
    assert_eq!(formats, ["fanin", "fanin", "lambda", "lambda", "legacy"]);
    assert_eq!(list["records"][2]["source"], "lambda");
    assert_eq!(list["records"][2]["location"], Value::Null);

    let legacy = dlq_json(&["show", "--from", &from, "--id", "r-legacy"], &moto);
    assert_eq!(moto.depth(&queue).await, (6, 0));
    assert_eq!(legacy["record"], json!({"n": 100}), "a legacy message's body is the event");
    assert_eq!(legacy["function"], Value::Null);
    assert_eq!(legacy["timestamp"], Value::Null);
    let text = dlq_text(&["show", "--from", &from, "3"], &moto);
    assert!(text.contains("event id:     lambda-req-0") && text.contains("\"errorType\": \"ValueError\""), "{text}");

    // Nothing was deleted and nothing is held: all six come back to a receive of our own, now.
    assert_eq!(moto.depth(&queue).await, (6, 0));
    assert_eq!(receive_all(&moto, &queue).await.len(), 6);

    let mut run = dlq(&["stats", "--from", &format!("sqs:{}/no-such-queue", moto.url)], &moto);
    assert_eq!(code(&mut run), Some(1), "a queue that is not there: exit 1\n{}", run.log());
}

/// Every object in the bucket: key → body.
async fn snapshot(moto: &Moto, bucket: &str) -> BTreeMap<String, Vec<u8>> {
    let s3 = moto.s3();
    let list = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    let mut out = BTreeMap::new();
    for obj in list.contents() {
        let key = obj.key().unwrap();
        let body = s3.get_object().bucket(bucket).key(key).send().await.unwrap().body.collect().await.unwrap();
        out.insert(key.to_string(), body.into_bytes().to_vec());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_s3_it_reads_the_prefix_and_leaves_every_object_as_it_was() {
    let moto = Moto::from_env();
    let s3 = moto.s3();
    let bucket = unique("dlq-inspect");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let put = |key: &str, body: String| {
        let (s3, bucket, key) = (s3.clone(), bucket.clone(), key.to_string());
        async move { s3.put_object().bucket(bucket).key(key).body(body.into_bytes().into()).send().await.unwrap() }
    };
    put(
        "dlq/2026/11/26/01/event-0.json",
        fanin_record("event-0", 0, "work", "work", "RetriesExhausted", 429, "TooManyRequestsException").to_string(),
    )
    .await;
    put(
        "dlq/2026/11/26/01/event-1.json",
        fanin_record("event-1", 1, "work", "work", "RetriesExhausted", 429, "TooManyRequestsException").to_string(),
    )
    .await;
    put("dlq/2026/11/26/01/lambda.json", lambda_record(7).to_string()).await;
    put("dlq/2026/11/26/01/torn.json", "{\"version\":".into()).await;
    // Already replayed with --keep: replay does not read it, nor does dlq.
    put("dlq/replayed/2026/old.json", fanin_record("event-old", 9, "work", "work", "RetriesExhausted", 429, "X").to_string()).await;
    // Outside the prefix.
    put("elsewhere/event-9.json", fanin_record("event-9", 9, "work", "work", "RetriesExhausted", 429, "X").to_string()).await;
    let before = snapshot(&moto, &bucket).await;
    let from = format!("s3://{bucket}/dlq/");

    let stats = dlq_json(&["stats", "--from", &from], &moto);
    assert_eq!(stats["read"], 3);
    assert_eq!(stats["total"]["count"], 3);
    let unreadable = stats["unreadable"].as_array().unwrap();
    assert_eq!(unreadable.len(), 1);
    assert!(unreadable[0].as_str().unwrap().starts_with(&format!("s3://{bucket}/dlq/2026/11/26/01/torn.json: not JSON")), "{stats}");
    let groups: Vec<(String, u64)> = stats["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["target"].as_str().unwrap().to_string(), g["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(groups, [("arn:aws:lambda:us-east-1:123456789012:function:work:$LATEST".to_string(), 1), ("work".to_string(), 2)]);

    let list = dlq_json(&["list", "--from", &from], &moto);
    assert_eq!(event_ids(&list), ["event-0", "event-1", "lambda-req-7"]);
    assert_eq!(list["records"][1]["location"], format!("s3://{bucket}/dlq/2026/11/26/01/event-1.json"));
    let one = dlq_json(&["show", "--from", &from, "--id", "lambda-req-7"], &moto);
    assert_eq!(one["record"]["requestPayload"], json!({"n": 7}));
    assert_eq!(one["errorType"], "ValueError");

    assert_eq!(snapshot(&moto, &bucket).await, before, "every object as it was, none moved or added");
    let mut run = dlq(&["stats", "--from", &format!("s3://{}/dlq/", unique("no-such-bucket"))], &moto);
    assert_eq!(code(&mut run), Some(1), "a bucket that is not there: exit 1\n{}", run.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_since_and_until_select_and_a_bad_filter_is_a_usage_error() {
    let moto = Moto::from_env();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dlq.jsonl");
    write_file(&file);
    let from = format!("file:{}", file.display());

    let filter = r#"{"requestContext":{"condition":["ResourceNotFound"]}}"#;
    let stats = dlq_json(&["stats", "--from", &from, "--filter", filter], &moto);
    assert_eq!(stats["read"], 7);
    assert_eq!(stats["selected"], 3);
    assert_eq!(stats["groups"].as_array().unwrap().len(), 1);
    assert_eq!(stats["groups"][0]["target"], "ghost");

    // At or after :02, before :05.
    let list = dlq_json(&["list", "--from", &from, "--since", "2026-11-26T01:02:02Z", "--until", "2026-11-26T01:02:05Z"], &moto);
    assert_eq!(event_ids(&list), ["event-2", "event-3", "event-4"]);
    assert_eq!(list["selected"], 3);
    // A pattern over any part of the record, with the times; show numbers within the selection.
    let filter = r#"{"fanin":{"target":["work"]},"responseContext":{"statusCode":[{"numeric":["=",429]}]}}"#;
    let shown = dlq_json(&["show", "--from", &from, "--filter", filter, "--since", "2026-11-26T01:02:01Z", "1"], &moto);
    assert_eq!(shown["eventId"], "event-1");
    assert_eq!(shown["index"], 1);
    // A duration ago: every record is from 2026-11-26, so none died in the last hour.
    let recent = dlq_json(&["stats", "--from", &from, "--since", "1h"], &moto);
    assert_eq!(recent["selected"], 0);
    assert_eq!(recent["read"], 7);
    let older = dlq_json(&["stats", "--from", &from, "--until", "1h"], &moto);
    assert_eq!(older["selected"], 7);

    let mut bad = dlq(&["stats", "--from", &from, "--filter", r#"{"requestContext":{"condition":"x"}}"#], &moto);
    assert_eq!(code(&mut bad), Some(2), "a bad pattern is a usage error");
    assert!(bad.log().contains("--filter") && bad.log().contains("requestContext.condition"), "{}", bad.log());
    let mut bad = dlq(&["list", "--from", &from, "--filter", "not json"], &moto);
    assert_eq!(code(&mut bad), Some(2));
    let mut bad = dlq(&["list", "--from", &from, "--since", "yesterday-ish"], &moto);
    assert_eq!(code(&mut bad), Some(2));
    assert!(bad.log().contains("neither an RFC 3339 time nor a duration"), "{}", bad.log());
}
