//! Backoff between attempts: exponential with full jitter.

use std::time::Duration;

use rand::Rng;

/// The delay before attempt `attempt + 1`, after `attempt` (1-based) failed: a uniform draw
/// from `[0, min(max, base · 2^(attempt-1))]`, so retries of many events spread out.
pub fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let ceiling = base.saturating_mul(1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX)).min(max);
    if ceiling.is_zero() {
        return ceiling;
    }
    let ceiling = ceiling.as_nanos().min(u64::MAX as u128) as u64;
    // The simulation draws from its seed, so a seed replays the same backoffs.
    #[cfg(test)]
    if let Some(nanos) = crate::simulation::jitter(ceiling) {
        return Duration::from_nanos(nanos);
    }
    Duration::from_nanos(rand::rng().random_range(0..=ceiling))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_under_the_exponential_ceiling() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        for attempt in 1..40 {
            let ceiling = (base * 2u32.saturating_pow(attempt - 1)).min(max);
            for _ in 0..50 {
                assert!(backoff(attempt, base, max) <= ceiling);
            }
        }
    }

    #[test]
    fn is_jittered() {
        let draws: std::collections::HashSet<_> = (0..20).map(|_| backoff(5, Duration::from_secs(1), Duration::from_secs(60))).collect();
        assert!(draws.len() > 10, "full jitter draws differ");
    }
}
