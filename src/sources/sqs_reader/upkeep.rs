//! Upkeep of received messages: visibility heartbeats and batched deletes.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use super::Shared;

/// How long the deleter waits to fill a batch of 10.
const DELETE_LINGER: Duration = Duration::from_millis(20);
/// Delete batches in flight at once: one at a time fell behind a fast target, and the
/// settled messages waiting for their delete piled up in memory.
const DELETES_IN_FLIGHT: usize = 8;

/// Deletes settled messages in batches of up to 10, several batches at a time; at stop,
/// deletes what is left first.
pub(super) async fn delete_loop(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<(String, String)>, stop: CancellationToken) {
    let in_flight = Arc::new(Semaphore::new(DELETES_IN_FLIGHT));
    let batches = TaskTracker::new();
    loop {
        let mut batch = Vec::with_capacity(10);
        let taken = tokio::select! {
            n = rx.recv_many(&mut batch, 10) => n,
            _ = stop.cancelled() => 0,
        };
        if taken == 0 {
            break;
        }
        if batch.len() < 10 {
            // A partial batch waits a little for company: fewer, fuller requests.
            let linger = tokio::time::sleep(DELETE_LINGER);
            tokio::pin!(linger);
            while batch.len() < 10 {
                let room = 10 - batch.len();
                tokio::select! {
                    n = rx.recv_many(&mut batch, room) => if n == 0 { break },
                    _ = &mut linger => break,
                    _ = stop.cancelled() => break,
                }
            }
        }
        let permit = in_flight.clone().acquire_owned().await.expect("never closed");
        let shared = shared.clone();
        batches.spawn(async move {
            delete_batch(&shared, batch).await;
            drop(permit);
        });
    }
    // Stopping: what settled before the stop is deleted too.
    let mut rest = Vec::new();
    while let Ok(r) = rx.try_recv() {
        rest.push(r);
    }
    for chunk in rest.chunks(10) {
        delete_batch(&shared, chunk.to_vec()).await;
    }
    batches.close();
    batches.wait().await;
}

/// Deletes one batch of (message id, receipt), then stops holding each message whose newest
/// receipt this was (a copy received meanwhile queued a delete of its own). A message whose
/// delete was given up on is let go too: it comes back when its visibility runs out.
async fn delete_batch(shared: &Shared, receipts: Vec<Receipt>) {
    send_deletes(shared, receipts.clone()).await;
    let mut held = shared.held.lock().unwrap();
    for (id, receipt) in &receipts {
        if held.get(id).is_some_and(|h| &h.receipt == receipt) {
            held.remove(id);
        }
    }
}

/// First wait before a batch call's failed entries are tried again; it doubles each time.
const RETRY_FIRST: Duration = Duration::from_millis(100);
/// The longest wait between two tries.
const RETRY_MOST: Duration = Duration::from_secs(5);

/// A message id and a receipt handle it was received under.
type Receipt = (String, String);

/// Deletes `receipts`, trying again what SQS failed on its side.
async fn send_deletes(shared: &Shared, receipts: Vec<Receipt>) {
    let stale = while_held(shared, receipts, |pending| async move {
        let handles: Vec<&str> = pending.iter().map(|(_, r)| r.as_str()).collect();
        let failed = shared.wire.delete_batch(&handles).await.unwrap_or_else(|e| {
            warn!(source = %shared.name, error = crate::error_chain(&e), count = pending.len(), "delete batch failed; trying again");
            no_answer(pending.len())
        });
        worth_retrying(shared, &pending, failed, "delete refused; the message will be delivered again")
    })
    .await;
    if !stale.is_empty() {
        warn!(source = %shared.name, count = stale.len(), "gave up deleting: the visibility ran out; these messages will be delivered again (at-least-once)");
    }
}

/// Calls `attempt` with `pending`, then again with what it returns, with backoff, while those
/// messages are still held here under that receipt and before their visibility runs out
/// (after that the handle is stale and the message may be another consumer's). Returns the
/// entries given up on.
async fn while_held<F, Fut>(shared: &Shared, mut pending: Vec<Receipt>, mut attempt: F) -> Vec<Receipt>
where
    F: FnMut(Vec<Receipt>) -> Fut,
    Fut: std::future::Future<Output = Vec<Receipt>>,
{
    let (mut wait, mut stale) = (RETRY_FIRST, Vec::new());
    loop {
        let retry = attempt(pending).await;
        let now = Instant::now();
        let (valid, lapsed): (Vec<Receipt>, Vec<Receipt>) = {
            let held = shared.held.lock().unwrap();
            retry.into_iter().partition(|(id, receipt)| held.get(id).is_some_and(|h| &h.receipt == receipt && h.visible_at > now))
        };
        stale.extend(lapsed);
        if valid.is_empty() {
            return stale;
        }
        debug!(source = %shared.name, count = valid.len(), retry_in = ?wait, "batch entries failed on SQS's side; trying again");
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(RETRY_MOST);
        pending = valid;
    }
}

/// The entries of `pending` SQS failed on its side (`InternalError`, or no answer at all),
/// which are worth another try; those the request was at fault for are logged with `refused`.
fn worth_retrying(shared: &Shared, pending: &[Receipt], failed: Vec<super::Failed>, refused: &str) -> Vec<Receipt> {
    failed
        .into_iter()
        .filter_map(|f| {
            let entry = f.id.parse::<usize>().ok().and_then(|i| pending.get(i))?;
            if f.sender_fault {
                warn!(source = %shared.name, message_id = %entry.0, code = f.code, "{refused}");
                return None;
            }
            Some(entry.clone())
        })
        .collect()
}

/// A batch call that got no answer: every entry failed, on SQS's side.
fn no_answer(entries: usize) -> Vec<super::Failed> {
    (0..entries).map(|i| super::Failed { id: i.to_string(), code: "NoAnswer".into(), sender_fault: false }).collect()
}

/// Extends the visibility of every held message whose timeout is within half of running out,
/// deleting ones included until their delete is confirmed. A deadline moves only for the
/// entries SQS confirmed; entries it failed on its side are tried again at once, with backoff.
pub(super) async fn heartbeat_loop(shared: Arc<Shared>, stop: CancellationToken) {
    let vt = shared.settings.visibility_timeout;
    let tick = (vt / 4).max(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(tick) => {}
        }
        let now = Instant::now();
        let due: Vec<Receipt> = {
            let held = shared.held.lock().unwrap();
            held.iter()
                .filter(|(_, h)| h.visible_at.saturating_duration_since(now) < vt / 2)
                .map(|(id, h)| (id.clone(), h.receipt.clone()))
                .collect()
        };
        // Side by side: one chunk's retries must not hold the others back until their
        // visibility runs out.
        let mut chunks = tokio::task::JoinSet::new();
        for chunk in due.chunks(10) {
            let (shared, chunk) = (shared.clone(), chunk.to_vec());
            chunks.spawn(async move { extend(&shared, chunk, vt).await });
        }
        while chunks.join_next().await.is_some() {}
    }
}

/// Extends the visibility of `entries` by `vt`, trying SQS's own failures again while there
/// is visibility left.
async fn extend(shared: &Shared, entries: Vec<Receipt>, vt: Duration) {
    while_held(shared, entries, |pending| async move {
        // The new deadline counts from before the request: SQS may carry it out at any moment after.
        let sent = Instant::now();
        let receipts: Vec<String> = pending.iter().map(|(_, r)| r.clone()).collect();
        let failed = shared.wire.change_visibility_batch(&receipts, vt).await.unwrap_or_else(|e| {
            warn!(source = %shared.name, error = crate::error_chain(&e), "visibility heartbeat failed; trying again");
            no_answer(pending.len())
        });
        let failed_at: Vec<usize> = failed.iter().filter_map(|f| f.id.parse().ok()).collect();
        {
            let mut held = shared.held.lock().unwrap();
            for (i, (id, receipt)) in pending.iter().enumerate() {
                if !failed_at.contains(&i) {
                    if let Some(h) = held.get_mut(id).filter(|h| &h.receipt == receipt) {
                        h.visible_at = h.visible_at.max(sent + vt);
                    }
                }
            }
        }
        worth_retrying(shared, &pending, failed, "visibility not extended; the message may be delivered twice")
    })
    .await;
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use aws_sdk_sqs::types::Message;

    use super::*;
    use crate::sources::sqs_reader::{Failed, Held, QueueWire, SqsError, SqsSettings};
    use crate::BoxFuture;

    /// SQS that fails, on its side, the first `failures` tries of every entry, and records the
    /// receipts of each call. Clones share what they record: one goes to the reader, the test
    /// keeps another.
    #[derive(Clone)]
    struct Flaky {
        failures: usize,
        sender_fault: bool,
        tries: Arc<Mutex<HashMap<String, usize>>>,
        calls: Arc<Mutex<Vec<Vec<String>>>>,
    }

    impl Flaky {
        fn new(failures: usize, sender_fault: bool) -> Flaky {
            Flaky { failures, sender_fault, tries: Arc::default(), calls: Arc::default() }
        }

        fn answer(&self, receipts: Vec<String>) -> Vec<Failed> {
            self.calls.lock().unwrap().push(receipts.clone());
            let mut tries = self.tries.lock().unwrap();
            receipts
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    let n = tries.entry(r.clone()).or_default();
                    *n += 1;
                    (*n <= self.failures).then(|| Failed {
                        id: i.to_string(),
                        code: "InternalError".into(),
                        sender_fault: self.sender_fault,
                    })
                })
                .collect()
        }
    }

    impl QueueWire for Flaky {
        fn receive(&self, _: i32, _: Duration, _: Duration) -> BoxFuture<'_, Result<Vec<Message>, SqsError>> {
            Box::pin(async { Ok(vec![]) })
        }
        fn delete_batch<'a>(&'a self, receipts: &'a [&'a str]) -> BoxFuture<'a, Result<Vec<Failed>, SqsError>> {
            let answer = self.answer(receipts.iter().map(|r| r.to_string()).collect());
            Box::pin(async move { Ok(answer) })
        }
        fn change_visibility_batch<'a>(&'a self, receipts: &'a [String], _: Duration) -> BoxFuture<'a, Result<Vec<Failed>, SqsError>> {
            let answer = self.answer(receipts.to_vec());
            Box::pin(async move { Ok(answer) })
        }
    }

    fn shared(wire: &Flaky, visibility: Duration) -> Arc<Shared> {
        let settings: SqsSettings =
            toml::from_str(&format!("queue_url = \"http://q/1/q\"\nvisibility_timeout = \"{}ms\"", visibility.as_millis())).unwrap();
        Arc::new(super::super::Shared::for_test(settings, Box::new(wire.clone())))
    }

    fn hold(shared: &Shared, id: &str, visible_for: Duration) {
        shared
            .held
            .lock()
            .unwrap()
            .insert(id.into(), Held { receipt: format!("r-{id}"), visible_at: Instant::now() + visible_for, deleting: false });
    }

    #[tokio::test]
    async fn delete_entries_sqs_failed_on_its_side_are_tried_again_until_deleted() {
        let wire = Flaky::new(2, false);
        let shared = shared(&wire, Duration::from_secs(30));
        hold(&shared, "a", Duration::from_secs(30));
        hold(&shared, "b", Duration::from_secs(30));
        delete_batch(&shared, vec![("a".into(), "r-a".into()), ("b".into(), "r-b".into())]).await;
        assert_eq!(wire.calls.lock().unwrap().len(), 3, "two failed tries, then the delete");
        assert!(shared.held.lock().unwrap().is_empty(), "both deleted, no longer held");
    }

    #[tokio::test]
    async fn a_delete_the_request_was_at_fault_for_is_not_tried_again() {
        let wire = Flaky::new(1, true);
        let shared = shared(&wire, Duration::from_secs(30));
        hold(&shared, "a", Duration::from_secs(30));
        delete_batch(&shared, vec![("a".into(), "r-a".into())]).await;
        assert_eq!(wire.calls.lock().unwrap().len(), 1);
        assert!(shared.held.lock().unwrap().is_empty(), "forgotten: SQS brings it back");
    }

    #[tokio::test]
    async fn a_delete_is_not_tried_past_the_message_visibility() {
        let wire = Flaky::new(usize::MAX, false);
        let shared = shared(&wire, Duration::from_secs(30));
        hold(&shared, "a", Duration::from_millis(250));
        delete_batch(&shared, vec![("a".into(), "r-a".into())]).await;
        let calls = wire.calls.lock().unwrap().len();
        assert!((2..=4).contains(&calls), "tried while the receipt was valid, then given up: {calls} calls");
    }

    #[tokio::test]
    async fn a_deadline_moves_only_when_sqs_confirmed_the_extension() {
        let wire = Flaky::new(1, false);
        let shared = shared(&wire, Duration::from_secs(10));
        hold(&shared, "a", Duration::from_secs(2));
        let before = shared.held.lock().unwrap()["a"].visible_at;
        let sent = Instant::now();
        let extending = tokio::spawn({
            let shared = shared.clone();
            async move { extend(&shared, vec![("a".into(), "r-a".into())], Duration::from_secs(10)).await }
        });
        // The first try failed: the deadline has not moved while the second waits its turn.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(shared.held.lock().unwrap()["a"].visible_at, before, "moved although SQS failed the extension");
        extending.await.unwrap();
        assert_eq!(wire.calls.lock().unwrap().len(), 2);
        assert!(shared.held.lock().unwrap()["a"].visible_at >= sent + Duration::from_secs(10), "confirmed: moved");
    }
}
