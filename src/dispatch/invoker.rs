//! One Invoke call against one target, and its failure as a typed, classified error. The call
//! is Lambda's REST-JSON wire protocol over [`crate::signed_http`], not the SDK's client: the
//! SDK's per-request machinery cost several times the call itself.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};

use super::classify::{classify, Class};
use crate::dispatch::settings::{InvocationType, TargetSettings};
use crate::signed_http::{self, Signer};

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

/// How an Invoke call runs (`X-Amz-Invocation-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Event,
    RequestResponse,
    DryRun,
}

impl Kind {
    fn header(self) -> &'static str {
        match self {
            Kind::Event => "Event",
            Kind::RequestResponse => "RequestResponse",
            Kind::DryRun => "DryRun",
        }
    }
}

impl From<InvocationType> for Kind {
    fn from(t: InvocationType) -> Kind {
        match t {
            InvocationType::Event => Kind::Event,
            InvocationType::RequestResponse => Kind::RequestResponse,
        }
    }
}

/// A target's Invoke call, ready to run: `POST /2015-03-31/functions/{name}/invocations`,
/// signed with SigV4 over the process's pooled connections.
pub struct Invoker {
    /// The invocation URL (endpoint, path and `?Qualifier=`), or why there is none (no region).
    url: Result<hyper::Uri, String>,
    signer: Signer,
    timeout: Duration,
    /// How dead-letter records name the function.
    function_arn: String,
    invocation_type: InvocationType,
    /// `X-Amz-Client-Context`: the configured client context, base64 JSON.
    client_context: Option<HeaderValue>,
    /// `retry.retry_kms_errors`.
    retry_kms: bool,
    /// `retry.retry_function_errors`.
    retry_function_errors: bool,
    /// `log_type = "Tail"`.
    log_tail: bool,
}

impl Invoker {
    /// Calls `function` as `settings` say. `scope` (region, account) completes a function given
    /// by name into the full ARN dead-letter records carry, as Lambda's own do; without it they
    /// name it as configured.
    pub fn new(sdk: &SdkConfig, function: &str, settings: &TargetSettings, scope: Option<(&str, &str)>) -> Self {
        let function_arn = match scope {
            Some((region, account)) => super::function_name::function_arn(function, settings.qualifier.as_deref(), region, account),
            None => match &settings.qualifier {
                Some(q) => format!("{function}:{q}"),
                None => function.to_string(),
            },
        };
        let client_context = settings.client_context.as_ref().map(|c| {
            let encoded = base64::engine::general_purpose::STANDARD.encode(serde_json::Value::Object(c.clone()).to_string());
            HeaderValue::from_str(&encoded).expect("base64 is a valid header value")
        });
        let url = endpoint(sdk).and_then(|base| invocation_url(&base, function, settings.qualifier.as_deref()));
        Invoker {
            url,
            signer: Signer::new(sdk.credentials_provider(), crate::aws::region(sdk), "lambda"),
            timeout: settings.invoke_timeout,
            function_arn,
            invocation_type: settings.invocation_type,
            client_context,
            retry_kms: settings.retry.retry_kms_errors,
            retry_function_errors: settings.retry.retry_function_errors,
            log_tail: settings.log_type == crate::dispatch::settings::LogType::Tail,
        }
    }

    /// Whether it invokes with `RequestResponse`, and so has the function's answer.
    pub fn is_synchronous(&self) -> bool {
        self.invocation_type == InvocationType::RequestResponse
    }

    /// The function as dead-letter records name it.
    pub fn function_arn(&self) -> String {
        self.function_arn.clone()
    }

    /// Invokes once with the target's settings: what Lambda answered, or why the attempt
    /// failed (a synchronous call whose function failed included).
    pub async fn invoke(&self, payload: &Bytes, trace: Option<&str>) -> Result<Answer, InvokeFailure> {
        let answer = self.call_traced(payload, self.invocation_type.into(), self.log_tail, trace).await?;
        // A synchronous call "succeeds" at the HTTP level when the function itself failed.
        let Some(kind) = answer.function_error.clone() else { return Ok(answer) };
        let text = |field: &str| answer.payload.as_ref().and_then(|p| p.get(field)).and_then(|v| v.as_str()).map(str::to_string);
        Err(InvokeFailure {
            // Lambda's own asynchronous retries give up as RetriesExhausted too.
            class: if self.retry_function_errors {
                Class::FunctionFailed
            } else {
                Class::Terminal(crate::dlq::Condition::RetriesExhausted)
            },
            code: Some(text("errorType").unwrap_or_else(|| "FunctionError".into())),
            status: Some(answer.status),
            message: text("errorMessage").unwrap_or_else(|| format!("the function failed ({kind})")),
            request_id: answer.request_id.clone(),
            answer: Some(answer),
        })
    }

    /// One Invoke call of `kind` with the target's function, qualifier and client context:
    /// what Lambda answered (a function error is an answer here), or the classified failure.
    pub async fn call(&self, payload: &Bytes, kind: Kind, log_tail: bool) -> Result<Answer, InvokeFailure> {
        self.call_traced(payload, kind, log_tail, None).await
    }

    /// [`Invoker::call`] in the X-Ray trace `trace` (`X-Amzn-Trace-Id`), when it has one.
    async fn call_traced(&self, payload: &Bytes, kind: Kind, log_tail: bool, trace: Option<&str>) -> Result<Answer, InvokeFailure> {
        let failed = |class, code: &str, message: String| InvokeFailure {
            class,
            code: Some(code.into()),
            status: None,
            message,
            request_id: None,
            answer: None,
        };
        let url = self.url.as_ref().map_err(|e| failed(Class::Retry, "ConfigurationError", e.clone()))?;
        let client = signed_http::client().map_err(|e| failed(Class::Retry, "ConnectionError", e))?;
        let mut request = hyper::Request::post(url.clone()).body(Full::new(payload.clone())).expect("a valid URI and static headers");
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        headers.insert("x-amz-invocation-type", HeaderValue::from_static(kind.header()));
        if log_tail {
            headers.insert("x-amz-log-type", HeaderValue::from_static("Tail"));
        }
        if let Some(context) = &self.client_context {
            headers.insert("x-amz-client-context", context.clone());
        }
        if let Some(trace) = trace.and_then(crate::telemetry::xray::header_value) {
            headers.insert(crate::telemetry::xray::HEADER, trace);
        }
        self.signer.sign(&mut request, payload).await.map_err(|e| failed(Class::Retry, "CredentialsError", crate::error_chain(&e)))?;
        let exchange = async {
            let response = client.request(request).await.map_err(|e| failed(Class::Retry, "ConnectionError", crate::error_chain(&e)))?;
            let (parts, body) = response.into_parts();
            let body = signed_http::read_body(body, signed_http::MAX_LAMBDA_ANSWER).await.map_err(|e| answer_unread(&e))?;
            Ok::<_, InvokeFailure>((parts, body))
        };
        let (parts, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| failed(Class::Retry, "Timeout", "no answer within invoke_timeout".into()))??;
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let status = parts.status.as_u16();
        let request_id = header("x-amzn-requestid");
        if !parts.status.is_success() {
            return Err(error_answer(status, &parts.headers, &body, request_id, self.retry_kms));
        }
        Ok(Answer {
            request_id,
            status,
            executed_version: header("x-amz-executed-version"),
            function_error: header("x-amz-function-error"),
            payload: (kind == Kind::RequestResponse).then(|| {
                serde_json::from_slice(&body).unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into_owned()))
            }),
            log_tail: header("x-amz-log-result").as_deref().map(decode_log),
        })
    }
}

/// Lambda's endpoint: `AWS_ENDPOINT_URL_LAMBDA`, else `[aws] endpoint_url` (or
/// `AWS_ENDPOINT_URL`), else the one the SDK's own resolver gives for the region, FIPS and
/// dual-stack settings.
fn endpoint(sdk: &SdkConfig) -> Result<String, String> {
    use aws_sdk_lambda::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
    let params = Params::builder()
        .set_region(sdk.region().map(|r| r.to_string()))
        .use_fips(sdk.use_fips().unwrap_or(false))
        .use_dual_stack(sdk.use_dual_stack().unwrap_or(false))
        .set_endpoint(crate::aws::endpoint_override(sdk, "LAMBDA"));
    let params = params.build().map_err(|e| e.to_string())?;
    signed_http::resolved_url("Lambda", DefaultResolver::new().resolve_endpoint(&params))
}

/// `{base}/2015-03-31/functions/{function}/invocations[?Qualifier=…]`, name and qualifier
/// percent-encoded as the SDK encodes a URI label.
fn invocation_url(base: &str, function: &str, qualifier: Option<&str>) -> Result<hyper::Uri, String> {
    let mut url = format!("{}/2015-03-31/functions/{}/invocations", base.trim_end_matches('/'), encode(function));
    if let Some(q) = qualifier {
        url.push_str("?Qualifier=");
        url.push_str(&encode(q));
    }
    url.parse().map_err(|e| format!("{url}: {e}"))
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A body that could not be read: one too large is refused with its own code (retried: a
/// proxy's error page, not Lambda's answer), a dropped connection is a connection error.
pub(super) fn answer_unread(e: &signed_http::BodyError) -> InvokeFailure {
    let code = match e {
        signed_http::BodyError::TooLarge { .. } => "AnswerTooLarge",
        signed_http::BodyError::Read(_) => "ConnectionError",
    };
    InvokeFailure {
        class: Class::Retry,
        code: Some(code.into()),
        status: None,
        message: crate::error_chain(e),
        request_id: None,
        answer: None,
    }
}

/// A non-2xx answer, classified: the code from `x-amzn-ErrorType` (else the body's `code` or
/// `__type`), the body's `message`, and for a throttle its `Reason` and `Retry-After`
/// (else the body's `retryAfterSeconds`), read as the SDK reads them.
fn error_answer(status: u16, headers: &hyper::HeaderMap, body: &[u8], request_id: Option<String>, retry_kms: bool) -> InvokeFailure {
    #[derive(serde::Deserialize, Default)]
    struct ErrorBody {
        code: Option<String>,
        #[serde(rename = "__type")]
        type_: Option<String>,
        #[serde(alias = "Message", alias = "errorMessage")]
        message: Option<String>,
        #[serde(rename = "Reason")]
        reason: Option<String>,
        #[serde(rename = "retryAfterSeconds")]
        retry_after_seconds: Option<serde_json::Value>,
    }
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let code = header("x-amzn-errortype").map(str::to_string).or(parsed.code).or(parsed.type_).map(|c| sanitize_error_code(&c).to_string());
    let mut class = classify(code.as_deref(), Some(status), retry_kms);
    if let Class::Throttled { reason, retry_after } = &mut class {
        *reason = parsed.reason;
        let seconds = header("retry-after")
            .map(str::to_string)
            .or_else(|| parsed.retry_after_seconds.map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())));
        *retry_after = seconds.as_deref().and_then(super::classify::retry_after);
    }
    InvokeFailure { class, code, status: Some(status), message: parsed.message.unwrap_or_default(), request_id, answer: None }
}

/// An error code without its namespace (`aws.protocols#Foo`) or its URL suffix (`Foo:http://…`).
fn sanitize_error_code(code: &str) -> &str {
    let code = code.split(':').next().unwrap_or(code);
    code.rsplit('#').next().unwrap_or(code)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dlq::Condition;

    fn headers(pairs: &[(&str, &str)]) -> hyper::HeaderMap {
        pairs.iter().map(|(k, v)| (k.parse::<hyper::header::HeaderName>().unwrap(), HeaderValue::from_str(v).unwrap())).collect()
    }

    #[test]
    fn a_throttle_carries_its_reason_and_retry_after_from_the_header_or_the_body() {
        let body = br#"{"Type":"User","message":"Rate Exceeded.","Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","retryAfterSeconds":"7"}"#;
        let f = error_answer(
            429,
            &headers(&[("x-amzn-ErrorType", "TooManyRequestsException"), ("Retry-After", "3")]),
            body,
            Some("r1".into()),
            false,
        );
        assert_eq!(
            f.class,
            Class::Throttled {
                reason: Some("ReservedFunctionConcurrentInvocationLimitExceeded".into()),
                retry_after: Some(Duration::from_secs(3))
            }
        );
        assert_eq!(
            (f.code.as_deref(), f.status, f.message.as_str(), f.request_id.as_deref()),
            (Some("TooManyRequestsException"), Some(429), "Rate Exceeded.", Some("r1"))
        );
        // Without the header, the body's retryAfterSeconds (a string or a number) is the wait.
        let f = error_answer(429, &headers(&[("x-amzn-ErrorType", "TooManyRequestsException")]), body, None, false);
        assert_eq!(
            f.class,
            Class::Throttled {
                reason: Some("ReservedFunctionConcurrentInvocationLimitExceeded".into()),
                retry_after: Some(Duration::from_secs(7))
            }
        );
        let f = error_answer(429, &headers(&[]), br#"{"Reason":"CallerRateLimitExceeded","retryAfterSeconds":1.5}"#, None, false);
        assert_eq!(
            f.class,
            Class::Throttled { reason: Some("CallerRateLimitExceeded".into()), retry_after: Some(Duration::from_millis(1500)) }
        );
        // A wait that is not a number is no wait.
        let f = error_answer(429, &headers(&[("Retry-After", "soon")]), b"{}", None, false);
        assert_eq!(f.class, Class::Throttled { reason: None, retry_after: None });
    }

    #[test]
    fn the_code_comes_from_the_header_then_the_body_without_namespace_or_url() {
        let f = error_answer(
            404,
            &headers(&[("x-amzn-ErrorType", "ResourceNotFoundException:http://internal.amazon.com/coral/com.amazonaws.awsgirlfriend/")]),
            b"{}",
            None,
            false,
        );
        assert_eq!((f.code.as_deref(), f.class), (Some("ResourceNotFoundException"), Class::Terminal(Condition::ResourceNotFound)));
        let f = error_answer(403, &headers(&[]), br#"{"__type":"com.amazonaws.lambda#AccessDeniedException","Message":"no"}"#, None, false);
        assert_eq!(
            (f.code.as_deref(), f.message.as_str(), f.class),
            (Some("AccessDeniedException"), "no", Class::Terminal(Condition::AccessDenied))
        );
        let f = error_answer(
            400,
            &headers(&[]),
            br#"{"code":"InvalidRequestContentException","__type":"Other","errorMessage":"bad json"}"#,
            None,
            false,
        );
        assert_eq!((f.code.as_deref(), f.message.as_str()), (Some("InvalidRequestContentException"), "bad json"), "code wins over __type");
        assert_eq!(f.class, Class::Terminal(Condition::InvalidEvent));
    }

    #[test]
    fn every_documented_error_is_classified_as_the_sdk_path_classified_it() {
        let cases: &[(u16, &str, Class)] = &[
            (413, "RequestTooLargeException", Class::Terminal(Condition::RequestTooLarge)),
            (500, "ServiceException", Class::Retry),
            (502, "ResourceNotReadyException", Class::Retry),
            (502, "EC2ThrottledException", Class::Retry),
            (502, "KMSAccessDeniedException", Class::Terminal(Condition::Rejected)),
            (400, "RecursiveInvocationException", Class::Terminal(Condition::Rejected)),
        ];
        for (status, code, class) in cases {
            let f = error_answer(*status, &headers(&[("x-amzn-ErrorType", code)]), br#"{"Type":"User","message":"m"}"#, None, false);
            assert_eq!((&f.class, f.code.as_deref(), f.status), (class, Some(*code), Some(*status)), "{code}");
        }
        let f = error_answer(502, &headers(&[("x-amzn-ErrorType", "KMSDisabledException")]), b"{}", None, true);
        assert_eq!(f.class, Class::Retry, "retry_kms_errors");
        // No code and a body that is not JSON (a proxy's error page): the status decides.
        let f = error_answer(503, &headers(&[]), b"<html>Service Unavailable</html>", None, false);
        assert_eq!((f.class, f.code), (Class::Retry, None));
    }

    #[test]
    fn the_url_encodes_name_and_qualifier_as_the_sdk_does() {
        let url = invocation_url("http://127.0.0.1:9000/", "arn:aws:lambda:us-east-1:123456789012:function:resize", Some("live")).unwrap();
        assert_eq!(url.to_string(), "http://127.0.0.1:9000/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aresize/invocations?Qualifier=live");
        let url = invocation_url("https://lambda.eu-west-1.amazonaws.com", "resize:$LATEST", None).unwrap();
        assert_eq!(url.to_string(), "https://lambda.eu-west-1.amazonaws.com/2015-03-31/functions/resize%3A%24LATEST/invocations");
    }

    #[test]
    fn the_endpoint_is_the_override_else_what_the_sdk_resolves_for_the_region() {
        let base = || aws_config::SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest());
        let plain = base().region(aws_config::Region::new("eu-west-1")).build();
        assert_eq!(endpoint(&plain).unwrap(), "https://lambda.eu-west-1.amazonaws.com");
        let fips = base().region(aws_config::Region::new("us-east-1")).use_fips(true).build();
        assert_eq!(endpoint(&fips).unwrap(), "https://lambda-fips.us-east-1.amazonaws.com");
        let china = base().region(aws_config::Region::new("cn-north-1")).build();
        assert_eq!(endpoint(&china).unwrap(), "https://lambda.cn-north-1.amazonaws.com.cn");
        let local = base().region(aws_config::Region::new("us-east-1")).endpoint_url("http://127.0.0.1:5000").build();
        if std::env::var_os("AWS_ENDPOINT_URL_LAMBDA").is_none() {
            assert_eq!(endpoint(&local).unwrap(), "http://127.0.0.1:5000");
        }
        let nowhere = base().build();
        assert!(endpoint(&nowhere).is_err(), "no region and no endpoint: no URL to call");
    }
}
