//! A target at run time: its invoker, limits, retry policy and dead-letter sink.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use super::claim_check::ClaimCheck;
use super::call::Call;
use super::limits::AdaptiveLimit;
use crate::dispatch::settings::{RetrySettings, TargetSettings};
use crate::dlq::DeadLetterSink;

/// Everything the dispatcher needs to send events to one function.
pub struct Target {
    pub name: String,
    /// What it calls: a Lambda function or a state machine.
    pub call: Call,
    pub concurrency: Arc<AdaptiveLimit>,
    pub rate: Option<DefaultDirectRateLimiter>,
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
            let count = NonZeroU32::new(r.count).expect("validated: at least 1");
            let quota = Quota::with_period(r.per / r.count).expect("non-zero period").allow_burst(count);
            RateLimiter::direct(quota)
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

    /// Waits out a pause and the rate limit.
    pub async fn ready(&self) {
        loop {
            let until = *self.paused_until.lock().unwrap();
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => break,
            }
        }
        if let Some(rate) = &self.rate {
            rate.until_ready().await;
        }
    }
}
