//! The replay pipeline: read a batch, select, hand each selected record to the dispatcher, and
//! settle it in its store when its outcome is known: removed once Lambda accepted it, written
//! back with the replay count raised when it died again, handed back when it was not settled.
//!
//! A window of permits bounds the records between being read and being settled in their store,
//! so memory (and, from SQS, messages in flight) stays the same whatever the store holds.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::destination::{Destination, Destinations};
use super::store::{Size, Store};
use super::{ReplayArgs, Selection};
use crate::dispatch::route::Route;
use crate::dispatch::{Call, Dispatcher, Routes, Target};
use crate::dlq::{DeadLetterRecord, DeadLetterSink, SinkError};
use crate::event::{Ack, Disposition, Event};
use crate::BoxFuture;

/// Records said to have no function one by one; after that, only counted.
const NAMED_SKIPS: usize = 10;

/// What was read.
#[derive(Default)]
pub struct Counts {
    /// Readable records.
    pub read: usize,
    pub unreadable: usize,
    /// Selected records that name no function (legacy messages without `--target`).
    pub no_target: usize,
}

impl Counts {
    pub fn unreadable(&mut self, errors: &[String]) {
        for e in errors {
            eprintln!("skipped, unreadable: {e}");
        }
        self.unreadable += errors.len();
    }

    pub fn no_target(&mut self, event_id: &str) {
        self.no_target += 1;
        if self.no_target <= NAMED_SKIPS {
            eprintln!("skipped {event_id}: the record names no function; give --target");
        } else if self.no_target == NAMED_SKIPS + 1 {
            eprintln!("(more records name no function: counted, not listed; give --target)");
        }
    }
}

/// What a replay did.
#[derive(Default)]
pub struct Outcome {
    pub counts: Counts,
    pub selected: usize,
    pub delivered: usize,
    pub failed_again: BTreeMap<String, usize>,
    pub left: usize,
    pub errors: usize,
}

/// What is kept of a record under way, for its settling in the store and its record written back.
struct UnderWay {
    key: String,
    event_id: String,
    source: String,
    replay_count: u32,
    target: Option<String>,
    first_attempt_at: Option<String>,
    /// Set when it died again and was written back: its condition.
    written_back: Option<&'static str>,
}

/// The records under way, by dispatch number.
type Ledger = Arc<Mutex<HashMap<u64, UnderWay>>>;

/// Puts a record back where it came from when its event dies again: with the replay count
/// raised, and the original event id, source, target name and first attempt kept, so the
/// record still says what the event was and where it was going.
struct WriteBack {
    store: Arc<Store>,
    ledger: Ledger,
}

/// The dispatch id carries the record's dispatch number after the last `#`.
fn number_of(event_id: &str) -> Option<u64> {
    event_id.rsplit_once('#').and_then(|(_, n)| n.parse().ok())
}

impl DeadLetterSink for WriteBack {
    fn write<'a>(&'a self, record: &'a DeadLetterRecord) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let error = |message: String| SinkError::new("replay store", message);
            let number = number_of(&record.fanin.event_id).ok_or_else(|| error("unknown event".into()))?;
            let mut record = record.clone();
            let key = {
                let ledger = self.ledger.lock().unwrap();
                let w = ledger.get(&number).ok_or_else(|| error("unknown event".into()))?;
                record.fanin.event_id = w.event_id.clone();
                record.fanin.source = w.source.clone();
                record.fanin.replay_count = w.replay_count + 1;
                if let Some(target) = &w.target {
                    record.fanin.target = target.clone();
                }
                if w.first_attempt_at.is_some() {
                    record.fanin.first_attempt_at = w.first_attempt_at.clone();
                }
                w.key.clone()
            };
            self.store.put_back(&key, &record).await.map_err(|e| error(format!("{e:#}")))?;
            if let Some(w) = self.ledger.lock().unwrap().get_mut(&number) {
                w.written_back = Some(record.request_context.condition.as_str());
            }
            Ok(())
        })
    }
}

/// The dispatcher's targets, one per destination, added as records name new ones.
struct Targets {
    sdk: aws_config::SdkConfig,
    write_back: Arc<WriteBack>,
    targets: HashMap<String, Arc<Target>>,
    routes: HashMap<String, Vec<Route>>,
    resolved: Arc<Routes>,
}

impl Targets {
    fn ensure(&mut self, dest: &Destination) {
        if self.targets.contains_key(&dest.name) {
            return;
        }
        let call = Call::of(&self.sdk, &dest.settings, &dest.name, None);
        let claim_check = crate::dispatch::claim_check::ClaimCheck::of(&dest.settings, &self.sdk);
        let target = Target::new(&dest.name, &dest.settings, call, self.write_back.clone()).with_claim_check(claim_check);
        self.targets.insert(dest.name.clone(), Arc::new(target));
        self.routes.insert(dest.name.clone(), vec![Route::to(&dest.name)]);
        self.resolved.set(&self.targets, &self.routes);
    }
}

/// Shared by the waiters of the records under way.
struct Tally {
    delivered: AtomicUsize,
    errors: AtomicUsize,
    left: AtomicUsize,
    settled: AtomicU64,
    /// Died again and written back, by condition.
    failed_again: Mutex<BTreeMap<&'static str, usize>>,
}

pub async fn replay(
    args: &ReplayArgs,
    sdk: &aws_config::SdkConfig,
    store: Arc<Store>,
    selection: &Selection,
    destinations: &mut Destinations<'_>,
    shutdown: CancellationToken,
) -> anyhow::Result<Outcome> {
    let window = args.window as usize;
    let ledger: Ledger = Arc::default();
    let write_back = Arc::new(WriteBack { store: store.clone(), ledger: ledger.clone() });
    let routes = Routes::new(&HashMap::new(), &HashMap::new());
    let mut targets = Targets { sdk: sdk.clone(), write_back, targets: HashMap::new(), routes: HashMap::new(), resolved: routes.clone() };
    let health = Arc::new(crate::telemetry::health::Health::new([]));
    let dispatcher = Dispatcher::new(routes, args.concurrency, health);
    let (queue, queue_rx) = crate::queue::bounded(window);
    let dispatching = tokio::spawn(dispatcher.run(queue_rx, shutdown.clone(), Duration::from_secs(30)));

    let progress = progress_bar(store.size().await);
    // The file store's journal is synced every second, so an interrupted run has little to redo.
    let flushing = tokio::spawn({
        let (store, progress) = (store.clone(), progress.clone());
        async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                progress.set_position(store.position());
                let store = store.clone();
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || store.flush()).await {
                    eprintln!("could not write the replay's journal yet: {e:#}");
                }
            }
        }
    });

    let mut outcome = Outcome::default();
    let tally = Arc::new(Tally {
        delivered: AtomicUsize::new(0),
        errors: AtomicUsize::new(0),
        left: AtomicUsize::new(0),
        settled: AtomicU64::new(0),
        failed_again: Mutex::default(),
    });
    let room = Arc::new(Semaphore::new(window));
    let waiters = TaskTracker::new();
    let mut number = 0u64;
    let read = async {
        'read: while !shutdown.is_cancelled() {
            // Not cut short by a shutdown: messages an SQS receive returned are under way, and
            // are handed back below, where a cancelled receive would leave them held.
            let Some(batch) = store.next(selection.needs_record()).await? else { break };
            outcome.counts.unreadable(&batch.unreadable);
            let mut items = batch.items.into_iter();
            while let Some(item) = items.next() {
                outcome.counts.read += 1;
                let dest = if selection.takes(&item.letter) { destinations.of(&item.letter) } else { None };
                let Some(dest) = dest else {
                    if selection.takes(&item.letter) {
                        outcome.counts.no_target(&item.letter.event_id);
                    }
                    store.keep(&item);
                    continue;
                };
                let permit = tokio::select! {
                    _ = shutdown.cancelled() => None,
                    permit = room.clone().acquire_owned() => permit.ok(),
                };
                let Some(permit) = permit else {
                    // Stopped: this record and the rest of the batch were read and not sent.
                    for item in std::iter::once(item).chain(items) {
                        store.release(&item.key).await;
                    }
                    break 'read;
                };
                targets.ensure(&dest);
                outcome.selected += 1;
                number += 1;
                let letter = item.letter;
                ledger.lock().unwrap().insert(
                    number,
                    UnderWay {
                        key: item.key.clone(),
                        event_id: letter.event_id.clone(),
                        source: letter.source,
                        replay_count: letter.replay_count,
                        target: letter.target,
                        first_attempt_at: letter.first_attempt_at,
                        written_back: None,
                    },
                );
                let (ack, settled) = Ack::new();
                let event = Event {
                    id: format!("{}#{number}", letter.event_id),
                    source: dest.name.as_str().into(),
                    born: SystemTime::now(),
                    payload: letter.payload,
                    invalid: None,
                    filter_view: None,
                    trace: None,
                    ack,
                };
                let sent = queue.send(event).await.is_ok();
                let (store, ledger, tally, progress) = (store.clone(), ledger.clone(), tally.clone(), progress.clone());
                waiters.spawn(async move {
                    let disposition = if sent { settled.await.unwrap_or(Disposition::Failed) } else { Disposition::Failed };
                    let under_way = ledger.lock().unwrap().remove(&number).expect("each record is settled once");
                    match (disposition, under_way.written_back) {
                        (Disposition::Failed, _) => {
                            store.release(&under_way.key).await;
                            tally.left.fetch_add(1, Ordering::SeqCst);
                        }
                        (Disposition::Settled, Some(condition)) => {
                            *tally.failed_again.lock().unwrap().entry(condition).or_default() += 1;
                        }
                        (Disposition::Settled, None) => match store.remove(&under_way.key).await {
                            Ok(()) => {
                                tally.delivered.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(e) => {
                                progress.println(format!("delivered {} but could not remove it: {e:#}", under_way.event_id));
                                tally.errors.fetch_add(1, Ordering::SeqCst);
                            }
                        },
                    }
                    let n = tally.settled.fetch_add(1, Ordering::Relaxed) + 1;
                    if progress.is_hidden() && n % 10_000 == 0 {
                        eprintln!("replayed {n}");
                    }
                    drop(permit);
                });
                if !sent {
                    break 'read;
                }
            }
        }
        anyhow::Ok(())
    };
    let read_result = read.await;
    drop(queue);
    dispatching.await?;
    waiters.close();
    waiters.wait().await;
    progress.finish_and_clear();
    flushing.abort();
    // Every record handed to the dispatcher has its outcome in the store before the rewrite.
    let finished = store.finish().await;
    read_result?;
    finished?;
    for (condition, n) in tally.failed_again.lock().unwrap().iter() {
        outcome.failed_again.insert(condition.to_string(), *n);
    }
    outcome.delivered = tally.delivered.load(Ordering::SeqCst);
    outcome.errors = tally.errors.load(Ordering::SeqCst);
    outcome.left = tally.left.load(Ordering::SeqCst);
    Ok(outcome)
}

fn progress_bar(size: Option<Size>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    match size {
        Some(Size::Bytes(n)) => {
            let bar = ProgressBar::new(n);
            bar.set_style(ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} read, {eta} left").expect("valid template"));
            bar
        }
        Some(Size::Messages(n)) => {
            let bar = ProgressBar::new(n);
            bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/~{len} messages read, {eta} left").expect("valid template"));
            bar
        }
        None => {
            let bar = ProgressBar::new_spinner();
            bar.set_style(ProgressStyle::with_template("{spinner} {pos} records read").expect("valid template"));
            bar
        }
    }
}
