//! `fanin events TYPE`: a sample event in the shape fanin hands a function for a source type.

use std::process::ExitCode;

/// `fanin events` arguments.
#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// The source type.
    pub kind: String,
}

/// Prints the sample.
pub fn run(args: EventsArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("fanin events {} is not built yet", args.kind)
}
