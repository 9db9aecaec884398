//! The event an SQS message becomes: Lambda's SQS event with one record, or the body itself.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::encodings::Base64Data;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use bytes::Bytes;

use crate::sources::s3::S3Shape;
use crate::sources::sqs::SqsShape;
use crate::sources::sqs_reader::{Origin, SqsSettings};
use crate::sources::decode::{self, Decoded, Meta, SnsContext};

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
    Confirm { topic_arn: String, token: String },
}

/// The events `message` becomes, by the source's type: Lambda's SQS event (or the body), or
/// the event the AWS service behind the queue would hand its own Lambda trigger.
pub fn intake(message: &Message, settings: &SqsSettings, labels: &Labels) -> Intake {
    let id = message.message_id().unwrap_or_default().to_string();
    let body = message.body().unwrap_or_default();
    let decoded = match &settings.origin {
        None => {
            let (payload, invalid) = payload(message, settings.shape, &labels.queue_arn, &labels.region);
            return Intake::Events(vec![Part { id, payload, invalid, filter_view: None }]);
        }
        // The Id `fanin setup` gives the source's own bucket notification.
        Some(Origin::S3(o)) => decode::s3(body, o.shape == S3Shape::Eventbridge, &format!("fanin-{}", labels.source)),
        Some(Origin::Sns(o)) => decode::sns(body, &sns_context(message, o.topic_arn.clone(), o.subscription_arn.clone())),
        Some(Origin::EventBridge(_)) => decode::eventbridge(body),
        Some(Origin::CloudWatchAlarm(_)) => decode::cloudwatch_alarm(body, &labels.account),
    };
    match decoded {
        Decoded::Skip(decode::SKIP_SNS_SUBSCRIPTION_CONFIRMATION) => match (&settings.origin, confirmation(body)) {
            (Some(Origin::Sns(o)), Some((topic_arn, token)))
                if o.own_topics().any(|t| t == topic_arn) =>
            {
                Intake::Confirm { topic_arn, token }
            }
            _ => Intake::Skip(decode::SKIP_SNS_SUBSCRIPTION_CONFIRMATION),
        },
        Decoded::Skip(reason) => Intake::Skip(reason),
        Decoded::Invalid(reason) => {
            Intake::Events(vec![Part { id, payload: Bytes::copy_from_slice(body.as_bytes()), invalid: Some(reason), filter_view: None }])
        }
        Decoded::Events(events) => {
            let parts: Vec<Part> = events
                .into_iter()
                .filter(|e| wanted(settings.origin.as_ref(), &e.meta))
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

/// The topic and token of an SNS `SubscriptionConfirmation` message.
fn confirmation(body: &str) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    Some((v["TopicArn"].as_str()?.to_string(), v["Token"].as_str()?.to_string()))
}

/// The source's own filters: S3 bucket, key prefix and suffix (decoded), event names; alarm
/// name prefix and new state.
fn wanted(origin: Option<&Origin>, meta: &Meta) -> bool {
    let starts = |v: &Option<String>, p: &Option<String>| p.as_ref().is_none_or(|p| v.as_ref().is_some_and(|v| v.starts_with(p.as_str())));
    match origin {
        Some(Origin::S3(o)) => {
            o.bucket.as_ref().is_none_or(|b| meta.bucket.as_ref() == Some(b))
                && starts(&meta.key, &o.prefix)
                && o.suffix.as_ref().is_none_or(|s| meta.key.as_ref().is_some_and(|k| k.ends_with(s.as_str())))
                && (o.events.is_empty() || o.events.iter().any(|p| event_name_matches(p, meta.event_name.as_deref())))
        }
        Some(Origin::CloudWatchAlarm(o)) => {
            starts(&meta.alarm_name, &o.alarm_name_prefix) && (o.states.is_empty() || meta.state.as_ref().is_some_and(|s| o.states.contains(s)))
        }
        _ => true,
    }
}

/// `ObjectCreated:*` matches the family, anything else the exact name; S3's own `s3:` prefix is optional.
fn event_name_matches(pattern: &str, name: Option<&str>) -> bool {
    let Some(name) = name else { return false };
    let pattern = pattern.strip_prefix("s3:").unwrap_or(pattern);
    match pattern.strip_suffix('*') {
        Some(family) => name.starts_with(family),
        None => name == pattern,
    }
}

/// What a raw SNS delivery cannot say about itself.
fn sns_context(message: &Message, topic_arn: Option<String>, subscription_arn: Option<String>) -> SnsContext {
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

/// The payload for `message`, or why there can be none (then the raw body is the payload).
pub(crate) fn payload(message: &Message, shape: SqsShape, queue_arn: &str, region: &str) -> (Bytes, Option<String>) {
    let body = message.body().unwrap_or_default();
    match shape {
        SqsShape::Body => match serde_json::from_str::<serde::de::IgnoredAny>(body) {
            Ok(_) if nested_deeper_than(body, MAX_DEPTH) => (
                Bytes::copy_from_slice(body.as_bytes()),
                Some(format!("shape = \"body\": JSON nested deeper than {MAX_DEPTH} levels (what route filters and dead-letter records can read)")),
            ),
            Ok(_) => (Bytes::copy_from_slice(body.as_bytes()), None),
            Err(e) => (
                Bytes::copy_from_slice(body.as_bytes()),
                Some(format!("shape = \"body\" needs a JSON body: {e}")),
            ),
        },
        SqsShape::Sqs => {
            let event = SqsEvent { records: vec![record(message, queue_arn, region)], ..Default::default() };
            let json = serde_json::to_vec(&event).expect("an SQS event always serializes");
            // Shrunk to fit: the payload waits in memory, and a grown buffer is up to twice its size.
            (Bytes::from(json.into_boxed_slice()), None)
        }
    }
}

/// The nesting serde_json reads (its recursion limit), and so what route filters, decoders and
/// dead-letter records can take.
const MAX_DEPTH: usize = 128;

/// Whether the JSON text `json` opens more than `limit` arrays and objects inside each other.
/// (Skipping a value, as the shape check does, has no depth limit of its own.)
fn nested_deeper_than(json: &str, limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for b in json.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Lambda's record for one message: the same fields, names and encodings its SQS trigger uses.
fn record(message: &Message, queue_arn: &str, region: &str) -> SqsMessage {
    let attributes = message
        .attributes()
        .map(|a| a.iter().map(|(k, v)| (k.as_str().to_string(), v.clone())).collect())
        .unwrap_or_default();
    let message_attributes: HashMap<String, SqsMessageAttribute> = message
        .message_attributes()
        .map(|attrs| {
            attrs
                .iter()
                .map(|(name, v)| {
                    let attr = SqsMessageAttribute {
                        string_value: v.string_value().map(str::to_string),
                        binary_value: v.binary_value().map(|b| Base64Data(b.as_ref().to_vec())),
                        string_list_values: v.string_list_values().to_vec(),
                        binary_list_values: v.binary_list_values().iter().map(|b| Base64Data(b.as_ref().to_vec())).collect(),
                        data_type: Some(v.data_type().to_string()),
                        ..Default::default()
                    };
                    (name.clone(), attr)
                })
                .collect()
        })
        .unwrap_or_default();
    SqsMessage {
        message_id: message.message_id().map(str::to_string),
        receipt_handle: message.receipt_handle().map(str::to_string),
        body: Some(message.body().unwrap_or_default().to_string()),
        md5_of_body: message.md5_of_body().map(str::to_string),
        md5_of_message_attributes: message.md5_of_message_attributes().map(str::to_string),
        attributes,
        message_attributes,
        event_source_arn: Some(queue_arn.to_string()),
        event_source: Some("aws:sqs".into()),
        aws_region: Some(region.to_string()),
        ..Default::default()
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

    #[test]
    fn nesting_is_counted_outside_strings_only() {
        assert!(!nested_deeper_than(&format!("{}{}", "[".repeat(128), "]".repeat(128)), 128));
        assert!(nested_deeper_than(&format!("{}{}", "[".repeat(129), "]".repeat(129)), 128));
        assert!(nested_deeper_than(&format!("{}1{}", "{\"a\":".repeat(129), "}".repeat(129)), 128));
        let in_a_string = format!("{{\"s\":\"{}\\\"{}\"}}", "[".repeat(500), "{".repeat(500));
        assert!(!nested_deeper_than(&in_a_string, 128), "{in_a_string}");
    }
    use aws_sdk_sqs::primitives::Blob;
    use aws_sdk_sqs::types::MessageAttributeValue;

    fn message(body: &str) -> Message {
        Message::builder()
            .message_id("m-1")
            .receipt_handle("r-1")
            .body(body)
            .md5_of_body("abc")
            .attributes(MessageSystemAttributeName::SentTimestamp, "1700000000000")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "1")
            .message_attributes(
                "raw",
                MessageAttributeValue::builder().data_type("Binary").binary_value(Blob::new(vec![0xff, 0xfe, 0x00])).build().unwrap(),
            )
            .message_attributes("kind", MessageAttributeValue::builder().data_type("String").string_value("order").build().unwrap())
            .build()
    }

    #[test]
    fn lambda_sqs_shape() {
        let (payload, invalid) = payload(&message("{\"a\":1}"), SqsShape::Sqs, "arn:aws:sqs:us-east-1:1:q", "us-east-1");
        assert!(invalid.is_none());
        let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        let r = &v["Records"][0];
        assert_eq!(r["messageId"], "m-1");
        assert_eq!(r["receiptHandle"], "r-1");
        assert_eq!(r["body"], "{\"a\":1}");
        assert_eq!(r["eventSource"], "aws:sqs");
        assert_eq!(r["eventSourceARN"], "arn:aws:sqs:us-east-1:1:q");
        assert_eq!(r["awsRegion"], "us-east-1");
        assert_eq!(r["attributes"]["SentTimestamp"], "1700000000000");
        assert_eq!(r["messageAttributes"]["kind"]["stringValue"], "order");
        assert_eq!(r["messageAttributes"]["kind"]["dataType"], "String");
        assert_eq!(r["messageAttributes"]["raw"]["binaryValue"], "//4A", "bytes that are not UTF-8 travel as base64");
    }

    #[test]
    fn body_shape_needs_json() {
        let (p, invalid) = payload(&message("{\"a\":1}"), SqsShape::Body, "arn", "r");
        assert_eq!(&p[..], b"{\"a\":1}");
        assert!(invalid.is_none());
        for bad in ["not json", "", "{\"a\":"] {
            let (p, invalid) = payload(&message(bad), SqsShape::Body, "arn", "r");
            assert_eq!(&p[..], bad.as_bytes());
            assert!(invalid.is_some(), "{bad:?}");
        }
    }

    #[test]
    fn arn_from_url() {
        assert_eq!(queue_arn("https://sqs.eu-west-1.amazonaws.com/123456789012/orders", "us-east-1"), "arn:aws:sqs:eu-west-1:123456789012:orders");
        assert_eq!(queue_arn("http://127.0.0.1:5000/123456789012/orders.fifo", "us-east-1"), "arn:aws:sqs:us-east-1:123456789012:orders.fifo");
    }

    #[test]
    fn sent_timestamp_is_the_birth() {
        assert_eq!(sent_at(&message("x")), UNIX_EPOCH + Duration::from_millis(1_700_000_000_000));
    }
}
