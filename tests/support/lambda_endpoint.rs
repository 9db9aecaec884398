//! A fake AWS Lambda endpoint speaking the real `Invoke` wire protocol (REST-JSON),
//! for pointing the real `aws-sdk-lambda` client (or the fanin binary, through
//! `AWS_ENDPOINT_URL_LAMBDA`) at.
//!
//! * `POST /2015-03-31/functions/{FunctionName}/invocations[?Qualifier=Q]`, with
//!   `X-Amz-Invocation-Type` (Event | RequestResponse | DryRun, default RequestResponse),
//!   `X-Amz-Client-Context` (base64 JSON) and `X-Amz-Log-Type`; the body is the payload.
//! * Replies like Lambda: 202 / 200 (+ `X-Amz-Executed-Version`, `X-Amz-Log-Result`) / 204,
//!   errors as `{"Type":"User","message":…}` with `x-amzn-ErrorType`, always `x-amzn-RequestId`.
//! * Protocol checks done before any [`Behavior`] is asked: an unknown invocation type, a
//!   client context that is not base64 JSON, or a qualifier in the name that differs from
//!   `?Qualifier=` give 400 InvalidParameterValueException; a payload over the limit gives
//!   413 RequestTooLargeException; a non-JSON payload gives 400 InvalidRequestContentException.
//! * Per-function [`Behavior`]s decide every other reply, including faults: [`Reply::Slow`]
//!   and [`Reply::Drop`] (the TCP connection is closed without a response).
//! * Every invocation request is recorded (see [`Invocation`]), the failed ones too, with
//!   when it arrived and when it was answered; [`LambdaEndpoint::max_in_flight`] tells the
//!   most calls that were open at once.
//! * A call counts as accepted from its arrival (the default, [`Accepted::OnArrival`]) or
//!   only once its answer is sent ([`Accepted::OnAnswer`]): a slow accept is then not yet
//!   delivered while it sleeps, as fanin sees it.
//!
//! The server runs on its own thread with its own single-threaded tokio runtime, so it
//! works from plain `#[test]`s as well as from async code; it stops when dropped.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use tokio::sync::{oneshot, Notify};

use super::serve::{spawn_server, Resp};

/// Account and region used in the ARNs this endpoint makes up (error messages).
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
/// Real Lambda's payload limits: 1 MiB for asynchronous (Event) invokes (256 KiB before
/// October 2025), 6 MiB for synchronous ones. Change with [`LambdaEndpoint::set_payload_limits`].
pub const DEFAULT_EVENT_PAYLOAD_LIMIT: usize = 1024 * 1024;
pub const DEFAULT_SYNC_PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;

/// The `X-Amz-Invocation-Type` of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvocationType {
    Event,
    RequestResponse,
    DryRun,
    /// Anything else; answered 400 InvalidParameterValueException.
    Other(String),
}

impl InvocationType {
    fn parse(header: Option<&str>) -> InvocationType {
        match header {
            None | Some("RequestResponse") => InvocationType::RequestResponse,
            Some("Event") => InvocationType::Event,
            Some("DryRun") => InvocationType::DryRun,
            Some(other) => InvocationType::Other(other.to_string()),
        }
    }
}

/// One recorded invocation request.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// The `x-amzn-RequestId` it was answered with.
    pub request_id: String,
    /// `FunctionName` as sent in the path, percent-decoded (name, `name:alias`, partial or full ARN).
    pub function: String,
    /// The bare function name parsed out of `function`.
    pub function_name: String,
    /// `?Qualifier=`, else the qualifier suffix of `function`.
    pub qualifier: Option<String>,
    pub invocation_type: InvocationType,
    /// `X-Amz-Log-Type` (`None` / `Tail`).
    pub log_type: Option<String>,
    /// `X-Amz-Client-Context`, base64-decoded; `None` when absent or not decodable.
    pub client_context: Option<String>,
    pub payload: Vec<u8>,
    pub received_at: Instant,
    pub received_wall: SystemTime,
    /// The status it is answered with: with [`Accepted::OnArrival`] decided on arrival (so a
    /// `Slow` reply already shows its final status while it is still sleeping), with
    /// [`Accepted::OnAnswer`] `None` until the answer is sent; `None` for [`Reply::Drop`].
    pub status: Option<u16>,
    /// When its answer was sent (`None` while it is open, and for [`Reply::Drop`]).
    pub answered_at: Option<Instant>,
    /// Whether it came to the function's URL (`POST /url/<function>/`) rather than Invoke.
    pub via_url: bool,
    /// The `Authorization` header (SigV4 for Invoke and IAM-authenticated URLs).
    pub authorization: Option<String>,
    /// `X-Amzn-Trace-Id`: the X-Ray trace the call was made in.
    pub trace_header: Option<String>,
}

impl Invocation {
    pub fn is_accepted(&self) -> bool {
        matches!(self.status, Some(200..=299))
    }
    /// The payload as UTF-8 (lossy).
    pub fn payload_str(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
    /// The payload parsed as JSON (`Null` when empty or not JSON).
    pub fn payload_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).unwrap_or(serde_json::Value::Null)
    }
}

/// When a call's status (and so its being accepted) is recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// As soon as the reply is decided, before a [`Reply::Slow`] sleeps.
    OnArrival,
    /// Only when the answer is sent.
    OnAnswer,
}

/// How to answer one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Success: 202 for Event, 200 with body `null` for RequestResponse, 204 for DryRun.
    Accept,
    /// Success; RequestResponse gets this body (Event and DryRun ignore it).
    AcceptWith(Vec<u8>),
    /// 429 TooManyRequestsException with this `Reason` (e.g. "ReservedFunctionConcurrentInvocationLimitExceeded",
    /// "CallerRateLimitExceeded"); `retry_after` goes to the `Retry-After` header and `retryAfterSeconds` in the body.
    Throttle { reason: String, retry_after: Option<u64> },
    /// Any error reply: `x-amzn-ErrorType: code`, body `{"Type":…,"message":…}` (Type "Service" for ServiceException, else "User").
    Error { status: u16, code: String, message: String },
    /// A synchronous call whose function failed: 200 with `X-Amz-Function-Error: kind`
    /// (`Unhandled` / `Handled`) and Lambda's error payload (`errorType`, `errorMessage`);
    /// an asynchronous one is accepted as usual (the function fails later, out of sight).
    FunctionError { kind: String, error_type: String, message: String },
    /// Sleep, then answer with the inner reply.
    Slow(Duration, Box<Reply>),
    /// Close the TCP connection without answering.
    Drop,
}

impl Reply {
    pub fn throttle(reason: &str, retry_after: Option<u64>) -> Reply {
        Reply::Throttle { reason: reason.to_string(), retry_after }
    }
    pub fn error(status: u16, code: &str, message: &str) -> Reply {
        Reply::Error { status, code: code.to_string(), message: message.to_string() }
    }
    /// 500 ServiceException.
    pub fn service_error() -> Reply {
        Reply::error(500, "ServiceException", "An internal error occurred.")
    }
    /// 404 ResourceNotFoundException.
    pub fn not_found(function: &str) -> Reply {
        Reply::error(404, "ResourceNotFoundException", &format!("Function not found: {}", function_arn(function, None)))
    }
    /// 403 AccessDeniedException.
    pub fn access_denied() -> Reply {
        Reply::error(403, "AccessDeniedException", "User is not authorized to perform: lambda:InvokeFunction")
    }
    /// 413 RequestTooLargeException.
    pub fn too_large() -> Reply {
        Reply::error(413, "RequestTooLargeException", "Request must be smaller than 1048576 bytes for the Invoke operation")
    }
    /// 502 ResourceNotReadyException.
    pub fn not_ready() -> Reply {
        Reply::error(502, "ResourceNotReadyException", "The function is currently in the following state: Pending")
    }
    pub fn slow(delay: Duration, then: Reply) -> Reply {
        Reply::Slow(delay, Box::new(then))
    }

    /// Total delay and the final (non-`Slow`) reply.
    fn resolve(&self) -> (Duration, &Reply) {
        match self {
            Reply::Slow(d, inner) => {
                let (d2, r) = inner.resolve();
                (*d + d2, r)
            }
            r => (Duration::ZERO, r),
        }
    }

    /// The status this reply answers a request of type `t` with (`None` for `Drop`).
    fn status(&self, t: &InvocationType) -> Option<u16> {
        match self.resolve().1 {
            // A function error is a 200 at the HTTP level.
            Reply::Accept | Reply::AcceptWith(_) | Reply::FunctionError { .. } => Some(match t {
                InvocationType::Event => 202,
                InvocationType::DryRun => 204,
                _ => 200,
            }),
            Reply::Throttle { .. } => Some(429),
            Reply::Error { status, .. } => Some(*status),
            Reply::Drop => None,
            Reply::Slow(..) => unreachable!(),
        }
    }
}

/// Decides the reply to each request of a function, given the request (its `status` not
/// yet set) and how many times the same payload bytes were seen for this function before
/// (0 on first arrival).
#[derive(Clone)]
pub struct Behavior(Arc<DecideFn>);

type DecideFn = dyn Fn(&Invocation, u32) -> Reply + Send + Sync;

impl fmt::Debug for Behavior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Behavior(..)")
    }
}

impl Behavior {
    pub fn from_fn(f: impl Fn(&Invocation, u32) -> Reply + Send + Sync + 'static) -> Behavior {
        Behavior(Arc::new(f))
    }
    /// Always the same reply.
    pub fn always(reply: Reply) -> Behavior {
        Behavior::from_fn(move |_, _| reply.clone())
    }
    /// Always success (the default for functions without a behavior).
    pub fn accept() -> Behavior {
        Behavior::always(Reply::Accept)
    }
    /// The function does not exist: 404 ResourceNotFoundException naming its ARN.
    pub fn not_found() -> Behavior {
        Behavior::from_fn(|inv, _| {
            Reply::error(
                404,
                "ResourceNotFoundException",
                &format!("Function not found: {}", function_arn(&inv.function_name, inv.qualifier.as_deref())),
            )
        })
    }
    /// Fail with `reply` the first `n` times each payload arrives, then succeed.
    pub fn fail_first(n: u32, reply: Reply) -> Behavior {
        Behavior::from_fn(move |_, seen| if seen < n { reply.clone() } else { Reply::Accept })
    }
    /// A seeded random mix: each `(probability, reply)` is chosen with that probability,
    /// the remaining probability is `Accept`. E.g.
    /// `random(7, vec![(0.3, Reply::throttle("CallerRateLimitExceeded", Some(1))), (0.1, Reply::service_error())])`.
    /// The draw is a hash of (seed, payload, times seen), so each delivery attempt of each
    /// payload gets the same answer on every run, whatever the arrival order.
    pub fn random(seed: u64, mix: Vec<(f64, Reply)>) -> Behavior {
        Behavior::from_fn(move |inv, seen| {
            let mut h = fnv1a(seed.to_le_bytes().iter().chain(&inv.payload).chain(&seen.to_le_bytes()));
            // splitmix64 finaliser for well-spread bits, then 53 bits to [0, 1).
            h = (h ^ (h >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
            h = (h ^ (h >> 27)).wrapping_mul(0x94d049bb133111eb);
            h ^= h >> 31;
            let mut x = (h >> 11) as f64 / (1u64 << 53) as f64;
            for (p, reply) in &mix {
                if x < *p {
                    return reply.clone();
                }
                x -= p;
            }
            Reply::Accept
        })
    }
}

fn fnv1a<'a>(bytes: impl Iterator<Item = &'a u8>) -> u64 {
    bytes.fold(0xcbf29ce484222325, |h, b| (h ^ *b as u64).wrapping_mul(0x100000001b3))
}

/// `arn:aws:lambda:us-east-1:123456789012:function:NAME[:QUALIFIER]`.
pub fn function_arn(name: &str, qualifier: Option<&str>) -> String {
    match qualifier {
        Some(q) => format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:{q}"),
        None => format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"),
    }
}

/// Splits any accepted `FunctionName` form into (bare name, qualifier suffix).
pub fn parse_function_name(function: &str) -> (String, Option<String>) {
    let parts: Vec<&str> = function.split(':').collect();
    let (name, qualifier) = match parts.as_slice() {
        ["arn", _partition, "lambda", _region, _account, "function", name] => (*name, None),
        ["arn", _partition, "lambda", _region, _account, "function", name, q] => (*name, Some(*q)),
        [_account, "function", name] => (*name, None),
        [_account, "function", name, q] => (*name, Some(*q)),
        [name, q] => (*name, Some(*q)),
        _ => (function, None),
    };
    (name.to_string(), qualifier.map(str::to_string))
}

struct State {
    behaviors: HashMap<String, Behavior>,
    default: Behavior,
    invocations: Vec<Invocation>,
    /// DryRun requests (`validate`, and `fanin run`'s check of each target at start), kept
    /// apart: they run nothing, so a test counting what the function received never sees them.
    dry_runs: Vec<Invocation>,
    /// How many of `invocations` are accepted (2xx).
    accepted: usize,
    /// Times each (bare function name, payload) was seen.
    seen: HashMap<(String, Vec<u8>), u32>,
    event_limit: usize,
    sync_limit: usize,
    /// Whether invocations and payload-seen counts are kept (not for benchmarks' millions).
    record: bool,
    accepted_when: Accepted,
}

/// The running fake endpoint; stops when dropped.
pub struct LambdaEndpoint {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl LambdaEndpoint {
    /// Binds 127.0.0.1 on a free port and serves on a thread of its own.
    pub fn start() -> LambdaEndpoint {
        Self::start_with(true)
    }

    /// As [`LambdaEndpoint::start`], but only counting: no invocation is kept, so a benchmark
    /// can send millions; behaviors see every payload as new.
    pub fn start_counting() -> LambdaEndpoint {
        Self::start_with(false)
    }

    fn start_with(record: bool) -> LambdaEndpoint {
        let state = Arc::new(Mutex::new(State {
            behaviors: HashMap::new(),
            default: Behavior::accept(),
            invocations: Vec::new(),
            dry_runs: Vec::new(),
            accepted_when: Accepted::OnArrival,
            accepted: 0,
            seen: HashMap::new(),
            event_limit: DEFAULT_EVENT_PAYLOAD_LIMIT,
            sync_limit: DEFAULT_SYNC_PAYLOAD_LIMIT,
            record,
        }));
        let server_state = state.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let (shutdown, thread) = spawn_server("fake-lambda", listener, move |req, kill| handle(req, server_state.clone(), kill));
        LambdaEndpoint { addr, state, shutdown: Some(shutdown), thread: Some(thread) }
    }

    /// `http://127.0.0.1:PORT`, for `endpoint_url` / `AWS_ENDPOINT_URL_LAMBDA`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// The URL of `function`'s function URL here (`POST` the event to it).
    pub fn function_url(&self, function: &str) -> String {
        format!("http://{}/url/{function}/", self.addr)
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the behavior of a function, by bare name (applies to all its qualifiers and ARN forms).
    pub fn set_behavior(&self, function: &str, behavior: Behavior) {
        self.lock().behaviors.insert(function.to_string(), behavior);
    }
    /// Behavior of functions without one of their own (initially always-accept).
    pub fn set_default_behavior(&self, behavior: Behavior) {
        self.lock().default = behavior;
    }
    /// Makes these functions answer 404 ResourceNotFoundException.
    pub fn set_missing(&self, functions: &[&str]) {
        for f in functions {
            self.set_behavior(f, Behavior::not_found());
        }
    }
    /// Only these functions exist: everything else answers 404 (they keep their behaviors, default accept).
    pub fn set_only_existing(&self, functions: &[&str]) {
        let existing: HashSet<String> = functions.iter().map(|f| f.to_string()).collect();
        let mut st = self.lock();
        for f in &existing {
            st.behaviors.entry(f.clone()).or_insert_with(Behavior::accept);
        }
        st.default = Behavior::not_found();
    }
    /// Payload limits above which 413 RequestTooLargeException is answered.
    pub fn set_payload_limits(&self, event: usize, sync: usize) {
        let mut st = self.lock();
        st.event_limit = event;
        st.sync_limit = sync;
    }

    /// Whether a call is accepted when it arrives (the default) or when its answer is sent.
    pub fn set_accepted_when(&self, when: Accepted) {
        self.lock().accepted_when = when;
    }

    /// The most calls of `function` (Invoke and URL, by bare name) that were open at once: each
    /// call is open from its arrival until its answer was sent (still open if never answered).
    pub fn max_in_flight(&self, function: &str) -> usize {
        max_overlap(&self.invocations_for(function))
    }

    /// The DryRun requests so far, in arrival order.
    pub fn dry_runs(&self) -> Vec<Invocation> {
        self.lock().dry_runs.clone()
    }
    /// All invocation requests so far but DryRuns, in arrival order.
    pub fn invocations(&self) -> Vec<Invocation> {
        self.lock().invocations.clone()
    }
    /// Those of one function (by bare name).
    pub fn invocations_for(&self, function: &str) -> Vec<Invocation> {
        self.lock().invocations.iter().filter(|i| i.function_name == function).cloned().collect()
    }
    /// The payloads (JSON) of one function's invocations that were answered 2xx, in order.
    pub fn accepted_payloads(&self, function: &str) -> Vec<serde_json::Value> {
        self.invocations_for(function).iter().filter(|i| i.is_accepted()).map(|i| i.payload_json()).collect()
    }
    /// Only those answered 2xx.
    pub fn accepted(&self) -> Vec<Invocation> {
        self.lock().invocations.iter().filter(|i| i.is_accepted()).cloned().collect()
    }
    /// Number of requests so far (cheap, no copy).
    pub fn count(&self) -> usize {
        self.lock().invocations.len()
    }
    /// Number of requests answered 2xx so far (cheap, no copy).
    pub fn accepted_count(&self) -> usize {
        self.lock().accepted
    }
    /// Forgets recorded invocations and payload-seen counts (behaviors stay).
    pub fn clear(&self) {
        let mut st = self.lock();
        st.invocations.clear();
        st.accepted = 0;
        st.seen.clear();
    }

    /// Polls (blocking, every 10 ms) until at least `n` requests were answered 2xx; false on timeout.
    pub fn wait_for_accepted(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |invs| invs.iter().filter(|i| i.is_accepted()).count() >= n)
    }
    /// Polls (blocking, every 10 ms) until `pred(&invocations)` holds; false on timeout.
    pub fn wait_until(&self, timeout: Duration, pred: impl Fn(&[Invocation]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if pred(&self.lock().invocations) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for LambdaEndpoint {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn handle(req: Request<Incoming>, state: Arc<Mutex<State>>, kill: Arc<Notify>) -> Resp {
    if req.uri().path().starts_with("/url/") {
        return handle_url(req, state, kill).await;
    }
    let received_at = Instant::now();
    let received_wall = SystemTime::now();
    let request_id = new_request_id();

    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let function = match path.strip_prefix("/2015-03-31/functions/").and_then(|rest| rest.strip_suffix("/invocations")) {
        Some(f) if req.method() == hyper::Method::POST && !f.is_empty() && !f.contains('/') => percent_decode(f),
        _ => {
            let msg = format!("No route for {} {}", req.method(), path);
            return error_response(&request_id, 404, "UnknownOperationException", &msg, None);
        }
    };
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let invocation_type = InvocationType::parse(header("x-amz-invocation-type").as_deref());
    let log_type = header("x-amz-log-type");
    let raw_context = header("x-amz-client-context");
    let client_context = raw_context.as_deref().and_then(|c| BASE64.decode(c).ok()).and_then(|b| String::from_utf8(b).ok());
    let query_qualifier =
        query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == "Qualifier").map(|(_, v)| percent_decode(v));
    let (function_name, name_qualifier) = parse_function_name(&function);
    let authorization = header("authorization");
    let trace_header = header("x-amzn-trace-id");
    let payload = match req.into_body().collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => return error_response(&request_id, 400, "InvalidRequestContentException", "Could not read request body", None),
    };

    let mut inv = Invocation {
        request_id: request_id.clone(),
        function,
        function_name,
        qualifier: query_qualifier.clone().or(name_qualifier.clone()),
        invocation_type,
        log_type,
        client_context,
        payload,
        received_at,
        received_wall,
        status: None,
        answered_at: None,
        via_url: false,
        authorization,
        trace_header,
    };

    // Decide and record under the lock; answer after releasing it.
    let reply = {
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        let limit = if inv.invocation_type == InvocationType::Event { st.event_limit } else { st.sync_limit };
        let invalid = |msg: &str| Reply::error(400, "InvalidParameterValueException", msg);
        let reply = if let InvocationType::Other(t) = &inv.invocation_type {
            invalid(&format!(
                "1 validation error detected: Value '{t}' at 'invocationType' failed to satisfy constraint: \
                 Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
            ))
        } else if raw_context.is_some() && !is_base64_json_object(inv.client_context.as_deref()) {
            invalid("Client context must be a valid Base64-encoded JSON object.")
        } else if matches!((&query_qualifier, &name_qualifier), (Some(a), Some(b)) if a != b) {
            invalid("The derived qualifier from the function name does not match the specified qualifier.")
        } else if inv.payload.len() > limit {
            Reply::error(413, "RequestTooLargeException", &format!("Request must be smaller than {limit} bytes for the Invoke operation"))
        } else if let Err(e) = check_json(&inv.payload) {
            Reply::error(400, "InvalidRequestContentException", &format!("Could not parse request body into json: {e}"))
        } else if inv.invocation_type == InvocationType::DryRun {
            // Lambda checks that the function exists and may be invoked, and runs nothing: of
            // the function's behavior only a 403 or 404 applies, answered at once and counted
            // nowhere.
            let behavior = st.behaviors.get(&inv.function_name).unwrap_or(&st.default).clone();
            match (behavior.0)(&inv, 0).resolve().1 {
                e @ Reply::Error { status: 403 | 404, .. } => e.clone(),
                _ => Reply::Accept,
            }
        } else {
            let behavior = st.behaviors.get(&inv.function_name).unwrap_or(&st.default).clone();
            let times = if st.record {
                let seen = st.seen.entry((inv.function_name.clone(), inv.payload.clone())).or_insert(0);
                *seen += 1;
                *seen - 1
            } else {
                0
            };
            (behavior.0)(&inv, times)
        };
        let status = reply.status(&inv.invocation_type);
        inv.status = status;
        if inv.invocation_type == InvocationType::DryRun {
            st.dry_runs.push(inv.clone());
        } else {
            if st.accepted_when == Accepted::OnAnswer {
                inv.status = None;
            }
            st.accepted += usize::from(inv.is_accepted());
            if st.record {
                st.invocations.push(inv.clone());
            }
        }
        inv.status = status;
        reply
    };

    let (delay, reply) = reply.resolve();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if inv.invocation_type != InvocationType::DryRun && !matches!(reply, Reply::Drop) {
        answered(&state, &request_id, inv.status);
    }
    match reply {
        Reply::Accept => success_response(&inv, b"null", None),
        Reply::AcceptWith(body) => success_response(&inv, body, None),
        Reply::FunctionError { kind, error_type, message } => {
            let body = serde_json::json!({"errorType": error_type, "errorMessage": message, "trace": []}).to_string();
            success_response(&inv, body.as_bytes(), Some(kind))
        }
        Reply::Throttle { reason, retry_after } => {
            let mut body = serde_json::json!({"Type": "User", "message": "Rate Exceeded.", "Reason": reason});
            if let Some(s) = retry_after {
                body["retryAfterSeconds"] = s.to_string().into();
            }
            let retry = retry_after.map(|s| s.to_string());
            json_error(&request_id, 429, "TooManyRequestsException", body, retry.as_deref())
        }
        Reply::Error { status, code, message } => error_response(&request_id, *status, code, message, None),
        Reply::Drop => {
            // Makes the connection task drop the socket; this response is never sent.
            kill.notify_one();
            std::future::pending::<Resp>().await
        }
        Reply::Slow(..) => unreachable!("resolved above"),
    }
}

/// A function URL: `POST /url/<function>/` with the event as the body. The function's
/// behavior answers as a URL would: 200 with the result, 429 with `Retry-After`, any error
/// status with its message, 502 for a function error.
async fn handle_url(req: Request<Incoming>, state: Arc<Mutex<State>>, kill: Arc<Notify>) -> Resp {
    let request_id = new_request_id();
    let function_name = req.uri().path().trim_start_matches("/url/").trim_end_matches('/').to_string();
    let authorization = req.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    let trace_header = req.headers().get("x-amzn-trace-id").and_then(|v| v.to_str().ok()).map(str::to_string);
    let payload = req.into_body().collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
    let mut inv = Invocation {
        request_id: request_id.clone(),
        function: function_name.clone(),
        function_name,
        qualifier: None,
        invocation_type: InvocationType::RequestResponse,
        log_type: None,
        client_context: None,
        payload,
        received_at: Instant::now(),
        received_wall: SystemTime::now(),
        status: None,
        answered_at: None,
        via_url: true,
        authorization,
        trace_header,
    };
    let (reply, status) = {
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        let behavior = st.behaviors.get(&inv.function_name).unwrap_or(&st.default).clone();
        let seen = st.seen.entry((inv.function_name.clone(), inv.payload.clone())).or_insert(0);
        let times = *seen;
        *seen += 1;
        let reply = (behavior.0)(&inv, times);
        let status = match reply.resolve().1 {
            Reply::FunctionError { .. } => Some(502),
            other => other.status(&InvocationType::RequestResponse),
        };
        inv.status = if st.accepted_when == Accepted::OnAnswer { None } else { status };
        st.accepted += usize::from(inv.is_accepted());
        st.invocations.push(inv.clone());
        (reply, status)
    };
    let (delay, reply) = reply.resolve();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if !matches!(reply, Reply::Drop) {
        answered(&state, &request_id, status);
    }
    let plain = |status: u16, body: String| {
        Response::builder()
            .status(status)
            .header("x-amzn-RequestId", &request_id)
            .header("Content-Type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("valid response")
    };
    match reply {
        Reply::Accept => plain(200, "null".into()),
        Reply::AcceptWith(body) => plain(200, String::from_utf8_lossy(body).into_owned()),
        Reply::Throttle { retry_after, .. } => {
            let mut response = plain(429, r#"{"Message":"Rate Exceeded."}"#.into());
            if let Some(s) = retry_after {
                response.headers_mut().insert("Retry-After", s.to_string().parse().unwrap());
            }
            response
        }
        Reply::Error { status, message, .. } => plain(*status, serde_json::json!({ "Message": message }).to_string()),
        Reply::FunctionError { .. } => plain(502, r#"{"Message":"Internal Server Error"}"#.into()),
        Reply::Drop => {
            kill.notify_one();
            std::future::pending::<Resp>().await
        }
        Reply::Slow(..) => unreachable!("resolved above"),
    }
}

/// The most of `calls` open at once, each open over `[received_at, answered_at)`.
pub fn max_overlap(calls: &[Invocation]) -> usize {
    // An answer at the same instant as an arrival closes first: sorted by (time, +1 after -1).
    let mut edges: Vec<(Instant, i32)> = Vec::with_capacity(calls.len() * 2);
    for c in calls {
        edges.push((c.received_at, 1));
        if let Some(a) = c.answered_at {
            edges.push((a, -1));
        }
    }
    edges.sort();
    let (mut open, mut most) = (0i32, 0i32);
    for (_, d) in edges {
        open += d;
        most = most.max(open);
    }
    most as usize
}

/// Records the answer to the call `request_id`: when it was sent, and with
/// [`Accepted::OnAnswer`] its status and acceptance.
fn answered(state: &Mutex<State>, request_id: &str, status: Option<u16>) {
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    let on_answer = st.accepted_when == Accepted::OnAnswer;
    if on_answer {
        st.accepted += usize::from(matches!(status, Some(200..=299)));
    }
    if let Some(inv) = st.invocations.iter_mut().rev().find(|i| i.request_id == request_id) {
        inv.answered_at = Some(Instant::now());
        if on_answer {
            inv.status = status;
        }
    }
}

fn check_json(payload: &[u8]) -> Result<(), serde_json::Error> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    serde_json::from_slice::<serde_json::Value>(payload).map(|_| ())
}

fn is_base64_json_object(decoded: Option<&str>) -> bool {
    decoded.and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok()).is_some_and(|v| v.is_object())
}

/// 202 / 204, or 200 with `body`; `function_error` adds `X-Amz-Function-Error` and an error
/// line to the log tail.
fn success_response(inv: &Invocation, body: &[u8], function_error: Option<&str>) -> Resp {
    let builder = Response::builder().header("x-amzn-RequestId", &inv.request_id);
    match inv.invocation_type {
        InvocationType::Event => builder.status(202).body(Full::new(Bytes::new())),
        InvocationType::DryRun => builder.status(204).body(Full::new(Bytes::new())),
        _ => {
            let version = match &inv.qualifier {
                Some(q) if q.bytes().all(|b| b.is_ascii_digit()) => q.clone(),
                _ => "$LATEST".to_string(),
            };
            let mut builder =
                builder.status(200).header("Content-Type", "application/json").header("X-Amz-Executed-Version", version.as_str());
            if let Some(kind) = function_error {
                builder = builder.header("X-Amz-Function-Error", kind);
            }
            if inv.log_type.as_deref() == Some("Tail") {
                let id = &inv.request_id;
                let failed = if function_error.is_some() {
                    format!("{id}\tERROR\tInvoke Error \t{}\n", String::from_utf8_lossy(body))
                } else {
                    String::new()
                };
                let log = format!(
                    "START RequestId: {id} Version: {version}\n{failed}END RequestId: {id}\n\
                     REPORT RequestId: {id}\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 64 MB\t\n"
                );
                builder = builder.header("X-Amz-Log-Result", BASE64.encode(log));
            }
            builder.body(Full::new(Bytes::copy_from_slice(body)))
        }
    }
    .expect("valid response")
}

fn error_response(request_id: &str, status: u16, code: &str, message: &str, retry_after: Option<&str>) -> Resp {
    let kind = if status >= 500 && code == "ServiceException" { "Service" } else { "User" };
    json_error(request_id, status, code, serde_json::json!({"Type": kind, "message": message}), retry_after)
}

fn json_error(request_id: &str, status: u16, code: &str, body: serde_json::Value, retry_after: Option<&str>) -> Resp {
    let mut builder = Response::builder()
        .status(status)
        .header("x-amzn-RequestId", request_id)
        .header("x-amzn-ErrorType", code)
        .header("Content-Type", "application/json");
    if let Some(s) = retry_after {
        builder = builder.header("Retry-After", s);
    }
    builder.body(Full::new(Bytes::from(body.to_string()))).expect("valid response")
}

/// A random UUID-v4-shaped id, like Lambda's.
fn new_request_id() -> String {
    let r: u128 = rand::random();
    let h = format!("{:032x}", (r & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62));
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
