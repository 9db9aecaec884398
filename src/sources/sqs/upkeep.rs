//! Upkeep of received messages: visibility heartbeats and batched deletes.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::Shared;

/// How long the deleter waits to fill a batch of 10.
const DELETE_LINGER: Duration = Duration::from_millis(20);

/// Deletes settled messages in batches of up to 10; at stop, drains what is left first.
pub(super) async fn delete_loop(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<(String, String)>, stop: CancellationToken) {
    let mut batch: Vec<(String, String)> = Vec::with_capacity(10);
    loop {
        let receipt = if batch.is_empty() {
            tokio::select! {
                r = rx.recv() => r,
                _ = stop.cancelled() => rx.try_recv().ok(),
            }
        } else {
            tokio::select! {
                r = rx.recv() => r,
                _ = tokio::time::sleep(DELETE_LINGER) => None,
                _ = stop.cancelled() => rx.try_recv().ok(),
            }
        };
        match receipt {
            Some(r) => {
                batch.push(r);
                if batch.len() == 10 {
                    delete_batch(&shared, std::mem::take(&mut batch)).await;
                }
            }
            None => {
                if !batch.is_empty() {
                    delete_batch(&shared, std::mem::take(&mut batch)).await;
                } else if stop.is_cancelled() {
                    return;
                }
            }
        }
    }
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
