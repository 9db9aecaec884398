//! `type = "sqs"`: a queue's messages, as Lambda's SQS event (one record) or as the body itself.

mod event;

use std::path::Path;

use serde::Deserialize;

use crate::config::{deserialize_at, ConfigError};
use crate::sources::SourceKind;

pub use event::payload;
/// An SQS message with every kind of attribute, for tests.
#[cfg(test)]
pub(crate) use event::tests::message as test_message;

/// What an SQS source hands the function.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum SqsShape {
    /// Lambda's SQS event, `{"Records":[message]}`.
    #[default]
    Sqs,
    /// The message body itself, which must be JSON.
    Body,
}

/// The settings of a `type = "sqs"` source file (its `type`, `target` and `routes` taken out).
pub fn settings(path: &Path, table: toml::Table) -> Result<SourceKind, ConfigError> {
    Ok(SourceKind::Sqs(deserialize_at(path, "", toml::Value::Table(table))?))
}
