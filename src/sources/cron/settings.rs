//! `type = "cron"`: what a schedule is configured with.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::schedule::{Schedule, ScheduleError};
use crate::config::{deserialize_at, ConfigError};
use crate::sources::SourceKind;

/// `type = "cron"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronSettings {
    /// Six fields: sec min hour day month weekday.
    pub schedule: String,
    /// IANA time zone the schedule is read in.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Fire, once each, what was missed while the daemon was down, up to this far back.
    #[serde(default, deserialize_with = "crate::config::optional_duration")]
    pub catch_up: Option<Duration>,
    /// Sent instead of the EventBridge "Scheduled Event".
    pub payload: Option<serde_json::Value>,
    /// The parsed schedule (filled in by validation).
    #[serde(skip)]
    pub parsed: Option<Schedule>,
}

// The parsed schedule follows from the text; two settings are the same when the text is.
impl PartialEq for CronSettings {
    fn eq(&self, other: &Self) -> bool {
        (&self.schedule, &self.timezone, &self.catch_up, &self.payload) == (&other.schedule, &other.timezone, &other.catch_up, &other.payload)
    }
}

fn default_timezone() -> String {
    "UTC".into()
}

/// The settings of a `type = "cron"` source file.
pub fn settings(path: &Path, table: toml::Table) -> Result<SourceKind, ConfigError> {
    Ok(SourceKind::Cron(deserialize_at(path, "", toml::Value::Table(table))?))
}

impl CronSettings {
    /// Parses the schedule in its time zone, naming the key of the source file `file` that is wrong.
    pub fn check(&mut self, file: &Path) -> Result<(), ConfigError> {
        let parsed = Schedule::parse(&self.schedule, &self.timezone).map_err(|e| {
            let key = match e {
                ScheduleError::Expression(_) => "schedule",
                ScheduleError::TimeZone(_) => "timezone",
            };
            ConfigError::new(file, key, e.to_string())
        })?;
        self.parsed = Some(parsed);
        Ok(())
    }
}
