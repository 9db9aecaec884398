//! The wall clock the daemon's core reads (event ages, cron instants, claim leases).
//!
//! A running daemon reads the system's clock. The simulation (`crate::simulation`) puts a
//! clock of its own on its thread that moves with tokio's paused time, so hours of schedules,
//! leases and event ages pass in milliseconds and one seed replays one run.

use std::time::SystemTime;

use chrono::{DateTime, Utc};

/// Now, as a `SystemTime`.
pub fn now() -> SystemTime {
    #[cfg(test)]
    if let Some(now) = simulated::now() {
        return now;
    }
    SystemTime::now()
}

/// Now, in UTC.
pub fn utc() -> DateTime<Utc> {
    DateTime::from(now())
}

/// The simulation's clock: `epoch` plus the tokio time passed since it was set, on this thread.
#[cfg(test)]
pub mod simulated {
    use std::cell::Cell;
    use std::time::SystemTime;

    thread_local! {
        static CLOCK: Cell<Option<(SystemTime, tokio::time::Instant)>> = const { Cell::new(None) };
    }

    /// From now on this thread's clock reads `epoch` plus the tokio time passed since.
    pub fn set(epoch: SystemTime) {
        CLOCK.set(Some((epoch, tokio::time::Instant::now())));
    }

    /// Back to the system's clock.
    pub fn clear() {
        CLOCK.set(None);
    }

    pub(super) fn now() -> Option<SystemTime> {
        CLOCK.get().map(|(epoch, start)| epoch + start.elapsed())
    }
}
