//! Where dead letters are read from and what happens to them after a replay: removed once
//! Lambda accepted them, written back (with the replay count raised) when they died again,
//! left untouched otherwise.
//!
//! A store is read as a stream, a batch at a time (`next`): what a run holds is bounded by the
//! records it has read and not yet settled, never by the store. Each record read is then
//! `keep`, `remove`, `put_back` or `release`d, and `finish` makes the outcome whole (the file
//! store rewrites its file once; the SQS store hands back what it held).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::MessageSystemAttributeName;

mod file;
mod journal;
mod s3;
mod sqs;

use super::item::{self, DeadLetter, LegacyAttributes};
use crate::dlq::settings::DlqSettings;
use crate::dlq::{offload, DeadLetterRecord};
use crate::settings::Config;

/// How long replay holds SQS messages it has read; released earlier when it stops.
const SQS_HOLD: Duration = Duration::from_secs(900);

/// One stored dead letter and how to find it again.
#[derive(Debug, Clone)]
pub struct Item {
    /// Line number (file), message id (SQS) or key (S3).
    pub key: String,
    pub letter: DeadLetter,
}

/// What one read brought: the records, and where and why the others could not be read.
#[derive(Default)]
pub struct Batch {
    pub items: Vec<Item>,
    pub unreadable: Vec<String>,
}

/// How far a read has come, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// A file: bytes.
    Bytes(u64),
    /// A queue: messages, as SQS approximates them.
    Messages(u64),
}

/// What `--from` names.
pub enum Store {
    File(FileStore),
    Sqs(SqsStore),
    S3(S3Store),
}

/// Where `--from` points, once a sink's name is looked up in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    File(PathBuf),
    Sqs(String),
    S3 { bucket: String, prefix: String },
}

/// `--from` that names nothing a store can be read from: a usage error.
#[derive(Debug, thiserror::Error)]
pub enum FromError {
    #[error("--from {0:?}: write file:PATH, sqs:QUEUE_URL, s3://BUCKET/PREFIX, or a dead-letter sink's name with --config")]
    Unknown(String),
    #[error("--from {0:?} names a dead-letter sink: no configuration at {default}: give --config FILE", default = crate::config::DEFAULT_FILE)]
    NoConfig(String),
    #[error("--from {name:?}: no dead-letter sink of that name in {config} (defined: {known})")]
    NoSuchSink { name: String, config: String, known: String },
}

impl Place {
    /// Parses `file:PATH`, `sqs:QUEUE_URL`, `s3://BUCKET/PREFIX`, or a sink's name in `config`
    /// (`default`: the file of targets that name none). A sink's file is where the daemon
    /// writes it: relative paths are relative to the configuration file that holds the sink,
    /// resolved once when the configuration is read; `file:PATH` is a path on the command
    /// line, relative to the working directory.
    pub fn parse(from: &str, config: Option<&Config>) -> Result<Place, FromError> {
        if let Some(path) = from.strip_prefix("file:") {
            return Ok(Place::File(PathBuf::from(path)));
        }
        if let Some(url) = from.strip_prefix("sqs:") {
            return Ok(Place::Sqs(url.to_string()));
        }
        if let Some(rest) = from.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            return Ok(Place::S3 { bucket: bucket.into(), prefix: prefix.into() });
        }
        let looks_like_a_name = !from.is_empty() && from.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        let Some(config) = config else {
            return Err(if looks_like_a_name { FromError::NoConfig(from.into()) } else { FromError::Unknown(from.into()) });
        };
        if from == crate::dlq::settings::DEFAULT_DLQ && !config.dlq.contains_key(from) {
            return Ok(Place::File(config.default_dlq_path()));
        }
        match config.dlq.get(from) {
            Some(DlqSettings::File { path }) => Ok(Place::File(path.clone().unwrap_or_else(|| config.default_dlq_path()))),
            Some(DlqSettings::Sqs { queue_url, .. }) => Ok(Place::Sqs(queue_url.clone())),
            Some(DlqSettings::S3 { bucket, prefix }) => Ok(Place::S3 { bucket: bucket.clone(), prefix: prefix.clone() }),
            None if !looks_like_a_name => Err(FromError::Unknown(from.into())),
            None => {
                let mut known: Vec<&str> = config.dlq.keys().map(String::as_str).collect();
                known.push(crate::dlq::settings::DEFAULT_DLQ);
                Err(FromError::NoSuchSink { name: from.into(), config: config.file.display().to_string(), known: known.join(", ") })
            }
        }
    }

    /// How the place reads back: `file:PATH`, `sqs:URL`, `s3://BUCKET/PREFIX`.
    pub fn display(&self) -> String {
        match self {
            Place::File(p) => format!("file:{}", p.display()),
            Place::Sqs(url) => format!("sqs:{url}"),
            Place::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        }
    }

    /// Whether reading it needs AWS.
    pub fn is_remote(&self) -> bool {
        !matches!(self, Place::File(_))
    }
}

/// How a store is used: replayed (records change) or only looked at (`fanin dlq`, `--dry-run`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Replay,
    Look,
}

impl Store {
    /// Opens the store at `place`. In `Mode::Replay` a file left half rewritten by an
    /// interrupted replay is finished first.
    pub fn open(place: &Place, sdk: &aws_config::SdkConfig, keep: bool, mode: Mode) -> anyhow::Result<Store> {
        Ok(match place {
            Place::File(path) => Store::File(FileStore::open(path, mode)?),
            Place::Sqs(url) => Store::Sqs(SqsStore::new(sdk, url, mode)),
            Place::S3 { bucket, prefix } => {
                Store::S3(S3Store::new(crate::aws::s3(sdk), bucket.clone(), prefix.clone(), keep && mode == Mode::Replay))
            }
        })
    }

    /// SQS: hold what is read for `hold` instead of replay's 15 minutes (`fanin dlq`, which
    /// only looks, releases it all when done; the hold only matters if it is killed first).
    pub fn with_sqs_hold(mut self, hold: Duration) -> Store {
        if let Store::Sqs(s) = &mut self {
            s.hold = hold;
        }
        self
    }

    /// SQS: the read stopped before the queue was read through, because a message it had
    /// read came back (its hold ran out first) or SQS would hand out no more at once; what
    /// it returned is all read once, but not all.
    pub fn cut_short(&self) -> bool {
        matches!(self, Store::Sqs(s) if s.cut_short.load(Ordering::SeqCst))
    }

    /// How much there is to read, where the store can tell.
    pub async fn size(&self) -> Option<Size> {
        match self {
            Store::File(s) => Some(Size::Bytes(s.len())),
            Store::Sqs(s) => s.approximate_count().await.map(Size::Messages),
            Store::S3(_) => None,
        }
    }

    /// How far the read has come, in the unit of `size`.
    pub fn position(&self) -> u64 {
        match self {
            Store::File(s) => s.position(),
            Store::Sqs(s) => s.received.load(Ordering::Relaxed),
            Store::S3(s) => s.read.load(Ordering::Relaxed),
        }
    }

    /// The next records (`None`: read through). `whole` also parses each whole record (for
    /// `--filter` and `dlq show`).
    pub async fn next(&self, whole: bool) -> anyhow::Result<Option<Batch>> {
        match self {
            Store::File(s) => s.next(whole),
            Store::Sqs(s) => s.next(whole).await,
            Store::S3(s) => s.next(whole).await,
        }
    }

    /// It is left as it is (not selected, or only looked at).
    pub fn keep(&self, item: &Item) {
        if let Store::Sqs(s) = self {
            s.keep(&item.key);
        }
    }

    /// Lambda accepted it: remove it from the store.
    pub async fn remove(&self, key: &str) -> anyhow::Result<()> {
        match self {
            Store::File(s) => s.settle(key, None),
            Store::Sqs(s) => s.delete(key).await,
            Store::S3(s) => s.remove(key).await,
        }
    }

    /// It died again: replace it with `record` (which carries the raised replay count).
    pub async fn put_back(&self, key: &str, record: &DeadLetterRecord) -> anyhow::Result<()> {
        let body = serde_json::to_string(record)?;
        match self {
            Store::File(s) => s.settle(key, Some(&body)),
            Store::Sqs(s) => s.replace(key, body).await,
            Store::S3(s) => s.put(key, body).await,
        }
    }

    /// It was read to be sent and was not settled: hand it back as it was (SQS: visible
    /// again at once, for a rerun).
    pub async fn release(&self, key: &str) {
        if let Store::Sqs(s) = self {
            s.release(key).await;
        }
    }

    /// Makes what was settled so far durable (the file store syncs its journal).
    pub fn flush(&self) -> anyhow::Result<()> {
        match self {
            Store::File(s) => s.flush(),
            _ => Ok(()),
        }
    }

    /// The run is over: the file store rewrites its file once, without what was removed and
    /// with what was written back; the SQS store hands back every message it held.
    pub async fn finish(&self) -> anyhow::Result<()> {
        match self {
            Store::File(s) => s.finish(),
            Store::Sqs(s) => {
                s.finish().await;
                Ok(())
            }
            Store::S3(_) => Ok(()),
        }
    }
}

pub(super) fn s3_error<E: std::error::Error + Send + Sync + 'static>(e: aws_sdk_s3::error::SdkError<E>) -> anyhow::Error {
    anyhow::anyhow!("{}", aws_sdk_s3::error::DisplayErrorContext(e))
}

/// `name` next to `path`, in the same directory (so a rename between them is atomic).
pub(super) fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

pub use file::FileStore;
pub use s3::S3Store;
pub use sqs::SqsStore;

#[cfg(test)]
mod tests;
