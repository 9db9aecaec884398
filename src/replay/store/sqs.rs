//! Dead letters in an SQS queue (fanin's `sqs` sink, a Lambda on-failure destination, a legacy
//! Lambda DLQ), received ten at a time as the replay goes; records offloaded to S3 read through.
//!
//! Replay receives, sends, then deletes or writes back, continuously: what it holds is the
//! messages under way, so a queue of any length replays in one run, past SQS's limit of about
//! 120,000 messages in flight. What it leaves (not selected) and what it wrote back in this run
//! (stamped with the run's id, and held when it comes round) stay in flight until the end of
//! the run, so the next receive moves on; both are handed back (visible at once) at the end.

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, MessageAttributeValue, QueueAttributeName,
};
use tokio::sync::{mpsc, oneshot};

use super::*;

/// Receipts a look keeps to hand messages back at the end; the rest come back when their hold
/// runs out.
const LOOK_RECEIPTS: usize = 10_000;

/// The message attribute a record written back carries: the id of the run that wrote it.
const RUN_ATTRIBUTE: &str = "fanin-replay-run";

/// An SQS queue: fanin's `sqs` sink, a Lambda on-failure destination, or a legacy Lambda DLQ.
/// A message that points at a record in S3 (the sink's `large_records`) is read through.
pub struct SqsStore {
    client: aws_sdk_sqs::Client,
    s3: aws_sdk_s3::Client,
    queue_url: String,
    mode: Mode,
    /// The visibility timeout asked for on receive.
    pub(super) hold: Duration,
    /// This run's id, on the records it writes back.
    run: String,
    /// Message id → what is needed to settle it, for messages read and not settled.
    pending: Mutex<HashMap<String, Pending>>,
    /// Receipts of messages left as they were, handed back at the end.
    held: Mutex<Vec<String>>,
    /// When this run started (ms since the epoch): a message first received since then, and
    /// received again, has come round.
    started_ms: i64,
    /// Messages received.
    pub(super) received: AtomicU64,
    /// Set when the read stopped before the queue was read through (see `Store::cut_short`).
    pub(super) cut_short: AtomicBool,
    /// Set once a receive came back empty, or the read was cut short.
    done: AtomicBool,
    /// Deletes, gathered into batches of ten by a task of their own.
    deletes: mpsc::UnboundedSender<Delete>,
}

/// A receipt to delete, and who waits for the answer.
type Delete = (String, oneshot::Sender<Result<(), String>>);

/// Deletes what `deletes` brings, up to ten to a `DeleteMessageBatch`: one call per record was
/// most of a replay's SQS cost. Each waiter hears of its own message.
async fn delete_in_batches(client: aws_sdk_sqs::Client, queue_url: String, mut deletes: mpsc::UnboundedReceiver<Delete>) {
    let mut batch = Vec::with_capacity(10);
    while deletes.recv_many(&mut batch, 10).await > 0 {
        let entries: Vec<DeleteMessageBatchRequestEntry> = batch
            .iter()
            .enumerate()
            .map(|(n, (receipt, _))| DeleteMessageBatchRequestEntry::builder().id(n.to_string()).receipt_handle(receipt).build())
            .collect::<Result<_, _>>()
            .expect("id and receipt set");
        let answer = client.delete_message_batch().queue_url(&queue_url).set_entries(Some(entries)).send().await;
        let mut failed: HashMap<usize, String> = HashMap::new();
        match answer {
            Ok(out) => {
                for f in out.failed() {
                    if let Ok(n) = f.id().parse() {
                        failed.insert(n, format!("{}: {}", f.code(), f.message().unwrap_or_default()));
                    }
                }
            }
            Err(e) => {
                let message = DisplayErrorContext(e).to_string();
                failed.extend((0..batch.len()).map(|n| (n, message.clone())));
            }
        }
        for (n, (_, waiter)) in batch.drain(..).enumerate() {
            let _ = waiter.send(failed.remove(&n).map_or(Ok(()), Err));
        }
    }
}

struct Pending {
    /// The newest receipt: only it is sure to delete or release the message.
    receipt: String,
    /// Where the record was in S3, for one that came through a pointer.
    offloaded: Option<(String, String)>,
}

fn sqs_error<E: std::error::Error + Send + Sync + 'static>(e: aws_sdk_sqs::error::SdkError<E>) -> anyhow::Error {
    anyhow::anyhow!("{}", DisplayErrorContext(e))
}

impl SqsStore {
    pub(super) fn new(sdk: &aws_config::SdkConfig, url: &str, mode: Mode) -> SqsStore {
        let run = format!(
            "{:x}-{:x}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos()
        );
        let client = crate::aws::sqs(sdk);
        let (deletes, to_delete) = mpsc::unbounded_channel();
        tokio::spawn(delete_in_batches(client.clone(), url.to_string(), to_delete));
        SqsStore {
            deletes,
            client,
            s3: crate::aws::s3(sdk),
            queue_url: url.to_string(),
            mode,
            hold: SQS_HOLD,
            run,
            pending: Mutex::default(),
            held: Mutex::default(),
            started_ms: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis() as i64,
            received: AtomicU64::new(0),
            cut_short: AtomicBool::new(false),
            done: AtomicBool::new(false),
        }
    }

    /// `ApproximateNumberOfMessages`: the total a progress bar shows.
    pub(super) async fn approximate_count(&self) -> Option<u64> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .ok()?;
        out.attributes()?.get(&QueueAttributeName::ApproximateNumberOfMessages)?.parse().ok()
    }

    pub(super) async fn next(&self, whole: bool) -> anyhow::Result<Option<Batch>> {
        while !self.done.load(Ordering::SeqCst) {
            let out = self
                .client
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .visibility_timeout(self.hold.as_secs() as i32)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await;
            let messages = match out {
                Ok(out) => out.messages.unwrap_or_default(),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_over_limit()) => {
                    // SQS hands out no more while this many are in flight: what this run left
                    // or wrote back holds them.
                    eprintln!(
                        "fanin: SQS will hand out no more messages while {} are held by this run; stopping the read here",
                        self.held.lock().unwrap().len() + self.pending.lock().unwrap().len()
                    );
                    self.cut_short.store(true, Ordering::SeqCst);
                    self.done.store(true, Ordering::SeqCst);
                    break;
                }
                Err(e) => return Err(sqs_error(e)),
            };
            if messages.is_empty() {
                self.done.store(true, Ordering::SeqCst);
                break;
            }
            self.received.fetch_add(messages.len() as u64, Ordering::Relaxed);
            let mut batch = Batch::default();
            for m in messages {
                let receipt = m.receipt_handle().unwrap_or_default().to_string();
                let id = m.message_id().unwrap_or_default().to_string();
                let attr = |name: &str| m.message_attributes().and_then(|a| a.get(name)).and_then(|v| v.string_value()).map(str::to_string);
                if attr(RUN_ATTRIBUTE).as_deref() == Some(self.run.as_str()) {
                    // Written back by this run: it died again here; left for the next run.
                    self.held.lock().unwrap().push(receipt);
                    continue;
                }
                if let Some(p) = self.pending.lock().unwrap().get_mut(&id) {
                    // Back because its hold ran out while it was under way.
                    p.receipt = receipt;
                    continue;
                }
                if self.mode == Mode::Look && self.came_round(&m) {
                    // Read already, and back because its hold ran out: the read went round.
                    self.hold_receipt(receipt);
                    self.cut_short.store(true, Ordering::SeqCst);
                    self.done.store(true, Ordering::SeqCst);
                    continue;
                }
                let legacy = LegacyAttributes { request_id: attr("RequestID"), error_code: attr("ErrorCode") };
                let (body, offloaded) = match offload::parse_pointer(m.body().unwrap_or_default()) {
                    None => (Ok(m.body().unwrap_or_default().to_string()), None),
                    Some((bucket, key)) => (self.fetch(&bucket, &key).await, Some((bucket, key))),
                };
                match body.and_then(|body| item::parse(&body, || id.clone(), Some(&legacy), whole)) {
                    Ok(letter) => {
                        self.pending.lock().unwrap().insert(id.clone(), Pending { receipt, offloaded });
                        batch.items.push(Item { key: id, letter });
                    }
                    Err(e) => {
                        batch.unreadable.push(format!("message {id}: {e}"));
                        // Handed back at the end: handed back at once, the next receive would
                        // return it again, and again.
                        self.hold_receipt(receipt);
                    }
                }
            }
            if !batch.items.is_empty() || !batch.unreadable.is_empty() {
                return Ok(Some(batch));
            }
        }
        Ok(None)
    }

    /// Left as it is: held to the end of the run, then handed back.
    pub(super) fn keep(&self, id: &str) {
        if let Some(p) = self.pending.lock().unwrap().remove(id) {
            self.hold_receipt(p.receipt);
        }
    }

    /// Keeps a receipt to hand its message back at the end. Looking only, past `LOOK_RECEIPTS`
    /// a message is left to its short hold instead: a look's memory stays the same however
    /// long the queue.
    fn hold_receipt(&self, receipt: String) {
        let mut held = self.held.lock().unwrap();
        if self.mode == Mode::Replay || held.len() < LOOK_RECEIPTS {
            held.push(receipt);
        }
    }

    /// Whether a message came round to this look: first received since the look started
    /// (SQS's own first-receive time, a second's leeway for clocks), its hold since run out,
    /// and received again. Nothing is kept per message to tell it.
    fn came_round(&self, m: &aws_sdk_sqs::types::Message) -> bool {
        let attr = |name: MessageSystemAttributeName| m.attributes().and_then(|a| a.get(&name)).and_then(|v| v.parse::<i64>().ok());
        let count = attr(MessageSystemAttributeName::ApproximateReceiveCount).unwrap_or(1);
        let first = attr(MessageSystemAttributeName::ApproximateFirstReceiveTimestamp).unwrap_or(0);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis() as i64;
        // Back because its hold ran out, not handed back early by an earlier look.
        let held_through = now - first >= self.hold.as_millis() as i64 - 2000;
        count >= 2 && first >= self.started_ms - 1000 && held_through
    }

    fn take(&self, id: &str) -> anyhow::Result<Pending> {
        self.pending.lock().unwrap().remove(id).ok_or_else(|| anyhow::anyhow!("message {id} was not read by this run"))
    }

    /// The newest receipt of `id` (it changes when the message comes round).
    fn receipt(&self, id: &str) -> anyhow::Result<(String, Option<(String, String)>)> {
        let pending = self.pending.lock().unwrap();
        let p = pending.get(id).ok_or_else(|| anyhow::anyhow!("message {id} was not read by this run"))?;
        Ok((p.receipt.clone(), p.offloaded.clone()))
    }

    /// Deleted; on failure it stays pending, to be released.
    pub(super) async fn delete(&self, id: &str) -> anyhow::Result<()> {
        let (receipt, _) = self.receipt(id)?;
        let (tx, rx) = oneshot::channel();
        self.deletes.send((receipt, tx)).map_err(|_| anyhow::anyhow!("the deleting task is gone"))?;
        rx.await.map_err(|_| anyhow::anyhow!("the deleting task is gone"))?.map_err(|e| anyhow::anyhow!("deleting message {id}: {e}"))?;
        self.pending.lock().unwrap().remove(id);
        Ok(())
    }

    /// Visible again at once.
    pub(super) async fn release(&self, id: &str) {
        if let Ok(p) = self.take(id) {
            let _ = self
                .client
                .change_message_visibility()
                .queue_url(&self.queue_url)
                .receipt_handle(&p.receipt)
                .visibility_timeout(0)
                .send()
                .await;
        }
    }

    /// Hands back every message held (ten to a call).
    pub(super) async fn finish(&self) {
        let mut receipts = std::mem::take(&mut *self.held.lock().unwrap());
        receipts.extend(self.pending.lock().unwrap().drain().map(|(_, p)| p.receipt));
        for chunk in receipts.chunks(10) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .map(|(n, r)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder().id(n.to_string()).receipt_handle(r).visibility_timeout(0).build()
                })
                .collect::<Result<_, _>>()
                .expect("id and receipt set");
            let _ = self.client.change_message_visibility_batch().queue_url(&self.queue_url).set_entries(Some(entries)).send().await;
        }
    }

    /// The record a pointer message names.
    async fn fetch(&self, bucket: &str, key: &str) -> Result<String, String> {
        let out = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| format!("s3://{bucket}/{key}: {}", aws_sdk_s3::error::DisplayErrorContext(e)))?;
        let bytes = out.body.collect().await.map_err(|e| format!("s3://{bucket}/{key}: {e}"))?.into_bytes();
        String::from_utf8(bytes.to_vec()).map_err(|e| format!("s3://{bucket}/{key}: {e}"))
    }

    /// Sends `body` in place of the message `id`, then deletes it: as it is, or, when it is
    /// over SQS's size, to where the record it replaces was kept in S3, with a pointer
    /// message. Stamped with this run's id, so this run leaves it when it comes round.
    pub(super) async fn replace(&self, id: &str, body: String) -> anyhow::Result<()> {
        let (_, offloaded) = self.receipt(id)?;
        let stamp = MessageAttributeValue::builder().data_type("String").string_value(&self.run).build().expect("type set");
        let send = self.client.send_message().queue_url(&self.queue_url).message_attributes(RUN_ATTRIBUTE, stamp);
        let send = if body.len() <= offload::SQS_MAX_BODY {
            send.message_body(body)
        } else {
            let Some((bucket, key)) = offloaded else { bail!("the record is {} bytes, over SQS's message limit", body.len()) };
            let size = body.len();
            self.s3.put_object().bucket(&bucket).key(&key).body(ByteStream::from(body.into_bytes())).send().await.map_err(s3_error)?;
            offload::point_at(send, &bucket, &key, size)
        };
        send.send().await.map_err(sqs_error)?;
        self.delete(id).await
    }
}
