//! A function URL target: the event is POSTed as the body to the function's URL, signed with
//! SigV4 (service `lambda`) for `auth = "AWS_IAM"`, unsigned for `"NONE"`. The answer's status
//! decides: 2xx delivered; 429 and 5xx retried (honouring `Retry-After`); 403, 404, 413 and
//! other 4xx dead-lettered at once; a timeout or a dropped connection retried.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;

use super::classify::{classify_status, Class};
use super::invoker::{Answer, InvokeFailure};
use crate::config::UrlAuth;

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Calls one function URL.
pub struct UrlCaller {
    /// Made on first use: a machine without root certificates fails its calls, not its start.
    client: OnceLock<Result<HttpsClient, String>>,
    url: String,
    auth: UrlAuth,
    region: String,
    credentials: Option<SharedCredentialsProvider>,
    timeout: Duration,
}

impl UrlCaller {
    pub fn new(sdk: &SdkConfig, url: &str, auth: UrlAuth, timeout: Duration) -> Self {
        let region = url_region(url).or_else(|| sdk.region().map(|r| r.to_string())).unwrap_or_else(|| "us-east-1".into());
        UrlCaller {
            client: OnceLock::new(),
            url: url.to_string(),
            auth,
            region,
            credentials: sdk.credentials_provider(),
            timeout,
        }
    }

    /// The URL, as records name the target.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// POSTs `payload` once.
    pub async fn post(&self, payload: &Bytes) -> Result<Answer, InvokeFailure> {
        let failed = |class, code: &str, status, message: String| InvokeFailure { class, code: Some(code.into()), status, message, request_id: None, answer: None };
        let client = self.client.get_or_init(https_client).as_ref().map_err(|e| failed(Class::Retry, "ConnectionError", None, e.clone()))?;
        let mut request = hyper::Request::post(&self.url)
            .header("content-type", "application/json")
            .body(Full::new(payload.clone()))
            .map_err(|e| failed(Class::Terminal(crate::dlq::Condition::InvalidEvent), "InvalidRequest", None, e.to_string()))?;
        if self.auth == UrlAuth::AwsIam {
            self.sign(&mut request, payload).await.map_err(|e| failed(Class::Retry, "CredentialsError", None, e))?;
        }
        let call = async {
            let response = client.request(request).await.map_err(|e| failed(Class::Retry, "ConnectionError", None, e.to_string()))?;
            let status = response.status().as_u16();
            let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
            let (request_id, retry_after) = (header("x-amzn-requestid"), header("retry-after"));
            let body = response.into_body().collect().await.map_err(|e| failed(Class::Retry, "ConnectionError", Some(status), e.to_string()))?.to_bytes();
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
            *after = retry_after.and_then(|s| s.trim().parse::<f64>().ok()).filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64);
        }
        let message = String::from_utf8_lossy(&body).chars().take(1000).collect();
        Err(InvokeFailure { class, code: Some(format!("HTTP{status}")), status: Some(status), message, request_id, answer: None })
    }

    /// SigV4, service `lambda`, with the configured credentials.
    async fn sign(&self, request: &mut hyper::Request<Full<Bytes>>, payload: &Bytes) -> Result<(), String> {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        let provider = self.credentials.as_ref().ok_or("no credentials to sign with")?;
        let credentials = provider.provide_credentials().await.map_err(|e| format!("no credentials to sign with: {e}"))?;
        let identity = credentials.into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("lambda")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let headers = request.headers().iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
        let signable = SignableRequest::new("POST", &self.url, headers, SignableBody::Bytes(payload)).map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params).map_err(|e| e.to_string())?.into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

/// An HTTPS (and, for local endpoints, HTTP) client trusting the system's root certificates.
fn https_client() -> Result<HttpsClient, String> {
    Ok(Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector()?))
}

fn connector() -> Result<hyper_rustls::HttpsConnector<HttpConnector>, String> {
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| format!("no root certificates to check the function URL's TLS with: {e}"))?;
    Ok(builder.https_or_http().enable_http1().build())
}

/// Whether `url` resolves and answers (with TLS for `https://`), sending nothing: `validate`.
pub async fn reach(url: &str, timeout: Duration) -> Result<(), String> {
    use tower_service::Service;
    let uri: hyper::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    let mut connector = connector()?;
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

    #[test]
    fn the_region_is_read_off_the_url() {
        assert_eq!(url_region("https://abcdefg.lambda-url.eu-west-1.on.aws/").as_deref(), Some("eu-west-1"));
        assert_eq!(url_region("http://127.0.0.1:9000/url/hook/"), None);
    }
}
