//! The dead-letter record: a superset of Lambda's own on-failure destination record, so
//! tools that read Lambda's records read fanin's too.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// Why an event was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Condition {
    /// Every attempt failed with a retryable error.
    RetriesExhausted,
    /// The event grew older than `max_event_age` before it was accepted.
    EventAgeExceeded,
    /// 404: the function, alias or version does not exist.
    ResourceNotFound,
    /// 403: fanin may not invoke the function.
    AccessDenied,
    /// The payload is over Lambda's asynchronous limit (or Lambda said 413).
    RequestTooLarge,
    /// The input could not be turned into the event the function expects, or Lambda refused it (400).
    InvalidEvent,
    /// Any other error Lambda says will not go away by retrying (KMS*, recursion detected, other 4xx).
    Rejected,
    /// Not a death: the function accepted the event (an `on_success` record).
    Success,
}

impl Condition {
    /// The name as written in records and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::RetriesExhausted => "RetriesExhausted",
            Condition::EventAgeExceeded => "EventAgeExceeded",
            Condition::ResourceNotFound => "ResourceNotFound",
            Condition::AccessDenied => "AccessDenied",
            Condition::RequestTooLarge => "RequestTooLarge",
            Condition::InvalidEvent => "InvalidEvent",
            Condition::Rejected => "Rejected",
            Condition::Success => "Success",
        }
    }
}

/// One dead event.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterRecord {
    pub version: String,
    /// When it was dead-lettered (RFC 3339, milliseconds, UTC).
    pub timestamp: String,
    pub request_context: RequestContext,
    /// The event exactly as it would have been sent.
    pub request_payload: serde_json::Value,
    pub response_context: ResponseContext,
    /// What a synchronous call answered: the function's result, or its error payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_payload: Option<serde_json::Value>,
    pub fanin: FaninContext,
}

/// Lambda's `requestContext`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    /// The last Invoke's request id, if any call was answered.
    pub request_id: Option<String>,
    /// The function (with `:qualifier` when one is configured).
    pub function_arn: String,
    pub condition: Condition,
    /// Invoke calls made.
    pub approximate_invoke_count: u32,
}

/// The last answer (or failure to get one).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseContext {
    /// HTTP status of the last answer; null when there was none (timeout, connection error).
    pub status_code: Option<u16>,
    /// The error code (`TooManyRequestsException`, `Timeout`, …), or the function's own
    /// `errorType` when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// `X-Amz-Executed-Version`: the version that ran (synchronous calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executed_version: Option<String>,
    /// `X-Amz-Function-Error`: `Unhandled` or `Handled`, when the function failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_error: Option<String>,
    /// The decoded end of the function's log (`log_type = "Tail"`), when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_tail: Option<String>,
}

/// What only fanin knows.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaninContext {
    pub source: String,
    pub event_id: String,
    pub target: String,
    pub first_attempt_at: Option<String>,
    pub last_attempt_at: Option<String>,
    /// How many times `fanin replay` sent this event and it died again.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub replay_count: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// RFC 3339 with milliseconds, as Lambda writes its timestamps.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}
