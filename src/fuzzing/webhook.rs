//! The `webhook_request` target: a request's headers and body through every signature check,
//! the delivery id, the event builder, and the buffer queue's envelope read back.

use super::*;
use crate::sources::http::event::{self as http_event, HttpShape, Labels, Request};
use crate::sources::http::signature::{self, Algorithm, Encoding, Scheme, SecretRef, SignatureSettings};

/// One verifier per scheme, all with the same secrets (a `whsec_` one for `standard`).
fn verifiers() -> &'static [signature::Verifier] {
    static VERIFIERS: OnceLock<Vec<signature::Verifier>> = OnceLock::new();
    VERIFIERS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("fanin-fuzz-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        std::fs::write(dir.join("plain"), "It's a Secret to Everybody").expect("a secret file");
        std::fs::write(dir.join("whsec"), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("a secret file");
        let schemes = [Scheme::Github, Scheme::Stripe, Scheme::Slack, Scheme::Standard, Scheme::Hmac, Scheme::Bearer, Scheme::None];
        schemes
            .into_iter()
            .flat_map(|scheme| {
                let mut s = SignatureSettings::none();
                s.scheme = scheme;
                if scheme != Scheme::None {
                    let file = if scheme == Scheme::Standard { "whsec" } else { "plain" };
                    s.secrets = vec![SecretRef::File(dir.join(file))];
                }
                let variants: Vec<SignatureSettings> = if scheme == Scheme::Hmac {
                    [(Algorithm::Sha256, Encoding::Hex, "sha256="), (Algorithm::Sha512, Encoding::Base64, "")]
                        .into_iter()
                        .map(|(algorithm, encoding, prefix)| SignatureSettings {
                            header: Some("x-signature".into()),
                            algorithm,
                            encoding,
                            prefix: prefix.into(),
                            ..s.clone()
                        })
                        .collect()
                } else {
                    vec![s]
                };
                variants.into_iter().map(|s| s.verifier(Path::new("/")).expect("the fuzz secrets load"))
            })
            .collect()
    })
}

/// Header lines `Name: value` (any bytes), then `%%` and the body; optionally `%%` and a
/// request line `METHOD /path?query`.
pub fn webhook_request(data: &[u8]) {
    let parts = parts(data);
    let mut headers = hyper::HeaderMap::new();
    for line in parts[0].split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else { continue };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if let (Ok(name), Ok(value)) = (hyper::header::HeaderName::from_bytes(name), hyper::header::HeaderValue::from_bytes(value)) {
            headers.append(name, value);
        }
    }
    let body = parts.get(1).copied().unwrap_or_default();
    let line = parts.get(2).map(|l| text(l)).unwrap_or_else(|| "POST /hooks".into());
    let (method, target) = line.split_once(' ').unwrap_or(("POST", "/hooks"));
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_614_265_330);
    for v in verifiers() {
        std::hint::black_box(v.verify(&headers, body, now).is_ok());
        if let Some(id) = http_event::delivery_id(v.scheme(), &headers, body) {
            std::hint::black_box(http_event::deduplication_id(&id));
        }
    }
    for value in headers.values().filter_map(|v| v.to_str().ok()) {
        std::hint::black_box((signature::parse_stripe(value), signature::parse_slack(value), signature::parse_standard(value)));
    }
    let request = Request {
        method,
        path,
        query,
        headers: &headers,
        body,
        source_ip: std::net::IpAddr::from([127, 0, 0, 1]),
        protocol: "HTTP/1.1",
        received: now,
    };
    let labels = Labels { source: "fuzz", account: "123456789012" };
    for shape in [HttpShape::Http, HttpShape::Body] {
        let Ok(event) = http_event::build(&request, shape, &labels, "r") else { continue };
        // What the buffer queue holds reads back into the same event.
        let stored = crate::sources::http::accept::envelope("id", &event);
        use_decoded(crate::sources::http::decode(&stored));
    }
}
