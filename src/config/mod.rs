//! Reading configuration: the daemon file with `FANIN__SECTION__KEY` variables over it, source
//! files as TOML tables, and the error that names the file and the key.
//!
//! Every error names the file and the key it is about, so an operator can go straight to
//! the line; the CLI turns a [`ConfigError`] into exit code 2. What the keys mean lives with
//! the part that uses them; [`crate::settings`] puts the whole together.

pub mod limits;
mod plain;
mod values;

use std::path::{Path, PathBuf};

pub use values::{duration, optional_duration, optional_rate, optional_s3_location, parse_duration, Rate, S3Location};

/// A configuration that cannot be used, with the file and key it is about.
#[derive(Debug, thiserror::Error)]
#[error("{}: {key}: {message}", self.place())]
pub struct ConfigError {
    /// The file the problem is in.
    pub file: PathBuf,
    /// The `FANIN__…` environment variable that set the value, when one did: the file is
    /// then not where to look.
    pub variable: Option<String>,
    /// The dotted key the problem is at (`targets.resize.rate`); empty for the whole file.
    pub key: String,
    /// What is wrong, in the operator's terms.
    pub message: String,
}

impl ConfigError {
    /// An error about `key` in `file`.
    pub fn new(file: &Path, key: impl Into<String>, message: impl Into<String>) -> Self {
        let key = key.into();
        ConfigError {
            file: file.to_path_buf(),
            variable: None,
            key: if key.is_empty() { "(file)".into() } else { key },
            // One line: a refused reload is one log line.
            message: shortened(message.into().replace(['\n', '\r'], " ")),
        }
    }

    /// This error blamed on the `FANIN__…` variable that set its key, if one did. For errors
    /// about the daemon file only: source files are not overridden.
    pub fn blaming_variable(mut self) -> Self {
        self.variable = variable_for(&self.key);
        self
    }

    fn place(&self) -> String {
        match &self.variable {
            Some(variable) => format!("environment variable {variable} (over {})", self.file.display()),
            None => self.file.display().to_string(),
        }
    }
}

/// Messages quote what they refuse; a 10 MB value is not repeated whole.
const MAX_MESSAGE: usize = 1000;

fn shortened(mut message: String) -> String {
    if message.len() > MAX_MESSAGE {
        let cut = (0..=MAX_MESSAGE).rev().find(|&i| message.is_char_boundary(i)).unwrap_or(0);
        let left_out = message.len() - cut;
        message.truncate(cut);
        message.push_str(&format!("… ({left_out} more bytes)"));
    }
    message
}

/// The key of an error that is about a daemon file that is not there: nothing in it to name.
pub const NO_FILE: &str = "(no file)";

/// Where the daemon file is unless `--config` says otherwise.
pub const DEFAULT_FILE: &str = "/etc/fanin/fanin.toml";

/// The daemon file at `file` as a `T`, with `FANIN__SECTION__KEY` environment variables over
/// its keys.
pub fn read_daemon_file<T: serde::de::DeserializeOwned>(file: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            ConfigError::new(file, NO_FILE, format!("no configuration at {}: give --config FILE", file.display()))
        }
        _ => ConfigError::new(file, "", format!("cannot read: {e}")),
    })?;
    let raw = config::Config::builder()
        .add_source(config::File::from_str(&text, config::FileFormat::Toml))
        .add_source(config::Environment::with_prefix("FANIN").prefix_separator("__").separator("__").try_parsing(true))
        .build()
        .map_err(|e| ConfigError::new(file, "", e.to_string()))?;
    serde_path_to_error::deserialize(raw).map_err(|e| {
        let key = key_of(e.path());
        ConfigError::new(file, key, plain::plain(&strip_config_suffix(&e.into_inner().to_string()))).blaming_variable()
    })
}

/// The `FANIN__SECTION__KEY` variable set for the dotted `key`, if any. The `config` crate
/// lower-cases variable names, so the match ignores case.
fn variable_for(key: &str) -> Option<String> {
    if key.is_empty() {
        return None;
    }
    let wanted = format!("FANIN__{}", key.replace('.', "__"));
    std::env::vars_os().filter_map(|(name, _)| name.into_string().ok()).find(|name| name.eq_ignore_ascii_case(&wanted))
}

/// The TOML file at `path` as a table.
pub fn read_table(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::new(path, "", format!("cannot read: {e}")))?;
    toml::from_str(&text).map_err(|e| ConfigError::new(path, "", e.message().to_string() + &location(&text, e.span())))
}

/// Deserializes `value` (found at `key` of `file`) into `T`, naming the full key on error.
pub fn deserialize_at<T: serde::de::DeserializeOwned>(file: &Path, key: &str, value: toml::Value) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = key_of(e.path());
        let full = match (key.is_empty(), inner.is_empty()) {
            (true, _) => inner,
            (false, true) => key.to_string(),
            (false, false) => format!("{key}.{inner}"),
        };
        ConfigError::new(file, full, plain::plain(e.into_inner().message()))
    })
}

/// Moves `keys` out of `table` into a table of their own.
pub fn split_off(table: &mut toml::Table, keys: &[&str]) -> toml::Value {
    toml::Value::Table(keys.iter().filter_map(|k| table.remove(*k).map(|v| (k.to_string(), v))).collect())
}

/// Which key a `serde_path_to_error` path points at, dotted.
fn key_of(path: &serde_path_to_error::Path) -> String {
    let p = path.to_string();
    if p == "." {
        String::new()
    } else {
        p
    }
}

/// The `config` crate appends its own "for key ..." to some messages; the key is already named.
fn strip_config_suffix(message: &str) -> String {
    match message.find(" for key `") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(span) => {
            let line = text[..span.start.min(text.len())].lines().count().max(1);
            format!(" (line {line})")
        }
        None => String::new(),
    }
}
