//! Where dead letters are read from and what happens to them after a replay: removed once
//! Lambda accepted them, written back (with the replay count raised) when they died again,
//! left untouched otherwise.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::MessageSystemAttributeName;

use super::item::{self, DeadLetter, LegacyAttributes};
use crate::dlq::{offload, DeadLetterRecord};

/// How long replay holds SQS messages it has read; released earlier when it stops.
const SQS_HOLD: Duration = Duration::from_secs(900);

/// One stored dead letter and how to find it again.
#[derive(Debug, Clone)]
pub struct Item {
    /// Line number (file), receipt handle (SQS) or key (S3).
    pub key: String,
    pub letter: DeadLetter,
}

/// What `--from` names.
pub enum Store {
    File(FileStore),
    Sqs(SqsStore),
    S3(S3Store),
}

impl Store {
    /// Parses `file:PATH`, `sqs:QUEUE_URL` or `s3://BUCKET/PREFIX`.
    pub fn open(from: &str, sdk: &aws_config::SdkConfig, keep: bool) -> anyhow::Result<Store> {
        if let Some(path) = from.strip_prefix("file:") {
            return Ok(Store::File(FileStore { path: PathBuf::from(path), state: Mutex::new(FileState::default()) }));
        }
        if let Some(url) = from.strip_prefix("sqs:") {
            return Ok(Store::Sqs(SqsStore {
                client: crate::aws::sqs(sdk),
                s3: crate::aws::s3(sdk),
                queue_url: url.to_string(),
                offloaded: Mutex::new(HashMap::new()),
                hold: SQS_HOLD,
                cut_short: AtomicBool::new(false),
            }));
        }
        if let Some(rest) = from.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            return Ok(Store::S3(S3Store { client: crate::aws::s3(sdk), bucket: bucket.into(), prefix: prefix.into(), keep }));
        }
        bail!("--from {from:?}: write file:PATH, sqs:QUEUE_URL or s3://BUCKET/PREFIX")
    }

    /// SQS: hold what is read for `hold` instead of replay's 15 minutes (`fanin dlq`, which
    /// only looks, releases it all when done; the hold only matters if it is killed first).
    pub fn with_sqs_hold(mut self, hold: Duration) -> Store {
        if let Store::Sqs(s) = &mut self {
            s.hold = hold;
        }
        self
    }

    /// SQS: the last `load` stopped before the queue was read through, because a message it had
    /// read came back (its hold ran out first); what it returned is all read once, but not all.
    pub fn cut_short(&self) -> bool {
        matches!(self, Store::Sqs(s) if s.cut_short.load(Ordering::SeqCst))
    }

    /// Reads every dead letter; the ones that cannot be read are returned as errors, untouched.
    pub async fn load(&self) -> anyhow::Result<(Vec<Item>, Vec<String>)> {
        match self {
            Store::File(s) => s.load(),
            Store::Sqs(s) => s.load().await,
            Store::S3(s) => s.load().await,
        }
    }

    /// Lambda accepted it: remove it from the store.
    pub async fn remove(&self, item: &Item) -> anyhow::Result<()> {
        match self {
            Store::File(s) => s.settle(item, None),
            Store::Sqs(s) => s.delete(&item.key).await,
            Store::S3(s) => s.remove(&item.key).await,
        }
    }

    /// It died again: replace it with `record` (which carries the raised replay count).
    pub async fn put_back(&self, item: &Item, record: &DeadLetterRecord) -> anyhow::Result<()> {
        let body = serde_json::to_string(record)?;
        match self {
            Store::File(s) => s.settle(item, Some(body)),
            Store::Sqs(s) => {
                s.send(&item.key, body).await?;
                s.delete(&item.key).await
            }
            Store::S3(s) => s.put(&item.key, body).await,
        }
    }

    /// Makes what was settled so far durable (the file store rewrites its file).
    pub fn flush(&self) -> anyhow::Result<()> {
        match self {
            Store::File(s) => s.rewrite(),
            _ => Ok(()),
        }
    }

    /// Hands back what was read and not settled (SQS: visible again at once, for a rerun).
    pub async fn release(&self, items: &[&Item]) {
        if let Store::Sqs(s) = self {
            for item in items {
                let _ = s.client.change_message_visibility().queue_url(&s.queue_url).receipt_handle(&item.key).visibility_timeout(0).send().await;
            }
        }
    }
}

/// A JSON-lines file (fanin's `file` sink).
pub struct FileStore {
    path: PathBuf,
    state: Mutex<FileState>,
}

#[derive(Default)]
struct FileState {
    /// The lines as first read (bytes: a line that is not UTF-8 is kept as it was); line
    /// numbers are the items' keys for the whole run.
    lines: Vec<Vec<u8>>,
    /// Line number → its replacement (`None`: removed); grows over the run.
    settled: HashMap<usize, Option<String>>,
    /// Length of the file as fanin last wrote (or first read) it.
    written_len: usize,
    /// Lines others (a running daemon) appended since: kept at the end of every rewrite.
    appended: Vec<u8>,
}

impl FileStore {
    fn load(&self) -> anyhow::Result<(Vec<Item>, Vec<String>)> {
        let bytes = std::fs::read(&self.path).with_context(|| format!("reading {}", self.path.display()))?;
        let mut state = self.state.lock().unwrap();
        let lines = bytes.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec());
        let mut lines: Vec<Vec<u8>> = lines.collect();
        // The text after the last newline (nothing, in a whole file) is a line only if not empty.
        if lines.last().is_some_and(Vec::is_empty) {
            lines.pop();
        }
        *state = FileState { written_len: bytes.len(), lines, ..Default::default() };
        let (mut items, mut errors) = (vec![], vec![]);
        for (n, line) in state.lines.iter().enumerate() {
            let key = format!("{}:{}", self.path.display(), n + 1);
            let line = match std::str::from_utf8(line) {
                Ok(line) if line.trim().is_empty() => continue,
                Ok(line) => line,
                Err(e) => {
                    errors.push(format!("{key}: not UTF-8 ({e})"));
                    continue;
                }
            };
            match item::parse(line, &key, None) {
                Ok(letter) => items.push(Item { key: n.to_string(), letter }),
                Err(e) => errors.push(format!("{key}: {e}")),
            }
        }
        Ok((items, errors))
    }

    fn settle(&self, item: &Item, replacement: Option<String>) -> anyhow::Result<()> {
        let n: usize = item.key.parse()?;
        self.state.lock().unwrap().settled.insert(n, replacement);
        Ok(())
    }

    /// Writes the remaining records to a temporary file, fsyncs it, and renames it over the
    /// original: a crash leaves either the old file or the new one, never half of each.
    fn rewrite(&self) -> anyhow::Result<()> {
        let mut state = self.state.lock().unwrap();
        if state.settled.is_empty() {
            return Ok(());
        }
        let current = std::fs::read(&self.path).with_context(|| format!("reading {}", self.path.display()))?;
        let new_tail = current.get(state.written_len..).unwrap_or_default().to_vec();
        state.appended.extend_from_slice(&new_tail);
        let mut out = Vec::new();
        for (n, line) in state.lines.iter().enumerate() {
            match state.settled.get(&n) {
                Some(None) => {}
                Some(Some(replacement)) => writeln!(out, "{replacement}")?,
                None => {
                    out.extend_from_slice(line);
                    out.push(b'\n');
                }
            }
        }
        out.extend_from_slice(&state.appended);
        let tmp = self.path.with_extension("replay.tmp");
        let mut file = std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
        file.write_all(&out)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        state.written_len = out.len();
        Ok(())
    }
}

/// An SQS queue: fanin's `sqs` sink, a Lambda on-failure destination, or a legacy Lambda DLQ.
/// A message that points at a record in S3 (the sink's `large_records`) is read through.
pub struct SqsStore {
    client: aws_sdk_sqs::Client,
    s3: aws_sdk_s3::Client,
    queue_url: String,
    /// Receipt → where its record was in S3, for the records that came through a pointer.
    offloaded: Mutex<HashMap<String, (String, String)>>,
    /// The visibility timeout asked for on receive.
    hold: Duration,
    /// Set when a load met a message it had already read (see `Store::cut_short`).
    cut_short: AtomicBool,
}

fn sqs_error<E: std::error::Error + Send + Sync + 'static>(e: aws_sdk_sqs::error::SdkError<E>) -> anyhow::Error {
    anyhow::anyhow!("{}", DisplayErrorContext(e))
}

impl SqsStore {
    async fn load(&self) -> anyhow::Result<(Vec<Item>, Vec<String>)> {
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
                let attr = |name: &str| {
                    m.message_attributes().and_then(|a| a.get(name)).and_then(|v| v.string_value()).map(str::to_string)
                };
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
            let _ = self.client.change_message_visibility().queue_url(&self.queue_url).receipt_handle(&receipt).visibility_timeout(0).send().await;
        }
        result.map(|()| (items, errors))
    }

    async fn delete(&self, receipt: &str) -> anyhow::Result<()> {
        self.client.delete_message().queue_url(&self.queue_url).receipt_handle(receipt).send().await.map_err(sqs_error)?;
        Ok(())
    }

    /// The record a pointer message names.
    async fn fetch(&self, bucket: &str, key: &str) -> Result<String, String> {
        let out = self.s3.get_object().bucket(bucket).key(key).send().await.map_err(|e| format!("s3://{bucket}/{key}: {}", aws_sdk_s3::error::DisplayErrorContext(e)))?;
        let bytes = out.body.collect().await.map_err(|e| format!("s3://{bucket}/{key}: {e}"))?.into_bytes();
        String::from_utf8(bytes.to_vec()).map_err(|e| format!("s3://{bucket}/{key}: {e}"))
    }

    /// Sends `body` in place of the message `receipt`: as it is, or, when it is over SQS's size,
    /// to where the record it replaces was kept in S3, with a pointer message.
    async fn send(&self, receipt: &str, body: String) -> anyhow::Result<()> {
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

/// S3 objects under a prefix: fanin's `s3` sink or a Lambda on-failure destination.
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    /// Move replayed objects under `replayed/` instead of deleting them.
    keep: bool,
}

/// `CopySource` is URL-encoded: every byte but unreserved characters and `/`.
fn percent_encode_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn s3_error<E: std::error::Error + Send + Sync + 'static>(e: aws_sdk_s3::error::SdkError<E>) -> anyhow::Error {
    anyhow::anyhow!("{}", aws_sdk_s3::error::DisplayErrorContext(e))
}

impl S3Store {
    async fn load(&self) -> anyhow::Result<(Vec<Item>, Vec<String>)> {
        let (mut items, mut errors) = (vec![], vec![]);
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(&self.prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(s3_error)?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                if key.starts_with(&format!("{}replayed/", self.prefix)) {
                    continue;
                }
                let body = self.client.get_object().bucket(&self.bucket).key(key).send().await.map_err(s3_error)?;
                let bytes = body.body.collect().await?.into_bytes();
                match item::parse(&String::from_utf8_lossy(&bytes), key, None) {
                    Ok(letter) => items.push(Item { key: key.to_string(), letter }),
                    Err(e) => errors.push(format!("s3://{}/{key}: {e}", self.bucket)),
                }
            }
        }
        Ok((items, errors))
    }

    async fn remove(&self, key: &str) -> anyhow::Result<()> {
        if self.keep {
            let rest = key.strip_prefix(&self.prefix).unwrap_or(key);
            let target = format!("{}replayed/{rest}", self.prefix);
            let source = format!("{}/{}", self.bucket, percent_encode_key(key));
            self.client.copy_object().bucket(&self.bucket).key(target).copy_source(source).send().await.map_err(s3_error)?;
        }
        self.client.delete_object().bucket(&self.bucket).key(key).send().await.map_err(s3_error)?;
        Ok(())
    }

    async fn put(&self, key: &str, body: String) -> anyhow::Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body.into_bytes()))
            .send()
            .await
            .map_err(s3_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_are_url_encoded_as_s3_requires() {
        // moto takes an unencoded CopySource; S3 does not.
        assert_eq!(percent_encode_key("dlq/2026/event 1+x.json"), "dlq/2026/event%201%2Bx.json");
        assert_eq!(percent_encode_key("ü/%"), "%C3%BC/%25");
    }
}
