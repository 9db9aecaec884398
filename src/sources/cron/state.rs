//! The last settled fire of a schedule, kept in the state directory for catch-up.

use std::path::PathBuf;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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
}

impl LastFire {
    pub fn new(path: PathBuf) -> Self {
        LastFire { path, current: Mutex::new(None) }
    }

    /// The last fire recorded, if any.
    pub fn load(&self) -> Option<DateTime<Utc>> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        let stored: Stored = serde_json::from_str(&text).ok()?;
        *self.current.lock().unwrap() = Some(stored.last_fire);
        Some(stored.last_fire)
    }

    /// Records `at` if it is later than what is recorded (write to a temporary file, then rename).
    pub fn advance(&self, at: DateTime<Utc>) -> std::io::Result<()> {
        let mut current = self.current.lock().unwrap();
        if current.is_some_and(|c| c >= at) {
            return Ok(());
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(&Stored { last_fire: at })?)?;
        std::fs::rename(&tmp, &self.path)?;
        *current = Some(at);
        Ok(())
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
}
