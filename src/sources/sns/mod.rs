//! `type = "sns"`: a queue subscribed to a topic, handed on as the event SNS's own Lambda
//! trigger gives.

use std::path::Path;

use serde::Deserialize;

use crate::config::{deserialize_at, split_off, ConfigError};
use crate::sources::sqs_reader::{Origin, SqsSettings};
use crate::sources::SourceKind;

/// `type = "sns"`: a queue subscribed to a topic.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnsOptions {
    /// The topic; needed with raw message delivery, where messages carry no envelope.
    pub topic_arn: Option<String>,
    /// Reported as `EventSubscriptionArn`; default `<topic_arn>:fanin`.
    pub subscription_arn: Option<String>,
    /// What `fanin setup` wires: the queue's subscription to the topic.
    pub setup: Option<TopicWiring>,
}

impl SnsOptions {
    /// The topic `fanin setup` subscribes the queue to, for a source with a `setup` table.
    pub fn setup_topic(&self) -> Option<&str> {
        self.setup.as_ref().and_then(|w| w.topic_arn.as_ref().or(self.topic_arn.as_ref())).map(String::as_str)
    }

    /// The topics this source calls its own: whose subscription confirmations it confirms.
    pub fn own_topics(&self) -> impl Iterator<Item = &str> {
        self.topic_arn.as_deref().into_iter().chain(self.setup_topic())
    }
}

/// `setup = { … }` of an `sns` source: subscribe the queue (enveloped) to the topic.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicWiring {
    /// The topic; default: the source's `topic_arn`.
    pub topic_arn: Option<String>,
}

/// The settings of a `type = "sns"` source file.
pub fn settings(path: &Path, mut table: toml::Table) -> Result<SourceKind, ConfigError> {
    let own = split_off(&mut table, &["topic_arn", "subscription_arn", "setup"]);
    let options: SnsOptions = deserialize_at(path, "", own)?;
    if options.setup.is_some() && options.setup_topic().is_none() {
        return Err(ConfigError::new(path, "setup.topic_arn", "missing: name the topic (here or as the source's `topic_arn`)"));
    }
    SqsSettings::fed_by(path, table, Origin::Sns(options))
}
