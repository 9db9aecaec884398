//! `fanin events TYPE`: a sample event in the shape fanin hands a function for a source type,
//! for testing functions locally (`fanin events s3 --key 'in/a b.jpg' | fanin invoke …`).
//!
//! Each sample is made the way a real event is: what the service would put in the queue (an
//! S3 or alarm event as EventBridge delivers it, an SNS envelope, an SQS message) goes through
//! the source's own decoder, and a cron sample through the cron source's event builder. So
//! keys are form-encoded as S3 encodes them, and every field a function reads is there.
//! Ids are derived from the inputs (the same flags give the same sample), times default to now.

use std::process::ExitCode;

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde_json::{json, Value};

use crate::event::fingerprint;
use crate::sources::decode::Decoded;
use crate::sources::sns::SnsContext;
use crate::sources::sqs::SqsShape;
use crate::sources::{cloudwatch_alarm, eventbridge, s3, sns};

/// The source types a sample can be made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Kind {
    Sqs,
    S3,
    Sns,
    Eventbridge,
    CloudwatchAlarm,
    Cron,
    Http,
}

/// `fanin events` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct EventsArgs {
    /// The source type.
    #[arg(value_enum)]
    pub kind: Kind,
    /// Region the event comes from.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// Account the event comes from.
    #[arg(long, default_value = "123456789012")]
    pub account: String,
    /// When it happened (RFC 3339); default now.
    #[arg(long)]
    pub time: Option<DateTime<Utc>>,
    /// sqs: the queue's name.
    #[arg(long, default_value = "orders")]
    pub queue: String,
    /// sqs: `sqs` (Lambda's SQS event) or `body` (the body as it is).
    #[arg(long, value_enum, default_value = "sqs")]
    pub shape: SqsShape,
    /// sqs: the message body; sns: the message.
    #[arg(long)]
    pub message: Option<String>,
    /// s3: the bucket.
    #[arg(long, default_value = "amzn-s3-demo-bucket")]
    pub bucket: String,
    /// s3: the object key, as it is (the event carries it form-encoded, as S3 sends it).
    #[arg(long, default_value = "in/HappyFace.jpg")]
    pub key: String,
    /// s3: the object's size in bytes.
    #[arg(long, default_value_t = 1024)]
    pub size: u64,
    /// s3: `Object Created` reason (`PutObject`, `CopyObject`, `CompleteMultipartUpload`) or `Object Deleted`.
    #[arg(long, default_value = "PutObject")]
    pub reason: String,
    /// sns: the topic.
    #[arg(long)]
    pub topic_arn: Option<String>,
    /// sns: the subject.
    #[arg(long)]
    pub subject: Option<String>,
    /// eventbridge: the event's `source`.
    #[arg(long, default_value = "com.example.orders")]
    pub source: String,
    /// eventbridge: the event's `detail-type`.
    #[arg(long, default_value = "Order Placed")]
    pub detail_type: String,
    /// eventbridge: the event's `detail` (JSON).
    #[arg(long, default_value = r#"{"orderId":"o-1001","amount":42}"#)]
    pub detail: String,
    /// cloudwatch_alarm: the alarm's name.
    #[arg(long, default_value = "high-cpu")]
    pub alarm_name: String,
    /// cloudwatch_alarm: the new state (`OK`, `ALARM`, `INSUFFICIENT_DATA`).
    #[arg(long, default_value = "ALARM")]
    pub state: String,
    /// cloudwatch_alarm: the state before.
    #[arg(long, default_value = "OK")]
    pub previous_state: String,
    /// cron: the schedule's name (its source file's name).
    #[arg(long, default_value = "nightly")]
    pub name: String,
    /// http: the request path (with `?query` if any).
    #[arg(long, default_value = "/hooks/github")]
    pub path: String,
    /// http: the request method.
    #[arg(long, default_value = "POST")]
    pub method: String,
    /// http: the request body.
    #[arg(long, default_value = r#"{"zen":"Keep it logically awesome.","hook_id":1}"#)]
    pub body: String,
    /// http: a request header, `Name: value` (repeatable).
    #[arg(long = "header")]
    pub headers: Vec<String>,
}

/// Prints the sample; exit 2 when the flags make no event of that type.
pub fn run(args: EventsArgs) -> anyhow::Result<ExitCode> {
    match sample(&args) {
        Ok(event) => {
            use std::io::Write;
            let text = serde_json::to_string_pretty(&event)?;
            match writeln!(std::io::stdout().lock(), "{text}") {
                // `fanin events … | head` closing the pipe early is no failure.
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(ExitCode::SUCCESS),
            }
        }
        Err(e) => {
            eprintln!("fanin events: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

/// The sample event for `args`.
pub fn sample(args: &EventsArgs) -> Result<Value, String> {
    let at = args.time.unwrap_or_else(Utc::now);
    match args.kind {
        Kind::Sqs => sqs(args, at),
        Kind::S3 => decoded(s3::decode(&s3_from_eventbridge(args, at).to_string(), false, "fanin-events")),
        Kind::Sns => decoded(sns::decode(&sns_envelope(args, at).to_string(), &SnsContext::default())),
        Kind::Eventbridge => {
            let detail: Value = serde_json::from_str(&args.detail).map_err(|e| format!("--detail is not JSON: {e}"))?;
            let event = eventbridge(args, at, &args.source, &args.detail_type, vec![], detail);
            decoded(eventbridge::decode(&event.to_string()))
        }
        Kind::CloudwatchAlarm => decoded(cloudwatch_alarm::decode(&alarm_state_change(args, at).to_string(), &args.account)),
        Kind::Cron => {
            // Fires are on whole seconds.
            let at = at.trunc_subsecs(0);
            let id = crate::sources::cron::fire_id(&args.name, at);
            let event = crate::sources::cron::scheduled_event(&id, &args.name, &args.region, &args.account, at);
            Ok(serde_json::from_slice(&event).expect("the cron source builds JSON"))
        }
        Kind::Http => http(args, at),
    }
}

/// What an `http` source stores for a request: the function URL event.
fn http(args: &EventsArgs, at: DateTime<Utc>) -> Result<Value, String> {
    use crate::sources::http::event::{function_url_event, Labels, Request};
    use hyper::header::{HeaderName, HeaderValue};
    if !crate::sources::http::METHODS.contains(&args.method.as_str()) {
        return Err(format!("--method must be one of {}", crate::sources::http::METHODS.join(", ")));
    }
    let mut headers = hyper::HeaderMap::new();
    for (name, value) in [("host", "hooks.example.com"), ("user-agent", "fanin-events"), ("content-type", "application/json")] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    for line in &args.headers {
        let (name, value) = line.split_once(':').ok_or_else(|| format!("--header {line:?}: write it Name: value"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|e| format!("--header {line:?}: {e}"))?;
        let value = HeaderValue::from_str(value.trim()).map_err(|e| format!("--header {line:?}: {e}"))?;
        headers.append(name, value);
    }
    let (path, query) = match args.path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (args.path.as_str(), None),
    };
    let request = Request {
        method: &args.method,
        path,
        query,
        headers: &headers,
        body: args.body.as_bytes(),
        source_ip: std::net::IpAddr::from([203, 0, 113, 7]),
        protocol: "HTTP/1.1",
        received: at.into(),
    };
    let labels = Labels { source: "hooks", account: &args.account };
    Ok(function_url_event(&request, &labels, &uuid(&format!("{}{}{}", args.path, args.body, millis(at)))))
}

/// The one event a decoder made, or why it made none.
fn decoded(d: Decoded) -> Result<Value, String> {
    match d {
        Decoded::Events(mut events) if events.len() == 1 => Ok(events.remove(0).payload),
        Decoded::Events(events) => Err(format!("{} events, expected one", events.len())),
        Decoded::Skip(reason) => Err(format!("no event: {reason}")),
        Decoded::Confirmation { topic_arn, .. } => Err(format!("no event: a subscription confirmation from {topic_arn}")),
        Decoded::Invalid(reason) => Err(reason),
    }
}

/// A UUID-shaped id, the same for the same `seed`.
fn uuid(seed: &str) -> String {
    let hex = format!("{}{}", &fingerprint(seed.as_bytes())[1..], &fingerprint(format!("{seed}#").as_bytes())[1..]);
    format!("{}-{}-4{}-8{}-{}", &hex[..8], &hex[8..12], &hex[13..16], &hex[17..20], &hex[20..32])
}

fn millis(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn seconds(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn eventbridge(args: &EventsArgs, at: DateTime<Utc>, source: &str, detail_type: &str, resources: Vec<String>, detail: Value) -> Value {
    json!({
        "version": "0",
        "id": uuid(&format!("eventbridge:{source}:{detail_type}:{detail}:{}", seconds(at))),
        "detail-type": detail_type,
        "source": source,
        "account": args.account,
        "time": seconds(at),
        "region": args.region,
        "resources": resources,
        "detail": detail,
    })
}

/// S3's "Object Created" / "Object Deleted" event as EventBridge delivers it: fanin's
/// conversion makes the S3 record, with the key encoded as S3 encodes it.
fn s3_from_eventbridge(args: &EventsArgs, at: DateTime<Utc>) -> Value {
    let deleted = args.reason.starts_with("Delete");
    let sequencer = &fingerprint(format!("{}/{}:{}", args.bucket, args.key, millis(at)).as_bytes())[1..];
    let mut object = json!({ "key": args.key, "sequencer": sequencer.to_uppercase() });
    if !deleted {
        object["size"] = args.size.into();
        object["etag"] = fingerprint(args.key.as_bytes())[1..].repeat(2).into();
    }
    let mut detail = json!({
        "version": "0",
        "bucket": { "name": args.bucket },
        "object": object,
        "request-id": fingerprint(format!("request:{}", millis(at)).as_bytes())[1..].to_uppercase(),
        "requester": args.account,
        "source-ip-address": "203.0.113.15",
        "reason": args.reason,
    });
    if deleted {
        detail["deletion-type"] = "Permanently Deleted".into();
    }
    let detail_type = if deleted { "Object Deleted" } else { "Object Created" };
    eventbridge(args, at, "aws.s3", detail_type, vec![format!("arn:aws:s3:::{}", args.bucket)], detail)
}

/// An SNS notification as SNS puts it in a subscribed queue.
fn sns_envelope(args: &EventsArgs, at: DateTime<Utc>) -> Value {
    let topic = args.topic_arn.clone().unwrap_or_else(|| format!("arn:aws:sns:{}:{}:sns-topic", args.region, args.account));
    let message = args.message.clone().unwrap_or_else(|| "Hello from SNS!".into());
    let region = topic.split(':').nth(3).unwrap_or(&args.region).to_string();
    let subscription = format!("{topic}:{}", uuid(&format!("subscription:{topic}")));
    json!({
        "Type": "Notification",
        "MessageId": uuid(&format!("sns:{topic}:{message}:{}", millis(at))),
        "TopicArn": topic,
        "Subject": args.subject,
        "Message": message,
        "Timestamp": millis(at),
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertURL": format!("https://sns.{region}.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem"),
        "UnsubscribeURL": format!("https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription}"),
        "MessageAttributes": {},
    })
}

/// A "CloudWatch Alarm State Change" event as EventBridge delivers it.
fn alarm_state_change(args: &EventsArgs, at: DateTime<Utc>) -> Value {
    let arn = format!("arn:aws:cloudwatch:{}:{}:alarm:{}", args.region, args.account, args.alarm_name);
    let stamp = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string();
    let detail = json!({
        "alarmName": args.alarm_name,
        "state": { "value": args.state, "reason": format!("Threshold Crossed: sample for {}", args.state), "timestamp": stamp(at) },
        "previousState": { "value": args.previous_state, "reason": "sample", "timestamp": stamp(at - chrono::Duration::minutes(5)) },
        "configuration": {
            "description": format!("{} sample alarm", args.alarm_name),
            "metrics": [{
                "id": "m1",
                "metricStat": {
                    "metric": { "namespace": "AWS/EC2", "name": "CPUUtilization", "dimensions": { "InstanceId": "i-0123456789abcdef0" } },
                    "period": 300,
                    "stat": "Average",
                },
                "returnData": true,
            }],
        },
    });
    eventbridge(args, at, "aws.cloudwatch", "CloudWatch Alarm State Change", vec![arn], detail)
}

/// The SQS message a queue would hand out.
pub fn sqs_message(args: &EventsArgs, at: DateTime<Utc>) -> Message {
    let body = args.message.clone().unwrap_or_else(|| r#"{"orderId":"o-1001","amount":42}"#.into());
    let id = uuid(&format!("sqs:{}:{body}:{}", args.queue, millis(at)));
    let sent = at.timestamp_millis().to_string();
    Message::builder()
        .message_id(&id)
        .receipt_handle(format!("AQEB{}", &fingerprint(id.as_bytes())[1..]))
        .md5_of_body(md5_hex(&body))
        .body(body)
        .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "1")
        .attributes(MessageSystemAttributeName::SentTimestamp, &sent)
        .attributes(MessageSystemAttributeName::SenderId, format!("AIDA{}", &fingerprint(args.account.as_bytes())[1..].to_uppercase()))
        .attributes(MessageSystemAttributeName::ApproximateFirstReceiveTimestamp, &sent)
        .build()
}

fn sqs(args: &EventsArgs, at: DateTime<Utc>) -> Result<Value, String> {
    let message = sqs_message(args, at);
    let queue_arn = format!("arn:aws:sqs:{}:{}:{}", args.region, args.account, args.queue);
    // What the daemon would dead-letter (a `body` that is not JSON) is refused, not shown.
    match crate::sources::sqs::payload(&message, args.shape, &queue_arn, &args.region) {
        (_, Some(invalid)) => Err(format!("the daemon would dead-letter this message: {invalid}")),
        (payload, None) => Ok(serde_json::from_slice(&payload).expect("a valid payload is JSON")),
    }
}

/// `MD5OfBody`, as SQS reports it.
fn md5_hex(text: &str) -> String {
    use md5::Digest;
    md5::Md5::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: EventsArgs,
    }

    fn args(line: &str) -> EventsArgs {
        Cli::parse_from(["events"].into_iter().chain(line.split(' ')).chain(["--time", "2026-11-27T02:00:00Z"])).args
    }

    fn one(d: Decoded) -> Value {
        decoded(d).unwrap()
    }

    #[test]
    fn every_sample_goes_through_its_decoder_unchanged() {
        let s3 = sample(&args("s3")).unwrap();
        assert_eq!(one(s3::decode(&s3.to_string(), false, "fanin-events")), s3);
        let sns = sample(&args("sns")).unwrap();
        // What SNS put in the queue, spelled as Lambda spells it, comes out the same.
        assert_eq!(one(sns::decode(&sns["Records"][0]["Sns"].to_string(), &SnsContext::default())), sns);
        let eventbridge = sample(&args("eventbridge")).unwrap();
        assert_eq!(one(eventbridge::decode(&eventbridge.to_string())), eventbridge);
        let alarm = sample(&args("cloudwatch_alarm")).unwrap();
        assert_eq!(one(cloudwatch_alarm::decode(&alarm.to_string(), "123456789012")), alarm);
        let cron = sample(&args("cron")).unwrap();
        assert_eq!(one(eventbridge::decode(&cron.to_string())), cron);
        assert_eq!(cron["id"], "nightly-20261127T020000Z");
        let sqs = sample(&args("sqs")).unwrap();
        let record = &sqs["Records"][0];
        let message = sqs_message(&args("sqs"), "2026-11-27T02:00:00Z".parse().unwrap());
        assert_eq!(record["messageId"], message.message_id().unwrap());
        assert_eq!(record["md5OfBody"], "0eaa09dd0b0175f5d4b3331ef2d0fb90", "MD5 of the body, as SQS computes it");
        assert_eq!(sample(&args("sqs --shape body")).unwrap(), serde_json::json!({"orderId": "o-1001", "amount": 42}));
    }

    #[test]
    fn keys_are_form_encoded_as_s3_sends_them_and_decode_back() {
        let s3 = sample(&args("s3 --key in/photo_1+2%.jpg --bucket photos")).unwrap();
        // A space needs a flag of its own: `args` splits on spaces.
        let mut spaced = args("s3");
        spaced.key = "in/a b/ünï.jpg".into();
        let spaced = sample(&spaced).unwrap();
        assert_eq!(spaced["Records"][0]["s3"]["object"]["key"], "in/a+b/%C3%BCn%C3%AF.jpg");
        assert_eq!(s3["Records"][0]["s3"]["object"]["key"], "in/photo_1%2B2%25.jpg");
        let Decoded::Events(events) = s3::decode(&s3.to_string(), false, "x") else { panic!() };
        assert_eq!(events[0].meta.key.as_deref(), Some("in/photo_1+2%.jpg"));
        assert_eq!(events[0].meta.bucket.as_deref(), Some("photos"));
    }

    #[test]
    fn flags_change_the_fields_people_change() {
        let deleted = sample(&args("s3 --reason DeleteObject")).unwrap();
        assert_eq!(deleted["Records"][0]["eventName"], "ObjectRemoved:Delete");
        let sns = sample(&args("sns --topic-arn arn:aws:sns:eu-west-1:111122223333:news --message hi --subject Hello")).unwrap();
        assert_eq!(sns["Records"][0]["Sns"]["TopicArn"], "arn:aws:sns:eu-west-1:111122223333:news");
        assert_eq!(sns["Records"][0]["Sns"]["Message"], "hi");
        assert_eq!(sns["Records"][0]["Sns"]["Subject"], "Hello");
        let eb = sample(&args("eventbridge --source shop --detail-type Paid --detail {\"n\":1}")).unwrap();
        assert_eq!(
            (eb["source"].as_str(), eb["detail-type"].as_str(), &eb["detail"]),
            (Some("shop"), Some("Paid"), &serde_json::json!({"n": 1}))
        );
        let alarm = sample(&args("cloudwatch_alarm --alarm-name disk --state OK --previous-state ALARM")).unwrap();
        assert_eq!(alarm["alarmData"]["state"]["value"], "OK");
        assert_eq!(alarm["alarmData"]["previousState"]["value"], "ALARM");
        assert_eq!(alarm["alarmArn"], "arn:aws:cloudwatch:us-east-1:123456789012:alarm:disk");
        assert!(sample(&args("cloudwatch_alarm --state SOMETIMES")).unwrap_err().contains("SOMETIMES"));
        assert!(sample(&args("eventbridge --detail nope")).unwrap_err().contains("--detail"));
        assert_eq!(sample(&args("cron --name report --region eu-west-1")).unwrap()["region"], "eu-west-1");
    }

    #[test]
    fn an_http_sample_is_the_function_url_event() {
        let mut a = args("http --path /hooks/stripe?x=1 --body {\"id\":\"evt_1\"}");
        a.headers = vec!["Stripe-Signature: t=1,v1=00".into()];
        let event = sample(&a).unwrap();
        assert_eq!(
            (event["version"].as_str(), event["rawPath"].as_str(), event["rawQueryString"].as_str()),
            (Some("2.0"), Some("/hooks/stripe"), Some("x=1"))
        );
        assert_eq!(event["body"], "{\"id\":\"evt_1\"}");
        assert_eq!(event["headers"]["stripe-signature"], "t=1,v1=00");
        assert_eq!(event["requestContext"]["time"], "27/Nov/2026:02:00:00 +0000");
        assert!(sample(&args("http --method TRACE")).unwrap_err().contains("--method"));
    }

    #[test]
    fn samples_match_real_events_and_refuse_what_the_daemon_would_dead_letter() {
        let now = Cli::parse_from(["events", "cron"]).args;
        let time = sample(&now).unwrap()["time"].as_str().unwrap().to_string();
        assert!(time.len() == "2026-11-27T02:00:00Z".len() && time.ends_with('Z'), "a fire is on a whole second: {time}");
        let cron = sample(&args("cron --region eu-west-1 --account 111122223333")).unwrap();
        assert_eq!(cron["resources"], serde_json::json!(["arn:aws:events:eu-west-1:111122223333:rule/nightly"]));
        let refused = sample(&args("sqs --shape body --message not-json")).unwrap_err();
        assert!(refused.starts_with("the daemon would dead-letter this message: shape = \"body\" needs a JSON body"), "{refused}");
        assert!(sample(&args("sqs --message not-json")).is_ok(), "Lambda's SQS shape takes any body");
    }
}
