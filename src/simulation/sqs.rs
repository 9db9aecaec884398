//! A simulated SQS queue (standard or FIFO) behind the reader's [`QueueWire`].
//!
//! What it models, because fanin's promises hinge on it: receipt handles that change with every
//! receive and are valid only for the newest one; visibility deadlines on the simulated clock;
//! `ApproximateReceiveCount`; FIFO groups handed out in order, with no more of a group handed
//! out while any of it is in flight; a standard queue now and then handing a message out again
//! while it is in flight; and faults: whole calls failing, single entries of a batch failing
//! (`InternalError`, not the sender's fault), receives failing.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use rand::rngs::StdRng;
use rand::Rng;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::ledger::Ledger;
use crate::sources::sqs_reader::{Failed, QueueWire, SqsError};
use crate::BoxFuture;

/// How long any call takes: never zero, so no loop spins without time passing.
const CALL_LATENCY: Duration = Duration::from_millis(5);

/// The faults a queue shows while they are set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SqsFaults {
    /// Chance a receive fails as a whole.
    pub receive_error: f64,
    /// Chance a delete or visibility batch fails as a whole.
    pub call_error: f64,
    /// Chance one entry of a delete or visibility batch fails (`InternalError`).
    pub entry_failure: f64,
    /// Chance a receive (standard queues) also hands out a message that is in flight.
    pub hand_out_again: f64,
}

struct Stored {
    id: String,
    body: String,
    group: Option<String>,
    sent_ms: u64,
    receive_count: u32,
    visible_at: Instant,
    /// The newest receipt handle; older ones are stale.
    receipt: Option<String>,
    deleted: bool,
}

#[derive(Default)]
struct State {
    messages: Vec<Stored>,
    /// Indexes of the messages not deleted, in the order they were sent.
    live: BTreeSet<usize>,
    /// Every receipt handle ever given → its message.
    receipts: HashMap<String, usize>,
    next_receipt: u64,
    faults: SqsFaults,
}

/// One queue, shared by every daemon instance that reads it (crashes keep it).
pub struct SimQueue {
    pub index: usize,
    pub fifo: bool,
    state: Mutex<State>,
    /// Woken on a send and on a delete (which may free a FIFO group).
    changed: Notify,
    ledger: Arc<Mutex<Ledger>>,
    rng: Arc<Mutex<StdRng>>,
}

impl SimQueue {
    pub fn new(index: usize, fifo: bool, ledger: Arc<Mutex<Ledger>>, rng: Arc<Mutex<StdRng>>) -> Arc<SimQueue> {
        Arc::new(SimQueue { index, fifo, state: Mutex::default(), changed: Notify::new(), ledger, rng })
    }

    pub fn url(&self) -> String {
        format!("https://sqs.us-east-1.amazonaws.com/123456789012/q{}{}", self.index, if self.fifo { ".fifo" } else { "" })
    }

    fn chance(&self, p: f64) -> bool {
        p > 0.0 && self.rng.lock().unwrap().random_bool(p.min(1.0))
    }

    pub fn set_faults(&self, faults: SqsFaults) {
        self.state.lock().unwrap().faults = faults;
    }

    /// Sends a message; its id is returned.
    pub fn send(&self, group: Option<String>) -> String {
        let mut s = self.state.lock().unwrap();
        let n = s.messages.len();
        let id = format!("q{}-m{n:05}", self.index);
        let sent_ms = crate::clock::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
        self.ledger.lock().unwrap().published(&id, self.index, group.clone());
        s.messages.push(Stored {
            id: id.clone(),
            body: format!("{{\"n\":{n}}}"),
            group,
            sent_ms,
            receive_count: 0,
            visible_at: Instant::now(),
            receipt: None,
            deleted: false,
        });
        s.live.insert(n);
        drop(s);
        self.changed.notify_waiters();
        id
    }

    /// Ids of the messages in flight now (received, hidden, not deleted).
    pub fn in_flight(&self) -> Vec<String> {
        let s = self.state.lock().unwrap();
        let now = Instant::now();
        s.live.iter().map(|&i| &s.messages[i]).filter(|m| m.receipt.is_some() && m.visible_at > now).map(|m| m.id.clone()).collect()
    }

    /// Takes up to `max` messages that may be handed out now; else when that may change.
    fn take(&self, max: usize, visibility: Duration, routes: &[String]) -> (Vec<Message>, Option<Instant>) {
        let now = Instant::now();
        let mut s = self.state.lock().unwrap();
        let hand_out_again = !self.fifo && self.chance(s.faults.hand_out_again);
        let mut next: Option<Instant> = None;
        let mut soonest = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        // FIFO: a group with any message in flight hands out nothing more.
        let blocked: BTreeSet<String> = if self.fifo {
            s.live.iter().map(|&i| &s.messages[i]).filter(|m| m.visible_at > now).filter_map(|m| m.group.clone()).collect()
        } else {
            BTreeSet::new()
        };
        let mut chosen = Vec::new();
        let mut in_flight = Vec::new();
        for &i in &s.live {
            let m = &s.messages[i];
            if m.visible_at > now {
                soonest(m.visible_at);
                in_flight.push(i);
                continue;
            }
            if m.group.as_ref().is_some_and(|g| blocked.contains(g)) || chosen.len() >= max {
                continue;
            }
            // A standard queue's order is best effort.
            if !self.fifo && self.chance(0.1) {
                continue;
            }
            chosen.push((i, false));
        }
        if hand_out_again && !in_flight.is_empty() && chosen.len() < max {
            let pick = in_flight[self.rng.lock().unwrap().random_range(0..in_flight.len())];
            chosen.push((pick, true));
        }
        let mut messages = Vec::with_capacity(chosen.len());
        for (i, again) in chosen {
            s.next_receipt += 1;
            let receipt = format!("rh-{}-{}", s.next_receipt, i);
            s.receipts.insert(receipt.clone(), i);
            let m = &mut s.messages[i];
            m.receive_count += 1;
            m.visible_at = now + visibility;
            m.receipt = Some(receipt.clone());
            self.ledger.lock().unwrap().handed_out(&m.id, &receipt, routes, again);
            let mut message = Message::builder()
                .message_id(&m.id)
                .receipt_handle(receipt)
                .body(&m.body)
                .attributes(MessageSystemAttributeName::SentTimestamp, m.sent_ms.to_string())
                .attributes(MessageSystemAttributeName::ApproximateReceiveCount, m.receive_count.to_string());
            if let Some(group) = &m.group {
                message = message.attributes(MessageSystemAttributeName::MessageGroupId, group);
            }
            messages.push(message.build());
        }
        (messages, next)
    }

    async fn receive(
        &self,
        alive: &AtomicBool,
        max: i32,
        wait: Duration,
        visibility: Duration,
        routes: &[String],
    ) -> Result<Vec<Message>, SqsError> {
        tokio::time::sleep(CALL_LATENCY).await;
        halt_unless(alive).await;
        if self.chance(self.state.lock().unwrap().faults.receive_error) {
            self.ledger.lock().unwrap().tally.receive_errors += 1;
            return Err(SqsError::Service { status: 500, code: "InternalError".into(), message: "simulated".into() });
        }
        let deadline = Instant::now() + wait;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let (messages, next) = self.take(max.max(1) as usize, visibility, routes);
            if !messages.is_empty() || Instant::now() >= deadline {
                return Ok(messages);
            }
            let wake = next.map_or(deadline, |n| n.min(deadline));
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
            halt_unless(alive).await;
        }
    }

    /// A batch call's common part: whole-call failure, then each entry by `apply`.
    async fn batch(
        &self,
        alive: &AtomicBool,
        receipts: &[&str],
        mut apply: impl FnMut(&mut Stored, &mut super::ledger::Ledger, &str) -> Option<Failed>,
    ) -> Result<Vec<Failed>, SqsError> {
        tokio::time::sleep(CALL_LATENCY).await;
        halt_unless(alive).await;
        let mut s = self.state.lock().unwrap();
        let faults = s.faults.clone();
        let mut ledger = self.ledger.lock().unwrap();
        if self.chance(faults.call_error) {
            ledger.tally.call_errors += 1;
            for r in receipts {
                if let Some(&i) = s.receipts.get(*r) {
                    ledger.upkeep_failed(&s.messages[i].id);
                }
            }
            return Err(SqsError::Service { status: 500, code: "InternalError".into(), message: "simulated".into() });
        }
        let mut failed = Vec::new();
        for (n, r) in receipts.iter().enumerate() {
            let fail = |code: &str, sender_fault| Some(Failed { id: n.to_string(), code: code.into(), sender_fault });
            let Some(&i) = s.receipts.get(*r) else {
                failed.extend(fail("ReceiptHandleIsInvalid", true));
                continue;
            };
            let entry = if s.messages[i].receipt.as_deref() != Some(*r) && !s.messages[i].deleted {
                ledger.tally.stale_receipts += 1;
                fail("ReceiptHandleIsInvalid", true)
            } else if !s.messages[i].deleted && self.chance(faults.entry_failure) {
                ledger.upkeep_failed(&s.messages[i].id);
                fail("InternalError", false)
            } else {
                apply(&mut s.messages[i], &mut ledger, r).map(|mut f| {
                    f.id = n.to_string();
                    f
                })
            };
            failed.extend(entry);
            if s.messages[i].deleted {
                s.live.remove(&i);
            }
        }
        Ok(failed)
    }

    async fn delete_batch(&self, alive: &AtomicBool, receipts: &[&str]) -> Result<Vec<Failed>, SqsError> {
        let result = self
            .batch(alive, receipts, |m, ledger, receipt| {
                if !m.deleted {
                    m.deleted = true;
                    ledger.deleted(&m.id, receipt);
                }
                None
            })
            .await;
        if let Ok(failed) = &result {
            let mut ledger = self.ledger.lock().unwrap();
            ledger.tally.delete_entry_failures += failed.iter().filter(|f| f.code == "InternalError").count() as u64;
        }
        self.changed.notify_waiters();
        result
    }

    async fn change_visibility_batch(
        &self,
        alive: &AtomicBool,
        receipts: &[String],
        visibility: Duration,
    ) -> Result<Vec<Failed>, SqsError> {
        let receipts: Vec<&str> = receipts.iter().map(String::as_str).collect();
        let now = Instant::now();
        let result = self
            .batch(alive, &receipts, |m, ledger, _| {
                if m.deleted {
                    return None;
                }
                if m.visible_at <= now {
                    ledger.tally.not_in_flight += 1;
                    return Some(Failed { id: String::new(), code: "MessageNotInflight".into(), sender_fault: true });
                }
                ledger.tally.visibility_changes += 1;
                m.visible_at = now + visibility;
                None
            })
            .await;
        if let Ok(failed) = &result {
            self.ledger.lock().unwrap().tally.visibility_entry_failures +=
                failed.iter().filter(|f| f.code == "InternalError").count() as u64;
        }
        result
    }
}

/// A call of a crashed daemon never returns: whatever it would have done, SQS never sees.
async fn halt_unless(alive: &AtomicBool) {
    if !alive.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
}

/// One source run's end of a queue: its calls, and the routes its reader dispatches to (the
/// ledger keeps them with every receipt it hands out).
pub struct SimWire {
    pub queue: Arc<SimQueue>,
    pub routes: Vec<String>,
    pub alive: Arc<AtomicBool>,
}

impl QueueWire for SimWire {
    fn receive(&self, max: i32, wait: Duration, visibility: Duration) -> BoxFuture<'_, Result<Vec<Message>, SqsError>> {
        Box::pin(self.queue.receive(&self.alive, max, wait, visibility, &self.routes))
    }
    fn delete_batch<'a>(&'a self, receipts: &'a [&'a str]) -> BoxFuture<'a, Result<Vec<Failed>, SqsError>> {
        Box::pin(self.queue.delete_batch(&self.alive, receipts))
    }
    fn change_visibility_batch<'a>(&'a self, receipts: &'a [String], visibility: Duration) -> BoxFuture<'a, Result<Vec<Failed>, SqsError>> {
        Box::pin(self.queue.change_visibility_batch(&self.alive, receipts, visibility))
    }
}
