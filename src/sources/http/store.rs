//! The durable half of an accept: each event goes into the buffer queue, and its request hears
//! back only once SQS answered. Requests that arrive while a send is under way are grouped
//! into one `SendMessageBatch` (ten at most, within SQS's size for a batch), so a burst costs a
//! tenth of the calls, and a lone request waits for nobody.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::sources::sqs_reader::SqsWire;
use crate::BoxFuture;

/// Batches in flight at once per source: enough to keep SQS's latency off the throughput.
const SENDS_IN_FLIGHT: usize = 16;
/// Events waiting for a batch: past this the source is full, and a request is answered 429.
const WAITING: usize = 4096;

/// Why an event was not stored; the request is answered 503.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("SQS did not take the event: {0}")]
    Refused(String),
    #[error("the source is stopping")]
    Stopping,
    /// More events wait for SQS than the source holds: the sender should come back later.
    #[error("too many events wait to be stored")]
    Full,
}

struct Pending {
    body: String,
    dedup: Option<String>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// One buffer queue's sender.
pub struct Store {
    tx: mpsc::Sender<Pending>,
}

impl Store {
    /// Starts the batching task of the queue `queue_url`; `fifo`: entries carry a deduplication
    /// id; `batch_bytes`: what one batch may hold in all.
    pub fn start(sdk: &aws_config::SdkConfig, queue_url: &str, fifo: bool, batch_bytes: usize, stop: CancellationToken) -> Store {
        Store::with(Arc::new(SqsWire::new(sdk, queue_url)), fifo, batch_bytes, stop, WAITING)
    }

    fn with(wire: Arc<dyn Batches>, fifo: bool, batch_bytes: usize, stop: CancellationToken, waiting: usize) -> Store {
        let (tx, rx) = mpsc::channel(waiting);
        tokio::spawn(batch(rx, wire, fifo, batch_bytes, stop));
        Store { tx }
    }

    /// Stores `body` (with `dedup` as its deduplication id in a FIFO queue); Ok once SQS holds it.
    pub async fn put(&self, body: String, dedup: Option<String>) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        // Never waiting for room: a sender told 429 retries later, one left hanging times out.
        self.tx.try_send(Pending { body, dedup, done }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => StoreError::Full,
            mpsc::error::TrySendError::Closed(_) => StoreError::Stopping,
        })?;
        answer.await.unwrap_or(Err(StoreError::Stopping))
    }
}

/// The call a batch makes: [`SqsWire::send_batch`], or a stand-in in tests.
trait Batches: Send + Sync + 'static {
    /// Sends every entry: the indexes SQS did not store, or why nothing was.
    fn send<'a>(&'a self, entries: &'a [(String, Option<String>)]) -> BoxFuture<'a, Result<Vec<usize>, String>>;
}

impl Batches for SqsWire {
    fn send<'a>(&'a self, entries: &'a [(String, Option<String>)]) -> BoxFuture<'a, Result<Vec<usize>, String>> {
        Box::pin(async move {
            let refs: Vec<(&str, Option<&str>)> = entries.iter().map(|(b, d)| (b.as_str(), d.as_deref())).collect();
            let failed = self.send_batch(&refs).await.map_err(|e| e.to_string())?;
            Ok(failed.iter().filter_map(|f| f.id.parse().ok()).collect())
        })
    }
}

/// Takes waiting events into batches of up to ten within `batch_bytes`, a batch as soon as a
/// send may start: under load the batches fill while earlier ones are under way.
async fn batch(mut rx: mpsc::Receiver<Pending>, wire: Arc<dyn Batches>, fifo: bool, batch_bytes: usize, stop: CancellationToken) {
    let sends = Arc::new(Semaphore::new(SENDS_IN_FLIGHT));
    let mut carried: Option<Pending> = None;
    loop {
        let first = match carried.take() {
            Some(p) => p,
            None => tokio::select! {
                p = rx.recv() => match p { Some(p) => p, None => return },
                _ = stop.cancelled() => break,
            },
        };
        let permit = sends.clone().acquire_owned().await.expect("never closed");
        let mut size = first.body.len();
        let mut group = vec![first];
        while group.len() < 10 {
            match rx.try_recv() {
                Ok(p) if size + p.body.len() <= batch_bytes => {
                    size += p.body.len();
                    group.push(p);
                }
                Ok(p) => {
                    carried = Some(p);
                    break;
                }
                Err(_) => break,
            }
        }
        let wire = wire.clone();
        tokio::spawn(async move {
            let entries: Vec<(String, Option<String>)> =
                group.iter_mut().map(|p| (std::mem::take(&mut p.body), if fifo { p.dedup.take() } else { None })).collect();
            let outcome = wire.send(&entries).await;
            drop(permit);
            for (i, p) in group.into_iter().enumerate() {
                let result = match &outcome {
                    Ok(failed) if failed.contains(&i) => Err(StoreError::Refused("the batch entry failed".into())),
                    Ok(_) => Ok(()),
                    Err(e) => Err(StoreError::Refused(e.clone())),
                };
                let _ = p.done.send(result);
            }
        });
    }
    // Stopping: what waits is answered 503 (dropped senders), never 2xx.
    rx.close();
    while let Ok(p) = rx.try_recv() {
        let _ = p.done.send(Err(StoreError::Stopping));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    type Batch = Vec<(String, Option<String>)>;

    /// Records each batch; refuses entries whose body is "refuse", and every call while `down`.
    #[derive(Default)]
    struct Recorder {
        batches: Mutex<Vec<Batch>>,
        down: std::sync::atomic::AtomicBool,
    }

    impl Batches for Recorder {
        fn send<'a>(&'a self, entries: &'a [(String, Option<String>)]) -> BoxFuture<'a, Result<Vec<usize>, String>> {
            Box::pin(async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                    return Err("SQS is down".into());
                }
                self.batches.lock().unwrap().push(entries.to_vec());
                Ok(entries.iter().enumerate().filter(|(_, (b, _))| b == "refuse").map(|(i, _)| i).collect())
            })
        }
    }

    #[tokio::test]
    async fn concurrent_events_share_batches_and_each_hears_its_own_outcome() {
        let recorder = Arc::new(Recorder::default());
        let store = Arc::new(Store::with(recorder.clone(), true, 1000, CancellationToken::new(), WAITING));
        let mut puts = Vec::new();
        for i in 0..100 {
            let store = store.clone();
            let body = if i == 42 { "refuse".to_string() } else { format!("event {i}") };
            puts.push(tokio::spawn(async move { store.put(body, Some(format!("d{i}"))).await }));
        }
        let mut refused = 0;
        for p in puts {
            if p.await.unwrap().is_err() {
                refused += 1;
            }
        }
        assert_eq!(refused, 1);
        let batches = recorder.batches.lock().unwrap();
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 100);
        assert!(batches.len() < 100, "grouped: {} calls", batches.len());
        assert!(batches.iter().all(|b| b.len() <= 10 && b.iter().map(|(b, _)| b.len()).sum::<usize>() <= 1000));
        assert!(batches.iter().flatten().all(|(_, d)| d.is_some()), "a FIFO queue's entries carry their deduplication id");
    }

    #[tokio::test]
    async fn past_what_it_holds_the_store_says_full_at_once() {
        let recorder = Arc::new(Recorder::default());
        // One waiting place, and sends that take 20 ms: the 200th put at once finds it full.
        let store = Arc::new(Store::with(recorder.clone(), false, 1000, CancellationToken::new(), 1));
        let puts: Vec<_> = (0..200)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { store.put(format!("e{i}"), None).await })
            })
            .collect();
        let mut full = 0;
        for p in puts {
            match p.await.unwrap() {
                Ok(()) => {}
                Err(StoreError::Full) => full += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(full > 0, "some puts found it full");
        let stored: usize = recorder.batches.lock().unwrap().iter().map(Vec::len).sum();
        assert_eq!(stored + full, 200, "every put either stored or was told full");
    }

    #[tokio::test]
    async fn nothing_is_acknowledged_when_sqs_fails_or_the_source_stops() {
        let recorder = Arc::new(Recorder::default());
        recorder.down.store(true, std::sync::atomic::Ordering::SeqCst);
        let stop = CancellationToken::new();
        let store = Store::with(recorder.clone(), false, 1000, stop.clone(), WAITING);
        assert!(matches!(store.put("a".into(), None).await, Err(StoreError::Refused(_))));
        stop.cancel();
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        assert_eq!(store.put("b".into(), None).await, Err(StoreError::Stopping));
    }
}
