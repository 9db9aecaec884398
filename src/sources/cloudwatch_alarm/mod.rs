//! `type = "cloudwatch_alarm"`: alarm state changes, from a queue (EventBridge or an alarm's SNS
//! action delivers to it) or by polling `DescribeAlarms`, handed on as the event an alarm's
//! own Lambda action gives.

mod event;
pub mod poll;

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::limits::duration_between;
use crate::config::{deserialize_at, parse_duration, split_off, ConfigError};
use crate::sources::decode::{starts_with, Meta};
use crate::sources::eventbridge::RuleWiring;
use crate::sources::sqs_reader::{Origin, SqsSettings};
use crate::sources::SourceKind;

pub use event::{alarm_action, decode};

/// `type = "cloudwatch_alarm"`: alarm state changes delivered to a queue.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmOptions {
    /// Only alarms whose name starts with this.
    pub alarm_name_prefix: Option<String>,
    /// Only changes into these states (`OK`, `ALARM`, `INSUFFICIENT_DATA`).
    #[serde(default)]
    pub states: Vec<String>,
    /// What `fanin setup` wires (queue mode): an EventBridge rule for alarm state changes.
    pub setup: Option<RuleWiring>,
}

/// `type = "cloudwatch_alarm"` with `poll_interval`: where no rule or alarm action can be
/// wired, `DescribeAlarms` every interval and one event per state transition.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmPollSettings {
    /// Time between two `DescribeAlarms` rounds.
    pub poll_interval: Duration,
    /// Which alarms and which new states.
    pub options: AlarmOptions,
}

/// The longest `poll_interval`: CloudWatch's longest alarm period is a day.
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// `type = "cloudwatch_alarm"`: fed by a queue (`queue_url`) or polling (`poll_interval`).
pub fn settings(path: &Path, mut table: toml::Table) -> Result<SourceKind, ConfigError> {
    let own = split_off(&mut table, &["alarm_name_prefix", "states", "setup"]);
    let options: AlarmOptions = deserialize_at(path, "", own)?;
    if let Some(prefix) = &options.alarm_name_prefix {
        // DescribeAlarms' AlarmNamePrefix: 1 to 255 characters.
        if prefix.is_empty() || prefix.chars().count() > 255 {
            return Err(ConfigError::new(
                path,
                "alarm_name_prefix",
                format!("must be 1 to 255 characters (it is {})", prefix.chars().count()),
            ));
        }
    }
    if let Some(bad) = options.states.iter().find(|s| !["OK", "ALARM", "INSUFFICIENT_DATA"].contains(&s.as_str())) {
        return Err(ConfigError::new(path, "states", format!("\"{bad}\" is not OK, ALARM or INSUFFICIENT_DATA")));
    }
    let Some(interval) = table.remove("poll_interval") else {
        if !table.contains_key("queue_url") {
            return Err(ConfigError::new(
                path,
                "queue_url",
                "missing: give queue_url (alarm changes delivered to a queue) or poll_interval (poll DescribeAlarms)",
            ));
        }
        if let Some(wiring) = &options.setup {
            wiring.check(path)?;
        }
        return SqsSettings::fed_by(path, table, Origin::CloudWatchAlarm(options));
    };
    if table.contains_key("queue_url") {
        return Err(ConfigError::new(path, "poll_interval", "give queue_url or poll_interval, not both"));
    }
    if options.setup.is_some() {
        return Err(ConfigError::new(path, "setup", "a polling source has nothing for fanin setup to wire"));
    }
    if let Some(key) = table.keys().next() {
        return Err(ConfigError::new(path, key.as_str(), format!("unknown key `{key}` for a polling cloudwatch_alarm source")));
    }
    let interval: String = deserialize_at(path, "poll_interval", interval)?;
    let poll_interval = parse_duration(&interval).map_err(|e| ConfigError::new(path, "poll_interval", e))?;
    if poll_interval < Duration::from_secs(1) {
        return Err(ConfigError::new(path, "poll_interval", "must be at least 1s"));
    }
    duration_between(path, "poll_interval", poll_interval, Duration::from_secs(1), MAX_POLL_INTERVAL)?;
    Ok(SourceKind::AlarmPoll(AlarmPollSettings { poll_interval, options }))
}

impl AlarmOptions {
    /// Whether the source's filters take the event: alarm name prefix and new state.
    pub fn wants(&self, meta: &Meta) -> bool {
        starts_with(&meta.alarm_name, &self.alarm_name_prefix)
            && (self.states.is_empty() || meta.state.as_ref().is_some_and(|s| self.states.contains(s)))
    }
}

/// The default pattern of a queue-fed `cloudwatch_alarm` source: state changes of its alarms
/// into its states.
pub fn alarm_pattern(options: &AlarmOptions) -> Value {
    let mut pattern = json!({ "source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"] });
    if let Some(prefix) = &options.alarm_name_prefix {
        pattern["detail"]["alarmName"] = json!([{ "prefix": prefix }]);
    }
    if !options.states.is_empty() {
        pattern["detail"]["state"]["value"] = json!(options.states);
    }
    pattern
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_alarm_pattern_narrows_to_the_source_filters() {
        let options = AlarmOptions { alarm_name_prefix: Some("prod-".into()), states: vec!["ALARM".into()], setup: None };
        let pattern = alarm_pattern(&options);
        assert_eq!(pattern["detail"]["alarmName"], json!([{ "prefix": "prod-" }]));
        assert_eq!(pattern["detail"]["state"]["value"], json!(["ALARM"]));
        // It is a pattern fanin's own matcher accepts, and it matches what it should.
        let matcher = crate::pattern::Pattern::parse(&pattern).unwrap();
        let event = json!({"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change",
                           "detail": {"alarmName": "prod-cpu", "state": {"value": "ALARM"}}});
        assert!(matcher.matches(&event));
    }
}
