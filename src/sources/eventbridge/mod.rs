//! `type = "eventbridge"`: a queue that is an EventBridge rule's target, handed on as the
//! event itself.

mod event;

use std::path::Path;

use serde::Deserialize;

use crate::config::{deserialize_at, split_off, ConfigError};
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
    SqsSettings::fed_by(path, table, Origin::EventBridge(options))
}
