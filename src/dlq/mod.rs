//! Dead-letter sinks: where an event goes when it cannot be delivered.
//!
//! A write either lands durably or returns an error; on error the event's ack fails and the
//! upstream message stays, so nothing is lost while a sink is down.

mod file;
pub mod offload;
pub mod record;
mod s3;
pub mod settings;
mod sqs;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use aws_config::SdkConfig;

pub use file::FileSink;
pub use record::{Condition, DeadLetterRecord};
pub use s3::S3Sink;
pub use sqs::SqsSink;

use crate::dlq::settings::{DlqSettings, DEFAULT_DLQ};
use crate::BoxFuture;

/// A write to a sink that did not land.
#[derive(Debug, thiserror::Error)]
#[error("dead-letter sink {sink}")]
pub struct SinkError {
    /// The sink's name.
    pub sink: String,
    /// Why, kept whole so that the log line gives every cause.
    #[source]
    pub cause: Box<dyn std::error::Error + Send + Sync>,
}

impl SinkError {
    pub fn new(sink: impl Into<String>, cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        SinkError { sink: sink.into(), cause: cause.into() }
    }
}

/// Somewhere dead events are kept.
pub trait DeadLetterSink: Send + Sync {
    /// Writes one record durably.
    fn write<'a>(&'a self, record: &'a DeadLetterRecord) -> BoxFuture<'a, Result<(), SinkError>>;
}

/// Builds every configured sink, plus the default file sink at `default_path` (also where a
/// file sink without a `path` writes).
pub fn build_all(
    configured: &BTreeMap<String, DlqSettings>,
    default_path: &Path,
    sdk: &SdkConfig,
) -> BTreeMap<String, Arc<dyn DeadLetterSink>> {
    let mut sinks: BTreeMap<String, Arc<dyn DeadLetterSink>> = BTreeMap::new();
    sinks.insert(DEFAULT_DLQ.into(), Arc::new(FileSink::new(DEFAULT_DLQ, default_path.to_path_buf())));
    for (name, settings) in configured {
        let sink: Arc<dyn DeadLetterSink> = match settings {
            DlqSettings::File { path } => Arc::new(FileSink::new(name, path.clone().unwrap_or_else(|| default_path.to_path_buf()))),
            DlqSettings::Sqs { queue_url, large_records } => {
                let large = large_records.as_ref().map(|l| S3Sink::new(name, crate::aws::s3(sdk), l.bucket.clone(), l.prefix.clone()));
                Arc::new(SqsSink::new(name, crate::aws::sqs(sdk), queue_url.clone(), large))
            }
            DlqSettings::S3 { bucket, prefix } => Arc::new(S3Sink::new(name, crate::aws::s3(sdk), bucket.clone(), prefix.clone())),
        };
        sinks.insert(name.clone(), sink);
    }
    sinks
}
