//! `fanin dlq stats|list|show`: what died, read from wherever `replay` reads, changing nothing.
//!
//! The records are read through replay's own store (`file:PATH`, `sqs:QUEUE_URL`,
//! `s3://BUCKET/PREFIX`) and understood the same way: fanin's records, Lambda's own on-failure
//! destination records and legacy Lambda dead-letter queue messages. A file and S3 objects are
//! only read. SQS has no peek: messages are received with a 30-second visibility timeout
//! (replay holds them for 15 minutes) and the first 10,000 are made visible again (visibility 0)
//! as soon as the read is over, before anything is printed; the rest when their 30 s run out;
//! nothing is deleted. (Receiving still raises a message's `ApproximateReceiveCount`, which a
//! redrive policy on the dead-letter queue itself would count.) A read that takes longer than
//! the hold stops where a message comes round a second time (told by SQS's own first-receive
//! time and receive count, so nothing is kept per message): what it shows is then read once
//! each, but not all (`complete: false`). The store is read as a stream: `stats` holds one entry
//! per group, `list` a short row per record, `show` its candidates.
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

use crate::replay::item::Format as LetterFormat;
use crate::replay::parse_time;
use crate::replay::store::{Item, Mode, Place, Store};

use list::list;

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
    #[command(
        after_help = "Examples:\n  fanin dlq stats --from local -c /etc/fanin/fanin.toml\n  fanin dlq stats --from sqs:https://sqs.us-east-1.amazonaws.com/123456789012/fanin-dlq --format json"
    )]
    Stats(Selection),
    /// One line per record, oldest first, numbered for `show`.
    #[command(after_help = "Examples:\n  fanin dlq list --from local -c /etc/fanin/fanin.toml --since 6h")]
    List(Selection),
    /// One record, whole, with its payload.
    #[command(
        after_help = "Examples:\n  fanin dlq show --from local -c /etc/fanin/fanin.toml 3\n  fanin dlq show --from s3://ops-bucket/fanin/dlq/ --id 8f14e45f-ea2e-4c4b-9c4e-1d2b5a1c0e7b"
    )]
    Show(ShowArgs),
}

/// Where the dead letters are, which of them, and how to print them.
#[derive(Debug, clap::Args)]
pub struct Selection {
    /// Where the dead letters are: `file:PATH`, `sqs:QUEUE_URL`, `s3://BUCKET/PREFIX`, or a
    /// dead-letter sink's name in the configuration (`local`), found where the daemon writes it. Read
    /// only: an SQS message is held 30 s at most and made visible again when the read is over.
    #[arg(long)]
    pub from: String,
    /// The daemon configuration (read when the default file does not exist only if given): its
    /// `[aws]` region, profile, role and endpoint, and its sinks for `--from NAME`.
    #[arg(short, long, default_value = crate::config::DEFAULT_FILE)]
    pub config: PathBuf,
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
    /// Its number in list order, from 1 (0 until known).
    index: usize,
    /// Its place in the store's order, which breaks ties of list order.
    seq: u64,
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
    /// The whole record, kept only where it is shown (`show`).
    record: Option<Value>,
}

/// A row's place in list order: oldest first, ties by event id, records without a timestamp
/// last; then the store's order.
type ListKey = (bool, Option<DateTime<Utc>>, String, u64);

impl Row {
    fn key(&self) -> ListKey {
        (self.timestamp.is_none(), self.timestamp, self.event_id.clone(), self.seq)
    }
}

/// What was read (each command keeps of the rows what it prints).
struct Read {
    from: String,
    /// Readable records read.
    read: usize,
    /// Records selected by `--filter`, `--since`, `--until`.
    selected: usize,
    unreadable: Vec<String>,
    complete: bool,
}

/// Runs `fanin dlq`.
pub async fn run(args: DlqArgs) -> anyhow::Result<ExitCode> {
    let (selection, show) = match &args.command {
        DlqCommand::Stats(s) | DlqCommand::List(s) => (s, None),
        DlqCommand::Show(s) => (&s.selection, Some(s)),
    };
    let format = selection.format;
    let result = match &args.command {
        DlqCommand::Stats(_) => {
            let mut stats = stats::Stats::default();
            read(selection, false, |row| stats.add(row)).await?.map(|read| (stats.render(&read, format), read))
        }
        DlqCommand::List(_) => {
            let mut rows = Vec::new();
            read(selection, false, |row| rows.push(row)).await?.map(|read| {
                rows.sort_by_cached_key(Row::key);
                for (n, row) in rows.iter_mut().enumerate() {
                    row.index = n + 1;
                }
                (list(&read, &rows, format), read)
            })
        }
        DlqCommand::Show(_) => {
            let show = show.expect("show has its arguments");
            let mut finder = show::Finder::new(show);
            match read(selection, true, |row| finder.add(row)).await? {
                Ok(read) => match finder.show(&read, format) {
                    Ok(out) => Ok((out, read)),
                    Err(message) => {
                        unreadable_skipped(&read);
                        eprintln!("fanin: {message}");
                        return Ok(ExitCode::from(1));
                    }
                },
                Err(code) => Err(code),
            }
        }
    };
    let (out, read) = match result {
        Ok(done) => done,
        Err(code) => return Ok(code),
    };
    if !read.complete {
        eprintln!(
            "fanin: the queue holds more than could be read within the {} s hold; what follows is what was read (each once), not all",
            SQS_LOOK.as_secs()
        );
    }
    if !matches!(args.command, DlqCommand::Stats(_)) {
        unreadable_skipped(&read);
    }
    // A reader that stopped early (`| head`) is not an error.
    match std::io::stdout().lock().write_all(out.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn unreadable_skipped(read: &Read) {
    for e in &read.unreadable {
        eprintln!("skipped, unreadable: {e}");
    }
}

/// Reads the store as a stream and hands each selected record to `each`; SQS messages are
/// handed back when the read is over. `whole`: rows carry their whole record. `Err(code)` for
/// usage errors.
async fn read(args: &Selection, whole: bool, mut each: impl FnMut(Row)) -> anyhow::Result<Result<Read, ExitCode>> {
    let (config, place) = match crate::replay::place(&args.from, &args.config)? {
        Ok(found) => found,
        Err(code) => return Ok(Err(code)),
    };
    let selection = match crate::replay::Selection::new(args.filter.as_deref(), args.since, args.until) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fanin: {e}");
            return Ok(Err(ExitCode::from(2)));
        }
    };
    // A file needs no AWS (and no region looked up from instance metadata).
    let sdk = if place.is_remote() {
        crate::aws::load(&config.as_ref().map(|c| c.aws.clone()).unwrap_or_default()).await
    } else {
        aws_config::SdkConfig::builder().build()
    };
    let from = place.display();
    let store = Store::open(&place, &sdk, false, Mode::Look).with_context(|| format!("reading {from}"))?.with_sqs_hold(SQS_LOOK);
    let (mut read, mut selected, mut unreadable, mut seq) = (0, 0, Vec::new(), 0u64);
    let reading = async {
        while let Some(batch) = store.next(whole || selection.needs_record()).await? {
            unreadable.extend(batch.unreadable);
            for item in batch.items {
                read += 1;
                seq += 1;
                store.keep(&item);
                if selection.takes(&item.letter) {
                    selected += 1;
                    each(row(&place, item, seq, whole));
                }
            }
        }
        anyhow::Ok(())
    };
    let result = reading.await;
    // Everything back at once: it was only a look.
    store.finish().await?;
    result.with_context(|| format!("reading {from}"))?;
    Ok(Ok(Read { from: args.from.clone(), read, selected, unreadable, complete: !store.cut_short() }))
}

fn row(place: &Place, item: Item, seq: u64, whole: bool) -> Row {
    let letter = item.letter;
    let location = match place {
        Place::File(path) => item.key.parse::<u64>().ok().map(|n| format!("{}:{}", path.display(), n + 1)),
        Place::S3 { bucket, .. } => Some(format!("s3://{bucket}/{}", item.key)),
        Place::Sqs(_) => None,
    };
    let is_record = letter.format != LetterFormat::Legacy;
    Row {
        index: 0,
        seq,
        timestamp: letter.timestamp,
        target: letter.target.clone().or_else(|| letter.function.as_ref().map(|f| f.display())),
        function: if is_record { letter.function.as_ref().map(|f| f.display()) } else { None },
        condition: letter.condition,
        error_type: letter.error_type,
        event_id: letter.event_id,
        source: letter.source,
        format: letter.format.as_str(),
        replay_count: letter.replay_count,
        location,
        record: if whole { letter.record } else { None },
    }
}

#[cfg(test)]
mod tests;
