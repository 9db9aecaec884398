//! Step Functions task tokens carried by queue messages (`task_token = "$.TaskToken"`, where
//! `sqs:sendMessage.waitForTaskToken` puts it): where a message's token sits, the callback that
//! completes its task (`SendTaskSuccess` / `SendTaskFailure`) before the upstream delete, and
//! the `SendTaskHeartbeat`s while its event is in flight or waits for a retry.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sfn::error::{ProvideErrorMetadata, SdkError};
use serde::Deserialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::event::{Disposition, Told};
use crate::telemetry::events::TaskCallback;
use crate::telemetry::log_limit;

/// Step Functions' limits on `SendTaskFailure`'s `error` and `cause`, and on `SendTaskSuccess`'s
/// `output` (characters for the first two, bytes for the output).
pub const ERROR_LIMIT: usize = 256;
pub const CAUSE_LIMIT: usize = 32_768;
pub const OUTPUT_LIMIT: usize = 256 * 1024;

/// Time allowed for one callback.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Tries of a callback Step Functions failed to take (throttled, its own error, no answer)
/// before the message is left upstream to come back.
const CALLBACK_TRIES: u32 = 3;
const CALLBACK_FIRST_WAIT: Duration = Duration::from_millis(200);

/// Where a message's token sits in its body: `$`, then `.key`, `['key']` or `[index]` steps. A
/// step that meets a string holding JSON (an SNS envelope's `Message`) reads into it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct TokenPath {
    text: String,
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

impl TryFrom<String> for TokenPath {
    type Error = String;

    fn try_from(text: String) -> Result<TokenPath, String> {
        let bad = |why: &str| format!("`{text}` is not a JSON path ({why}); write it like \"$.TaskToken\" or \"$.detail.token\"");
        let mut rest = text.strip_prefix('$').ok_or_else(|| bad("it must start with $"))?;
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('.') {
                let end = after.find(['.', '[']).unwrap_or(after.len());
                if end == 0 {
                    return Err(bad("an empty key"));
                }
                steps.push(Step::Key(after[..end].to_string()));
                rest = &after[end..];
            } else if let Some(after) = rest.strip_prefix("['") {
                let end = after.find("']").ok_or_else(|| bad("an unclosed ['"))?;
                steps.push(Step::Key(after[..end].to_string()));
                rest = &after[end + 2..];
            } else if let Some(after) = rest.strip_prefix('[') {
                let end = after.find(']').ok_or_else(|| bad("an unclosed ["))?;
                steps.push(Step::Index(after[..end].parse().map_err(|_| bad("an index that is not a number"))?));
                rest = &after[end + 1..];
            } else {
                return Err(bad("a step must start with . or ["));
            }
        }
        if steps.is_empty() {
            return Err(bad("it names no key"));
        }
        Ok(TokenPath { text, steps })
    }
}

impl fmt::Display for TokenPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl TokenPath {
    /// The token in `body`, if the path leads to a non-empty string there.
    pub fn find(&self, body: &str) -> Option<String> {
        let mut value: Value = serde_json::from_str(body).ok()?;
        for step in &self.steps {
            // A string holding JSON is read into (an SNS envelope's `Message`).
            if let Value::String(text) = &value {
                value = serde_json::from_str(text).ok()?;
            }
            value = match (step, value) {
                (Step::Key(k), Value::Object(mut o)) => o.remove(k)?,
                (Step::Index(i), Value::Array(mut a)) if *i < a.len() => a.swap_remove(*i),
                _ => return None,
            };
        }
        match value {
            Value::String(token) if !token.is_empty() => Some(token),
            _ => None,
        }
    }
}

/// The callback a settled message's task gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Completion {
    /// `SendTaskSuccess` with this output (JSON text).
    Success(String),
    /// `SendTaskFailure`, `error` and `cause` cut to Step Functions' limits.
    Failure { error: String, cause: String },
    /// Nothing: the function got the token and completes the task itself (`Event`).
    None,
}

/// What completes a task whose routes told `told`: the first failure (any dead letter fails
/// the task), else the first synchronous answer, else nothing.
pub fn completion(told: Vec<Told>) -> Completion {
    let mut answer = None;
    for t in told {
        match t {
            Told::Failure { error, cause } => return failure(&error, &cause),
            Told::Answer(value) if answer.is_none() => answer = Some(value),
            Told::Answer(_) => {}
        }
    }
    let Some(value) = answer else { return Completion::None };
    let output = value.to_string();
    if output.len() > OUTPUT_LIMIT {
        return failure(
            "OutputTooLarge",
            &format!("the function's answer is {} bytes, over Step Functions' limit of {OUTPUT_LIMIT} for a task's output", output.len()),
        );
    }
    Completion::Success(output)
}

fn failure(error: &str, cause: &str) -> Completion {
    Completion::Failure { error: cut(error, ERROR_LIMIT), cause: cut(cause, CAUSE_LIMIT) }
}

/// At most `limit` characters of `text`.
fn cut(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((end, _)) => text[..end].to_string(),
        None => text.to_string(),
    }
}

/// Why a callback or heartbeat was not taken.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// The task is closed: timed out, its execution ended, or the token is unknown
    /// (`TaskTimedOut`, `TaskDoesNotExist`, `InvalidToken`). No later call can succeed.
    #[error("the task is gone ({code}): {message}")]
    Gone { code: String, message: String },
    /// Anything else (throttled, Step Functions' own failure, no answer, access denied):
    /// the call may succeed later.
    #[error("{code}: {message}")]
    Failed { code: String, message: String },
}

impl<E: ProvideErrorMetadata + std::error::Error + 'static, R: fmt::Debug> From<SdkError<E, R>> for CallbackError {
    fn from(err: SdkError<E, R>) -> CallbackError {
        let code = err.code().unwrap_or("NoAnswer").to_string();
        let message = err.message().map(str::to_string).unwrap_or_else(|| aws_sdk_sfn::error::DisplayErrorContext(&err).to_string());
        match code.as_str() {
            "TaskTimedOut" | "TaskDoesNotExist" | "InvalidToken" => CallbackError::Gone { code, message },
            _ => CallbackError::Failed { code, message },
        }
    }
}

/// A source's Step Functions calls for its tasks.
pub struct Callbacks {
    client: aws_sdk_sfn::Client,
    source: Arc<str>,
}

impl Callbacks {
    pub fn new(sdk: &aws_config::SdkConfig, source: Arc<str>) -> Callbacks {
        Callbacks { client: crate::aws::sfn(sdk, CALL_TIMEOUT), source }
    }

    /// One callback.
    pub async fn send(&self, token: &str, completion: &Completion) -> Result<(), CallbackError> {
        match completion {
            Completion::Success(output) => self.client.send_task_success().task_token(token).output(output).send().await.map(drop)?,
            Completion::Failure { error, cause } => {
                self.client.send_task_failure().task_token(token).error(error).cause(cause).send().await.map(drop)?
            }
            Completion::None => {}
        }
        Ok(())
    }

    /// One heartbeat.
    pub async fn heartbeat(&self, token: &str) -> Result<(), CallbackError> {
        self.client.send_task_heartbeat().task_token(token).send().await?;
        Ok(())
    }

    /// Completes the task of message `message_id` whose events settled as `disposition` with
    /// `told`, before the message is deleted: the disposition the message then has. A message
    /// left upstream gets no callback (it comes back and is delivered again); a task that is
    /// gone settles the message (counted and logged, never retried); a callback Step Functions
    /// would not take after a few tries leaves the message upstream.
    pub async fn complete(&self, task: &Task, message_id: &str, disposition: Disposition, told: Vec<Told>) -> Disposition {
        if disposition == Disposition::Failed {
            return Disposition::Failed;
        }
        if task.is_gone() {
            debug!(source = %self.source, message_id, "its task is gone (seen by a heartbeat); no callback");
            return Disposition::Settled;
        }
        let completion = completion(told);
        let kind = match &completion {
            Completion::Success(_) => "success",
            Completion::Failure { .. } => "failure",
            Completion::None => return Disposition::Settled,
        };
        let mut wait = CALLBACK_FIRST_WAIT;
        for attempt in 1..=CALLBACK_TRIES {
            match self.send(&task.token, &completion).await {
                Ok(()) => {
                    TaskCallback { source: &self.source, result: kind }.emit();
                    debug!(source = %self.source, message_id, callback = kind, "task completed");
                    return Disposition::Settled;
                }
                Err(e @ CallbackError::Gone { .. }) => {
                    TaskCallback { source: &self.source, result: "gone" }.emit();
                    info!(source = %self.source, message_id, callback = kind, error = %e, "the task is gone; the message is settled without its callback");
                    return Disposition::Settled;
                }
                Err(e) if attempt == CALLBACK_TRIES => {
                    TaskCallback { source: &self.source, result: "not_taken" }.emit();
                    if let Some(left_out) = log_limit::allow(&format!("task-callback:{}", self.source)) {
                        warn!(source = %self.source, message_id, callback = kind, error = %e, similar_left_out = left_out, "task callback not taken; the message stays upstream and comes back");
                    }
                }
                Err(e) => {
                    debug!(source = %self.source, message_id, callback = kind, error = %e, attempt, "task callback not taken; trying again");
                    tokio::time::sleep(wait).await;
                    wait *= 4;
                }
            }
        }
        Disposition::Failed
    }
}

/// One message's task: its token, and whether a heartbeat found it gone.
pub struct Task {
    pub token: String,
    gone: AtomicBool,
}

impl Task {
    pub fn new(token: String) -> Arc<Task> {
        Arc::new(Task { token, gone: AtomicBool::new(false) })
    }

    pub fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Relaxed)
    }
}

/// Sends `task`'s heartbeat every `every` until `stop`; stops for good once Step Functions
/// says the task is gone, which [`Callbacks::complete`] then knows.
pub async fn heartbeats(callbacks: Arc<Callbacks>, task: Arc<Task>, every: Duration, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match callbacks.heartbeat(&task.token).await {
            Ok(()) => {}
            Err(e @ CallbackError::Gone { .. }) => {
                task.gone.store(true, Ordering::Relaxed);
                TaskCallback { source: &callbacks.source, result: "gone" }.emit();
                info!(source = %callbacks.source, error = %e, "a heartbeat found the task gone; its event settles without a callback");
                return;
            }
            Err(e) => {
                if let Some(left_out) = log_limit::allow(&format!("task-heartbeat:{}", callbacks.source)) {
                    warn!(source = %callbacks.source, error = %e, similar_left_out = left_out, "task heartbeat not taken; trying at the next interval");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> Result<TokenPath, String> {
        TokenPath::try_from(text.to_string())
    }

    #[test]
    fn a_path_finds_the_token_through_keys_indexes_and_json_in_strings() {
        let body = r#"{"TaskToken":"t1","detail":{"tokens":["a","t2"]},"odd key":{"x":"t3"}}"#;
        assert_eq!(path("$.TaskToken").unwrap().find(body).as_deref(), Some("t1"));
        assert_eq!(path("$.detail.tokens[1]").unwrap().find(body).as_deref(), Some("t2"));
        assert_eq!(path("$['odd key'].x").unwrap().find(body).as_deref(), Some("t3"));
        let sns = serde_json::json!({"Type": "Notification", "Message": r#"{"TaskToken":"t4"}"#}).to_string();
        assert_eq!(path("$.Message.TaskToken").unwrap().find(&sns).as_deref(), Some("t4"), "an SNS envelope's Message is read into");
        for missing in ["$.Nope", "$.detail.tokens[5]", "$.detail"] {
            assert_eq!(path(missing).unwrap().find(body), None, "{missing}");
        }
        assert_eq!(path("$.TaskToken").unwrap().find("not json"), None);
        assert_eq!(path("$.TaskToken").unwrap().find(r#"{"TaskToken":""}"#), None, "an empty token is none");
    }

    #[test]
    fn a_path_must_be_one_jsonpath_can_read() {
        for bad in ["TaskToken", "$", "$.", "$..a", "$[x]", "$['a", "$a"] {
            let e = path(bad).unwrap_err();
            assert!(e.contains("is not a JSON path"), "{bad}: {e}");
        }
        assert_eq!(path("$.a.b").unwrap().to_string(), "$.a.b");
    }

    #[test]
    fn a_dead_letter_fails_the_task_else_an_answer_completes_it_else_nothing() {
        let fail = Told::Failure { error: "KeyError".into(), cause: "'Records'".into() };
        let answer = Told::Answer(serde_json::json!({"ok": true}));
        assert_eq!(completion(vec![answer.clone()]), Completion::Success(r#"{"ok":true}"#.into()));
        assert_eq!(completion(vec![answer, fail]), Completion::Failure { error: "KeyError".into(), cause: "'Records'".into() });
        assert_eq!(completion(vec![]), Completion::None, "Event: the function completes the task");
    }

    #[test]
    fn error_cause_and_output_keep_to_step_functions_limits() {
        let long = "é".repeat(40_000);
        let Completion::Failure { error, cause } = completion(vec![Told::Failure { error: long.clone(), cause: long }]) else { panic!() };
        assert_eq!((error.chars().count(), cause.chars().count()), (ERROR_LIMIT, CAUSE_LIMIT));
        let big = Told::Answer(Value::String("x".repeat(OUTPUT_LIMIT)));
        match completion(vec![big]) {
            Completion::Failure { error, cause } => {
                assert_eq!(error, "OutputTooLarge");
                assert!(cause.contains("262146 bytes"), "{cause}");
            }
            other => panic!("{other:?}"),
        }
    }
}
