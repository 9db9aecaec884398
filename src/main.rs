//! The `fanin` command: parses the command line, runs the subcommand, maps errors to exit codes
//! (0 ok, 1 runtime failure, 2 bad configuration or usage).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use fanin::config::ConfigError;
use fanin::settings::Config;

// mimalloc: glibc's malloc spent a quarter of each event's CPU in arena locks and
// consolidation under the dispatcher's many small, short-lived allocations (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DEFAULT_CONFIG: &str = fanin::config::DEFAULT_FILE;

#[derive(Parser)]
#[command(name = "fanin", version, about = "Fans AWS events and schedules out to asynchronous Lambda invocations")]
struct Cli {
    /// Log format: `text` (coloured on a terminal) or `json` (one object per line).
    #[arg(long, global = true, value_enum, default_value_t = fanin::telemetry::LogFormat::Text)]
    log_format: fanin::telemetry::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Run the daemon.
    #[command(
        after_help = "Examples:\n  fanin run -c /etc/fanin/fanin.toml\n  RUST_LOG=fanin=debug fanin run -c fanin.toml --log-format json"
    )]
    Run {
        /// The daemon configuration file.
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Parse everything, then check every target, queue, sink and schedule against AWS.
    #[command(
        after_help = "Examples:\n  fanin validate -c fanin.toml\n  fanin validate -c /etc/fanin/fanin.toml --offline   # no AWS calls: systemd's ExecStartPre"
    )]
    Validate {
        /// The daemon configuration file.
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Only parse and check the configuration itself; no AWS calls.
        #[arg(long)]
        offline: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = fanin::validate::Format::Text)]
        format: fanin::validate::Format,
    },
    /// Send dead-lettered events again.
    #[command(
        after_help = "Examples:\n  fanin replay --from local -c /etc/fanin/fanin.toml --dry-run   # the sink named local: where each group would go\n  fanin replay --from sqs:https://sqs.us-east-1.amazonaws.com/123456789012/fanin-dlq -c fanin.toml --since 6h"
    )]
    Replay(fanin::replay::ReplayArgs),
    /// Wire S3 notifications, SNS subscriptions and EventBridge rules to the source queues.
    #[command(
        after_help = "Examples:\n  fanin setup -c fanin.toml            # list what would change\n  fanin setup -c fanin.toml --apply    # make the changes"
    )]
    Setup {
        /// The daemon configuration file.
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Make the changes (without it, only list them).
        #[arg(long)]
        apply: bool,
    },
    /// Print a sample event in the shape fanin hands a function for a source type.
    #[command(
        after_help = "Examples:\n  fanin events s3 --bucket photos --key 'in/a b.jpg'\n  fanin events sqs --shape body --message '{\"orderId\":\"o-1\"}' | fanin invoke -c fanin.toml --target process-order --event -"
    )]
    Events(fanin::samples::EventsArgs),
    /// Test an event against a pattern (`true` or `false`), or against every route of a source.
    #[command(
        after_help = "Examples:\n  fanin events eventbridge --detail '{\"amount\":150}' | fanin test-pattern --pattern '{\"detail\":{\"amount\":[{\"numeric\":[\">=\",100]}]}}'\n  fanin events sqs | fanin test-pattern -c fanin.toml --source orders"
    )]
    TestPattern(fanin::test_pattern::TestPatternArgs),
    /// Invoke a target once with an event, and print what came back.
    #[command(
        after_help = "Examples:\n  fanin invoke -c fanin.toml --target process-order --type DryRun\n  fanin events s3 | fanin invoke -c fanin.toml --target resize --event - --type RequestResponse --log-tail"
    )]
    Invoke(fanin::invoke::InvokeArgs),
    /// Look at dead letters without changing them: counts, a list, one record.
    #[command(
        after_help = "Examples:\n  fanin dlq stats --from local -c /etc/fanin/fanin.toml\n  fanin dlq list --from file:/var/lib/fanin/dlq.jsonl --filter '{\"requestContext\":{\"condition\":[\"ResourceNotFound\"]}}'"
    )]
    Dlq(fanin::inspect::DlqArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  fanin completions bash > /etc/bash_completion.d/fanin\n  fanin completions zsh > \"${fpath[1]}/_fanin\""
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    #[command(hide = true)]
    Manpage,
    /// Print the least-privilege IAM policy this configuration needs.
    #[command(
        after_help = "Examples:\n  fanin iam-policy -c fanin.toml > fanin-policy.json\n  fanin iam-policy -c fanin.toml --include-setup"
    )]
    IamPolicy {
        /// The daemon configuration file.
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Also grant what `fanin setup --apply` needs.
        #[arg(long)]
        include_setup: bool,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            if let Some(config_error) = e.downcast_ref::<ConfigError>() {
                if config_error.key == fanin::config::NO_FILE {
                    eprintln!("fanin: {}", config_error.message);
                } else {
                    eprintln!("fanin: configuration error: {config_error}");
                }
                return ExitCode::from(2);
            }
            eprintln!("fanin: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    fanin::telemetry::init_logging(cli.log_format);
    match cli.command {
        Command::Run { config } => {
            let config = Config::load(&config)?;
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                let shutdown = CancellationToken::new();
                tokio::spawn(cancel_on_signal(shutdown.clone()));
                fanin::daemon::run(config, shutdown, reload_on_sighup()?).await
            })?;
            // Tasks abandoned after the grace period must not hold the exit.
            runtime.shutdown_timeout(std::time::Duration::from_millis(100));
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { config, offline, format } => {
            let config = Config::load(&config)?;
            tokio::runtime::Runtime::new()?.block_on(fanin::validate::run(&config, offline, format))
        }
        Command::Replay(args) => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                let shutdown = CancellationToken::new();
                tokio::spawn(cancel_on_signal(shutdown.clone()));
                fanin::replay::run(args, shutdown).await
            })
        }
        Command::Setup { config, apply } => {
            let config = Config::load(&config)?;
            tokio::runtime::Runtime::new()?.block_on(fanin::setup::run(&config, apply))
        }
        Command::Events(args) => fanin::samples::run(args),
        Command::TestPattern(args) => fanin::test_pattern::run(args),
        Command::Invoke(args) => tokio::runtime::Runtime::new()?.block_on(fanin::invoke::run(args)),
        Command::Dlq(args) => tokio::runtime::Runtime::new()?.block_on(fanin::inspect::run(args)),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "fanin", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Manpage => {
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::IamPolicy { config, include_setup } => {
            let config = Config::load(&config)?;
            let policy = fanin::iam::policy(&config, include_setup);
            println!("{}", serde_json::to_string_pretty(&policy)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A message for every SIGHUP: re-read the configuration.
fn reload_on_sighup() -> anyhow::Result<tokio::sync::mpsc::Receiver<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())?;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the configuration");
            // One pending reload is enough: it reads the file as it is then.
            let _ = tx.try_send(());
        }
    });
    Ok(rx)
}

/// Cancels `shutdown` on SIGINT or SIGTERM.
async fn cancel_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("stopping: no more pulling; in-flight invocations get the shutdown grace");
    fanin::telemetry::systemd::stopping();
    shutdown.cancel();
}
