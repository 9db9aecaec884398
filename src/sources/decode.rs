//! Decoding of SQS message bodies into the events AWS's own Lambda triggers deliver.
//!
//! A function that is triggered directly by S3, SNS, EventBridge or a CloudWatch
//! alarm must work unchanged behind fanin. fanin reads an SQS queue those services
//! deliver to; this module turns one SQS message body into the JSON event(s) the
//! function would have received from the service's own trigger:
//!
//! | decoder | accepted bodies | the function receives |
//! |---|---|---|
//! | [`s3`] | S3 notification `{"Records":[…]}`; `s3:TestEvent`; either inside an SNS envelope (or raw SNS delivery); an `aws.s3` EventBridge event | one `{"Records":[record]}` per record (EventBridge events converted into an S3 record unless passed through) |
//! | [`sns`] | SNS envelope (`"Type":"Notification"`) or, with raw message delivery, any text | Lambda's SNS event `{"Records":[{"EventSource":"aws:sns",…,"Sns":{…}}]}` |
//! | [`eventbridge`] | an EventBridge event | the event as is |
//! | [`cloudwatch_alarm`] | EventBridge "CloudWatch Alarm State Change"; SNS alarm notification (enveloped or raw); an alarm-action event | Lambda's alarm-action event `{"source":"aws.cloudwatch","alarmArn":…,"alarmData":{…}}` |
//!
//! Every decoder returns a [`Decoded`]: events to deliver, a [`Decoded::Skip`] for
//! messages that a direct trigger would never have delivered (S3's `s3:TestEvent`,
//! SNS subscription confirmations), or [`Decoded::Invalid`] with a reason for the
//! dead letter.
//!
//! Shape decisions (where fanin has to fill in what the queue does not carry):
//! - **S3 keys** stay as AWS sent them in the payload (form-encoded, `+` for space);
//!   [`Meta::key`] and [`DecodedEvent::filter_view`] carry the decoded key.
//! - **S3 from EventBridge** becomes an `eventVersion` `"2.1"` record: `eventName`
//!   from `detail-type` + `detail.reason` / `detail.deletion-type` (see
//!   [`s3_event_name`]), key form-encoded by [`encode_s3_key`], `userIdentity.principalId`
//!   = `detail.requester`, `requestParameters.sourceIPAddress` = `detail.source-ip-address`
//!   (`s3.amazonaws.com` where S3 itself made the request), both `x-amz-request-id` and
//!   `x-amz-id-2` = `detail.request-id`, `configurationId` = `fanin-<source>` (the Id
//!   `fanin setup` gives a direct notification), `bucket.ownerIdentity.principalId` = the
//!   event's `account` (the bucket owner's, where EventBridge delivers S3's events).
//! - **Raw SNS delivery** has no envelope: `MessageId` is the SQS message id,
//!   `Timestamp` the SQS `SentTimestamp`, `Subject` null, `MessageAttributes` the SQS
//!   message attributes, `SignatureVersion` and `Signature` are present but empty strings
//!   (nothing can verify a raw message), `UnsubscribeUrl` is SNS's unsubscribe link for the
//!   subscription and `SigningCertUrl` points at SNS's endpoint in the topic's region (parsers
//!   such as Powertools' `SnsModel` require URLs there; typed consumers such as
//!   `aws_lambda_events::sns::SnsMessage` require every one of these fields).
//! - **`EventSubscriptionArn`**: the configured subscription ARN, else the
//!   `SubscriptionArn` in the envelope's `UnsubscribeURL`, else `<TopicArn>:fanin`.
//! - **Alarms from SNS** carry less than the alarm action: `previousState` has only
//!   `value`, `state` has no `reasonData`, a single-metric alarm's metric gets id
//!   `"m1"` and its `Statistic` is spelled as the CloudWatch API does (`AVERAGE` →
//!   `Average`); `region` comes from the alarm ARN (SNS gives a display name).
//! - **Ids** are stable across redeliveries: S3 `bucket/key/sequencer` (decoded key;
//!   without a sequencer, the EventBridge id or a hash of the record), SNS `MessageId`
//!   (SQS message id for raw delivery), EventBridge `id` (else a hash of the body),
//!   alarm `alarmArn@state.timestamp`.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use crate::event::fingerprint;

/// Skip reason for S3's `s3:TestEvent`.
pub const SKIP_S3_TEST_EVENT: &str = "s3:TestEvent";
/// Skip reason for an SNS `SubscriptionConfirmation` message.
pub const SKIP_SNS_SUBSCRIPTION_CONFIRMATION: &str = "sns:SubscriptionConfirmation";
/// Skip reason for an SNS `UnsubscribeConfirmation` message.
pub const SKIP_SNS_UNSUBSCRIBE_CONFIRMATION: &str = "sns:UnsubscribeConfirmation";

/// What one SQS message body became.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// One or more events (an S3 notification with several records gives several).
    Events(Vec<DecodedEvent>),
    /// Nothing to deliver, acknowledged and counted (S3's `s3:TestEvent`, SNS
    /// subscription confirmations); the `&'static str` says why.
    Skip(&'static str),
    /// Not what this source type expects: the caller dead-letters it as
    /// InvalidEvent with this reason.
    Invalid(String),
}

/// One event to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedEvent {
    /// Stable id, so that a redelivery has the same id (see the module doc).
    pub id: String,
    /// What the function receives.
    pub payload: Value,
    /// What route filters see when it differs from the payload (S3: the same
    /// record with the key URL-decoded), else `None`.
    pub filter_view: Option<Value>,
    /// Metadata for source-level filters and logs.
    pub meta: Meta,
}

/// Metadata for source-level filters and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// S3 bucket name.
    pub bucket: Option<String>,
    /// S3 object key, decoded.
    pub key: Option<String>,
    /// S3 `eventName` (`ObjectCreated:Put`…, also for EventBridge events when a
    /// mapping exists); EventBridge `detail-type`.
    pub event_name: Option<String>,
    /// CloudWatch alarm name.
    pub alarm_name: Option<String>,
    /// CloudWatch alarm state (`OK`, `ALARM`, `INSUFFICIENT_DATA`).
    pub state: Option<String>,
}

/// What the SQS message and the source configuration tell about an SNS delivery
/// (needed for raw message delivery, where the body carries no envelope).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SnsContext {
    /// Topic ARN from the source configuration (required for raw delivery).
    pub topic_arn: Option<String>,
    /// Subscription ARN from the source configuration.
    pub subscription_arn: Option<String>,
    /// SQS message id: the `MessageId` of a raw delivery.
    pub message_id: String,
    /// SQS `SentTimestamp`: the `Timestamp` of a raw delivery (now if absent).
    pub sent_timestamp: Option<DateTime<Utc>>,
    /// SQS message attributes as `(name, type, value)`: the `MessageAttributes`
    /// of a raw delivery.
    pub message_attributes: Vec<(String, String, String)>,
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

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
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b'/' => {
                out.push(b as char)
            }
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

fn percent_decode(s: &str, plus_is_space: bool) -> String {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' => {
                let digit = |j: usize| bytes.get(j).copied().and_then(hex);
                match (digit(i + 1), digit(i + 2)) {
                    (Some(h), Some(l)) => {
                        out.push(h << 4 | l);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

fn parse_body(body: &str) -> Result<Value, String> {
    serde_json::from_str(body).map_err(|e| format!("body is not valid JSON: {e}"))
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |cur, p| cur.get(p))?.as_str()
}

fn is_eventbridge(obj: &Map<String, Value>) -> bool {
    obj.get("source").is_some_and(Value::is_string)
        && obj.get("detail-type").is_some_and(Value::is_string)
}

fn prefix_invalid(d: Decoded, prefix: &str) -> Decoded {
    match d {
        Decoded::Invalid(r) => Decoded::Invalid(format!("{prefix}{r}")),
        other => other,
    }
}

fn single(id: String, payload: Value, filter_view: Option<Value>, meta: Meta) -> Decoded {
    Decoded::Events(vec![DecodedEvent {
        id,
        payload,
        filter_view,
        meta,
    }])
}

// ---------------------------------------------------------------------------
// SNS envelope
// ---------------------------------------------------------------------------

/// An SNS notification, from an envelope or rebuilt from a raw delivery.
struct SnsNotification {
    message_id: String,
    topic_arn: String,
    subject: Option<String>,
    message: String,
    timestamp: String,
    signature_version: String,
    signature: String,
    signing_cert_url: String,
    unsubscribe_url: String,
    attributes: BTreeMap<String, (String, String)>,
}

enum Envelope {
    /// Not an SNS envelope.
    Not,
    /// `"Type":"Notification"` with everything Lambda's event needs.
    Notification(Box<SnsNotification>),
    /// A subscription/unsubscription confirmation: never delivered to Lambda.
    Confirmation(&'static str),
    /// Looks like an envelope (`Type`, `TopicArn`, `Message`) but is broken.
    Malformed(String),
}

fn classify_sns(v: &Value) -> Envelope {
    let Some(obj) = v.as_object() else {
        return Envelope::Not;
    };
    let has = |k: &str| obj.contains_key(k);
    match obj.get("Type").and_then(Value::as_str) {
        Some("Notification") if has("TopicArn") && has("Message") => {
            match parse_notification(obj) {
                Ok(n) => Envelope::Notification(Box::new(n)),
                Err(r) => Envelope::Malformed(r),
            }
        }
        Some("SubscriptionConfirmation") if has("TopicArn") && has("Token") => {
            Envelope::Confirmation(SKIP_SNS_SUBSCRIPTION_CONFIRMATION)
        }
        Some("UnsubscribeConfirmation") if has("TopicArn") && has("Token") => {
            Envelope::Confirmation(SKIP_SNS_UNSUBSCRIBE_CONFIRMATION)
        }
        _ => Envelope::Not,
    }
}

fn parse_notification(obj: &Map<String, Value>) -> Result<SnsNotification, String> {
    let required = |k: &str| match obj.get(k) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("SNS envelope field `{k}` is not a string")),
        None => Err(format!("SNS envelope has no `{k}`")),
    };
    // Absent or null → None; Lambda's spelling accepted as well as SQS's.
    let optional = |keys: &[&str]| -> Result<Option<String>, String> {
        match keys
            .iter()
            .find_map(|k| obj.get(*k).filter(|v| !v.is_null()))
        {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("SNS envelope field `{}` is not a string", keys[0])),
        }
    };
    let mut attributes = BTreeMap::new();
    match obj.get("MessageAttributes") {
        None | Some(Value::Null) => {}
        Some(Value::Object(attrs)) => {
            for (name, attr) in attrs {
                match (str_at(attr, &["Type"]), str_at(attr, &["Value"])) {
                    (Some(t), Some(v)) => {
                        attributes.insert(name.clone(), (t.to_string(), v.to_string()));
                    }
                    _ => return Err(format!(
                        "SNS envelope message attribute `{name}` has no string `Type` and `Value`"
                    )),
                }
            }
        }
        Some(_) => return Err("SNS envelope field `MessageAttributes` is not an object".into()),
    }
    Ok(SnsNotification {
        message_id: required("MessageId")?,
        topic_arn: required("TopicArn")?,
        subject: optional(&["Subject"])?,
        message: required("Message")?,
        timestamp: required("Timestamp")?,
        signature_version: optional(&["SignatureVersion"])?.unwrap_or_default(),
        signature: optional(&["Signature"])?.unwrap_or_default(),
        signing_cert_url: optional(&["SigningCertURL", "SigningCertUrl"])?.unwrap_or_default(),
        unsubscribe_url: optional(&["UnsubscribeURL", "UnsubscribeUrl"])?.unwrap_or_default(),
        attributes,
    })
}

/// The `SubscriptionArn` query parameter of an SNS `UnsubscribeURL`.
fn subscription_from_unsubscribe_url(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "SubscriptionArn")
        .map(|(_, v)| percent_decode(v, false))
        .filter(|v| !v.is_empty())
}

fn lambda_sns_event(n: &SnsNotification, subscription_arn: &str) -> Value {
    let attributes: Map<String, Value> = n
        .attributes
        .iter()
        .map(|(name, (t, v))| (name.clone(), json!({ "Type": t, "Value": v })))
        .collect();
    json!({
        "Records": [{
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": subscription_arn,
            "Sns": {
                "Type": "Notification",
                "MessageId": n.message_id,
                "TopicArn": n.topic_arn,
                "Subject": n.subject,
                "Message": n.message,
                "Timestamp": n.timestamp,
                "SignatureVersion": n.signature_version,
                "Signature": n.signature,
                "SigningCertUrl": n.signing_cert_url,
                "UnsubscribeUrl": n.unsubscribe_url,
                "MessageAttributes": attributes,
            }
        }]
    })
}

/// Decodes an SNS delivery into Lambda's SNS event.
///
/// A JSON object with `"Type":"Notification"`, `TopicArn` and `Message` is an
/// envelope (missing `MessageId`, `Timestamp`… → Invalid); an SNS
/// (un)subscription confirmation is skipped; anything else, JSON or not, is a raw
/// message delivery and is rebuilt from `ctx` (which then needs `topic_arn`).
pub fn sns(body: &str, ctx: &SnsContext) -> Decoded {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        match classify_sns(&v) {
            Envelope::Notification(n) => {
                let subscription = ctx
                    .subscription_arn
                    .clone()
                    .or_else(|| subscription_from_unsubscribe_url(&n.unsubscribe_url))
                    .unwrap_or_else(|| format!("{}:fanin", n.topic_arn));
                let payload = lambda_sns_event(&n, &subscription);
                return single(n.message_id.clone(), payload, None, Meta::default());
            }
            Envelope::Confirmation(reason) => return Decoded::Skip(reason),
            Envelope::Malformed(reason) => return Decoded::Invalid(reason),
            Envelope::Not => {}
        }
    }
    let Some(topic_arn) = ctx.topic_arn.clone() else {
        return Decoded::Invalid(
            "raw SNS message (no SNS envelope) and no topic_arn configured for the source".into(),
        );
    };
    let subscription = ctx.subscription_arn.clone().unwrap_or_else(|| format!("{topic_arn}:fanin"));
    // SNS's endpoint in the topic's region: where the unsubscribe link and the certificate live.
    let sns_endpoint = format!("https://sns.{}.amazonaws.com", topic_arn.split(':').nth(3).filter(|r| !r.is_empty()).unwrap_or("us-east-1"));
    let n = SnsNotification {
        message_id: ctx.message_id.clone(),
        subject: None,
        message: body.to_string(),
        timestamp: ctx
            .sent_timestamp
            .unwrap_or_else(Utc::now)
            .to_rfc3339_opts(SecondsFormat::Millis, true),
        signature_version: String::new(),
        signature: String::new(),
        signing_cert_url: format!("{sns_endpoint}/SimpleNotificationService.pem"),
        unsubscribe_url: format!("{sns_endpoint}/?Action=Unsubscribe&SubscriptionArn={subscription}"),
        topic_arn,
        attributes: ctx
            .message_attributes
            .iter()
            .map(|(name, t, v)| (name.clone(), (t.clone(), v.clone())))
            .collect(),
    };
    let payload = lambda_sns_event(&n, &subscription);
    single(n.message_id, payload, None, Meta::default())
}

// ---------------------------------------------------------------------------
// S3
// ---------------------------------------------------------------------------

/// Decodes an S3 notification (direct, via SNS enveloped or raw, or from
/// EventBridge) into one `{"Records":[record]}` event per record.
///
/// EventBridge `aws.s3` events are converted into Lambda's S3 record, or passed
/// through as they are when `pass_eventbridge` is true. `configuration_id` names the
/// notification in records converted from EventBridge (S3's own carry the configuration's Id).
pub fn s3(body: &str, pass_eventbridge: bool, configuration_id: &str) -> Decoded {
    let v = match parse_body(body) {
        Ok(v) => v,
        Err(r) => return Decoded::Invalid(r),
    };
    match classify_sns(&v) {
        Envelope::Notification(n) => match serde_json::from_str::<Value>(&n.message) {
            Ok(inner) => {
                prefix_invalid(s3_value(&inner, pass_eventbridge, configuration_id), "SNS envelope Message: ")
            }
            Err(e) => Decoded::Invalid(format!(
                "SNS envelope Message is not an S3 notification (not JSON: {e})"
            )),
        },
        Envelope::Confirmation(reason) => Decoded::Skip(reason),
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
    Decoded::Invalid(
        "not an S3 notification (no `Records`, not an s3:TestEvent, not an aws.s3 EventBridge event)"
            .into(),
    )
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
        return Decoded::Invalid(format!(
            "EventBridge event from `{source}` ({detail_type}), not an aws.s3 event"
        ));
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
        return Decoded::Invalid(format!(
            "S3 EventBridge event `{detail_type}` has no S3 notification equivalent"
        ));
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
        .map(|t| {
            t.with_timezone(&Utc)
                .to_rfc3339_opts(SecondsFormat::Millis, true)
        })
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
    for (from, to) in [
        ("etag", "eTag"),
        ("version-id", "versionId"),
        ("sequencer", "sequencer"),
    ] {
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

// ---------------------------------------------------------------------------
// EventBridge
// ---------------------------------------------------------------------------

/// Passes an EventBridge event (a JSON object with string `source` and
/// `detail-type`) through as is; id = its `id` (else a hash of the body).
pub fn eventbridge(body: &str) -> Decoded {
    let v = match parse_body(body) {
        Ok(v) => v,
        Err(r) => return Decoded::Invalid(r),
    };
    let Some(obj) = v.as_object() else {
        return Decoded::Invalid("not an EventBridge event (not a JSON object)".into());
    };
    if !is_eventbridge(obj) {
        return Decoded::Invalid(
            "not an EventBridge event (no string `source` and `detail-type`)".into(),
        );
    }
    let id =
        str_at(&v, &["id"]).map_or_else(|| fingerprint(v.to_string().as_bytes()), str::to_string);
    let meta = Meta {
        event_name: str_at(&v, &["detail-type"]).map(str::to_string),
        ..Meta::default()
    };
    single(id, v, None, meta)
}

// ---------------------------------------------------------------------------
// CloudWatch alarms
// ---------------------------------------------------------------------------

const ALARM_STATES: [&str; 3] = ["OK", "ALARM", "INSUFFICIENT_DATA"];

/// Decodes a CloudWatch alarm state change into the event Lambda receives from
/// an alarm action: from an EventBridge "CloudWatch Alarm State Change" event,
/// an SNS alarm notification (enveloped or raw), or an alarm-action event
/// itself (passed as is). States other than `OK`, `ALARM`, `INSUFFICIENT_DATA`
/// are Invalid. `account` stands in where the message names none (the emulators' events).
pub fn cloudwatch_alarm(body: &str, account: &str) -> Decoded {
    let v = match parse_body(body) {
        Ok(v) => v,
        Err(r) => return Decoded::Invalid(r),
    };
    match classify_sns(&v) {
        Envelope::Notification(n) => match serde_json::from_str::<Value>(&n.message) {
            Ok(inner) => prefix_invalid(alarm_value(&inner, account), "SNS envelope Message: "),
            Err(e) => Decoded::Invalid(format!(
                "SNS envelope Message is not a CloudWatch alarm (not JSON: {e})"
            )),
        },
        Envelope::Confirmation(reason) => Decoded::Skip(reason),
        Envelope::Malformed(reason) => Decoded::Invalid(reason),
        Envelope::Not => alarm_value(&v, account),
    }
}

/// The alarm-action event for an alarm given in the shape of an SNS alarm notification
/// (`AlarmName`, `NewStateValue`, `Trigger`…): how the polling source, which reads
/// `DescribeAlarms`, builds the same event the queue-fed source delivers.
pub fn alarm_action(sns_message: &Map<String, Value>, account: &str) -> Result<DecodedEvent, String> {
    alarm_from_sns_message(sns_message, account).and_then(alarm_event)
}

fn alarm_value(v: &Value, account: &str) -> Decoded {
    let Some(obj) = v.as_object() else {
        return Decoded::Invalid("not a CloudWatch alarm (not a JSON object)".into());
    };
    let payload =
        if obj.contains_key("alarmData") {
            Ok(v.clone())
        } else if is_eventbridge(obj) {
            alarm_from_eventbridge(v, account)
        } else if obj.contains_key("AlarmName") && obj.contains_key("NewStateValue") {
            alarm_from_sns_message(obj, account)
        } else {
            Err("not a CloudWatch alarm (expected an EventBridge \"CloudWatch Alarm State Change\" \
             event, an SNS alarm notification or an alarm action event)"
            .to_string())
        };
    match payload.and_then(alarm_event) {
        Ok(event) => Decoded::Events(vec![event]),
        Err(reason) => Decoded::Invalid(reason),
    }
}

fn check_state(what: &str, value: Option<&str>) -> Result<(), String> {
    match value {
        Some(s) if ALARM_STATES.contains(&s) => Ok(()),
        Some(s) => Err(format!(
            "alarm {what} `{s}` is not OK, ALARM or INSUFFICIENT_DATA"
        )),
        None => Err(format!("alarm has no {what}")),
    }
}

/// Validates an alarm-action payload and wraps it as an event.
fn alarm_event(payload: Value) -> Result<DecodedEvent, String> {
    if let Some(source) = payload.get("source") {
        if source.as_str() != Some("aws.cloudwatch") {
            return Err(format!(
                "alarm event source is {source}, not \"aws.cloudwatch\""
            ));
        }
    }
    let arn = str_at(&payload, &["alarmArn"]).ok_or("alarm has no alarm ARN")?;
    let data = payload.get("alarmData").ok_or("alarm has no `alarmData`")?;
    let name = str_at(data, &["alarmName"]).ok_or("alarm has no name")?;
    let state = str_at(data, &["state", "value"]);
    check_state("state", state)?;
    let timestamp = str_at(data, &["state", "timestamp"]).ok_or("alarm state has no timestamp")?;
    if let Some(previous) = data.get("previousState").filter(|p| !p.is_null()) {
        check_state("previous state", str_at(previous, &["value"]))?;
    }
    Ok(DecodedEvent {
        id: format!("{arn}@{timestamp}"),
        meta: Meta {
            alarm_name: Some(name.to_string()),
            state: state.map(str::to_string),
            ..Meta::default()
        },
        payload,
        filter_view: None,
    })
}

/// The account field of an alarm ARN (`arn:aws:cloudwatch:<region>:<account>:alarm:<name>`).
fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

fn alarm_from_eventbridge(v: &Value, fallback_account: &str) -> Result<Value, String> {
    let source = str_at(v, &["source"]).unwrap_or_default();
    let detail_type = str_at(v, &["detail-type"]).unwrap_or_default();
    if source != "aws.cloudwatch" || detail_type != "CloudWatch Alarm State Change" {
        return Err(format!(
            "EventBridge event `{source}` / `{detail_type}` is not a CloudWatch alarm state change"
        ));
    }
    let detail = v
        .get("detail")
        .filter(|d| d.is_object())
        .ok_or("alarm EventBridge event has no `detail` object")?;
    let region = str_at(v, &["region"]).unwrap_or_default();
    let resource = v.get("resources").and_then(|r| r.get(0)).and_then(Value::as_str);
    let account = str_at(v, &["account"])
        .filter(|a| !a.is_empty())
        .or_else(|| resource.and_then(arn_account))
        .unwrap_or(fallback_account);
    let arn = match resource {
        Some(arn) => arn.to_string(),
        None => {
            let name = str_at(detail, &["alarmName"]).ok_or("alarm has no name")?;
            format!("arn:aws:cloudwatch:{region}:{account}:alarm:{name}")
        }
    };
    // The alarm action's `time` is the state change time, in CloudWatch's format.
    let time = str_at(detail, &["state", "timestamp"])
        .or_else(|| str_at(v, &["time"]))
        .unwrap_or_default();
    Ok(json!({
        "source": "aws.cloudwatch",
        "alarmArn": arn,
        "accountId": account,
        "time": time,
        "region": region,
        "alarmData": detail,
    }))
}

/// `AVERAGE` → `Average` etc.: SNS alarm messages spell statistics as an enum.
fn statistic_name(s: &str) -> &str {
    match s {
        "AVERAGE" => "Average",
        "SUM" => "Sum",
        "SAMPLE_COUNT" => "SampleCount",
        "MINIMUM" => "Minimum",
        "MAXIMUM" => "Maximum",
        other => other,
    }
}

/// SNS `[{"name":…,"value":…}]` → alarm action `{name: value}`.
fn dimensions(v: Option<&Value>) -> Map<String, Value> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|d| {
            let name = str_at(d, &["name"]).or_else(|| str_at(d, &["Name"]))?;
            let value = d.get("value").or_else(|| d.get("Value"))?;
            Some((name.to_string(), value.clone()))
        })
        .collect()
}

/// Copies the fields present in `from` into `to` under new names.
fn copy_fields(from: &Value, to: &mut Map<String, Value>, fields: &[(&str, &str)]) {
    for (src, dst) in fields {
        if let Some(v) = from.get(*src).filter(|v| !v.is_null()) {
            to.insert((*dst).to_string(), v.clone());
        }
    }
}

fn metric_from_sns(m: &Value) -> Value {
    let mut out = Map::new();
    copy_fields(
        m,
        &mut out,
        &[
            ("Id", "id"),
            ("Expression", "expression"),
            ("Label", "label"),
        ],
    );
    if let Some(stat) = m.get("MetricStat").filter(|s| s.is_object()) {
        let metric = &stat["Metric"];
        let mut metric_out = Map::new();
        copy_fields(
            metric,
            &mut metric_out,
            &[("Namespace", "namespace"), ("MetricName", "name")],
        );
        metric_out.insert(
            "dimensions".into(),
            dimensions(metric.get("Dimensions")).into(),
        );
        let mut stat_out = Map::new();
        stat_out.insert("metric".into(), metric_out.into());
        copy_fields(
            stat,
            &mut stat_out,
            &[("Period", "period"), ("Stat", "stat"), ("Unit", "unit")],
        );
        out.insert("metricStat".into(), stat_out.into());
    }
    copy_fields(
        m,
        &mut out,
        &[
            ("ReturnData", "returnData"),
            ("Period", "period"),
            ("AccountId", "accountId"),
        ],
    );
    out.into()
}

fn alarm_from_sns_message(obj: &Map<String, Value>, fallback_account: &str) -> Result<Value, String> {
    let field = |k: &str| obj.get(k).and_then(Value::as_str);
    let name = field("AlarmName").ok_or("alarm has no string `AlarmName`")?;
    let arn = field("AlarmArn").ok_or("alarm has no `AlarmArn`")?;
    let new_state = field("NewStateValue").ok_or("alarm has no string `NewStateValue`")?;
    let time = field("StateChangeTime").ok_or("alarm has no `StateChangeTime`")?;
    // arn:aws:cloudwatch:<region>:<account>:alarm:<name>; SNS's `Region` is a display name.
    let arn_parts: Vec<&str> = arn.splitn(6, ':').collect();
    let region = arn_parts
        .get(3)
        .copied()
        .or_else(|| field("Region"))
        .unwrap_or_default();
    let account = field("AWSAccountId")
        .filter(|a| !a.is_empty())
        .or_else(|| arn_account(arn))
        .unwrap_or(fallback_account);

    let mut configuration = Map::new();
    if let Some(description) = field("AlarmDescription") {
        configuration.insert("description".into(), description.into());
    }
    if let Some(rule) = field("AlarmRule") {
        configuration.insert("alarmRule".into(), rule.into());
        let v = Value::Object(obj.clone());
        copy_fields(
            &v,
            &mut configuration,
            &[
                ("ActionsSuppressor", "actionsSuppressor"),
                ("ActionsSuppressorWaitPeriod", "actionsSuppressorWaitPeriod"),
                (
                    "ActionsSuppressorExtensionPeriod",
                    "actionsSuppressorExtensionPeriod",
                ),
            ],
        );
    } else if let Some(trigger) = obj.get("Trigger").filter(|t| t.is_object()) {
        let metrics: Vec<Value> = match trigger.get("Metrics").and_then(Value::as_array) {
            Some(metrics) if !metrics.is_empty() => metrics.iter().map(metric_from_sns).collect(),
            _ => {
                let statistic = str_at(trigger, &["Statistic"])
                    .or_else(|| str_at(trigger, &["ExtendedStatistic"]))
                    .map(statistic_name);
                let mut metric = Map::new();
                copy_fields(
                    trigger,
                    &mut metric,
                    &[("Namespace", "namespace"), ("MetricName", "name")],
                );
                metric.insert(
                    "dimensions".into(),
                    dimensions(trigger.get("Dimensions")).into(),
                );
                let mut stat = Map::new();
                stat.insert("metric".into(), metric.into());
                copy_fields(trigger, &mut stat, &[("Period", "period")]);
                if let Some(statistic) = statistic {
                    stat.insert("stat".into(), statistic.into());
                }
                copy_fields(trigger, &mut stat, &[("Unit", "unit")]);
                vec![json!({ "id": "m1", "metricStat": stat, "returnData": true })]
            }
        };
        configuration.insert("metrics".into(), metrics.into());
    }

    let mut alarm_data = json!({
        "alarmName": name,
        "state": {
            "value": new_state,
            "reason": field("NewStateReason").unwrap_or_default(),
            "timestamp": time,
        },
        "configuration": configuration,
    });
    if let Some(old) = field("OldStateValue") {
        alarm_data["previousState"] = json!({ "value": old });
    }
    Ok(json!({
        "source": "aws.cloudwatch",
        "alarmArn": arn,
        "accountId": account,
        "time": time,
        "region": region,
        "alarmData": alarm_data,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn events(d: Decoded) -> Vec<DecodedEvent> {
        match d {
            Decoded::Events(e) => e,
            other => panic!("expected events, got {other:?}"),
        }
    }

    fn one(d: Decoded) -> DecodedEvent {
        let mut e = events(d);
        assert_eq!(e.len(), 1, "expected one event: {e:?}");
        e.remove(0)
    }

    fn invalid(d: Decoded) -> String {
        match d {
            Decoded::Invalid(r) => r,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    /// An SNS→SQS envelope whose Message is `message`.
    fn envelope(message: &str) -> String {
        json!({
            "Type": "Notification",
            "MessageId": "63a3f6b6-d533-4a47-aef9-fcf5cf758c76",
            "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
            "Subject": "Amazon S3 Notification",
            "Message": message,
            "Timestamp": "2012-03-29T05:12:16.901Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLEnTrFPa3...",
            "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
            "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-west-2:123456789012:MyTopic:c7fe3a54-ab0e-4ec2-88e0-db410a0f2bee"
        })
        .to_string()
    }

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
        assert_eq!(
            encode_s3_key("in/file 1 (copy)+€=.json"),
            "in/file+1+%28copy%29%2B%E2%82%AC%3D.json"
        );
        assert_eq!(
            encode_s3_key("dt=2018-05-04/_SUCCESS"),
            "dt%3D2018-05-04/_SUCCESS"
        );
        for key in ["a b/c+d/100%/ü€😀/x:y=z&q?#", "plain/key.txt", " ", "+%"] {
            assert_eq!(decode_s3_key(&encode_s3_key(key)), key);
        }
    }

    // ----- S3 ----------------------------------------------------------------

    /// Lambda Developer Guide, "Using AWS Lambda with Amazon S3", example event.
    fn lambda_s3_sample() -> Value {
        json!({
          "Records": [{
            "eventVersion": "2.0",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": "1970-01-01T00:00:00.000Z",
            "eventName": "ObjectCreated:Put",
            "userIdentity": { "principalId": "EXAMPLE" },
            "requestParameters": { "sourceIPAddress": "127.0.0.1" },
            "responseElements": {
              "x-amz-request-id": "EXAMPLE123456789",
              "x-amz-id-2": "EXAMPLE123/5678abcdefghijklambdaisawesome/mnopqrstuvwxyzABCDEFGH"
            },
            "s3": {
              "s3SchemaVersion": "1.0",
              "configurationId": "testConfigRule",
              "bucket": {
                "name": "example-bucket",
                "ownerIdentity": { "principalId": "EXAMPLE" },
                "arn": "arn:aws:s3:::example-bucket"
              },
              "object": {
                "key": "test%2Fkey",
                "size": 1024,
                "eTag": "0123456789abcdef0123456789abcdef",
                "sequencer": "0A1B2C3D4E5F678901"
              }
            }
          }]
        })
    }

    fn record(key: &str, sequencer: &str) -> Value {
        let mut r = lambda_s3_sample()["Records"][0].clone();
        r["s3"]["object"]["key"] = key.into();
        r["s3"]["object"]["sequencer"] = sequencer.into();
        r
    }

    #[test]
    fn s3_lambda_sample_passes_unchanged() {
        let sample = lambda_s3_sample();
        let e = one(s3(&sample.to_string(), false, "fanin-uploads"));
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
        assert_eq!(
            typed.records[0].s3.object.key.as_deref(),
            Some("test%2Fkey")
        );
    }

    #[test]
    fn s3_multi_record_gives_one_event_per_record() {
        let body = json!({ "Records": [
            record("a.txt", "001"), record("b+c.txt", "002"), record("d.txt", "003")
        ]});
        let evs = events(s3(&body.to_string(), false, "fanin-uploads"));
        assert_eq!(evs.len(), 3);
        for (i, e) in evs.iter().enumerate() {
            assert_eq!(
                e.payload,
                json!({ "Records": [body["Records"][i].clone()] })
            );
        }
        let ids: Vec<_> = evs.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "example-bucket/a.txt/001",
                "example-bucket/b c.txt/002",
                "example-bucket/d.txt/003"
            ]
        );
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
            let e = one(s3(&body.to_string(), false, "fanin-uploads"));
            assert_eq!(
                e.payload["Records"][0]["s3"]["object"]["key"], raw,
                "payload keeps AWS's key"
            );
            assert_eq!(e.meta.key.as_deref(), Some(decoded));
            assert_eq!(e.id, format!("example-bucket/{decoded}/0055AED6DCD90281E5"));
            let view_key = e
                .filter_view
                .as_ref()
                .map(|v| v["Records"][0]["s3"]["object"]["key"].clone());
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
        assert_eq!(s3(&test_event, false, "fanin-uploads"), Decoded::Skip("s3:TestEvent"));
        assert_eq!(
            s3(&envelope(&test_event), false, "fanin-uploads"),
            Decoded::Skip("s3:TestEvent")
        );
        assert_eq!(s3(&test_event, true, "fanin-uploads"), Decoded::Skip(SKIP_S3_TEST_EVENT));
    }

    #[test]
    fn s3_via_sns_envelope_and_raw_delivery_are_the_same() {
        let notification =
            json!({ "Records": [record("a+b.csv", "01"), record("c.csv", "02")] }).to_string();
        let direct = s3(&notification, false, "fanin-uploads");
        let wrapped = s3(&envelope(&notification), false, "fanin-uploads");
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
        let e = one(s3(&body, false, "fanin-uploads"));
        assert_eq!(e.payload["Records"][0], rec);
        assert!(e.id.starts_with("b/x y/h"), "hash fallback: {}", e.id);
        assert_eq!(one(s3(&body, false, "fanin-uploads")).id, e.id, "stable across redeliveries");
        let other =
            json!({ "Records": [{ "eventName": "ObjectRemoved:Delete", "s3": rec["s3"] }] })
                .to_string();
        assert_ne!(one(s3(&other, false, "fanin-uploads")).id, e.id);
    }

    #[test]
    fn s3_malformed_bodies_are_invalid() {
        let r = invalid(s3(
            r#"{"Records":[{"eventName":"ObjectCreated:Put"}]}"#,
            false,
        "fanin-uploads"));
        assert!(r.contains("record 0") && r.contains("`s3`"), "{r}");
        let r = invalid(s3(
            r#"{"Records":[{"s3":{"bucket":{"name":"b"},"object":{}}}]}"#,
            false,
        "fanin-uploads"));
        assert!(r.contains("s3.object.key"), "{r}");
        let r = invalid(s3(
            r#"{"Records":[{"s3":{"bucket":{},"object":{"key":"k"}}}]}"#,
            false,
        "fanin-uploads"));
        assert!(r.contains("s3.bucket.name"), "{r}");
        let good = record("k", "1");
        let r = invalid(s3(
            &json!({ "Records": [good, {"x": 1}] }).to_string(),
            false,
        "fanin-uploads"));
        assert!(r.starts_with("S3 record 1 "), "{r}");
        assert!(invalid(s3(r#"{"Records":[]}"#, false, "fanin-uploads")).contains("no records"));
        assert!(invalid(s3(r#"{"Records":{}}"#, false, "fanin-uploads")).contains("not an array"));
        let truncated = &lambda_s3_sample().to_string()[..120];
        assert!(invalid(s3(truncated, false, "fanin-uploads")).starts_with("body is not valid JSON"));
        assert!(invalid(s3("", false, "fanin-uploads")).starts_with("body is not valid JSON"));
        assert!(invalid(s3(r#"{"hello":"world"}"#, false, "fanin-uploads")).contains("not an S3 notification"));
        assert!(invalid(s3("[1,2]", false, "fanin-uploads")).contains("not an S3 notification"));
    }

    #[test]
    fn s3_envelope_with_wrong_message_is_invalid() {
        let r = invalid(s3(&envelope("Hello world!"), false, "fanin-uploads"));
        assert!(
            r.contains("SNS envelope Message is not an S3 notification"),
            "{r}"
        );
        let r = invalid(s3(
            &envelope(r#"{"AlarmName":"x","NewStateValue":"OK"}"#),
            false,
        "fanin-uploads"));
        assert!(
            r.starts_with("SNS envelope Message: not an S3 notification"),
            "{r}"
        );
        let r = invalid(s3(
            &envelope(r#"{"Records":[{"eventSource":"aws:sqs"}]}"#),
            false,
        "fanin-uploads"));
        assert!(
            r.starts_with("SNS envelope Message: S3 record 0 has no `s3`"),
            "{r}"
        );
        let mut env: Value = serde_json::from_str(&envelope("{}")).unwrap();
        env.as_object_mut().unwrap().remove("MessageId");
        assert_eq!(
            invalid(s3(&env.to_string(), false, "fanin-uploads")),
            "SNS envelope has no `MessageId`"
        );
    }

    /// S3 User Guide, "EventBridge event message structure", Object Created.
    fn eb_object_created() -> Value {
        json!({
          "version": "0",
          "id": "17793124-05d4-b198-2fde-7ededc63b103",
          "detail-type": "Object Created",
          "source": "aws.s3",
          "account": "111122223333",
          "time": "2021-11-12T00:00:00Z",
          "region": "ca-central-1",
          "resources": ["arn:aws:s3:::amzn-s3-demo-bucket1"],
          "detail": {
            "version": "0",
            "bucket": { "name": "amzn-s3-demo-bucket1" },
            "object": {
              "key": "example-key",
              "size": 5,
              "etag": "b1946ac92492d2347c6235b4d2611184",
              "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
              "sequencer": "617f08299329d189"
            },
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "1.2.3.4",
            "reason": "PutObject"
          }
        })
    }

    #[test]
    fn s3_eventbridge_put_object_becomes_lambda_s3_record() {
        let e = one(s3(&eb_object_created().to_string(), false, "fanin-uploads"));
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
        let e = one(s3(&eb.to_string(), false, "fanin-uploads"));
        let rec = &e.payload["Records"][0];
        assert_eq!(rec["eventName"], "ObjectCreated:CompleteMultipartUpload");
        let encoded = "raw/health+check/2023-08-08T14%3A03%3A40.532432%2B1.zip";
        assert_eq!(rec["s3"]["object"]["key"], encoded);
        assert_eq!(
            e.meta.key.as_deref(),
            Some("raw/health check/2023-08-08T14:03:40.532432+1.zip")
        );
        let view = e.filter_view.unwrap();
        assert_eq!(
            view["Records"][0]["s3"]["object"]["key"],
            "raw/health check/2023-08-08T14:03:40.532432+1.zip"
        );
        // The same object event delivered by an S3 notification gets the same id.
        let direct = json!({ "Records": [{ "eventName": "ObjectCreated:CompleteMultipartUpload",
            "s3": { "bucket": { "name": "amzn-s3-demo-bucket1" },
                    "object": { "key": encoded, "sequencer": "617f08299329d189" } } }] });
        assert_eq!(one(s3(&direct.to_string(), false, "fanin-uploads")).id, e.id);
    }

    #[test]
    fn s3_eventbridge_event_names() {
        let name = |detail_type: &str, detail: Value| {
            let mut eb = eb_object_created();
            eb["detail-type"] = detail_type.into();
            for (k, v) in detail.as_object().unwrap() {
                eb["detail"][k] = v.clone();
            }
            let e = one(s3(&eb.to_string(), false, "fanin-uploads"));
            e.payload["Records"][0]["eventName"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            name("Object Created", json!({"reason": "CopyObject"})),
            "ObjectCreated:Copy"
        );
        assert_eq!(
            name("Object Created", json!({"reason": "POST Object"})),
            "ObjectCreated:Post"
        );
        assert_eq!(
            name("Object Created", json!({"reason": "PutObject"})),
            "ObjectCreated:Put"
        );
        assert_eq!(
            name(
                "Object Deleted",
                json!({"reason": "DeleteObject", "deletion-type": "Permanently Deleted"})
            ),
            "ObjectRemoved:Delete"
        );
        assert_eq!(
            name(
                "Object Deleted",
                json!({"reason": "DeleteObject", "deletion-type": "Delete Marker Created"})
            ),
            "ObjectRemoved:DeleteMarkerCreated"
        );
        assert_eq!(
            name(
                "Object Deleted",
                json!({"reason": "Lifecycle Expiration", "deletion-type": "Permanently Deleted"})
            ),
            "LifecycleExpiration:Delete"
        );
        assert_eq!(
            name("Object Restore Completed", json!({})),
            "ObjectRestore:Completed"
        );
        assert_eq!(name("Object Tags Added", json!({})), "ObjectTagging:Put");
        let mut eb = eb_object_created();
        eb["detail-type"] = "Async Copy Completion".into();
        assert!(invalid(s3(&eb.to_string(), false, "fanin-uploads")).contains("no S3 notification equivalent"));
        assert_eq!(
            one(s3(&eb.to_string(), true, "fanin-uploads")).payload,
            eb,
            "passed through on request"
        );
    }

    #[test]
    fn s3_eventbridge_copy_object_and_delete_shapes() {
        let mut eb = eb_object_created();
        eb["detail"]["reason"] = "CopyObject".into();
        let e = one(s3(&eb.to_string(), false, "fanin-uploads"));
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
        let e = one(s3(&deleted.to_string(), false, "fanin-uploads"));
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
        let e = one(s3(&eb.to_string(), true, "fanin-uploads"));
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
        assert!(invalid(s3(&eb.to_string(), false, "fanin-uploads")).contains("not an aws.s3 event"));
        let mut eb = eb_object_created();
        eb["detail"]["object"]
            .as_object_mut()
            .unwrap()
            .remove("key");
        assert!(invalid(s3(&eb.to_string(), false, "fanin-uploads")).contains("detail.object.key"));
        let mut eb = eb_object_created();
        eb.as_object_mut().unwrap().remove("detail");
        assert!(invalid(s3(&eb.to_string(), true, "fanin-uploads")).contains("no `detail`"));
    }

    // ----- SNS ---------------------------------------------------------------

    /// Lambda Developer Guide, "Using AWS Lambda with Amazon SNS", example event.
    fn lambda_sns_sample() -> Value {
        json!({
          "Records": [{
            "EventVersion": "1.0",
            "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:sns-lambda:21be56ed-a058-49f5-8c98-aedd2564c486",
            "EventSource": "aws:sns",
            "Sns": {
              "SignatureVersion": "1",
              "Timestamp": "2019-01-02T12:45:07.000Z",
              "Signature": "tcc6faL2yUC6dgZdmrwh1Y4cGa/ebXEkAi6RibDsvpi+tE/1+82j...65r==",
              "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-ac565b8b1a6c5d002d285f9598aa1d9b.pem",
              "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
              "Message": "Hello from SNS!",
              "MessageAttributes": {
                "Test": { "Type": "String", "Value": "TestString" },
                "TestBinary": { "Type": "Binary", "Value": "TestBinary" }
              },
              "Type": "Notification",
              "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:123456789012:test-lambda:21be56ed-a058-49f5-8c98-aedd2564c486",
              "TopicArn": "arn:aws:sns:us-east-1:123456789012:sns-lambda",
              "Subject": "TestInvoke"
            }
          }]
        })
    }

    fn ctx() -> SnsContext {
        SnsContext {
            topic_arn: Some("arn:aws:sns:us-east-1:123456789012:sns-lambda".into()),
            subscription_arn: None,
            message_id: "sqs-5fea7756-0ea4-451a-a703-a558b933e274".into(),
            sent_timestamp: Some(Utc.timestamp_millis_opt(1_546_433_107_000).unwrap()),
            message_attributes: vec![],
        }
    }

    #[test]
    fn sns_envelope_gives_the_lambda_sample_field_by_field() {
        // The same notification as the Lambda sample, as SNS writes it to SQS.
        let s = &lambda_sns_sample()["Records"][0]["Sns"];
        let body = json!({
            "Type": "Notification", "MessageId": s["MessageId"], "TopicArn": s["TopicArn"],
            "Subject": s["Subject"], "Message": s["Message"], "Timestamp": s["Timestamp"],
            "SignatureVersion": "1", "Signature": s["Signature"],
            "SigningCertURL": s["SigningCertUrl"], "UnsubscribeURL": s["UnsubscribeUrl"],
            "MessageAttributes": s["MessageAttributes"]
        });
        let c = SnsContext {
            subscription_arn: Some(
                "arn:aws:sns:us-east-1:123456789012:sns-lambda:21be56ed-a058-49f5-8c98-aedd2564c486".into(),
            ),
            ..ctx()
        };
        let e = one(sns(&body.to_string(), &c));
        assert_eq!(e.payload, lambda_sns_sample());
        assert_eq!(e.id, "95df01b4-ee98-5cb9-9903-4c221d41eb5e");
        assert_eq!(e.filter_view, None);
        let typed: aws_lambda_events::sns::SnsEvent = serde_json::from_value(e.payload).unwrap();
        assert_eq!(
            typed.records[0].sns.message_attributes["Test"].value,
            "TestString"
        );
    }

    #[test]
    fn sns_sqs_sample_envelope_without_subject_or_attributes() {
        // SNS Developer Guide, fanout to SQS: the message as the queue receives it.
        let mut body: Value = serde_json::from_str(&envelope("Hello world!")).unwrap();
        body.as_object_mut().unwrap().remove("Subject");
        let e = one(sns(&body.to_string(), &ctx()));
        let rec = &e.payload["Records"][0];
        assert_eq!(rec["EventSource"], "aws:sns");
        assert_eq!(rec["EventVersion"], "1.0");
        assert_eq!(
            rec["EventSubscriptionArn"],
            "arn:aws:sns:us-west-2:123456789012:MyTopic:c7fe3a54-ab0e-4ec2-88e0-db410a0f2bee",
            "taken from UnsubscribeURL"
        );
        let s = &rec["Sns"];
        assert_eq!(s["Subject"], Value::Null);
        assert_eq!(s["MessageAttributes"], json!({}));
        assert_eq!(s["Message"], "Hello world!");
        assert_eq!(s["SigningCertUrl"], body["SigningCertURL"]);
        assert_eq!(s["UnsubscribeUrl"], body["UnsubscribeURL"]);
        assert!(s.get("SigningCertURL").is_none() && s.get("UnsubscribeURL").is_none());
        assert_eq!(s.as_object().unwrap().len(), 11);
    }

    #[test]
    fn sns_subscription_arn_fallbacks() {
        let mut body: Value = serde_json::from_str(&envelope("m")).unwrap();
        body["UnsubscribeURL"] = "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe".into();
        let e = one(sns(&body.to_string(), &ctx()));
        assert_eq!(
            e.payload["Records"][0]["EventSubscriptionArn"],
            "arn:aws:sns:us-west-2:123456789012:MyTopic:fanin"
        );
        let c = SnsContext {
            subscription_arn: Some("arn:configured".into()),
            ..ctx()
        };
        let e = one(sns(&envelope("m"), &c));
        assert_eq!(
            e.payload["Records"][0]["EventSubscriptionArn"],
            "arn:configured"
        );
    }

    #[test]
    fn sns_raw_delivery_is_rebuilt_from_context() {
        let c = SnsContext {
            message_attributes: vec![
                ("Test".into(), "String".into(), "TestString".into()),
                ("Count".into(), "Number".into(), "3".into()),
            ],
            ..ctx()
        };
        let e = one(sns("Hello from SNS!", &c));
        let expected = json!({ "Records": [{
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:sns-lambda:fanin",
            "Sns": {
                "Type": "Notification",
                "MessageId": "sqs-5fea7756-0ea4-451a-a703-a558b933e274",
                "TopicArn": "arn:aws:sns:us-east-1:123456789012:sns-lambda",
                "Subject": null,
                "Message": "Hello from SNS!",
                "Timestamp": "2019-01-02T12:45:07.000Z",
                "SignatureVersion": "",
                "Signature": "",
                "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService.pem",
                "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:123456789012:sns-lambda:fanin",
                "MessageAttributes": {
                    "Test": { "Type": "String", "Value": "TestString" },
                    "Count": { "Type": "Number", "Value": "3" }
                }
            }
        }]});
        assert_eq!(e.payload, expected);
        assert_eq!(e.id, "sqs-5fea7756-0ea4-451a-a703-a558b933e274");
        let typed: aws_lambda_events::sns::SnsEvent = serde_json::from_value(e.payload).unwrap();
        assert_eq!(typed.records[0].sns.message, "Hello from SNS!");
    }

    #[test]
    fn sns_raw_json_that_is_not_an_envelope_is_the_message() {
        for body in [
            r#"{"order":42,"Type":"Notification"}"#,
            r#"{"Type":"Notification","Message":"no topic"}"#,
            "[1,2,3]",
            r#"{"Type":"Notification","TopicArn":"arn:x","Mess"#,
            "",
        ] {
            let e = one(sns(body, &ctx()));
            assert_eq!(e.payload["Records"][0]["Sns"]["Message"], body);
            assert_eq!(
                e.payload["Records"][0]["Sns"]["TopicArn"],
                "arn:aws:sns:us-east-1:123456789012:sns-lambda"
            );
        }
        let r = invalid(sns(
            "plain text",
            &SnsContext {
                topic_arn: None,
                ..ctx()
            },
        ));
        assert!(r.contains("topic_arn"), "{r}");
    }

    #[test]
    fn sns_envelope_missing_required_fields_is_invalid() {
        for (field, reason) in [
            ("MessageId", "SNS envelope has no `MessageId`"),
            ("Timestamp", "SNS envelope has no `Timestamp`"),
        ] {
            let mut body: Value = serde_json::from_str(&envelope("m")).unwrap();
            body.as_object_mut().unwrap().remove(field);
            assert_eq!(invalid(sns(&body.to_string(), &ctx())), reason);
        }
        let mut body: Value = serde_json::from_str(&envelope("m")).unwrap();
        body["Message"] = json!({"not": "a string"});
        assert!(invalid(sns(&body.to_string(), &ctx())).contains("`Message` is not a string"));
        body["Message"] = "m".into();
        body["MessageAttributes"] = json!({"a": {"Type": "String"}});
        assert!(invalid(sns(&body.to_string(), &ctx())).contains("attribute `a`"));
    }

    #[test]
    fn sns_subscription_confirmation_is_skipped() {
        let body = json!({
            "Type": "SubscriptionConfirmation",
            "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "Token": "2336412f37fb687f5d51e6e2425dacbbffff",
            "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
            "Message": "You have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:MyTopic.",
            "SubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription",
            "Timestamp": "2012-04-26T20:45:04.751Z",
            "SignatureVersion": "1", "Signature": "EXAMPLE", "SigningCertURL": "EXAMPLE"
        })
        .to_string();
        assert_eq!(
            sns(&body, &ctx()),
            Decoded::Skip(SKIP_SNS_SUBSCRIPTION_CONFIRMATION)
        );
        assert_eq!(
            s3(&body, false, "fanin-uploads"),
            Decoded::Skip(SKIP_SNS_SUBSCRIPTION_CONFIRMATION)
        );
        assert_eq!(
            cloudwatch_alarm(&body, "123456789012"),
            Decoded::Skip(SKIP_SNS_SUBSCRIPTION_CONFIRMATION)
        );
    }

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
        let e = one(eventbridge(&ev.to_string()));
        assert_eq!(e.payload, ev);
        assert_eq!(e.id, "7bf73129-1428-4cd3-a780-95db273d1602");
        assert_eq!(
            e.meta.event_name.as_deref(),
            Some("EC2 Instance State-change Notification")
        );
        let s3_ev = eb_object_created();
        assert_eq!(one(eventbridge(&s3_ev.to_string())).payload, s3_ev);
    }

    #[test]
    fn eventbridge_without_id_gets_a_stable_hash_id() {
        let body = r#"{"source":"my.app","detail-type":"OrderPlaced","detail":{"order":1}}"#;
        let a = one(eventbridge(body));
        assert!(a.id.starts_with('h') && a.id.len() == 17, "{}", a.id);
        assert_eq!(one(eventbridge(body)).id, a.id);
        let other = r#"{"source":"my.app","detail-type":"OrderPlaced","detail":{"order":2}}"#;
        assert_ne!(one(eventbridge(other)).id, a.id);
    }

    #[test]
    fn eventbridge_malformed_is_invalid() {
        assert!(invalid(eventbridge(r#"{"source":"aws.ec2","detail":{}}"#)).contains("detail-type"));
        assert!(invalid(eventbridge(r#"{"detail-type":"x"}"#)).contains("source"));
        assert!(invalid(eventbridge(r#"{"source":1,"detail-type":"x"}"#)).contains("source"));
        assert!(invalid(eventbridge("[]")).contains("not a JSON object"));
        assert!(invalid(eventbridge(r#"{"source":"aws.ec2","detail-t"#))
            .starts_with("body is not valid JSON"));
        assert!(invalid(eventbridge(&envelope("{}"))).contains("not an EventBridge event"));
    }

    // ----- CloudWatch alarms -------------------------------------------------

    /// CloudWatch User Guide, "Alarm events and EventBridge": single-metric state change.
    fn eb_alarm() -> Value {
        json!({
          "version": "0",
          "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
          "detail-type": "CloudWatch Alarm State Change",
          "source": "aws.cloudwatch",
          "account": "123456789012",
          "time": "2019-10-02T17:04:40Z",
          "region": "us-east-1",
          "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh"],
          "detail": {
            "alarmName": "ServerCpuTooHigh",
            "configuration": {
              "description": "Goes into alarm when server CPU utilization is too high!",
              "metrics": [{
                "id": "30b6c6b2-a864-43a2-4877-c09a1afc3b87",
                "metricStat": {
                  "metric": {
                    "dimensions": { "InstanceId": "i-12345678901234567" },
                    "name": "CPUUtilization",
                    "namespace": "AWS/EC2"
                  },
                  "period": 300,
                  "stat": "Average"
                },
                "returnData": true
              }]
            },
            "previousState": {
              "reason": "Threshold Crossed: 1 out of the last 1 datapoints [0.0666851903306472 (01/10/19 13:46:00)] was not greater than the threshold (50.0) (minimum 1 datapoint for ALARM -> OK transition).",
              "reasonData": "{\"version\":\"1.0\",\"queryDate\":\"2019-10-01T13:56:40.985+0000\",\"startDate\":\"2019-10-01T13:46:00.000+0000\",\"statistic\":\"Average\",\"period\":300,\"recentDatapoints\":[0.0666851903306472],\"threshold\":50.0}",
              "timestamp": "2019-10-01T13:56:40.987+0000",
              "value": "OK"
            },
            "state": {
              "reason": "Threshold Crossed: 1 out of the last 1 datapoints [99.50160229693434 (02/10/19 16:59:00)] was greater than the threshold (50.0) (minimum 1 datapoint for OK -> ALARM transition).",
              "reasonData": "{\"version\":\"1.0\",\"queryDate\":\"2019-10-02T17:04:40.985+0000\",\"startDate\":\"2019-10-02T16:59:00.000+0000\",\"statistic\":\"Average\",\"period\":300,\"recentDatapoints\":[99.50160229693434],\"threshold\":50.0}",
              "timestamp": "2019-10-02T17:04:40.989+0000",
              "value": "ALARM"
            }
          }
        })
    }

    /// CloudWatch User Guide, "Invoke a Lambda function from an alarm": metric alarm event.
    fn lambda_alarm_sample() -> Value {
        json!({
          "source": "aws.cloudwatch",
          "alarmArn": "arn:aws:cloudwatch:us-east-1:444455556666:alarm:lambda-demo-metric-alarm",
          "accountId": "444455556666",
          "time": "2023-08-04T12:36:15.490+0000",
          "region": "us-east-1",
          "alarmData": {
            "alarmName": "lambda-demo-metric-alarm",
            "state": { "value": "ALARM", "reason": "test", "timestamp": "2023-08-04T12:36:15.490+0000" },
            "previousState": {
              "value": "INSUFFICIENT_DATA",
              "reason": "Insufficient Data: 5 datapoints were unknown.",
              "reasonData": "{\"version\":\"1.0\",\"queryDate\":\"2023-08-04T12:31:29.591+0000\",\"statistic\":\"Average\",\"period\":60,\"recentDatapoints\":[],\"threshold\":5.0,\"evaluatedDatapoints\":[{\"timestamp\":\"2023-08-04T12:30:00.000+0000\"}]}",
              "timestamp": "2023-08-04T12:31:29.595+0000"
            },
            "configuration": {
              "description": "Metric Alarm to test Lambda actions",
              "metrics": [{
                "id": "1234e046-06f0-a3da-9534-EXAMPLEe4c",
                "metricStat": {
                  "metric": { "namespace": "AWS/Logs", "name": "CallCount", "dimensions": { "InstanceId": "i-12345678" } },
                  "period": 60,
                  "stat": "Average",
                  "unit": "Percent"
                },
                "returnData": true
              }]
            }
          }
        })
    }

    /// The SNS alarm message of the Lambda SNS sample for a CloudWatch alarm.
    fn sns_alarm_message() -> Value {
        json!({
            "AlarmName": "EXAMPLE",
            "AlarmDescription": "EXAMPLE",
            "AWSAccountId": "123456789012",
            "NewStateValue": "ALARM",
            "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints [1234.0 (06/03/15 17:43:27)] was greater than the threshold (0.0) (minimum 1 datapoint for OK -> ALARM transition).",
            "StateChangeTime": "2015-06-03T17:43:27.123+0000",
            "Region": "US East (N. Virginia)",
            "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:EXAMPLE",
            "OldStateValue": "INSUFFICIENT_DATA",
            "Trigger": {
                "MetricName": "NetworkOut",
                "Namespace": "AWS/EC2",
                "StatisticType": "Statistic",
                "Statistic": "AVERAGE",
                "Unit": "Bytes",
                "Dimensions": [{ "value": "TestInstance", "name": "InstanceId" }],
                "Period": 60,
                "EvaluationPeriods": 1,
                "ComparisonOperator": "GreaterThanThreshold",
                "Threshold": 0.0,
                "TreatMissingData": "- TreatMissingData:                    missing",
                "EvaluateLowSampleCountPercentile": ""
            }
        })
    }

    fn expected_from_sns_alarm() -> Value {
        json!({
            "source": "aws.cloudwatch",
            "alarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:EXAMPLE",
            "accountId": "123456789012",
            "time": "2015-06-03T17:43:27.123+0000",
            "region": "us-east-1",
            "alarmData": {
                "alarmName": "EXAMPLE",
                "state": {
                    "value": "ALARM",
                    "reason": "Threshold Crossed: 1 out of the last 1 datapoints [1234.0 (06/03/15 17:43:27)] was greater than the threshold (0.0) (minimum 1 datapoint for OK -> ALARM transition).",
                    "timestamp": "2015-06-03T17:43:27.123+0000"
                },
                "previousState": { "value": "INSUFFICIENT_DATA" },
                "configuration": {
                    "description": "EXAMPLE",
                    "metrics": [{
                        "id": "m1",
                        "metricStat": {
                            "metric": { "namespace": "AWS/EC2", "name": "NetworkOut", "dimensions": { "InstanceId": "TestInstance" } },
                            "period": 60,
                            "stat": "Average",
                            "unit": "Bytes"
                        },
                        "returnData": true
                    }]
                }
            }
        })
    }

    #[test]
    fn alarm_via_eventbridge_becomes_alarm_action_event() {
        let eb = eb_alarm();
        let e = one(cloudwatch_alarm(&eb.to_string(), "123456789012"));
        let expected = json!({
            "source": "aws.cloudwatch",
            "alarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh",
            "accountId": "123456789012",
            "time": "2019-10-02T17:04:40.989+0000",
            "region": "us-east-1",
            "alarmData": eb["detail"]
        });
        assert_eq!(e.payload, expected);
        assert_eq!(e.id, "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh@2019-10-02T17:04:40.989+0000");
        assert_eq!(e.meta.alarm_name.as_deref(), Some("ServerCpuTooHigh"));
        assert_eq!(e.meta.state.as_deref(), Some("ALARM"));
        // Same keys, field by field, as the documented alarm action event.
        let sample = lambda_alarm_sample();
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&e.payload), keys(&sample));
        assert_eq!(keys(&e.payload["alarmData"]), keys(&sample["alarmData"]));
        assert_eq!(
            keys(&e.payload["alarmData"]["state"]),
            keys(&eb["detail"]["state"])
        );
    }

    #[test]
    fn alarm_action_event_passes_as_is() {
        let sample = lambda_alarm_sample();
        let e = one(cloudwatch_alarm(&sample.to_string(), "123456789012"));
        assert_eq!(e.payload, sample);
        assert_eq!(e.id, "arn:aws:cloudwatch:us-east-1:444455556666:alarm:lambda-demo-metric-alarm@2023-08-04T12:36:15.490+0000");
    }

    #[test]
    fn alarm_via_sns_and_raw_alarm_json() {
        let message = sns_alarm_message().to_string();
        let via_sns = one(cloudwatch_alarm(&envelope(&message), "123456789012"));
        assert_eq!(via_sns.payload, expected_from_sns_alarm());
        assert_eq!(
            via_sns.id,
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:EXAMPLE@2015-06-03T17:43:27.123+0000"
        );
        assert_eq!(via_sns.meta.alarm_name.as_deref(), Some("EXAMPLE"));
        assert_eq!(via_sns.meta.state.as_deref(), Some("ALARM"));
        let raw = one(cloudwatch_alarm(&message, "123456789012"));
        assert_eq!(raw, via_sns);
    }

    #[test]
    fn alarm_via_sns_metric_math_and_composite() {
        // aws_lambda_events fixture (AWS sample): metric math alarm via SNS.
        let mut msg = sns_alarm_message();
        msg["AlarmDescription"] = Value::Null;
        msg["Trigger"] = json!({
            "Period": 60, "EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanThreshold", "Threshold": 0.0,
            "Metrics": [
                { "Expression": "m1*1", "Id": "e1", "Label": "Expression1", "ReturnData": true },
                { "Id": "m1", "MetricStat": { "Metric": { "Dimensions": [{ "value": "TestInstance", "name": "InstanceId" }],
                  "MetricName": "NetworkOut", "Namespace": "AWS/EC2" }, "Period": 60, "Stat": "Average" }, "ReturnData": false }
            ]
        });
        let e = one(cloudwatch_alarm(&envelope(&msg.to_string()), "123456789012"));
        assert_eq!(
            e.payload["alarmData"]["configuration"],
            json!({ "metrics": [
                { "id": "e1", "expression": "m1*1", "label": "Expression1", "returnData": true },
                { "id": "m1", "metricStat": { "metric": { "namespace": "AWS/EC2", "name": "NetworkOut",
                  "dimensions": { "InstanceId": "TestInstance" } }, "period": 60, "stat": "Average" }, "returnData": false }
            ]})
        );
        let mut composite = sns_alarm_message();
        composite.as_object_mut().unwrap().remove("Trigger");
        composite["AlarmRule"] =
            "ALARM(CompositeDemo.FirstChild) OR ALARM(CompositeDemo.SecondChild)".into();
        let e = one(cloudwatch_alarm(&composite.to_string(), "123456789012"));
        assert_eq!(
            e.payload["alarmData"]["configuration"],
            json!({
                "description": "EXAMPLE",
                "alarmRule": "ALARM(CompositeDemo.FirstChild) OR ALARM(CompositeDemo.SecondChild)"
            })
        );
    }

    #[test]
    fn alarm_same_transition_same_id_across_paths() {
        let mut msg = sns_alarm_message();
        msg["AlarmArn"] = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh".into();
        msg["StateChangeTime"] = "2019-10-02T17:04:40.989+0000".into();
        let via_sns = one(cloudwatch_alarm(&envelope(&msg.to_string()), "123456789012"));
        let via_eb = one(cloudwatch_alarm(&eb_alarm().to_string(), "123456789012"));
        assert_eq!(via_sns.id, via_eb.id);
    }

    #[test]
    fn alarm_unknown_state_is_invalid_in_every_form() {
        let mut eb = eb_alarm();
        eb["detail"]["state"]["value"] = "BROKEN".into();
        let r = invalid(cloudwatch_alarm(&eb.to_string(), "123456789012"));
        assert!(
            r.contains("`BROKEN` is not OK, ALARM or INSUFFICIENT_DATA"),
            "{r}"
        );
        let mut msg = sns_alarm_message();
        msg["NewStateValue"] = "alarm".into();
        assert!(invalid(cloudwatch_alarm(&envelope(&msg.to_string()), "123456789012"))
            .starts_with("SNS envelope Message: alarm state `alarm`"));
        let mut msg = sns_alarm_message();
        msg["OldStateValue"] = "UNKNOWN".into();
        assert!(invalid(cloudwatch_alarm(&msg.to_string(), "123456789012")).contains("previous state `UNKNOWN`"));
        let mut sample = lambda_alarm_sample();
        sample["alarmData"]["state"]["value"] = Value::Null;
        assert!(invalid(cloudwatch_alarm(&sample.to_string(), "123456789012")).contains("alarm has no state"));
    }

    #[test]
    fn alarm_malformed_is_invalid() {
        let truncated = &eb_alarm().to_string()[..200];
        assert!(invalid(cloudwatch_alarm(truncated, "123456789012")).starts_with("body is not valid JSON"));
        let r = invalid(cloudwatch_alarm(&envelope("Hello world!"), "123456789012"));
        assert!(
            r.contains("SNS envelope Message is not a CloudWatch alarm"),
            "{r}"
        );
        let r = invalid(cloudwatch_alarm(&envelope(&lambda_s3_sample().to_string()), "123456789012"));
        assert!(
            r.starts_with("SNS envelope Message: not a CloudWatch alarm"),
            "{r}"
        );
        let mut eb = eb_alarm();
        eb["detail-type"] = "CloudWatch Alarm Configuration Change".into();
        assert!(invalid(cloudwatch_alarm(&eb.to_string(), "123456789012"))
            .contains("not a CloudWatch alarm state change"));
        assert!(invalid(cloudwatch_alarm(&eb_object_created().to_string(), "123456789012"))
            .contains("not a CloudWatch alarm state change"));
        let mut msg = sns_alarm_message();
        msg.as_object_mut().unwrap().remove("AlarmArn");
        assert!(invalid(cloudwatch_alarm(&msg.to_string(), "123456789012")).contains("AlarmArn"));
        let mut sample = lambda_alarm_sample();
        sample["source"] = "aws.s3".into();
        assert!(invalid(cloudwatch_alarm(&sample.to_string(), "123456789012")).contains("not \"aws.cloudwatch\""));
        assert!(invalid(cloudwatch_alarm("42", "123456789012")).contains("not a JSON object"));
    }
}
