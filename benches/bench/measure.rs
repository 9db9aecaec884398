//! Runs one contender as a child process and measures it from outside: wall time until its
//! work is done, its CPU time from `wait4` and its peak RSS from `/proc`, so no contender
//! measures itself.

use std::process::Command;
use std::time::{Duration, Instant};

/// What one run cost.
pub struct Usage {
    pub elapsed: Duration,
    /// User + system CPU of the child.
    pub cpu: Duration,
    pub max_rss_mib: f64,
}

/// When a run is over.
pub enum Done<'a> {
    /// The child exits by itself.
    Exits,
    /// This returns true (the child is then sent SIGTERM and reaped).
    When(&'a dyn Fn() -> bool),
}

/// Spawns `cmd`, waits for `done`, reaps the child; an error if it could not be spawned,
/// failed, or did not finish within `limit`.
///
/// Peak RSS is the child's `VmHWM`, read while it runs: `wait4`'s `ru_maxrss` would also count
/// this process's memory, which the child shares between `fork` and `exec`.
pub fn run(mut cmd: Command, done: Done<'_>, limit: Duration) -> Result<Usage, String> {
    let start = Instant::now();
    // Reaped below with wait4, which also gives the child's CPU time.
    #[allow(clippy::zombie_processes)]
    let child = cmd.spawn().map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    let pid = child.id() as i32;
    let mut peak_kib = 0;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let elapsed;
    loop {
        peak_kib = peak_kib.max(vm_hwm_kib(pid).unwrap_or(0));
        let finished = match &done {
            Done::When(pred) => pred(),
            Done::Exits => (unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) }) == pid,
        };
        if finished || start.elapsed() > limit {
            elapsed = finished.then(|| start.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    if matches!(done, Done::When(_)) || elapsed.is_none() {
        unsafe { libc::kill(pid, libc::SIGTERM) };
        unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    }
    let Some(elapsed) = elapsed else { return Err(format!("not done within {limit:?}")) };
    if matches!(done, Done::Exits) && !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(format!("exited with status {status}"));
    }
    let time = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    Ok(Usage { elapsed, cpu: time(usage.ru_utime) + time(usage.ru_stime), max_rss_mib: peak_kib as f64 / 1024.0 })
}

/// The peak resident set of process `pid` so far, in KiB.
fn vm_hwm_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// This process's own CPU time so far (user + system), for in-process measurements.
pub fn own_cpu() -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let time = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    time(usage.ru_utime) + time(usage.ru_stime)
}
