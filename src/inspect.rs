//! `fanin dlq stats|list|show`: what died, read from wherever `replay` reads, changing nothing.

use std::process::ExitCode;

/// `fanin dlq` arguments.
#[derive(Debug, clap::Args)]
pub struct DlqArgs {
    /// What to print.
    #[command(subcommand)]
    pub command: DlqCommand,
}

/// `fanin dlq` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DlqCommand {
    /// Counts by target, condition and error type, with the oldest and newest of each.
    Stats,
    /// One line per record.
    List,
    /// One record, whole, with its payload.
    Show,
}

/// Runs `fanin dlq`.
pub async fn run(args: DlqArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("fanin dlq {:?} is not built yet", args.command)
}
