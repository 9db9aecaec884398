//! A simulated dead-letter sink: it writes into the ledger, and while it is down it refuses
//! every write (the event then stays upstream and comes back).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::ledger::Ledger;
use crate::dlq::{DeadLetterRecord, DeadLetterSink, SinkError};
use crate::BoxFuture;

/// One sink, shared by every daemon instance (what it wrote survives a crash).
pub struct SimSink {
    pub index: usize,
    down: AtomicBool,
    ledger: Arc<Mutex<Ledger>>,
}

impl SimSink {
    pub fn new(index: usize, ledger: Arc<Mutex<Ledger>>) -> Arc<SimSink> {
        Arc::new(SimSink { index, down: AtomicBool::new(false), ledger })
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

/// One daemon instance's handle on a sink: a write of a crashed instance never lands.
pub struct SinkHandle {
    pub sink: Arc<SimSink>,
    pub alive: Arc<AtomicBool>,
}

impl DeadLetterSink for SinkHandle {
    fn write<'a>(&'a self, record: &'a DeadLetterRecord) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            // A durable write takes a moment, during which a crash loses it.
            tokio::time::sleep(Duration::from_millis(3)).await;
            if !self.alive.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            let mut ledger = self.sink.ledger.lock().unwrap();
            let id = &record.fanin.event_id;
            if self.sink.down.load(Ordering::SeqCst) {
                ledger.sink_failed(id);
                return Err(SinkError::new(format!("sink{}", self.sink.index), "simulated outage"));
            }
            let condition = record.request_context.condition.as_str();
            ledger.dead_lettered(id, &record.fanin.target, condition, record.response_context.error_type.clone());
            Ok(())
        })
    }
}
