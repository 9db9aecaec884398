//! An event on its way to Lambda, and the acknowledgement that tells its source when the
//! upstream message may be deleted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use tokio::sync::oneshot;

/// One event, in the shape its function receives.
#[derive(Debug)]
pub struct Event {
    /// Stable across redeliveries (SQS message id, schedule name + fire time), so functions can be idempotent.
    pub id: String,
    /// The source's name (its file name).
    pub source: Arc<str>,
    /// When the event came to be (SQS `SentTimestamp`, the cron fire time); `max_event_age` counts from it.
    pub born: SystemTime,
    /// The payload, serialized exactly as it will be sent.
    pub payload: Bytes,
    /// Why the source could not build a proper payload; such an event is dead-lettered as `InvalidEvent`
    /// with the raw input as its payload.
    pub invalid: Option<String>,
    /// What route filters match against, when not the payload itself (S3: keys decoded).
    pub filter_view: Option<serde_json::Value>,
    /// The X-Ray trace header it arrived with (SQS `AWSTraceHeader`), passed on as the
    /// invoke's `X-Amzn-Trace-Id`.
    pub trace: Option<Arc<str>>,
    /// Settles the upstream message.
    pub ack: Ack,
}

/// FNV-1a, 64 bits, as `h` and 16 hex digits: a fingerprint that stays the same across runs
/// and builds, for ids made from content and for names made from ids.
pub fn fingerprint(data: &[u8]) -> String {
    let hash = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
    format!("h{hash:016x}")
}

/// The final outcome of one (event, target) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Lambda accepted it.
    Delivered,
    /// It was written to the dead-letter sink.
    DeadLettered,
    /// Neither: the upstream message must stay so it comes back.
    Failed,
}

/// What the source does with the upstream message once every route has an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Every route was delivered or dead-lettered: delete upstream.
    Settled,
    /// Some route failed (or was dropped unsettled): leave it upstream.
    Failed,
}

/// What a route tells its source besides its outcome, when the source asked
/// ([`Ack::hearing`]): a task-token source completes its Step Functions task with it.
#[derive(Debug, Clone, PartialEq)]
pub enum Told {
    /// A synchronous call's answer: the function's output.
    Answer(serde_json::Value),
    /// The event was dead-lettered: the error (the function's error type, or the dead-letter
    /// condition) and its cause.
    Failure { error: String, cause: String },
}

struct AckShared {
    failed: AtomicBool,
    tell: Mutex<Option<Tell>>,
    /// What routes told, kept only when the source listens ([`Ack::hearing`]).
    told: Option<Mutex<Vec<Told>>>,
}

/// How the source learns the disposition.
enum Tell {
    /// Through a channel its own task awaits.
    Channel(oneshot::Sender<Disposition>),
    /// By a call, made where the last share goes away: no task per message.
    Call(Box<dyn FnOnce(Disposition) + Send>),
    /// By a call that also hears what the routes told.
    Hear(Box<dyn FnOnce(Disposition, Vec<Told>) + Send>),
}

impl Drop for AckShared {
    // The last token going away is the moment every route has an outcome.
    fn drop(&mut self) {
        let disposition = if *self.failed.get_mut() { Disposition::Failed } else { Disposition::Settled };
        if disposition == Disposition::Failed {
            crate::telemetry::events::MessageLeftUpstream.emit();
        }
        match self.tell.get_mut().ok().and_then(Option::take) {
            Some(Tell::Channel(tx)) => {
                let _ = tx.send(disposition);
            }
            Some(Tell::Call(f)) => f(disposition),
            Some(Tell::Hear(f)) => {
                let told = self.told.as_mut().map(|t| std::mem::take(t.get_mut().unwrap_or_else(|e| e.into_inner()))).unwrap_or_default();
                f(disposition, told)
            }
            None => {}
        }
    }
}

/// A share of one upstream message's acknowledgement. Each route holds one; a share dropped
/// without [`Ack::settle`] counts as [`Outcome::Failed`], so nothing is deleted by accident.
pub struct Ack {
    shared: Arc<AckShared>,
    settled: bool,
}

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ack").field("settled", &self.settled).finish()
    }
}

impl Ack {
    /// A new acknowledgement and the receiver its source awaits.
    pub fn new() -> (Ack, oneshot::Receiver<Disposition>) {
        let (tx, rx) = oneshot::channel();
        (Ack::telling(Tell::Channel(tx)), rx)
    }

    /// A new acknowledgement that calls `settled` with the disposition, from wherever the
    /// last share goes away; it must not block.
    pub fn calling(settled: impl FnOnce(Disposition) + Send + 'static) -> Ack {
        Ack::telling(Tell::Call(Box::new(settled)))
    }

    /// A new acknowledgement that calls `settled` with the disposition and what the routes
    /// told ([`Ack::tell`]), from wherever the last share goes away; it must not block.
    pub fn hearing(settled: impl FnOnce(Disposition, Vec<Told>) + Send + 'static) -> Ack {
        Ack::telling(Tell::Hear(Box::new(settled)))
    }

    fn telling(tell: Tell) -> Ack {
        let told = matches!(tell, Tell::Hear(_)).then(Mutex::default);
        Ack { shared: Arc::new(AckShared { failed: AtomicBool::new(false), tell: Mutex::new(Some(tell)), told }), settled: false }
    }

    /// Whether the source listens to what routes tell: only then is it worth making.
    pub fn listens(&self) -> bool {
        self.shared.told.is_some()
    }

    /// Tells the source something about this share's outcome (before [`Ack::settle`]);
    /// nothing when it does not listen.
    pub fn tell(&self, told: Told) {
        if let Some(t) = &self.shared.told {
            t.lock().unwrap_or_else(|e| e.into_inner()).push(told);
        }
    }

    /// Splits this share into `n` (one per route). With `n == 0` the message is settled at once.
    pub fn fan_out(mut self, n: usize) -> Vec<Ack> {
        let shares = (0..n).map(|_| Ack { shared: self.shared.clone(), settled: false }).collect();
        self.settled = true;
        shares
    }

    /// Records this share's final outcome.
    pub fn settle(mut self, outcome: Outcome) {
        if outcome == Outcome::Failed {
            self.shared.failed.store(true, Ordering::SeqCst);
        }
        self.settled = true;
    }
}

impl Drop for Ack {
    fn drop(&mut self) {
        if !self.settled {
            self.shared.failed.store(true, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn settles_when_every_route_is_done() {
        let (ack, rx) = Ack::new();
        let mut shares = ack.fan_out(2);
        shares.pop().unwrap().settle(Outcome::Delivered);
        shares.pop().unwrap().settle(Outcome::DeadLettered);
        assert_eq!(rx.await.unwrap(), Disposition::Settled);
    }

    #[tokio::test]
    async fn one_failed_route_fails_the_message() {
        let (ack, rx) = Ack::new();
        let mut shares = ack.fan_out(2);
        shares.pop().unwrap().settle(Outcome::Failed);
        shares.pop().unwrap().settle(Outcome::Delivered);
        assert_eq!(rx.await.unwrap(), Disposition::Failed);
    }

    #[tokio::test]
    async fn a_dropped_share_counts_as_failed() {
        let (ack, rx) = Ack::new();
        drop(ack);
        assert_eq!(rx.await.unwrap(), Disposition::Failed);
    }

    #[test]
    fn a_calling_ack_calls_once_with_the_disposition_when_the_last_share_settles() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = calls.clone();
        let mut shares = Ack::calling(move |d| seen.lock().unwrap().push(d)).fan_out(2);
        shares.pop().unwrap().settle(Outcome::Delivered);
        assert!(calls.lock().unwrap().is_empty(), "one route still open");
        shares.pop().unwrap().settle(Outcome::DeadLettered);
        assert_eq!(*calls.lock().unwrap(), vec![Disposition::Settled]);

        let seen = calls.clone();
        drop(Ack::calling(move |d| seen.lock().unwrap().push(d)));
        assert_eq!(calls.lock().unwrap().last(), Some(&Disposition::Failed), "a dropped share fails the message");
    }

    #[test]
    fn a_hearing_ack_hears_what_every_route_told_and_others_keep_nothing() {
        let heard = Arc::new(Mutex::new(None));
        let seen = heard.clone();
        let mut shares = Ack::hearing(move |d, told| *seen.lock().unwrap() = Some((d, told))).fan_out(2);
        assert!(shares.iter().all(Ack::listens));
        let (a, b) = (shares.pop().unwrap(), shares.pop().unwrap());
        a.tell(Told::Answer(serde_json::json!({"ok": true})));
        a.settle(Outcome::Delivered);
        b.tell(Told::Failure { error: "KeyError".into(), cause: "'Records'".into() });
        b.settle(Outcome::DeadLettered);
        let (d, told) = heard.lock().unwrap().take().expect("heard once the last share settled");
        assert_eq!(d, Disposition::Settled);
        assert_eq!(told.len(), 2, "{told:?}");

        let (ack, _rx) = Ack::new();
        assert!(!ack.listens(), "a plain ack keeps nothing told");
        ack.tell(Told::Answer(serde_json::Value::Null));
    }

    #[test]
    fn fingerprints_are_fnv1a_64_as_published() {
        // The FNV authors' test vectors for FNV-1a, 64 bits.
        assert_eq!(fingerprint(b""), "hcbf29ce484222325");
        assert_eq!(fingerprint(b"a"), "haf63dc4c8601ec8c");
        assert_eq!(fingerprint(b"foobar"), "h85944171f73967e8");
    }

    /// Counts each counter's increments by name.
    #[derive(Clone, Default)]
    struct Counting(Arc<Mutex<std::collections::HashMap<String, u64>>>);

    struct Named(String, Counting);

    impl metrics::CounterFn for Named {
        fn increment(&self, value: u64) {
            *(self.1).0.lock().unwrap().entry(self.0.clone()).or_default() += value;
        }
        fn absolute(&self, _: u64) {}
    }

    impl metrics::Recorder for Counting {
        fn describe_counter(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
        fn describe_gauge(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
        fn describe_histogram(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
        fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
            metrics::Counter::from_arc(Arc::new(Named(key.name().to_string(), self.clone())))
        }
        fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            metrics::Gauge::noop()
        }
        fn register_histogram(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Histogram {
            metrics::Histogram::noop()
        }
    }

    #[test]
    fn a_message_left_upstream_is_counted_and_a_settled_one_is_not() {
        let counting = Counting::default();
        let left = || counting.0.lock().unwrap().get("fanin_messages_left_upstream_total").copied().unwrap_or(0);
        metrics::with_local_recorder(&counting, || {
            let mut shares = Ack::calling(|_| {}).fan_out(2);
            shares.pop().unwrap().settle(Outcome::Delivered);
            shares.pop().unwrap().settle(Outcome::DeadLettered);
        });
        assert_eq!(left(), 0, "a settled message is not left upstream");
        metrics::with_local_recorder(&counting, || {
            let mut shares = Ack::calling(|_| {}).fan_out(2);
            shares.pop().unwrap().settle(Outcome::Delivered);
            shares.pop().unwrap().settle(Outcome::Failed);
        });
        assert_eq!(left(), 1, "a failed route leaves the message upstream, counted once");
    }

    #[test]
    fn an_ack_shows_whether_it_settled() {
        let (ack, _rx) = Ack::new();
        assert_eq!(format!("{ack:?}"), "Ack { settled: false }");
    }

    #[tokio::test]
    async fn no_routes_settles_at_once() {
        let (ack, rx) = Ack::new();
        assert!(ack.fan_out(0).is_empty());
        assert_eq!(rx.await.unwrap(), Disposition::Settled);
    }
}
