//! Webhook signatures, checked over the raw body bytes before anything else reads them: GitHub,
//! Stripe, Slack, Standard Webhooks (Svix), a generic HMAC header, a bearer token, or none.
//!
//! Every comparison of a secret-derived value with what the sender sent is constant time
//! (`subtle`), and every scheme that signs a timestamp refuses one outside its tolerance, so a
//! captured request cannot be replayed later.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use hyper::HeaderMap;
use serde::Deserialize;
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

use crate::config::limits::duration_between;
use crate::config::ConfigError;

/// How requests to an `http` source prove where they come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.
    Github,
    /// Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]` over `<t>.<body>`.
    Stripe,
    /// Slack: `X-Slack-Signature: v0=<hex>` over `v0:<X-Slack-Request-Timestamp>:<body>`.
    Slack,
    /// Standard Webhooks (Svix): `webhook-signature: v1,<base64> …` over `<id>.<timestamp>.<body>`.
    Standard,
    /// A header holding an HMAC of the body, as `header`, `algorithm`, `encoding` and `prefix` say.
    Hmac,
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// No check at all: anyone who can reach the listener can send events (`validate` says so).
    None,
}

/// The hash of a `hmac` scheme.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// HMAC-SHA256.
    #[default]
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

/// How a `hmac` scheme writes its digest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Lower- or upper-case hexadecimal.
    #[default]
    Hex,
    /// Standard base64 (padding optional).
    Base64,
}

/// Where one secret is read from: never the configuration itself, which is often world-readable
/// and kept in version control.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum SecretRef {
    /// An environment variable of the daemon.
    Env(String),
    /// A file (its content without a trailing newline); relative to the source file.
    File(PathBuf),
}

/// `signature = { … }` of an `http` source.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureSettings {
    /// The scheme: `github`, `stripe`, `slack`, `standard`, `hmac`, `bearer` or `none`.
    pub scheme: Scheme,
    /// The secrets, each `{ env = "NAME" }` or `{ file = "PATH" }`; several during a rotation,
    /// any of which may have signed a request.
    #[serde(default)]
    pub secrets: Vec<SecretRef>,
    /// How far a signed timestamp may be from now (`stripe`, `slack`, `standard`).
    #[serde(default = "default_tolerance", deserialize_with = "crate::config::duration")]
    pub tolerance: Duration,
    /// `hmac`: the header holding the digest.
    pub header: Option<String>,
    /// `hmac`: `sha256` or `sha512`.
    #[serde(default)]
    pub algorithm: Algorithm,
    /// `hmac`: `hex` or `base64`.
    #[serde(default)]
    pub encoding: Encoding,
    /// `hmac`: text before the digest in the header (`sha256=`).
    #[serde(default)]
    pub prefix: String,
}

/// Five minutes: what Stripe's, Slack's and Standard Webhooks' own libraries allow.
fn default_tolerance() -> Duration {
    Duration::from_secs(300)
}

impl SignatureSettings {
    /// No signature check.
    pub fn none() -> SignatureSettings {
        SignatureSettings {
            scheme: Scheme::None,
            secrets: Vec::new(),
            tolerance: default_tolerance(),
            header: None,
            algorithm: Algorithm::default(),
            encoding: Encoding::default(),
            prefix: String::new(),
        }
    }

    /// Refuses settings that cannot check anything, naming `signature.…` of the source file `file`.
    pub fn check(&self, file: &Path) -> Result<(), ConfigError> {
        match (self.scheme, self.secrets.is_empty()) {
            (Scheme::None, false) => return Err(ConfigError::new(file, "signature.secrets", "scheme \"none\" checks no secret")),
            (Scheme::None, true) => {}
            (_, true) => {
                return Err(ConfigError::new(file, "signature.secrets", "missing: at least one { env = \"NAME\" } or { file = \"PATH\" }"))
            }
            _ => {}
        }
        if self.scheme == Scheme::Hmac {
            match &self.header {
                Some(h) if hyper::header::HeaderName::from_bytes(h.as_bytes()).is_ok() => {}
                Some(_) => return Err(ConfigError::new(file, "signature.header", "must be a header name")),
                None => return Err(ConfigError::new(file, "signature.header", "missing: the header that holds the digest")),
            }
        } else if self.header.is_some() || !self.prefix.is_empty() {
            let key = if self.header.is_some() { "signature.header" } else { "signature.prefix" };
            return Err(ConfigError::new(file, key, "only the hmac scheme takes a header and a prefix"));
        }
        for (i, secret) in self.secrets.iter().enumerate() {
            match secret {
                SecretRef::Env(name) if name.is_empty() || name.contains('=') => {
                    return Err(ConfigError::new(file, "signature.secrets", format!("entry {i}: env must be a variable name")))
                }
                SecretRef::File(p) if p.as_os_str().is_empty() => {
                    return Err(ConfigError::new(file, "signature.secrets", format!("entry {i}: file must not be empty")))
                }
                _ => {}
            }
        }
        duration_between(file, "signature.tolerance", self.tolerance, Duration::from_secs(1), Duration::from_secs(24 * 3600))
    }

    /// Reads every secret (a `standard` secret's `whsec_` base64 decoded) into a [`Verifier`].
    /// `base`: the directory relative files are read from.
    pub fn verifier(&self, base: &Path) -> Result<Verifier, SecretError> {
        let mut keys = Vec::with_capacity(self.secrets.len());
        for secret in &self.secrets {
            let raw = read_secret(secret, base)?;
            keys.push(match self.scheme {
                Scheme::Standard => standard_key(&raw).ok_or_else(|| SecretError::Unusable(describe(secret)))?,
                _ => raw.into_bytes(),
            });
        }
        let header = self.header.as_deref().map(|h| hyper::header::HeaderName::from_bytes(h.as_bytes()).expect("checked: a header name"));
        Ok(Verifier {
            scheme: self.scheme,
            keys,
            tolerance: self.tolerance,
            header,
            algorithm: self.algorithm,
            encoding: self.encoding,
            prefix: self.prefix.clone(),
        })
    }
}

/// Why a secret could not be had.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("{0} is not set")]
    Missing(String),
    #[error("{0} cannot be read: {1}")]
    Unreadable(String, String),
    #[error("{0} is empty")]
    Empty(String),
    #[error("{0} is not a Standard Webhooks secret (whsec_ followed by base64)")]
    Unusable(String),
}

fn describe(secret: &SecretRef) -> String {
    match secret {
        SecretRef::Env(name) => format!("environment variable {name}"),
        SecretRef::File(path) => format!("secret file {}", path.display()),
    }
}

/// A secret's text, from its variable or file.
pub fn read_secret(secret: &SecretRef, base: &Path) -> Result<String, SecretError> {
    let text = match secret {
        SecretRef::Env(name) => std::env::var(name).map_err(|_| SecretError::Missing(describe(secret)))?,
        SecretRef::File(path) => {
            std::fs::read_to_string(base.join(path)).map_err(|e| SecretError::Unreadable(describe(secret), e.to_string()))?
        }
    };
    let text = text.trim_end_matches(['\n', '\r']).to_string();
    if text.is_empty() {
        return Err(SecretError::Empty(describe(secret)));
    }
    Ok(text)
}

/// The key of a Standard Webhooks secret: the base64 after `whsec_` (a secret without the
/// prefix is taken as the base64 itself, as the reference libraries do).
fn standard_key(secret: &str) -> Option<Vec<u8>> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    base64::engine::general_purpose::STANDARD.decode(b64).ok().filter(|k| !k.is_empty())
}

/// Why a request's signature was refused. Each answers 401; none says more to the sender.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("no {0} header")]
    Missing(&'static str),
    #[error("the {0} header is malformed")]
    Malformed(&'static str),
    #[error("the signed timestamp is outside the tolerance")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

/// The checks of one source, its secrets read.
pub struct Verifier {
    scheme: Scheme,
    keys: Vec<Vec<u8>>,
    tolerance: Duration,
    header: Option<hyper::header::HeaderName>,
    algorithm: Algorithm,
    encoding: Encoding,
    prefix: String,
}

impl std::fmt::Debug for Verifier {
    // The keys stay out of every log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("scheme", &self.scheme).field("keys", &self.keys.len()).finish_non_exhaustive()
    }
}

impl Verifier {
    /// The scheme checked.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Checks `body` as received with `headers` at `now`.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: SystemTime) -> Result<(), SignatureError> {
        match self.scheme {
            Scheme::None => Ok(()),
            Scheme::Github => {
                let value = header(headers, "x-hub-signature-256")?;
                let hex_digest = value.strip_prefix("sha256=").ok_or(SignatureError::Malformed("X-Hub-Signature-256"))?;
                let given = hex::decode(hex_digest).map_err(|_| SignatureError::Malformed("X-Hub-Signature-256"))?;
                self.any_key(|key| sha256_mac(key, &[body]), &[given])
            }
            Scheme::Stripe => {
                let (t, given) = parse_stripe(header(headers, "stripe-signature")?).ok_or(SignatureError::Malformed("Stripe-Signature"))?;
                self.fresh(t, now)?;
                let t = t.to_string();
                self.any_key(|key| sha256_mac(key, &[t.as_bytes(), b".", body]), &given)
            }
            Scheme::Slack => {
                let t = header(headers, "x-slack-request-timestamp")?;
                let seconds: i64 = t.trim().parse().map_err(|_| SignatureError::Malformed("X-Slack-Request-Timestamp"))?;
                self.fresh(seconds, now)?;
                let given = parse_slack(header(headers, "x-slack-signature")?).ok_or(SignatureError::Malformed("X-Slack-Signature"))?;
                self.any_key(|key| sha256_mac(key, &[b"v0:", t.as_bytes(), b":", body]), &[given])
            }
            Scheme::Standard => {
                let (id, t, signatures) = standard_headers(headers)?;
                let seconds: i64 = t.trim().parse().map_err(|_| SignatureError::Malformed("webhook-timestamp"))?;
                self.fresh(seconds, now)?;
                let given = parse_standard(signatures);
                if given.is_empty() {
                    return Err(SignatureError::Malformed("webhook-signature"));
                }
                self.any_key(|key| sha256_mac(key, &[id.as_bytes(), b".", t.as_bytes(), b".", body]), &given)
            }
            Scheme::Hmac => {
                let name = self.header.as_ref().expect("checked: hmac has a header");
                let value = headers.get(name).ok_or(SignatureError::Missing("signature"))?;
                let value = value.to_str().map_err(|_| SignatureError::Malformed("signature"))?;
                let digest = value.strip_prefix(self.prefix.as_str()).ok_or(SignatureError::Malformed("signature"))?;
                let given = match self.encoding {
                    Encoding::Hex => hex::decode(digest.trim()).ok(),
                    Encoding::Base64 => decode_base64(digest.trim()),
                }
                .ok_or(SignatureError::Malformed("signature"))?;
                let algorithm = self.algorithm;
                self.any_key(
                    |key| match algorithm {
                        Algorithm::Sha256 => sha256_mac(key, &[body]),
                        Algorithm::Sha512 => {
                            let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
                            mac.update(body);
                            mac.finalize().into_bytes().to_vec()
                        }
                    },
                    &[given],
                )
            }
            Scheme::Bearer => {
                let value = header(headers, "authorization")?;
                let token = value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
                    .ok_or(SignatureError::Malformed("Authorization"))?;
                // Digests of both sides, so that the comparison takes as long whatever the
                // lengths and reveals nothing about the token's.
                let given = Sha256::digest(token.as_bytes()).to_vec();
                self.any_key(|key| Sha256::digest(key).to_vec(), &[given])
            }
        }
    }

    /// Ok when some key's digest equals some given one; every comparison constant time.
    fn any_key(&self, digest: impl Fn(&[u8]) -> Vec<u8>, given: &[Vec<u8>]) -> Result<(), SignatureError> {
        let mut matched = subtle::Choice::from(0);
        for key in &self.keys {
            let expected = digest(key);
            for g in given {
                matched |= expected.as_slice().ct_eq(g.as_slice());
            }
        }
        if bool::from(matched) {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }

    /// Refuses a signed timestamp (Unix seconds) further than the tolerance from `now`.
    fn fresh(&self, seconds: i64, now: SystemTime) -> Result<(), SignatureError> {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
        if now.abs_diff(seconds) > self.tolerance.as_secs() {
            return Err(SignatureError::Stale);
        }
        Ok(())
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, SignatureError> {
    headers.get(name).ok_or(SignatureError::Missing(name))?.to_str().map_err(|_| SignatureError::Malformed(name))
}

/// `webhook-id`, `webhook-timestamp` and `webhook-signature`, or Svix's `svix-` names for them.
fn standard_headers(headers: &HeaderMap) -> Result<(&str, &str, &str), SignatureError> {
    let id = header(headers, "webhook-id").or_else(|_| header(headers, "svix-id"))?;
    let t = header(headers, "webhook-timestamp").or_else(|_| header(headers, "svix-timestamp"))?;
    let signatures = header(headers, "webhook-signature").or_else(|_| header(headers, "svix-signature"))?;
    Ok((id, t, signatures))
}

fn sha256_mac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let engine = &base64::engine::general_purpose::STANDARD;
    engine.decode(text).ok().or_else(|| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text.trim_end_matches('=')).ok())
}

/// `t=<unix>,v1=<hex>,v1=<hex>,v0=…`: the timestamp and every `v1` digest (other versions,
/// such as Stripe's test-mode `v0`, are not checked). `None` without a timestamp or a `v1`.
pub fn parse_stripe(value: &str) -> Option<(i64, Vec<Vec<u8>>)> {
    let mut t = None;
    let mut v1 = Vec::new();
    for item in value.split(',') {
        match item.trim().split_once('=') {
            Some(("t", s)) => t = Some(s.parse::<i64>().ok()?),
            Some(("v1", h)) => v1.push(hex::decode(h).ok()?),
            _ => {}
        }
    }
    if v1.is_empty() {
        return None;
    }
    Some((t?, v1))
}

/// `v0=<hex>`: the digest.
pub fn parse_slack(value: &str) -> Option<Vec<u8>> {
    hex::decode(value.strip_prefix("v0=")?).ok()
}

/// `v1,<base64> v1,<base64> …`: every `v1` signature (`v1a`, asymmetric, is not checked).
pub fn parse_standard(value: &str) -> Vec<Vec<u8>> {
    value
        .split(' ')
        .filter_map(|item| item.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, b64)| decode_base64(b64))
        .collect()
}

#[cfg(test)]
mod tests;
