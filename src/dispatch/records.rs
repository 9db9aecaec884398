//! The records an event's outcome leaves at a target, each written before its upstream message
//! may be deleted: the dead letter, and with `on_success` Lambda's on-success destination
//! record. A sink that cannot take one settles the event `Failed`: it stays upstream.

use chrono::Utc;
use tracing::{error, info};

use super::invoker::Answer;
use super::{Attempts, Delivery, Target};
use crate::dlq::record::{timestamp, FaninContext, RequestContext, ResponseContext};
use crate::dlq::{Condition, DeadLetterRecord, DeadLetterSink};
use crate::event::{Ack, Outcome, Told};
use crate::telemetry::events::{DeadLetterFailed, EventDeadLettered, SuccessRecordFailed};
use crate::telemetry::log_limit;
use crate::BoxFuture;

/// Writes the dead-letter record; `Failed` when the sink cannot take it (the message then stays upstream).
/// Boxed, as [`success`]: rare paths whose futures would otherwise enlarge every waiting delivery.
pub(super) fn dead_letter<'a>(
    event: &'a Delivery,
    target: &'a Target,
    ack: &'a Ack,
    condition: Condition,
    attempts: &'a Attempts,
    note: Option<ResponseContext>,
) -> BoxFuture<'a, Outcome> {
    Box::pin(dead_letter_inner(event, target, ack, condition, attempts, note))
}

async fn dead_letter_inner(
    event: &Delivery,
    target: &Target,
    ack: &Ack,
    condition: Condition,
    attempts: &Attempts,
    note: Option<ResponseContext>,
) -> Outcome {
    let last = attempts.last_failure.as_deref();
    let answer = last.and_then(|f| f.answer.as_ref());
    let response_context = note.unwrap_or_else(|| ResponseContext {
        status_code: last.and_then(|f| f.status),
        error_type: last.and_then(|f| f.code.clone()),
        error_message: last.map(|f| f.message.clone()),
        executed_version: answer.and_then(|a| a.executed_version.clone()),
        function_error: answer.and_then(|a| a.function_error.clone()),
        log_tail: answer.and_then(|a| a.log_tail.clone()),
    });
    let request_id = last.and_then(|f| f.request_id.clone());
    let response_payload = answer.and_then(|a| a.payload.clone());
    let record = record(event, target, attempts, condition, request_id, response_context, response_payload);
    match target.dlq.write(&record).await {
        Ok(()) => {
            if ack.listens() {
                ack.tell(failure_told(condition, &record.response_context));
            }
            EventDeadLettered { source: &event.source, target: &target.name, condition: condition.as_str() }.emit();
            info!(
                source = %event.source, target = %target.name, event_id = %event.id, condition = condition.as_str(),
                attempts = attempts.count, payload = event.payload_for_log(), "dead-lettered"
            );
            Outcome::DeadLettered
        }
        Err(e) => {
            DeadLetterFailed { source: &event.source, target: &target.name }.emit();
            if let Some(left_out) = log_limit::allow(&format!("dlq:{}", target.name)) {
                error!(
                    source = %event.source, target = %target.name, event_id = %event.id, condition = condition.as_str(), error = crate::error_chain(&e),
                    similar_left_out = left_out, "dead-letter write failed; the event stays upstream and comes back"
                );
            }
            Outcome::Failed
        }
    }
}

/// What a dead letter tells a task-token source: the function's own error type and message
/// when the function failed, else the dead-letter condition and what went wrong.
fn failure_told(condition: Condition, response: &ResponseContext) -> Told {
    let message = response.error_message.clone().filter(|m| !m.is_empty());
    if response.function_error.is_some() {
        if let Some(error) = &response.error_type {
            return Told::Failure { error: error.clone(), cause: message.unwrap_or_default() };
        }
    }
    let cause = match (&response.error_type, message, response.status_code) {
        (Some(code), Some(m), Some(status)) => format!("{code} ({status}): {m}"),
        (Some(code), Some(m), None) => format!("{code}: {m}"),
        (Some(code), None, _) => code.clone(),
        (None, Some(m), _) => m,
        (None, None, _) => format!("dead-lettered by fanin: {}", condition.as_str()),
    };
    Told::Failure { error: condition.as_str().to_string(), cause }
}

/// Writes the on-success record of an event the function accepted to `sink`; `Failed` when
/// the sink cannot take it (the message stays upstream, and is invoked again when it returns).
pub(super) fn success<'a>(
    event: &'a Delivery,
    target: &'a Target,
    sink: &'a dyn DeadLetterSink,
    attempts: &'a Attempts,
    answer: &'a Answer,
) -> BoxFuture<'a, Outcome> {
    Box::pin(success_inner(event, target, sink, attempts, answer))
}

async fn success_inner(event: &Delivery, target: &Target, sink: &dyn DeadLetterSink, attempts: &Attempts, answer: &Answer) -> Outcome {
    let response_context =
        ResponseContext { status_code: Some(answer.status), executed_version: answer.executed_version.clone(), ..Default::default() };
    let record = record(event, target, attempts, Condition::Success, answer.request_id.clone(), response_context, answer.payload.clone());
    match sink.write(&record).await {
        Ok(()) => Outcome::Delivered,
        Err(e) => {
            SuccessRecordFailed { source: &event.source, target: &target.name }.emit();
            if let Some(left_out) = log_limit::allow(&format!("on_success:{}", target.name)) {
                error!(
                    source = %event.source, target = %target.name, event_id = %event.id, error = crate::error_chain(&e), similar_left_out = left_out,
                    "on-success record not written; the event stays upstream and comes back (and is invoked again)"
                );
            }
            Outcome::Failed
        }
    }
}

/// Lambda's destination record (fanin's superset) for `event` at `target`.
fn record(
    event: &Delivery,
    target: &Target,
    attempts: &Attempts,
    condition: Condition,
    request_id: Option<String>,
    response_context: ResponseContext,
    response_payload: Option<serde_json::Value>,
) -> DeadLetterRecord {
    // The event as it was (or would have been) sent: the pointer, where there is one.
    let sent = attempts.pointer.as_ref().unwrap_or(&event.payload);
    let request_payload =
        serde_json::from_slice(sent).unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(sent).into_owned()));
    DeadLetterRecord {
        version: "1.0".into(),
        timestamp: timestamp(Utc::now()),
        request_context: RequestContext {
            request_id,
            function_arn: target.call.arn(),
            condition,
            approximate_invoke_count: attempts.count,
        },
        request_payload,
        response_context,
        response_payload,
        fanin: FaninContext {
            source: event.source.clone(),
            event_id: event.id.clone(),
            target: target.name.clone(),
            first_attempt_at: attempts.first_at.map(timestamp),
            last_attempt_at: attempts.last_at.map(timestamp),
            replay_count: 0,
        },
    }
}
