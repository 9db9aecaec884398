//! `fanin dlq stats|list|show`: what died, read from wherever `replay` reads, changing nothing.
//!
//! The records are read through replay's own store (`file:PATH`, `sqs:QUEUE_URL`,
//! `s3://BUCKET/PREFIX`) and understood the same way: fanin's records, Lambda's own on-failure
//! destination records and legacy Lambda dead-letter queue messages. A file and S3 objects are
//! only read. SQS has no peek: messages are received with a 30-second visibility timeout
//! (replay holds them for 15 minutes) and every one is made visible again (visibility 0) as soon
//! as the read is over, before anything is printed; nothing is deleted. (Receiving still raises a
//! message's `ApproximateReceiveCount`, which a redrive policy on the dead-letter queue itself
//! would count.) A read that takes longer than the hold stops where a message comes round a
//! second time: what it shows is then read once each, but not all (`complete: false`).
//!
//! `--filter`, `--since` and `--until` select as in `fanin replay`. The records are in *list
//! order*: oldest `timestamp` first, ties by event id, records without a timestamp (legacy
//! messages) last; `list` numbers them from 1 in that order and `show N` takes that number.
//!
//! Per record:
//! - **target**: `fanin.target`; for Lambda's records the function as `functionArn` names it
//!   (`function[:qualifier]`); none for legacy messages.
//! - **condition**: `requestContext.condition`; a legacy message's `ErrorCode` attribute, as
//!   `replay` reads it.
//! - **error type**: `responseContext.errorType`, else `responsePayload.errorType` (Lambda's
//!   records of a function error), else `responseContext.functionError`, else a legacy
//!   message's `ErrorCode`.
//!
//! Exit codes: 0 when the store was read (even empty, even with unreadable records), 1 when it
//! could not be read (missing file, queue or bucket) or `show` found no such record, 2 for
//! usage errors (a bad `--filter`, `--since`, `--from` scheme, or `show` without a record).
//!
//! `--format json` prints one JSON document; the field names are stable:
//!
//! - Every command: `from` (as given), `read` (records read), `selected` (after
//!   `--filter`/`--since`/`--until`), `unreadable` (array of strings, each where and why: they
//!   are skipped, as replay skips them), `complete` (false when an SQS read was cut short).
//! - `stats`: `total` `{count, oldest, newest}`, and `groups`, one per target, condition and
//!   error type, in that order: `{target, condition, errorType, count, oldest, newest,
//!   firstEventId, lastEventId}` (first and last in list order).
//! - `list`: `records`, in list order, each `{index, timestamp, target, function, condition,
//!   errorType, eventId, source, format, replayCount, location}`.
//! - `show`: the same fields as a `list` entry, at the top level, plus `record`: the whole
//!   record as stored (for a legacy message, its body: the event).
//!
//! `timestamp`, `oldest` and `newest` are RFC 3339 with milliseconds, or null; `target`,
//! `function`, `errorType` and `location` may be null. `format` is `fanin`, `lambda` (Lambda's
//! own destination record) or `legacy`. `location` is `PATH:LINE` for a file, `s3://BUCKET/KEY`
//! for S3, null for SQS. `source` is fanin's source name, `lambda` for the others.

mod list;
mod render;
mod show;
mod stats;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::pattern::Pattern;
use crate::replay::parse_time;
use crate::replay::store::{Item, Store};
use crate::settings::Config;

use list::list;
use show::show_one;
use stats::stats;

/// How long an SQS message read by `fanin dlq` stays invisible to others if `dlq` dies
/// before handing it back.
const SQS_LOOK: Duration = Duration::from_secs(30);

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
    Stats(Selection),
    /// One line per record, oldest first, numbered for `show`.
    List(Selection),
    /// One record, whole, with its payload.
    Show(ShowArgs),
}

/// Where the dead letters are, which of them, and how to print them.
#[derive(Debug, clap::Args)]
pub struct Selection {
    /// Where the dead letters are: `file:PATH`, `sqs:QUEUE_URL` or `s3://BUCKET/PREFIX`. Read
    /// only: an SQS message is held 30 s at most and made visible again when the read is over.
    #[arg(long)]
    pub from: String,
    /// The daemon configuration, for its `[aws]` region, profile, role and endpoint.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Only records matching this event pattern (EventBridge's language, over the whole record).
    #[arg(long)]
    pub filter: Option<String>,
    /// Only records that died at or after this time (RFC 3339, or a duration ago like `6h`).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<DateTime<Utc>>,
    /// Only records that died before this time (RFC 3339, or a duration ago).
    #[arg(long, value_parser = parse_time)]
    pub until: Option<DateTime<Utc>>,
    /// Output format: `text`, or `json` (one document).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `fanin dlq show` arguments: the selection, and which record of it.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).multiple(true).args(["id", "index"])))]
pub struct ShowArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// The record whose event id is this (`fanin.eventId`; Lambda's `requestId`, a legacy
    /// message's `RequestID`). With several (one event dies for each of its targets), the first
    /// in list order, unless INDEX names another.
    #[arg(long)]
    pub id: Option<String>,
    /// The record with this number in `fanin dlq list` with the same selection (1 = the
    /// oldest). With `--id`, that record must also have that event id.
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    pub index: Option<u64>,
}

/// How `fanin dlq` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// One JSON document.
    Json,
}

/// One record as `dlq` shows it.
struct Row {
    /// Its number in list order, from 1.
    index: usize,
    timestamp: Option<DateTime<Utc>>,
    target: Option<String>,
    function: Option<String>,
    condition: String,
    error_type: Option<String>,
    event_id: String,
    source: String,
    format: &'static str,
    replay_count: u32,
    location: Option<String>,
    record: Value,
}

/// What was read.
struct Read {
    from: String,
    /// Readable records read.
    read: usize,
    /// The selected records, in list order.
    rows: Vec<Row>,
    unreadable: Vec<String>,
    complete: bool,
}

/// Runs `fanin dlq`.
pub async fn run(args: DlqArgs) -> anyhow::Result<ExitCode> {
    let (selection, show) = match &args.command {
        DlqCommand::Stats(s) | DlqCommand::List(s) => (s, None),
        DlqCommand::Show(s) => (&s.selection, Some(s)),
    };
    let read = match read(selection).await? {
        Ok(read) => read,
        Err(code) => return Ok(code),
    };
    if !read.complete {
        eprintln!(
            "fanin: the queue holds more than could be read within the {} s hold; what follows is what was read (each once), not all",
            SQS_LOOK.as_secs()
        );
    }
    let format = selection.format;
    let out = match &args.command {
        DlqCommand::Stats(_) => stats(&read, format),
        DlqCommand::List(_) => {
            for e in &read.unreadable {
                eprintln!("skipped, unreadable: {e}");
            }
            list(&read, format)
        }
        DlqCommand::Show(_) => {
            for e in &read.unreadable {
                eprintln!("skipped, unreadable: {e}");
            }
            match show_one(&read, show.expect("show has its arguments"), format) {
                Ok(out) => out,
                Err(message) => {
                    eprintln!("fanin: {message}");
                    return Ok(ExitCode::from(1));
                }
            }
        }
    };
    // A reader that stopped early (`| head`) is not an error.
    match std::io::stdout().lock().write_all(out.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// Reads the store, hands SQS messages back, and selects; `Err(code)` for usage errors.
async fn read(args: &Selection) -> anyhow::Result<Result<Read, ExitCode>> {
    let filter = match &args.filter {
        Some(f) => match Pattern::parse_str(f) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("fanin: --filter: {e}");
                return Ok(Err(ExitCode::from(2)));
            }
        },
        None => None,
    };
    let config = args.config.as_deref().map(Config::load).transpose()?;
    // A file needs no AWS (and no region looked up from instance metadata).
    let sdk = if args.from.starts_with("file:") {
        aws_config::SdkConfig::builder().build()
    } else {
        crate::aws::load(&config.as_ref().map(|c| c.aws.clone()).unwrap_or_default()).await
    };
    let store = match Store::open(&args.from, &sdk, false) {
        Ok(store) => store.with_sqs_hold(SQS_LOOK),
        Err(e) => {
            eprintln!("fanin: {e:#}");
            return Ok(Err(ExitCode::from(2)));
        }
    };
    let (items, unreadable) = store.load().await.with_context(|| format!("reading {}", args.from))?;
    // Everything back at once: it was only a look.
    store.release(&items.iter().collect::<Vec<_>>()).await;
    let read = items.len();
    let mut rows: Vec<Row> = items
        .into_iter()
        .filter(|item| {
            let letter = &item.letter;
            filter.as_ref().is_none_or(|p| p.matches(&letter.record))
                && args.since.is_none_or(|s| letter.timestamp.is_some_and(|t| t >= s))
                && args.until.is_none_or(|u| letter.timestamp.is_some_and(|t| t < u))
        })
        .map(|item| row(&args.from, item))
        .collect();
    rows.sort_by(|a, b| (a.timestamp.is_none(), a.timestamp, &a.event_id).cmp(&(b.timestamp.is_none(), b.timestamp, &b.event_id)));
    for (n, row) in rows.iter_mut().enumerate() {
        row.index = n + 1;
    }
    Ok(Ok(Read { from: args.from.clone(), read, rows, unreadable, complete: !store.cut_short() }))
}

fn row(from: &str, item: Item) -> Row {
    let letter = item.letter;
    let record = &letter.record;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let is_record = record.get("requestContext").is_some() && record.get("requestPayload").is_some();
    let format = match (is_record, record.get("fanin").is_some_and(Value::is_object)) {
        (false, _) => "legacy",
        (true, true) => "fanin",
        (true, false) => "lambda",
    };
    let error_type = if is_record {
        text(record.pointer("/responseContext/errorType"))
            .or_else(|| text(record.pointer("/responsePayload/errorType")))
            .or_else(|| text(record.pointer("/responseContext/functionError")))
    } else {
        // A legacy message's condition is its ErrorCode attribute ("Unknown" without one).
        (letter.condition != "Unknown").then(|| letter.condition.clone())
    };
    let location = if let Some(path) = from.strip_prefix("file:") {
        item.key.parse::<usize>().ok().map(|n| format!("{path}:{}", n + 1))
    } else if let Some(rest) = from.strip_prefix("s3://") {
        Some(format!("s3://{}/{}", rest.split('/').next().unwrap_or(rest), item.key))
    } else {
        None
    };
    Row {
        index: 0,
        timestamp: letter.timestamp,
        target: text(record.pointer("/fanin/target")).or_else(|| letter.function.as_ref().map(|f| f.display())),
        function: if is_record { text(record.pointer("/requestContext/functionArn")) } else { None },
        condition: letter.condition.clone(),
        error_type,
        event_id: letter.event_id.clone(),
        source: letter.source.clone(),
        format,
        replay_count: letter.replay_count,
        location,
        record: letter.record,
    }
}

#[cfg(test)]
mod tests;
