//! Configuration: the daemon file, the directory of source files, defaults and validation.
//!
//! Every error names the file and the key it is about, so an operator can go straight to
//! the line; the CLI turns a [`ConfigError`] into exit code 2.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::pattern::Pattern;
use crate::sources::cron::schedule::{Schedule, ScheduleError};

/// A configuration that cannot be used, with the file and key it is about.
#[derive(Debug, thiserror::Error)]
#[error("{}: {key}: {message}", file.display())]
pub struct ConfigError {
    /// The file the problem is in.
    pub file: PathBuf,
    /// The dotted key the problem is at (`targets.resize.rate`); empty for the whole file.
    pub key: String,
    /// What is wrong, in the operator's terms.
    pub message: String,
}

impl ConfigError {
    /// An error about `key` in `file`.
    pub fn new(file: &Path, key: impl Into<String>, message: impl Into<String>) -> Self {
        let key = key.into();
        ConfigError {
            file: file.to_path_buf(),
            key: if key.is_empty() { "(file)".into() } else { key },
            message: shortened(message.into()),
        }
    }
}

/// Messages quote what they refuse; a 10 MB value is not repeated whole.
const MAX_MESSAGE: usize = 1000;

fn shortened(mut message: String) -> String {
    if message.len() > MAX_MESSAGE {
        let cut = (0..=MAX_MESSAGE).rev().find(|&i| message.is_char_boundary(i)).unwrap_or(0);
        let left_out = message.len() - cut;
        message.truncate(cut);
        message.push_str(&format!("… ({left_out} more bytes)"));
    }
    message
}

/// Where the daemon file is unless `--config` says otherwise.
pub const DEFAULT_FILE: &str = "/etc/fanin/fanin.toml";

/// The whole configuration: the daemon file plus every source file, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The daemon file this was loaded from.
    pub file: PathBuf,
    pub daemon: DaemonSettings,
    pub aws: AwsSettings,
    pub metrics: MetricsSettings,
    pub fleet: FleetSettings,
    /// Dead-letter sinks by name (from the daemon file and source files).
    pub dlq: BTreeMap<String, DlqSettings>,
    /// Lambda targets by name (from the daemon file and source files).
    pub targets: BTreeMap<String, TargetSettings>,
    /// One entry per file in `sources_dir`, sorted by name.
    pub sources: Vec<SourceSettings>,
}

/// `[daemon]`: where things live and the global limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonSettings {
    /// Directory of source files, one source per `*.toml`; relative to the daemon file.
    pub sources_dir: PathBuf,
    /// Cron state and the default dead-letter file; relative to the daemon file.
    pub state_dir: PathBuf,
    /// Events that may wait between the sources and the dispatcher.
    pub queue_capacity: usize,
    /// Invocations in flight across all targets.
    pub max_in_flight: usize,
    /// How long SIGTERM waits for in-flight invokes and dead-letter writes.
    #[serde(deserialize_with = "duration")]
    pub shutdown_grace: Duration,
    /// Put event payloads in log lines about failures (off: payloads may hold personal data).
    pub log_payloads: bool,
}

impl Default for DaemonSettings {
    fn default() -> Self {
        DaemonSettings {
            sources_dir: PathBuf::from("sources"),
            state_dir: PathBuf::from("/var/lib/fanin"),
            queue_capacity: 10_000,
            max_in_flight: 256,
            shutdown_grace: Duration::from_secs(30),
            log_payloads: false,
        }
    }
}

/// `[aws]`: all optional; the standard credential chain and region apply.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    /// Region for every client (else `AWS_REGION` / the profile's region).
    pub region: Option<String>,
    /// Named profile from `~/.aws/config`.
    pub profile: Option<String>,
    /// Role to assume (through STS) on top of the base credentials.
    pub assume_role_arn: Option<String>,
    /// Endpoint for every service; `AWS_ENDPOINT_URL_<SERVICE>` still wins for its service.
    pub endpoint_url: Option<String>,
    /// The account fanin runs in (12 digits), for the fields AWS always fills with it (cron's
    /// Scheduled Event, ARNs fanin builds); else asked of `sts:GetCallerIdentity` at start.
    pub account_id: Option<String>,
}

/// `[metrics]`: where the metrics and health endpoints will listen.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// Address for `/metrics`, `/healthz`, `/readyz`.
    pub listen: SocketAddr,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings { listen: ([127, 0, 0, 1], 9464).into() }
    }
}

/// `[fleet]`: several hosts run this same configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetSettings {
    /// Where each cron fire is claimed (`s3://BUCKET/PREFIX/`), so that it fires on one host.
    #[serde(default, deserialize_with = "optional_s3_location")]
    pub claims: Option<S3Location>,
    /// This host's name in the claims; default: the machine's host name. Two instances on one
    /// machine need different names.
    pub host: Option<String>,
}

/// `s3://BUCKET/PREFIX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Empty, or ending in `/`.
    pub prefix: String,
}

impl std::str::FromStr for S3Location {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s.strip_prefix("s3://").ok_or_else(|| format!("`{s}` is not an S3 location: write s3://BUCKET/PREFIX/"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("`{s}` names no bucket: write s3://BUCKET/PREFIX/"));
        }
        let prefix = if prefix.is_empty() || prefix.ends_with('/') { prefix.to_string() } else { format!("{prefix}/") };
        Ok(S3Location { bucket: bucket.to_string(), prefix })
    }
}

fn optional_s3_location<'de, D: Deserializer<'de>>(d: D) -> Result<Option<S3Location>, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map(Some).map_err(serde::de::Error::custom)
}

/// `[dlq.NAME]`: a dead-letter sink.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum DlqSettings {
    /// JSON lines in a local file, fsync'd before the upstream delete.
    File {
        /// The file; relative to the daemon file. Default: `<state_dir>/dlq.jsonl`.
        path: Option<PathBuf>,
    },
    /// One SQS message per record.
    Sqs {
        /// The queue's URL.
        queue_url: String,
        /// Where records over SQS's message size go; the message then points at them.
        large_records: Option<LargeRecords>,
    },
    /// One S3 object per record, under `<prefix>YYYY/MM/DD/HH/`.
    S3 {
        /// The bucket.
        bucket: String,
        /// Key prefix; default `fanin/dlq/`.
        #[serde(default = "default_dlq_prefix")]
        prefix: String,
    },
}

fn default_dlq_prefix() -> String {
    "fanin/dlq/".into()
}

/// `large_records = { … }` of an `sqs` dead-letter sink.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LargeRecords {
    /// The bucket.
    pub bucket: String,
    /// Key prefix; default `fanin/dlq/large/`.
    #[serde(default = "default_large_records_prefix")]
    pub prefix: String,
}

fn default_large_records_prefix() -> String {
    "fanin/dlq/large/".into()
}

/// The name of the dead-letter sink used by targets that name none.
pub const DEFAULT_DLQ: &str = "default";

/// `[targets.NAME]`: a Lambda function events are sent to.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSettings {
    /// Lambda: the function's name, partial ARN or full ARN (empty for a `state_machine` target).
    #[serde(default)]
    pub function: String,
    /// Step Functions: the state machine ARN each event starts an execution of, instead of a function.
    pub state_machine: Option<String>,
    /// A function URL (`https://….lambda-url.<region>.on.aws/`) the event is POSTed to, instead
    /// of an Invoke; `function` may then name the function, for `iam-policy`.
    pub url: Option<String>,
    /// How a function URL is called: `"AWS_IAM"` (SigV4-signed, the default) or `"NONE"`.
    #[serde(default)]
    pub auth: UrlAuth,
    /// Version or alias.
    pub qualifier: Option<String>,
    /// Invocations of this target in flight at once (lowered while Lambda throttles).
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: usize,
    /// Invocations per second or minute: `"100/s"`, `"600/m"`.
    #[serde(default, deserialize_with = "optional_rate")]
    pub rate: Option<Rate>,
    /// Retry policy.
    #[serde(default)]
    pub retry: RetrySettings,
    /// Dead-letter sink name; default: the file `<state_dir>/dlq.jsonl`.
    pub dlq: Option<String>,
    /// `Event` (asynchronous, the default) or `RequestResponse`.
    #[serde(default)]
    pub invocation_type: InvocationType,
    /// `"Tail"`: ask Lambda for the last 4 KB of the function's log (`RequestResponse` only),
    /// kept in the dead-letter record and the warning when the function fails.
    #[serde(default)]
    pub log_type: LogType,
    /// Sink that gets Lambda's on-success destination record for every event the function
    /// accepted, written before the upstream message is deleted.
    pub on_success: Option<String>,
    /// Sent as the base64 `ClientContext` (JSON).
    pub client_context: Option<serde_json::Map<String, serde_json::Value>>,
    /// Time allowed for one Invoke call before it counts as a timeout.
    #[serde(default = "default_invoke_timeout", deserialize_with = "duration")]
    pub invoke_timeout: Duration,
    /// Claim check: payloads over Lambda's asynchronous limit go to S3 here and the function
    /// gets a pointer event; without it they are dead-lettered `RequestTooLarge`.
    pub large_payloads: Option<LargePayloads>,
}

/// `large_payloads = { … }` of a target.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LargePayloads {
    /// The bucket.
    pub bucket: String,
    /// Key prefix; default `fanin/payloads/`.
    #[serde(default = "default_payload_prefix")]
    pub prefix: String,
}

fn default_payload_prefix() -> String {
    "fanin/payloads/".into()
}

fn default_max_concurrency() -> usize {
    64
}

fn default_invoke_timeout() -> Duration {
    Duration::from_secs(10)
}

/// How a target is invoked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum InvocationType {
    /// Asynchronous: Lambda queues the event and answers 202.
    #[default]
    Event,
    /// Synchronous: the function's error counts as a failed attempt.
    RequestResponse,
}

/// `auth` of a function URL target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum UrlAuth {
    /// Signed with SigV4 (service `lambda`) with the configured credentials.
    #[default]
    #[serde(rename = "AWS_IAM")]
    AwsIam,
    /// Unsigned: the URL lets anyone call it.
    #[serde(rename = "NONE")]
    None,
}

/// `log_type` of a target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum LogType {
    /// No log in the answer.
    #[default]
    None,
    /// The last 4 KB of the function's log.
    Tail,
}

/// `retry = { … }` of a target.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySettings {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Backoff before the second attempt (doubled each time, full jitter).
    #[serde(deserialize_with = "duration")]
    pub base_delay: Duration,
    /// Backoff never exceeds this.
    #[serde(deserialize_with = "duration")]
    pub max_delay: Duration,
    /// Dead-letter an event this old (counted from its birth, e.g. SQS `SentTimestamp`).
    #[serde(deserialize_with = "duration")]
    pub max_event_age: Duration,
    /// Retry Lambda's KMS errors (`KMSAccessDeniedException`, `KMSDisabledException`, …)
    /// instead of dead-lettering them at once: for a key that is being re-enabled or re-granted.
    pub retry_kms_errors: bool,
    /// `RequestResponse`: retry when the function itself failed (`X-Amz-Function-Error`);
    /// `false` dead-letters such an event after its first attempt.
    pub retry_function_errors: bool,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            max_attempts: 3,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            max_event_age: Duration::from_secs(6 * 3600),
            retry_kms_errors: false,
            retry_function_errors: true,
        }
    }
}

/// A rate: `count` per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl std::str::FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a rate: write N/s or N/m, like \"100/s\"");
        let (n, unit) = s.split_once('/').ok_or_else(bad)?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            _ => return Err(bad()),
        };
        if count == 0 {
            return Err(format!("`{s}`: the rate must be at least 1"));
        }
        Ok(Rate { count, per })
    }
}

/// One source file.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSettings {
    /// The file name without `.toml`.
    pub name: String,
    /// The file it came from.
    pub file: PathBuf,
    /// Where its events go.
    pub routes: Vec<Route>,
    /// What it reads.
    pub kind: SourceKind,
}

/// The type-specific part of a source file.
// Built once per load and never moved in bulk: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum SourceKind {
    /// `type = "sqs"`, and the AWS types that read a queue (`s3`, `sns`, `eventbridge`,
    /// `cloudwatch_alarm` with `queue_url`).
    Sqs(SqsSettings),
    /// `type = "cron"`.
    Cron(CronSettings),
    /// `type = "cloudwatch_alarm"` with `poll_interval`: `DescribeAlarms`, no queue.
    AlarmPoll(AlarmPollSettings),
}

/// `type = "sqs"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqsSettings {
    /// The queue's URL (standard or `.fifo`).
    pub queue_url: String,
    /// `sqs`: Lambda's SQS event with one record; `body`: the body, which must be JSON.
    #[serde(default)]
    pub shape: SqsShape,
    /// Concurrent long-polling receivers.
    #[serde(default = "default_pollers")]
    pub pollers: usize,
    /// Messages per receive, 1 to 10.
    #[serde(default = "default_batch_size")]
    pub batch_size: i32,
    /// Long-poll wait, at most 20 s.
    #[serde(default = "default_wait_time", deserialize_with = "duration")]
    pub wait_time: Duration,
    /// Visibility timeout asked for on receive and renewed while an event waits or retries.
    #[serde(default = "default_visibility_timeout", deserialize_with = "duration")]
    pub visibility_timeout: Duration,
    /// For the `s3`, `sns`, `eventbridge` and `cloudwatch_alarm` types: which AWS service
    /// delivers to the queue, so messages become the events its own Lambda trigger would give.
    #[serde(skip)]
    pub origin: Option<Origin>,
}

/// The AWS service behind an SQS-backed source, with its type's own keys.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    S3(S3Options),
    Sns(SnsOptions),
    EventBridge(EventBridgeOptions),
    CloudWatchAlarm(AlarmOptions),
}

/// `type = "s3"`: S3 event notifications, straight, through SNS or through EventBridge.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Options {
    /// `s3`: Lambda's S3 event, one record each; `eventbridge`: EventBridge's S3 events as they are.
    #[serde(default)]
    pub shape: S3Shape,
    /// Only events of this bucket.
    pub bucket: Option<String>,
    /// Only keys (decoded) starting with this.
    pub prefix: Option<String>,
    /// Only keys (decoded) ending with this.
    pub suffix: Option<String>,
    /// Only these event names; a trailing `*` matches a family (`ObjectCreated:*`).
    #[serde(default)]
    pub events: Vec<String>,
    /// What `fanin setup` wires: the bucket's notification to the queue.
    pub setup: Option<BucketWiring>,
}

impl S3Options {
    /// The bucket `fanin setup` wires, for a source with a `setup` table.
    pub fn setup_bucket(&self) -> Option<&str> {
        self.setup.as_ref().and_then(|w| w.bucket.as_ref().or(self.bucket.as_ref())).map(String::as_str)
    }
}

/// `setup = { … }` of an `s3` source.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketWiring {
    /// The bucket whose notifications go to the queue; default: the source's `bucket`. The
    /// notification carries the source's `events` (default `s3:ObjectCreated:*`), `prefix`
    /// and `suffix`.
    pub bucket: Option<String>,
}

/// What an `s3` source hands the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum S3Shape {
    #[default]
    S3,
    Eventbridge,
}

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

/// `type = "cloudwatch_alarm"`: alarm state changes delivered to a queue.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmOptions {
    /// Only alarms whose name starts with this.
    pub alarm_name_prefix: Option<String>,
    /// Only changes into these states (`OK`, `ALARM`, `INSUFFICIENT_DATA`).
    #[serde(default)]
    pub states: Vec<String>,
    /// What `fanin setup` wires (queue mode): an EventBridge rule for alarm state changes.
    pub setup: Option<RuleWiring>,
}

/// `type = "cloudwatch_alarm"` with `poll_interval`: where no rule or alarm action can be
/// wired, `DescribeAlarms` every interval and one event per state transition.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmPollSettings {
    /// Time between two `DescribeAlarms` rounds.
    pub poll_interval: Duration,
    /// Which alarms and which new states.
    pub options: AlarmOptions,
}

fn default_pollers() -> usize {
    2
}
fn default_batch_size() -> i32 {
    10
}
fn default_wait_time() -> Duration {
    Duration::from_secs(20)
}
fn default_visibility_timeout() -> Duration {
    Duration::from_secs(30)
}

/// What an SQS source hands the function.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum SqsShape {
    /// Lambda's SQS event, `{"Records":[message]}`.
    #[default]
    Sqs,
    /// The message body itself, which must be JSON.
    Body,
}

/// `type = "cron"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronSettings {
    /// Six fields: sec min hour day month weekday.
    pub schedule: String,
    /// IANA time zone the schedule is read in.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Fire, once each, what was missed while the daemon was down, up to this far back.
    #[serde(default, deserialize_with = "optional_duration")]
    pub catch_up: Option<Duration>,
    /// Sent instead of the EventBridge "Scheduled Event".
    pub payload: Option<serde_json::Value>,
    /// The parsed schedule (filled in by validation).
    #[serde(skip)]
    pub parsed: Option<Schedule>,
}

// The parsed schedule follows from the text; two settings are the same when the text is.
impl PartialEq for CronSettings {
    fn eq(&self, other: &Self) -> bool {
        (&self.schedule, &self.timezone, &self.catch_up, &self.payload) == (&other.schedule, &other.timezone, &other.catch_up, &other.payload)
    }
}

fn default_timezone() -> String {
    "UTC".into()
}

/// One `[[routes]]` entry of a source file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSettings {
    /// The target's name.
    target: String,
    /// An EventBridge event pattern over the delivered event; without one, every event.
    filter: Option<serde_json::Value>,
}

/// Where a source's events go: a target, for the events its filter matches.
#[derive(Debug, Clone)]
pub struct Route {
    /// The target's name.
    pub target: String,
    /// The compiled pattern, if the route has one.
    pub filter: Option<Pattern>,
    /// The pattern as written, to tell a changed route on reload.
    filter_source: Option<serde_json::Value>,
}

impl Route {
    /// A route taking every event to `target`.
    pub fn to(target: &str) -> Route {
        Route { target: target.to_string(), filter: None, filter_source: None }
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Self) -> bool {
        (&self.target, &self.filter_source) == (&other.target, &other.filter_source)
    }
}

/// The daemon file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DaemonFile {
    #[serde(default)]
    daemon: DaemonSettings,
    #[serde(default)]
    aws: AwsSettings,
    #[serde(default)]
    metrics: MetricsSettings,
    #[serde(default)]
    fleet: FleetSettings,
    #[serde(default)]
    dlq: BTreeMap<String, DlqSettings>,
    #[serde(default)]
    targets: BTreeMap<String, TargetSettings>,
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}

fn optional_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

fn optional_rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Rate>, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map(Some).map_err(serde::de::Error::custom)
}

/// Parses `"30s"`, `"6h"`, `"1h 30m"`, `"250ms"`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration ({e}); write it like \"30s\", \"5m\" or \"6h\""))
}

/// Which key a `serde_path_to_error` path points at, dotted.
fn key_of(path: &serde_path_to_error::Path) -> String {
    let p = path.to_string();
    if p == "." {
        String::new()
    } else {
        p
    }
}

impl Config {
    /// Loads the daemon file (with `FANIN__SECTION__KEY` overrides) and every source file.
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| ConfigError::new(file, "", format!("cannot read: {e}")))?;
        let raw = config::Config::builder()
            .add_source(config::File::from_str(&text, config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix("FANIN")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            )
            .build()
            .map_err(|e| ConfigError::new(file, "", e.to_string()))?;
        let parsed: DaemonFile = serde_path_to_error::deserialize(raw).map_err(|e| {
            let key = key_of(e.path());
            ConfigError::new(file, key, strip_config_suffix(&e.into_inner().to_string()))
        })?;

        let base = file.parent().unwrap_or(Path::new(".")).to_path_buf();
        let mut daemon = parsed.daemon;
        daemon.sources_dir = base.join(&daemon.sources_dir);
        daemon.state_dir = base.join(&daemon.state_dir);
        let mut dlq = parsed.dlq;
        for sink in dlq.values_mut() {
            if let DlqSettings::File { path: Some(p) } = sink {
                *p = base.join(&*p);
            }
        }

        let mut config = Config {
            file: file.to_path_buf(),
            daemon,
            aws: parsed.aws,
            metrics: parsed.metrics,
            fleet: parsed.fleet,
            dlq,
            targets: parsed.targets,
            sources: Vec::new(),
        };
        let mut defined_in: BTreeMap<String, PathBuf> = BTreeMap::new();
        for name in config.targets.keys() {
            defined_in.insert(format!("targets.{name}"), file.to_path_buf());
        }
        for name in config.dlq.keys() {
            defined_in.insert(format!("dlq.{name}"), file.to_path_buf());
        }
        config.load_sources(&mut defined_in)?;
        config.validate(&defined_in)?;
        Ok(config)
    }

    fn load_sources(&mut self, defined_in: &mut BTreeMap<String, PathBuf>) -> Result<(), ConfigError> {
        let dir = self.daemon.sources_dir.clone();
        let entries = std::fs::read_dir(&dir).map_err(|e| {
            ConfigError::new(&self.file, "daemon.sources_dir", format!("cannot read {}: {e}", dir.display()))
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        for path in files {
            let source = self.load_source(&path, defined_in)?;
            self.sources.push(source);
        }
        Ok(())
    }

    fn load_source(
        &mut self,
        path: &Path,
        defined_in: &mut BTreeMap<String, PathBuf>,
    ) -> Result<SourceSettings, ConfigError> {
        let name = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(path, "", format!("cannot read: {e}")))?;
        let mut table: toml::Table = toml::from_str(&text).map_err(|e| {
            ConfigError::new(path, "", e.message().to_string() + &location(&text, e.span()))
        })?;

        // Targets and sinks may stand in a source file; they join the global namespace.
        for (section, is_target) in [("targets", true), ("dlq", false)] {
            let Some(value) = table.remove(section) else { continue };
            let entries: BTreeMap<String, toml::Value> = deserialize_at(path, section, value)?;
            for (entry, value) in entries {
                let key = format!("{section}.{entry}");
                if let Some(first) = defined_in.get(&key) {
                    return Err(ConfigError::new(
                        path,
                        key,
                        format!("defined twice (also in {})", first.display()),
                    ));
                }
                defined_in.insert(key.clone(), path.to_path_buf());
                if is_target {
                    self.targets.insert(entry, deserialize_at(path, &key, value)?);
                } else {
                    let mut sink: DlqSettings = deserialize_at(path, &key, value)?;
                    if let DlqSettings::File { path: Some(p) } = &mut sink {
                        *p = path.parent().unwrap_or(Path::new(".")).join(&*p);
                    }
                    self.dlq.insert(entry, sink);
                }
            }
        }

        let routes = match (table.remove("target"), table.remove("routes")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(path, "routes", "give either `target` or `[[routes]]`, not both"))
            }
            (Some(t), None) => vec![Route::to(&deserialize_at::<String>(path, "target", t)?)],
            (None, Some(r)) => {
                let mut routes = Vec::new();
                for (i, r) in deserialize_at::<Vec<RouteSettings>>(path, "routes", r)?.into_iter().enumerate() {
                    let filter = r
                        .filter
                        .as_ref()
                        .map(Pattern::parse)
                        .transpose()
                        .map_err(|e| {
                            let at = if e.path.is_empty() { String::new() } else { format!(".{}", e.path) };
                            ConfigError::new(path, format!("routes[{i}].filter{at}"), e.message)
                        })?;
                    routes.push(Route { target: r.target, filter, filter_source: r.filter });
                }
                routes
            }
            (None, None) => {
                return Err(ConfigError::new(path, "target", "missing: name the target events go to"))
            }
        };

        let kind = match table.remove("type") {
            None => {
                return Err(ConfigError::new(
                    path,
                    "type",
                    "missing: one of sqs, s3, sns, eventbridge, cloudwatch_alarm or cron",
                ))
            }
            Some(toml::Value::String(t)) => match t.as_str() {
                "sqs" => SourceKind::Sqs(deserialize_at(path, "", toml::Value::Table(table))?),
                "cron" => SourceKind::Cron(deserialize_at(path, "", toml::Value::Table(table))?),
                "s3" => {
                    let own = split_off(&mut table, &["shape", "bucket", "prefix", "suffix", "events", "setup"]);
                    let options: S3Options = deserialize_at(path, "", own)?;
                    if options.setup.is_some() && options.setup_bucket().is_none() {
                        return Err(ConfigError::new(path, "setup.bucket", "missing: name the bucket (here or as the source's `bucket`)"));
                    }
                    queue_source(path, table, Origin::S3(options))?
                }
                "sns" => {
                    let own = split_off(&mut table, &["topic_arn", "subscription_arn", "setup"]);
                    let options: SnsOptions = deserialize_at(path, "", own)?;
                    if options.setup.is_some() && options.setup_topic().is_none() {
                        return Err(ConfigError::new(path, "setup.topic_arn", "missing: name the topic (here or as the source's `topic_arn`)"));
                    }
                    queue_source(path, table, Origin::Sns(options))?
                }
                "eventbridge" => {
                    let own = split_off(&mut table, &["setup"]);
                    let options: EventBridgeOptions = deserialize_at(path, "", own)?;
                    if options.setup.as_ref().is_some_and(|w| w.pattern.is_none()) {
                        return Err(ConfigError::new(path, "setup.pattern", "missing: the event pattern of the rule to create"));
                    }
                    queue_source(path, table, Origin::EventBridge(options))?
                }
                "cloudwatch_alarm" => alarm_source(path, table)?,
                other => {
                    return Err(ConfigError::new(
                        path,
                        "type",
                        format!("unknown source type \"{other}\"; expected sqs, s3, sns, eventbridge, cloudwatch_alarm or cron"),
                    ))
                }
            },
            Some(_) => return Err(ConfigError::new(path, "type", "must be a string")),
        };
        Ok(SourceSettings { name, file: path.to_path_buf(), routes, kind })
    }

    fn validate(&mut self, defined_in: &BTreeMap<String, PathBuf>) -> Result<(), ConfigError> {
        let file = self.file.clone();
        let d = &self.daemon;
        if d.queue_capacity == 0 {
            return Err(ConfigError::new(&file, "daemon.queue_capacity", "must be at least 1"));
        }
        if d.max_in_flight == 0 {
            return Err(ConfigError::new(&file, "daemon.max_in_flight", "must be at least 1"));
        }
        if let Some(account) = &self.aws.account_id {
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ConfigError::new(&file, "aws.account_id", format!("\"{account}\" is not an AWS account id (12 digits)")));
            }
        }
        for (name, target) in &self.targets {
            let at = defined_in.get(&format!("targets.{name}")).unwrap_or(&file);
            if target.max_concurrency == 0 {
                return Err(ConfigError::new(at, format!("targets.{name}.max_concurrency"), "must be at least 1"));
            }
            // A function (Lambda), a function URL (`function` may then name it) or a state machine.
            let others = usize::from(target.url.is_some()) + usize::from(target.state_machine.is_some());
            if others > 1 || (others == 0 && target.function.is_empty()) || (target.state_machine.is_some() && !target.function.is_empty()) {
                let message = "give one of `function` (Lambda), `url` (a function URL) or `state_machine` (Step Functions)";
                return Err(ConfigError::new(at, format!("targets.{name}"), message));
            }
            if target.url.as_ref().is_some_and(|u| !(u.starts_with("https://") || u.starts_with("http://"))) {
                return Err(ConfigError::new(at, format!("targets.{name}.url"), "must be a function URL: https://<id>.lambda-url.<region>.on.aws/"));
            }
            if let Some(arn) = &target.state_machine {
                if !(arn.starts_with("arn:") && arn.split(':').nth(5) == Some("stateMachine") && arn.split(':').count() == 7) {
                    let message = "must be a state machine ARN: arn:aws:states:REGION:ACCOUNT:stateMachine:NAME";
                    return Err(ConfigError::new(at, format!("targets.{name}.state_machine"), message));
                }
            }
            // Invoke's FunctionName: 1 to 170 characters, whichever form it takes.
            if target.function.len() > 170 {
                return Err(ConfigError::new(at, format!("targets.{name}.function"), format!("must be 1 to 170 characters (it is {})", target.function.len())));
            }
            if target.retry.max_attempts == 0 {
                return Err(ConfigError::new(at, format!("targets.{name}.retry.max_attempts"), "must be at least 1"));
            }
            for (key, sink) in [("dlq", &target.dlq), ("on_success", &target.on_success)] {
                if let Some(sink) = sink.as_ref().filter(|s| !self.dlq.contains_key(*s)) {
                    return Err(ConfigError::new(
                        at,
                        format!("targets.{name}.{key}"),
                        format!("no sink named \"{sink}\" (define it as [dlq.{sink}])"),
                    ));
                }
            }
            if target.log_type == LogType::Tail && target.invocation_type != InvocationType::RequestResponse {
                return Err(ConfigError::new(at, format!("targets.{name}.log_type"), "Lambda returns logs only for invocation_type = \"RequestResponse\""));
            }
        }
        for source in &mut self.sources {
            for (i, Route { target, .. }) in source.routes.iter().enumerate() {
                if !self.targets.contains_key(target) {
                    let key = if source.routes.len() == 1 { "target".to_string() } else { format!("routes[{i}].target") };
                    let known: Vec<&str> = self.targets.keys().map(String::as_str).collect();
                    return Err(ConfigError::new(
                        &source.file,
                        key,
                        format!("no target named \"{target}\" (defined: {})", known.join(", ")),
                    ));
                }
            }
            match &mut source.kind {
                SourceKind::Sqs(s) => {
                    if !(1..=10).contains(&s.batch_size) {
                        return Err(ConfigError::new(&source.file, "batch_size", "must be between 1 and 10"));
                    }
                    if s.wait_time > Duration::from_secs(20) {
                        return Err(ConfigError::new(&source.file, "wait_time", "SQS long polling waits at most 20s"));
                    }
                    if s.pollers == 0 {
                        return Err(ConfigError::new(&source.file, "pollers", "must be at least 1"));
                    }
                    if s.visibility_timeout < Duration::from_secs(3) || s.visibility_timeout > Duration::from_secs(12 * 3600) {
                        return Err(ConfigError::new(&source.file, "visibility_timeout", "must be between 3s and 12h"));
                    }
                }
                SourceKind::Cron(c) => {
                    let parsed = Schedule::parse(&c.schedule, &c.timezone).map_err(|e| {
                        let key = match e {
                            ScheduleError::Expression(_) => "schedule",
                            ScheduleError::TimeZone(_) => "timezone",
                        };
                        ConfigError::new(&source.file, key, e.to_string())
                    })?;
                    c.parsed = Some(parsed);
                }
                SourceKind::AlarmPoll(_) => {}
            }
        }
        Ok(())
    }

    /// The settings of the sink `target` dead-letters to (`None`: the default file).
    pub fn dlq_of(&self, target: &TargetSettings) -> Option<&DlqSettings> {
        target.dlq.as_ref().and_then(|name| self.dlq.get(name))
    }

    /// The dead-letter file used by targets that name no sink.
    pub fn default_dlq_path(&self) -> PathBuf {
        self.daemon.state_dir.join("dlq.jsonl")
    }
}

/// Moves `keys` out of `table` into a table of their own.
fn split_off(table: &mut toml::Table, keys: &[&str]) -> toml::Value {
    toml::Value::Table(keys.iter().filter_map(|k| table.remove(*k).map(|v| (k.to_string(), v))).collect())
}

/// An SQS-backed source of an AWS service: the queue settings of `type = "sqs"` (but `shape`,
/// which the service decides), plus where its messages come from.
fn queue_source(path: &Path, table: toml::Table, origin: Origin) -> Result<SourceKind, ConfigError> {
    if table.contains_key("shape") {
        return Err(ConfigError::new(path, "shape", "only sqs and s3 sources have a shape"));
    }
    let mut settings: SqsSettings = deserialize_at(path, "", toml::Value::Table(table))?;
    settings.origin = Some(origin);
    Ok(SourceKind::Sqs(settings))
}

/// `type = "cloudwatch_alarm"`: fed by a queue (`queue_url`) or polling (`poll_interval`).
fn alarm_source(path: &Path, mut table: toml::Table) -> Result<SourceKind, ConfigError> {
    let own = split_off(&mut table, &["alarm_name_prefix", "states", "setup"]);
    let options: AlarmOptions = deserialize_at(path, "", own)?;
    if let Some(bad) = options.states.iter().find(|s| !["OK", "ALARM", "INSUFFICIENT_DATA"].contains(&s.as_str())) {
        return Err(ConfigError::new(path, "states", format!("\"{bad}\" is not OK, ALARM or INSUFFICIENT_DATA")));
    }
    let Some(interval) = table.remove("poll_interval") else {
        if !table.contains_key("queue_url") {
            return Err(ConfigError::new(
                path,
                "queue_url",
                "missing: give queue_url (alarm changes delivered to a queue) or poll_interval (poll DescribeAlarms)",
            ));
        }
        return queue_source(path, table, Origin::CloudWatchAlarm(options));
    };
    if table.contains_key("queue_url") {
        return Err(ConfigError::new(path, "poll_interval", "give queue_url or poll_interval, not both"));
    }
    if options.setup.is_some() {
        return Err(ConfigError::new(path, "setup", "a polling source has nothing for fanin setup to wire"));
    }
    if let Some(key) = table.keys().next() {
        return Err(ConfigError::new(path, key.as_str(), format!("unknown key `{key}` for a polling cloudwatch_alarm source")));
    }
    let interval: String = deserialize_at(path, "poll_interval", interval)?;
    let poll_interval = parse_duration(&interval).map_err(|e| ConfigError::new(path, "poll_interval", e))?;
    if poll_interval < Duration::from_secs(1) {
        return Err(ConfigError::new(path, "poll_interval", "must be at least 1s"));
    }
    Ok(SourceKind::AlarmPoll(AlarmPollSettings { poll_interval, options }))
}

/// Deserializes `value` (found at `key` of `file`) into `T`, naming the full key on error.
fn deserialize_at<T: serde::de::DeserializeOwned>(file: &Path, key: &str, value: toml::Value) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = key_of(e.path());
        let full = match (key.is_empty(), inner.is_empty()) {
            (true, _) => inner,
            (false, true) => key.to_string(),
            (false, false) => format!("{key}.{inner}"),
        };
        ConfigError::new(file, full, e.into_inner().to_string())
    })
}

/// The `config` crate appends its own "for key ..." to some messages; the key is already named.
fn strip_config_suffix(message: &str) -> String {
    match message.find(" for key `") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(span) => {
            let line = text[..span.start.min(text.len())].lines().count().max(1);
            format!(" (line {line})")
        }
        None => String::new(),
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = if self.per == Duration::from_secs(60) { "m" } else { "s" };
        write!(f, "{}/{unit}", self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    const DAEMON: &str = r#"
[daemon]
sources_dir = "sources"
state_dir = "state"
[targets.resize]
function = "resize"
retry = { max_attempts = 5, base_delay = "100ms", max_delay = "1s", max_event_age = "1h" }
"#;

    #[test]
    fn loads_a_daemon_file_and_sources() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "fanin.toml", DAEMON);
        write(dir.path(), "sources/orders.toml", "type = \"sqs\"\nqueue_url = \"http://q\"\ntarget = \"resize\"\n");
        write(dir.path(), "sources/nightly.toml", "type = \"cron\"\nschedule = \"0 0 2 * * *\"\ntimezone = \"Asia/Tokyo\"\ncatch_up = \"1h\"\ntarget = \"resize\"\n");
        let c = Config::load(&file).unwrap();
        assert_eq!(c.sources.len(), 2);
        assert_eq!(c.sources[0].name, "nightly");
        assert_eq!(c.targets["resize"].retry.max_attempts, 5);
        assert_eq!(c.targets["resize"].retry.base_delay, Duration::from_millis(100));
        assert_eq!(c.daemon.state_dir, dir.path().join("state"));
    }

    fn error_of(daemon: &str, sources: &[(&str, &str)]) -> ConfigError {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "fanin.toml", daemon);
        std::fs::create_dir_all(dir.path().join("sources")).unwrap();
        for (name, text) in sources {
            write(dir.path(), &format!("sources/{name}"), text);
        }
        Config::load(&file).unwrap_err()
    }

    #[test]
    fn unknown_key_in_daemon_file_is_named() {
        let e = error_of(&format!("{DAEMON}\n[targets.other]\nfunction = \"x\"\nretyr = 3\n"), &[]);
        assert!(e.file.ends_with("fanin.toml"));
        assert_eq!(e.key, "targets.other.retyr");
        assert!(e.message.contains("retyr"), "{e}");
    }

    #[test]
    fn unknown_key_in_source_file_is_named() {
        let e = error_of(DAEMON, &[("a.toml", "type = \"sqs\"\nqueue_url = \"u\"\ntarget = \"resize\"\nqueue_ulr = 1\n")]);
        assert!(e.file.ends_with("sources/a.toml"));
        assert!(e.message.contains("queue_ulr"), "{e}");
    }

    #[test]
    fn route_to_missing_target_names_file_and_key() {
        let e = error_of(DAEMON, &[("a.toml", "type = \"sqs\"\nqueue_url = \"u\"\ntarget = \"nope\"\n")]);
        assert!(e.file.ends_with("sources/a.toml"));
        assert_eq!(e.key, "target");
        assert!(e.message.contains("nope"));
    }

    #[test]
    fn target_defined_twice_is_refused() {
        let e = error_of(
            DAEMON,
            &[("a.toml", "type = \"sqs\"\nqueue_url = \"u\"\ntarget = \"resize\"\n[targets.resize]\nfunction = \"f\"\n")],
        );
        assert_eq!(e.key, "targets.resize");
        assert!(e.message.contains("defined twice"));
    }

    #[test]
    fn bad_schedule_and_timezone_are_named() {
        let e = error_of(DAEMON, &[("c.toml", "type = \"cron\"\nschedule = \"0 2 * * *\"\ntarget = \"resize\"\n")]);
        assert_eq!(e.key, "schedule");
        let e = error_of(DAEMON, &[("c.toml", "type = \"cron\"\nschedule = \"0 0 2 * * *\"\ntimezone = \"Mars/Base\"\ntarget = \"resize\"\n")]);
        assert_eq!(e.key, "timezone");
    }

    #[test]
    fn bad_duration_and_rate_are_named() {
        let e = error_of("[daemon]\nshutdown_grace = \"soon\"\n", &[]);
        assert_eq!(e.key, "daemon.shutdown_grace");
        let e = error_of("[targets.a]\nfunction = \"a\"\nrate = \"fast\"\n", &[]);
        assert_eq!(e.key, "targets.a.rate");
    }

    #[test]
    fn a_bad_route_filter_names_its_route_and_path() {
        let e = error_of(
            DAEMON,
            &[("a.toml", "type = \"sqs\"\nqueue_url = \"u\"\n[[routes]]\ntarget = \"resize\"\nfilter = { detail = { state = \"ALARM\" } }\n")],
        );
        assert_eq!(e.key, "routes[0].filter.detail.state", "{e}");
    }

    #[test]
    fn an_alarm_source_is_fed_by_a_queue_or_polls_never_both() {
        let alarm = |rest: &str| error_of(DAEMON, &[("a.toml", &format!("type = \"cloudwatch_alarm\"\ntarget = \"resize\"\n{rest}"))]);
        assert_eq!(alarm("").key, "queue_url");
        assert_eq!(alarm("queue_url = \"u\"\npoll_interval = \"1m\"\n").key, "poll_interval");
        assert_eq!(alarm("poll_interval = \"soon\"\n").key, "poll_interval");
        assert_eq!(alarm("poll_interval = \"1m\"\npollers = 2\n").key, "pollers");
        assert_eq!(alarm("poll_interval = \"1m\"\nsetup = { rule = \"r\" }\n").key, "setup");

        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "fanin.toml", DAEMON);
        write(dir.path(), "sources/a.toml", "type = \"cloudwatch_alarm\"\npoll_interval = \"30s\"\nstates = [\"ALARM\"]\ntarget = \"resize\"\n");
        let SourceKind::AlarmPoll(polling) = &Config::load(&file).unwrap().sources[0].kind else { panic!("not polling") };
        assert_eq!(polling.poll_interval, Duration::from_secs(30));
        assert_eq!(polling.options.states, ["ALARM"]);
    }

    #[test]
    fn setup_tables_name_what_they_miss() {
        let source = |text: &str| error_of(DAEMON, &[("a.toml", &format!("queue_url = \"u\"\ntarget = \"resize\"\n{text}"))]);
        assert_eq!(source("type = \"eventbridge\"\nsetup = { rule = \"r\" }\n").key, "setup.pattern");
        assert_eq!(source("type = \"s3\"\nsetup = {}\n").key, "setup.bucket");
        assert_eq!(source("type = \"sns\"\nsetup = {}\n").key, "setup.topic_arn");
        assert_eq!(source("type = \"s3\"\nsetup = { bucket = \"b\", rule = \"r\" }\n").key, "setup.rule");
    }

    #[test]
    fn fleet_claims_are_an_s3_location() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "fanin.toml", &format!("{DAEMON}\n[fleet]\nclaims = \"s3://ops/fanin/claims\"\nhost = \"a\"\n"));
        std::fs::create_dir_all(dir.path().join("sources")).unwrap();
        let fleet = Config::load(&file).unwrap().fleet;
        assert_eq!(fleet.claims, Some(S3Location { bucket: "ops".into(), prefix: "fanin/claims/".into() }));
        assert_eq!(fleet.host.as_deref(), Some("a"));
        assert_eq!("s3://ops".parse::<S3Location>().unwrap().prefix, "");
        let e = error_of(&format!("{DAEMON}\n[fleet]\nclaims = \"ops/claims/\"\n"), &[]);
        assert_eq!(e.key, "fleet.claims", "{e}");
    }

    #[test]
    fn rates_parse() {
        assert_eq!("100/s".parse::<Rate>().unwrap(), Rate { count: 100, per: Duration::from_secs(1) });
        assert_eq!("6/m".parse::<Rate>().unwrap().per, Duration::from_secs(60));
        assert!("0/s".parse::<Rate>().is_err());
        assert!("10".parse::<Rate>().is_err());
    }
}
