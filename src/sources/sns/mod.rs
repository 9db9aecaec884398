//! `type = "sns"`: a queue subscribed to a topic, handed on as the event SNS's own Lambda
//! trigger gives.

mod event;

use std::path::Path;

use aws_sdk_sqs::types::Message;
use serde::Deserialize;

use crate::config::{deserialize_at, split_off, ConfigError};
use crate::sources::sqs_reader::{sent_at, Origin, SqsSettings};
use crate::sources::SourceKind;

pub use event::{decode, SnsContext};

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
    for (key, arn) in [("topic_arn", &options.topic_arn), ("setup.topic_arn", &options.setup.as_ref().and_then(|w| w.topic_arn.clone()))] {
        // Confirmations and `fanin setup` name the topic by its ARN: arn:PARTITION:sns:REGION:ACCOUNT:NAME.
        if arn.as_ref().is_some_and(|a| !(a.starts_with("arn:") && a.split(':').nth(2) == Some("sns") && a.split(':').count() == 6)) {
            return Err(ConfigError::new(path, key, "must be a topic ARN: arn:aws:sns:REGION:ACCOUNT:NAME"));
        }
    }
    if options.setup.is_some() && options.setup_topic().is_none() {
        return Err(ConfigError::new(path, "setup.topic_arn", "missing: name the topic (here or as the source's `topic_arn`)"));
    }
    SqsSettings::fed_by(path, table, Origin::Sns(options))
}

/// What a raw SNS delivery cannot say about itself.
pub fn context(message: &Message, topic_arn: Option<String>, subscription_arn: Option<String>) -> SnsContext {
    let message_attributes = message
        .message_attributes()
        .map(|attrs| {
            attrs
                .iter()
                .filter_map(|(name, v)| v.string_value().map(|s| (name.clone(), v.data_type().to_string(), s.to_string())))
                .collect()
        })
        .unwrap_or_default();
    SnsContext {
        topic_arn,
        subscription_arn,
        message_id: message.message_id().unwrap_or_default().to_string(),
        sent_timestamp: Some(chrono::DateTime::<chrono::Utc>::from(sent_at(message))),
        message_attributes,
    }
}
