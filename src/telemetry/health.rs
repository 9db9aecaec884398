//! Liveness and readiness: `/healthz` answers while the dispatch loop is alive, `/readyz`
//! once every source has started, while none keeps failing to poll, and while no target
//! failed its start-up check.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A dispatch loop that has not ticked for this long is taken for wedged.
const DISPATCH_STALE: Duration = Duration::from_secs(10);
/// Consecutive failed polls after which a source is stuck.
const STUCK_AFTER: u32 = 3;

#[derive(Debug, Clone)]
enum SourceState {
    Starting,
    Running,
    Failing { consecutive: u32, error: String },
}

/// Shared by the dispatcher, the sources and the HTTP endpoints.
#[derive(Debug)]
pub struct Health {
    dispatch_beat: Mutex<Option<Instant>>,
    sources: Mutex<BTreeMap<String, SourceState>>,
    /// Targets whose check (a DryRun, as `validate` does it) failed, with why.
    failed_targets: Mutex<BTreeMap<String, String>>,
}

impl Health {
    pub fn new<'a>(sources: impl IntoIterator<Item = &'a str>) -> Health {
        Health {
            dispatch_beat: Mutex::new(None),
            sources: Mutex::new(sources.into_iter().map(|s| (s.to_string(), SourceState::Starting)).collect()),
            failed_targets: Mutex::default(),
        }
    }

    /// The dispatch loop is alive.
    pub fn dispatch_beat(&self) {
        *self.dispatch_beat.lock().unwrap() = Some(Instant::now());
    }

    /// `source` is starting (again, after a reload): not ready until it runs.
    pub fn source_starting(&self, source: &str) {
        self.sources.lock().unwrap().insert(source.to_string(), SourceState::Starting);
    }

    /// `source` has started, or polled successfully again.
    pub fn source_ok(&self, source: &str) {
        self.sources.lock().unwrap().insert(source.to_string(), SourceState::Running);
    }

    /// `source` failed to poll.
    pub fn source_failed(&self, source: &str, error: String) {
        let mut sources = self.sources.lock().unwrap();
        let consecutive = match sources.get(source) {
            Some(SourceState::Failing { consecutive, .. }) => consecutive + 1,
            _ => 1,
        };
        sources.insert(source.to_string(), SourceState::Failing { consecutive, error });
    }

    /// A source that is gone (removed by a reload) no longer counts.
    pub fn source_removed(&self, source: &str) {
        self.sources.lock().unwrap().remove(source);
    }

    /// `target` failed its check: nothing sent to it can be delivered as configured.
    pub fn target_failed(&self, target: &str, why: String) {
        self.failed_targets.lock().unwrap().insert(target.to_string(), why);
    }

    /// `target` passed its check, or is gone (removed or replaced by a reload).
    pub fn target_cleared(&self, target: &str) {
        self.failed_targets.lock().unwrap().remove(target);
    }

    /// `Err(reason)` when the dispatch loop has not ticked lately.
    pub fn live(&self) -> Result<(), String> {
        match *self.dispatch_beat.lock().unwrap() {
            Some(t) if t.elapsed() < DISPATCH_STALE => Ok(()),
            Some(t) => Err(format!("dispatch loop silent for {:.0?}", t.elapsed())),
            None => Err("dispatch loop not started".into()),
        }
    }

    /// `Err(reasons)` until every source runs, or while one keeps failing.
    pub fn ready(&self) -> Result<(), String> {
        self.live()?;
        let mut problems: Vec<String> = self
            .sources
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(name, state)| match state {
                SourceState::Starting => Some(format!("source {name}: starting")),
                SourceState::Failing { consecutive, error } if *consecutive >= STUCK_AFTER => {
                    Some(format!("source {name}: {consecutive} failed polls in a row: {error}"))
                }
                _ => None,
            })
            .collect();
        problems.extend(self.failed_targets.lock().unwrap().iter().map(|(name, why)| format!("target {name}: {why}")));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_once_everything_runs_and_not_while_a_source_is_stuck() {
        let h = Health::new(["a", "b"]);
        assert!(h.live().is_err());
        h.dispatch_beat();
        assert!(h.live().is_ok());
        assert!(h.ready().unwrap_err().contains("source a: starting"));
        h.source_ok("a");
        h.source_ok("b");
        assert!(h.ready().is_ok());
        for _ in 0..2 {
            h.source_failed("b", "AccessDenied".into());
        }
        assert!(h.ready().is_ok(), "two failures are a blip");
        h.source_failed("b", "AccessDenied".into());
        assert!(h.ready().unwrap_err().contains("source b: 3 failed polls in a row: AccessDenied"));
        h.source_ok("b");
        assert!(h.ready().is_ok());
    }

    #[test]
    fn a_target_that_failed_its_check_is_not_ready_until_cleared() {
        let h = Health::new(["a"]);
        h.dispatch_beat();
        h.source_ok("a");
        h.target_failed("orders", "function proces-order not found".into());
        assert_eq!(h.ready().unwrap_err(), "target orders: function proces-order not found");
        assert!(h.live().is_ok(), "a bad target is not a dead daemon");
        h.target_cleared("orders");
        assert!(h.ready().is_ok());
    }
}
