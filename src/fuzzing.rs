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

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use aws_sdk_cloudwatch::primitives::{DateTime as AwsDateTime, DateTimeFormat};
use aws_sdk_cloudwatch::types::{CompositeAlarm, Dimension, Metric, MetricAlarm, MetricDataQuery, MetricStat};
use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::settings::Config;
use crate::sources::SourceKind;
use crate::sources::sqs_reader::SqsSettings;
use crate::pattern::Pattern;
use crate::replay::item::{self, LegacyAttributes};
use crate::sources::cron::schedule::Schedule;
use crate::sources::decode::Decoded;
use crate::sources::sns::SnsContext;
use crate::sources::{cloudwatch_alarm, eventbridge, s3, sns};
use crate::sources::sqs_reader::intake::{self, Intake};

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
];

// ---------------------------------------------------------------------------------------------
// Shared helpers

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
    text(data)
        .lines()
        .filter_map(|line| line.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
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
        Decoded::Invalid(reason) => {
            std::hint::black_box(reason);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SQS message bodies, by source type

/// What the events of the fuzzed sources are labelled with.
fn labels() -> intake::Labels {
    intake::Labels {
        source: "fuzz".into(),
        queue_arn: "arn:aws:sqs:us-east-1:123456789012:fuzz".into(),
        region: "us-east-1".into(),
        account: ACCOUNT.into(),
    }
}

/// The account fanin runs in, where a message names none.
const ACCOUNT: &str = "123456789012";

/// The settings of one source of each type and shape, read from source files by
/// [`Config::load`] as the daemon reads them.
fn sqs_settings() -> &'static [SqsSettings] {
    static SETTINGS: OnceLock<Vec<SqsSettings>> = OnceLock::new();
    SETTINGS.get_or_init(|| {
        let q = "queue_url = \"https://sqs.us-east-1.amazonaws.com/123456789012/fuzz\"\ntarget = \"t\"\n";
        let sources = [
            ("a-sqs", "type = \"sqs\"\nshape = \"sqs\"\n".to_string()),
            ("b-body", "type = \"sqs\"\nshape = \"body\"\n".to_string()),
            ("c-s3", "type = \"s3\"\n".to_string()),
            (
                "d-s3-filtered",
                "type = \"s3\"\nshape = \"eventbridge\"\nbucket = \"example-bucket\"\nprefix = \"test/\"\nsuffix = \"key\"\nevents = [\"ObjectCreated:*\", \"s3:ObjectRemoved:Delete\"]\n".to_string(),
            ),
            (
                "e-sns",
                "type = \"sns\"\ntopic_arn = \"arn:aws:sns:us-east-1:123456789012:sns-lambda\"\nsubscription_arn = \"arn:aws:sns:us-east-1:123456789012:sns-lambda:fuzz\"\nsetup = { topic_arn = \"arn:aws:sns:us-west-2:123456789012:MyTopic\" }\n".to_string(),
            ),
            ("f-sns-bare", "type = \"sns\"\n".to_string()),
            ("g-eventbridge", "type = \"eventbridge\"\n".to_string()),
            ("h-alarm", "type = \"cloudwatch_alarm\"\n".to_string()),
            ("i-alarm-filtered", "type = \"cloudwatch_alarm\"\nalarm_name_prefix = \"Server\"\nstates = [\"ALARM\", \"OK\"]\n".to_string()),
        ];
        let dir = Scratch::new("settings");
        dir.write("fanin.toml", b"[targets.t]\nfunction = \"t\"\n");
        for (name, body) in &sources {
            dir.write(&format!("sources/{name}.toml"), format!("{body}{q}").as_bytes());
        }
        let config = Config::load(&dir.path.join("fanin.toml")).expect("the fuzzing sources are valid");
        config
            .sources
            .into_iter()
            .map(|s| match s.kind {
                SourceKind::Sqs(settings) => settings,
                other => panic!("{}: not a queue source: {other:?}", s.name),
            })
            .collect()
    })
}

/// The message SQS would hand fanin: `body`, with the attributes given (else the ones SQS
/// always sets).
fn sqs_message_from(body: &str, attributes: Option<&[u8]>) -> Message {
    let mut m = Message::builder().message_id("0e5a3a9e-4c3b-4b8e-9d3e-1c2b3a4d5e6f").receipt_handle("r-1").body(body).md5_of_body("0");
    let Some(attributes) = attributes else {
        return m
            .attributes(MessageSystemAttributeName::SentTimestamp, "1700000000000")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "1")
            .build();
    };
    for (k, v) in key_values(attributes) {
        if let Some(name) = k.strip_prefix("msg.") {
            let (data_type, value) = v.split_once(':').unwrap_or(("String", &v));
            let a = MessageAttributeValue::builder().data_type(data_type);
            let a = if data_type.starts_with("Binary") { a.binary_value(Blob::new(value.as_bytes())) } else { a.string_value(value) };
            m = m.message_attributes(name, a.build().expect("data type set"));
        } else if k == "id" {
            m = m.message_id(v);
        } else {
            m = m.attributes(MessageSystemAttributeName::from(k.as_str()), v);
        }
    }
    m.build()
}

/// An SQS message through the SQS source's intake, for every source type; then what the
/// dispatcher does with each event (route filters over its filter view, else its payload).
pub fn sqs_message(data: &[u8]) {
    let parts = parts(data);
    let body = text(parts[0]);
    let message = sqs_message_from(&body, parts.get(1).copied());
    std::hint::black_box((intake::sent_at(&message), intake::group(&message)));
    let labels = labels();
    for settings in sqs_settings() {
        match intake::intake(&message, settings, &labels) {
            Intake::Events(events) => {
                for part in events {
                    let view = part.filter_view.or_else(|| serde_json::from_slice(&part.payload).ok());
                    if let Some(view) = view {
                        match_probes(&view);
                    }
                    std::hint::black_box((part.id, part.invalid));
                }
            }
            Intake::Skip(reason) => {
                std::hint::black_box(reason);
            }
            Intake::Confirm { topic_arn, token } => {
                std::hint::black_box((topic_arn, token));
            }
        }
    }
}

/// An S3 notification (direct, through SNS, through EventBridge), converted and passed through.
pub fn s3_notification(data: &[u8]) {
    let body = text(data);
    use_decoded(s3::decode(&body, false, "fanin"));
    use_decoded(s3::decode(&body, true, "fanin"));
}

/// An SNS delivery, enveloped or raw, with and without the source's topic configured.
pub fn sns_message(data: &[u8]) {
    let body = text(data);
    let sent = DateTime::from_timestamp_millis(1_546_433_107_000);
    let contexts = [
        SnsContext {
            topic_arn: Some("arn:aws:sns:us-east-1:123456789012:sns-lambda".into()),
            subscription_arn: None,
            message_id: "sqs-5fea7756-0ea4-451a-a703-a558b933e274".into(),
            sent_timestamp: sent,
            message_attributes: vec![("kind".into(), "String".into(), "order".into()), ("n".into(), "Number".into(), "3".into())],
        },
        SnsContext {
            topic_arn: Some("arn:aws:sns:us-east-1:123456789012:sns-lambda".into()),
            subscription_arn: Some("arn:aws:sns:us-east-1:123456789012:sns-lambda:fuzz".into()),
            message_id: "m-2".into(),
            sent_timestamp: sent,
            message_attributes: vec![],
        },
        SnsContext { message_id: "m-3".into(), sent_timestamp: sent, ..SnsContext::default() },
    ];
    for ctx in &contexts {
        use_decoded(sns::decode(&body, ctx));
    }
}

/// An EventBridge event from a rule's queue target.
pub fn eventbridge_event(data: &[u8]) {
    use_decoded(eventbridge::decode(&text(data)));
}

/// A CloudWatch alarm state change: from EventBridge, an SNS alarm notification (enveloped or
/// raw), or an alarm-action event; and a JSON object as the poller hands it over.
pub fn alarm_message(data: &[u8]) {
    let body = text(data);
    use_decoded(cloudwatch_alarm::decode(&body, ACCOUNT));
    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&body) {
        if let Ok(event) = cloudwatch_alarm::alarm_action(&map, ACCOUNT) {
            use_decoded(Decoded::Events(vec![event]));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// DescribeAlarms

fn field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn field_i32(v: &Value, k: &str) -> Option<i32> {
    v.get(k).and_then(Value::as_i64).map(|n| n as i32)
}

/// A timestamp as the SDK's deserializer can give one: epoch seconds (fractional or not), or
/// an RFC 3339 string.
fn timestamp(v: &Value, k: &str) -> Option<AwsDateTime> {
    match v.get(k)? {
        Value::Number(n) => match n.as_i64() {
            Some(secs) => Some(AwsDateTime::from_secs(secs)),
            None => {
                let x = n.as_f64()?;
                let secs = x.floor();
                let nanos = (((x - secs) * 1e9) as u32).min(999_999_999);
                Some(AwsDateTime::from_secs_and_nanos(secs as i64, nanos))
            }
        },
        Value::String(s) => AwsDateTime::from_str(s, DateTimeFormat::DateTime).ok(),
        _ => None,
    }
}

fn dimensions(v: &Value) -> Option<Vec<Dimension>> {
    let list = v.get("Dimensions")?.as_array()?;
    Some(list.iter().map(|d| Dimension::builder().set_name(field(d, "Name").map(Into::into)).set_value(field(d, "Value").map(Into::into)).build()).collect())
}

fn metric_query(q: &Value) -> MetricDataQuery {
    let stat = q.get("MetricStat").map(|s| {
        let metric = s.get("Metric").map(|m| {
            Metric::builder()
                .set_namespace(field(m, "Namespace").map(Into::into))
                .set_metric_name(field(m, "MetricName").map(Into::into))
                .set_dimensions(dimensions(m))
                .build()
        });
        MetricStat::builder()
            .set_metric(metric)
            .set_period(field_i32(s, "Period"))
            .set_stat(field(s, "Stat").map(Into::into))
            .set_unit(field(s, "Unit").map(Into::into))
            .build()
    });
    MetricDataQuery::builder()
        .set_id(field(q, "Id").map(Into::into))
        .set_metric_stat(stat)
        .set_expression(field(q, "Expression").map(Into::into))
        .set_label(field(q, "Label").map(Into::into))
        .set_return_data(q.get("ReturnData").and_then(Value::as_bool))
        .set_period(field_i32(q, "Period"))
        .set_account_id(field(q, "AccountId").map(Into::into))
        .build()
}

fn metric_alarm(a: &Value) -> MetricAlarm {
    MetricAlarm::builder()
        .set_alarm_name(field(a, "AlarmName").map(Into::into))
        .set_alarm_arn(field(a, "AlarmArn").map(Into::into))
        .set_alarm_description(field(a, "AlarmDescription").map(Into::into))
        .set_state_value(field(a, "StateValue").map(Into::into))
        .set_state_reason(field(a, "StateReason").map(Into::into))
        .set_state_reason_data(field(a, "StateReasonData").map(Into::into))
        .set_state_updated_timestamp(timestamp(a, "StateUpdatedTimestamp"))
        .set_state_transitioned_timestamp(timestamp(a, "StateTransitionedTimestamp"))
        .set_metric_name(field(a, "MetricName").map(Into::into))
        .set_namespace(field(a, "Namespace").map(Into::into))
        .set_statistic(field(a, "Statistic").map(Into::into))
        .set_extended_statistic(field(a, "ExtendedStatistic").map(Into::into))
        .set_unit(field(a, "Unit").map(Into::into))
        .set_period(field_i32(a, "Period"))
        .set_dimensions(dimensions(a))
        .set_metrics(a.get("Metrics").and_then(Value::as_array).map(|m| m.iter().map(metric_query).collect()))
        .build()
}

fn composite_alarm(a: &Value) -> CompositeAlarm {
    CompositeAlarm::builder()
        .set_alarm_name(field(a, "AlarmName").map(Into::into))
        .set_alarm_arn(field(a, "AlarmArn").map(Into::into))
        .set_alarm_description(field(a, "AlarmDescription").map(Into::into))
        .set_state_value(field(a, "StateValue").map(Into::into))
        .set_state_reason(field(a, "StateReason").map(Into::into))
        .set_state_reason_data(field(a, "StateReasonData").map(Into::into))
        .set_state_updated_timestamp(timestamp(a, "StateUpdatedTimestamp"))
        .set_state_transitioned_timestamp(timestamp(a, "StateTransitionedTimestamp"))
        .set_alarm_rule(field(a, "AlarmRule").map(Into::into))
        .set_actions_suppressor(field(a, "ActionsSuppressor").map(Into::into))
        .set_actions_suppressor_wait_period(field_i32(a, "ActionsSuppressorWaitPeriod"))
        .set_actions_suppressor_extension_period(field_i32(a, "ActionsSuppressorExtensionPeriod"))
        .build()
}

/// A `DescribeAlarms` answer (its JSON form: `MetricAlarms`, `CompositeAlarms`) as SDK values,
/// through the polling source's conversion into the alarm-action event it delivers.
pub fn describe_alarms(data: &[u8]) {
    let Ok(answer) = serde_json::from_slice::<Value>(data) else { return };
    let list = |k: &str| answer.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
    let metric: Vec<MetricAlarm> = list("MetricAlarms").iter().map(metric_alarm).collect();
    let composite: Vec<CompositeAlarm> = list("CompositeAlarms").iter().map(composite_alarm).collect();
    let found = metric
        .iter()
        .filter_map(crate::sources::cloudwatch_alarm::poll::metric_alarm)
        .chain(composite.iter().filter_map(crate::sources::cloudwatch_alarm::poll::composite_alarm));
    for f in found {
        if let Ok(event) = cloudwatch_alarm::alarm_action(&f.notification, ACCOUNT) {
            use_decoded(Decoded::Events(vec![event]));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Dead letters

/// What replay does with a dead letter it read: match `--filter` against the record, name the
/// function, serialize the event to send it again.
fn use_letter(letter: item::DeadLetter) {
    match_probes(&letter.record);
    let function = letter.function.as_ref().map(item::FunctionRef::display);
    let payload = serde_json::to_vec(&letter.payload).expect("JSON values serialize");
    std::hint::black_box((function, payload.len(), letter.event_id, letter.condition, letter.timestamp, letter.replay_count, letter.source));
}

/// A dead letter in every format replay reads: fanin's record, Lambda's destination record, a
/// legacy Lambda DLQ message (with its attributes), an SQS Extended Client pointer; as one
/// message (SQS, S3) and as the lines of a dead-letter file.
pub fn dead_letter(data: &[u8]) {
    let parts = parts(data);
    let body = text(parts[0]);
    let mut legacy = LegacyAttributes { request_id: Some("r-1".into()), error_code: Some("200".into()) };
    if let Some(attributes) = parts.get(1) {
        legacy = LegacyAttributes::default();
        for (k, v) in key_values(attributes) {
            match k.as_str() {
                "RequestID" => legacy.request_id = Some(v),
                "ErrorCode" => legacy.error_code = Some(v),
                _ => {}
            }
        }
    }
    // The SQS store reads a pointer's record from S3 instead; here there is nothing to fetch.
    std::hint::black_box(crate::dlq::offload::parse_pointer(&body));
    for attributes in [None, Some(&legacy)] {
        if let Ok(letter) = item::parse(&body, "fuzz:1", attributes) {
            use_letter(letter);
        }
    }
    if body.contains('\n') {
        for (n, line) in body.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            if let Ok(letter) = item::parse(line, &format!("fuzz:{}", n + 1), None) {
                use_letter(letter);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Route filters

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

/// A route filter: compiled, then matched against fixed events and against the events that
/// follow it in the input (after `%%` lines).
pub fn route_pattern(data: &[u8]) {
    let parts = parts(data);
    let Ok(pattern) = Pattern::parse_str(&text(parts[0])) else { return };
    for event in fixed_events() {
        std::hint::black_box(pattern.matches(event));
    }
    for event in &parts[1..] {
        if let Ok(event) = serde_json::from_slice::<Value>(event) {
            std::hint::black_box(pattern.matches(&event));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Cron

/// Instants a schedule is walked from when the input names none: around daylight-saving
/// changes in several zones, a date-line jump, a leap day.
const STARTS: &[&str] = &["2026-03-08T06:00:00Z", "2026-11-01T04:00:00Z", "2026-03-29T00:00:00Z", "2011-12-29T09:00:00Z", "2028-02-28T12:00:00Z"];

/// Fires looked at from each start, and the longest window `fires_between` covers.
const FIRES: usize = 12;
const WINDOW: Duration = Duration::days(3);

/// A cron schedule, lines `expression`, `time zone` (default UTC) and optionally a start
/// (RFC 3339, between 1970 and 2200, as now or a saved last fire would be): parsed as a cron
/// source file's is, then walked fire by fire and over a window, as the cron source and its
/// catch-up do. Each fire must be strictly after the instant it was asked from (else the cron
/// loop would stand still or go back).
pub fn cron_schedule(data: &[u8]) {
    let input = text(data);
    let mut lines = input.lines();
    let expression = lines.next().unwrap_or_default();
    let timezone = lines.next().unwrap_or("UTC");
    let Ok(schedule) = Schedule::parse(expression, timezone) else { return };
    std::hint::black_box((schedule.expression(), schedule.timezone()));
    let given = lines
        .next()
        .and_then(|s| DateTime::parse_from_rfc3339(s.trim()).ok())
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| (1970..=2200).contains(&chrono::Datelike::year(t)));
    let starts: Vec<DateTime<Utc>> = match given {
        Some(t) => vec![t],
        None => STARTS.iter().map(|s| s.parse().expect("valid start")).collect(),
    };
    for start in starts {
        let mut cursor = start;
        let mut fires = Vec::new();
        while fires.len() < FIRES {
            let Some(next) = schedule.next_after(cursor) else { break };
            assert!(next > cursor, "`{expression}` in {timezone}: next fire after {cursor} is {next}, not later");
            fires.push(next);
            cursor = next;
        }
        let end = fires.last().copied().unwrap_or(start + WINDOW).min(start + WINDOW);
        let between = schedule.fires_between(start, end);
        assert!(between.windows(2).all(|w| w[0] < w[1]), "`{expression}` in {timezone}: fires between {start} and {end} out of order");
        assert!(between.iter().all(|t| *t > start && *t <= end), "`{expression}` in {timezone}: a fire outside ({start}, {end}]");
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration files

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

/// A daemon file and its source files (the parts after `%%` lines, as `sources/s0.toml`,
/// `sources/s1.toml`…), loaded as the daemon loads them; then the routes' filters are used and
/// every setting read.
pub fn config_file(data: &[u8]) {
    thread_local! {
        static DIR: Scratch = Scratch::new("config");
    }
    let parts = parts(data);
    DIR.with(|dir| {
        dir.clear_sources();
        dir.write("fanin.toml", parts[0]);
        for (i, source) in parts[1..].iter().enumerate() {
            dir.write(&format!("sources/s{i}.toml"), source);
        }
        load(&dir.path.join("fanin.toml"));
    });
}

fn load(file: &Path) {
    let config = match Config::load(file) {
        Ok(config) => config,
        Err(e) => {
            std::hint::black_box(e.to_string());
            return;
        }
    };
    for source in &config.sources {
        for route in &source.routes {
            if let Some(filter) = &route.filter {
                for event in fixed_events() {
                    std::hint::black_box(filter.matches(event));
                }
            }
        }
    }
    for target in config.targets.values() {
        std::hint::black_box(config.dlq_of(target));
    }
    std::hint::black_box((config.default_dlq_path(), format!("{config:?}").len()));
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    //! Every target over its seeds (`fuzz/seeds/<target>/`), its regressions
    //! (`fuzz/regressions/<target>/`, crashes fuzzing found) and a few thousand cheap
    //! deterministic mutations of the seeds: the test suite's short fuzzing run.

    use super::*;
    use std::time::{Duration, Instant};

    /// Mutations of each seed: hundreds, fewer where one run costs milliseconds in a debug
    /// build (a schedule walked from five instants, files written and loaded), so that the whole
    /// test takes a few seconds.
    fn mutations_per_seed(target: &str) -> usize {
        match target {
            "cron_schedule" => 50,
            "config_file" => 250,
            _ => 400,
        }
    }

    /// A tiny deterministic PRNG (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            if n == 0 {
                0
            } else {
                (self.next() % n as u64) as usize
            }
        }
    }

    /// Tokens worth inserting into JSON, TOML and cron text.
    const TOKENS: &[&[u8]] = &[
        b"null", b"true", b"[]", b"{}", b"\"\"", b"-1", b"0", b"1e999", b"-0.0", b"18446744073709551616", b"4294967295", b"\\u0000",
        b"\\ud800", "\u{10FFFF}".as_bytes(), b"%%", b"\n%%\n", b"\"Records\"", b"\"Type\":\"Notification\"", b"\"source\"", b"[[", b"]]",
        b"*", b"*/0", b"L", b"W", b"#5", b"MON-FRI", b"UTC", b"America/New_York", b"=", b"\"\"\"", b"'''", b"[[routes]]", b"\n",
    ];

    fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
        let mut v = seed.to_vec();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(v.len() + 1);
            match rng.below(8) {
                0 if !v.is_empty() => {
                    let i = rng.below(v.len());
                    v[i] ^= 1 << rng.below(8);
                }
                1 if !v.is_empty() => {
                    let i = rng.below(v.len());
                    v[i] = b"\0\xff\"{}[]:,\\0-9\n% "[rng.below(16)];
                }
                2 => v.insert(at, rng.next() as u8),
                3 => {
                    let end = (at + 1 + rng.below(16)).min(v.len());
                    v.drain(at.min(end)..end);
                }
                4 => v.truncate(at),
                5 => {
                    let from = rng.below(other.len() + 1);
                    v.truncate(at);
                    v.extend_from_slice(&other[from..]);
                }
                6 => {
                    let token = TOKENS[rng.below(TOKENS.len())];
                    v.splice(at..at, token.iter().copied());
                }
                _ => {
                    let start = rng.below(v.len() + 1);
                    let end = (start + 1 + rng.below(32)).min(v.len());
                    let chunk = v[start..end].to_vec();
                    let to = rng.below(v.len() + 1);
                    v.splice(to..to, chunk);
                }
            }
        }
        v
    }

    fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
        let mut out: Vec<(String, Vec<u8>)> = entries
            .flatten()
            .filter(|e| e.path().is_file())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).expect("readable")))
            .collect();
        out.sort();
        out
    }

    /// Runs `f` on `input`; on a panic, saves the input and fails naming it.
    fn run(target: &str, what: &str, f: Target, input: &[u8]) {
        if std::panic::catch_unwind(|| f(input)).is_err() {
            let saved = std::env::temp_dir().join(format!("fanin-fuzzing-{target}-{}", crate::event::fingerprint(input)));
            let _ = std::fs::write(&saved, input);
            panic!("{target} panicked on {what}; the input is saved as {}", saved.display());
        }
    }

    fn exercise(target: &str, f: Target) -> usize {
        let started = Instant::now();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let seeds = files(&root.join("seeds").join(target));
        assert!(!seeds.is_empty(), "no seeds in fuzz/seeds/{target}/");
        for (name, input) in files(&root.join("regressions").join(target)) {
            run(target, &format!("regression {name}"), f, &input);
        }
        for (name, input) in &seeds {
            run(target, &format!("seed {name}"), f, input);
        }
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ target.len() as u64);
        let mutations = mutations_per_seed(target) * seeds.len();
        for i in 0..mutations {
            let (name, seed) = &seeds[i % seeds.len()];
            let other = &seeds[rng.below(seeds.len())].1;
            let input = mutate(&mut rng, seed, other);
            run(target, &format!("mutation {i} of seed {name}"), f, &input);
        }
        eprintln!("{target}: {} seeds, {mutations} mutations, {:?}", seeds.len(), started.elapsed());
        seeds.len()
    }

    #[test]
    fn every_target_survives_its_seeds_regressions_and_mutations() {
        let started = Instant::now();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        for kind in ["seeds", "regressions"] {
            for dir in std::fs::read_dir(root.join(kind)).into_iter().flatten().flatten() {
                let name = dir.file_name().to_string_lossy().into_owned();
                assert!(TARGETS.iter().any(|(t, _)| *t == name), "fuzz/{kind}/{name} is no target's");
            }
        }
        std::thread::scope(|s| {
            let runs: Vec<_> = TARGETS
                .iter()
                .map(|&(target, f)| {
                    // The stack a tokio worker has, where sources decode in the daemon.
                    let thread = std::thread::Builder::new().name(target.into()).stack_size(2 << 20);
                    (target, thread.spawn_scoped(s, move || exercise(target, f)).expect("a thread"))
                })
                .collect();
            for (target, run) in runs {
                let seeds = run.join().unwrap_or_else(|_| panic!("{target} failed (see above)"));
                assert!(seeds >= 5, "{target}: only {seeds} seeds");
            }
        });
        let took = started.elapsed();
        assert!(took < Duration::from_secs(30), "the seed run took {took:?}");
    }
}
