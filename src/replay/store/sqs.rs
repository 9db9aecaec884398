//! Dead letters in an SQS queue (fanin's `sqs` sink, a Lambda on-failure destination, a legacy
//! Lambda DLQ), records offloaded to S3 read through.

use super::*;

/// An SQS queue: fanin's `sqs` sink, a Lambda on-failure destination, or a legacy Lambda DLQ.
/// A message that points at a record in S3 (the sink's `large_records`) is read through.
pub struct SqsStore {
    pub(super) client: aws_sdk_sqs::Client,
    pub(super) s3: aws_sdk_s3::Client,
    pub(super) queue_url: String,
    /// Receipt → where its record was in S3, for the records that came through a pointer.
    pub(super) offloaded: Mutex<HashMap<String, (String, String)>>,
    /// The visibility timeout asked for on receive.
    pub(super) hold: Duration,
    /// Set when a load met a message it had already read (see `Store::cut_short`).
    pub(super) cut_short: AtomicBool,
}

fn sqs_error<E: std::error::Error + Send + Sync + 'static>(e: aws_sdk_sqs::error::SdkError<E>) -> anyhow::Error {
    anyhow::anyhow!("{}", DisplayErrorContext(e))
}

impl SqsStore {
    pub(super) async fn load(&self) -> anyhow::Result<(Vec<Item>, Vec<String>)> {
        let (mut items, mut errors) = (vec![], vec![]);
        // Unreadable messages are handed back once the read is over: handed back at once, the
        // next receive would return them again, and again.
        let mut unreadable = vec![];
        let mut seen: HashMap<String, Option<usize>> = HashMap::new();
        self.cut_short.store(false, Ordering::SeqCst);
        let result = loop {
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
                .await
                .map_err(sqs_error);
            let messages = match out {
                Ok(out) => out.messages.unwrap_or_default(),
                Err(e) => break Err(e),
            };
            if messages.is_empty() {
                break Ok(());
            }
            let mut again = false;
            for m in messages {
                let receipt = m.receipt_handle().unwrap_or_default().to_string();
                let message_id = m.message_id().unwrap_or_default().to_string();
                if let Some(earlier) = seen.get(&message_id) {
                    // Read already, and back because its hold ran out: the read went round.
                    // Only the newest receipt handle is sure to delete or release it.
                    again = true;
                    match *earlier {
                        Some(n) => {
                            let item: &mut Item = &mut items[n];
                            let mut offloaded = self.offloaded.lock().unwrap();
                            if let Some(place) = offloaded.remove(&item.key) {
                                offloaded.insert(receipt.clone(), place);
                            }
                            item.key = receipt;
                        }
                        None => unreadable.push(receipt),
                    }
                    continue;
                }
                let attr = |name: &str| m.message_attributes().and_then(|a| a.get(name)).and_then(|v| v.string_value()).map(str::to_string);
                let legacy = LegacyAttributes { request_id: attr("RequestID"), error_code: attr("ErrorCode") };
                let id = m.message_id().unwrap_or_default();
                let body = match offload::parse_pointer(m.body().unwrap_or_default()) {
                    None => Ok(m.body().unwrap_or_default().to_string()),
                    Some((bucket, key)) => {
                        let fetched = self.fetch(&bucket, &key).await;
                        self.offloaded.lock().unwrap().insert(receipt.clone(), (bucket, key));
                        fetched
                    }
                };
                match body.and_then(|body| item::parse(&body, id, Some(&legacy))) {
                    Ok(letter) => {
                        seen.insert(message_id, Some(items.len()));
                        items.push(Item { key: receipt, letter });
                    }
                    Err(e) => {
                        seen.insert(message_id, None);
                        errors.push(format!("message {id}: {e}"));
                        unreadable.push(receipt);
                    }
                }
            }
            if again {
                self.cut_short.store(true, Ordering::SeqCst);
                break Ok(());
            }
        };
        // Unreadable messages are handed back untouched; so is everything when the read failed.
        if result.is_err() {
            unreadable.extend(items.iter().map(|i| i.key.clone()));
        }
        for receipt in unreadable {
            let _ = self
                .client
                .change_message_visibility()
                .queue_url(&self.queue_url)
                .receipt_handle(&receipt)
                .visibility_timeout(0)
                .send()
                .await;
        }
        result.map(|()| (items, errors))
    }

    pub(super) async fn delete(&self, receipt: &str) -> anyhow::Result<()> {
        self.client.delete_message().queue_url(&self.queue_url).receipt_handle(receipt).send().await.map_err(sqs_error)?;
        Ok(())
    }

    /// The record a pointer message names.
    pub(super) async fn fetch(&self, bucket: &str, key: &str) -> Result<String, String> {
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

    /// Sends `body` in place of the message `receipt`: as it is, or, when it is over SQS's size,
    /// to where the record it replaces was kept in S3, with a pointer message.
    pub(super) async fn send(&self, receipt: &str, body: String) -> anyhow::Result<()> {
        let send = self.client.send_message().queue_url(&self.queue_url);
        let send = if body.len() <= offload::SQS_MAX_BODY {
            send.message_body(body)
        } else {
            let place = self.offloaded.lock().unwrap().get(receipt).cloned();
            let Some((bucket, key)) = place else { bail!("the record is {} bytes, over SQS's message limit", body.len()) };
            let size = body.len();
            self.s3.put_object().bucket(&bucket).key(&key).body(ByteStream::from(body.into_bytes())).send().await.map_err(s3_error)?;
            offload::point_at(send, &bucket, &key, size)
        };
        send.send().await.map_err(sqs_error)?;
        Ok(())
    }
}
