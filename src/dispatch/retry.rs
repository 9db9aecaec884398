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

    /// The largest of `draws` backoffs after `attempt`.
    fn most(attempt: u32, base: Duration, max: Duration, draws: usize) -> Duration {
        (0..draws).map(|_| backoff(attempt, base, max)).max().unwrap()
    }

    #[test]
    fn stays_under_the_exponential_ceiling() {
        let ms = Duration::from_millis;
        let (base, max) = (ms(100), Duration::from_secs(1));
        // The ceiling doubles from base at each attempt, up to max: 100, 200, 400, 800, 1000 ms.
        for (attempt, ceiling) in [(1, ms(100)), (2, ms(200)), (3, ms(400)), (4, ms(800)), (5, ms(1000)), (6, ms(1000)), (39, ms(1000))] {
            let most = most(attempt, base, max, 400);
            assert!(most <= ceiling, "attempt {attempt}: {most:?} over the ceiling {ceiling:?}");
            // Full jitter reaches close to the ceiling in 400 draws (a miss of 10 % has odds 0.9^400).
            assert!(most >= ceiling * 9 / 10, "attempt {attempt}: at most {most:?}, far under the ceiling {ceiling:?}");
        }
        // No overflow far past the cap, and a zero base never waits.
        assert!(most(u32::MAX, base, max, 50) <= max);
        assert_eq!(most(7, Duration::ZERO, max, 10), Duration::ZERO);
        assert!(most(0, ms(300), Duration::from_secs(60), 400) <= ms(300), "attempt 0 counts as the first");
    }

    #[test]
    fn is_jittered() {
        let draws: std::collections::HashSet<_> = (0..20).map(|_| backoff(5, Duration::from_secs(1), Duration::from_secs(60))).collect();
        assert!(draws.len() > 10, "full jitter draws differ");
    }
}
