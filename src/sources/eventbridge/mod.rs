//! `type = "eventbridge"`: a queue that is an EventBridge rule's target, handed on as the
//! event itself.

mod event;

use std::path::Path;

use serde::Deserialize;

use crate::config::{deserialize_at, split_off, ConfigError};
use crate::pattern::Pattern;
use crate::sources::sqs_reader::{Origin, SqsSettings};
use crate::sources::SourceKind;

pub use event::decode;

/// `type = "eventbridge"`: a queue that is an EventBridge rule's target.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBridgeOptions {
    /// What `fanin setup` wires: the rule, with the queue as its target.
    pub setup: Option<RuleWiring>,
}

/// `setup = { … }` of an `eventbridge` or queue-fed `cloudwatch_alarm` source.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleWiring {
    /// The rule's name.
    pub rule: String,
    /// The event bus the rule is on.
    #[serde(default = "default_event_bus")]
    pub event_bus: String,
    /// The rule's event pattern. Required for `eventbridge`; for `cloudwatch_alarm` the
    /// default is alarm state changes, narrowed by the source's name prefix and states.
    pub pattern: Option<serde_json::Value>,
}

impl RuleWiring {
    /// Refuses what PutRule would refuse, naming the key `setup.…` of the source file `path`.
    pub fn check(&self, path: &Path) -> Result<(), ConfigError> {
        // PutRule's Name: 1 to 64 of letters, digits, `.`, `-` and `_`.
        let rule_ok =
            (1..=64).contains(&self.rule.len()) && self.rule.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if !rule_ok {
            return Err(ConfigError::new(path, "setup.rule", "must be a rule name: 1 to 64 letters, digits, `.`, `-` or `_`"));
        }
        // EventBusName: a name or an ARN, 1 to 1600 characters.
        if self.event_bus.trim().is_empty() || self.event_bus.len() > 1600 {
            return Err(ConfigError::new(path, "setup.event_bus", "must be an event bus name or ARN (1 to 1600 characters)"));
        }
        if let Some(pattern) = &self.pattern {
            // The same pattern language fanin's own filters speak.
            Pattern::parse(pattern).map_err(|e| {
                let at = if e.path.is_empty() { String::new() } else { format!(".{}", e.path) };
                ConfigError::new(path, format!("setup.pattern{at}"), e.message)
            })?;
        }
        Ok(())
    }
}

fn default_event_bus() -> String {
    "default".into()
}

/// The settings of a `type = "eventbridge"` source file.
pub fn settings(path: &Path, mut table: toml::Table) -> Result<SourceKind, ConfigError> {
    let own = split_off(&mut table, &["setup"]);
    let options: EventBridgeOptions = deserialize_at(path, "", own)?;
    if options.setup.as_ref().is_some_and(|w| w.pattern.is_none()) {
        return Err(ConfigError::new(path, "setup.pattern", "missing: the event pattern of the rule to create"));
    }
    if let Some(wiring) = &options.setup {
        wiring.check(path)?;
    }
    SqsSettings::fed_by(path, table, Origin::EventBridge(options))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<(), ConfigError> {
        let w: RuleWiring = toml::from_str(text).unwrap();
        w.check(Path::new("bus.toml"))
    }

    #[test]
    fn a_rule_keeps_to_what_put_rule_takes() {
        assert!(check(&format!("rule = \"{}\"\npattern = {{ source = [\"shop\"] }}", "r".repeat(64))).is_ok());
        assert_eq!(check(&format!("rule = \"{}\"", "r".repeat(65))).unwrap_err().key, "setup.rule");
        assert_eq!(check("rule = \"\"").unwrap_err().key, "setup.rule");
        assert_eq!(check("rule = \"a b\"").unwrap_err().key, "setup.rule");
        assert_eq!(check("rule = \"r\"\nevent_bus = \"\"").unwrap_err().key, "setup.event_bus");
        assert_eq!(check("rule = \"r\"\npattern = \"shop\"").unwrap_err().key, "setup.pattern");
    }
}
