//! One webhook request, from its path to its answer: method, size, the body within its time,
//! the signature over the raw bytes, the source's rate, the event built and stored; 2xx only
//! once SQS holds the event.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Request, Response, StatusCode, Version};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::event::{self, Labels};
use super::server::Routes;
use super::signature::Verifier;
use super::store::{Store, StoreError};
use super::HttpOptions;
use crate::telemetry::events::{HttpAnswered, SignatureRefused};

/// How long a sender is asked to wait when the daemon stops or SQS does not take the event.
const RETRY_LATER: u64 = 5;

/// A running `http` source's door.
pub struct Endpoint {
    name: Arc<str>,
    options: HttpOptions,
    verifier: Verifier,
    store: Store,
    account: String,
    stop: CancellationToken,
    limiter: Option<DefaultDirectRateLimiter>,
    allow: HeaderValue,
}

impl Endpoint {
    pub fn new(
        name: Arc<str>,
        options: HttpOptions,
        verifier: Verifier,
        store: Store,
        account: String,
        stop: CancellationToken,
    ) -> Endpoint {
        let limiter = options.rate.map(|rate| {
            let period = rate.per / rate.count;
            let quota = Quota::with_period(period)
                .expect("checked: a rate of at most a million a second")
                .allow_burst(std::num::NonZeroU32::new(rate.count).expect("checked: a rate of at least one"));
            RateLimiter::direct(quota)
        });
        let allow = HeaderValue::from_str(&options.methods.join(", ")).expect("checked: method names");
        Endpoint { name, options, verifier, store, account, stop, limiter, allow }
    }

    /// The path it answers.
    pub fn path(&self) -> &str {
        &self.options.path
    }
}

/// Answers `request` from `peer`, through the endpoint of its path in `routes`.
pub async fn handle(routes: &Routes, request: Request<Incoming>, peer: IpAddr) -> Response<Full<Bytes>> {
    let Some(endpoint) = routes.get(request.uri().path()) else {
        HttpAnswered { source: "", code: 404 }.emit();
        return answer(StatusCode::NOT_FOUND, "no webhook source on this path");
    };
    let response = endpoint.accept(request, peer).await;
    HttpAnswered { source: &endpoint.name, code: response.status().as_u16() }.emit();
    response
}

impl Endpoint {
    async fn accept(&self, request: Request<Incoming>, peer: IpAddr) -> Response<Full<Bytes>> {
        if self.stop.is_cancelled() {
            return retry_later(StatusCode::SERVICE_UNAVAILABLE, "stopping", RETRY_LATER);
        }
        if !self.options.methods.iter().any(|m| m == request.method().as_str()) {
            let mut response = answer(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            response.headers_mut().insert(ALLOW, self.allow.clone());
            return response;
        }
        let declared = request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.options.max_body) {
            return answer(StatusCode::PAYLOAD_TOO_LARGE, "body over the size limit");
        }
        let received = SystemTime::now();
        let (parts, body) = request.into_parts();
        let limited = Limited::new(body, self.options.max_body as usize);
        let body = match tokio::time::timeout(self.options.body_timeout, limited.collect()).await {
            Err(_) => return answer(StatusCode::REQUEST_TIMEOUT, "the body did not arrive in time"),
            Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
                return answer(StatusCode::PAYLOAD_TOO_LARGE, "body over the size limit")
            }
            Ok(Err(_)) => return answer(StatusCode::BAD_REQUEST, "the body could not be read"),
            Ok(Ok(collected)) => collected.to_bytes(),
        };

        // The signature before anything reads the body: the bytes as they came.
        if let Err(why) = self.verifier.verify(&parts.headers, &body, received) {
            SignatureRefused { source: &self.name }.emit();
            debug!(source = %self.name, %peer, reason = %why, "webhook signature refused");
            return answer(StatusCode::UNAUTHORIZED, "signature refused");
        }
        if let Some(limiter) = &self.limiter {
            if let Err(not_until) = limiter.check() {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                return retry_later(StatusCode::TOO_MANY_REQUESTS, "over the source's rate", wait.as_secs_f64().ceil().max(1.0) as u64);
            }
        }

        let request_id = event::new_uuid();
        let id = event::delivery_id(self.verifier.scheme(), &parts.headers, &body).unwrap_or_else(|| request_id.clone());
        let protocol = match parts.version {
            Version::HTTP_10 => "HTTP/1.0",
            _ => "HTTP/1.1",
        };
        let incoming = event::Request {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query(),
            headers: &parts.headers,
            body: &body,
            source_ip: peer,
            protocol,
            received,
        };
        let labels = Labels { source: &self.name, account: &self.account };
        let event = match event::build(&incoming, self.options.shape, &labels, &request_id) {
            Ok(e) => e,
            Err(e) => return answer(StatusCode::BAD_REQUEST, &e.to_string()),
        };
        let message = envelope(&id, &event);
        if message.len() as u64 > self.options.max_message_size {
            return answer(StatusCode::PAYLOAD_TOO_LARGE, "the event is over the buffer queue's message size");
        }
        match self.store.put(message, Some(event::deduplication_id(&id))).await {
            Ok(()) => {
                let status = StatusCode::from_u16(self.options.status).unwrap_or(StatusCode::ACCEPTED);
                json(status, serde_json::json!({ "id": id }).to_string())
            }
            Err(StoreError::Stopping) => retry_later(StatusCode::SERVICE_UNAVAILABLE, "stopping", RETRY_LATER),
            Err(StoreError::Full) => retry_later(StatusCode::TOO_MANY_REQUESTS, "too many events wait to be stored", 1),
            Err(e) => {
                warn!(source = %self.name, error = %e, "webhook not stored; answered 503");
                retry_later(StatusCode::SERVICE_UNAVAILABLE, "the event could not be stored", RETRY_LATER)
            }
        }
    }
}

/// The buffer queue's message: the event id and the event as the function will get it.
pub fn envelope(id: &str, event: &str) -> String {
    format!("{{\"id\":{},\"event\":{event}}}", serde_json::Value::from(id))
}

fn answer(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json(status, serde_json::json!({ "message": message }).to_string())
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn retry_later(status: StatusCode, message: &str, seconds: u64) -> Response<Full<Bytes>> {
    let mut response = answer(status, message);
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
    response
}
