//! `[dlq.NAME]`: what a dead-letter sink is configured with.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::limits::http_url;
use crate::config::ConfigError;

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

/// The longest key prefix a sink or a claim check may put before its own part of an S3 key:
/// keys are at most 1024 bytes, and fanin adds the date, the event id and `.json`.
pub const MAX_S3_PREFIX: u64 = 512;

impl DlqSettings {
    /// Refuses a sink no record could be written to, naming the key `dlq.NAME.…` of `file`.
    pub fn check(&self, name: &str, file: &Path) -> Result<(), ConfigError> {
        let key = |k: &str| format!("dlq.{name}.{k}");
        match self {
            DlqSettings::File { path } => match path {
                // Relative paths were joined to their file's directory: an empty one is that directory.
                Some(p) if p.is_dir() || p.as_os_str().is_empty() => {
                    Err(ConfigError::new(file, key("path"), format!("{} is a directory, not a file", p.display())))
                }
                _ => Ok(()),
            },
            DlqSettings::Sqs { queue_url, large_records } => {
                http_url(file, key("queue_url"), queue_url, "a queue URL")?;
                if let Some(large) = large_records {
                    s3_place(file, &key("large_records"), &large.bucket, &large.prefix)?;
                }
                Ok(())
            }
            DlqSettings::S3 { bucket, prefix } => s3_place(file, &format!("dlq.{name}"), bucket, prefix),
        }
    }
}

/// `bucket` and `prefix` at `key` of `file` can start an S3 key.
pub fn s3_place(file: &Path, key: &str, bucket: &str, prefix: &str) -> Result<(), ConfigError> {
    if bucket.is_empty() || bucket.contains('/') {
        return Err(ConfigError::new(file, format!("{key}.bucket"), format!("\"{bucket}\" is not a bucket name")));
    }
    if prefix.len() as u64 > MAX_S3_PREFIX {
        let message = format!("must be at most {MAX_S3_PREFIX} bytes (it is {}): S3 keys are at most 1024", prefix.len());
        return Err(ConfigError::new(file, format!("{key}.prefix"), message));
    }
    Ok(())
}

/// The name of the dead-letter sink used by targets that name none.
pub const DEFAULT_DLQ: &str = "default";

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<(), ConfigError> {
        let sink: DlqSettings = toml::from_str(text).unwrap();
        sink.check("x", Path::new("fanin.toml"))
    }

    #[test]
    fn a_sink_needs_somewhere_to_write() {
        assert!(check("type = \"file\"\npath = \"/var/lib/fanin/x.jsonl\"").is_ok());
        assert_eq!(check("type = \"file\"\npath = \"/\"").unwrap_err().key, "dlq.x.path");
        assert_eq!(check("type = \"sqs\"\nqueue_url = \"q\"").unwrap_err().key, "dlq.x.queue_url");
        assert_eq!(check("type = \"s3\"\nbucket = \"a/b\"").unwrap_err().key, "dlq.x.bucket");
        assert!(check(&format!("type = \"s3\"\nbucket = \"b\"\nprefix = \"{}\"", "p".repeat(512))).is_ok());
        assert_eq!(check(&format!("type = \"s3\"\nbucket = \"b\"\nprefix = \"{}\"", "p".repeat(513))).unwrap_err().key, "dlq.x.prefix");
    }
}
