//! `type = "cron"`: what a schedule is configured with.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::schedule::{Schedule, ScheduleError};
use crate::config::limits::duration_between;
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
        (&self.schedule, &self.timezone, &self.catch_up, &self.payload)
            == (&other.schedule, &other.timezone, &other.catch_up, &other.payload)
    }
}

/// Lambda's asynchronous payload limit (1 MB): a larger payload could never be delivered.
pub const MAX_PAYLOAD: usize = 1024 * 1024;
/// The furthest back `catch_up` reaches: a month covers a monthly schedule, and every missed
/// fire of the window is listed at start.
pub const MAX_CATCH_UP: Duration = Duration::from_secs(31 * 24 * 3600);

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
        if let Some(window) = self.catch_up {
            duration_between(file, "catch_up", window, Duration::ZERO, MAX_CATCH_UP)?;
        }
        if let Some(payload) = &self.payload {
            let size = payload.to_string().len();
            if size > MAX_PAYLOAD {
                let message = format!("is {size} bytes as JSON; an asynchronous invocation takes at most {MAX_PAYLOAD}");
                return Err(ConfigError::new(file, "payload", message));
            }
        }
        self.parsed = Some(parsed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(extra: &str) -> Result<(), ConfigError> {
        let mut s: CronSettings = toml::from_str(&format!("schedule = \"0 0 2 * * *\"\n{extra}")).unwrap();
        s.check(Path::new("c.toml"))
    }

    #[test]
    fn catch_up_reaches_back_a_month_at_most() {
        assert!(check("catch_up = \"0s\"").is_ok() && check("catch_up = \"31d\"").is_ok());
        let e = check("catch_up = \"1000000000y\"").unwrap_err();
        assert_eq!(e.key, "catch_up");
        assert!(e.message.starts_with("must be between 0s and 31d"), "{e}");
    }

    #[test]
    fn a_payload_over_lambdas_asynchronous_limit_is_refused() {
        // `{"k":"…"}`: 8 bytes around the string.
        assert!(check(&format!("payload = {{ k = \"{}\" }}", "x".repeat(MAX_PAYLOAD - 8))).is_ok());
        assert_eq!(check(&format!("payload = {{ k = \"{}\" }}", "x".repeat(MAX_PAYLOAD - 7))).unwrap_err().key, "payload");
    }
}
