//! One Invoke call against one target, and its failure as a typed, classified error.

use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::invoke::builders::InvokeFluentBuilder;
use aws_sdk_lambda::operation::invoke::InvokeError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType as SdkInvocationType;
use base64::Engine;
use bytes::Bytes;

use super::classify::{classify, Class};
use crate::config::{InvocationType, TargetSettings};

/// A failed attempt.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}{}: {}", code.as_deref().unwrap_or("error"), status.map(|s| format!(" ({s})")).unwrap_or_default(), message)]
pub struct InvokeFailure {
    /// What to do about it.
    pub class: Class,
    /// Lambda's error code, or `Timeout` / `ConnectionError` / `FunctionError` when it gave none.
    pub code: Option<String>,
    /// HTTP status of the answer, if there was one.
    pub status: Option<u16>,
    pub message: String,
    pub request_id: Option<String>,
    /// What a synchronous call told besides: the function's error payload and log tail.
    pub answer: Option<Answer>,
}

/// What Lambda answered a call it took (2xx), including one whose function failed.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub request_id: Option<String>,
    pub status: u16,
    /// `X-Amz-Executed-Version` (synchronous calls).
    pub executed_version: Option<String>,
    /// `X-Amz-Function-Error`: `Unhandled` or `Handled`.
    pub function_error: Option<String>,
    /// The function's answer (synchronous calls; its error payload when it failed).
    pub payload: Option<serde_json::Value>,
    /// The last 4 KB of the function's log, decoded (`log_type = "Tail"`).
    pub log_tail: Option<String>,
}

/// How much of a function's log a record keeps: what Lambda returns with `LogType: Tail`.
const LOG_TAIL_BYTES: usize = 4096;

/// A target's Invoke call, ready to run.
pub struct Invoker {
    client: aws_sdk_lambda::Client,
    function: String,
    /// How dead-letter records name the function.
    function_arn: String,
    qualifier: Option<String>,
    invocation_type: InvocationType,
    client_context: Option<String>,
    /// `retry.retry_kms_errors`.
    retry_kms: bool,
    /// `retry.retry_function_errors`.
    retry_function_errors: bool,
    /// `log_type = "Tail"`.
    log_tail: bool,
}

impl Invoker {
    /// `scope` (region, account) completes a function given by name into the full ARN
    /// dead-letter records carry, as Lambda's own do; without it they name it as configured.
    pub fn new(client: aws_sdk_lambda::Client, settings: &TargetSettings, scope: Option<(&str, &str)>) -> Self {
        let function_arn = match scope {
            Some((region, account)) => crate::iam::function_arn(&settings.function, settings.qualifier.as_deref(), region, account),
            None => match &settings.qualifier {
                Some(q) => format!("{}:{q}", settings.function),
                None => settings.function.clone(),
            },
        };
        let client_context = settings.client_context.as_ref().map(|c| {
            base64::engine::general_purpose::STANDARD.encode(serde_json::Value::Object(c.clone()).to_string())
        });
        Invoker {
            client,
            function: settings.function.clone(),
            function_arn,
            qualifier: settings.qualifier.clone(),
            invocation_type: settings.invocation_type,
            client_context,
            retry_kms: settings.retry.retry_kms_errors,
            retry_function_errors: settings.retry.retry_function_errors,
            log_tail: settings.log_type == crate::config::LogType::Tail,
        }
    }

    /// The function as dead-letter records name it.
    pub fn function_arn(&self) -> String {
        self.function_arn.clone()
    }

    /// The Invoke call for `payload` with this target's function, qualifier, invocation type
    /// and client context, ready to send.
    pub fn request(&self, payload: &Bytes) -> InvokeFluentBuilder {
        let invocation_type = match self.invocation_type {
            InvocationType::Event => SdkInvocationType::Event,
            InvocationType::RequestResponse => SdkInvocationType::RequestResponse,
        };
        self.client
            .invoke()
            .function_name(&self.function)
            .set_qualifier(self.qualifier.clone())
            .invocation_type(invocation_type)
            .set_client_context(self.client_context.clone())
            .set_log_type(self.log_tail.then_some(aws_sdk_lambda::types::LogType::Tail))
            .payload(Blob::new(payload.to_vec()))
    }

    /// Invokes once: what Lambda answered, or why the attempt failed.
    pub async fn invoke(&self, payload: &Bytes) -> Result<Answer, InvokeFailure> {
        let out = self.request(payload).send().await.map_err(|err| failure(err, self.retry_kms))?;
        let synchronous = self.invocation_type == InvocationType::RequestResponse;
        let answer = Answer {
            request_id: aws_sdk_lambda::operation::RequestId::request_id(&out).map(str::to_string),
            status: out.status_code() as u16,
            executed_version: out.executed_version().map(str::to_string),
            function_error: out.function_error().map(str::to_string),
            payload: out.payload().filter(|_| synchronous).map(|p| {
                serde_json::from_slice(p.as_ref()).unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(p.as_ref()).into_owned()))
            }),
            log_tail: out.log_result().map(decode_log),
        };
        // A synchronous call "succeeds" at the HTTP level when the function itself failed.
        let Some(kind) = answer.function_error.clone() else { return Ok(answer) };
        let text = |field: &str| answer.payload.as_ref().and_then(|p| p.get(field)).and_then(|v| v.as_str()).map(str::to_string);
        Err(InvokeFailure {
            // Lambda's own asynchronous retries give up as RetriesExhausted too.
            class: if self.retry_function_errors { Class::Retry } else { Class::Terminal(crate::dlq::Condition::RetriesExhausted) },
            code: Some(text("errorType").unwrap_or_else(|| "FunctionError".into())),
            status: Some(answer.status),
            message: text("errorMessage").unwrap_or_else(|| format!("the function failed ({kind})")),
            request_id: answer.request_id.clone(),
            answer: Some(answer),
        })
    }
}

/// A Lambda call's failure: [`failure_of`], with a throttle's `Reason` and `retryAfterSeconds`.
fn failure(err: SdkError<InvokeError>, retry_kms: bool) -> InvokeFailure {
    let mut failure = failure_of(&err, retry_kms);
    if let (Class::Throttled { reason, retry_after }, Some(InvokeError::TooManyRequestsException(e))) =
        (&mut failure.class, err.as_service_error())
    {
        *reason = e.reason().map(|r| r.as_str().to_string());
        *retry_after = e
            .retry_after_seconds()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(std::time::Duration::from_secs_f64);
    }
    failure
}

/// Any AWS call's failure, classified by its code and status (the same for every target kind).
pub(super) fn failure_of<E>(err: &SdkError<E, HttpResponse>, retry_kms: bool) -> InvokeFailure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let request_id = err.raw_response().and_then(|r| r.headers().get("x-amzn-RequestId")).map(str::to_string);
    let (class, code, status, message) = match err {
        SdkError::TimeoutError(_) => (Class::Retry, "Timeout".to_string(), None, "no answer within invoke_timeout".to_string()),
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            (Class::Retry, "ConnectionError".into(), None, aws_sdk_lambda::error::DisplayErrorContext(err).to_string())
        }
        SdkError::ConstructionFailure(_) => (
            Class::Terminal(crate::dlq::Condition::InvalidEvent),
            "InvalidRequest".into(),
            None,
            aws_sdk_lambda::error::DisplayErrorContext(err).to_string(),
        ),
        _ => {
            let status = err.raw_response().map(|r| r.status().as_u16());
            let code = err.code().map(str::to_string);
            let message = err.message().unwrap_or_default().to_string();
            let class = classify(code.as_deref(), status, retry_kms);
            return InvokeFailure { class, code, status, message, request_id, answer: None };
        }
    };
    InvokeFailure { class, code: Some(code), status, message, request_id, answer: None }
}

/// `X-Amz-Log-Result` decoded, its last [`LOG_TAIL_BYTES`] at most.
fn decode_log(base64_log: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD.decode(base64_log).unwrap_or_else(|_| base64_log.as_bytes().to_vec());
    let tail = &bytes[bytes.len().saturating_sub(LOG_TAIL_BYTES)..];
    String::from_utf8_lossy(tail).into_owned()
}
