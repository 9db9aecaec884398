//! The entry points the fuzz targets (`fuzz/fuzz_targets/*.rs`, run by `scripts/fuzz`) and the
//! seed test below share: one function per parser of outside input, each feeding the bytes to
//! the code fanin runs in production and then using what it produced the way fanin does
//! (serializing events, matching route filters against them, walking fire times…).
//!
//! Nothing here catches a panic: a panic is a finding. Where one input carries several parts
//! (an SQS body and its attributes, a daemon file and its source files, a cron expression and
//! its time zone), they are separated by a line `%%` ([`SEPARATOR`]), or by newlines where the
//! target says so.
//!
//! | target | input | runs |
//! |---|---|---|
//! | `sqs_message` | SQS body, then optionally `%%` and attribute lines `Name=Value` (`msg.NAME=Type:value` for message attributes, `id=` for the message id) | the SQS source's intake for every source type (sqs and body shapes, s3, sns, eventbridge, cloudwatch_alarm, with and without source filters), then route filters over each event |
//! | `s3_notification` | SQS body | `s3::decode`, S3 events converted and passed through |
//! | `sns_message` | SQS body | `sns::decode`, with and without a configured topic |
//! | `eventbridge_event` | SQS body | `eventbridge::decode` |
//! | `alarm_message` | SQS body | `cloudwatch_alarm::decode`, and `cloudwatch_alarm::alarm_action` on a JSON object |
//! | `describe_alarms` | a `DescribeAlarms` answer as JSON (`MetricAlarms`, `CompositeAlarms`) | the SDK alarm values built from it, then the poller's conversion to the alarm-action event |
//! | `dead_letter` | a stored dead letter, then optionally `%%` and `RequestID=`/`ErrorCode=` lines | replay's extended-client pointer check and record parser (file, S3 and SQS stores), then filters over the record |
//! | `route_pattern` | an event pattern, then optionally `%%` and events | `Pattern::parse_str`, then `matches` over fixed events and the given ones |
//! | `cron_schedule` | lines: expression, time zone, optionally a start time | `Schedule::parse`, then `next_after` and `fires_between` over a bounded window |
//! | `config_file` | a daemon file, then `%%` and source files | `Config::load` on them written to a scratch directory |
//! | `webhook_request` | header lines `Name: value`, then `%%` and a body, then optionally `%%` and `METHOD /path?query` | every signature scheme's check and parser, the delivery id, the function URL event and `shape = "body"`, the buffer queue's envelope read back |

mod alarms;
mod config_file;
mod cron_schedule;
mod dead_letter;
mod messages;
mod route_pattern;
mod webhook;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use aws_sdk_cloudwatch::primitives::{DateTime as AwsDateTime, DateTimeFormat};
use aws_sdk_cloudwatch::types::{CompositeAlarm, Dimension, Metric, MetricAlarm, MetricDataQuery, MetricStat};
use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::pattern::Pattern;
use crate::replay::item::{self, LegacyAttributes};
use crate::settings::Config;
use crate::sources::cron::schedule::Schedule;
use crate::sources::decode::Decoded;
use crate::sources::sns::SnsContext;
use crate::sources::sqs_reader::intake::{self, Intake};
use crate::sources::sqs_reader::SqsSettings;
use crate::sources::SourceKind;
use crate::sources::{cloudwatch_alarm, eventbridge, s3, sns};

pub use alarms::describe_alarms;
pub use config_file::config_file;
pub use cron_schedule::cron_schedule;
pub use dead_letter::dead_letter;
pub use messages::{alarm_message, eventbridge_event, s3_notification, sns_message, sqs_message};
pub use route_pattern::route_pattern;
pub use webhook::webhook_request;

/// Separates the parts of one input: a line holding `%%`.
pub const SEPARATOR: &[u8] = b"\n%%\n";

/// One target's entry point.
pub type Target = fn(&[u8]);

/// Every target, by the name of its fuzz target and seed directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("sqs_message", sqs_message),
    ("s3_notification", s3_notification),
    ("sns_message", sns_message),
    ("eventbridge_event", eventbridge_event),
    ("alarm_message", alarm_message),
    ("describe_alarms", describe_alarms),
    ("dead_letter", dead_letter),
    ("route_pattern", route_pattern),
    ("cron_schedule", cron_schedule),
    ("config_file", config_file),
    ("webhook_request", webhook_request),
];

/// `data` cut at every [`SEPARATOR`].
fn parts(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
        out.push(&rest[..at]);
        rest = &rest[at + SEPARATOR.len()..];
    }
    out.push(rest);
    out
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// `Name=Value` lines.
fn key_values(data: &[u8]) -> Vec<(String, String)> {
    text(data).lines().filter_map(|line| line.split_once('=').map(|(k, v)| (k.to_string(), v.to_string()))).collect()
}

/// A few route filters of the kinds operators write, compiled once.
fn probe_patterns() -> &'static [Pattern] {
    static PATTERNS: OnceLock<Vec<Pattern>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        [
            json!({"Records": {"s3": {"object": {"key": [{"suffix": ".jpg"}, {"prefix": "in/"}]}}}}),
            json!({"Records": {"eventName": [{"wildcard": "ObjectCreated:*"}], "s3": {"bucket": {"name": [{"exists": true}]}}}}),
            json!({"Records": {"Sns": {"MessageAttributes": {"kind": {"Value": ["order"]}}, "Subject": [null, {"anything-but": "test"}]}}}),
            json!({"source": [{"prefix": "aws."}], "detail": {"amount": [{"numeric": [">=", 100, "<", 1e9]}]}}),
            json!({"alarmData": {"state": {"value": ["ALARM"]}, "alarmName": [{"equals-ignore-case": "CPU-HIGH"}]}}),
            json!({"$or": [{"detail": {"source-ip-address": [{"cidr": "10.0.0.0/8"}]}}, {"detail-type": [{"anything-but": {"prefix": "Object"}}]}]}),
            json!({"requestContext": {"condition": ["ResourceNotFound", "RetriesExhausted"]}, "fanin": {"replayCount": [{"numeric": ["<", 3]}]}}),
            json!({"Records": {"body": [{"exists": false}]}, "detail": {"state": [{"anything-but": ["pending", "running"]}]}}),
        ]
        .iter()
        .map(|p| Pattern::parse(p).expect("the probe patterns are valid"))
        .collect()
    })
}

fn match_probes(value: &Value) {
    for pattern in probe_patterns() {
        std::hint::black_box(pattern.matches(value));
    }
}

/// What the SQS source does with decoded events: each is serialized for Invoke, and route
/// filters look at its filter view, else its payload.
fn use_decoded(decoded: Decoded) {
    match decoded {
        Decoded::Events(events) => {
            for e in events {
                let payload = serde_json::to_vec(&e.payload).expect("JSON values serialize");
                std::hint::black_box((&e.id, &e.meta, payload.len()));
                match &e.filter_view {
                    Some(view) => match_probes(view),
                    None => match_probes(&e.payload),
                }
            }
        }
        Decoded::Skip(reason) => {
            std::hint::black_box(reason);
        }
        Decoded::Confirmation { topic_arn, token } => {
            std::hint::black_box((topic_arn, token));
        }
        Decoded::Invalid(reason) => {
            std::hint::black_box(reason);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SQS message bodies, by source type

/// The account fanin runs in, where a message names none.
const ACCOUNT: &str = "123456789012";

/// Events the route-filter target matches every pattern against.
fn fixed_events() -> &'static [Value] {
    static EVENTS: OnceLock<Vec<Value>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        vec![
            json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": "photos", "arn": "arn:aws:s3:::photos"}, "object": {"key": "in/red flower.jpg", "size": 1024, "sequencer": "0A1B"}}}]}),
            json!({"version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602", "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
                "account": "123456789012", "time": "2021-11-11T21:29:54Z", "region": "us-east-1", "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
                "detail": {"instance-id": "i-abcd1111", "state": "pending", "amount": 150, "ratio": -2.5e-3, "tags": [["a", "b"], {"k": "v"}], "source-ip-address": "10.1.2.3", "ipv6": "2001:db8::1", "empty": "", "none": null, "flag": true}}),
            json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Type": "Notification", "Subject": null, "Message": "{\"order\":42}", "MessageAttributes": {"kind": {"Type": "String", "Value": "order"}}}}]}),
            json!({"source": "aws.cloudwatch", "alarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:cpu-high",
                "alarmData": {"alarmName": "cpu-high", "state": {"value": "ALARM"}, "previousState": {"value": "OK"}, "configuration": {"metrics": [{"id": "m1", "returnData": true}]}}}),
            json!([1, "a", [null, {"x": 1}], 18446744073709551615u64, -9223372036854775808i64, 1e300]),
            json!("just a string"),
        ]
    })
}

/// A scratch directory of this thread's own, removed when dropped.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new(what: &str) -> Scratch {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!("fanin-fuzz-{what}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir_all(path.join("sources")).expect("a scratch directory");
        Scratch { path }
    }

    fn write(&self, name: &str, contents: &[u8]) {
        std::fs::write(self.path.join(name), contents).expect("a scratch file");
    }

    /// Empties `sources/`.
    fn clear_sources(&self) {
        let dir = self.path.join("sources");
        for entry in std::fs::read_dir(&dir).expect("the scratch sources directory").flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests;
