//! A failed AWS call reduced to what the checks branch on: the error code and HTTP status
//! (never the message text), the same for Lambda, SQS and S3.

use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};

/// What an AWS call answered, when it did not succeed.
#[derive(Debug, Clone)]
pub(super) struct Failure {
    /// The service's error code; `None` when the service never answered.
    pub code: Option<String>,
    pub status: Option<u16>,
    pub message: String,
}

impl Failure {
    pub fn of<E>(err: &SdkError<E, HttpResponse>) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match err {
            SdkError::ServiceError(_) => Failure {
                code: err.code().map(str::to_string),
                status: err.raw_response().map(|r| r.status().as_u16()),
                message: err.message().unwrap_or_default().to_string(),
            },
            // No answer (connection, timeout) or no request (credentials, construction).
            _ => Failure { code: None, status: None, message: crate::error_chain(err) },
        }
    }

    /// The caller lacks a permission (403, `AccessDenied*`, `*NotAuthorized*`).
    pub fn denied(&self) -> bool {
        let code = self.code.as_deref().unwrap_or_default();
        code.starts_with("AccessDenied") || code.contains("NotAuthorized") || self.status == Some(403)
    }

    /// SQS: the queue does not exist (the JSON protocol's code, or the query protocol's).
    pub fn no_such_queue(&self) -> bool {
        matches!(self.code.as_deref(), Some("QueueDoesNotExist" | "AWS.SimpleQueueService.NonExistentQueue"))
    }

    /// The service answered with an error (as opposed to never answering).
    pub fn answered(&self) -> bool {
        self.code.is_some() || self.status.is_some()
    }

    /// `Code (status): message`, or just the message when there was no answer.
    pub fn summary(&self) -> String {
        match (&self.code, self.status) {
            (Some(code), Some(status)) => format!("{code} ({status}): {}", self.message),
            (Some(code), None) => format!("{code}: {}", self.message),
            (None, Some(status)) => format!("HTTP {status}: {}", self.message),
            (None, None) => self.message.clone(),
        }
    }

    /// Advice for a call that got no answer, naming the service's endpoint variable.
    pub fn unreachable_advice(service: &str) -> String {
        format!(
            "check the network, the credentials (environment, [aws] profile / assume_role_arn) and the endpoint \
             ([aws] endpoint_url, AWS_ENDPOINT_URL_{service})"
        )
    }
}
