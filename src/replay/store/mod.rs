//! Where dead letters are read from and what happens to them after a replay: removed once
//! Lambda accepted them, written back (with the replay count raised) when they died again,
//! left untouched otherwise.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::MessageSystemAttributeName;

mod file;
mod s3;
mod sqs;

use super::item::{self, DeadLetter, LegacyAttributes};
use crate::dlq::{offload, DeadLetterRecord};
use file::FileState;

/// How long replay holds SQS messages it has read; released earlier when it stops.
const SQS_HOLD: Duration = Duration::from_secs(900);

/// One stored dead letter and how to find it again.
#[derive(Debug, Clone)]
pub struct Item {
    /// Line number (file), receipt handle (SQS) or key (S3).
    pub key: String,
    pub letter: DeadLetter,
}

/// What `--from` names.
pub enum Store {
    File(FileStore),
    Sqs(SqsStore),
    S3(S3Store),
}

impl Store {
    /// Parses `file:PATH`, `sqs:QUEUE_URL` or `s3://BUCKET/PREFIX`.
    pub fn open(from: &str, sdk: &aws_config::SdkConfig, keep: bool) -> anyhow::Result<Store> {
        if let Some(path) = from.strip_prefix("file:") {
            return Ok(Store::File(FileStore { path: PathBuf::from(path), state: Mutex::new(FileState::default()) }));
        }
        if let Some(url) = from.strip_prefix("sqs:") {
            return Ok(Store::Sqs(SqsStore {
                client: crate::aws::sqs(sdk),
                s3: crate::aws::s3(sdk),
                queue_url: url.to_string(),
                offloaded: Mutex::new(HashMap::new()),
                hold: SQS_HOLD,
                cut_short: AtomicBool::new(false),
            }));
        }
        if let Some(rest) = from.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            return Ok(Store::S3(S3Store { client: crate::aws::s3(sdk), bucket: bucket.into(), prefix: prefix.into(), keep }));
        }
        bail!("--from {from:?}: write file:PATH, sqs:QUEUE_URL or s3://BUCKET/PREFIX")
    }

    /// SQS: hold what is read for `hold` instead of replay's 15 minutes (`fanin dlq`, which
    /// only looks, releases it all when done; the hold only matters if it is killed first).
    pub fn with_sqs_hold(mut self, hold: Duration) -> Store {
        if let Store::Sqs(s) = &mut self {
            s.hold = hold;
        }
        self
    }

    /// SQS: the last `load` stopped before the queue was read through, because a message it had
    /// read came back (its hold ran out first); what it returned is all read once, but not all.
    pub fn cut_short(&self) -> bool {
        matches!(self, Store::Sqs(s) if s.cut_short.load(Ordering::SeqCst))
    }

    /// Reads every dead letter; the ones that cannot be read are returned as errors, untouched.
    pub async fn load(&self) -> anyhow::Result<(Vec<Item>, Vec<String>)> {
        match self {
            Store::File(s) => s.load(),
            Store::Sqs(s) => s.load().await,
            Store::S3(s) => s.load().await,
        }
    }

    /// Lambda accepted it: remove it from the store.
    pub async fn remove(&self, item: &Item) -> anyhow::Result<()> {
        match self {
            Store::File(s) => s.settle(item, None),
            Store::Sqs(s) => s.delete(&item.key).await,
            Store::S3(s) => s.remove(&item.key).await,
        }
    }

    /// It died again: replace it with `record` (which carries the raised replay count).
    pub async fn put_back(&self, item: &Item, record: &DeadLetterRecord) -> anyhow::Result<()> {
        let body = serde_json::to_string(record)?;
        match self {
            Store::File(s) => s.settle(item, Some(body)),
            Store::Sqs(s) => {
                s.send(&item.key, body).await?;
                s.delete(&item.key).await
            }
            Store::S3(s) => s.put(&item.key, body).await,
        }
    }

    /// Makes what was settled so far durable (the file store rewrites its file).
    pub fn flush(&self) -> anyhow::Result<()> {
        match self {
            Store::File(s) => s.rewrite(),
            _ => Ok(()),
        }
    }

    /// Hands back what was read and not settled (SQS: visible again at once, for a rerun).
    pub async fn release(&self, items: &[&Item]) {
        if let Store::Sqs(s) = self {
            for item in items {
                let _ = s
                    .client
                    .change_message_visibility()
                    .queue_url(&s.queue_url)
                    .receipt_handle(&item.key)
                    .visibility_timeout(0)
                    .send()
                    .await;
            }
        }
    }
}

pub(super) fn s3_error<E: std::error::Error + Send + Sync + 'static>(e: aws_sdk_s3::error::SdkError<E>) -> anyhow::Error {
    anyhow::anyhow!("{}", aws_sdk_s3::error::DisplayErrorContext(e))
}

pub use file::FileStore;
pub use s3::S3Store;
pub use sqs::SqsStore;
