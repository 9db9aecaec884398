//! The last settled fire of a schedule, kept in the state directory for catch-up.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::task::task_tracker::TaskTrackerToken;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    last_fire: DateTime<Utc>,
}

/// One schedule's state file.
pub struct LastFire {
    path: PathBuf,
    // Fires settle out of order; only a later fire moves the mark.
    current: Mutex<Option<DateTime<Utc>>>,
    // The latest fire handed to the writer thread, written at its next turn.
    wanted: Mutex<Option<DateTime<Utc>>>,
}

impl LastFire {
    pub fn new(path: PathBuf) -> Self {
        LastFire { path, current: Mutex::new(None), wanted: Mutex::new(None) }
    }

    /// The last fire recorded, if any.
    pub fn load(&self) -> Option<DateTime<Utc>> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        // The first JSON value: a longer file cut short mid-write may leave bytes after it.
        let stored: Stored = serde_json::Deserializer::from_str(&text).into_iter().next()?.ok()?;
        *self.current.lock().unwrap() = Some(stored.last_fire);
        Some(stored.last_fire)
    }

    /// Records `at` if it is later than what is recorded.
    ///
    /// Overwritten in place, one line of fixed length at offset 0: a kill cannot tear a
    /// single write, and a power cut leaves the old line or the new (one sector). Writing a
    /// temporary file and renaming it over the old one made ext4 start the data's writeback
    /// at every rename: 140 µs a fire instead of 3.
    pub fn advance(&self, at: DateTime<Utc>) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        let mut current = self.current.lock().unwrap();
        if current.is_some_and(|c| c >= at) {
            return Ok(());
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let line = format!("{{\"lastFire\":\"{}\"}}\n", at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true));
        let file = std::fs::OpenOptions::new().write(true).create(true).truncate(false).open(&self.path)?;
        file.write_all_at(line.as_bytes(), 0)?;
        file.set_len(line.len() as u64)?;
        *current = Some(at);
        Ok(())
    }

    /// Records `at` as [`LastFire::advance`] does, on the thread that writes every source's
    /// state ([`state_writer`](crate::sources::state_writer)): a thousand schedules settling at
    /// once cost a thousand small writes on that thread, not a thread each, and never hold up a
    /// fire. `waiter` is dropped once written, so the source's shutdown waits for it.
    pub fn advance_later(self: &Arc<Self>, source: Arc<str>, at: DateTime<Utc>, waiter: TaskTrackerToken) {
        #[cfg(test)]
        if simulated::INLINE.get() {
            let _ = self.advance(at);
            return;
        }
        {
            let mut wanted = self.wanted.lock().unwrap();
            if wanted.is_some_and(|w| w >= at) {
                return;
            }
            *wanted = Some(at);
        }
        crate::sources::state_writer::write_later(self.clone(), source, waiter);
    }
}

impl crate::sources::state_writer::StateFile for LastFire {
    fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn write_now(&self) -> std::io::Result<()> {
        let wanted = *self.wanted.lock().unwrap();
        wanted.map_or(Ok(()), |at| self.advance(at))
    }

    fn if_lost(&self) -> &'static str {
        "a restart may fire the last fire again"
    }
}

/// The fleet simulation writes on its own thread at once: the writer's real-time wait would
/// let the simulated clock run on meanwhile, and one seed would no longer replay one run.
#[cfg(test)]
pub(super) mod simulated {
    use std::cell::Cell;

    thread_local! {
        pub(super) static INLINE: Cell<bool> = const { Cell::new(false) };
    }

    /// From now on this thread's schedules write their last fire at once (or again later).
    pub fn write_inline(on: bool) {
        INLINE.set(on);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_fire_across_instances() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cron/nightly.json");
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let state = LastFire::new(path.clone());
        assert_eq!(state.load(), None);
        state.advance(t("2026-01-01T00:00:02Z")).unwrap();
        state.advance(t("2026-01-01T00:00:01Z")).unwrap();
        assert_eq!(LastFire::new(path).load(), Some(t("2026-01-01T00:00:02Z")));
    }

    #[test]
    fn a_longer_older_line_is_replaced_whole_and_trailing_bytes_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tick.json");
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        std::fs::write(&path, format!("{{\"lastFire\":\"2026-01-01T00:00:00Z\"}}{}", " ".repeat(200))).unwrap();
        let state = LastFire::new(path.clone());
        assert_eq!(state.load(), Some(t("2026-01-01T00:00:00Z")));
        state.advance(t("2026-01-01T00:00:05Z")).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"lastFire\":\"2026-01-01T00:00:05.000000000Z\"}\n");
        // What a write cut short over a longer line would leave: the new line, then the old tail.
        std::fs::write(&path, "{\"lastFire\":\"2026-01-01T00:00:07.000000000Z\"}\n:00Z\"}").unwrap();
        assert_eq!(LastFire::new(path).load(), Some(t("2026-01-01T00:00:07Z")));
    }

    #[tokio::test]
    async fn written_later_the_latest_fire_is_kept_and_the_waiter_released_once_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cron/tick.json");
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        // The latest first, and the latest last: of fires gathered together the latest is written.
        for order in [
            ["2026-01-01T00:00:03Z", "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"],
            ["2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z", "2026-01-01T00:00:03Z"],
        ] {
            let _ = std::fs::remove_file(&path);
            let state = Arc::new(LastFire::new(path.clone()));
            let waiters = tokio_util::task::TaskTracker::new();
            for at in order {
                state.advance_later("tick".into(), t(at), waiters.token());
            }
            waiters.close();
            tokio::time::timeout(std::time::Duration::from_secs(5), waiters.wait()).await.expect("every write done");
            assert_eq!(LastFire::new(path.clone()).load(), Some(t("2026-01-01T00:00:03Z")), "written in the order {order:?}");
        }
    }
}
