//! A target's concurrency limit, which halves when Lambda throttles and grows back by one
//! for every full window of successes (additive increase, multiplicative decrease).

use std::sync::{Arc, Mutex};
use std::time::Duration;
#[cfg(not(test))]
use std::time::Instant;
// Under test the cut window follows tokio's clock, so the simulation's paused time decides it
// rather than how fast the machine runs.
#[cfg(test)]
use tokio::time::Instant;

use tokio::sync::Notify;

/// A concurrency limit that adapts to throttling.
#[derive(Debug)]
pub struct AdaptiveLimit {
    state: Mutex<State>,
    released: Notify,
}

#[derive(Debug)]
struct State {
    max: usize,
    limit: usize,
    in_use: usize,
    successes: usize,
    last_cut: Option<Instant>,
}

/// Held while an invocation is in flight.
#[derive(Debug)]
pub struct LimitPermit {
    limit: Arc<AdaptiveLimit>,
}

impl Drop for LimitPermit {
    // One place came free: wake one waiter, not all of them (thousands may wait behind a
    // slow target, and waking every one per completion costs more than the invoke).
    fn drop(&mut self) {
        self.limit.state.lock().unwrap().in_use -= 1;
        self.limit.released.notify_one();
    }
}

// Throttles answered within this window of one cut are the same congestion, not a new one.
const CUT_WINDOW: Duration = Duration::from_millis(200);

impl AdaptiveLimit {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(AdaptiveLimit {
            state: Mutex::new(State { max, limit: max, in_use: 0, successes: 0, last_cut: None }),
            released: Notify::new(),
        })
    }

    /// Waits until fewer than the current limit are in flight.
    pub async fn acquire(self: &Arc<Self>) -> LimitPermit {
        loop {
            let notified = self.released.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut s = self.state.lock().unwrap();
                if s.in_use < s.limit {
                    s.in_use += 1;
                    return LimitPermit { limit: self.clone() };
                }
            }
            notified.await;
        }
    }

    /// Lambda throttled: halve the limit (not below 1).
    pub fn on_throttle(&self) {
        let mut s = self.state.lock().unwrap();
        let now = Instant::now();
        if s.last_cut.is_some_and(|t| now.duration_since(t) < CUT_WINDOW) {
            return;
        }
        s.limit = (s.limit / 2).max(1);
        s.successes = 0;
        s.last_cut = Some(now);
    }

    /// An invocation was accepted: after `limit` successes in a row, allow one more.
    pub fn on_success(&self) {
        let mut s = self.state.lock().unwrap();
        if s.limit >= s.max {
            return;
        }
        s.successes += 1;
        if s.successes >= s.limit {
            s.limit += 1;
            s.successes = 0;
            drop(s);
            self.released.notify_waiters();
        }
    }

    /// The limit in force now.
    pub fn current(&self) -> usize {
        self.state.lock().unwrap().limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn holds_at_most_limit_permits() {
        let limit = AdaptiveLimit::new(2);
        let a = limit.acquire().await;
        let _b = limit.acquire().await;
        let waiter = tokio::spawn({
            let limit = limit.clone();
            async move { limit.acquire().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "a third permit was handed out over a limit of 2");
        drop(a);
        tokio::time::timeout(Duration::from_secs(1), waiter).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn throttles_halve_and_successes_grow_back() {
        let limit = AdaptiveLimit::new(8);
        limit.on_throttle();
        assert_eq!(limit.current(), 4);
        limit.on_throttle(); // same burst: no second cut
        assert_eq!(limit.current(), 4);
        for _ in 0..4 {
            limit.on_success();
        }
        assert_eq!(limit.current(), 5);
        for _ in 0..100 {
            limit.on_success();
        }
        assert_eq!(limit.current(), 8, "never above the configured maximum");
    }

    #[tokio::test]
    async fn never_below_one() {
        let limit = AdaptiveLimit::new(1);
        limit.on_throttle();
        assert_eq!(limit.current(), 1);
        let _p = limit.acquire().await;
    }
}
