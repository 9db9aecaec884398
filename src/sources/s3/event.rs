//! S3 notifications (direct, through SNS, or EventBridge's `aws.s3` events) into Lambda's S3
//! event, one record each.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use crate::event::fingerprint;
use crate::sources::decode::sns_envelope::{classify_sns, Envelope};
use crate::sources::decode::{is_eventbridge, parse_body, percent_decode, prefix_invalid, single, str_at, Decoded, DecodedEvent, Meta};

/// Skip reason for S3's `s3:TestEvent`.
pub const SKIP_S3_TEST_EVENT: &str = "s3:TestEvent";

/// `+` → space, `%XX` → byte, as S3 encodes keys in notifications (form
/// encoding). Invalid escapes are left as they are; decoded bytes are read as
/// UTF-8 (invalid sequences become U+FFFD).
pub fn decode_s3_key(key: &str) -> String {
    percent_decode(key, true)
}

/// Encodes a key as S3 does in notifications: form encoding (space → `+`,
/// everything but ASCII alphanumerics and `-_.*` as `%XX` of the UTF-8 bytes),
/// except that `/` is kept.
pub fn encode_s3_key(key: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(key.len());
    for &b in key.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b'/' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 0xF)] as char);
            }
        }
    }
    out
}

/// Decodes an S3 notification (direct, via SNS enveloped or raw, or from
/// EventBridge) into one `{"Records":[record]}` event per record.
///
/// EventBridge `aws.s3` events are converted into Lambda's S3 record, or passed
/// through as they are when `pass_eventbridge` is true. `configuration_id` names the
/// notification in records converted from EventBridge (S3's own carry the configuration's Id).
pub fn decode(body: &str, pass_eventbridge: bool, configuration_id: &str) -> Decoded {
    let v = match parse_body(body) {
        Ok(v) => v,
        Err(r) => return Decoded::Invalid(r),
    };
    match classify_sns(&v) {
        Envelope::Notification(n) => match serde_json::from_str::<Value>(&n.message) {
            Ok(inner) => prefix_invalid(s3_value(&inner, pass_eventbridge, configuration_id), "SNS envelope Message: "),
            Err(e) => Decoded::Invalid(format!("SNS envelope Message is not an S3 notification (not JSON: {e})")),
        },
        Envelope::Confirmation(answer) => answer,
        Envelope::Malformed(reason) => Decoded::Invalid(reason),
        Envelope::Not => s3_value(&v, pass_eventbridge, configuration_id),
    }
}

fn s3_value(v: &Value, pass_eventbridge: bool, configuration_id: &str) -> Decoded {
    let Some(obj) = v.as_object() else {
        return Decoded::Invalid("not an S3 notification (not a JSON object)".into());
    };
    if obj.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Decoded::Skip(SKIP_S3_TEST_EVENT);
    }
    if let Some(records) = obj.get("Records") {
        return s3_records(records);
    }
    if is_eventbridge(obj) {
        return s3_eventbridge(v, pass_eventbridge, configuration_id);
    }
    Decoded::Invalid("not an S3 notification (no `Records`, not an s3:TestEvent, not an aws.s3 EventBridge event)".into())
}

fn s3_records(records: &Value) -> Decoded {
    let Some(records) = records.as_array() else {
        return Decoded::Invalid("S3 notification `Records` is not an array".into());
    };
    if records.is_empty() {
        return Decoded::Invalid("S3 notification has no records".into());
    }
    let mut events = Vec::with_capacity(records.len());
    for (i, record) in records.iter().enumerate() {
        match s3_record_event(record, None) {
            Ok(event) => events.push(event),
            Err(reason) => return Decoded::Invalid(format!("S3 record {i} {reason}")),
        }
    }
    Decoded::Events(events)
}

/// One S3 record → its event. `fallback_id` (an EventBridge id) stands in for a
/// missing sequencer, else a hash of the record does.
fn s3_record_event(record: &Value, fallback_id: Option<&str>) -> Result<DecodedEvent, String> {
    if !record.is_object() {
        return Err("is not an object".into());
    }
    if !record.get("s3").is_some_and(Value::is_object) {
        return Err("has no `s3` object".into());
    }
    let bucket = str_at(record, &["s3", "bucket", "name"]).ok_or("has no `s3.bucket.name`")?;
    let raw_key = str_at(record, &["s3", "object", "key"]).ok_or("has no `s3.object.key`")?;
    let key = decode_s3_key(raw_key);
    let suffix = match str_at(record, &["s3", "object", "sequencer"]) {
        Some(sequencer) => sequencer.to_string(),
        None => match fallback_id {
            Some(id) => id.to_string(),
            None => fingerprint(record.to_string().as_bytes()),
        },
    };
    let filter_view = (key != raw_key).then(|| {
        let mut view = record.clone();
        view["s3"]["object"]["key"] = Value::String(key.clone());
        json!({ "Records": [view] })
    });
    Ok(DecodedEvent {
        id: format!("{bucket}/{key}/{suffix}"),
        payload: json!({ "Records": [record] }),
        filter_view,
        meta: Meta {
            bucket: Some(bucket.to_string()),
            key: Some(key),
            event_name: str_at(record, &["eventName"]).map(str::to_string),
            ..Meta::default()
        },
    })
}

/// The S3 notification `eventName` for an S3 EventBridge event, from its
/// `detail-type`, `detail.reason` and `detail.deletion-type`; `None` when S3
/// notifications have no equivalent (e.g. "Async Copy Completion").
///
/// "Object Created": `CopyObject` → `ObjectCreated:Copy`, `CompleteMultipartUpload`
/// → `ObjectCreated:CompleteMultipartUpload`, `POST Object` → `ObjectCreated:Post`,
/// otherwise (`PutObject`) `ObjectCreated:Put`. "Object Deleted": `ObjectRemoved:` or
/// (reason `Lifecycle Expiration`) `LifecycleExpiration:`, then `DeleteMarkerCreated`
/// for deletion-type "Delete Marker Created", else `Delete`.
pub fn s3_event_name(detail_type: &str, detail: &Value) -> Option<&'static str> {
    let reason = str_at(detail, &["reason"]);
    Some(match detail_type {
        "Object Created" => match reason {
            Some("CopyObject") => "ObjectCreated:Copy",
            Some("CompleteMultipartUpload") => "ObjectCreated:CompleteMultipartUpload",
            Some("POST Object" | "PostObject") => "ObjectCreated:Post",
            _ => "ObjectCreated:Put",
        },
        "Object Deleted" => {
            let marker = str_at(detail, &["deletion-type"]) == Some("Delete Marker Created");
            match (reason == Some("Lifecycle Expiration"), marker) {
                (true, true) => "LifecycleExpiration:DeleteMarkerCreated",
                (true, false) => "LifecycleExpiration:Delete",
                (false, true) => "ObjectRemoved:DeleteMarkerCreated",
                (false, false) => "ObjectRemoved:Delete",
            }
        }
        "Object Restore Initiated" => "ObjectRestore:Post",
        "Object Restore Completed" => "ObjectRestore:Completed",
        "Object Restore Expired" => "ObjectRestore:Delete",
        "Object Tags Added" => "ObjectTagging:Put",
        "Object Tags Deleted" => "ObjectTagging:Delete",
        "Object ACL Updated" => "ObjectAcl:Put",
        "Object Storage Class Changed" => "LifecycleTransition",
        "Object Access Tier Changed" => "IntelligentTiering",
        _ => return None,
    })
}

fn s3_eventbridge(v: &Value, pass_eventbridge: bool, configuration_id: &str) -> Decoded {
    let source = str_at(v, &["source"]).unwrap_or_default();
    let detail_type = str_at(v, &["detail-type"]).unwrap_or_default();
    if source != "aws.s3" {
        return Decoded::Invalid(format!("EventBridge event from `{source}` ({detail_type}), not an aws.s3 event"));
    }
    let Some(detail) = v.get("detail").filter(|d| d.is_object()) else {
        return Decoded::Invalid("S3 EventBridge event has no `detail` object".into());
    };
    let Some(bucket) = str_at(detail, &["bucket", "name"]) else {
        return Decoded::Invalid("S3 EventBridge event has no `detail.bucket.name`".into());
    };
    let Some(key) = str_at(detail, &["object", "key"]) else {
        return Decoded::Invalid("S3 EventBridge event has no `detail.object.key`".into());
    };
    let event_name = s3_event_name(detail_type, detail);
    let eb_id = str_at(v, &["id"]);

    if pass_eventbridge {
        let suffix = match (str_at(detail, &["object", "sequencer"]), eb_id) {
            (Some(s), _) | (None, Some(s)) => s.to_string(),
            (None, None) => fingerprint(v.to_string().as_bytes()),
        };
        let meta = Meta {
            bucket: Some(bucket.to_string()),
            key: Some(key.to_string()),
            event_name: Some(event_name.unwrap_or(detail_type).to_string()),
            ..Meta::default()
        };
        return single(format!("{bucket}/{key}/{suffix}"), v.clone(), None, meta);
    }

    let Some(event_name) = event_name else {
        return Decoded::Invalid(format!("S3 EventBridge event `{detail_type}` has no S3 notification equivalent"));
    };
    let Some(region) = str_at(v, &["region"]) else {
        return Decoded::Invalid("S3 EventBridge event has no `region`".into());
    };
    let Some(time) = str_at(v, &["time"]) else {
        return Decoded::Invalid("S3 EventBridge event has no `time`".into());
    };
    let record = s3_record_from_eventbridge(v, detail, S3Names { event_name, region, time, bucket, key, configuration_id });
    match s3_record_event(&record, eb_id) {
        Ok(event) => Decoded::Events(vec![event]),
        Err(reason) => Decoded::Invalid(format!("converted S3 record {reason}")),
    }
}

/// What an S3 record converted from an EventBridge event is named by.
struct S3Names<'a> {
    event_name: &'a str,
    region: &'a str,
    time: &'a str,
    bucket: &'a str,
    key: &'a str,
    configuration_id: &'a str,
}

/// S3's principal for requests it makes itself (lifecycle rules, replication), in
/// `requestParameters.sourceIPAddress` where a service made the request.
const S3_SERVICE: &str = "s3.amazonaws.com";

fn s3_record_from_eventbridge(v: &Value, detail: &Value, names: S3Names<'_>) -> Value {
    let S3Names { event_name, region, time, bucket, key, configuration_id } = names;
    // S3 notifications spell times with milliseconds: 1970-01-01T00:00:00.000Z.
    let event_time = DateTime::parse_from_rfc3339(time)
        .map(|t| t.with_timezone(&Utc).to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_else(|_| time.to_string());
    let bucket_arn = v
        .get("resources")
        .and_then(|r| r.get(0))
        .and_then(Value::as_str)
        .filter(|arn| arn.starts_with("arn:") && arn.ends_with(&format!(":::{bucket}")))
        .map_or_else(|| format!("arn:aws:s3:::{bucket}"), str::to_string);

    let mut object = Map::new();
    object.insert("key".into(), Value::String(encode_s3_key(key)));
    let eb_object = &detail["object"];
    if let Some(size) = eb_object.get("size").filter(|s| s.is_number()) {
        object.insert("size".into(), size.clone());
    }
    for (from, to) in [("etag", "eTag"), ("version-id", "versionId"), ("sequencer", "sequencer")] {
        if let Some(s) = eb_object.get(from).filter(|s| s.is_string()) {
            object.insert(to.into(), s.clone());
        }
    }

    // Fields a real S3 record always has that the EventBridge event does not carry are
    // filled with its closest value (README, "S3 records built from EventBridge events").
    let account = str_at(v, &["account"]).filter(|a| !a.is_empty());
    let requester = str_at(detail, &["requester"]).or(account).unwrap_or(S3_SERVICE);
    let owner = account.unwrap_or(requester);
    let source_ip = str_at(detail, &["source-ip-address"]).unwrap_or(S3_SERVICE);
    let request_id = str_at(detail, &["request-id"]).or_else(|| str_at(v, &["id"])).unwrap_or_default();

    let mut record = json!({
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": event_time,
        "eventName": event_name,
        "userIdentity": { "principalId": requester },
        "requestParameters": { "sourceIPAddress": source_ip },
        "responseElements": { "x-amz-request-id": request_id, "x-amz-id-2": request_id },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id,
            "bucket": { "name": bucket, "ownerIdentity": { "principalId": owner }, "arn": bucket_arn },
            "object": object,
        },
    });
    if event_name == "ObjectRestore:Completed" {
        let mut restore = Map::new();
        if let Some(t) = str_at(detail, &["restore-expiry-time"]) {
            restore.insert("lifecycleRestorationExpiryTime".into(), t.into());
        }
        if let Some(c) = str_at(detail, &["source-storage-class"]) {
            restore.insert("lifecycleRestoreStorageClass".into(), c.into());
        }
        record["glacierEventData"] = json!({ "restoreEventData": restore });
    }
    record
}

#[cfg(test)]
mod tests;
