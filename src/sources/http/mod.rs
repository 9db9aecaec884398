//! `type = "http"`: webhooks on a path of the daemon's one `[http] listen`, their signature
//! checked over the raw bytes, each event stored in the source's `buffer_queue` (SQS) before
//! the sender hears 2xx; the same source then reads that queue like any queue-fed source, so
//! routes, limits, retries, dead letters and replay are what they are everywhere.
//!
//! - [`signature`]: the schemes and their secrets;
//! - [`event`]: the request into the function URL event, the delivery id;
//! - [`store`]: the batched `SendMessageBatch` into the buffer queue;
//! - [`server`]: the listener, its limits and TLS;
//! - [`accept`]: one request, from its path to its answer.

pub mod accept;
pub mod event;
pub mod server;
pub mod signature;
pub mod store;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::config::limits::{between, duration_between, http_url};
use crate::config::Rate;
use crate::config::{deserialize_at, split_off, ConfigError};
use crate::sources::decode::{single, Decoded, Meta};
use crate::sources::sqs_reader::{Origin, SqsReader, SqsSettings};
use crate::sources::{Source, SourceContext, SourceKind, SourceSettings};

pub use event::HttpShape;
pub use server::HttpServerSettings;
pub use signature::{Scheme, SignatureSettings};

/// The methods a payload 2.0 event can carry (Powertools' models accept no other).
pub const METHODS: &[&str] = &["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"];
/// SQS's message size as most queues have it; `max_message_size` may raise it to the 1 MiB a
/// queue may be set to.
pub const SQS_MESSAGE_SIZE: u64 = 262_144;

/// The keys of an `http` source file that are its own (the rest are the buffer queue's reader's).
const OWN_KEYS: &[&str] = &["path", "methods", "shape", "signature", "status", "max_body", "body_timeout", "rate", "max_message_size"];

/// `type = "http"`: what the door of the source takes and how it answers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpOptions {
    /// The request path this source answers on `[http] listen` (`/hooks/github`), exactly.
    pub path: String,
    /// The methods it takes (others: 405); `["POST"]` by default.
    #[serde(default = "default_methods")]
    pub methods: Vec<String>,
    /// `http`: the function URL / API Gateway payload 2.0 event; `body`: the JSON body alone.
    #[serde(default)]
    pub shape: HttpShape,
    /// How requests prove where they come from; `{ scheme = "none" }` must be said outright.
    pub signature: SignatureSettings,
    /// The status of an accepted request, once its event is stored (202 by default).
    #[serde(default = "default_status")]
    pub status: u16,
    /// The largest body taken, in bytes (1 MiB by default); larger: 413.
    #[serde(default = "default_max_body")]
    pub max_body: u64,
    /// How long the body may take to arrive once the headers did; slower: 408.
    #[serde(default = "default_body_timeout", deserialize_with = "crate::config::duration")]
    pub body_timeout: Duration,
    /// Requests accepted at most (`"100/s"`); past it: 429 with `Retry-After`.
    #[serde(default, deserialize_with = "crate::config::optional_rate")]
    pub rate: Option<Rate>,
    /// The largest message the buffer queue takes, in bytes (SQS: 262,144 unless the queue's
    /// `MaximumMessageSize` was raised, up to 1,048,576); a larger event: 413.
    #[serde(default = "default_max_message_size")]
    pub max_message_size: u64,
    /// The source file's directory: secret files are relative to it.
    #[serde(skip)]
    pub dir: PathBuf,
}

fn default_methods() -> Vec<String> {
    vec!["POST".into()]
}
fn default_status() -> u16 {
    202
}
fn default_max_body() -> u64 {
    1024 * 1024
}
fn default_body_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_max_message_size() -> u64 {
    SQS_MESSAGE_SIZE
}

impl HttpOptions {
    /// Refuses what cannot work, naming the key of the source file `file`.
    pub fn check(&self, file: &Path) -> Result<(), ConfigError> {
        if !self.path.starts_with('/') || self.path.contains(['?', '#', ' ']) || self.path.len() > 1024 {
            return Err(ConfigError::new(file, "path", "must be a request path starting with / (no query, at most 1024 bytes)"));
        }
        if self.methods.is_empty() {
            return Err(ConfigError::new(file, "methods", "must name at least one method"));
        }
        if let Some(m) = self.methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
            return Err(ConfigError::new(file, "methods", format!("\"{m}\" is not one of {}", METHODS.join(", "))));
        }
        between(file, "status", u64::from(self.status), 200, 299)?;
        between(file, "max_body", self.max_body, 1, 64 * 1024 * 1024)?;
        between(file, "max_message_size", self.max_message_size, 1024, 1024 * 1024)?;
        duration_between(file, "body_timeout", self.body_timeout, Duration::from_millis(100), Duration::from_secs(3600))?;
        self.signature.check(file)
    }
}

/// The settings of a `type = "http"` source file: its own keys, and `buffer_queue` with the
/// reader's keys (`pollers`, `batch_size`, `wait_time`, `visibility_timeout`).
pub fn settings(path: &Path, mut table: toml::Table) -> Result<SourceKind, ConfigError> {
    if table.contains_key("queue_url") {
        return Err(ConfigError::new(path, "queue_url", "an http source names its queue buffer_queue"));
    }
    let queue = table
        .remove("buffer_queue")
        .ok_or_else(|| ConfigError::new(path, "buffer_queue", "missing: the SQS queue URL events are stored in before the answer"))?;
    for (key, what) in [
        ("path", "the request path this source answers, like \"/hooks/github\""),
        (
            "signature",
            "how requests are checked: { scheme = \"github\", secrets = [{ env = \"NAME\" }] }, or { scheme = \"none\" } said outright",
        ),
    ] {
        if !table.contains_key(key) {
            return Err(ConfigError::new(path, key, format!("missing: {what}")));
        }
    }
    let own = split_off(&mut table, OWN_KEYS);
    let mut options: HttpOptions = deserialize_at(path, "", own)?;
    options.dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    options.check(path)?;
    let url = queue.as_str().ok_or_else(|| ConfigError::new(path, "buffer_queue", "must be a queue URL"))?;
    if url.starts_with("arn:") {
        return Err(ConfigError::new(
            path,
            "buffer_queue",
            "must be the queue's URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME), not its ARN",
        ));
    }
    http_url(path, "buffer_queue", url, "a queue URL")?;
    table.insert("queue_url".into(), queue);
    SqsSettings::fed_by(path, table, Origin::Http(Box::new(options)))
}

/// A buffer queue message (`{"id":…,"event":…}`, see [`accept::envelope`]) back into its event.
pub fn decode(body: &str) -> Decoded {
    #[derive(Deserialize)]
    struct Envelope {
        id: String,
        event: serde_json::Value,
    }
    match serde_json::from_str::<Envelope>(body) {
        Ok(e) => single(e.id, e.event, None, Meta::default()),
        Err(e) => Decoded::Invalid(format!("not a stored webhook event: {e}")),
    }
}

/// The `http` sources of a configuration, each with its options.
pub fn sources(sources: &[SourceSettings]) -> impl Iterator<Item = (&SourceSettings, &SqsSettings, &HttpOptions)> {
    sources.iter().filter_map(|s| match &s.kind {
        SourceKind::Sqs(q) => match &q.origin {
            Some(Origin::Http(o)) => Some((s, q, o.as_ref())),
            _ => None,
        },
        _ => None,
    })
}

/// Refuses `http` sources without a listener or on a path another one has.
pub fn check_all(sources: &[SourceSettings], server: &HttpServerSettings) -> Result<(), ConfigError> {
    let mut paths: BTreeMap<&str, &Path> = BTreeMap::new();
    for (source, _, options) in self::sources(sources) {
        if server.listen.is_none() {
            return Err(ConfigError::new(&source.file, "type", "an http source needs [http] listen = \"ADDRESS:PORT\" in the daemon file"));
        }
        if let Some(other) = paths.insert(&options.path, &source.file) {
            return Err(ConfigError::new(&source.file, "path", format!("{} is also the path of {}", options.path, other.display())));
        }
    }
    Ok(())
}

/// A running `http` source: its door on the listener, and the reader of its buffer queue.
pub struct HttpSource {
    settings: SqsSettings,
    sdk: aws_config::SdkConfig,
}

impl HttpSource {
    pub fn new(settings: SqsSettings, sdk: &aws_config::SdkConfig) -> HttpSource {
        HttpSource { settings, sdk: sdk.clone() }
    }
}

impl Source for HttpSource {
    fn run(self: Box<Self>, ctx: SourceContext) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> {
        Box::pin(async move {
            let Some(Origin::Http(options)) = self.settings.origin.clone() else { unreachable!("built for http sources only") };
            let verifier = match options.signature.verifier(&options.dir) {
                Ok(v) => v,
                Err(e) => {
                    ctx.health.source_failed(&ctx.name, format!("signature secret: {e}"));
                    anyhow::bail!("signature secret: {e}");
                }
            };
            let fifo = self.settings.queue_url.ends_with(".fifo");
            let store =
                store::Store::start(&self.sdk, &self.settings.queue_url, fifo, options.max_message_size as usize, ctx.shutdown.clone());
            let endpoint =
                Arc::new(accept::Endpoint::new(ctx.name.clone(), *options, verifier, store, ctx.account.clone(), ctx.shutdown.clone()));
            server::routes().insert(endpoint.clone());
            let reader = Box::new(SqsReader::new(self.settings, &self.sdk, None));
            let result = reader.run(ctx).await;
            server::routes().remove(&endpoint);
            result
        })
    }
}

#[cfg(test)]
mod tests;
