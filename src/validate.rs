//! `fanin validate`: the configuration checked against the world. (Being built.)

use std::process::ExitCode;

use crate::config::Config;

/// How `validate` prints its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// One JSON document.
    Json,
}

/// Runs every check; 0 all good, 1 something unreachable or denied.
pub async fn run(_config: &Config, _offline: bool, _format: Format) -> anyhow::Result<ExitCode> {
    anyhow::bail!("validate is not built yet")
}
