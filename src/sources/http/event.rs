//! A webhook request into the event the function receives: Lambda's function URL / API Gateway
//! HTTP API payload format 2.0 event, built here because `aws_lambda_events`'
//! `LambdaFunctionUrlRequest` leaves out `routeKey` and `stage` and keeps only the first value
//! of a repeated header. Also the request's delivery id, the event id that makes a sender's
//! retry recognisable.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use chrono::{DateTime, Utc};
use hyper::HeaderMap;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::signature::Scheme;
use crate::sources::decode::percent_decode;

/// What an `http` source hands the function.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpShape {
    /// Lambda's function URL / API Gateway HTTP API payload format 2.0 event.
    #[default]
    Http,
    /// The request body alone, which must be JSON (else the request is answered 400).
    Body,
}

/// The request as received, its body read whole.
pub struct Request<'a> {
    pub method: &'a str,
    /// The path as sent, not decoded.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub source_ip: IpAddr,
    /// `HTTP/1.1`, `HTTP/1.0`.
    pub protocol: &'a str,
    pub received: SystemTime,
}

/// Where the event says it came from.
pub struct Labels<'a> {
    /// The source's name (the event's `apiId`).
    pub source: &'a str,
    pub account: &'a str,
}

/// Why a request cannot become an event: answered 400.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuildError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
}

/// The event of `request` in `shape`, as JSON text.
pub fn build(request: &Request, shape: HttpShape, labels: &Labels, request_id: &str) -> Result<String, BuildError> {
    match shape {
        HttpShape::Body => {
            // Checked here, at the door, so the sender hears of it rather than a dead letter.
            // UTF-8 first: serde_json does not look inside the strings it skips.
            let text = std::str::from_utf8(request.body).map_err(|e| BuildError::NotJson(e.to_string()))?;
            let parsed: serde_json::Result<serde::de::IgnoredAny> = serde_json::from_str(text);
            parsed.map_err(|e| BuildError::NotJson(e.to_string()))?;
            Ok(text.to_string())
        }
        HttpShape::Http => Ok(function_url_event(request, labels, request_id).to_string()),
    }
}

/// The payload format 2.0 event.
pub fn function_url_event(request: &Request, labels: &Labels, request_id: &str) -> Value {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies: Vec<String> = Vec::new();
    for (name, value) in request.headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        if name == hyper::header::COOKIE {
            // Payload 2.0 moves cookies out of the headers into their own list.
            cookies.extend(value.split(';').map(str::trim).filter(|c| !c.is_empty()).map(str::to_string));
            continue;
        }
        headers.entry(name.as_str().to_string()).and_modify(|v| (v.push(','), v.push_str(&value)).1).or_insert_with(|| value.into_owned());
    }
    let raw_query = request.query.unwrap_or_default();
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k, true), percent_decode(v, true));
        query.entry(k).and_modify(|old| (old.push(','), old.push_str(&v)).1).or_insert(v);
    }
    let host = headers.get("host").cloned().unwrap_or_else(|| "localhost".into());
    let domain_prefix = host.split(['.', ':']).next().unwrap_or_default().to_string();
    let epoch_ms = request.received.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64;
    let time: DateTime<Utc> = request.received.into();
    let path = String::from_utf8_lossy(request.path.as_bytes()).into_owned();
    let mut event = Map::new();
    event.insert("version".into(), json!("2.0"));
    event.insert("routeKey".into(), json!("$default"));
    event.insert("rawPath".into(), json!(path));
    event.insert("rawQueryString".into(), json!(raw_query));
    if !cookies.is_empty() {
        event.insert("cookies".into(), json!(cookies));
    }
    let user_agent = headers.get("user-agent").cloned().unwrap_or_default();
    event.insert("headers".into(), json!(headers));
    if !query.is_empty() {
        event.insert("queryStringParameters".into(), json!(query));
    }
    event.insert(
        "requestContext".into(),
        json!({
            "accountId": labels.account,
            "apiId": labels.source,
            "domainName": host,
            "domainPrefix": domain_prefix,
            "http": {
                "method": request.method,
                "path": path,
                "protocol": request.protocol,
                "sourceIp": request.source_ip.to_string(),
                "userAgent": user_agent,
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": epoch_ms,
        }),
    );
    match std::str::from_utf8(request.body) {
        Ok("") => {}
        Ok(text) => {
            event.insert("body".into(), json!(text));
        }
        Err(_) => {
            event.insert("body".into(), json!(base64::engine::general_purpose::STANDARD.encode(request.body)));
        }
    }
    let binary = std::str::from_utf8(request.body).is_err();
    event.insert("isBase64Encoded".into(), json!(binary));
    Value::Object(event)
}

/// The sender's own id of this delivery, which a retry of it repeats: `X-GitHub-Delivery`,
/// `webhook-id`, Stripe's event `id`, Slack's `event_id` (a retry, marked by
/// `X-Slack-Retry-Num`, carries the same body), else `None`.
pub fn delivery_id(scheme: Scheme, headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
    let body_field = |field: &str| {
        #[derive(Deserialize)]
        struct Fields {
            id: Option<String>,
            event_id: Option<String>,
        }
        let f: Fields = serde_json::from_slice(body).ok()?;
        if field == "id" {
            f.id
        } else {
            f.event_id
        }
    };
    match scheme {
        Scheme::Github => header("x-github-delivery"),
        Scheme::Standard => header("webhook-id").or_else(|| header("svix-id")),
        Scheme::Stripe => body_field("id"),
        // Slack re-signs a retry with a new timestamp, so the signature cannot serve: the body
        // (the same on a retry) can.
        Scheme::Slack => body_field("event_id").or_else(|| Some(crate::event::fingerprint(body))),
        Scheme::Hmac | Scheme::Bearer | Scheme::None => {
            header("x-github-delivery").or_else(|| header("webhook-id")).or_else(|| header("idempotency-key"))
        }
    }
}

/// A random UUID (version 4), for a request without a delivery id.
pub fn new_uuid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// The `MessageDeduplicationId` (and message group) of an event in a FIFO buffer queue: the
/// delivery id itself when SQS takes it (at most 128 of its printable ASCII characters), else
/// its SHA-256.
pub fn deduplication_id(id: &str) -> String {
    if !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()) {
        id.to_string()
    } else {
        hex::encode(Sha256::digest(id.as_bytes()))
    }
}

#[cfg(test)]
mod tests;
