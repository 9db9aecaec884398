//! The leaf every part of the pattern language shares: the error it refuses a pattern with,
//! how a place in a pattern is named (`detail.state`, `key[0]`), and reading one JSON shape.

use serde_json::{Map, Value};

/// Why a pattern was refused. `path` names the offending part of the pattern, e.g.
/// `detail.state` or `Records.s3.object.key[0]`; it is empty for the pattern as a whole.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PatternError {
    pub path: String,
    pub message: String,
}

impl PatternError {
    pub(super) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        PatternError { path: path.into(), message: message.into() }
    }
}

pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

pub(super) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

pub(super) fn single_entry<'a>(obj: &'a Map<String, Value>, path: &str, what: &str) -> Result<(&'a String, &'a Value), PatternError> {
    let mut entries = obj.iter();
    match (entries.next(), entries.next()) {
        (Some(entry), None) => Ok(entry),
        (None, _) => Err(PatternError::new(path, format!("empty {what}"))),
        (Some(_), Some(_)) => Err(PatternError::new(path, format!("only one key is allowed in {what}"))),
    }
}

pub(super) fn expect_string(value: &Value, path: &str, op: &str) -> Result<String, PatternError> {
    value.as_str().map(str::to_string).ok_or_else(|| PatternError::new(path, format!("the value of {op} must be a string")))
}
