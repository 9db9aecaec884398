//! EventBridge events handed on as they are, their ids, and what is refused.

use serde_json::json;

use super::*;
use crate::sources::decode::testing::*;

// ----- EventBridge -------------------------------------------------------

#[test]
fn eventbridge_event_passes_as_is() {
    // EventBridge User Guide sample: EC2 instance state-change notification.
    let ev = json!({
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "123456789012",
        "time": "2021-11-11T21:29:54Z",
        "region": "us-east-1",
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
        "detail": { "instance-id": "i-abcd1111", "state": "pending" }
    });
    let e = one(decode(&ev.to_string()));
    assert_eq!(e.payload, ev);
    assert_eq!(e.id, "7bf73129-1428-4cd3-a780-95db273d1602");
    assert_eq!(e.meta.event_name.as_deref(), Some("EC2 Instance State-change Notification"));
    let s3_ev = eb_object_created();
    assert_eq!(one(decode(&s3_ev.to_string())).payload, s3_ev);
}

#[test]
fn eventbridge_without_id_gets_a_stable_hash_id() {
    let body = r#"{"source":"my.app","detail-type":"OrderPlaced","detail":{"order":1}}"#;
    let a = one(decode(body));
    assert!(a.id.starts_with('h') && a.id.len() == 17, "{}", a.id);
    assert_eq!(one(decode(body)).id, a.id);
    let other = r#"{"source":"my.app","detail-type":"OrderPlaced","detail":{"order":2}}"#;
    assert_ne!(one(decode(other)).id, a.id);
}

#[test]
fn eventbridge_malformed_is_invalid() {
    assert!(invalid(decode(r#"{"source":"aws.ec2","detail":{}}"#)).contains("detail-type"));
    assert!(invalid(decode(r#"{"detail-type":"x"}"#)).contains("source"));
    assert!(invalid(decode(r#"{"source":1,"detail-type":"x"}"#)).contains("source"));
    assert!(invalid(decode("[]")).contains("not a JSON object"));
    assert!(invalid(decode(r#"{"source":"aws.ec2","detail-t"#)).starts_with("body is not valid JSON"));
    assert!(invalid(decode(&envelope("{}"))).contains("not an EventBridge event"));
}
