//! The AWS service behind a queue-fed source, and what its type says about the queue's
//! messages: which decoder reads them, which of them the source keeps, which topics it
//! confirms, and what `fanin setup` wires so the service sends to the queue. The one place
//! that names every queue-fed type.

use aws_sdk_sqs::types::Message;
use serde_json::Value;

use super::intake::Labels;
use crate::sources::cloudwatch_alarm::{self, AlarmOptions};
use crate::sources::decode::{Decoded, Meta};
use crate::sources::eventbridge::{self, EventBridgeOptions, RuleWiring};
use crate::sources::http::{self, HttpOptions};
use crate::sources::s3::{self, S3Options, S3Shape};
use crate::sources::sns::{self, SnsOptions};

/// The AWS service behind an SQS-backed source, with its type's own keys.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// `type = "s3"`: S3 event notifications.
    S3(S3Options),
    /// `type = "sns"`: a topic's notifications.
    Sns(SnsOptions),
    /// `type = "eventbridge"`: a rule's events.
    EventBridge(EventBridgeOptions),
    /// `type = "cloudwatch_alarm"` with `queue_url`: alarm state changes.
    CloudWatchAlarm(AlarmOptions),
    /// `type = "http"`: webhooks the source itself stored in its buffer queue.
    Http(Box<HttpOptions>),
}

/// What `fanin setup` makes so that the service behind a source sends to its queue.
#[derive(Debug, Clone, PartialEq)]
pub enum Wiring<'a> {
    /// A queue notification on `bucket`, for the source's events, prefix and suffix.
    Bucket { bucket: &'a str, options: &'a S3Options },
    /// The queue subscribed to `topic`.
    Topic { topic: &'a str },
    /// An EventBridge rule with `pattern` and the queue as a target.
    Rule { rule: &'a RuleWiring, pattern: Value },
}

impl Origin {
    /// The events `message` becomes: what the service's own Lambda trigger would hand on.
    pub fn decode(&self, message: &Message, labels: &Labels) -> Decoded {
        let body = message.body().unwrap_or_default();
        match self {
            // The Id `fanin setup` gives the source's own bucket notification.
            Origin::S3(o) => s3::decode(body, o.shape == S3Shape::Eventbridge, &format!("fanin-{}", labels.source)),
            Origin::Sns(o) => sns::decode(body, &sns::context(message, o.topic_arn.clone(), o.subscription_arn.clone())),
            Origin::EventBridge(_) => eventbridge::decode(body),
            Origin::CloudWatchAlarm(_) => cloudwatch_alarm::decode(body, &labels.account),
            Origin::Http(_) => http::decode(body),
        }
    }

    /// Whether the source's own filters keep an event.
    pub fn wants(&self, meta: &Meta) -> bool {
        match self {
            Origin::S3(o) => o.wants(meta),
            Origin::CloudWatchAlarm(o) => o.wants(meta),
            Origin::Sns(_) | Origin::EventBridge(_) | Origin::Http(_) => true,
        }
    }

    /// The topics whose subscription confirmations the source confirms.
    pub fn own_topics(&self) -> Vec<&str> {
        match self {
            Origin::Sns(o) => o.own_topics().collect(),
            _ => Vec::new(),
        }
    }

    /// What `fanin setup` wires, for a source with a `setup` table.
    pub fn wiring(&self) -> Option<Wiring<'_>> {
        match self {
            Origin::S3(o) => {
                o.setup.as_ref()?;
                Some(Wiring::Bucket { bucket: o.setup_bucket().expect("config checks a wired source names a bucket"), options: o })
            }
            Origin::Sns(o) => {
                o.setup.as_ref()?;
                Some(Wiring::Topic { topic: o.setup_topic().expect("config checks a wired source names a topic") })
            }
            Origin::EventBridge(EventBridgeOptions { setup }) => {
                let rule = setup.as_ref()?;
                Some(Wiring::Rule { rule, pattern: rule.pattern.clone().expect("config checks an eventbridge rule has a pattern") })
            }
            Origin::CloudWatchAlarm(o) => {
                let rule = o.setup.as_ref()?;
                Some(Wiring::Rule { rule, pattern: rule.pattern.clone().unwrap_or_else(|| cloudwatch_alarm::alarm_pattern(o)) })
            }
            // The source itself sends to its buffer queue: nothing to wire.
            Origin::Http(_) => None,
        }
    }
}
