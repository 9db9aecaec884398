//! The hot path's HTTP: one pooled HTTP/1.1 client for the process, and SigV4 signing with
//! credentials cached the way the SDK caches them. Invoke and function URL calls go through
//! here instead of the SDK's per-request orchestrator, which costs several times the call.
//!
//! Credentials still come from the SDK's provider chain (`SdkConfig::credentials_provider`:
//! environment, profiles, SSO, IMDS, assumed roles); only the caching in front of it is ours.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_runtime_api::client::endpoint::EndpointFuture;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;

/// The pooled HTTPS (and, for local endpoints, plain HTTP) client.
pub type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// How long a connection attempt may take (the SDK clients' `connect_timeout`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The process's client, made on first use: a machine without root certificates fails its
/// calls, not its start.
pub fn client() -> Result<&'static HttpClient, String> {
    static CLIENT: OnceLock<Result<HttpClient, String>> = OnceLock::new();
    CLIENT.get_or_init(|| Ok(Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector()?))).as_ref().map_err(Clone::clone)
}

/// A connector trusting the system's root certificates, with Nagle off (small requests on
/// kept-alive connections) and the SDK's connect timeout.
pub fn connector() -> Result<hyper_rustls::HttpsConnector<HttpConnector>, String> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| format!("no root certificates to check TLS with: {e}"))?;
    Ok(builder.https_or_http().enable_http1().wrap_connector(http))
}

/// The URL an SDK endpoint resolver gives, for error messages named after `service`. The
/// resolvers return a future, but their rules engine is synchronous: it is ready at once.
pub fn resolved_url(service: &str, resolving: EndpointFuture<'_>) -> Result<String, String> {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    match std::pin::pin!(resolving).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(endpoint)) => Ok(endpoint.url().to_string()),
        Poll::Ready(Err(e)) => Err(format!("no {service} endpoint: {}", crate::error_chain(&*e))),
        Poll::Pending => Err(format!("no {service} endpoint: the resolver did not answer at once")),
    }
}

/// Refresh this long before credentials expire (the SDK's identity cache's buffer).
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(10);
/// Credentials that do not say when they expire are asked for again after this long (the
/// SDK's identity cache's default expiration).
const DEFAULT_EXPIRATION: Duration = Duration::from_secs(15 * 60);

/// The most of a Lambda answer fanin reads: a synchronous invoke or a function URL returns at
/// most 6 MB of payload, and error bodies are far smaller.
pub const MAX_LAMBDA_ANSWER: usize = 6 * 1024 * 1024;

/// Why an answer's body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The peer sent more than the call can legitimately return: not something to hold in memory.
    #[error("the answer is over {limit} bytes, more than this call can legitimately return")]
    TooLarge { limit: usize },
    /// The connection failed while the body was read.
    #[error("reading the answer")]
    Read(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Reads a response body, at most `limit` bytes of it: what a peer sends never decides how
/// much memory fanin uses.
pub async fn read_body(body: hyper::body::Incoming, limit: usize) -> Result<Bytes, BodyError> {
    use http_body_util::{BodyExt, LengthLimitError, Limited};
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(BodyError::TooLarge { limit }),
        Err(e) => Err(BodyError::Read(e)),
    }
}

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The SDK's configuration has no credentials provider at all.
    #[error("no credentials to sign with")]
    NoProvider,
    /// The provider could not give credentials (an expired SSO session, STS unreachable).
    #[error("no credentials to sign with")]
    Credentials(#[source] aws_credential_types::provider::error::CredentialsError),
    /// SigV4 refused the request or its parameters.
    #[error("cannot sign the request")]
    Signing(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Signs requests for one service in one region with SigV4.
pub struct Signer {
    provider: Option<SharedCredentialsProvider>,
    cached: Mutex<Option<(Identity, SystemTime)>>,
    /// One refresh at a time; the others wait for its result.
    refreshing: tokio::sync::Mutex<()>,
    region: String,
    service: &'static str,
}

impl Signer {
    pub fn new(provider: Option<SharedCredentialsProvider>, region: String, service: &'static str) -> Self {
        Signer { provider, cached: Mutex::new(None), refreshing: tokio::sync::Mutex::new(()), region, service }
    }

    /// Adds `authorization`, `x-amz-date` (and `x-amz-security-token`) to `request`, whose
    /// body is `payload`.
    pub async fn sign(&self, request: &mut hyper::Request<Full<Bytes>>, payload: &[u8]) -> Result<(), SignError> {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        let now = SystemTime::now();
        let identity = self.identity(now).await?;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service)
            .time(now)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| SignError::Signing(e.into()))?
            .into();
        let uri = request.uri().to_string();
        let headers = request.headers().iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
        let signable = SignableRequest::new(request.method().as_str(), &uri, headers, SignableBody::Bytes(payload))
            .map_err(|e| SignError::Signing(e.into()))?;
        let (instructions, _) = sign(signable, &params).map_err(|e| SignError::Signing(e.into()))?.into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }

    /// The cached identity, or a fresh one when it is within [`REFRESH_BEFORE_EXPIRY`] of
    /// expiring.
    async fn identity(&self, now: SystemTime) -> Result<Identity, SignError> {
        if let Some(identity) = self.fresh(now) {
            return Ok(identity);
        }
        let _one_at_a_time = self.refreshing.lock().await;
        if let Some(identity) = self.fresh(now) {
            return Ok(identity);
        }
        let provider = self.provider.as_ref().ok_or(SignError::NoProvider)?;
        let credentials = provider.provide_credentials().await.map_err(SignError::Credentials)?;
        let expires = credentials.expiry().unwrap_or(now + DEFAULT_EXPIRATION);
        let identity = Identity::from(credentials);
        *self.cached.lock().unwrap() = Some((identity.clone(), expires));
        Ok(identity)
    }

    fn fresh(&self, now: SystemTime) -> Option<Identity> {
        let cached = self.cached.lock().unwrap();
        let (identity, expires) = cached.as_ref()?;
        (now + REFRESH_BEFORE_EXPIRY < *expires).then(|| identity.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use aws_credential_types::provider::future::ProvideCredentials as ProvideFuture;
    use aws_credential_types::Credentials;

    /// Hands out credentials expiring `lifetime` from now, counting how often it is asked.
    #[derive(Debug)]
    struct Counting {
        asked: Arc<AtomicUsize>,
        lifetime: Option<Duration>,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(&'a self) -> ProvideFuture<'a>
        where
            Self: 'a,
        {
            let n = self.asked.fetch_add(1, Ordering::SeqCst);
            let expiry = self.lifetime.map(|l| SystemTime::now() + l);
            ProvideFuture::ready(Ok(Credentials::new(format!("AKID{n}"), "secret", Some("token".into()), expiry, "test")))
        }
    }

    fn signer(lifetime: Option<Duration>) -> (Signer, Arc<AtomicUsize>) {
        let asked = Arc::new(AtomicUsize::new(0));
        let provider = SharedCredentialsProvider::new(Counting { asked: asked.clone(), lifetime });
        (Signer::new(Some(provider), "eu-west-1".into(), "lambda"), asked)
    }

    fn request() -> hyper::Request<Full<Bytes>> {
        hyper::Request::post("https://lambda.eu-west-1.amazonaws.com/2015-03-31/functions/f%3Alive/invocations")
            .header("x-amz-invocation-type", "Event")
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap()
    }

    #[tokio::test]
    async fn signs_with_sigv4_for_the_service_and_region_with_the_session_token() {
        let (signer, _) = signer(Some(Duration::from_secs(3600)));
        let mut req = request();
        signer.sign(&mut req, b"{}").await.unwrap();
        let auth = req.headers()["authorization"].to_str().unwrap();
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKID0/"), "{auth}");
        assert!(auth.contains("/eu-west-1/lambda/aws4_request"), "{auth}");
        assert!(auth.contains("x-amz-invocation-type"), "the call's own headers are signed: {auth}");
        assert!(req.headers().contains_key("x-amz-date"));
        assert_eq!(req.headers()["x-amz-security-token"], "token");
    }

    #[tokio::test]
    async fn credentials_are_asked_for_once_while_they_are_fresh() {
        let (signer, asked) = signer(Some(Duration::from_secs(3600)));
        for _ in 0..5 {
            signer.sign(&mut request(), b"{}").await.unwrap();
        }
        assert_eq!(asked.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn credentials_about_to_expire_are_refreshed() {
        let (signer, asked) = signer(Some(REFRESH_BEFORE_EXPIRY / 2));
        signer.sign(&mut request(), b"{}").await.unwrap();
        let mut req = request();
        signer.sign(&mut req, b"{}").await.unwrap();
        assert_eq!(asked.load(Ordering::SeqCst), 2);
        assert!(req.headers()["authorization"].to_str().unwrap().contains("Credential=AKID1/"), "signed with the new credentials");
    }

    #[tokio::test]
    async fn no_credentials_is_an_error_not_an_unsigned_request() {
        let signer = Signer::new(None, "us-east-1".into(), "lambda");
        let mut req = request();
        assert!(matches!(signer.sign(&mut req, b"{}").await, Err(SignError::NoProvider)));
        assert!(!req.headers().contains_key("authorization"));
    }
}
