//! `fanin invoke --target NAME`: one Invoke call with a target's settings, its result printed.

use std::process::ExitCode;

/// `fanin invoke` arguments.
#[derive(Debug, clap::Args)]
pub struct InvokeArgs {
    /// The target to invoke.
    #[arg(long)]
    pub target: String,
}

/// Invokes once.
pub async fn run(args: InvokeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("fanin invoke --target {} is not built yet", args.target)
}
