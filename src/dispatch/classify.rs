//! What a failed call means (Lambda's Invoke, Step Functions' StartExecution): retry, slow
//! down, or dead-letter now.
//!
//! Decided by error code and HTTP status only, never by message text, in this one place.

use std::time::Duration;

use crate::dlq::Condition;

/// How to treat one failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    /// Lambda throttled (429): retry, lower the target's concurrency, honour `retry_after`.
    Throttled { reason: Option<String>, retry_after: Option<Duration> },
    /// Transient on the service's side (5xx from Lambda, a timeout, a connection error):
    /// retry with backoff until `max_event_age`, as Lambda's own asynchronous queue does.
    Retry,
    /// The function itself failed (a function error, or a function URL's 5xx, which is the
    /// function's answer): retry, counting against `max_attempts`.
    FunctionFailed,
    /// Will not get better by retrying: dead-letter at once.
    Terminal(Condition),
}

/// Classifies a Lambda error by its code (`x-amzn-ErrorType`) and HTTP status; `retry_kms`:
/// the target's `retry.retry_kms_errors`.
pub fn classify(code: Option<&str>, status: Option<u16>, retry_kms: bool) -> Class {
    let code = code.unwrap_or("");
    match code {
        "TooManyRequestsException" => return Class::Throttled { reason: None, retry_after: None },
        "ServiceException" => return Class::Retry,
        "ResourceNotFoundException" => return Class::Terminal(Condition::ResourceNotFound),
        "AccessDeniedException" | "AccessDenied" => return Class::Terminal(Condition::AccessDenied),
        "RequestTooLargeException" => return Class::Terminal(Condition::RequestTooLarge),
        "InvalidRequestContentException" => return Class::Terminal(Condition::InvalidEvent),
        "RecursiveInvocationException" => return Class::Terminal(Condition::Rejected),
        // Step Functions answers 400 for all of these, so the code decides.
        "ThrottlingException" => return Class::Throttled { reason: None, retry_after: None },
        "ExecutionLimitExceeded" => return Class::Retry,
        "StateMachineDoesNotExist" | "StateMachineDeleting" => return Class::Terminal(Condition::ResourceNotFound),
        "InvalidExecutionInput" | "InvalidName" | "InvalidArn" => return Class::Terminal(Condition::InvalidEvent),
        _ => {}
    }
    if code.contains("NotAuthorized") {
        return Class::Terminal(Condition::AccessDenied);
    }
    // The 502 family is transient (ENIs being created, subnets short of IPs) except KMS,
    // which is a key or grant problem a retry will not fix, unless the operator says it will.
    if code.starts_with("KMS") {
        return if retry_kms { Class::Retry } else { Class::Terminal(Condition::Rejected) };
    }
    if code.starts_with("EC2")
        || code.starts_with("ENI")
        || code.starts_with("Subnet")
        || code == "ResourceNotReadyException"
        || code == "ResourceConflictException"
    {
        return Class::Retry;
    }
    match status {
        Some(s) => classify_status_and_400(s),
        // No answer at all (timeouts, dropped connections): transient.
        None => Class::Retry,
    }
}

/// The longest `Retry-After` honoured: a throttle that asks for more (or for a wait no clock
/// can hold) waits this long, and the event's own `max_event_age` still bounds its retries.
pub const RETRY_AFTER_MOST: Duration = Duration::from_secs(15 * 60);

/// A throttle's `Retry-After` (or `retryAfterSeconds`), in seconds, as a wait of at most
/// [`RETRY_AFTER_MOST`]; `None` when it is not a number of seconds.
pub fn retry_after(seconds: &str) -> Option<Duration> {
    let seconds = seconds.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0)?;
    Some(Duration::from_secs_f64(seconds.min(RETRY_AFTER_MOST.as_secs_f64())))
}

/// A function URL's answer, which carries no error code: 429 throttled, 403, 404 and 413 as
/// for Invoke, any other 4xx rejected, 5xx the function's own failure (the URL answers what
/// the function answered, 502 when it threw).
pub fn classify_status(status: u16) -> Class {
    match status {
        400 => Class::Terminal(Condition::Rejected),
        s if (500..600).contains(&s) => Class::FunctionFailed,
        s => classify_status_and_400(s),
    }
}

/// By HTTP status alone (400: Invoke's invalid request content).
fn classify_status_and_400(status: u16) -> Class {
    match status {
        429 => Class::Throttled { reason: None, retry_after: None },
        403 => Class::Terminal(Condition::AccessDenied),
        404 => Class::Terminal(Condition::ResourceNotFound),
        413 => Class::Terminal(Condition::RequestTooLarge),
        400 => Class::Terminal(Condition::InvalidEvent),
        s if (400..500).contains(&s) => Class::Terminal(Condition::Rejected),
        // 5xx and anything else: transient.
        _ => Class::Retry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_design_table() {
        let throttled = Class::Throttled { reason: None, retry_after: None };
        assert_eq!(classify(Some("TooManyRequestsException"), Some(429), false), throttled);
        assert_eq!(classify(None, Some(429), false), throttled);
        assert_eq!(classify(Some("ServiceException"), Some(500), false), Class::Retry);
        for code in
            ["ResourceNotReadyException", "EC2ThrottledException", "ENILimitReachedException", "SubnetIPAddressLimitReachedException"]
        {
            assert_eq!(classify(Some(code), Some(502), false), Class::Retry, "{code}");
        }
        assert_eq!(classify(Some("KMSAccessDeniedException"), Some(502), false), Class::Terminal(Condition::Rejected));
        assert_eq!(classify(Some("KMSAccessDeniedException"), Some(502), true), Class::Retry, "retry_kms_errors");
        assert_eq!(classify(Some("ResourceNotFoundException"), Some(404), false), Class::Terminal(Condition::ResourceNotFound));
        assert_eq!(classify(Some("AccessDeniedException"), Some(403), false), Class::Terminal(Condition::AccessDenied));
        assert_eq!(classify(Some("UserNotAuthorizedException"), Some(400), false), Class::Terminal(Condition::AccessDenied));
        assert_eq!(classify(Some("RequestTooLargeException"), Some(413), false), Class::Terminal(Condition::RequestTooLarge));
        assert_eq!(classify(Some("InvalidRequestContentException"), Some(400), false), Class::Terminal(Condition::InvalidEvent));
        assert_eq!(classify(Some("RecursiveInvocationException"), Some(400), false), Class::Terminal(Condition::Rejected));
        assert_eq!(classify(None, None, false), Class::Retry, "no answer at all (timeout, connection)");
        assert_eq!(classify(None, Some(503), false), Class::Retry);
        assert_eq!(classify(Some("SomethingNew"), Some(409), false), Class::Terminal(Condition::Rejected));
    }

    #[test]
    fn a_retry_after_is_seconds_held_to_a_quarter_hour() {
        assert_eq!(retry_after(" 1.5 "), Some(Duration::from_millis(1500)));
        assert_eq!(retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(retry_after("1e300"), Some(RETRY_AFTER_MOST), "no overflow");
        assert_eq!(retry_after("99999999999999999999"), Some(RETRY_AFTER_MOST));
        assert_eq!(retry_after("-1"), None);
        assert_eq!(retry_after("NaN"), None);
        assert_eq!(retry_after("Wed, 21 Oct 2026 07:28:00 GMT"), None);
    }

    #[test]
    fn message_text_plays_no_part() {
        // Same code and status, whatever the message said: the function takes no message at all.
        assert_eq!(classify(Some("ServiceException"), Some(500), false), Class::Retry);
    }
}
