//! A fast in-process fake of Amazon SQS over its JSON protocol (`POST /`,
//! `Content-Type: application/x-amz-json-1.0`, `X-Amz-Target: AmazonSQS.<Action>`), good
//! enough for the real `aws-sdk-sqs` client, for throughput benchmarks.
//!
//! One queue (`http://127.0.0.1:PORT/123456789012/bench`) preloaded with `n` messages.
//! ReceiveMessage hands out each message once (no visibility timeout, no redelivery); when
//! none are left it waits min(WaitTimeSeconds, 1 s) and answers `{}`. DeleteMessage(Batch)
//! and ChangeMessageVisibility(Batch) answer success for every entry; deletes are counted
//! once per message. [`FakeSqs::start_handing_out_twice`] hands every message out a second
//! time, after all first copies and only while it is not deleted, with a new receipt handle;
//! from then on only that newest handle deletes it (as SQS promises no more).
//! [`FakeSqs::start_with_visibility`] keeps SQS's visibility timeout instead: a message
//! received becomes visible again when the `VisibilityTimeout` of its receive (30 s if none)
//! runs out, unless ChangeMessageVisibility(Batch) with its newest receipt handle moved that
//! deadline, and is then handed out again with a new handle and a higher
//! `ApproximateReceiveCount`. The `WaitTimeSeconds` of every receive is recorded.
//! GetQueueAttributes and GetQueueUrl answer for the one queue.
//! SendMessage and SendMessageBatch take every message and count it (nothing is kept to
//! receive: they are for measuring senders). Anything
//! else is 400 `UnsupportedOperation`; another queue is 400 `QueueDoesNotExist`.
//!
//! The server runs on its own thread with its own single-threaded tokio runtime (HTTP/1.1
//! keep-alive) and stops when dropped.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::{json, Map, Value};
use tokio::sync::oneshot;

use super::serve::{spawn_server, Resp};

pub const ACCOUNT: &str = "123456789012";
pub const QUEUE_NAME: &str = "bench";
pub const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:bench";
const SENDER_ID: &str = "AIDAIENQZJOLO23YVJ4VO";

struct State {
    bodies: Vec<String>,
    /// Index of the next message to hand out.
    next: AtomicUsize,
    deleted_flags: Vec<AtomicBool>,
    /// Whether each message is handed out a second time.
    twice: bool,
    /// With a visibility timeout kept: per message, when it is visible again (`None`: never
    /// received yet).
    visibility: Option<Mutex<Vec<Option<Instant>>>>,
    /// Per message, the copy whose receipt handle deletes it (0, then 1, 2… each time it is
    /// handed out again).
    latest_copy: Vec<AtomicUsize>,
    /// `WaitTimeSeconds` of each ReceiveMessage request (`None` when it was not sent).
    wait_times: Mutex<Vec<Option<i64>>>,
    deleted: AtomicUsize,
    receive_calls: AtomicUsize,
    /// DeleteMessage and DeleteMessageBatch requests.
    delete_calls: AtomicUsize,
    /// ChangeMessageVisibility(Batch) requests.
    visibility_calls: AtomicUsize,
    /// Messages taken by SendMessage(Batch), and the requests that brought them.
    sent: AtomicUsize,
    send_calls: AtomicUsize,
    sent_timestamp: String,
    queue_url: String,
}

/// The running fake SQS; stops when dropped.
pub struct FakeSqs {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeSqs {
    /// Starts a fake SQS whose queue holds `n_messages`, message `i` having body `body(i)`.
    pub fn start(n_messages: usize, body: impl Fn(usize) -> String) -> FakeSqs {
        Self::start_with(n_messages, body, false, false)
    }

    /// As [`FakeSqs::start`], but every message not yet deleted is handed out once more.
    pub fn start_handing_out_twice(n_messages: usize, body: impl Fn(usize) -> String) -> FakeSqs {
        Self::start_with(n_messages, body, true, false)
    }

    /// As [`FakeSqs::start`], but a message not deleted nor kept invisible by
    /// ChangeMessageVisibility(Batch) is handed out again when its visibility timeout runs out.
    pub fn start_with_visibility(n_messages: usize, body: impl Fn(usize) -> String) -> FakeSqs {
        Self::start_with(n_messages, body, false, true)
    }

    fn start_with(n_messages: usize, body: impl Fn(usize) -> String, twice: bool, visibility: bool) -> FakeSqs {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            bodies: (0..n_messages).map(body).collect(),
            next: AtomicUsize::new(0),
            deleted_flags: (0..n_messages).map(|_| AtomicBool::new(false)).collect(),
            twice,
            visibility: visibility.then(|| Mutex::new(vec![None; n_messages])),
            latest_copy: (0..n_messages).map(|_| AtomicUsize::new(0)).collect(),
            wait_times: Mutex::new(Vec::new()),
            deleted: AtomicUsize::new(0),
            receive_calls: AtomicUsize::new(0),
            delete_calls: AtomicUsize::new(0),
            visibility_calls: AtomicUsize::new(0),
            sent: AtomicUsize::new(0),
            send_calls: AtomicUsize::new(0),
            sent_timestamp: epoch_millis().to_string(),
            queue_url: format!("http://{addr}/{ACCOUNT}/{QUEUE_NAME}"),
        });
        let server_state = state.clone();
        let (shutdown, thread) = spawn_server("fake-sqs", listener, move |req, _| handle(req, server_state.clone()));
        FakeSqs { addr, state, shutdown: Some(shutdown), thread: Some(thread) }
    }

    /// `http://127.0.0.1:PORT`, for `endpoint_url` / `AWS_ENDPOINT_URL_SQS`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// `http://127.0.0.1:PORT/123456789012/bench`.
    pub fn queue_url(&self) -> String {
        self.state.queue_url.clone()
    }
    pub fn queue_arn(&self) -> String {
        QUEUE_ARN.to_string()
    }
    /// Messages preloaded.
    pub fn total(&self) -> usize {
        self.state.bodies.len()
    }
    /// Messages handed out by ReceiveMessage so far.
    pub fn received(&self) -> usize {
        self.state.next.load(Ordering::Relaxed).min(self.state.bodies.len())
    }
    /// Messages handed out more than once so far.
    pub fn handed_out_again(&self) -> usize {
        self.state.latest_copy.iter().filter(|c| c.load(Ordering::Relaxed) >= 1).count()
    }
    /// The `WaitTimeSeconds` of every ReceiveMessage request so far, in order (`None`: not sent).
    pub fn wait_times(&self) -> Vec<Option<i64>> {
        self.state.wait_times.lock().unwrap().clone()
    }
    /// Distinct messages deleted so far (a second delete of the same receipt handle, or
    /// an unknown handle, is answered Successful but not counted).
    pub fn deleted(&self) -> usize {
        self.state.deleted.load(Ordering::Relaxed)
    }
    /// ReceiveMessage requests served so far (empty ones included).
    pub fn receive_calls(&self) -> usize {
        self.state.receive_calls.load(Ordering::Relaxed)
    }
    /// Delete requests served so far (a batch counts once).
    pub fn delete_calls(&self) -> usize {
        self.state.delete_calls.load(Ordering::Relaxed)
    }
    /// Visibility-change requests served so far (a batch counts once).
    /// Messages taken by SendMessage(Batch).
    pub fn sent(&self) -> usize {
        self.state.sent.load(Ordering::Relaxed)
    }

    /// SendMessage(Batch) requests.
    pub fn send_calls(&self) -> usize {
        self.state.send_calls.load(Ordering::Relaxed)
    }

    pub fn visibility_calls(&self) -> usize {
        self.state.visibility_calls.load(Ordering::Relaxed)
    }
    /// Polls (blocking, every 5 ms) until `deleted() >= n`; false on timeout.
    pub fn wait_for_deleted(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.deleted() < n {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }
}

impl Drop for FakeSqs {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The request fields of all the supported actions (each uses some).
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Input {
    queue_url: String,
    queue_name: String,
    max_number_of_messages: Option<i64>,
    wait_time_seconds: Option<i64>,
    attribute_names: Vec<String>,
    message_system_attribute_names: Vec<String>,
    receipt_handle: String,
    visibility_timeout: Option<i64>,
    entries: Vec<Entry>,
    message_body: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Entry {
    id: String,
    receipt_handle: String,
    visibility_timeout: Option<i64>,
    message_body: String,
}

async fn handle(req: Request<Incoming>, st: Arc<State>) -> Resp {
    let action = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix("AmazonSQS."))
        .unwrap_or("")
        .to_string();
    match action.as_str() {
        "DeleteMessage" | "DeleteMessageBatch" => st.delete_calls.fetch_add(1, Ordering::Relaxed),
        "ChangeMessageVisibility" | "ChangeMessageVisibilityBatch" => st.visibility_calls.fetch_add(1, Ordering::Relaxed),
        _ => 0,
    };
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return error(400, "InvalidParameterValue", "unreadable body", None),
    };
    let input: Input = match serde_json::from_slice(if body.is_empty() { b"{}" } else { &body }) {
        Ok(input) => input,
        Err(e) => return error(400, "SerializationException", &format!("invalid request body: {e}"), None),
    };

    if action == "GetQueueUrl" {
        return if input.queue_name == QUEUE_NAME { ok(json!({ "QueueUrl": st.queue_url }).to_string()) } else { queue_does_not_exist() };
    }
    let known = matches!(
        action.as_str(),
        "ReceiveMessage"
            | "DeleteMessage"
            | "DeleteMessageBatch"
            | "ChangeMessageVisibility"
            | "ChangeMessageVisibilityBatch"
            | "GetQueueAttributes"
            | "SendMessage"
            | "SendMessageBatch"
    );
    if !known {
        return error(400, "UnsupportedOperation", &format!("fake SQS does not implement {action:?}"), None);
    }
    if input.queue_url.rsplit('/').next() != Some(QUEUE_NAME) {
        return queue_does_not_exist();
    }
    let wants = |name: &str| input.attribute_names.iter().chain(&input.message_system_attribute_names).any(|w| w == name || w == "All");

    match action.as_str() {
        "SendMessage" => {
            st.send_calls.fetch_add(1, Ordering::Relaxed);
            let n = st.sent.fetch_add(1, Ordering::Relaxed);
            ok(json!({ "MessageId": format!("sent-{n}"), "MD5OfMessageBody": md5_hex(input.message_body.as_bytes()) }).to_string())
        }
        "SendMessageBatch" => {
            st.send_calls.fetch_add(1, Ordering::Relaxed);
            let first = st.sent.fetch_add(input.entries.len(), Ordering::Relaxed);
            let successful: Vec<Value> = input
                .entries
                .iter()
                .enumerate()
                .map(|(i, e)| json!({ "Id": e.id, "MessageId": format!("sent-{}", first + i), "MD5OfMessageBody": md5_hex(e.message_body.as_bytes()) }))
                .collect();
            ok(json!({ "Successful": successful, "Failed": [] }).to_string())
        }
        "ReceiveMessage" => {
            st.receive_calls.fetch_add(1, Ordering::Relaxed);
            st.wait_times.lock().unwrap().push(input.wait_time_seconds);
            let max = input.max_number_of_messages.unwrap_or(1);
            if !(1..=10).contains(&max) {
                let msg = "Value for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10.";
                return error(400, "InvalidParameterValue", msg, None);
            }
            let n = st.bodies.len();
            let picked: Vec<(usize, usize)> = if let Some(visibility) = &st.visibility {
                // The first `max` messages visible now, each invisible for the receive's timeout.
                let vt = Duration::from_secs(input.visibility_timeout.unwrap_or(30).max(0) as u64);
                let now = Instant::now();
                let mut visible_at = visibility.lock().unwrap();
                let mut picked = Vec::new();
                for i in 0..n {
                    if picked.len() == max as usize {
                        break;
                    }
                    if st.deleted_flags[i].load(Ordering::Relaxed) || visible_at[i].is_some_and(|at| at > now) {
                        continue;
                    }
                    let copy = if visible_at[i].is_some() { st.latest_copy[i].load(Ordering::Relaxed) + 1 } else { 0 };
                    visible_at[i] = Some(now + vt);
                    if copy == 0 {
                        st.next.fetch_add(1, Ordering::Relaxed);
                    }
                    picked.push((i, copy));
                }
                picked
            } else {
                let total = if st.twice { 2 * n } else { n };
                let start =
                    st.next.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some((n + max as usize).min(total))).unwrap_or(total);
                let end = (start + max as usize).min(total);
                // Positions past `n` are second copies, of messages not deleted yet.
                (start..end)
                    .map(|p| if p < n { (p, 0) } else { (p - n, 1) })
                    .filter(|&(i, copy)| copy == 0 || !st.deleted_flags[i].load(Ordering::Relaxed))
                    .collect()
            };
            for &(i, copy) in &picked {
                st.latest_copy[i].store(copy, Ordering::Relaxed);
            }
            if picked.is_empty() {
                let wait = input.wait_time_seconds.unwrap_or(0).clamp(0, 1) as u64;
                if wait > 0 {
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                }
                return ok("{}".to_string());
            }
            // Written by hand rather than through serde_json::Value: this is the hot path.
            let now = epoch_millis().to_string();
            let attributes: Vec<(&str, &str)> = [
                ("SenderId", SENDER_ID),
                ("SentTimestamp", st.sent_timestamp.as_str()),
                ("ApproximateReceiveCount", "1"),
                ("ApproximateFirstReceiveTimestamp", now.as_str()),
            ]
            .into_iter()
            .filter(|(name, _)| wants(name))
            .collect();
            let receive_counts: Vec<String> = picked.iter().map(|&(_, copy)| (copy + 1).to_string()).collect();
            let mut out = String::with_capacity(64 + picked.len() * (400 + st.bodies[picked[0].0].len()));
            out.push_str(r#"{"Messages":["#);
            for (k, &(i, copy)) in picked.iter().enumerate() {
                let body = &st.bodies[i];
                if k > 0 {
                    out.push(',');
                }
                let _ = write!(
                    out,
                    r#"{{"MessageId":"{}","ReceiptHandle":"rh-{i}-{copy}","MD5OfBody":"{}","Body":{}"#,
                    message_id(i),
                    md5_hex(body.as_bytes()),
                    Value::from(body.as_str()),
                );
                if !attributes.is_empty() {
                    out.push_str(r#","Attributes":{"#);
                    for (a, (name, value)) in attributes.iter().enumerate() {
                        let value = if *name == "ApproximateReceiveCount" { receive_counts[k].as_str() } else { value };
                        let _ = write!(out, r#"{}"{name}":"{value}""#, if a > 0 { "," } else { "" });
                    }
                    out.push('}');
                }
                out.push('}');
            }
            out.push_str("]}");
            ok(out)
        }
        "DeleteMessage" => {
            delete(&st, &input.receipt_handle);
            ok("{}".to_string())
        }
        "ChangeMessageVisibility" => {
            change_visibility(&st, &input.receipt_handle, input.visibility_timeout);
            ok("{}".to_string())
        }
        "DeleteMessageBatch" | "ChangeMessageVisibilityBatch" => {
            if input.entries.is_empty() || input.entries.len() > 10 {
                let code = if input.entries.is_empty() { "EmptyBatchRequest" } else { "TooManyEntriesInBatchRequest" };
                return error(400, code, "There should be between 1 and 10 entries in a batch request.", None);
            }
            let mut successful = Vec::with_capacity(input.entries.len());
            for e in &input.entries {
                if action == "DeleteMessageBatch" {
                    delete(&st, &e.receipt_handle);
                } else {
                    change_visibility(&st, &e.receipt_handle, e.visibility_timeout);
                }
                successful.push(json!({ "Id": e.id }));
            }
            ok(json!({ "Successful": successful, "Failed": [] }).to_string())
        }
        "GetQueueAttributes" => {
            let handed = st.next.load(Ordering::Relaxed).min(st.bodies.len());
            let in_flight = handed.saturating_sub(st.deleted.load(Ordering::Relaxed));
            let created = (epoch_millis() / 1000).to_string();
            let mut attrs = Map::new();
            for (name, value) in [
                ("QueueArn", QUEUE_ARN.to_string()),
                ("VisibilityTimeout", "30".to_string()),
                ("ApproximateNumberOfMessages", (st.bodies.len() - handed).to_string()),
                ("ApproximateNumberOfMessagesNotVisible", in_flight.to_string()),
                ("ApproximateNumberOfMessagesDelayed", "0".to_string()),
                ("CreatedTimestamp", created.clone()),
                ("LastModifiedTimestamp", created),
                ("MaximumMessageSize", "262144".to_string()),
                ("MessageRetentionPeriod", "345600".to_string()),
                ("DelaySeconds", "0".to_string()),
                ("ReceiveMessageWaitTimeSeconds", "0".to_string()),
                ("SqsManagedSseEnabled", "true".to_string()),
            ] {
                if wants(name) {
                    attrs.insert(name.to_string(), value.into());
                }
            }
            ok(json!({ "Attributes": attrs }).to_string())
        }
        _ => unreachable!(),
    }
}

/// The message whose newest receipt handle is `receipt_handle` (`rh-<index>-<copy>`); `None`
/// for an older or unknown handle.
fn newest(st: &State, receipt_handle: &str) -> Option<usize> {
    let parsed = receipt_handle
        .strip_prefix("rh-")
        .and_then(|r| r.split_once('-'))
        .and_then(|(i, copy)| Some((i.parse::<usize>().ok()?, copy.parse::<usize>().ok()?)));
    parsed.filter(|&(i, copy)| st.latest_copy.get(i).is_some_and(|c| c.load(Ordering::Relaxed) == copy)).map(|(i, _)| i)
}

/// With a visibility timeout kept, makes the message of `receipt_handle` (its newest) visible
/// again `seconds` from now.
fn change_visibility(st: &State, receipt_handle: &str, seconds: Option<i64>) {
    if let (Some(visibility), Some(i)) = (&st.visibility, newest(st, receipt_handle)) {
        let seconds = seconds.unwrap_or(0).max(0) as u64;
        visibility.lock().unwrap()[i] = Some(Instant::now() + Duration::from_secs(seconds));
    }
}

/// Deletes the message whose newest receipt handle is `receipt_handle` (`rh-<index>-<copy>`);
/// an older or unknown handle deletes nothing.
fn delete(st: &State, receipt_handle: &str) {
    if let Some(flag) = newest(st, receipt_handle).and_then(|i| st.deleted_flags.get(i)) {
        if !flag.swap(true, Ordering::Relaxed) {
            st.deleted.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn message_id(i: usize) -> String {
    format!("00000000-0000-4000-8000-{:012x}", i)
}

fn epoch_millis() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()
}

fn response(status: u16, body: String) -> Resp {
    Response::builder()
        .status(status)
        .header("Content-Type", "application/x-amz-json-1.0")
        .header("x-amzn-RequestId", "00000000-0000-4000-8000-000000000000")
        .body(Full::new(Bytes::from(body)))
        .expect("valid response")
}

fn ok(body: String) -> Resp {
    response(200, body)
}

/// `query_error` is the `x-amzn-query-error` header value; the SDK takes the error code
/// from it when present, and only recognises some modeled errors by that code.
fn error(status: u16, code: &str, message: &str, query_error: Option<&str>) -> Resp {
    let mut resp = response(status, json!({ "__type": format!("com.amazonaws.sqs#{code}"), "message": message }).to_string());
    if let Some(q) = query_error {
        resp.headers_mut().insert("x-amzn-query-error", q.parse().expect("header value"));
    }
    resp
}

fn queue_does_not_exist() -> Resp {
    // aws-sdk-sqs maps only the query code "AWS.SimpleQueueService.NonExistentQueue" to
    // its `QueueDoesNotExist` error variant, so the header is needed for that.
    error(400, "QueueDoesNotExist", "The specified queue does not exist.", Some("AWS.SimpleQueueService.NonExistentQueue;Sender"))
}

/// MD5 of `data` as lowercase hex (RFC 1321), as SQS puts in `MD5OfBody`.
pub fn md5_hex(data: &[u8]) -> String {
    const SHIFTS: [u32; 16] = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
    // K[i] = floor(|sin(i + 1)| * 2^32).
    const K: [u32; 64] = [
        0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1,
        0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453,
        0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942,
        0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05,
        0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d,
        0x85845dd1, 0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
    ];
    let mut state: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];

    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_le_bytes());

    for chunk in msg.chunks_exact(64) {
        let m: [u32; 16] = std::array::from_fn(|i| u32::from_le_bytes(chunk[i * 4..i * 4 + 4].try_into().unwrap()));
        let [mut a, mut b, mut c, mut d] = state;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let rotated = a.wrapping_add(f).wrapping_add(K[i]).wrapping_add(m[g]).rotate_left(SHIFTS[(i / 16) * 4 + i % 4]);
            (a, b, c, d) = (d, b.wrapping_add(rotated), b, c);
        }
        for (s, v) in state.iter_mut().zip([a, b, c, d]) {
            *s = s.wrapping_add(v);
        }
    }
    state.iter().flat_map(|w| w.to_le_bytes()).map(|b| format!("{b:02x}")).collect()
}
