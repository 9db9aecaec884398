//! `[dlq.NAME]`: what a dead-letter sink is configured with.

use std::path::PathBuf;

use serde::Deserialize;

/// `[dlq.NAME]`: a dead-letter sink.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum DlqSettings {
    /// JSON lines in a local file, fsync'd before the upstream delete.
    File {
        /// The file; relative to the daemon file. Default: `<state_dir>/dlq.jsonl`.
        path: Option<PathBuf>,
    },
    /// One SQS message per record.
    Sqs {
        /// The queue's URL.
        queue_url: String,
        /// Where records over SQS's message size go; the message then points at them.
        large_records: Option<LargeRecords>,
    },
    /// One S3 object per record, under `<prefix>YYYY/MM/DD/HH/`.
    S3 {
        /// The bucket.
        bucket: String,
        /// Key prefix; default `fanin/dlq/`.
        #[serde(default = "default_dlq_prefix")]
        prefix: String,
    },
}

fn default_dlq_prefix() -> String {
    "fanin/dlq/".into()
}

/// `large_records = { … }` of an `sqs` dead-letter sink.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LargeRecords {
    /// The bucket.
    pub bucket: String,
    /// Key prefix; default `fanin/dlq/large/`.
    #[serde(default = "default_large_records_prefix")]
    pub prefix: String,
}

fn default_large_records_prefix() -> String {
    "fanin/dlq/large/".into()
}

/// The name of the dead-letter sink used by targets that name none.
pub const DEFAULT_DLQ: &str = "default";
