//! `type = "s3"`: S3 event notifications read from a queue, straight, through SNS or through
//! EventBridge, handed on as the event S3's own Lambda trigger gives.

mod event;

use std::path::Path;

use serde::Deserialize;

use crate::config::{deserialize_at, split_off, ConfigError};
use crate::sources::decode::{starts_with, Meta};
use crate::sources::sqs_reader::{Origin, SqsSettings};
use crate::sources::SourceKind;

pub use event::{decode, decode_s3_key, encode_s3_key, s3_event_name, SKIP_S3_TEST_EVENT};

/// `type = "s3"`: S3 event notifications, straight, through SNS or through EventBridge.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Options {
    /// `s3`: Lambda's S3 event, one record each; `eventbridge`: EventBridge's S3 events as they are.
    #[serde(default)]
    pub shape: S3Shape,
    /// Only events of this bucket.
    pub bucket: Option<String>,
    /// Only keys (decoded) starting with this.
    pub prefix: Option<String>,
    /// Only keys (decoded) ending with this.
    pub suffix: Option<String>,
    /// Only these event names; a trailing `*` matches a family (`ObjectCreated:*`).
    #[serde(default)]
    pub events: Vec<String>,
    /// What `fanin setup` wires: the bucket's notification to the queue.
    pub setup: Option<BucketWiring>,
}

impl S3Options {
    /// The bucket `fanin setup` wires, for a source with a `setup` table.
    pub fn setup_bucket(&self) -> Option<&str> {
        self.setup.as_ref().and_then(|w| w.bucket.as_ref().or(self.bucket.as_ref())).map(String::as_str)
    }

    /// Whether the source's filters take the event: bucket, key prefix and suffix (decoded),
    /// event names.
    pub fn wants(&self, meta: &Meta) -> bool {
        self.bucket.as_ref().is_none_or(|b| meta.bucket.as_ref() == Some(b))
            && starts_with(&meta.key, &self.prefix)
            && self.suffix.as_ref().is_none_or(|s| meta.key.as_ref().is_some_and(|k| k.ends_with(s.as_str())))
            && (self.events.is_empty() || self.events.iter().any(|p| event_name_matches(p, meta.event_name.as_deref())))
    }
}

/// `setup = { … }` of an `s3` source.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketWiring {
    /// The bucket whose notifications go to the queue; default: the source's `bucket`. The
    /// notification carries the source's `events` (default `s3:ObjectCreated:*`), `prefix`
    /// and `suffix`.
    pub bucket: Option<String>,
}

/// What an `s3` source hands the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum S3Shape {
    /// Lambda's S3 event, `{"Records":[record]}` (EventBridge's S3 events converted into a record).
    #[default]
    S3,
    /// EventBridge's S3 events as they are (S3 notifications still become Lambda's S3 event).
    Eventbridge,
}

/// The settings of a `type = "s3"` source file.
pub fn settings(path: &Path, mut table: toml::Table) -> Result<SourceKind, ConfigError> {
    let own = split_off(&mut table, &["shape", "bucket", "prefix", "suffix", "events", "setup"]);
    let options: S3Options = deserialize_at(path, "", own)?;
    if options.setup.is_some() && options.setup_bucket().is_none() {
        return Err(ConfigError::new(path, "setup.bucket", "missing: name the bucket (here or as the source's `bucket`)"));
    }
    SqsSettings::fed_by(path, table, Origin::S3(options))
}

/// `ObjectCreated:*` matches the family, anything else the exact name; S3's own `s3:` prefix is optional.
fn event_name_matches(pattern: &str, name: Option<&str>) -> bool {
    let Some(name) = name else { return false };
    let pattern = pattern.strip_prefix("s3:").unwrap_or(pattern);
    match pattern.strip_suffix('*') {
        Some(family) => name.starts_with(family),
        None => name == pattern,
    }
}
