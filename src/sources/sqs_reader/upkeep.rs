//! Upkeep of received messages: visibility heartbeats and batched deletes.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::warn;

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
/// receipt this was (a copy received meanwhile queued a delete of its own).
async fn delete_batch(shared: &Shared, receipts: Vec<(String, String)>) {
    send_deletes(shared, &receipts).await;
    let mut held = shared.held.lock().unwrap();
    for (id, receipt) in &receipts {
        if held.get(id).is_some_and(|h| &h.receipt == receipt) {
            held.remove(id);
        }
    }
}

async fn send_deletes(shared: &Shared, receipts: &[(String, String)]) {
    let handles: Vec<&str> = receipts.iter().map(|(_, r)| r.as_str()).collect();
    for attempt in 1..=3 {
        match shared.wire.delete_batch(&handles).await {
            Ok(failed) => {
                for f in failed {
                    warn!(source = %shared.name, code = f.code, "delete failed; the message will be delivered again");
                }
                return;
            }
            Err(e) => {
                warn!(source = %shared.name, attempt, error = %e, "delete batch failed");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
        }
    }
    warn!(source = %shared.name, count = receipts.len(), "gave up deleting; these messages will be delivered again (at-least-once)");
}

/// Extends the visibility of every held message whose timeout is within half of running out.
pub(super) async fn heartbeat_loop(shared: Arc<Shared>, stop: CancellationToken) {
    let vt = shared.settings.visibility_timeout;
    let tick = (vt / 4).max(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(tick) => {}
        }
        let now = Instant::now();
        let due: Vec<String> = {
            let mut held = shared.held.lock().unwrap();
            held.values_mut()
                .filter(|h| !h.deleting && h.visible_at.saturating_duration_since(now) < vt / 2)
                .map(|h| {
                    h.visible_at = now + vt;
                    h.receipt.clone()
                })
                .collect()
        };
        for chunk in due.chunks(10) {
            match shared.wire.change_visibility_batch(chunk, vt).await {
                Ok(failed) => {
                    for f in failed {
                        warn!(source = %shared.name, code = f.code, "visibility not extended; the message may be delivered twice");
                    }
                }
                Err(e) => warn!(source = %shared.name, error = %e, "visibility heartbeat failed; messages may be delivered twice"),
            }
        }
    }
}
