//! What the decoders of the queue-fed AWS source types share: the [`Decoded`] result, the
//! metadata source filters read, and the JSON helpers. Each type's decoder lives in its folder.
//!
//! A function that is triggered directly by S3, SNS, EventBridge or a CloudWatch
//! alarm must work unchanged behind fanin. fanin reads an SQS queue those services
//! deliver to; each type's decoder turns one SQS message body into the JSON event(s) the
//! function would have received from the service's own trigger:
//!
//! | decoder | accepted bodies | the function receives |
//! |---|---|---|
//! | [`s3::decode`](crate::sources::s3::decode) | S3 notification `{"Records":[…]}`; `s3:TestEvent`; either inside an SNS envelope (or raw SNS delivery); an `aws.s3` EventBridge event | one `{"Records":[record]}` per record (EventBridge events converted into an S3 record unless passed through) |
//! | [`sns::decode`](crate::sources::sns::decode) | SNS envelope (`"Type":"Notification"`) or, with raw message delivery, any text | Lambda's SNS event `{"Records":[{"EventSource":"aws:sns",…,"Sns":{…}}]}` |
//! | [`eventbridge::decode`](crate::sources::eventbridge::decode) | an EventBridge event | the event as is |
//! | [`cloudwatch_alarm::decode`](crate::sources::cloudwatch_alarm::decode) | EventBridge "CloudWatch Alarm State Change"; SNS alarm notification (enveloped or raw); an alarm-action event | Lambda's alarm-action event `{"source":"aws.cloudwatch","alarmArn":…,"alarmData":{…}}` |
//!
//! Every decoder returns a [`Decoded`]: events to deliver, a [`Decoded::Skip`] for
//! messages that a direct trigger would never have delivered (S3's `s3:TestEvent`,
//! SNS subscription confirmations), or [`Decoded::Invalid`] with a reason for the
//! dead letter.
//!
//! Shape decisions (where fanin has to fill in what the queue does not carry):
//! - **S3 keys** stay as AWS sent them in the payload (form-encoded, `+` for space);
//!   [`Meta::key`] and [`DecodedEvent::filter_view`] carry the decoded key.
//! - **S3 from EventBridge** becomes an `eventVersion` `"2.1"` record: `eventName`
//!   from `detail-type` + `detail.reason` / `detail.deletion-type` (see
//!   [`s3_event_name`](crate::sources::s3::s3_event_name)), key form-encoded by [`encode_s3_key`](crate::sources::s3::encode_s3_key), `userIdentity.principalId`
//!   = `detail.requester`, `requestParameters.sourceIPAddress` = `detail.source-ip-address`
//!   (`s3.amazonaws.com` where S3 itself made the request), both `x-amz-request-id` and
//!   `x-amz-id-2` = `detail.request-id`, `configurationId` = `fanin-<source>` (the Id
//!   `fanin setup` gives a direct notification), `bucket.ownerIdentity.principalId` = the
//!   event's `account` (the bucket owner's, where EventBridge delivers S3's events).
//! - **Raw SNS delivery** has no envelope: `MessageId` is the SQS message id,
//!   `Timestamp` the SQS `SentTimestamp`, `Subject` null, `MessageAttributes` the SQS
//!   message attributes, `SignatureVersion` and `Signature` are present but empty strings
//!   (nothing can verify a raw message), `UnsubscribeUrl` is SNS's unsubscribe link for the
//!   subscription and `SigningCertUrl` points at SNS's endpoint in the topic's region (parsers
//!   such as Powertools' `SnsModel` require URLs there; typed consumers such as
//!   `aws_lambda_events::sns::SnsMessage` require every one of these fields).
//! - **`EventSubscriptionArn`**: the configured subscription ARN, else the
//!   `SubscriptionArn` in the envelope's `UnsubscribeURL`, else `<TopicArn>:fanin`.
//! - **Alarms from SNS** carry less than the alarm action: `previousState` has only
//!   `value`, `state` has no `reasonData`, a single-metric alarm's metric gets id
//!   `"m1"` and its `Statistic` is spelled as the CloudWatch API does (`AVERAGE` →
//!   `Average`); `region` comes from the alarm ARN (SNS gives a display name).
//! - **Ids** are stable across redeliveries: S3 `bucket/key/sequencer` (decoded key;
//!   without a sequencer, the EventBridge id or a hash of the record), SNS `MessageId`
//!   (SQS message id for raw delivery), EventBridge `id` (else a hash of the body),
//!   alarm `alarmArn@state.timestamp`.

use serde_json::{Map, Value};

pub mod sns_envelope;

/// What one SQS message body became.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// One or more events (an S3 notification with several records gives several).
    Events(Vec<DecodedEvent>),
    /// Nothing to deliver, acknowledged and counted (S3's `s3:TestEvent`, SNS
    /// unsubscribe confirmations); the `&'static str` says why.
    Skip(&'static str),
    /// An SNS `SubscriptionConfirmation`: the reader confirms it when the topic is one of the
    /// source's own, and skips it otherwise.
    Confirmation {
        /// The topic asking the queue's owner to confirm.
        topic_arn: String,
        /// The token `ConfirmSubscription` takes.
        token: String,
    },
    /// Not what this source type expects: the caller dead-letters it as
    /// InvalidEvent with this reason.
    Invalid(String),
}

/// One event to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedEvent {
    /// Stable id, so that a redelivery has the same id (see the module doc).
    pub id: String,
    /// What the function receives.
    pub payload: Value,
    /// What route filters see when it differs from the payload (S3: the same
    /// record with the key URL-decoded), else `None`.
    pub filter_view: Option<Value>,
    /// Metadata for source-level filters and logs.
    pub meta: Meta,
}

/// Metadata for source-level filters and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// S3 bucket name.
    pub bucket: Option<String>,
    /// S3 object key, decoded.
    pub key: Option<String>,
    /// S3 `eventName` (`ObjectCreated:Put`…, also for EventBridge events when a
    /// mapping exists); EventBridge `detail-type`.
    pub event_name: Option<String>,
    /// CloudWatch alarm name.
    pub alarm_name: Option<String>,
    /// CloudWatch alarm state (`OK`, `ALARM`, `INSUFFICIENT_DATA`).
    pub state: Option<String>,
}

pub(crate) fn parse_body(body: &str) -> Result<Value, String> {
    serde_json::from_str(body).map_err(|e| format!("body is not valid JSON: {e}"))
}

pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |cur, p| cur.get(p))?.as_str()
}

pub(crate) fn is_eventbridge(obj: &Map<String, Value>) -> bool {
    obj.get("source").is_some_and(Value::is_string) && obj.get("detail-type").is_some_and(Value::is_string)
}

pub(crate) fn prefix_invalid(d: Decoded, prefix: &str) -> Decoded {
    match d {
        Decoded::Invalid(r) => Decoded::Invalid(format!("{prefix}{r}")),
        other => other,
    }
}

pub(crate) fn single(id: String, payload: Value, filter_view: Option<Value>, meta: Meta) -> Decoded {
    Decoded::Events(vec![DecodedEvent { id, payload, filter_view, meta }])
}

pub(crate) fn percent_decode(s: &str, plus_is_space: bool) -> String {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' => {
                let digit = |j: usize| bytes.get(j).copied().and_then(hex);
                match (digit(i + 1), digit(i + 2)) {
                    (Some(h), Some(l)) => {
                        out.push(h << 4 | l);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// Whether `value` starts with `prefix`, where a filter without a prefix takes everything.
pub(crate) fn starts_with(value: &Option<String>, prefix: &Option<String>) -> bool {
    prefix.as_ref().is_none_or(|p| value.as_ref().is_some_and(|v| v.starts_with(p.as_str())))
}

/// What the decoder tests of every source type share.
#[cfg(test)]
pub(crate) mod testing {
    use serde_json::{json, Value};

    use super::{Decoded, DecodedEvent};

    pub(crate) fn events(d: Decoded) -> Vec<DecodedEvent> {
        match d {
            Decoded::Events(e) => e,
            other => panic!("expected events, got {other:?}"),
        }
    }

    pub(crate) fn one(d: Decoded) -> DecodedEvent {
        let mut e = events(d);
        assert_eq!(e.len(), 1, "expected one event: {e:?}");
        e.remove(0)
    }

    pub(crate) fn invalid(d: Decoded) -> String {
        match d {
            Decoded::Invalid(r) => r,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    /// An SNS→SQS envelope whose Message is `message`.
    pub(crate) fn envelope(message: &str) -> String {
        json!({
            "Type": "Notification",
            "MessageId": "63a3f6b6-d533-4a47-aef9-fcf5cf758c76",
            "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
            "Subject": "Amazon S3 Notification",
            "Message": message,
            "Timestamp": "2012-03-29T05:12:16.901Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLEnTrFPa3...",
            "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
            "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-west-2:123456789012:MyTopic:c7fe3a54-ab0e-4ec2-88e0-db410a0f2bee"
        })
        .to_string()
    }

    /// Lambda Developer Guide, "Using AWS Lambda with Amazon S3", example event.
    pub(crate) fn lambda_s3_sample() -> Value {
        json!({
          "Records": [{
            "eventVersion": "2.0",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": "1970-01-01T00:00:00.000Z",
            "eventName": "ObjectCreated:Put",
            "userIdentity": { "principalId": "EXAMPLE" },
            "requestParameters": { "sourceIPAddress": "127.0.0.1" },
            "responseElements": {
              "x-amz-request-id": "EXAMPLE123456789",
              "x-amz-id-2": "EXAMPLE123/5678abcdefghijklambdaisawesome/mnopqrstuvwxyzABCDEFGH"
            },
            "s3": {
              "s3SchemaVersion": "1.0",
              "configurationId": "testConfigRule",
              "bucket": {
                "name": "example-bucket",
                "ownerIdentity": { "principalId": "EXAMPLE" },
                "arn": "arn:aws:s3:::example-bucket"
              },
              "object": {
                "key": "test%2Fkey",
                "size": 1024,
                "eTag": "0123456789abcdef0123456789abcdef",
                "sequencer": "0A1B2C3D4E5F678901"
              }
            }
          }]
        })
    }

    /// S3 User Guide, "EventBridge event message structure", Object Created.
    pub(crate) fn eb_object_created() -> Value {
        json!({
          "version": "0",
          "id": "17793124-05d4-b198-2fde-7ededc63b103",
          "detail-type": "Object Created",
          "source": "aws.s3",
          "account": "111122223333",
          "time": "2021-11-12T00:00:00Z",
          "region": "ca-central-1",
          "resources": ["arn:aws:s3:::amzn-s3-demo-bucket1"],
          "detail": {
            "version": "0",
            "bucket": { "name": "amzn-s3-demo-bucket1" },
            "object": {
              "key": "example-key",
              "size": 5,
              "etag": "b1946ac92492d2347c6235b4d2611184",
              "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
              "sequencer": "617f08299329d189"
            },
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "1.2.3.4",
            "reason": "PutObject"
          }
        })
    }
}
