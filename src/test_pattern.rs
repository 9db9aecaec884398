//! `fanin test-pattern`: try an event against a pattern, or against every route of a source,
//! before a rule moves or a reload.
//!
//! With `--pattern` it answers as `aws events test-event-pattern` does: `true` or `false`, exit
//! 0; a pattern EventBridge would refuse gets EventBridge's kind of message and exit 2. With
//! `--source NAME` it loads the configuration like the other commands and prints each route
//! of that source, its target and whether the event passes its filter, then the targets the
//! event would reach. The event is the one the filter sees: the payload as the function gets it
//! (`fanin events …` prints one).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;

use crate::pattern::{Explanation, Pattern, PatternError};
use crate::settings::Config;

/// `fanin test-pattern` arguments.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("against").required(true).args(["pattern", "source"])))]
pub struct TestPatternArgs {
    /// The pattern: a file, or the JSON itself (text starting with `{`).
    #[arg(long, value_name = "FILE|JSON", conflicts_with = "source")]
    pub pattern: Option<String>,
    /// The event: a file, or `-` for standard input.
    #[arg(long, value_name = "FILE|-", default_value = "-")]
    pub event: String,
    /// Test every route of this source (its file name without `.toml`).
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,
    /// The daemon configuration file (with `--source`).
    #[arg(short, long, default_value = crate::config::DEFAULT_FILE, requires = "source")]
    pub config: PathBuf,
    /// Also print the fields that decided each answer.
    #[arg(long)]
    pub explain: bool,
}

/// Why `test-pattern` could not answer; each is a usage error (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum TestPatternError {
    /// The pattern is one EventBridge would refuse.
    #[error("Event pattern is not valid. Reason: {}", reason(.0))]
    InvalidPattern(PatternError),
    #[error("Event is not valid JSON: {0}")]
    InvalidEvent(serde_json::Error),
    #[error("cannot read {what} {path}: {error}")]
    Read { what: &'static str, path: String, error: std::io::Error },
    #[error("no source named \"{name}\" in {file}; its sources: {known}")]
    UnknownSource { name: String, file: String, known: String },
}

fn reason(e: &PatternError) -> String {
    if e.path.is_empty() {
        e.message.clone()
    } else {
        format!("{} (at {})", e.message, e.path)
    }
}

/// Runs the command: exit 0 with an answer, 2 when the pattern, event or source is wrong
/// (configuration errors come back as `ConfigError`, which the CLI maps to 2 as well).
pub fn run(args: TestPatternArgs) -> anyhow::Result<ExitCode> {
    match answer(&args) {
        Ok(text) => {
            use std::io::Write;
            match std::io::stdout().lock().write_all(text.as_bytes()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(ExitCode::SUCCESS),
            }
        }
        Err(e) => match e.downcast::<TestPatternError>() {
            Ok(e) => {
                eprintln!("fanin test-pattern: {e}");
                Ok(ExitCode::from(2))
            }
            Err(other) => Err(other),
        },
    }
}

/// What the command prints.
fn answer(args: &TestPatternArgs) -> anyhow::Result<String> {
    // The pattern first: a refused pattern is the answer whatever the event.
    let pattern = args.pattern.as_deref().map(read_pattern).transpose()?;
    let config = match &args.source {
        Some(_) => Some(Config::load(&args.config)?),
        None => None,
    };
    let event = read_event(&args.event)?;
    let mut out = String::new();
    if let Some(pattern) = pattern {
        let explanation = pattern.explain(&event);
        out.push_str(if explanation.matched { "true\n" } else { "false\n" });
        if args.explain {
            push_reasons(&mut out, &explanation, "");
        }
        return Ok(out);
    }
    let (config, name) = (config.expect("loaded with --source"), args.source.as_deref().expect("checked by clap"));
    let Some(source) = config.sources.iter().find(|s| s.name == name) else {
        let mut known: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
        known.sort_unstable();
        return Err(TestPatternError::UnknownSource {
            name: name.to_string(),
            file: config.file.display().to_string(),
            known: if known.is_empty() { "none".into() } else { known.join(", ") },
        }
        .into());
    };
    let width = source.routes.iter().map(|r| r.target.len()).max().unwrap_or(0);
    let mut reached: Vec<&str> = Vec::new();
    for route in &source.routes {
        let explanation = route.filter.as_ref().map(|f| f.explain(&event));
        let matched = explanation.as_ref().is_none_or(|e| e.matched);
        let note = if explanation.is_none() { " (no filter)" } else { "" };
        out.push_str(&format!("{:width$}  {matched}{note}\n", route.target));
        if let (true, Some(e)) = (args.explain, &explanation) {
            push_reasons(&mut out, e, "  ");
        }
        if matched && !reached.contains(&route.target.as_str()) {
            reached.push(&route.target);
        }
    }
    if reached.is_empty() {
        out.push_str("reaches no target\n");
    } else {
        out.push_str(&format!("reaches: {}\n", reached.join(", ")));
    }
    Ok(out)
}

fn push_reasons(out: &mut String, explanation: &Explanation, indent: &str) {
    for field in &explanation.fields {
        out.push_str(&format!("{indent}  {field}\n"));
    }
}

fn read_pattern(arg: &str) -> Result<Pattern, TestPatternError> {
    let text = if arg.trim_start().starts_with('{') {
        arg.to_string()
    } else {
        std::fs::read_to_string(arg).map_err(|error| TestPatternError::Read { what: "the pattern", path: arg.to_string(), error })?
    };
    Pattern::parse_str(&text).map_err(TestPatternError::InvalidPattern)
}

fn read_event(arg: &str) -> Result<Value, TestPatternError> {
    let mut text = String::new();
    let read = if arg == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(Path::new(arg)).map(|t| text = t)
    };
    read.map_err(|error| TestPatternError::Read {
        what: "the event",
        path: if arg == "-" { "standard input".into() } else { arg.to_string() },
        error,
    })?;
    serde_json::from_str(&text).map_err(TestPatternError::InvalidEvent)
}
