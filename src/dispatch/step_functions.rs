//! A Step Functions target: each event starts one execution of the state machine, with the
//! event as its input and a name made from the event id and the target, so a redelivered
//! event does not start a second Standard execution (Step Functions answers a second start
//! of a name with the first execution, or `ExecutionAlreadyExists` when the input differs;
//! both count as delivered).

use aws_sdk_sfn::error::{ProvideErrorMetadata, SdkError};
use bytes::Bytes;
use serde_json::json;
use tracing::info;

use super::invoker::{failure_of, Answer, InvokeFailure};
use crate::event::fingerprint;

/// Step Functions' limit on `StartExecution`'s `traceHeader`: a longer one is not passed on.
const TRACE_HEADER_LIMIT: usize = 256;

/// Step Functions' limit on an execution's input.
pub const INPUT_LIMIT: usize = 256 * 1024;

/// Starts executions of one state machine.
pub struct Starter {
    client: aws_sdk_sfn::Client,
    state_machine: String,
    target: String,
}

impl Starter {
    pub fn new(client: aws_sdk_sfn::Client, state_machine: &str, target: &str) -> Self {
        Starter { client, state_machine: state_machine.to_string(), target: target.to_string() }
    }

    /// The state machine's ARN.
    pub fn arn(&self) -> &str {
        &self.state_machine
    }

    /// Starts the execution for `event_id` with `payload` as its input.
    /// `trace`, the event's X-Ray trace header, goes as `traceHeader`, so the execution joins it.
    pub async fn start(&self, event_id: &str, payload: &Bytes, trace: Option<&str>) -> Result<Answer, InvokeFailure> {
        let name = execution_name(event_id, &self.target);
        let started = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine)
            .name(&name)
            .input(String::from_utf8_lossy(payload))
            .set_trace_header(trace.filter(|t| t.len() <= TRACE_HEADER_LIMIT && t.is_ascii()).map(str::to_string))
            .send()
            .await;
        let request_id = |r: &dyn aws_sdk_sfn::operation::RequestId| r.request_id().map(str::to_string);
        match started {
            Ok(out) => Ok(Answer {
                request_id: request_id(&out),
                status: 200,
                payload: Some(json!({ "executionArn": out.execution_arn(), "startDate": out.start_date().to_string() })),
                ..Answer::default()
            }),
            Err(SdkError::ServiceError(e)) if e.err().code() == Some("ExecutionAlreadyExists") => {
                if let Some(left_out) = crate::telemetry::log_limit::allow(&format!("already-started:{}", self.target)) {
                    info!(target = %self.target, event_id, execution = %name, similar_left_out = left_out, "execution already started for this event; counted as delivered");
                }
                Ok(Answer { status: 400, payload: Some(json!({ "executionName": name, "alreadyStarted": true })), ..Answer::default() })
            }
            Err(err) => Err(failure_of(&err, false)),
        }
    }
}

/// An execution name (at most 80 of `A-Z a-z 0-9 - _`) that is the same for the same event
/// and target: the event id's safe characters, then a fingerprint of both.
pub fn execution_name(event_id: &str, target: &str) -> String {
    let safe: String = event_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).take(62).collect();
    format!("{safe}-{}", fingerprint(format!("{target}\n{event_id}").as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_names_are_stable_valid_and_per_target() {
        let id = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:high cpu@2026-11-27T02:00:00.000+0000";
        let name = execution_name(id, "flow");
        assert_eq!(name, execution_name(id, "flow"));
        assert_ne!(name, execution_name(id, "other"));
        assert!(name.len() <= 80 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{name}");
        let long = "x".repeat(500);
        assert!(execution_name(&long, "flow").len() <= 80);
        assert_ne!(
            execution_name(&format!("{long}a"), "flow"),
            execution_name(&format!("{long}b"), "flow"),
            "a long id is still told apart"
        );
    }
}
