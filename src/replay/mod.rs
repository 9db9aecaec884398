//! `fanin replay`: dead-lettered events sent again through the same dispatcher as the daemon
//! (limits, retries, classification). A record leaves its store only once Lambda accepted its
//! event; one that dies again goes back with its replay count raised; the rest stay as they were.
//!
//! The store is read as a stream (`store/`) and replayed in a bounded pipeline (`send.rs`):
//! what a run holds is the window of records read and not yet settled, whatever the store's size.

mod destination;
pub(crate) mod item;
mod plan;
mod send;
pub(crate) mod store;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::config::Rate;
use crate::pattern::Pattern;
use crate::settings::Config;
use destination::Destinations;
use store::{Mode, Place, Store};

/// How long a dry run holds the SQS messages it reads (as `fanin dlq` does).
const DRY_RUN_HOLD: std::time::Duration = std::time::Duration::from_secs(30);

/// `fanin replay` arguments.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Where the dead letters are: `file:PATH`, `sqs:QUEUE_URL`, `s3://BUCKET/PREFIX`, or a
    /// dead-letter sink's name in the configuration (`local`; `default`: the file of targets that name
    /// none), found where the daemon writes it.
    #[arg(long)]
    pub from: String,
    /// The daemon configuration: a record goes to the target it names (`fanin.target`) as that
    /// target is configured now, with its limits and retries; `--target` and `--from` may name
    /// one. When the default file does not exist, each record goes to the function it names.
    #[arg(short, long, default_value = crate::config::DEFAULT_FILE)]
    pub config: std::path::PathBuf,
    /// Only records matching this event pattern (EventBridge's language, over the whole record).
    #[arg(long)]
    pub filter: Option<String>,
    /// Send everything to this target (a configured target's name, else a function name);
    /// required for legacy Lambda dead-letter messages, which do not say where they were going.
    #[arg(long)]
    pub target: Option<String>,
    /// Only records that died at or after this time (RFC 3339, or a duration ago like `6h`).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<DateTime<Utc>>,
    /// Only records that died before this time (RFC 3339, or a duration ago).
    #[arg(long, value_parser = parse_time)]
    pub until: Option<DateTime<Utc>>,
    /// At most this many invocations per second or minute, per function (`50/s`).
    #[arg(long)]
    pub rate: Option<Rate>,
    /// Invocations in flight at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Records read ahead of their outcome: what a run holds in memory (and, from SQS, in
    /// flight) at most.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub window: u64,
    /// Change nothing; print what would be sent, and where.
    #[arg(long)]
    pub dry_run: bool,
    /// S3: move replayed records under `<prefix>replayed/` instead of deleting them.
    #[arg(long)]
    pub keep: bool,
}

pub(crate) fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let ago = crate::config::parse_duration(s).map_err(|_| format!("`{s}` is neither an RFC 3339 time nor a duration like \"6h\""))?;
    Ok(Utc::now() - chrono::Duration::from_std(ago).map_err(|e| e.to_string())?)
}

/// Which records a run takes: `--filter`, `--since`, `--until`.
pub(crate) struct Selection {
    pub filter: Option<Pattern>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl Selection {
    /// Parses `--filter`; its error is a usage error.
    pub fn new(filter: Option<&str>, since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> Result<Selection, String> {
        let filter = filter.map(Pattern::parse_str).transpose().map_err(|e| format!("--filter: {e}"))?;
        Ok(Selection { filter, since, until })
    }

    /// Whether the whole record must be parsed: a pattern looks at all of it.
    pub fn needs_record(&self) -> bool {
        self.filter.is_some()
    }

    pub fn takes(&self, letter: &item::DeadLetter) -> bool {
        self.filter.as_ref().is_none_or(|p| letter.record.as_ref().is_some_and(|r| p.matches(r)))
            && self.since.is_none_or(|s| letter.timestamp.is_some_and(|t| t >= s))
            && self.until.is_none_or(|u| letter.timestamp.is_some_and(|t| t < u))
    }
}

/// What `--from` and `--config` name, read: the configuration and the store's place. Usage
/// errors are printed, and come back as exit code 2. The default configuration file is read
/// when it exists (on a host where the daemon runs, replay follows its targets); a file given
/// with `--config` must exist.
pub(crate) fn place(from: &str, config: &std::path::Path) -> anyhow::Result<Result<(Option<Config>, Place), ExitCode>> {
    let config =
        if config == std::path::Path::new(crate::config::DEFAULT_FILE) && !config.exists() { None } else { Some(Config::load(config)?) };
    match Place::parse(from, config.as_ref()) {
        Ok(place) => Ok(Ok((config, place))),
        Err(e) => {
            eprintln!("fanin: {e}");
            Ok(Err(ExitCode::from(2)))
        }
    }
}

/// Replays; exit 1 if anything failed again or could not be sent, 2 for bad usage.
pub async fn run(args: ReplayArgs, shutdown: CancellationToken) -> anyhow::Result<ExitCode> {
    let (config, place) = match place(&args.from, &args.config)? {
        Ok(found) => found,
        Err(code) => return Ok(code),
    };
    let selection = match Selection::new(args.filter.as_deref(), args.since, args.until) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fanin: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if args.concurrency == 0 {
        eprintln!("fanin: --concurrency must be at least 1");
        return Ok(ExitCode::from(2));
    }
    // A dry run of a file needs no AWS (and no region looked up from instance metadata).
    let sdk = if args.dry_run && !place.is_remote() {
        aws_config::SdkConfig::builder().build()
    } else {
        crate::aws::load(&config.as_ref().map(|c| c.aws.clone()).unwrap_or_default()).await
    };
    let from = place.display();
    let mode = if args.dry_run { Mode::Look } else { Mode::Replay };
    let store = Store::open(&place, &sdk, args.keep, mode).with_context(|| format!("reading {from}"))?;
    // A dry run only looks: what it reads from SQS comes back soon even if it is killed.
    let store = Arc::new(if args.dry_run { store.with_sqs_hold(DRY_RUN_HOLD) } else { store });
    let mut destinations = Destinations::new(&args, config.as_ref());

    if args.dry_run {
        let mut plan = plan::Plan::default();
        let mut counts = send::Counts::default();
        let read = async {
            while let Some(batch) = store.next(selection.needs_record()).await? {
                counts.unreadable(&batch.unreadable);
                for item in batch.items {
                    counts.read += 1;
                    store.keep(&item);
                    if !selection.takes(&item.letter) {
                        continue;
                    }
                    match destinations.of(&item.letter) {
                        Some(dest) => plan.add(&item.letter, &dest),
                        None => counts.no_target(&item.letter.event_id),
                    }
                }
            }
            anyhow::Ok(())
        };
        let result = read.await.with_context(|| format!("reading {from}"));
        store.finish().await?;
        result?;
        println!("read {} dead letters from {from} ({} unreadable); {} selected", counts.read, counts.unreadable, plan.selected());
        plan.print();
        if store.cut_short() {
            eprintln!(
                "fanin: the queue holds more than could be read within the {} s hold; the plan is of what was read (each once), not all",
                DRY_RUN_HOLD.as_secs()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }

    let outcome =
        send::replay(&args, &sdk, store, &selection, &mut destinations, shutdown).await.with_context(|| format!("replaying {from}"))?;
    let counts = &outcome.counts;
    let failed_again = outcome.failed_again.values().sum::<usize>();
    println!("read {} dead letters from {from} ({} unreadable); {} selected", counts.read, counts.unreadable, outcome.selected);
    println!("delivered and removed: {}", outcome.delivered);
    println!("failed again, written back with the replay count raised: {failed_again}");
    for (condition, n) in &outcome.failed_again {
        println!("  {condition}: {n}");
    }
    println!("not sent or not settled, left as they were: {}", outcome.left + counts.no_target);
    if outcome.errors > 0 {
        println!("store errors (see above): {}", outcome.errors);
    }
    let failed = failed_again + outcome.left + outcome.errors + counts.no_target;
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
