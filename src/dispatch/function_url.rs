//! A function URL target: the event is POSTed as the body to the function's URL, signed with
//! SigV4 (service `lambda`) for `auth = "AWS_IAM"`, unsigned for `"NONE"`. The answer's status
//! decides: 2xx delivered; 429 and 5xx retried (honouring `Retry-After`); 403, 404, 413 and
//! other 4xx dead-lettered at once; a timeout or a dropped connection retried.

use std::time::Duration;

use aws_config::SdkConfig;
use bytes::Bytes;
use http_body_util::Full;

use super::classify::{classify_status, Class};
use super::invoker::{Answer, InvokeFailure};
use crate::dispatch::settings::UrlAuth;
use crate::signed_http::{self, Signer};

/// Calls one function URL.
pub struct UrlCaller {
    url: String,
    auth: UrlAuth,
    signer: Signer,
    timeout: Duration,
}

impl UrlCaller {
    pub fn new(sdk: &SdkConfig, url: &str, auth: UrlAuth, timeout: Duration) -> Self {
        let region = url_region(url).unwrap_or_else(|| crate::aws::region(sdk));
        UrlCaller { url: url.to_string(), auth, signer: Signer::new(sdk.credentials_provider(), region, "lambda"), timeout }
    }

    /// The URL, as records name the target.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// POSTs `payload` once.
    pub async fn post(&self, payload: &Bytes, trace: Option<&str>) -> Result<Answer, InvokeFailure> {
        let failed = |class, code: &str, status, message: String| InvokeFailure {
            class,
            code: Some(code.into()),
            status,
            message,
            request_id: None,
            answer: None,
        };
        let client = signed_http::client().map_err(|e| failed(Class::Retry, "ConnectionError", None, e))?;
        let mut request = hyper::Request::post(&self.url)
            .header("content-type", "application/json")
            .body(Full::new(payload.clone()))
            .map_err(|e| failed(Class::Terminal(crate::dlq::Condition::InvalidEvent), "InvalidRequest", None, e.to_string()))?;
        if let Some(trace) = trace.and_then(crate::telemetry::xray::header_value) {
            request.headers_mut().insert(crate::telemetry::xray::HEADER, trace);
        }
        if self.auth == UrlAuth::AwsIam {
            self.signer
                .sign(&mut request, payload)
                .await
                .map_err(|e| failed(Class::Retry, "CredentialsError", None, crate::error_chain(&e)))?;
        }
        let call = async {
            let response =
                client.request(request).await.map_err(|e| failed(Class::Retry, "ConnectionError", None, crate::error_chain(&e)))?;
            let status = response.status().as_u16();
            let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
            let (request_id, retry_after) = (header("x-amzn-requestid"), header("retry-after"));
            let body = signed_http::read_body(response.into_body(), signed_http::MAX_LAMBDA_ANSWER)
                .await
                .map_err(|e| InvokeFailure { status: Some(status), ..super::invoker::answer_unread(&e) })?;
            Ok::<_, InvokeFailure>((status, request_id, retry_after, body))
        };
        let (status, request_id, retry_after, body) = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| failed(Class::Retry, "Timeout", None, "no answer within invoke_timeout".into()))??;
        let payload = (!body.is_empty()).then(|| {
            serde_json::from_slice(&body).unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into_owned()))
        });
        if (200..300).contains(&status) {
            return Ok(Answer { request_id, status, payload, ..Answer::default() });
        }
        let mut class = classify_status(status);
        if let Class::Throttled { retry_after: after, .. } = &mut class {
            *after = retry_after.as_deref().and_then(super::classify::retry_after);
        }
        let message = String::from_utf8_lossy(&body).chars().take(1000).collect();
        Err(InvokeFailure { class, code: Some(format!("HTTP{status}")), status: Some(status), message, request_id, answer: None })
    }
}

/// Whether `url` resolves and answers (with TLS for `https://`), sending nothing: `validate`.
pub async fn reach(url: &str, timeout: Duration) -> Result<(), String> {
    use tower_service::Service;
    let uri: hyper::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    let mut connector = signed_http::connector()?;
    match tokio::time::timeout(timeout, connector.call(uri)).await {
        Ok(Ok(_connection)) => Ok(()),
        Ok(Err(e)) => Err(crate::error_chain(&*e)),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

/// The region in a function URL's host (`<id>.lambda-url.<region>.on.aws`).
fn url_region(url: &str) -> Option<String> {
    let host = url.split("://").nth(1)?.split(['/', ':']).next()?;
    let mut parts = host.split('.');
    parts.next()?;
    (parts.next()? == "lambda-url").then(|| parts.next().map(str::to_string)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_answer_larger_than_lambda_can_send_is_refused_unread() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let _ = stream.read(&mut [0; 65536]).await;
            // 100 MiB, chunked: a reader without a limit holds all of it and calls it an answer.
            let mut answer = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
            let chunk = [b"100000\r\n".as_slice(), &[b'x'; 1 << 20], b"\r\n"].concat();
            for _ in 0..100 {
                answer.extend_from_slice(&chunk);
            }
            answer.extend_from_slice(b"0\r\n\r\n");
            let _ = stream.write_all(&answer).await;
        });
        let caller = UrlCaller::new(&SdkConfig::builder().build(), &url, UrlAuth::None, Duration::from_secs(60));
        let failure = caller.post(&Bytes::from_static(b"{}"), None).await.unwrap_err();
        assert_eq!((failure.code.as_deref(), failure.status), (Some("AnswerTooLarge"), Some(200)), "{}", failure.message);
        assert_eq!(failure.class, Class::Retry);
    }

    #[test]
    fn the_region_is_read_off_the_url() {
        assert_eq!(url_region("https://abcdefg.lambda-url.eu-west-1.on.aws/").as_deref(), Some("eu-west-1"));
        assert_eq!(url_region("http://127.0.0.1:9000/url/hook/"), None);
    }
}
