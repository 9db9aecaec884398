//! `fanin invoke --target NAME`: one Invoke call with a target's settings (function,
//! qualifier, client context, endpoint, credentials), and what came back printed: status,
//! request id, executed version, function error, the decoded log tail and, for
//! `RequestResponse`, the response payload. For trying a function by hand, with the event
//! `fanin events` prints.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use bytes::Bytes;

use crate::dispatch::settings::TargetKind;
use crate::dispatch::{Invoker, Kind};
use crate::settings::Config;

/// How to invoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Type {
    /// Asynchronous: Lambda queues the event and answers 202.
    #[value(name = "Event")]
    Event,
    /// Synchronous: the function runs and its answer comes back.
    #[value(name = "RequestResponse")]
    RequestResponse,
    /// Nothing runs: Lambda checks the function, qualifier and permission (204).
    #[value(name = "DryRun")]
    DryRun,
}

/// `fanin invoke` arguments.
#[derive(Debug, clap::Args)]
pub struct InvokeArgs {
    /// The daemon configuration file.
    #[arg(short, long, default_value = crate::config::DEFAULT_FILE)]
    pub config: PathBuf,
    /// The target to invoke (`[targets.NAME]`).
    #[arg(long)]
    pub target: String,
    /// The event: a JSON file, or `-` for standard input (`fanin events s3 | fanin invoke …`). Default `{}`.
    #[arg(long)]
    pub event: Option<String>,
    /// The invocation type; default the target's own (`invocation_type`).
    #[arg(long = "type", value_enum)]
    pub invocation_type: Option<Type>,
    /// Ask for the last 4 KB of the function's log (`RequestResponse` only).
    #[arg(long)]
    pub log_tail: bool,
}

/// Invokes once; exit 0 when Lambda accepted the event and the function did not fail, 1 when
/// the call or the function failed, 2 for usage errors.
pub async fn run(args: InvokeArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let usage = |message: String| {
        eprintln!("fanin invoke: {message}");
        Ok(ExitCode::from(2))
    };
    let Some(target) = config.targets.get(&args.target) else {
        let known: Vec<&str> = config.targets.keys().map(String::as_str).collect();
        return usage(format!("no target named \"{}\" in {} (defined: {})", args.target, config.file.display(), known.join(", ")));
    };
    let TargetKind::Function(function) = &target.kind else {
        return usage(format!(
            "target \"{}\" is not called through Invoke (a state machine or a function URL); fanin invoke calls Lambda functions",
            args.target
        ));
    };
    let payload = match read_event(args.event.as_deref()) {
        Ok(p) => p,
        Err(e) => return usage(e),
    };
    let kind = args.invocation_type.unwrap_or(match target.invocation_type {
        crate::dispatch::settings::InvocationType::Event => Type::Event,
        crate::dispatch::settings::InvocationType::RequestResponse => Type::RequestResponse,
    });
    if args.log_tail && kind != Type::RequestResponse {
        return usage("--log-tail needs --type RequestResponse: Lambda returns logs only for synchronous calls".into());
    }

    let sdk = crate::aws::load(&config.aws).await;
    crate::aws::check_ready(&sdk, &config.aws).await?;
    let invoker = Invoker::new(&sdk, function, target, None);
    println!(
        "target:           {} ({}{})",
        args.target,
        function,
        target.qualifier.as_deref().map(|q| format!(", qualifier {q}")).unwrap_or_default()
    );
    println!("invocation type:  {kind:?}");
    let kind = match kind {
        Type::Event => Kind::Event,
        Type::RequestResponse => Kind::RequestResponse,
        Type::DryRun => Kind::DryRun,
    };
    match invoker.call(&payload, kind, args.log_tail).await {
        Ok(answer) => {
            println!("status:           {}", answer.status);
            println!("request id:       {}", answer.request_id.as_deref().unwrap_or("-"));
            if let Some(version) = &answer.executed_version {
                println!("executed version: {version}");
            }
            if let Some(error) = &answer.function_error {
                println!("function error:   {error}");
            }
            if let Some(log) = &answer.log_tail {
                println!("log tail:");
                for line in log.lines() {
                    println!("  {line}");
                }
            }
            if let Some(payload) = &answer.payload {
                println!("response payload:");
                println!("{}", serde_json::to_string_pretty(payload).expect("a JSON value serializes"));
            }
            Ok(if answer.function_error.is_some() { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        Err(failure) => {
            println!("status:           {}", failure.status.map(|s| s.to_string()).unwrap_or_else(|| "no answer".into()));
            println!("failed:           {}: {}", failure.code.as_deref().unwrap_or("error"), failure.message);
            // What validate would say about this target, with its advice.
            print!("{}", crate::validate::target_finding(&config, &sdk, &args.target).await);
            Ok(ExitCode::from(1))
        }
    }
}

/// The event from `--event` (a file, `-` for stdin, or none: `{}`), which must be JSON.
fn read_event(from: Option<&str>) -> Result<Bytes, String> {
    let bytes = match from {
        None => b"{}".to_vec(),
        Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).map_err(|e| format!("--event -: cannot read standard input: {e}"))?;
            buf
        }
        Some(path) => std::fs::read(path).map_err(|e| format!("--event {path}: {e}"))?,
    };
    serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).map_err(|e| format!("--event: not JSON ({e}); Lambda takes a JSON payload"))?;
    Ok(Bytes::from(bytes))
}
