//! A target at run time: its invoker, limits, retry policy and dead-letter sink.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::call::Call;
use super::claim_check::ClaimCheck;
use super::limits::{AdaptiveLimit, LimitPermit};
use crate::dispatch::settings::{RetrySettings, TargetSettings};
use crate::dlq::DeadLetterSink;

/// Everything the dispatcher needs to send events to one function.
pub struct Target {
    pub name: String,
    /// What it calls: a Lambda function or a state machine.
    pub call: Call,
    pub concurrency: Arc<AdaptiveLimit>,
    pub rate: Option<Rate>,
    pub retry: RetrySettings,
    pub dlq: Arc<dyn DeadLetterSink>,
    /// Where Lambda's on-success record of each accepted event goes (`on_success`).
    pub on_success: Option<Arc<dyn DeadLetterSink>>,
    /// Where payloads over the asynchronous limit go, if the target takes pointer events.
    pub claim_check: Option<ClaimCheck>,
    /// Set from `retryAfterSeconds`: no attempt at this target starts before it.
    paused_until: Mutex<Option<Instant>>,
    /// `fanin_invoke_duration_seconds` of this target.
    pub invoke_duration: metrics::Histogram,
}

impl Target {
    pub fn new(name: &str, settings: &TargetSettings, call: Call, dlq: Arc<dyn DeadLetterSink>) -> Self {
        let rate = settings.rate.map(|r| {
            let period = r.per / r.count;
            let quota = Quota::with_period(period).expect("validated: a non-zero period").allow_burst(burst(period));
            RateLimiter::direct_with_clock(quota, TokioClock)
        });
        Target {
            name: name.to_string(),
            call,
            concurrency: AdaptiveLimit::new(settings.max_concurrency),
            rate,
            retry: settings.retry.clone(),
            dlq,
            on_success: None,
            claim_check: None,
            paused_until: Mutex::new(None),
            invoke_duration: crate::telemetry::events::InvokeFinished::histogram(name),
        }
    }

    /// The same target, writing an on-success record of every accepted event to `sink`.
    pub fn with_on_success(mut self, sink: Option<Arc<dyn DeadLetterSink>>) -> Self {
        self.on_success = sink;
        self
    }

    /// The same target, sending payloads over the asynchronous limit through `claim_check`.
    pub fn with_claim_check(mut self, claim_check: Option<ClaimCheck>) -> Self {
        self.claim_check = claim_check;
        self
    }

    /// Holds every attempt at this target back until `for_` from now.
    pub fn pause(&self, for_: Duration) {
        let until = Instant::now() + for_;
        let mut p = self.paused_until.lock().unwrap();
        if p.is_none_or(|t| t < until) {
            *p = Some(until);
        }
    }

    /// Until when a pause holds this target, if one does now.
    fn paused(&self) -> Option<Instant> {
        self.paused_until.lock().unwrap().filter(|t| *t > Instant::now())
    }

    /// Waits until a call to this target can go, and holds what lets it go: the limits are
    /// layers in one order, each ready only when the next one is. A pause (a 429's
    /// `Retry-After`) holds every delivery to the target, those already waiting for a permit
    /// included; concurrency (the target's, then the global in-flight cap) is taken next; the
    /// rate token last, only once the call can go, so no token is spent while a delivery
    /// waits on something else and none is saved up for a burst after a stall.
    pub async fn admit(&self, in_flight: &Arc<Semaphore>) -> Admitted {
        loop {
            if let Some(until) = self.paused() {
                tokio::time::sleep_until(until).await;
                continue;
            }
            let local = self.concurrency.acquire().await;
            let global = in_flight.clone().acquire_owned().await.expect("never closed");
            if self.paused().is_some() {
                // Paused while this delivery waited: give the permits back and wait it out.
                continue;
            }
            let Some(rate) = &self.rate else { return Admitted { local, _global: global } };
            match rate.check() {
                Ok(()) => return Admitted { local, _global: global },
                // Holding the permits: the next token is this delivery's.
                Err(not_until) => {
                    tokio::time::sleep(not_until.wait_time_from(TokioClock.now())).await;
                    if self.paused().is_none() && rate.check().is_ok() {
                        return Admitted { local, _global: global };
                    }
                }
            }
        }
    }
}

/// What a call holds while it is in flight: a place in the target's and in the global limit.
pub struct Admitted {
    pub local: LimitPermit,
    _global: OwnedSemaphorePermit,
}

/// A target's rate limit, on tokio's clock (which a simulation can pause).
pub type Rate = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<std::time::Instant>>;

/// Tokens a rate limit may hold unspent: enough for 10 ms of calls, so a timer firing a
/// little late costs no capacity, and at least one. A rate holds over any window of its
/// period within those 10 ms: a bucket of a whole period's tokens let a stall be followed by
/// a burst of twice the rate.
fn burst(period: Duration) -> NonZeroU32 {
    let tokens = Duration::from_millis(10).as_nanos() / period.as_nanos().max(1);
    NonZeroU32::new(u32::try_from(tokens).unwrap_or(u32::MAX).max(1)).expect("at least one")
}

/// governor's clock, read from tokio's.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    type Instant = std::time::Instant;

    fn now(&self) -> std::time::Instant {
        Instant::now().into_std()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Rate as RateSetting;
    use crate::dispatch::settings::TargetSettings;

    fn target(max_concurrency: usize, rate: Option<RateSetting>) -> Target {
        let settings: TargetSettings = toml::from_str(&format!("function = \"work\"\nmax_concurrency = {max_concurrency}")).unwrap();
        let settings = TargetSettings { rate, ..settings };
        let sdk = aws_config::SdkConfig::builder().region(aws_config::Region::new("us-east-1")).build();
        let sink = Arc::new(crate::dlq::FileSink::new("local", std::env::temp_dir().join("fanin-never-written.jsonl")));
        Target::new("work", &settings, Call::of(&sdk, &settings, "work", None), sink)
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_deliveries_already_waiting_for_a_permit() {
        let target = Arc::new(target(1, None));
        let in_flight = Arc::new(Semaphore::new(10));
        let first = target.admit(&in_flight).await;
        let waiting = tokio::spawn({
            let (target, in_flight) = (target.clone(), in_flight.clone());
            async move {
                let _admitted = target.admit(&in_flight).await;
                Instant::now()
            }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        // A 429 with Retry-After: 2 s, while the second delivery waits for the permit.
        let paused_at = Instant::now();
        target.pause(Duration::from_secs(2));
        drop(first);
        let admitted_at = waiting.await.unwrap();
        assert!(admitted_at >= paused_at + Duration::from_secs(2), "admitted {:?} into a 2 s pause", admitted_at - paused_at);
    }

    #[tokio::test(start_paused = true)]
    async fn rate_tokens_are_not_saved_up_while_deliveries_wait_or_stall() {
        // 10/s: one call per 100 ms, a bucket of one.
        let target = target(1, Some(RateSetting { count: 10, per: Duration::from_secs(1) }));
        let in_flight = Arc::new(Semaphore::new(10));
        // A stall of 3 s (a pause, a slow call): no burst after it.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let start = Instant::now();
        let mut admitted = Vec::new();
        for _ in 0..5 {
            drop(target.admit(&in_flight).await);
            admitted.push(Instant::now() - start);
        }
        for pair in admitted.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_millis(99), "calls {admitted:?} closer than the rate allows");
        }
        assert!(admitted[4] <= Duration::from_millis(450), "the rate was not kept up: {admitted:?}");
    }

    #[test]
    fn a_rate_holds_ten_milliseconds_of_tokens_at_least_one() {
        assert_eq!(burst(Duration::from_millis(1)).get(), 10, "1000/s");
        assert_eq!(burst(Duration::from_millis(10)).get(), 1, "100/s");
        assert_eq!(burst(Duration::from_secs(12)).get(), 1, "5/m");
        assert_eq!(burst(Duration::from_nanos(1)).get(), 10_000_000, "10⁹/s");
    }
}
