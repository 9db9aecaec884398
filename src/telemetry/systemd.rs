//! systemd notifications (`Type=notify`): ready once sources run, watchdog pings from the
//! dispatch loop, stopping on SIGTERM. Without `NOTIFY_SOCKET` each call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;

/// `READY=1`.
pub fn ready() {
    let _ = sd_notify::notify(&[NotifyState::Ready]);
}

/// `STOPPING=1`.
pub fn stopping() {
    let _ = sd_notify::notify(&[NotifyState::Stopping]);
}

/// `RELOADING=1` then, once the new configuration is in force (or refused), `READY=1`.
pub fn reloading() {
    let _ = sd_notify::notify(&[NotifyState::Reloading]);
}

/// `WATCHDOG=1`.
pub fn watchdog() {
    let _ = sd_notify::notify(&[NotifyState::Watchdog]);
}

/// How often to ping the watchdog: half of `WATCHDOG_USEC`, when systemd asks for pings.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2)
}
