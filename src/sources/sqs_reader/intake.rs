//! What an SQS message becomes, by the source's type: Lambda's SQS event (or the body), the
//! event the AWS service behind the queue would hand its own trigger, a skip or a confirmation.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use bytes::Bytes;

use crate::sources::decode::sns_envelope::SKIP_SNS_SUBSCRIPTION_CONFIRMATION;
use crate::sources::decode::Decoded;
use crate::sources::sqs;
use crate::sources::sqs_reader::SqsSettings;

/// One event an SQS message becomes.
pub struct Part {
    pub id: String,
    pub payload: Bytes,
    pub invalid: Option<String>,
    pub filter_view: Option<serde_json::Value>,
}

/// What the events of one source are labelled with.
pub struct Labels {
    /// The source's name.
    pub source: String,
    /// The queue's ARN (`eventSourceARN`).
    pub queue_arn: String,
    pub region: String,
    /// Stands in where an alarm message names no account.
    pub account: String,
}

/// What an SQS message becomes.
pub enum Intake {
    Events(Vec<Part>),
    /// Nothing to deliver; the message is acknowledged and counted.
    Skip(&'static str),
    /// An SNS subscription confirmation for the source's own topic (a topic in another account
    /// asks the queue's owner to confirm): confirm it, then acknowledge the message.
    Confirm {
        topic_arn: String,
        token: String,
    },
}

/// The events `message` becomes, by the source's type: Lambda's SQS event (or the body), or
/// the event the AWS service behind the queue would hand its own Lambda trigger.
pub fn intake(message: &Message, settings: &SqsSettings, labels: &Labels) -> Intake {
    let id = message.message_id().unwrap_or_default().to_string();
    let body = message.body().unwrap_or_default();
    let Some(origin) = &settings.origin else {
        let (payload, invalid) = sqs::payload(message, settings.shape, &labels.queue_arn, &labels.region);
        return Intake::Events(vec![Part { id, payload, invalid, filter_view: None }]);
    };
    match origin.decode(message, labels) {
        Decoded::Confirmation { topic_arn, token } if origin.own_topics().contains(&topic_arn.as_str()) => {
            Intake::Confirm { topic_arn, token }
        }
        Decoded::Confirmation { .. } => Intake::Skip(SKIP_SNS_SUBSCRIPTION_CONFIRMATION),
        Decoded::Skip(reason) => Intake::Skip(reason),
        Decoded::Invalid(reason) => {
            Intake::Events(vec![Part { id, payload: Bytes::copy_from_slice(body.as_bytes()), invalid: Some(reason), filter_view: None }])
        }
        Decoded::Events(events) => {
            let parts: Vec<Part> = events
                .into_iter()
                .filter(|e| origin.wants(&e.meta))
                .map(|e| Part {
                    id: e.id,
                    payload: Bytes::from(serde_json::to_vec(&e.payload).expect("JSON values serialize").into_boxed_slice()),
                    invalid: None,
                    filter_view: e.filter_view,
                })
                .collect();
            if parts.is_empty() {
                Intake::Skip("filtered out by the source")
            } else {
                Intake::Events(parts)
            }
        }
    }
}

/// When the message was sent (`SentTimestamp`), or now if SQS did not say.
pub fn sent_at(message: &Message) -> SystemTime {
    message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
        .and_then(|ms| ms.parse::<u64>().ok())
        // No later than chrono can represent: an SNS raw delivery's `Timestamp` is made of it.
        .filter(|&ms| i64::try_from(ms).is_ok_and(|ms| ms <= chrono::DateTime::<chrono::Utc>::MAX_UTC.timestamp_millis()))
        .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
        .unwrap_or_else(SystemTime::now)
}

/// The X-Ray trace header the message was sent with (`AWSTraceHeader`), if any.
pub fn trace(message: &Message) -> Option<std::sync::Arc<str>> {
    message.attributes().and_then(|a| a.get(&MessageSystemAttributeName::AwsTraceHeader)).map(|t| t.as_str().into())
}

/// The FIFO message group, if any.
pub fn group(message: &Message) -> Option<String> {
    message.attributes().and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId)).cloned()
}

/// `arn:aws:sqs:REGION:ACCOUNT:NAME` from a queue URL (`https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`).
pub fn queue_arn(queue_url: &str, region: &str) -> String {
    let mut parts = queue_url.trim_end_matches('/').rsplit('/');
    let name = parts.next().unwrap_or_default();
    let account = parts.next().unwrap_or_default();
    let region = queue_url
        .split("://")
        .nth(1)
        .and_then(|host| host.split('/').next())
        .and_then(|host| host.strip_prefix("sqs."))
        .and_then(|rest| rest.split('.').next())
        .unwrap_or(region);
    format!("arn:aws:sqs:{region}:{account}:{name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::sqs::test_message as message;

    #[test]
    fn arn_from_url() {
        assert_eq!(
            queue_arn("https://sqs.eu-west-1.amazonaws.com/123456789012/orders", "us-east-1"),
            "arn:aws:sqs:eu-west-1:123456789012:orders"
        );
        assert_eq!(
            queue_arn("http://127.0.0.1:5000/123456789012/orders.fifo", "us-east-1"),
            "arn:aws:sqs:us-east-1:123456789012:orders.fifo"
        );
    }

    #[test]
    fn a_subscription_confirmation_is_confirmed_only_for_the_sources_own_topic() {
        let table: toml::Table = toml::from_str(
            "queue_url = \"https://sqs.us-east-1.amazonaws.com/123456789012/news\"\ntopic_arn = \"arn:aws:sns:us-east-1:123456789012:news\"",
        )
        .unwrap();
        let crate::sources::SourceKind::Sqs(settings) = crate::sources::sns::settings(std::path::Path::new("news.toml"), table).unwrap()
        else {
            panic!("an sns source reads a queue")
        };
        let labels = Labels { source: "news".into(), queue_arn: String::new(), region: "us-east-1".into(), account: String::new() };
        let confirmation = |topic: &str| {
            serde_json::json!({"Type": "SubscriptionConfirmation", "TopicArn": topic, "Token": "t0k3n", "Message": "confirm"}).to_string()
        };
        match intake(&message(&confirmation("arn:aws:sns:us-east-1:123456789012:news")), &settings, &labels) {
            Intake::Confirm { topic_arn, token } => {
                assert_eq!((topic_arn.as_str(), token.as_str()), ("arn:aws:sns:us-east-1:123456789012:news", "t0k3n"))
            }
            _ => panic!("the source's own topic is confirmed"),
        }
        assert!(matches!(
            intake(&message(&confirmation("arn:aws:sns:us-east-1:210987654321:other")), &settings, &labels),
            Intake::Skip(SKIP_SNS_SUBSCRIPTION_CONFIRMATION)
        ));
    }

    #[test]
    fn sent_timestamp_is_the_birth() {
        assert_eq!(sent_at(&message("x")), UNIX_EPOCH + Duration::from_millis(1_700_000_000_000));
    }
}
