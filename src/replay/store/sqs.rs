//! Dead letters in an SQS queue (fanin's `sqs` sink, a Lambda on-failure destination, a legacy
//! Lambda DLQ), received ten at a time as the replay goes; records offloaded to S3 read through.
//!
//! Replay receives, sends, then deletes or writes back, continuously: what it holds is the
//! messages under way, so a queue of any length replays in one run, past SQS's limit of about
//! 120,000 messages in flight. What it leaves (not selected) and what it wrote back in this run
//! (stamped with the run's id, and held when it comes round) stay in flight until the end of
//! the run, so the next receive moves on; both are handed back (visible at once) at the end.

use std::collections::HashSet;

use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, MessageAttributeValue, QueueAttributeName};

use super::*;

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
    /// Looking only: every message id read, to see the read go round.
    seen: Mutex<HashSet<String>>,
    /// Messages received.
    pub(super) received: AtomicU64,
    /// Set when the read stopped before the queue was read through (see `Store::cut_short`).
    pub(super) cut_short: AtomicBool,
    /// Set once a receive came back empty, or the read was cut short.
    done: AtomicBool,
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
        SqsStore {
            client: crate::aws::sqs(sdk),
            s3: crate::aws::s3(sdk),
            queue_url: url.to_string(),
            mode,
            hold: SQS_HOLD,
            run,
            pending: Mutex::default(),
            held: Mutex::default(),
            seen: Mutex::default(),
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
                if self.mode == Mode::Look && !self.seen.lock().unwrap().insert(id.clone()) {
                    // Read already, and back because its hold ran out: the read went round.
                    self.held.lock().unwrap().push(receipt);
                    self.cut_short.store(true, Ordering::SeqCst);
                    self.done.store(true, Ordering::SeqCst);
                    continue;
                }
                let legacy = LegacyAttributes { request_id: attr("RequestID"), error_code: attr("ErrorCode") };
                let (body, offloaded) = match offload::parse_pointer(m.body().unwrap_or_default()) {
                    None => (Ok(m.body().unwrap_or_default().to_string()), None),
                    Some((bucket, key)) => (self.fetch(&bucket, &key).await, Some((bucket, key))),
                };
                match body.and_then(|body| item::parse(&body, &id, Some(&legacy), whole)) {
                    Ok(letter) => {
                        self.pending.lock().unwrap().insert(id.clone(), Pending { receipt, offloaded });
                        batch.items.push(Item { key: id, letter });
                    }
                    Err(e) => {
                        batch.unreadable.push(format!("message {id}: {e}"));
                        // Handed back at the end: handed back at once, the next receive would
                        // return it again, and again.
                        self.held.lock().unwrap().push(receipt);
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
            self.held.lock().unwrap().push(p.receipt);
        }
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
        self.client.delete_message().queue_url(&self.queue_url).receipt_handle(&receipt).send().await.map_err(sqs_error)?;
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
