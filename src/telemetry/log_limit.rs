//! Repeated identical errors are rate-limited in the log (never in the metrics): a few lines
//! per key and window, then one line saying how many were left out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Lines per key and window.
const BURST: u32 = 5;
const WINDOW: Duration = Duration::from_secs(10);
/// The most keys counted apart. A key holds text a function chose (its error type), so their
/// number is the sender's to pick; past this, expired windows are dropped, and keys that still
/// find no room share one window.
const MAX_KEYS: usize = 1024;
/// The key the keys past [`MAX_KEYS`] share.
const OVERFLOW: &str = "\u{0}other keys";

/// Counts lines per key within a window.
pub struct LogLimiter {
    burst: u32,
    window: Duration,
    keys: Mutex<HashMap<String, Window>>,
    /// When expired windows were last dropped.
    swept: Mutex<Option<Instant>>,
}

struct Window {
    started: Instant,
    logged: u32,
    suppressed: u32,
}

impl LogLimiter {
    pub fn new(burst: u32, window: Duration) -> Self {
        LogLimiter { burst, window, keys: Mutex::new(HashMap::new()), swept: Mutex::new(None) }
    }

    /// `Some(n)` if a line for `key` may be logged now, `n` being how many were left out
    /// since the last one logged; `None` to leave this one out.
    pub fn allow(&self, key: &str) -> Option<u32> {
        let mut keys = self.keys.lock().unwrap();
        let now = Instant::now();
        let mut key = key;
        if keys.len() >= MAX_KEYS && !keys.contains_key(key) {
            // A sweep reads every key: at most one per tenth of a window.
            let mut swept = self.swept.lock().unwrap();
            if swept.is_none_or(|t| now.duration_since(t) >= self.window / 10) {
                keys.retain(|_, w| now.duration_since(w.started) < self.window);
                *swept = Some(now);
            }
            if keys.len() >= MAX_KEYS {
                key = OVERFLOW;
            }
        }
        let w = keys.entry(key.to_string()).or_insert(Window { started: now, logged: 0, suppressed: 0 });
        if now.duration_since(w.started) >= self.window {
            let suppressed = std::mem::take(&mut w.suppressed);
            (w.started, w.logged) = (now, 1);
            return Some(suppressed);
        }
        if w.logged < self.burst {
            w.logged += 1;
            Some(0)
        } else {
            w.suppressed += 1;
            None
        }
    }
}

/// The process-wide limiter: `Some(left_out)` when a line for `key` may be logged.
pub fn allow(key: &str) -> Option<u32> {
    static LIMITER: OnceLock<LogLimiter> = OnceLock::new();
    LIMITER.get_or_init(|| LogLimiter::new(BURST, WINDOW)).allow(key)
}

static LOG_PAYLOADS: AtomicBool = AtomicBool::new(false);

/// Whether log lines about an event may carry its payload (`[daemon] log_payloads`).
pub fn log_payloads() -> bool {
    LOG_PAYLOADS.load(Ordering::Relaxed)
}

pub fn set_log_payloads(on: bool) {
    LOG_PAYLOADS.store(on, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_per_key_then_a_count_of_what_was_left_out() {
        let limiter = LogLimiter::new(2, Duration::from_millis(200));
        assert_eq!(limiter.allow("a"), Some(0));
        assert_eq!(limiter.allow("a"), Some(0));
        assert_eq!(limiter.allow("a"), None);
        assert_eq!(limiter.allow("a"), None);
        assert_eq!(limiter.allow("b"), Some(0), "keys are counted apart");
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(limiter.allow("a"), Some(2), "the next window's first line says two were left out");
    }

    #[test]
    fn keys_chosen_by_functions_cannot_grow_the_limiter_without_bound() {
        let limiter = LogLimiter::new(2, Duration::from_secs(60));
        let allowed = (0..100_000).filter(|n| limiter.allow(&format!("ErrorType{n}")).is_some()).count();
        let tracked = limiter.keys.lock().unwrap().len();
        assert!(tracked <= MAX_KEYS + 1, "{tracked} keys kept");
        assert_eq!(allowed, MAX_KEYS + 2, "each key that found room logs, then the rest share one burst");
        // Once their windows are over, keys make room again.
        let short = LogLimiter::new(1, Duration::from_millis(50));
        for n in 0..MAX_KEYS {
            short.allow(&format!("old{n}"));
        }
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(short.allow("new"), Some(0));
        assert_eq!(short.keys.lock().unwrap().len(), 1, "expired windows were dropped");
    }
}
