//! `fanin replay`: dead-lettered events sent again through the same dispatcher as the daemon
//! (limits, retries, classification). A record leaves its store only once Lambda accepted its
//! event; one that dies again goes back with its replay count raised; the rest stay as they were.

pub(crate) mod item;
pub(crate) mod store;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Rate;
use crate::dispatch::route::Route;
use crate::dispatch::settings::{InvocationType, RetrySettings, TargetSettings};
use crate::dispatch::{Call, Dispatcher, Routes, Target};
use crate::dlq::{DeadLetterRecord, DeadLetterSink, SinkError};
use crate::event::{Ack, Disposition, Event};
use crate::pattern::Pattern;
use crate::settings::Config;
use crate::BoxFuture;
use item::FunctionRef;
use store::{Item, Store};

/// `fanin replay` arguments.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Where the dead letters are: `file:PATH`, `sqs:QUEUE_URL` or `s3://BUCKET/PREFIX`.
    #[arg(long)]
    pub from: String,
    /// The daemon configuration: its targets' limits and retries apply, and `--target` may name one.
    #[arg(long)]
    pub config: Option<PathBuf>,
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
    /// Change nothing; print what would be sent.
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

/// Where one record is sent.
#[derive(Clone)]
struct Destination {
    name: String,
    settings: TargetSettings,
}

/// Replays; exit 1 if anything failed again or could not be sent, 2 for bad usage.
pub async fn run(args: ReplayArgs, shutdown: CancellationToken) -> anyhow::Result<ExitCode> {
    let config = args.config.as_deref().map(Config::load).transpose()?;
    let filter = match &args.filter {
        Some(f) => match Pattern::parse_str(f) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("fanin: --filter: {e}");
                return Ok(ExitCode::from(2));
            }
        },
        None => None,
    };
    if args.concurrency == 0 {
        eprintln!("fanin: --concurrency must be at least 1");
        return Ok(ExitCode::from(2));
    }
    let sdk = crate::aws::load(&config.as_ref().map(|c| c.aws.clone()).unwrap_or_default()).await;
    let store = Arc::new(Store::open(&args.from, &sdk, args.keep)?);
    let (items, unreadable) = store.load().await.with_context(|| format!("reading {}", args.from))?;
    for e in &unreadable {
        eprintln!("skipped, unreadable: {e}");
    }
    let read = items.len();
    let mut selected = Vec::new();
    let mut untouched = Vec::new();
    let mut no_target = 0;
    for mut item in items {
        let letter = &item.letter;
        let wanted = filter.as_ref().is_none_or(|p| p.matches(&letter.record))
            && args.since.is_none_or(|s| letter.timestamp.is_some_and(|t| t >= s))
            && args.until.is_none_or(|u| letter.timestamp.is_some_and(|t| t < u));
        match destination(&args, config.as_ref(), letter.function.as_ref()) {
            Some(dest) if wanted => {
                // The whole record served the filter; what is sent is its payload.
                item.letter.record = serde_json::Value::Null;
                selected.push((item, dest))
            }
            None if wanted => {
                no_target += 1;
                eprintln!("skipped {}: the record names no function; give --target", letter.event_id);
                untouched.push(item);
            }
            _ => untouched.push(item),
        }
    }
    println!("read {read} dead letters from {} ({} unreadable); {} selected", args.from, unreadable.len(), selected.len());

    if args.dry_run {
        print_plan(&selected);
        store.release(&untouched.iter().chain(selected.iter().map(|(i, _)| i)).collect::<Vec<_>>()).await;
        return Ok(ExitCode::SUCCESS);
    }
    let outcome = send(&args, &sdk, store.clone(), selected, shutdown).await?;
    store.release(&untouched.iter().collect::<Vec<_>>()).await;
    let failed = outcome.failed_again.values().sum::<usize>() + outcome.left + outcome.errors + no_target;
    println!("delivered and removed: {}", outcome.delivered);
    println!("failed again, written back with the replay count raised: {}", outcome.failed_again.values().sum::<usize>());
    for (condition, n) in &outcome.failed_again {
        println!("  {condition}: {n}");
    }
    println!("not sent or not settled, left as they were: {}", outcome.left + no_target);
    if outcome.errors > 0 {
        println!("store errors (see above): {}", outcome.errors);
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Where a record goes: `--target`, else the configured target for its function, else the function itself.
fn destination(args: &ReplayArgs, config: Option<&Config>, function: Option<&FunctionRef>) -> Option<Destination> {
    let configured = |name: &str| config.and_then(|c| c.targets.get(name)).map(|s| Destination { name: name.into(), settings: s.clone() });
    let bare = |f: FunctionRef| {
        let settings = TargetSettings {
            function: f.function.clone(),
            state_machine: None,
            url: None,
            auth: Default::default(),
            qualifier: f.qualifier.clone(),
            max_concurrency: args.concurrency,
            rate: None,
            retry: RetrySettings::default(),
            dlq: None,
            invocation_type: InvocationType::Event,
            log_type: Default::default(),
            on_success: None,
            client_context: None,
            invoke_timeout: Duration::from_secs(10),
            large_payloads: None,
        };
        Destination { name: f.display(), settings }
    };
    let mut dest = match (&args.target, function) {
        (Some(name), _) => configured(name).unwrap_or_else(|| bare(FunctionRef::parse(name))),
        (None, Some(f)) => config
            .and_then(|c| c.targets.iter().find(|(_, t)| t.function == f.function && t.qualifier == f.qualifier))
            .map(|(name, _)| configured(name).expect("found above"))
            .unwrap_or_else(|| bare(f.clone())),
        (None, None) => return None,
    };
    dest.settings.max_concurrency = dest.settings.max_concurrency.min(args.concurrency);
    if args.rate.is_some() {
        dest.settings.rate = args.rate;
    }
    Some(dest)
}

fn print_plan(selected: &[(Item, Destination)]) {
    println!("dry run: nothing sent, nothing changed");
    let mut by_function: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_condition: BTreeMap<String, usize> = BTreeMap::new();
    for (item, dest) in selected {
        let function = FunctionRef { function: dest.settings.function.clone(), qualifier: dest.settings.qualifier.clone() };
        *by_function.entry(function.display()).or_default() += 1;
        *by_condition.entry(item.letter.condition.clone()).or_default() += 1;
    }
    println!("would send {} events", selected.len());
    println!("by function:");
    for (f, n) in by_function {
        println!("  {f}: {n}");
    }
    println!("by condition:");
    for (c, n) in by_condition {
        println!("  {c}: {n}");
    }
    println!("first records:");
    for (item, dest) in selected.iter().take(5) {
        let mut payload = item.letter.payload.to_string();
        if payload.len() > 200 {
            payload.truncate(payload.floor_char_boundary(200));
            payload.push('…');
        }
        println!("  {} -> {} ({}): {payload}", item.letter.event_id, dest.name, item.letter.condition);
    }
}

#[derive(Default)]
struct Outcome {
    delivered: usize,
    failed_again: BTreeMap<String, usize>,
    left: usize,
    errors: usize,
}

/// Puts every record back where it came from when its event dies again, with the replay
/// count raised and the original event id and source kept.
struct WriteBack {
    store: Arc<Store>,
    /// The selected records, by their dispatch index (shared, not copied: there may be millions).
    selected: Arc<Vec<(Item, Destination)>>,
    written: Mutex<HashMap<usize, String>>,
}

impl WriteBack {
    /// The dispatch id carries the item's index after the last `#`.
    fn index(event_id: &str) -> Option<usize> {
        event_id.rsplit_once('#').and_then(|(_, n)| n.parse().ok())
    }
}

impl DeadLetterSink for WriteBack {
    fn write<'a>(&'a self, record: &'a DeadLetterRecord) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let error = |message: String| SinkError { sink: "replay store".into(), message };
            let index = Self::index(&record.fanin.event_id).ok_or_else(|| error("unknown event".into()))?;
            let (item, _) = self.selected.get(index).ok_or_else(|| error("unknown event".into()))?;
            let mut record = record.clone();
            record.fanin.event_id = item.letter.event_id.clone();
            record.fanin.source = item.letter.source.clone();
            record.fanin.replay_count = item.letter.replay_count + 1;
            self.store.put_back(item, &record).await.map_err(|e| error(format!("{e:#}")))?;
            self.written.lock().unwrap().insert(index, record.request_context.condition.as_str().to_string());
            Ok(())
        })
    }
}

async fn send(
    args: &ReplayArgs,
    sdk: &aws_config::SdkConfig,
    store: Arc<Store>,
    selected: Vec<(Item, Destination)>,
    shutdown: CancellationToken,
) -> anyhow::Result<Outcome> {
    let total = selected.len();
    let selected = Arc::new(selected);
    let write_back = Arc::new(WriteBack { store: store.clone(), selected: selected.clone(), written: Mutex::new(HashMap::new()) });
    let mut targets: HashMap<String, Arc<Target>> = HashMap::new();
    let mut routes = HashMap::new();
    for (_, dest) in selected.iter() {
        targets.entry(dest.name.clone()).or_insert_with(|| {
            let call = Call::of(sdk, &dest.settings, &dest.name, None);
            let claim_check = crate::dispatch::claim_check::ClaimCheck::of(&dest.settings, sdk);
            Arc::new(Target::new(&dest.name, &dest.settings, call, write_back.clone()).with_claim_check(claim_check))
        });
        routes.insert(dest.name.clone(), vec![Route::to(&dest.name)]);
    }
    let health = Arc::new(crate::telemetry::health::Health::new([]));
    let dispatcher = Dispatcher::new(Routes::new(&targets, &routes), args.concurrency, health);
    let (queue, queue_rx) = crate::queue::bounded(args.concurrency * 4);
    let dispatching = tokio::spawn(dispatcher.run(queue_rx, shutdown.clone(), Duration::from_secs(30)));

    let progress = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total as u64);
        bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}").expect("valid template"));
        bar
    } else {
        ProgressBar::hidden()
    };
    // (delivered and removed, store errors)
    let counts = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    // The file store is rewritten every second, so an interrupted run has little to redo.
    let flushing = tokio::spawn({
        let store = store.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let store = store.clone();
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || store.flush()).await {
                    eprintln!("could not write back the dead-letter file yet: {e:#}");
                }
            }
        }
    });
    let settled_items: Arc<Mutex<HashSet<usize>>> = Arc::default();
    let waiters = TaskTracker::new();
    for (index, (item, dest)) in selected.iter().enumerate() {
        if shutdown.is_cancelled() {
            break;
        }
        let (ack, settled) = Ack::new();
        let event = Event {
            id: format!("{}#{index}", item.letter.event_id),
            source: dest.name.as_str().into(),
            born: SystemTime::now(),
            payload: serde_json::to_vec(&item.letter.payload)?.into(),
            invalid: None,
            filter_view: None,
            trace: None,
            ack,
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            sent = queue.send(event) => if sent.is_err() { break },
        }
        let (store, write_back, counts, progress, selected, done) =
            (store.clone(), write_back.clone(), counts.clone(), progress.clone(), selected.clone(), settled_items.clone());
        waiters.spawn(async move {
            if settled.await.unwrap_or(Disposition::Failed) == Disposition::Failed {
                return;
            }
            let (item, _) = &selected[index];
            let written_back = write_back.written.lock().unwrap().contains_key(&index);
            if !written_back {
                match store.remove(item).await {
                    Ok(()) => counts.0.fetch_add(1, Ordering::SeqCst),
                    Err(e) => {
                        progress.println(format!("delivered {} but could not remove it: {e:#}", item.letter.event_id));
                        counts.1.fetch_add(1, Ordering::SeqCst)
                    }
                };
            }
            done.lock().unwrap().insert(index);
            progress.inc(1);
            let n = progress.position();
            if progress.is_hidden() && (n % 100 == 0 || n as usize == total) {
                eprintln!("replayed {n}/{total}");
            }
        });
    }
    drop(queue);
    dispatching.await?;
    waiters.close();
    waiters.wait().await;
    progress.finish_and_clear();
    flushing.abort();
    store.flush().context("writing back the dead-letter file")?;

    let unsettled: Vec<&Item> = {
        let done = settled_items.lock().unwrap();
        selected.iter().enumerate().filter(|(i, _)| !done.contains(i)).map(|(_, (item, _))| item).collect()
    };
    store.release(&unsettled).await;
    let mut failed_again = BTreeMap::new();
    for condition in write_back.written.lock().unwrap().values() {
        *failed_again.entry(condition.clone()).or_default() += 1;
    }
    Ok(Outcome { delivered: counts.0.load(Ordering::SeqCst), failed_again, left: unsettled.len(), errors: counts.1.load(Ordering::SeqCst) })
}
