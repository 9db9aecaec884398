//! The last delivered state of every polled alarm, kept in the state directory so a restart
//! neither repeats nor misses a transition.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One alarm's state as `DescribeAlarms` reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Seen {
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub value: String,
    /// `StateReason`.
    #[serde(default)]
    pub reason: String,
    /// `StateReasonData`, when there is some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_data: Option<String>,
    /// When the alarm went into this state (`StateTransitionedTimestamp`, else `StateUpdatedTimestamp`).
    pub since: DateTime<Utc>,
}

#[derive(Default, Serialize, Deserialize)]
struct Stored {
    /// Alarm ARN → its last delivered state.
    alarms: BTreeMap<String, Seen>,
}

/// One source's state file.
pub struct AlarmStates {
    path: PathBuf,
    stored: Mutex<Stored>,
}

impl AlarmStates {
    /// Reads the file; `None` when there is none yet (a first run takes the states it finds as
    /// they are, without events).
    pub fn load(path: PathBuf) -> std::io::Result<(AlarmStates, Option<BTreeMap<String, Seen>>)> {
        let stored = match std::fs::read(&path) {
            Ok(bytes) => {
                Some(serde_json::from_slice::<Stored>(&bytes).map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let known = stored.as_ref().map(|s| s.alarms.clone());
        Ok((AlarmStates { path, stored: Mutex::new(stored.unwrap_or_default()) }, known))
    }

    /// Records `seen` for `arn` unless a later state is recorded already (events settle out of
    /// order); whether the file needs writing.
    pub fn record(&self, arn: &str, seen: Seen) -> bool {
        insert(&mut self.stored.lock().unwrap(), arn.to_string(), seen)
    }

    /// The end of a round: forgets the alarms `keep` does not hold (deleted ones) and records
    /// `quiet`, the states that moved without an event; whether the file needs writing: when
    /// that changed it, or when there is none yet (the next start then knows this one has seen
    /// every alarm).
    pub fn end_round(&self, keep: impl Fn(&str) -> bool, quiet: Vec<(String, Seen)>) -> bool {
        let mut stored = self.stored.lock().unwrap();
        let before = stored.alarms.len();
        stored.alarms.retain(|arn, _| keep(arn));
        let mut changed = stored.alarms.len() != before;
        for (arn, seen) in quiet {
            changed |= insert(&mut stored, arn, seen);
        }
        changed || !self.path.exists()
    }
}

impl crate::sources::state_writer::StateFile for AlarmStates {
    fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Writes every alarm's state (temporary file, then rename).
    fn write_now(&self) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(&*self.stored.lock().unwrap())?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &self.path)
    }

    fn if_lost(&self) -> &'static str {
        "a restart may repeat alarm transitions"
    }
}

/// Puts `seen` in unless a later state is there already; whether it did.
fn insert(stored: &mut Stored, arn: String, seen: Seen) -> bool {
    if stored.alarms.get(&arn).is_some_and(|s| s.since > seen.since) {
        return false;
    }
    stored.alarms.insert(arn, seen);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::state_writer::StateFile;

    fn seen(value: &str, at: &str) -> Seen {
        Seen { value: value.into(), reason: String::new(), reason_data: None, since: at.parse().unwrap() }
    }

    #[test]
    fn keeps_the_latest_state_across_instances() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alarms/a.json");
        let (states, known) = AlarmStates::load(path.clone()).unwrap();
        assert!(known.is_none(), "no file yet: a first run");
        assert!(states.record("arn:x", seen("ALARM", "2026-01-01T00:00:02Z")));
        // An earlier state settling late does not move the mark back.
        assert!(!states.record("arn:x", seen("OK", "2026-01-01T00:00:01Z")));
        assert!(states.record("arn:y", seen("OK", "2026-01-01T00:00:01Z")));
        assert!(states.end_round(|arn| arn != "arn:y", vec![("arn:z".into(), seen("ALARM", "2026-01-01T00:00:03Z"))]));
        states.write_now().unwrap();
        let (_, known) = AlarmStates::load(path).unwrap();
        let known = known.unwrap();
        assert_eq!(known.len(), 2);
        assert_eq!(known["arn:x"].value, "ALARM");
        assert_eq!(known["arn:z"].value, "ALARM");
    }
}
