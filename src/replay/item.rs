//! One dead letter as read back: fanin's record, Lambda's own on-failure destination record
//! (the same format without `fanin`), or a legacy Lambda dead-letter queue message (the raw
//! event, with `RequestID`, `ErrorCode` and `ErrorMessage` attributes).

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::Value;

/// What replay and `fanin dlq` need to know of one dead letter. The record is read once: its
/// small parts are parsed, the payload is kept as the text it was stored as (sent exactly as
/// it was), and the whole record is parsed only when a `--filter` or `dlq show` needs it.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The event id (fanin's), else Lambda's request id, else the store's own key.
    pub event_id: String,
    /// The function to send to, from the record (`None` for legacy messages).
    pub function: Option<FunctionRef>,
    /// The event, exactly as it was stored (JSON text).
    pub payload: Bytes,
    /// Why it died (`ResourceNotFound`, …; a legacy message's `ErrorCode`).
    pub condition: String,
    /// When it died.
    pub timestamp: Option<DateTime<Utc>>,
    /// Replays so far.
    pub replay_count: u32,
    /// The source it came from (fanin records), for the record written back.
    pub source: String,
    /// The configured target it was going to (`fanin.target`), which replay with `--config`
    /// sends it to as that target is configured now.
    pub target: Option<String>,
    /// The first attempt ever (`fanin.firstAttemptAt`), kept when it is written back.
    pub first_attempt_at: Option<String>,
    /// `responseContext.errorType`, else `responsePayload.errorType`, else
    /// `responseContext.functionError`; a legacy message's `ErrorCode`.
    pub error_type: Option<String>,
    /// fanin's record, Lambda's own destination record, or a legacy message.
    pub format: Format,
    /// The whole record as stored (a legacy message: its body), when asked for.
    pub record: Option<Value>,
}

/// Which kind of dead letter a stored one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// fanin's record (Lambda's, with `fanin`).
    Fanin,
    /// Lambda's own on-failure destination record.
    Lambda,
    /// A legacy Lambda dead-letter queue message: the event itself.
    Legacy,
}

impl Format {
    /// The name `fanin dlq` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Fanin => "fanin",
            Format::Lambda => "lambda",
            Format::Legacy => "legacy",
        }
    }
}

/// A function and its qualifier, as Invoke takes them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FunctionRef {
    pub function: String,
    pub qualifier: Option<String>,
}

impl FunctionRef {
    /// Splits a record's `functionArn` (full ARN, partial ARN or name, each with an optional
    /// `:qualifier`) into function and qualifier.
    pub fn parse(arn: &str) -> FunctionRef {
        let (function, qualifier) = crate::dispatch::function_name::split_qualifier(arn);
        FunctionRef { function: function.to_string(), qualifier: qualifier.map(str::to_string) }
    }

    /// `function[:qualifier]`, the way records name it.
    pub fn display(&self) -> String {
        match &self.qualifier {
            Some(q) => format!("{}:{q}", self.function),
            None => self.function.clone(),
        }
    }
}

/// Attributes of a legacy Lambda dead-letter message.
#[derive(Debug, Default, Clone)]
pub struct LegacyAttributes {
    pub request_id: Option<String>,
    pub error_code: Option<String>,
}

/// The top level of a record, its parts left as text: only the small ones are parsed further.
#[derive(Deserialize)]
struct Parts<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    timestamp: Option<&'a RawValue>,
    #[serde(rename = "requestContext", default, borrow, deserialize_with = "present")]
    request_context: Option<&'a RawValue>,
    #[serde(rename = "requestPayload", default, borrow, deserialize_with = "present")]
    request_payload: Option<&'a RawValue>,
    #[serde(rename = "responseContext", default, borrow, deserialize_with = "present")]
    response_context: Option<&'a RawValue>,
    #[serde(rename = "responsePayload", default, borrow, deserialize_with = "present")]
    response_payload: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    fanin: Option<&'a RawValue>,
}

/// A key that is there is `Some`, even when its value is `null` (`Option` alone reads null as absent).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// The fields of `requestContext`, `responseContext` and `fanin` that are read; the rest of
/// each is skipped, and nothing is allocated but the strings kept.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Small<'a> {
    #[serde(rename = "requestId", borrow)]
    request_id: Option<&'a RawValue>,
    #[serde(rename = "functionArn", borrow)]
    function_arn: Option<&'a RawValue>,
    #[serde(borrow)]
    condition: Option<&'a RawValue>,
    #[serde(rename = "errorType", borrow)]
    error_type: Option<&'a RawValue>,
    #[serde(rename = "functionError", borrow)]
    function_error: Option<&'a RawValue>,
    #[serde(rename = "eventId", borrow)]
    event_id: Option<&'a RawValue>,
    #[serde(rename = "replayCount", borrow)]
    replay_count: Option<&'a RawValue>,
    #[serde(borrow)]
    source: Option<&'a RawValue>,
    #[serde(borrow)]
    target: Option<&'a RawValue>,
    #[serde(rename = "firstAttemptAt", borrow)]
    first_attempt_at: Option<&'a RawValue>,
}

/// A part that is an object, its fields read; anything else reads as empty.
fn small(raw: Option<&RawValue>) -> (Small<'_>, bool) {
    match raw.filter(|r| r.get().trim_start().starts_with('{')) {
        Some(r) => (serde_json::from_str(r.get()).unwrap_or_default(), true),
        None => (Small::default(), false),
    }
}

/// A field's string, if it is one.
fn text(raw: Option<&RawValue>) -> Option<String> {
    raw.and_then(|r| serde_json::from_str(r.get()).ok())
}

/// `errorType` of a payload that is an object, without parsing the rest of it.
fn error_type_of(raw: Option<&RawValue>) -> Option<String> {
    #[derive(Deserialize)]
    struct ErrorType {
        #[serde(rename = "errorType")]
        error_type: Option<Value>,
    }
    let raw = raw?.get().trim_start();
    if !raw.starts_with('{') {
        return None;
    }
    serde_json::from_str::<ErrorType>(raw).ok()?.error_type?.as_str().map(str::to_string)
}

/// Reads one stored dead letter. `key` names it in the store; `legacy` holds the message
/// attributes when it came from an SQS queue; `whole` also parses the whole record.
/// `key` is called only for a record that carries no id of its own.
pub fn parse(body: &str, key: impl Fn() -> String, legacy: Option<&LegacyAttributes>, whole: bool) -> Result<DeadLetter, String> {
    // An array or a scalar is no record, and serde would read an array into the struct by position.
    let parts: Option<Parts> = match body.trim_start().starts_with('{') {
        true => Some(serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?),
        false => {
            serde_json::from_str::<serde::de::IgnoredAny>(body).map_err(|e| format!("not JSON: {e}"))?;
            None
        }
    };
    let record = || if whole { serde_json::from_str(body).ok() } else { None };
    let is_record = parts.as_ref().is_some_and(|p| p.request_context.is_some() && p.request_payload.is_some());
    let Some(parts) = parts.filter(|_| is_record) else {
        let legacy = legacy.ok_or("neither a dead-letter record nor a legacy dead-letter queue message")?;
        if legacy.request_id.is_none() && legacy.error_code.is_none() {
            return Err("neither a dead-letter record nor a legacy dead-letter message (no RequestID/ErrorCode attributes)".into());
        }
        return Ok(DeadLetter {
            event_id: legacy.request_id.clone().unwrap_or_else(key),
            function: None,
            payload: Bytes::copy_from_slice(body.trim().as_bytes()),
            condition: legacy.error_code.clone().unwrap_or_else(|| "Unknown".into()),
            timestamp: None,
            replay_count: 0,
            source: "lambda".into(),
            target: None,
            first_attempt_at: None,
            error_type: legacy.error_code.clone(),
            format: Format::Legacy,
            record: record(),
        });
    };
    let (ctx, _) = small(parts.request_context);
    let (fanin, is_fanin) = small(parts.fanin);
    let (response, _) = small(parts.response_context);
    let timestamp = text(parts.timestamp);
    Ok(DeadLetter {
        event_id: text(fanin.event_id).or_else(|| text(ctx.request_id)).unwrap_or_else(key),
        function: text(ctx.function_arn).map(|a| FunctionRef::parse(&a)),
        payload: Bytes::copy_from_slice(parts.request_payload.expect("a record has one").get().as_bytes()),
        condition: text(ctx.condition).unwrap_or_else(|| "Unknown".into()),
        timestamp: timestamp.and_then(|t| DateTime::parse_from_rfc3339(&t).ok()).map(|t| t.with_timezone(&Utc)),
        replay_count: fanin.replay_count.and_then(|r| serde_json::from_str::<u64>(r.get()).ok()).unwrap_or(0) as u32,
        source: text(fanin.source).unwrap_or_else(|| "lambda".into()),
        target: text(fanin.target),
        first_attempt_at: text(fanin.first_attempt_at),
        error_type: text(response.error_type).or_else(|| error_type_of(parts.response_payload)).or_else(|| text(response.function_error)),
        format: if is_fanin { Format::Fanin } else { Format::Lambda },
        record: record(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_references() {
        let f = |s: &str| FunctionRef::parse(s);
        assert_eq!(f("resize"), FunctionRef { function: "resize".into(), qualifier: None });
        assert_eq!(f("resize:live"), FunctionRef { function: "resize".into(), qualifier: Some("live".into()) });
        assert_eq!(
            f("arn:aws:lambda:us-east-1:123456789012:function:resize:$LATEST"),
            FunctionRef { function: "arn:aws:lambda:us-east-1:123456789012:function:resize".into(), qualifier: Some("$LATEST".into()) }
        );
        assert_eq!(f("arn:aws:lambda:us-east-1:123456789012:function:resize").qualifier, None);
        assert_eq!(
            f("123456789012:function:resize:7"),
            FunctionRef { function: "123456789012:function:resize".into(), qualifier: Some("7".into()) }
        );
    }

    #[test]
    fn lambdas_own_destination_record() {
        let body = r#"{"version":"1.0","timestamp":"2019-11-14T18:16:05.568Z",
            "requestContext":{"requestId":"e4b46cbf","functionArn":"arn:aws:lambda:us-east-2:123456789012:function:my-function:$LATEST",
              "condition":"RetriesExhausted","approximateInvokeCount":3},
            "requestPayload":{"ORDER_IDS":["9e07af03"]},
            "responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},
            "responsePayload":{"errorMessage":"RequestId: e4b46cbf Process exited before completing request"}}"#;
        let d = parse(body, || "k".into(), None, false).unwrap();
        assert_eq!(d.event_id, "e4b46cbf");
        assert_eq!(d.condition, "RetriesExhausted");
        assert_eq!(&d.payload[..], br#"{"ORDER_IDS":["9e07af03"]}"#, "the payload as stored");
        assert_eq!(d.error_type.as_deref(), Some("Unhandled"));
        assert_eq!(d.format, Format::Lambda);
        assert!(d.record.is_none(), "parsed whole only when asked");
        assert_eq!(d.function.unwrap().qualifier.as_deref(), Some("$LATEST"));
        assert_eq!(d.replay_count, 0);
    }

    #[test]
    fn legacy_message_needs_its_attributes() {
        let attrs = LegacyAttributes { request_id: Some("r-1".into()), error_code: Some("200".into()) };
        let d = parse(r#"{"order":1}"#, || "m-1".into(), Some(&attrs), true).unwrap();
        assert_eq!(d.record, Some(serde_json::json!({"order": 1})));
        assert_eq!(&d.payload[..], br#"{"order":1}"#);
        assert_eq!(d.event_id, "r-1");
        assert!(d.function.is_none());
        assert!(parse(r#"{"order":1}"#, || "m-1".into(), Some(&LegacyAttributes::default()), false).is_err());
        assert!(parse("not json", || "m-1".into(), Some(&attrs), false).is_err());
        assert!(parse("[1, 2]", || "m-1".into(), None, false).is_err(), "an array is no record");
    }

    #[test]
    fn a_fanin_record_keeps_its_target_and_first_attempt_and_a_null_payload_is_a_payload() {
        let body = r#"{"version":"1.0","timestamp":"2026-11-26T01:02:03.456Z",
            "requestContext":{"requestId":null,"functionArn":"proces-order","condition":"ResourceNotFound","approximateInvokeCount":1},
            "requestPayload":null,
            "responseContext":{"statusCode":404,"errorType":"ResourceNotFoundException"},
            "fanin":{"source":"orders","eventId":"e-1","target":"orders","firstAttemptAt":"2026-11-26T01:00:00.000Z","replayCount":2}}"#;
        let d = parse(body, || "k".into(), None, false).unwrap();
        assert_eq!((d.event_id.as_str(), d.target.as_deref(), d.replay_count), ("e-1", Some("orders"), 2));
        assert_eq!(d.first_attempt_at.as_deref(), Some("2026-11-26T01:00:00.000Z"));
        assert_eq!(&d.payload[..], b"null");
        assert_eq!(d.error_type.as_deref(), Some("ResourceNotFoundException"));
        assert_eq!(d.format, Format::Fanin);
        let whole = parse(body, || "k".into(), None, true).unwrap();
        assert_eq!(whole.record.unwrap()["fanin"]["replayCount"], 2);
    }
}
