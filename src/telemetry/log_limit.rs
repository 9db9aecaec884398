//! Repeated identical errors are rate-limited in the log (never in the metrics): a few lines
//! per key and window, then one line saying how many were left out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Lines per key and window.
const BURST: u32 = 5;
const WINDOW: Duration = Duration::from_secs(10);

/// Counts lines per key within a window.
pub struct LogLimiter {
    burst: u32,
    window: Duration,
    keys: Mutex<HashMap<String, Window>>,
}

struct Window {
    started: Instant,
    logged: u32,
    suppressed: u32,
}

impl LogLimiter {
    pub fn new(burst: u32, window: Duration) -> Self {
        LogLimiter { burst, window, keys: Mutex::new(HashMap::new()) }
    }

    /// `Some(n)` if a line for `key` may be logged now, `n` being how many were left out
    /// since the last one logged; `None` to leave this one out.
    pub fn allow(&self, key: &str) -> Option<u32> {
        let mut keys = self.keys.lock().unwrap();
        let now = Instant::now();
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
}
