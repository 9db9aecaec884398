//! Runs one contender as a child process and measures it from outside: wall time until its
//! work is done, and its CPU time and peak RSS from `wait4`, so no contender measures itself.

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

/// Spawns `cmd`, waits for `done`, reaps the child; `None` if it could not be spawned or
/// did not finish within `limit`.
pub fn run(mut cmd: Command, done: Done<'_>, limit: Duration) -> Result<Usage, String> {
    let exits = matches!(done, Done::Exits);
    let start = Instant::now();
    // Reaped below with wait4, which also gives the child's CPU time and peak RSS.
    #[allow(clippy::zombie_processes)]
    let child = cmd.spawn().map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    let pid = child.id() as i32;
    let mut finished = true;
    let elapsed = match done {
        Done::Exits => None,
        Done::When(pred) => {
            while !pred() && start.elapsed() < limit {
                std::thread::sleep(Duration::from_millis(2));
            }
            finished = pred();
            let elapsed = start.elapsed();
            unsafe { libc::kill(pid, libc::SIGTERM) };
            Some(elapsed)
        }
    };
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = elapsed.unwrap_or_else(|| start.elapsed());
    if !finished {
        return Err(format!("not done within {limit:?}"));
    }
    if elapsed.is_zero() || (exits && !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0)) {
        return Err(format!("exited with status {status}"));
    }
    let time = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    Ok(Usage { elapsed, cpu: time(usage.ru_utime) + time(usage.ru_stime), max_rss_mib: usage.ru_maxrss as f64 / 1024.0 })
}

/// This process's own CPU time so far (user + system), for in-process measurements.
pub fn own_cpu() -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let time = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    time(usage.ru_utime) + time(usage.ru_stime)
}
