//! S3 keys, and notifications from every path (direct, SNS, EventBridge) against Lambda's own
//! S3 event, and what is refused.

use serde_json::{json, Value};

use super::*;
use crate::sources::decode::testing::*;

// ----- keys -------------------------------------------------------------

#[test]
fn decode_key_form_encoding() {
    assert_eq!(decode_s3_key("in%2Ffile+1.json"), "in/file 1.json");
    assert_eq!(decode_s3_key("a/b/c+d.txt"), "a/b/c d.txt");
    assert_eq!(decode_s3_key("c%2B%2B.tar"), "c++.tar");
    assert_eq!(decode_s3_key("100%25+done"), "100% done");
    assert_eq!(decode_s3_key("caf%C3%A9/%E2%82%AC%F0%9F%98%80"), "café/€😀");
    assert_eq!(decode_s3_key("x%3Dy%3A1%28a%29"), "x=y:1(a)");
    assert_eq!(decode_s3_key("%2f%2F"), "//");
}

#[test]
fn decode_key_leaves_invalid_escapes() {
    assert_eq!(decode_s3_key("100%"), "100%");
    assert_eq!(decode_s3_key("50%zz"), "50%zz");
    assert_eq!(decode_s3_key("a%4"), "a%4");
    assert_eq!(decode_s3_key("%%41"), "%A");
    assert_eq!(decode_s3_key("bad%FF"), "bad\u{FFFD}");
    assert_eq!(decode_s3_key(""), "");
}

#[test]
fn encode_key_as_s3_does_and_round_trips() {
    assert_eq!(encode_s3_key("red flower.jpg"), "red+flower.jpg");
    assert_eq!(encode_s3_key("in/file 1 (copy)+€=.json"), "in/file+1+%28copy%29%2B%E2%82%AC%3D.json");
    assert_eq!(encode_s3_key("dt=2018-05-04/_SUCCESS"), "dt%3D2018-05-04/_SUCCESS");
    for key in ["a b/c+d/100%/ü€😀/x:y=z&q?#", "plain/key.txt", " ", "+%"] {
        assert_eq!(decode_s3_key(&encode_s3_key(key)), key);
    }
}

// ----- S3 ----------------------------------------------------------------

fn record(key: &str, sequencer: &str) -> Value {
    let mut r = lambda_s3_sample()["Records"][0].clone();
    r["s3"]["object"]["key"] = key.into();
    r["s3"]["object"]["sequencer"] = sequencer.into();
    r
}

#[test]
fn s3_lambda_sample_passes_unchanged() {
    let sample = lambda_s3_sample();
    let e = one(decode(&sample.to_string(), false, "fanin-uploads"));
    assert_eq!(e.payload, sample);
    assert_eq!(e.id, "example-bucket/test/key/0A1B2C3D4E5F678901");
    assert_eq!(e.meta.bucket.as_deref(), Some("example-bucket"));
    assert_eq!(e.meta.key.as_deref(), Some("test/key"));
    assert_eq!(e.meta.event_name.as_deref(), Some("ObjectCreated:Put"));
    let view = e.filter_view.expect("key differs once decoded");
    assert_eq!(view["Records"][0]["s3"]["object"]["key"], "test/key");
    assert_eq!(view["Records"][0]["s3"]["object"]["size"], 1024);
    // Typed Rust consumers read it.
    let typed: aws_lambda_events::s3::S3Event = serde_json::from_value(e.payload).unwrap();
    assert_eq!(typed.records[0].s3.object.key.as_deref(), Some("test%2Fkey"));
}

#[test]
fn s3_multi_record_gives_one_event_per_record() {
    let body = json!({ "Records": [
        record("a.txt", "001"), record("b+c.txt", "002"), record("d.txt", "003")
    ]});
    let evs = events(decode(&body.to_string(), false, "fanin-uploads"));
    assert_eq!(evs.len(), 3);
    for (i, e) in evs.iter().enumerate() {
        assert_eq!(e.payload, json!({ "Records": [body["Records"][i].clone()] }));
    }
    let ids: Vec<_> = evs.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["example-bucket/a.txt/001", "example-bucket/b c.txt/002", "example-bucket/d.txt/003"]);
    assert_eq!(evs[0].filter_view, None, "key unchanged by decoding");
    assert!(evs[1].filter_view.is_some());
}

#[test]
fn s3_keys_with_spaces_plus_percent_unicode_slashes() {
    let cases = [
        ("my+photo+1.jpg", "my photo 1.jpg"),
        ("c%2B%2B/notes.txt", "c++/notes.txt"),
        ("100%25+sure.txt", "100% sure.txt"),
        ("r%C3%A9sum%C3%A9/%E6%97%A5%E6%9C%AC.pdf", "résumé/日本.pdf"),
        ("in%2Ffile+1.json", "in/file 1.json"),
        ("deep/a/b/c/file.txt", "deep/a/b/c/file.txt"),
    ];
    for (raw, decoded) in cases {
        let body = json!({ "Records": [record(raw, "0055AED6DCD90281E5")] });
        let e = one(decode(&body.to_string(), false, "fanin-uploads"));
        assert_eq!(e.payload["Records"][0]["s3"]["object"]["key"], raw, "payload keeps AWS's key");
        assert_eq!(e.meta.key.as_deref(), Some(decoded));
        assert_eq!(e.id, format!("example-bucket/{decoded}/0055AED6DCD90281E5"));
        let view_key = e.filter_view.as_ref().map(|v| v["Records"][0]["s3"]["object"]["key"].clone());
        if raw == decoded {
            assert_eq!(view_key, None);
        } else {
            assert_eq!(view_key, Some(Value::from(decoded)));
        }
    }
}

#[test]
fn s3_test_event_is_skipped_direct_and_via_sns() {
    // S3 User Guide, event message structure: the s3:TestEvent.
    let test_event = json!({
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2014-10-13T15:57:02.089Z",
        "Bucket": "amzn-s3-demo-bucket",
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"
    })
    .to_string();
    assert_eq!(decode(&test_event, false, "fanin-uploads"), Decoded::Skip("s3:TestEvent"));
    assert_eq!(decode(&envelope(&test_event), false, "fanin-uploads"), Decoded::Skip("s3:TestEvent"));
    assert_eq!(decode(&test_event, true, "fanin-uploads"), Decoded::Skip(SKIP_S3_TEST_EVENT));
}

#[test]
fn s3_via_sns_envelope_and_raw_delivery_are_the_same() {
    let notification = json!({ "Records": [record("a+b.csv", "01"), record("c.csv", "02")] }).to_string();
    let direct = decode(&notification, false, "fanin-uploads");
    let wrapped = decode(&envelope(&notification), false, "fanin-uploads");
    assert_eq!(wrapped, direct);
    assert_eq!(events(wrapped).len(), 2);
}

#[test]
fn s3_moto_record_without_optional_fields_is_accepted() {
    let rec = json!({
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2024-01-01T00:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": { "s3SchemaVersion": "1.0", "configurationId": "c",
                "bucket": { "name": "b", "arn": "arn:aws:s3:::b" },
                "object": { "key": "x+y", "size": 3, "eTag": "e" } }
    });
    let body = json!({ "Records": [rec.clone()] }).to_string();
    let e = one(decode(&body, false, "fanin-uploads"));
    assert_eq!(e.payload["Records"][0], rec);
    assert!(e.id.starts_with("b/x y/h"), "hash fallback: {}", e.id);
    assert_eq!(one(decode(&body, false, "fanin-uploads")).id, e.id, "stable across redeliveries");
    let other = json!({ "Records": [{ "eventName": "ObjectRemoved:Delete", "s3": rec["s3"] }] }).to_string();
    assert_ne!(one(decode(&other, false, "fanin-uploads")).id, e.id);
}

#[test]
fn s3_malformed_bodies_are_invalid() {
    let r = invalid(decode(r#"{"Records":[{"eventName":"ObjectCreated:Put"}]}"#, false, "fanin-uploads"));
    assert!(r.contains("record 0") && r.contains("`s3`"), "{r}");
    let r = invalid(decode(r#"{"Records":[{"s3":{"bucket":{"name":"b"},"object":{}}}]}"#, false, "fanin-uploads"));
    assert!(r.contains("s3.object.key"), "{r}");
    let r = invalid(decode(r#"{"Records":[{"s3":{"bucket":{},"object":{"key":"k"}}}]}"#, false, "fanin-uploads"));
    assert!(r.contains("s3.bucket.name"), "{r}");
    let good = record("k", "1");
    let r = invalid(decode(&json!({ "Records": [good, {"x": 1}] }).to_string(), false, "fanin-uploads"));
    assert!(r.starts_with("S3 record 1 "), "{r}");
    assert!(invalid(decode(r#"{"Records":[]}"#, false, "fanin-uploads")).contains("no records"));
    assert!(invalid(decode(r#"{"Records":{}}"#, false, "fanin-uploads")).contains("not an array"));
    let truncated = &lambda_s3_sample().to_string()[..120];
    assert!(invalid(decode(truncated, false, "fanin-uploads")).starts_with("body is not valid JSON"));
    assert!(invalid(decode("", false, "fanin-uploads")).starts_with("body is not valid JSON"));
    assert!(invalid(decode(r#"{"hello":"world"}"#, false, "fanin-uploads")).contains("not an S3 notification"));
    assert!(invalid(decode("[1,2]", false, "fanin-uploads")).contains("not an S3 notification"));
}

#[test]
fn s3_envelope_with_wrong_message_is_invalid() {
    let r = invalid(decode(&envelope("Hello world!"), false, "fanin-uploads"));
    assert!(r.contains("SNS envelope Message is not an S3 notification"), "{r}");
    let r = invalid(decode(&envelope(r#"{"AlarmName":"x","NewStateValue":"OK"}"#), false, "fanin-uploads"));
    assert!(r.starts_with("SNS envelope Message: not an S3 notification"), "{r}");
    let r = invalid(decode(&envelope(r#"{"Records":[{"eventSource":"aws:sqs"}]}"#), false, "fanin-uploads"));
    assert!(r.starts_with("SNS envelope Message: S3 record 0 has no `s3`"), "{r}");
    let mut env: Value = serde_json::from_str(&envelope("{}")).unwrap();
    env.as_object_mut().unwrap().remove("MessageId");
    assert_eq!(invalid(decode(&env.to_string(), false, "fanin-uploads")), "SNS envelope has no `MessageId`");
}

#[test]
fn s3_eventbridge_put_object_becomes_lambda_s3_record() {
    let e = one(decode(&eb_object_created().to_string(), false, "fanin-uploads"));
    let expected = json!({ "Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "ca-central-1",
        "eventTime": "2021-11-12T00:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": { "principalId": "123456789012" },
        "requestParameters": { "sourceIPAddress": "1.2.3.4" },
        "responseElements": { "x-amz-request-id": "N4N7GDK58NMKJ12R", "x-amz-id-2": "N4N7GDK58NMKJ12R" },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "fanin-uploads",
            "bucket": {
                "name": "amzn-s3-demo-bucket1",
                "ownerIdentity": { "principalId": "111122223333" },
                "arn": "arn:aws:s3:::amzn-s3-demo-bucket1"
            },
            "object": {
                "key": "example-key",
                "size": 5,
                "eTag": "b1946ac92492d2347c6235b4d2611184",
                "versionId": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
                "sequencer": "617f08299329d189"
            }
        }
    }]});
    assert_eq!(e.payload, expected);
    assert_eq!(e.id, "amzn-s3-demo-bucket1/example-key/617f08299329d189");
    assert_eq!(e.filter_view, None);
    assert_eq!(e.meta.event_name.as_deref(), Some("ObjectCreated:Put"));
    let typed: aws_lambda_events::s3::S3Event = serde_json::from_value(e.payload).unwrap();
    assert_eq!(typed.records[0].s3.object.size, Some(5));
}

#[test]
fn s3_eventbridge_multipart_upload_encodes_key_and_matches_direct_id() {
    let mut eb = eb_object_created();
    eb["detail"]["reason"] = "CompleteMultipartUpload".into();
    eb["detail"]["object"]["key"] = "raw/health check/2023-08-08T14:03:40.532432+1.zip".into();
    let e = one(decode(&eb.to_string(), false, "fanin-uploads"));
    let rec = &e.payload["Records"][0];
    assert_eq!(rec["eventName"], "ObjectCreated:CompleteMultipartUpload");
    let encoded = "raw/health+check/2023-08-08T14%3A03%3A40.532432%2B1.zip";
    assert_eq!(rec["s3"]["object"]["key"], encoded);
    assert_eq!(e.meta.key.as_deref(), Some("raw/health check/2023-08-08T14:03:40.532432+1.zip"));
    let view = e.filter_view.unwrap();
    assert_eq!(view["Records"][0]["s3"]["object"]["key"], "raw/health check/2023-08-08T14:03:40.532432+1.zip");
    // The same object event delivered by an S3 notification gets the same id.
    let direct = json!({ "Records": [{ "eventName": "ObjectCreated:CompleteMultipartUpload",
        "s3": { "bucket": { "name": "amzn-s3-demo-bucket1" },
                "object": { "key": encoded, "sequencer": "617f08299329d189" } } }] });
    assert_eq!(one(decode(&direct.to_string(), false, "fanin-uploads")).id, e.id);
}

#[test]
fn s3_eventbridge_event_names() {
    let name = |detail_type: &str, detail: Value| {
        let mut eb = eb_object_created();
        eb["detail-type"] = detail_type.into();
        for (k, v) in detail.as_object().unwrap() {
            eb["detail"][k] = v.clone();
        }
        let e = one(decode(&eb.to_string(), false, "fanin-uploads"));
        e.payload["Records"][0]["eventName"].as_str().unwrap().to_string()
    };
    assert_eq!(name("Object Created", json!({"reason": "CopyObject"})), "ObjectCreated:Copy");
    assert_eq!(name("Object Created", json!({"reason": "POST Object"})), "ObjectCreated:Post");
    assert_eq!(name("Object Created", json!({"reason": "PutObject"})), "ObjectCreated:Put");
    assert_eq!(name("Object Deleted", json!({"reason": "DeleteObject", "deletion-type": "Permanently Deleted"})), "ObjectRemoved:Delete");
    assert_eq!(
        name("Object Deleted", json!({"reason": "DeleteObject", "deletion-type": "Delete Marker Created"})),
        "ObjectRemoved:DeleteMarkerCreated"
    );
    assert_eq!(
        name("Object Deleted", json!({"reason": "Lifecycle Expiration", "deletion-type": "Permanently Deleted"})),
        "LifecycleExpiration:Delete"
    );
    assert_eq!(name("Object Restore Completed", json!({})), "ObjectRestore:Completed");
    assert_eq!(name("Object Tags Added", json!({})), "ObjectTagging:Put");
    let mut eb = eb_object_created();
    eb["detail-type"] = "Async Copy Completion".into();
    assert!(invalid(decode(&eb.to_string(), false, "fanin-uploads")).contains("no S3 notification equivalent"));
    assert_eq!(one(decode(&eb.to_string(), true, "fanin-uploads")).payload, eb, "passed through on request");
}

#[test]
fn s3_eventbridge_copy_object_and_delete_shapes() {
    let mut eb = eb_object_created();
    eb["detail"]["reason"] = "CopyObject".into();
    let e = one(decode(&eb.to_string(), false, "fanin-uploads"));
    assert_eq!(e.payload["Records"][0]["eventName"], "ObjectCreated:Copy");
    // S3 User Guide sample: Object Deleted (using DeleteObject): no size/etag.
    let deleted = json!({
      "version": "0", "id": "2ee9cc15-d022-99ea-1fb8-1b1bac4850f9",
      "detail-type": "Object Deleted", "source": "aws.s3", "account": "111122223333",
      "time": "2021-11-12T00:00:00Z", "region": "ca-central-1",
      "resources": ["arn:aws:s3:::amzn-s3-demo-bucket1"],
      "detail": {
        "version": "0", "bucket": { "name": "amzn-s3-demo-bucket1" },
        "object": { "key": "example-key", "etag": "d41d8cd98f00b204e9800998ecf8427e",
                    "version-id": "1QW9g1Z99LUNbvaaYVpW9xDlOLU.qxgF", "sequencer": "617f0837b476e463" },
        "request-id": "0BH729840619AG5K", "requester": "123456789012",
        "source-ip-address": "1.2.3.4", "reason": "DeleteObject",
        "deletion-type": "Delete Marker Created"
      }
    });
    let e = one(decode(&deleted.to_string(), false, "fanin-uploads"));
    let rec = &e.payload["Records"][0];
    assert_eq!(rec["eventName"], "ObjectRemoved:DeleteMarkerCreated");
    assert_eq!(
        rec["s3"]["object"],
        json!({ "key": "example-key", "eTag": "d41d8cd98f00b204e9800998ecf8427e",
        "versionId": "1QW9g1Z99LUNbvaaYVpW9xDlOLU.qxgF", "sequencer": "617f0837b476e463" })
    );
    assert_eq!(e.id, "amzn-s3-demo-bucket1/example-key/617f0837b476e463");
}

#[test]
fn s3_eventbridge_pass_through() {
    let eb = eb_object_created();
    let e = one(decode(&eb.to_string(), true, "fanin-uploads"));
    assert_eq!(e.payload, eb);
    assert_eq!(e.id, "amzn-s3-demo-bucket1/example-key/617f08299329d189");
    assert_eq!(e.filter_view, None);
    assert_eq!(e.meta.bucket.as_deref(), Some("amzn-s3-demo-bucket1"));
    assert_eq!(e.meta.key.as_deref(), Some("example-key"));
    assert_eq!(e.meta.event_name.as_deref(), Some("ObjectCreated:Put"));
}

#[test]
fn s3_eventbridge_malformed_is_invalid() {
    let mut eb = eb_object_created();
    eb["source"] = "aws.ec2".into();
    assert!(invalid(decode(&eb.to_string(), false, "fanin-uploads")).contains("not an aws.s3 event"));
    let mut eb = eb_object_created();
    eb["detail"]["object"].as_object_mut().unwrap().remove("key");
    assert!(invalid(decode(&eb.to_string(), false, "fanin-uploads")).contains("detail.object.key"));
    let mut eb = eb_object_created();
    eb.as_object_mut().unwrap().remove("detail");
    assert!(invalid(decode(&eb.to_string(), true, "fanin-uploads")).contains("no `detail`"));
}
