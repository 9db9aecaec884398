//! A target's concurrency limit, which falls by a quarter when Lambda throttles and grows back
//! by one for every full window of successes (additive increase, multiplicative decrease).
//!
//! Only a throttle of a call sent after the last cut cuts again: the calls that were already
//! in flight when the limit fell tell nothing new (TCP's "once per round trip"). A quarter,
//! not a half: against a reserved-concurrency cap the limit then saws between ¾ of the cap
//! and just over it, where halving left a quarter of the function's capacity unused.

use std::sync::{Arc, Mutex};

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
    /// Counts the cuts; a permit remembers the one in force when it was taken.
    generation: u64,
}

/// Held while an invocation is in flight.
#[derive(Debug)]
pub struct LimitPermit {
    limit: Arc<AdaptiveLimit>,
    /// The cuts made before this permit was taken.
    generation: u64,
}

impl LimitPermit {
    /// Lambda throttled the call made under this permit: cut the limit, unless it was cut
    /// after this call was sent.
    pub fn throttled(&self) {
        self.limit.on_throttle(self.generation);
    }
}

impl Drop for LimitPermit {
    // One place came free: wake one waiter, not all of them (thousands may wait behind a
    // slow target, and waking every one per completion costs more than the invoke).
    fn drop(&mut self) {
        self.limit.state.lock().unwrap().in_use -= 1;
        self.limit.released.notify_one();
    }
}

impl AdaptiveLimit {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(AdaptiveLimit {
            state: Mutex::new(State { max, limit: max, in_use: 0, successes: 0, generation: 0 }),
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
                    return LimitPermit { limit: self.clone(), generation: s.generation };
                }
            }
            notified.await;
        }
    }

    /// Lambda throttled a call sent under the cuts of `generation`: cut the limit by a
    /// quarter, at least by one and not below 1.
    fn on_throttle(&self, generation: u64) {
        let mut s = self.state.lock().unwrap();
        if generation < s.generation {
            return;
        }
        s.limit = (s.limit * 3 / 4).min(s.limit - 1).max(1);
        s.successes = 0;
        s.generation += 1;
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
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "a third permit was handed out over a limit of 2");
        drop(a);
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_throttle_cuts_once_per_round_of_calls_and_successes_grow_back() {
        let limit = AdaptiveLimit::new(8);
        let sent_before: Vec<_> = take(&limit, 8).await;
        sent_before[0].throttled();
        assert_eq!(limit.current(), 6);
        sent_before[1].throttled(); // sent before the cut: the same congestion, no second cut
        assert_eq!(limit.current(), 6);
        drop(sent_before);
        let sent_after = limit.acquire().await;
        sent_after.throttled(); // sent after the cut: the limit was still too high
        assert_eq!(limit.current(), 4);
        drop(sent_after);
        for _ in 0..4 {
            limit.on_success();
        }
        assert_eq!(limit.current(), 5);
        for _ in 0..100 {
            limit.on_success();
        }
        assert_eq!(limit.current(), 8, "never above the configured maximum");
    }

    async fn take(limit: &Arc<AdaptiveLimit>, n: usize) -> Vec<LimitPermit> {
        let mut permits = Vec::new();
        for _ in 0..n {
            permits.push(limit.acquire().await);
        }
        permits
    }

    #[tokio::test]
    async fn never_below_one() {
        let limit = AdaptiveLimit::new(2);
        limit.acquire().await.throttled();
        assert_eq!(limit.current(), 1);
        limit.acquire().await.throttled();
        assert_eq!(limit.current(), 1);
        let _p = limit.acquire().await;
    }
}
