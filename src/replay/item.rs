//! One dead letter as read back: fanin's record, Lambda's own on-failure destination record
//! (the same format without `fanin`), or a legacy Lambda dead-letter queue message (the raw
//! event, with `RequestID`, `ErrorCode` and `ErrorMessage` attributes).

use chrono::{DateTime, Utc};
use serde_json::Value;

/// What replay needs to know of one dead letter.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The event id (fanin's), else Lambda's request id, else the store's own key.
    pub event_id: String,
    /// The function to send to, from the record (`None` for legacy messages).
    pub function: Option<FunctionRef>,
    /// The event, exactly as it was sent.
    pub payload: Value,
    /// Why it died (`ResourceNotFound`, …; a legacy message's `ErrorCode`).
    pub condition: String,
    /// When it died.
    pub timestamp: Option<DateTime<Utc>>,
    /// Replays so far.
    pub replay_count: u32,
    /// The source it came from (fanin records), for the record written back.
    pub source: String,
    /// The record as stored, which `--filter` patterns are matched against.
    pub record: Value,
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

/// Reads one stored dead letter. `key` names it in the store; `legacy` holds the message
/// attributes when it came from an SQS queue.
pub fn parse(body: &str, key: &str, legacy: Option<&LegacyAttributes>) -> Result<DeadLetter, String> {
    let value: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let is_record = value.get("requestContext").is_some() && value.get("requestPayload").is_some();
    if !is_record {
        let legacy = legacy.ok_or("neither a dead-letter record nor a legacy dead-letter queue message")?;
        if legacy.request_id.is_none() && legacy.error_code.is_none() {
            return Err("neither a dead-letter record nor a legacy dead-letter message (no RequestID/ErrorCode attributes)".into());
        }
        return Ok(DeadLetter {
            event_id: legacy.request_id.clone().unwrap_or_else(|| key.to_string()),
            function: None,
            payload: value.clone(),
            condition: legacy.error_code.clone().unwrap_or_else(|| "Unknown".into()),
            timestamp: None,
            replay_count: 0,
            source: "lambda".into(),
            record: value,
        });
    }
    let ctx = &value["requestContext"];
    let fanin = value.get("fanin");
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    Ok(DeadLetter {
        event_id: text(fanin.and_then(|f| f.get("eventId"))).or_else(|| text(ctx.get("requestId"))).unwrap_or_else(|| key.to_string()),
        function: text(ctx.get("functionArn")).map(|a| FunctionRef::parse(&a)),
        payload: value["requestPayload"].clone(),
        condition: text(ctx.get("condition")).unwrap_or_else(|| "Unknown".into()),
        timestamp: text(value.get("timestamp")).and_then(|t| DateTime::parse_from_rfc3339(&t).ok()).map(|t| t.with_timezone(&Utc)),
        replay_count: fanin.and_then(|f| f.get("replayCount")).and_then(Value::as_u64).unwrap_or(0) as u32,
        source: text(fanin.and_then(|f| f.get("source"))).unwrap_or_else(|| "lambda".into()),
        record: value,
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
        let d = parse(body, "k", None).unwrap();
        assert_eq!(d.event_id, "e4b46cbf");
        assert_eq!(d.condition, "RetriesExhausted");
        assert_eq!(d.payload, serde_json::json!({"ORDER_IDS":["9e07af03"]}));
        assert_eq!(d.function.unwrap().qualifier.as_deref(), Some("$LATEST"));
        assert_eq!(d.replay_count, 0);
    }

    #[test]
    fn legacy_message_needs_its_attributes() {
        let attrs = LegacyAttributes { request_id: Some("r-1".into()), error_code: Some("200".into()) };
        let d = parse(r#"{"order":1}"#, "m-1", Some(&attrs)).unwrap();
        assert_eq!(d.event_id, "r-1");
        assert!(d.function.is_none());
        assert!(parse(r#"{"order":1}"#, "m-1", Some(&LegacyAttributes::default())).is_err());
        assert!(parse("not json", "m-1", Some(&attrs)).is_err());
    }
}
