//! `fanin invoke --target NAME`: one Invoke call with a target's settings (function,
//! qualifier, client context, endpoint, credentials), and what came back printed: status,
//! request id, executed version, function error, the decoded log tail and, for
//! `RequestResponse`, the response payload. For trying a function by hand, with the event
//! `fanin events` prints.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_lambda::types::{InvocationType, LogType};
use base64::Engine;
use bytes::Bytes;

use crate::config::Config;
use crate::dispatch::Invoker;

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
    #[arg(long, default_value = crate::config::DEFAULT_FILE)]
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
    if target.state_machine.is_some() || target.url.is_some() {
        return usage(format!("target \"{}\" is not called through Invoke (a state machine or a function URL); fanin invoke calls Lambda functions", args.target));
    }
    let payload = match read_event(args.event.as_deref()) {
        Ok(p) => p,
        Err(e) => return usage(e),
    };
    let kind = args.invocation_type.unwrap_or(match target.invocation_type {
        crate::config::InvocationType::Event => Type::Event,
        crate::config::InvocationType::RequestResponse => Type::RequestResponse,
    });
    if args.log_tail && kind != Type::RequestResponse {
        return usage("--log-tail needs --type RequestResponse: Lambda returns logs only for synchronous calls".into());
    }

    let sdk = crate::aws::load(&config.aws).await;
    let invoker = Invoker::new(crate::aws::lambda(&sdk, target.invoke_timeout), target, None);
    let request = invoker
        .request(&payload)
        .invocation_type(match kind {
            Type::Event => InvocationType::Event,
            Type::RequestResponse => InvocationType::RequestResponse,
            Type::DryRun => InvocationType::DryRun,
        })
        .set_log_type(args.log_tail.then_some(LogType::Tail));
    println!("target:           {} ({}{})", args.target, target.function, target.qualifier.as_deref().map(|q| format!(", qualifier {q}")).unwrap_or_default());
    println!("invocation type:  {kind:?}");
    match request.send().await {
        Ok(out) => {
            let request_id = aws_sdk_lambda::operation::RequestId::request_id(&out).unwrap_or("-").to_string();
            println!("status:           {}", out.status_code());
            println!("request id:       {request_id}");
            if let Some(version) = out.executed_version() {
                println!("executed version: {version}");
            }
            if let Some(error) = out.function_error() {
                println!("function error:   {error}");
            }
            if let Some(log) = out.log_result() {
                println!("log tail:");
                let decoded = base64::engine::general_purpose::STANDARD.decode(log).unwrap_or_else(|_| log.as_bytes().to_vec());
                for line in String::from_utf8_lossy(&decoded).lines() {
                    println!("  {line}");
                }
            }
            if kind == Type::RequestResponse {
                let body = out.payload().map(|p| p.as_ref().to_vec()).unwrap_or_default();
                println!("response payload:");
                println!("{}", pretty(&body));
            }
            Ok(if out.function_error().is_some() { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        Err(e) => {
            let status = e.raw_response().map(|r| r.status().as_u16().to_string()).unwrap_or_else(|| "no answer".into());
            let code = e.code().unwrap_or("error").to_string();
            let message = e.message().map(str::to_string).unwrap_or_else(|| DisplayErrorContext(&e).to_string());
            println!("status:           {status}");
            println!("failed:           {code}: {message}");
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

/// A response payload, pretty when it is JSON.
fn pretty(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => serde_json::to_string_pretty(&v).expect("a JSON value serializes"),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    }
}
