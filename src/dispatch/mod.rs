//! The dispatcher: takes events off the queue, routes each to its targets, and for each
//! (event, target) waits for the rate limit, takes a concurrency permit, invokes, and then
//! settles or backs off (holding no permit) and goes again.

mod call;
pub mod claim_check;
mod classify;
pub mod function_name;
pub mod function_url;
mod invoker;
mod limits;
mod records;
mod retry;
pub mod route;
pub mod settings;
pub mod step_functions;
mod target;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use chrono::Utc;
use metrics::Counter;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, warn};

pub use call::Call;
pub use classify::{classify, Class};
pub use invoker::{Answer, InvokeFailure, Invoker, Kind};
pub use limits::AdaptiveLimit;
pub use target::Target;

use crate::dispatch::route::Route;
use crate::dlq::record::ResponseContext;
use crate::dlq::Condition;
use crate::event::{Ack, Event, Outcome, Told};
use crate::pattern::Pattern;
use crate::queue::{QueueReceiver, Queued, Slot};
use crate::telemetry::events::{DispatchLoad, EventDispatched, EventUnrouted, InvokeRetried, InvokeThrottled};
use crate::telemetry::health::Health;
use crate::telemetry::{log_limit, systemd, xray};

/// How often the dispatch loop reports it is alive (health, watchdog, load gauges).
const TICK: Duration = Duration::from_secs(1);

/// Lambda's limit on an asynchronous invocation's payload.
pub const ASYNC_PAYLOAD_LIMIT: usize = 1024 * 1024;

/// Routes events to targets under the global and per-target limits.
pub struct Dispatcher {
    routes: Arc<Routes>,
    /// Invocations in flight across all targets (`max_in_flight`).
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
    /// Births of the events under dispatch, for the age of the oldest.
    births: Arc<Mutex<HashMap<u64, SystemTime>>>,
    next_id: AtomicU64,
    health: Arc<Health>,
    tasks: TaskTracker,
}

impl Dispatcher {
    /// Events under dispatch keep their queue slot until they settle, so the queue's capacity
    /// bounds them too: a slow target fills it and the sources stop pulling.
    pub fn new(routes: Arc<Routes>, max_in_flight: usize, health: Arc<Health>) -> Self {
        Dispatcher {
            routes,
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
            births: Arc::default(),
            next_id: AtomicU64::new(0),
            health,
            tasks: TaskTracker::new(),
        }
    }

    /// Runs until `shutdown` is cancelled (or every source is gone), then lets invocations
    /// and dead-letter writes already under way finish, for at most `grace`. Events still in
    /// the queue or waiting for a retry are released unsettled, so they stay upstream.
    pub async fn run(self, mut queue: QueueReceiver, shutdown: CancellationToken, grace: Duration) {
        let watchdog = systemd::watchdog_interval();
        let mut tick = tokio::time::interval(watchdog.map_or(TICK, |w| w.min(TICK)));
        loop {
            // The tick keeps the loop beating while it waits, so a wedged loop is noticed
            // (`/healthz`, systemd's watchdog) and an idle one is not.
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    self.beat(&queue, watchdog.is_some());
                    continue;
                }
                queued = queue.recv() => match queued {
                    Some(queued) => self.dispatch(queued, &shutdown),
                    None => break,
                },
            }
        }
        drop(queue);
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait()).await.is_err() {
            warn!(grace = ?grace, "shutdown grace ran out with invocations in flight; their messages stay upstream");
        }
    }

    fn beat(&self, queue: &QueueReceiver, watchdog: bool) {
        self.health.dispatch_beat();
        if watchdog {
            systemd::watchdog();
        }
        let now = crate::clock::now();
        let oldest = self.births.lock().unwrap().values().min().and_then(|b| now.duration_since(*b).ok());
        let in_flight = self.max_in_flight - self.in_flight.available_permits();
        DispatchLoad { queue_depth: queue.held().saturating_sub(in_flight), in_flight, oldest_event_age: oldest.unwrap_or_default() }
            .emit();
    }

    fn dispatch(&self, queued: Queued, shutdown: &CancellationToken) {
        let retired = queued.source_retired();
        let Queued { event, slot, .. } = queued;
        let Event { id, source, born, payload, invalid, filter_view, trace, ack } = event;
        let targets = self.routes.matching(&source, &payload, filter_view, invalid.is_some());
        // Checked after the routes were read: a reload retires a source before it replaces
        // the routes, so routes without this source come with the source retired.
        if retired {
            debug!(%source, event_id = %id, "its source was removed or changed by a reload; released, the message stays upstream");
            return;
        }
        if targets.is_empty() {
            EventUnrouted { source: &source }.emit();
            debug!(%source, event_id = %id, "no route matched; event acknowledged");
        }
        let acks = ack.fan_out(targets.len());
        let key = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.births.lock().unwrap().insert(key, born);
        // Dropped when the event's last route settles: frees its slot and forgets its birth.
        let slot = Arc::new(Pending { _slot: slot, births: self.births.clone(), key });
        // One trace per event, shared by its routes: the one it came with, else a new one if asked.
        let trace = trace.or_else(|| xray::start_traces().then(|| xray::new_trace_header(SystemTime::now()).into()));
        let shared = Arc::new(Delivery { id, source: source.to_string(), born, payload, invalid, trace });
        for ((target, dispatched), ack) in targets.into_iter().zip(acks) {
            let (event, slot, in_flight, shutdown) = (shared.clone(), slot.clone(), self.in_flight.clone(), shutdown.clone());
            self.tasks.spawn(async move {
                let outcome = deliver(&event, &target, &dispatched, &in_flight, &shutdown, &ack).await;
                ack.settle(outcome);
                drop(slot);
            });
        }
    }
}

/// Source name → the targets its events go to; replaced whole on reload, while deliveries
/// under way keep the targets they started with. Each source's routes are shared (`Arc`), so
/// routing an event copies one pointer, not every compiled pattern of the source.
#[derive(Default)]
pub struct Routes(std::sync::RwLock<HashMap<String, Arc<[ResolvedRoute]>>>);

/// A route with its target looked up: the target, the filter events must pass, and the count
/// of events the route delivered.
type ResolvedRoute = (Arc<Target>, Option<Pattern>, Counter);

impl Routes {
    /// Routes of every source, resolved against `targets`.
    pub fn new(targets: &HashMap<String, Arc<Target>>, routes: &HashMap<String, Vec<Route>>) -> Arc<Routes> {
        let resolved = Routes::default();
        resolved.set(targets, routes);
        Arc::new(resolved)
    }

    /// Replaces every route.
    pub fn set(&self, targets: &HashMap<String, Arc<Target>>, routes: &HashMap<String, Vec<Route>>) {
        let resolved = routes
            .iter()
            .map(|(source, routes)| {
                let resolve = |r: &Route| {
                    let delivered = EventDispatched { source, target: &r.target }.counter();
                    (targets[&r.target].clone(), r.filter.clone(), delivered)
                };
                (source.clone(), routes.iter().map(resolve).collect::<Arc<[_]>>())
            })
            .collect();
        *self.0.write().unwrap() = resolved;
    }

    /// The routes of `source`, shared: the lock is held only to copy the pointer, and patterns
    /// are matched outside it, by reference.
    fn of(&self, source: &str) -> Option<Arc<[ResolvedRoute]>> {
        self.0.read().unwrap().get(source).cloned()
    }

    /// The targets of `source` whose filter lets the event through. The filter sees
    /// `filter_view` when the source gave one (S3: keys decoded), else the payload. An event
    /// that could not be made into a proper payload goes to every route, to be dead-lettered.
    fn matching(&self, source: &str, payload: &[u8], filter_view: Option<serde_json::Value>, invalid: bool) -> Vec<(Arc<Target>, Counter)> {
        let Some(routes) = self.of(source) else { return Vec::new() };
        if invalid || routes.iter().all(|(_, f, _)| f.is_none()) {
            return routes.iter().map(|(t, _, c)| (t.clone(), c.clone())).collect();
        }
        let view = filter_view.or_else(|| serde_json::from_slice(payload).ok());
        routes
            .iter()
            .filter(|(_, f, _)| f.as_ref().is_none_or(|p| view.as_ref().is_some_and(|v| p.matches(v))))
            .map(|(t, _, c)| (t.clone(), c.clone()))
            .collect()
    }
}

/// An event's place under dispatch.
struct Pending {
    _slot: Slot,
    births: Arc<Mutex<HashMap<u64, SystemTime>>>,
    key: u64,
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.births.lock().unwrap().remove(&self.key);
    }
}

/// The parts of an event every route shares.
struct Delivery {
    id: String,
    source: String,
    born: SystemTime,
    payload: bytes::Bytes,
    invalid: Option<String>,
    /// The X-Ray trace header every call carries.
    trace: Option<Arc<str>>,
}

impl Delivery {
    /// The payload for a log line: only with `[daemon] log_payloads = true`.
    fn payload_for_log(&self) -> Option<String> {
        log_limit::log_payloads().then(|| String::from_utf8_lossy(&self.payload).into_owned())
    }

    fn age(&self) -> Duration {
        crate::clock::now().duration_since(self.born).unwrap_or_default()
    }
}

/// What the attempts so far left behind, for the dead-letter record.
#[derive(Default)]
struct Attempts {
    count: u32,
    first_at: Option<chrono::DateTime<Utc>>,
    last_at: Option<chrono::DateTime<Utc>>,
    /// Boxed, like the answer below: a waiting delivery keeps room for every value it holds
    /// across an await, and thousands of them wait.
    last_failure: Option<Box<InvokeFailure>>,
    /// The claim check's pointer event, sent instead of a payload over the limit.
    pointer: Option<bytes::Bytes>,
}

/// Sends one event to one target until it is delivered, dead-lettered, or shutdown stops it;
/// tells `ack` the answer or the failure, when its source listens (task tokens).
async fn deliver(
    event: &Delivery,
    target: &Target,
    dispatched: &Counter,
    in_flight: &Arc<Semaphore>,
    shutdown: &CancellationToken,
    ack: &Ack,
) -> Outcome {
    let mut attempts = Attempts::default();
    if let Some(why) = &event.invalid {
        let note = ResponseContext { error_type: Some("InvalidEvent".into()), error_message: Some(why.clone()), ..Default::default() };
        return records::dead_letter(event, target, ack, Condition::InvalidEvent, &attempts, Some(note)).await;
    }
    let limit = target.call.payload_limit();
    if event.payload.len() > limit {
        let Some(claim_check) = &target.claim_check else {
            let note = ResponseContext {
                error_type: Some("RequestTooLarge".into()),
                error_message: Some(format!("{} bytes is over the target's payload limit of {limit}", event.payload.len())),
                ..Default::default()
            };
            return records::dead_letter(event, target, ack, Condition::RequestTooLarge, &attempts, Some(note)).await;
        };
        match Box::pin(claim_check.store(&event.source, &event.id, &event.payload)).await {
            Ok(pointer) => attempts.pointer = Some(pointer),
            Err(error) => {
                // Like a dead-letter sink that is down: the event stays upstream and comes back.
                error!(source = %event.source, target = %target.name, event_id = %event.id, error, "could not store the large payload; the event stays upstream");
                return Outcome::Failed;
            }
        }
    }
    // What is sent: the payload, or the pointer to where it was stored.
    let payload = attempts.pointer.clone().unwrap_or_else(|| event.payload.clone());
    // Backoff grows with every failed attempt; only the function's own failures count
    // against `max_attempts`.
    let mut function_failures = 0;
    loop {
        if event.age() > target.retry.max_event_age {
            return records::dead_letter(event, target, ack, Condition::EventAgeExceeded, &attempts, None).await;
        }
        // Waiting for the limits gives way to shutdown; the call itself does not.
        let admitted = tokio::select! {
            _ = shutdown.cancelled() => return Outcome::Failed,
            admitted = target.admit(in_flight) => admitted,
        };
        let now = Utc::now();
        attempts.count += 1;
        attempts.first_at.get_or_insert(now);
        attempts.last_at = Some(now);
        let started = Instant::now();
        // Boxed: the call's future is large, and thousands of deliveries wait with room for it.
        let result = Box::pin(target.call.send(&event.id, &payload, event.trace.as_deref())).await.map(Box::new).map_err(Box::new);
        target.invoke_duration.record(started.elapsed().as_secs_f64());
        let failure = match result {
            Ok(answer) => {
                drop(admitted);
                target.concurrency.on_success();
                dispatched.increment(1);
                debug!(source = %event.source, target = %target.name, event_id = %event.id, request_id = answer.request_id.as_deref().unwrap_or(""), attempt = attempts.count, "delivered");
                // Only a synchronous call has an answer worth completing a task with.
                if ack.listens() && target.call.answers() {
                    ack.tell(Told::Answer(answer.payload.clone().unwrap_or(serde_json::Value::Null)));
                }
                return match &target.on_success {
                    Some(sink) => records::success(event, target, sink.as_ref(), &attempts, &answer).await,
                    None => Outcome::Delivered,
                };
            }
            Err(failure) => failure,
        };
        if matches!(failure.class, Class::Throttled { .. }) {
            // Before the permit goes: it says whether the limit was cut since this call went.
            admitted.local.throttled();
        }
        drop(admitted);
        let class = failure.class.clone();
        let reason = match &class {
            Class::Throttled { reason, .. } => reason.as_deref().unwrap_or("unknown"),
            _ => "",
        };
        if let Some(left_out) = log_limit::allow(&format!("invoke:{}:{}", target.name, failure.code.as_deref().unwrap_or(""))) {
            warn!(
                source = %event.source, target = %target.name, event_id = %event.id, attempt = attempts.count,
                error = %failure, reason, similar_left_out = left_out, payload = event.payload_for_log(),
                log_tail = failure.answer.as_ref().and_then(|a| a.log_tail.as_deref()), "invoke failed"
            );
        }
        attempts.last_failure = Some(failure);
        let mut delay = retry::backoff(attempts.count, target.retry.base_delay, target.retry.max_delay);
        match class {
            Class::Terminal(condition) => return records::dead_letter(event, target, ack, condition, &attempts, None).await,
            Class::Throttled { retry_after, .. } => {
                InvokeThrottled { target: &target.name, reason }.emit();
                debug!(target = %target.name, limit = target.concurrency.current(), "throttled");
                if let Some(after) = retry_after {
                    target.pause(after);
                    delay = delay.max(after);
                }
            }
            // Lambda's side, not the function's: retried until the event is too old.
            Class::Retry => {}
            Class::FunctionFailed => {
                function_failures += 1;
                if function_failures >= target.retry.max_attempts {
                    return records::dead_letter(event, target, ack, Condition::RetriesExhausted, &attempts, None).await;
                }
            }
        }
        if event.age() + delay > target.retry.max_event_age {
            return records::dead_letter(event, target, ack, Condition::EventAgeExceeded, &attempts, None).await;
        }
        InvokeRetried { source: &event.source, target: &target.name }.emit();
        tokio::select! {
            _ = shutdown.cancelled() => return Outcome::Failed,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::settings::{InvocationType, RetrySettings, TargetKind, TargetSettings};

    /// Thousands of deliveries wait for a permit at once, each a task as large as the future
    /// of `deliver`: what it holds across its awaits must stay small (it was 11 KB while the
    /// Invoke call's future sat inline).
    #[test]
    fn a_waiting_delivery_stays_small() {
        let settings = TargetSettings {
            kind: TargetKind::Function("work".into()),
            qualifier: None,
            max_concurrency: 1,
            rate: Some(crate::config::Rate { count: 10, per: Duration::from_secs(1) }),
            retry: RetrySettings::default(),
            dlq: None,
            invocation_type: InvocationType::Event,
            log_type: Default::default(),
            on_success: None,
            client_context: None,
            invoke_timeout: Duration::from_secs(10),
            large_payloads: None,
        };
        let sdk = aws_config::SdkConfig::builder().region(aws_config::Region::new("us-east-1")).build();
        let sink = Arc::new(crate::dlq::FileSink::new("local", std::env::temp_dir().join("fanin-never-written.jsonl")));
        let target = Target::new("work", &settings, Call::of(&sdk, &settings, "work", None), sink);
        let event = Delivery {
            id: "e".into(),
            source: "s".into(),
            born: SystemTime::now(),
            payload: bytes::Bytes::new(),
            invalid: None,
            trace: None,
        };
        let (dispatched, in_flight, shutdown) = (metrics::Counter::noop(), Arc::new(Semaphore::new(1)), CancellationToken::new());
        let ack = crate::event::Ack::new().0;
        let waiting = deliver(&event, &target, &dispatched, &in_flight, &shutdown, &ack);
        assert!(std::mem::size_of_val(&waiting) <= 1024, "a delivery's future is {} bytes", std::mem::size_of_val(&waiting));
    }

    /// Routing an event copies a pointer to the source's routes, never their compiled patterns:
    /// with a hundred filtered routes a copy per event was most of the event's cost.
    #[test]
    fn every_event_of_a_source_shares_its_routes() {
        let settings: TargetSettings = toml::from_str("function = \"work\"").unwrap();
        let sdk = aws_config::SdkConfig::builder().region(aws_config::Region::new("us-east-1")).build();
        let sink = Arc::new(crate::dlq::FileSink::new("local", std::env::temp_dir().join("fanin-never-written.jsonl")));
        let target = Arc::new(Target::new("work", &settings, Call::of(&sdk, &settings, "work", None), sink));
        let filtered = |n: i64| {
            let mut table: toml::Table = toml::from_str(&format!("[[routes]]\ntarget = \"work\"\nfilter = {{ n = [{n}] }}")).unwrap();
            Route::take_all(std::path::Path::new("s.toml"), &mut table).unwrap().remove(0)
        };
        let routes = Routes::new(
            &HashMap::from([("work".to_string(), target)]),
            &HashMap::from([("s".to_string(), (0..100).map(filtered).collect())]),
        );
        assert!(Arc::ptr_eq(&routes.of("s").unwrap(), &routes.of("s").unwrap()), "one shared list, not a copy per event");
        assert_eq!(routes.matching("s", br#"{"n": 7}"#, None, false).len(), 1);
        assert_eq!(routes.matching("s", br#"{"n": 700}"#, None, false).len(), 0);
        assert!(routes.matching("other", b"{}", None, false).is_empty());
    }
}
