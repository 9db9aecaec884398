//! Every key of the configuration schema at its edge values (zero, negative, huge, durations
//! that overflow, values past AWS's own limits): each is refused with exit 2 naming the file
//! and the key, or accepted and then runs — never a panic.
//!
//! [`ROWS`] holds one row per key: where it goes and the values to try. Every value goes
//! through `fanin validate --offline` alone; the accepted ones then run together, the n-th
//! accepted value of every key in the n-th `fanin run`, against AWS endpoints that refuse
//! every connection. [`the_table_covers_every_key_of_the_schema`] reads the keys the settings
//! structs know (serde's own field lists), so a new key without a row fails.
//!
//! No AWS is needed: these tests run without moto.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::de::{self, Deserialize, Visitor};

use crate::support::harness::{Daemon, Moto};

/// Where a row's key is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum File {
    /// The daemon file; the key is its dotted path (`targets.edge.retry.max_attempts`).
    Daemon,
    /// The source file `sources/<type>.toml` of these types (one file per type); the key is
    /// its dotted path in that file. `cloudwatch_alarm_poll` is the polling alarm source.
    Source(&'static [&'static str]),
}

/// One key and the values to try at it.
struct Row {
    file: File,
    key: &'static str,
    /// Other keys (same file) the row needs to be about this key alone.
    needs: &'static [(&'static str, &'static str)],
    /// TOML values; `@long(N)` is a string of N bytes, `@context(N)` a table with one string
    /// of N bytes, `@payload(N)` the same for a cron payload.
    values: &'static [&'static str],
}

const fn row(file: File, key: &'static str, values: &'static [&'static str]) -> Row {
    Row { file, key, needs: &[], values }
}

const fn row_with(file: File, key: &'static str, needs: &'static [(&'static str, &'static str)], values: &'static [&'static str]) -> Row {
    Row { file, key, needs, values }
}

const D: File = File::Daemon;
const QUEUE_TYPES: &[&str] = &["sqs", "s3", "sns", "eventbridge", "cloudwatch_alarm"];
/// The types that read a queue with the shared reader's keys: the queue-fed ones, and `http`
/// (its buffer queue).
const READER_TYPES: &[&str] = &["sqs", "s3", "sns", "eventbridge", "cloudwatch_alarm", "http"];
const fn src(types: &'static [&'static str]) -> File {
    File::Source(types)
}

/// Durations no setting takes: negative, past `u64` seconds, huge but representable, empty.
const BAD_DURATIONS: [&str; 5] = ["\"-1s\"", "\"18446744073709551616s\"", "\"99999999999999999s\"", "\"1000000000y\"", "\"\""];
const I64_MAX: &str = "9223372036854775807";

/// One row per key of the schema.
const ROWS: &[Row] = &[
    // [daemon]
    row(D, "daemon.sources_dir", &["\"\"", "\"../sources\"", "\"../nowhere\"", "\".\"", "\"../config\""]),
    row(D, "daemon.state_dir", &["\"\"", "\"../state\"", "\".\""]),
    row(D, "daemon.queue_capacity", &["0", "-1", "1", "1000000", "1000001", "4611686018427387904", I64_MAX]),
    row(D, "daemon.max_in_flight", &["0", "-1", "1", "100000", "100001", "2305843009213693952", I64_MAX]),
    row(
        D,
        "daemon.shutdown_grace",
        &["\"0s\"", "\"1h\"", "\"1h 1s\"", "\"-1s\"", "\"18446744073709551616s\"", "\"99999999999999999s\"", "\"1000000000y\"", "\"\""],
    ),
    row(D, "daemon.log_payloads", &["true", "false", "\"yes\"", "1"]),
    // [aws]
    row(D, "aws.region", &["\"us-east-1\"", "\"eu-central-2\"", "\"\"", "\"US East\"", "\"us-east-1/..\"", "@long(51)"]),
    row(D, "aws.profile", &["\"edge\"", "\"\""]),
    row(
        D,
        "aws.assume_role_arn",
        &["\"arn:aws:iam::123456789012:role/edge\"", "\"\"", "\"edge\"", "\"arn:aws:iam::123456789012:user/edge\""],
    ),
    row(D, "aws.endpoint_url", &["\"http://127.0.0.1:1\"", "\"\"", "\"not a url\"", "\"ftp://127.0.0.1/\"", "\"http://\""]),
    row(D, "aws.account_id", &["\"123456789012\"", "\"\"", "\"12345678901\"", "\"1234567890123\"", "\"12345678901x\"", "123456789012"]),
    // [metrics]
    row(D, "metrics.listen", &["\"127.0.0.1:0\"", "\"127.0.0.1:65536\"", "\"localhost:9464\"", "\"\"", "\"-1\""]),
    // [http]
    row(D, "http.listen", &["\"127.0.0.1:0\"", "\"\"", "\"localhost:1\"", "\"127.0.0.1:65536\"", "1"]),
    row(D, "http.tls_cert", &["\"cert.pem\"", "\"\"", "1"]),
    row(D, "http.tls_key", &["\"key.pem\"", "\"\"", "1"]),
    row(D, "http.max_connections", &["1", "100000", "0", "-1", "100001", I64_MAX]),
    row(
        D,
        "http.header_timeout",
        &[
            "\"100ms\"",
            "\"1h\"",
            "\"99ms\"",
            "\"1h 1s\"",
            BAD_DURATIONS[0],
            BAD_DURATIONS[1],
            BAD_DURATIONS[2],
            BAD_DURATIONS[3],
            BAD_DURATIONS[4],
        ],
    ),
    row(D, "http.max_header_bytes", &["1024", "1048576", "1023", "1048577", "-1", I64_MAX]),
    row(D, "http.max_headers", &["1", "10000", "0", "10001", "-1", I64_MAX]),
    // [tracing]
    row(D, "tracing.start_traces", &["true", "false", "\"yes\"", "1"]),
    // [fleet]
    row(D, "fleet.claims", &["\"s3://edge-claims/fanin/\"", "\"s3://edge-claims\"", "\"s3://\"", "\"\"", "\"edge-claims\""]),
    row(D, "fleet.host", &["\"web-1\"", "@long(10000)", "\"\"", "\" \""]),
    row(
        D,
        "fleet.lease",
        &[
            "\"3s\"",
            "\"30s\"",
            "\"1h\"",
            "\"2s\"",
            "\"0s\"",
            "\"1h 1s\"",
            BAD_DURATIONS[0],
            BAD_DURATIONS[1],
            BAD_DURATIONS[2],
            BAD_DURATIONS[3],
            BAD_DURATIONS[4],
        ],
    ),
    // [dlq.NAME], one sink per type, named after it
    row(D, "dlq.file.type", &["\"file\"", "\"\"", "\"tape\""]),
    row(D, "dlq.file.path", &["\"edge.jsonl\"", "\"\"", "\"/\"", "\".\""]),
    row(D, "dlq.sqs.queue_url", &["\"http://127.0.0.1:1/123456789012/edge-dlq\"", "\"\"", "\"edge-dlq\""]),
    row_with(D, "dlq.sqs.large_records", &[], &["{ bucket = \"edge\" }", "{}", "\"edge\""]),
    row(D, "dlq.sqs.large_records.bucket", &["\"edge\"", "\"\"", "\"edge/large\""]),
    row_with(D, "dlq.sqs.large_records.prefix", &[("dlq.sqs.large_records.bucket", "\"edge\"")], &["\"\"", "@long(512)", "@long(513)"]),
    row(D, "dlq.s3.bucket", &["\"edge\"", "\"\"", "\"edge/dlq\""]),
    row(D, "dlq.s3.prefix", &["\"\"", "\"dead/\"", "@long(512)", "@long(513)"]),
    // [targets.NAME]: `edge` calls a function, `url` a function URL, `flow` a state machine,
    // `sync` is RequestResponse
    row(
        D,
        "targets.edge.function",
        &["\"edge\"", "\"arn:aws:lambda:us-east-1:123456789012:function:edge:live\"", "@long(170)", "\"\"", "@long(171)"],
    ),
    row(D, "targets.flow.state_machine", &["\"arn:aws:states:us-east-1:123456789012:stateMachine:flow\"", "\"\"", "\"flow\""]),
    row(D, "targets.url.url", &["\"http://127.0.0.1:1/\"", "\"\"", "\"ftp://127.0.0.1/\"", "\"http://\"", "\"http://a b/\""]),
    row(D, "targets.url.auth", &["\"AWS_IAM\"", "\"NONE\"", "\"\"", "\"SOMETIMES\""]),
    row(D, "targets.edge.qualifier", &["\"live\"", "@long(128)", "\"\"", "@long(129)"]),
    row(D, "targets.edge.max_concurrency", &["1", "100000", "0", "-1", "100001", "2305843009213693952", I64_MAX]),
    row(
        D,
        "targets.edge.rate",
        &[
            "\"1/m\"",
            "\"1000000/s\"",
            "\"60000000/m\"",
            "\"0/s\"",
            "\"-1/s\"",
            "\"1000001/s\"",
            "\"1000000001/s\"",
            "\"4294967295/s\"",
            "\"4294967296/s\"",
            "\"60000001/m\"",
            "\"\"",
        ],
    ),
    row(D, "targets.edge.retry", &["{}", "\"3\""]),
    row(D, "targets.edge.retry.max_attempts", &["1", "1000", "0", "-1", "1001", "4294967295", "4294967296"]),
    row(
        D,
        "targets.edge.retry.base_delay",
        &[
            "\"1ms\"",
            "\"1h\"",
            "\"0s\"",
            "\"1h 1ms\"",
            BAD_DURATIONS[0],
            BAD_DURATIONS[1],
            BAD_DURATIONS[2],
            BAD_DURATIONS[3],
            BAD_DURATIONS[4],
        ],
    ),
    row(
        D,
        "targets.edge.retry.max_delay",
        &[
            "\"1ms\"",
            "\"12h\"",
            "\"0s\"",
            "\"12h 1s\"",
            BAD_DURATIONS[0],
            BAD_DURATIONS[1],
            BAD_DURATIONS[2],
            BAD_DURATIONS[3],
            BAD_DURATIONS[4],
        ],
    ),
    row(
        D,
        "targets.edge.retry.max_event_age",
        &[
            "\"1s\"",
            "\"14days\"",
            "\"0s\"",
            "\"15days\"",
            BAD_DURATIONS[0],
            BAD_DURATIONS[1],
            BAD_DURATIONS[2],
            BAD_DURATIONS[3],
            BAD_DURATIONS[4],
        ],
    ),
    row(D, "targets.edge.retry.retry_kms_errors", &["true", "false", "\"yes\""]),
    row(D, "targets.edge.retry.retry_function_errors", &["false", "true", "0"]),
    row(D, "targets.edge.dlq", &["\"file\"", "\"s3\"", "\"\"", "\"nowhere\""]),
    row(D, "targets.edge.invocation_type", &["\"Event\"", "\"RequestResponse\"", "\"DryRun\"", "\"\""]),
    row(D, "targets.edge.log_type", &["\"None\"", "\"Tail\"", "\"\""]),
    row(D, "targets.sync.log_type", &["\"Tail\""]),
    row(D, "targets.edge.on_success", &["\"file\"", "\"\"", "\"nowhere\""]),
    row(D, "dlq.sqs.type", &["\"sqs\"", "\"s3\""]),
    row(D, "dlq.s3.type", &["\"s3\"", "\"sqs\""]),
    // Lambda takes 3,583 bytes of base64: 2,685 bytes of JSON, `{"k":"…"}` holding 2,677.
    row(D, "targets.edge.client_context", &["{}", "{ app = \"fanin\" }", "@context(2677)", "@context(2678)", "\"fanin\""]),
    row(
        D,
        "targets.edge.invoke_timeout",
        &[
            "\"100ms\"",
            "\"1h\"",
            "\"0s\"",
            "\"99ms\"",
            "\"1h 1s\"",
            BAD_DURATIONS[0],
            BAD_DURATIONS[1],
            BAD_DURATIONS[2],
            BAD_DURATIONS[3],
            BAD_DURATIONS[4],
        ],
    ),
    row(D, "targets.edge.large_payloads", &["{ bucket = \"edge\" }", "{}", "\"edge\""]),
    row(D, "targets.edge.large_payloads.bucket", &["\"edge\"", "\"\"", "\"edge/payloads\""]),
    row_with(
        D,
        "targets.edge.large_payloads.prefix",
        &[("targets.edge.large_payloads.bucket", "\"edge\"")],
        &["\"\"", "@long(512)", "@long(513)"],
    ),
    // Every source file
    row(src(&["cron"]), "type", &["\"cron\"", "\"\"", "\"kafka\"", "1"]),
    row(src(&["cron"]), "target", &["\"edge\"", "\"\"", "\"nowhere\""]),
    row_with(src(&["cron"]), "routes", &[("target", "@remove")], &["[{ target = \"edge\" }, { target = \"url\" }]", "[]", "\"edge\""]),
    row_with(src(&["cron"]), "routes.target", &[("target", "@remove")], &["\"edge\"", "\"\"", "\"nowhere\""]),
    row_with(
        src(&["cron"]),
        "routes.filter",
        &[("target", "@remove"), ("routes.target", "\"edge\"")],
        &["{ source = [\"aws.events\"] }", "{}", "\"x\"", "{ source = [{ numeric = [\">\", 1e10] }] }"],
    ),
    row(
        src(&["cron"]),
        "targets",
        &["{ insource = { function = \"insource\" } }", "{ edge = { function = \"again\" } }", "{ insource = { rate = \"0/s\" } }"],
    ),
    row(
        src(&["cron"]),
        "dlq",
        &[
            "{ insource = { type = \"file\", path = \"insource.jsonl\" } }",
            "{ file = { type = \"file\" } }",
            "{ insource = { type = \"tape\" } }",
        ],
    ),
    // The queue settings every queue-fed type shares
    row(src(QUEUE_TYPES), "queue_url", &["\"http://127.0.0.1:1/123456789012/edge\"", "\"\"", "\"edge\"", "\"ftp://127.0.0.1/q\""]),
    row(src(READER_TYPES), "pollers", &["1", "1000", "0", "-1", "1001", I64_MAX]),
    row(src(READER_TYPES), "batch_size", &["1", "10", "0", "-1", "11", "2147483648", I64_MAX]),
    row(
        src(READER_TYPES),
        "wait_time",
        &["\"0s\"", "\"20s\"", "\"21s\"", BAD_DURATIONS[0], BAD_DURATIONS[1], BAD_DURATIONS[2], BAD_DURATIONS[3], BAD_DURATIONS[4]],
    ),
    row(
        src(READER_TYPES),
        "visibility_timeout",
        &[
            "\"3s\"",
            "\"12h\"",
            "\"0s\"",
            "\"2s\"",
            "\"12h 1s\"",
            BAD_DURATIONS[0],
            BAD_DURATIONS[1],
            BAD_DURATIONS[2],
            BAD_DURATIONS[3],
            BAD_DURATIONS[4],
        ],
    ),
    row(src(READER_TYPES), "task_token", &["\"$.TaskToken\"", "\"$['a b'][0].c\"", "\"\"", "\"$\"", "\"TaskToken\"", "\"$[x]\"", "1"]),
    row_with(
        src(READER_TYPES),
        "heartbeat",
        &[("task_token", "\"$.TaskToken\"")],
        &[
            "\"1s\"",
            "\"1h\"",
            "\"0s\"",
            "\"999ms\"",
            "\"1h 1s\"",
            BAD_DURATIONS[0],
            BAD_DURATIONS[1],
            BAD_DURATIONS[2],
            BAD_DURATIONS[3],
            BAD_DURATIONS[4],
        ],
    ),
    row(src(&["sqs"]), "shape", &["\"sqs\"", "\"body\"", "\"s3\"", "\"\""]),
    row(src(&["sns", "eventbridge", "cloudwatch_alarm"]), "shape", &["\"sqs\""]),
    // type = "s3"
    row(src(&["s3"]), "shape", &["\"s3\"", "\"eventbridge\"", "\"sqs\"", "\"\""]),
    row(src(&["s3"]), "bucket", &["\"edge\"", "\"\""]),
    row(src(&["s3"]), "prefix", &["\"\"", "@long(1024)"]),
    row(src(&["s3"]), "suffix", &["\".jpg\"", "\"\""]),
    row(src(&["s3"]), "events", &["[]", "[\"ObjectCreated:*\", \"s3:ObjectRemoved:Delete\"]", "\"ObjectCreated:*\""]),
    row(src(&["s3"]), "setup", &["{ bucket = \"edge\" }", "{}", "\"edge\""]),
    row(src(&["s3"]), "setup.bucket", &["\"edge\""]),
    // type = "sns"
    row(src(&["sns"]), "topic_arn", &["\"arn:aws:sns:us-east-1:123456789012:edge\"", "\"\"", "\"edge\""]),
    row(src(&["sns"]), "subscription_arn", &["\"arn:aws:sns:us-east-1:123456789012:edge:fanin\"", "\"\""]),
    row(src(&["sns"]), "setup", &["{ topic_arn = \"arn:aws:sns:us-east-1:123456789012:edge\" }", "{}", "\"edge\""]),
    row(
        src(&["sns"]),
        "setup.topic_arn",
        &["\"arn:aws:sns:us-east-1:123456789012:edge\"", "\"\"", "\"arn:aws:sqs:us-east-1:123456789012:edge\""],
    ),
    // type = "eventbridge", and a queue-fed cloudwatch_alarm's `setup`
    row(
        src(&["eventbridge"]),
        "setup",
        &["{ rule = \"edge\", pattern = { source = [\"shop\"] } }", "{ rule = \"edge\" }", "{}", "\"edge\""],
    ),
    row_with(
        src(&["eventbridge", "cloudwatch_alarm"]),
        "setup.rule",
        &[("setup.pattern", "{ source = [\"shop\"] }")],
        &["\"edge\"", "@long(64)", "\"\"", "@long(65)", "\"edge rule\"", "1"],
    ),
    row_with(
        src(&["eventbridge", "cloudwatch_alarm"]),
        "setup.event_bus",
        &[("setup.rule", "\"edge\""), ("setup.pattern", "{ source = [\"shop\"] }")],
        &["\"default\"", "\"arn:aws:events:us-east-1:123456789012:event-bus/edge\"", "\"\"", "@long(1601)", "1"],
    ),
    row_with(
        src(&["eventbridge", "cloudwatch_alarm"]),
        "setup.pattern",
        &[("setup.rule", "\"edge\"")],
        &["{ source = [\"shop\"] }", "\"shop\"", "{}", "{ source = \"shop\" }"],
    ),
    // type = "cloudwatch_alarm", by queue and by polling
    row(src(&["cloudwatch_alarm", "cloudwatch_alarm_poll"]), "alarm_name_prefix", &["\"prod-\"", "@long(255)", "\"\"", "@long(256)"]),
    row(
        src(&["cloudwatch_alarm", "cloudwatch_alarm_poll"]),
        "states",
        &["[]", "[\"OK\", \"ALARM\", \"INSUFFICIENT_DATA\"]", "[\"\"]", "[\"alarm\"]", "\"ALARM\""],
    ),
    row(src(&["cloudwatch_alarm"]), "setup", &["{ rule = \"edge\" }", "{}", "\"edge\""]),
    row(src(&["cloudwatch_alarm"]), "poll_interval", &["\"1m\""]),
    row(
        src(&["cloudwatch_alarm_poll"]),
        "poll_interval",
        &[
            "\"1s\"",
            "\"24h\"",
            "\"0s\"",
            "\"999ms\"",
            "\"24h 1s\"",
            BAD_DURATIONS[0],
            BAD_DURATIONS[1],
            BAD_DURATIONS[2],
            BAD_DURATIONS[3],
            BAD_DURATIONS[4],
        ],
    ),
    row(src(&["cloudwatch_alarm_poll"]), "setup", &["{ rule = \"edge\" }"]),
    // type = "http"
    row(
        src(&["http"]),
        "buffer_queue",
        &["\"http://127.0.0.1:1/123456789012/edge\"", "\"\"", "\"edge\"", "\"arn:aws:sqs:us-east-1:123456789012:edge\"", "1"],
    ),
    row(src(&["http"]), "path", &["\"/edge\"", "\"/\"", "\"\"", "\"edge\"", "\"/a?b\"", "@long(1025)", "1"]),
    row(src(&["http"]), "methods", &["[\"POST\", \"PUT\", \"GET\"]", "[]", "[\"TRACE\"]", "\"POST\""]),
    row(src(&["http"]), "shape", &["\"http\"", "\"body\"", "\"sqs\"", "\"\""]),
    row(src(&["http"]), "signature", &["{ scheme = \"none\" }", "{}", "\"none\"", "{ scheme = \"github\" }"]),
    row_with(
        src(&["http"]),
        "signature.scheme",
        &[("signature.secrets", "[{ env = \"PATH\" }]")],
        &["\"github\"", "\"stripe\"", "\"slack\"", "\"bearer\"", "\"\"", "\"md5\"", "1"],
    ),
    row_with(
        src(&["http"]),
        "signature.secrets",
        &[("signature.scheme", "\"github\"")],
        &["[{ env = \"PATH\" }]", "[{ env = \"PATH\" }, { env = \"PATH\" }]", "[]", "[{ env = \"\" }]", "[{ file = \"\" }]", "\"PATH\""],
    ),
    row_with(
        src(&["http"]),
        "signature.tolerance",
        &[("signature.scheme", "\"stripe\""), ("signature.secrets", "[{ env = \"PATH\" }]")],
        &[
            "\"1s\"",
            "\"24h\"",
            "\"0s\"",
            "\"24h 1s\"",
            BAD_DURATIONS[0],
            BAD_DURATIONS[1],
            BAD_DURATIONS[2],
            BAD_DURATIONS[3],
            BAD_DURATIONS[4],
        ],
    ),
    row_with(
        src(&["http"]),
        "signature.header",
        &[("signature.scheme", "\"hmac\""), ("signature.secrets", "[{ env = \"PATH\" }]")],
        &["\"X-Signature\"", "\"\"", "\"bad header\"", "@long(100000)"],
    ),
    row_with(
        src(&["http"]),
        "signature.algorithm",
        &[("signature.scheme", "\"hmac\""), ("signature.secrets", "[{ env = \"PATH\" }]"), ("signature.header", "\"X-Signature\"")],
        &["\"sha256\"", "\"sha512\"", "\"md5\"", "\"\""],
    ),
    row_with(
        src(&["http"]),
        "signature.encoding",
        &[("signature.scheme", "\"hmac\""), ("signature.secrets", "[{ env = \"PATH\" }]"), ("signature.header", "\"X-Signature\"")],
        &["\"hex\"", "\"base64\"", "\"rot13\"", "\"\""],
    ),
    row_with(
        src(&["http"]),
        "signature.prefix",
        &[("signature.scheme", "\"hmac\""), ("signature.secrets", "[{ env = \"PATH\" }]"), ("signature.header", "\"X-Signature\"")],
        &["\"sha256=\"", "\"\"", "@long(10000)", "1"],
    ),
    row(src(&["http"]), "status", &["200", "299", "199", "300", "-1", I64_MAX]),
    row(src(&["http"]), "max_body", &["1", "67108864", "0", "67108865", "-1", I64_MAX]),
    row(
        src(&["http"]),
        "body_timeout",
        &[
            "\"100ms\"",
            "\"1h\"",
            "\"99ms\"",
            "\"1h 1s\"",
            BAD_DURATIONS[0],
            BAD_DURATIONS[1],
            BAD_DURATIONS[2],
            BAD_DURATIONS[3],
            BAD_DURATIONS[4],
        ],
    ),
    row(src(&["http"]), "rate", &["\"1/m\"", "\"1000000/s\"", "\"0/s\"", "\"1000001/s\"", "\"fast\""]),
    row(src(&["http"]), "max_message_size", &["1024", "1048576", "1023", "1048577", "-1", I64_MAX]),
    // type = "cron"
    row(
        src(&["cron"]),
        "schedule",
        &["\"* * * * * *\"", "\"0 0 2 29 2 *\"", "\"0 0 0 30 2 *\"", "\"\"", "\"0 2 * * *\"", "\"99 * * * * *\"", "@long(100000)"],
    ),
    row(src(&["cron"]), "timezone", &["\"UTC\"", "\"Asia/Tokyo\"", "\"\"", "\"Mars/Olympus_Mons\""]),
    row(
        src(&["cron"]),
        "catch_up",
        &[
            "\"0s\"",
            "\"31days\"",
            "\"31days 1s\"",
            BAD_DURATIONS[0],
            BAD_DURATIONS[1],
            BAD_DURATIONS[2],
            BAD_DURATIONS[3],
            BAD_DURATIONS[4],
        ],
    ),
    row(src(&["cron"]), "payload", &["{}", "\"text\"", "[1, 2]", "@payload(1048000)", "@payload(1048577)"]),
];

/// The daemon file every value is tried in: every section present, AWS at a closed port.
fn daemon_base() -> toml::Table {
    table(
        r#"
[daemon]
sources_dir = "../sources"
state_dir = "../state"
shutdown_grace = "2s"

[aws]
region = "us-east-1"
account_id = "123456789012"
endpoint_url = "http://127.0.0.1:1"

[metrics]
listen = "127.0.0.1:0"

[http]
listen = "127.0.0.1:0"

[dlq.file]
type = "file"
path = "edge-dlq.jsonl"

[dlq.sqs]
type = "sqs"
queue_url = "http://127.0.0.1:1/123456789012/edge-dlq"

[dlq.s3]
type = "s3"
bucket = "edge"

[targets.edge]
function = "edge"

[targets.url]
url = "http://127.0.0.1:1/"

[targets.flow]
state_machine = "arn:aws:states:us-east-1:123456789012:stateMachine:flow"

[targets.sync]
function = "sync"
invocation_type = "RequestResponse"
"#,
    )
}

/// A source file of `kind` routed to `edge`.
fn source_base(kind: &str) -> toml::Table {
    let queue = "queue_url = \"http://127.0.0.1:1/123456789012/edge\"\n";
    let text = match kind {
        "sqs" | "s3" | "sns" | "eventbridge" | "cloudwatch_alarm" => format!("type = \"{kind}\"\n{queue}"),
        "cloudwatch_alarm_poll" => "type = \"cloudwatch_alarm\"\npoll_interval = \"1m\"\n".to_string(),
        "cron" => "type = \"cron\"\nschedule = \"0 0 2 * * *\"\n".to_string(),
        "http" => "type = \"http\"\nbuffer_queue = \"http://127.0.0.1:1/123456789012/edge\"\npath = \"/edge\"\nsignature = { scheme = \"none\" }\n".to_string(),
        other => panic!("no base source file for type {other}"),
    };
    table(&format!("target = \"edge\"\n{text}"))
}

fn table(text: &str) -> toml::Table {
    toml::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The TOML value a row's value text stands for (`None`: take the key out).
fn value(text: &str) -> Option<toml::Value> {
    let sized = |prefix: &str| text.strip_prefix(prefix).and_then(|n| n.strip_suffix(')')).map(|n| "x".repeat(n.parse().unwrap()));
    if text == "@remove" {
        return None;
    }
    if let Some(long) = sized("@long(") {
        return Some(toml::Value::String(long));
    }
    if let Some(long) = sized("@context(").or_else(|| sized("@payload(")) {
        return Some(toml::Value::Table(toml::Table::from_iter([("k".to_string(), toml::Value::String(long))])));
    }
    Some(table(&format!("v = {text}")).remove("v").unwrap())
}

/// Sets the dotted `key` of `t` to `v` (through arrays of tables: their first entry).
fn set(t: &mut toml::Table, key: &str, v: Option<toml::Value>) {
    let (parents, last) = match key.rsplit_once('.') {
        Some((p, l)) => (p.split('.').collect::<Vec<_>>(), l),
        None => (vec![], key),
    };
    let mut at = t;
    for part in parents {
        let entry = at.entry(part.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Array(items) = entry {
            if items.is_empty() {
                items.push(toml::Value::Table(toml::Table::new()));
            }
            at = items[0].as_table_mut().expect("an array of tables");
            continue;
        }
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        at = entry.as_table_mut().unwrap();
    }
    // `routes.…` keys go into the first route of an array of tables.
    match v {
        Some(v) => {
            at.insert(last.to_string(), v);
        }
        None => {
            at.remove(last);
        }
    }
}

/// `routes.target` and `routes.filter` are keys of the first of two `[[routes]]` entries (with
/// one, a bad target is reported as the file's `target`).
fn set_key(t: &mut toml::Table, key: &str, v: Option<toml::Value>) {
    if let Some(inner) = key.strip_prefix("routes.") {
        let routes = t
            .entry("routes")
            .or_insert_with(|| toml::Value::Array(vec![toml::Value::Table(toml::Table::new()), value("{ target = \"url\" }").unwrap()]));
        if let toml::Value::Array(items) = routes {
            while items.len() < 2 {
                items.push(value("{ target = \"url\" }").unwrap());
            }
            set(items[0].as_table_mut().unwrap(), inner, v);
        }
        return;
    }
    set(t, key, v);
}

/// A configuration: the daemon file and a source file per type, in a scratch directory.
struct Config {
    daemon: toml::Table,
    sources: BTreeMap<&'static str, toml::Table>,
}

impl Config {
    fn new() -> Config {
        Config { daemon: daemon_base(), sources: BTreeMap::new() }
    }

    /// Sets `key` of `file` (of type `kind`, for a source file) to the value `text`, with the
    /// row's needs first.
    fn put(&mut self, row: &Row, kind: Option<&'static str>, text: &str) {
        let t = match kind {
            None => &mut self.daemon,
            Some(kind) => self.sources.entry(kind).or_insert_with(|| source_base(kind)),
        };
        for (k, v) in row.needs {
            set_key(t, k, value(v));
        }
        set_key(t, row.key, value(text));
    }

    fn write(&self) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        std::fs::create_dir_all(dir.path().join("sources")).unwrap();
        std::fs::write(dir.path().join("config/fanin.toml"), toml::to_string(&self.daemon).unwrap()).unwrap();
        for (kind, t) in &self.sources {
            std::fs::write(dir.path().join(format!("sources/{kind}.toml")), toml::to_string(t).unwrap()).unwrap();
        }
        dir
    }
}

/// Nothing real is called: every AWS endpoint is a closed port.
const CLOSED: &str = "http://127.0.0.1:1";

fn spawn_fanin(args: &[&str], dir: &Path) -> Daemon {
    let config = dir.join("config/fanin.toml");
    let mut all = args.to_vec();
    all.extend(["--config", config.to_str().unwrap()]);
    Daemon::spawn(&all, &Moto { url: CLOSED.into() }, CLOSED, &[("RUST_LOG", "fanin=info")])
}

/// What one value did under `fanin validate --offline`.
#[derive(Debug)]
enum Verdict {
    Accepted,
    Refused,
}

/// The places of the row's value: the daemon file, or one source file per type.
fn kinds(row: &Row) -> Vec<Option<&'static str>> {
    match row.file {
        File::Daemon => vec![None],
        File::Source(types) => types.iter().map(|t| Some(*t)).collect(),
    }
}

/// `validate --offline` with `key` at `text`: exit 0, or exit 2 naming the file and the key
/// (or the table it is in, or a key inside it); anything else fails the row.
fn validate_one(row: &Row, kind: Option<&'static str>, text: &str) -> Result<Verdict, String> {
    let mut config = Config::new();
    config.put(row, kind, text);
    let dir = config.write();
    let mut d = spawn_fanin(&["validate", "--offline"], dir.path());
    let status = d.wait(Duration::from_secs(60));
    let log = d.log();
    let file = match kind {
        None => "config/fanin.toml".to_string(),
        Some(k) => format!("sources/{k}.toml"),
    };
    let short = |s: &str| s.chars().take(600).collect::<String>();
    match status.code() {
        Some(0) => Ok(Verdict::Accepted),
        Some(2) => {
            let line = log.lines().find(|l| l.contains("configuration error")).unwrap_or_default();
            let named = line.contains(&file) && line.contains(&dir.path().display().to_string());
            // The key itself, the table it is in, or a key inside it.
            let key = line.split_once(&format!("{file}: ")).and_then(|(_, rest)| rest.split_once(": ")).map(|(k, _)| k);
            let key_named = key.is_some_and(|k| {
                let k = k.replace("routes[0].", "routes.");
                k == row.key || row.key.starts_with(&format!("{k}.")) || k.starts_with(&format!("{}.", row.key))
            });
            if named && key_named && log.len() < 10_000 {
                Ok(Verdict::Refused)
            } else {
                Err(format!("exit 2 without naming {file} and {}: {}", row.key, short(&log)))
            }
        }
        other => Err(format!("exit {other:?} (0 or 2 expected): {} {}", short(&d.stdout()), short(&log))),
    }
}

#[test]
fn every_key_at_its_edge_values_is_refused_naming_it_or_runs() {
    let started = Instant::now();
    // Every (row, place, value), validated alone, four at a time.
    let jobs: Vec<(usize, Option<&'static str>, &'static str)> = ROWS
        .iter()
        .enumerate()
        .flat_map(|(i, row)| kinds(row).into_iter().flat_map(move |k| row.values.iter().map(move |v| (i, k, *v))))
        .collect();
    let verdicts: Vec<Result<Verdict, String>> = {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let out = std::sync::Mutex::new(BTreeMap::new());
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(&(i, kind, text)) = jobs.get(n) else { break };
                    let verdict = validate_one(&ROWS[i], kind, text);
                    out.lock().unwrap().insert(n, verdict);
                });
            }
        });
        out.into_inner().unwrap().into_values().collect()
    };
    let mut failures = Vec::new();
    // The accepted values of each (row, place), in the table's order.
    let mut accepted: Vec<(usize, Option<&'static str>, Vec<&'static str>)> = Vec::new();
    for ((i, kind, text), verdict) in jobs.iter().zip(verdicts) {
        match verdict {
            Err(why) => failures.push(format!("{} {}{} = {text}: {why}", where_(&ROWS[*i], *kind), ROWS[*i].key, "")),
            Ok(Verdict::Refused) => {}
            Ok(Verdict::Accepted) => match accepted.iter_mut().find(|(j, k, _)| j == i && k == kind) {
                Some((_, _, values)) => values.push(text),
                None => accepted.push((*i, *kind, vec![text])),
            },
        }
    }
    assert!(failures.is_empty(), "{} values neither accepted nor refused by name:\n{}", failures.len(), failures.join("\n"));
    eprintln!("validated {} values in {:?}; {} keys accept some", jobs.len(), started.elapsed(), accepted.len());
    for (i, kind, values) in &accepted {
        let shown: Vec<String> = values.iter().map(|v| v.chars().take(40).collect()).collect();
        eprintln!("  accepted: {}{} = {}", where_(&ROWS[*i], *kind), ROWS[*i].key, shown.join(" | "));
    }

    // Run n holds the n-th accepted value of every key (the last one, for keys with fewer).
    let runs = accepted.iter().map(|(_, _, v)| v.len()).max().unwrap_or(0);
    for n in 0..runs {
        let mut config = Config::new();
        let mut tried = Vec::new();
        for (i, kind, values) in &accepted {
            let text = values[n.min(values.len() - 1)];
            config.put(&ROWS[*i], *kind, text);
            tried.push(format!("{}{} = {}", where_(&ROWS[*i], *kind), ROWS[*i].key, text.chars().take(60).collect::<String>()));
        }
        let dir = config.write();
        let mut d = spawn_fanin(&["run"], dir.path());
        let deadline = Instant::now() + Duration::from_secs(30);
        while !d.log().contains("fanin running") {
            assert!(d.running(), "run {n}: fanin exited before running; with:\n{}\n{}", tried.join("\n"), d.log());
            assert!(Instant::now() < deadline, "run {n}: not running within 30s; with:\n{}", tried.join("\n"));
            std::thread::sleep(Duration::from_millis(50));
        }
        // A moment of running: sources start polling, cron schedules fire.
        std::thread::sleep(Duration::from_millis(1500));
        let status = d.terminate(Duration::from_secs(30));
        let log = d.log();
        assert_eq!(status.code(), Some(0), "run {n}: exit after SIGTERM; with:\n{}", tried.join("\n"));
        assert!(!log.contains("panicked"), "run {n}: a panic; with:\n{}", tried.join("\n"));
    }
    eprintln!("{runs} runs; {:?} in all", started.elapsed());
}

fn where_(row: &Row, kind: Option<&str>) -> String {
    match (row.file, kind) {
        (File::Daemon, _) => "fanin.toml: ".into(),
        (_, Some(k)) => format!("sources/{k}.toml: "),
        (_, None) => unreachable!(),
    }
}

/// The keys the table covers, as the schema names them: `targets.NAME.k` is `targets.*.k`,
/// `dlq.TYPE.k` stays (a sink's keys depend on its type), a source file's key is `TYPE:k`.
fn covered() -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for row in ROWS {
        match row.file {
            File::Daemon => {
                let parts: Vec<&str> = row.key.split('.').collect();
                let key = match parts.as_slice() {
                    ["targets", _, rest @ ..] => format!("targets.*.{}", rest.join(".")),
                    _ => row.key.to_string(),
                };
                keys.insert(key);
            }
            File::Source(types) => {
                for t in types {
                    keys.insert(format!("{t}:{}", row.key));
                }
            }
        }
    }
    keys
}

/// The field names a derived `Deserialize` struct asks for (serde's own list).
fn fields_of<'de, T: Deserialize<'de>>() -> Vec<String> {
    struct Probe<'a>(&'a mut Vec<String>);
    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("stop")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Stop
        }
    }
    impl<'de> de::Deserializer<'de> for Probe<'_> {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(self, _: &'static str, fields: &'static [&'static str], _: V) -> Result<V::Value, Stop> {
            self.0.extend(fields.iter().map(|f| f.to_string()));
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    let mut fields = Vec::new();
    let _ = T::deserialize(Probe(&mut fields));
    assert!(!fields.is_empty(), "{} is not a struct serde derives", std::any::type_name::<T>());
    fields
}

/// The names a serde "unknown …, expected one of `a`, `b`" message lists.
fn expected_in(message: &str) -> Vec<String> {
    // The list ends the first line; the TOML reader may add where it was (`in `type``) below.
    let first = message.lines().next().unwrap_or_default();
    let after = first.split_once("expected").map(|(_, a)| a).unwrap_or_else(|| panic!("no list in {message:?}"));
    after.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

/// The sections of the daemon file, from the error an unknown one gets.
fn daemon_sections() -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fanin.toml");
    std::fs::write(&file, "zz_probe = 1\n").unwrap();
    let e = fanin::settings::Config::load(&file).unwrap_err();
    expected_in(&e.message)
}

/// The keys of a `[dlq.NAME]` sink of `kind`, and the sink types.
fn sink_keys(kind: &str) -> Vec<String> {
    let probe: toml::Value = toml::Value::Table(table(&format!("type = \"{kind}\"\nzz_probe = 1\n")));
    let e = fanin::dlq::settings::DlqSettings::deserialize(probe).unwrap_err();
    expected_in(&e.to_string())
}

fn sink_types() -> Vec<String> {
    let probe: toml::Value = toml::Value::Table(table("type = \"zz_probe\"\n"));
    expected_in(&fanin::dlq::settings::DlqSettings::deserialize(probe).unwrap_err().to_string())
}

/// The keys of a `[[routes]]` entry.
fn route_keys() -> Vec<String> {
    let mut t = table("routes = [{ target = \"t\", zz_probe = 1 }]\n");
    let e = fanin::dispatch::route::Route::take_all(Path::new("s.toml"), &mut t).unwrap_err();
    expected_in(&e.message)
}

/// Every key of the schema, named as [`covered`] names them.
fn schema() -> BTreeSet<String> {
    use fanin::dispatch::settings::{LargePayloads, RetrySettings, TargetSettings};
    use fanin::sources::sqs_reader::SqsSettings;
    let mut keys = BTreeSet::new();
    let mut add = |prefix: &str, fields: Vec<String>| {
        for f in fields {
            keys.insert(format!("{prefix}{f}"));
        }
    };
    for section in daemon_sections() {
        match section.as_str() {
            "daemon" => add("daemon.", fields_of::<fanin::settings::DaemonSettings>()),
            "aws" => add("aws.", fields_of::<fanin::aws::AwsSettings>()),
            "metrics" => add("metrics.", fields_of::<fanin::telemetry::server::MetricsSettings>()),
            "fleet" => add("fleet.", fields_of::<fanin::sources::cron::claim::FleetSettings>()),
            "http" => add("http.", fields_of::<fanin::sources::http::HttpServerSettings>()),
            "tracing" => add("tracing.", fields_of::<fanin::telemetry::xray::TracingSettings>()),
            "dlq" => {
                for kind in sink_types() {
                    add(&format!("dlq.{kind}."), ["type".to_string()].into_iter().chain(sink_keys(&kind)).collect());
                }
                add("dlq.sqs.large_records.", fields_of::<fanin::dlq::settings::LargeRecords>());
            }
            "targets" => {
                add("targets.*.", fields_of::<TargetSettings>());
                add("targets.*.retry.", fields_of::<RetrySettings>());
                add("targets.*.large_payloads.", fields_of::<LargePayloads>());
            }
            other => panic!("the daemon file has a section [{other}] this test does not know: add its rows to ROWS and its struct here"),
        }
    }
    let queue: Vec<String> = fields_of::<SqsSettings>();
    let common = ["type", "target", "routes", "targets", "dlq"];
    let routes: Vec<String> = route_keys().into_iter().map(|k| format!("routes.{k}")).collect();
    let mut types: Vec<String> = fanin::sources::TYPES.iter().map(|(t, _)| t.to_string()).collect();
    // The polling alarm source is a type of its own as far as its keys go.
    types.push("cloudwatch_alarm_poll".into());
    for t in types {
        let own: Vec<String> = match t.as_str() {
            "sqs" => queue.clone(),
            "s3" => [
                queue.clone(),
                fields_of::<fanin::sources::s3::S3Options>(),
                prefixed("setup.", fields_of::<fanin::sources::s3::BucketWiring>()),
            ]
            .concat(),
            "sns" => [
                queue.clone(),
                fields_of::<fanin::sources::sns::SnsOptions>(),
                prefixed("setup.", fields_of::<fanin::sources::sns::TopicWiring>()),
            ]
            .concat(),
            "eventbridge" => [
                queue.clone(),
                fields_of::<fanin::sources::eventbridge::EventBridgeOptions>(),
                prefixed("setup.", fields_of::<fanin::sources::eventbridge::RuleWiring>()),
            ]
            .concat(),
            "cloudwatch_alarm" => [
                queue.clone(),
                fields_of::<fanin::sources::cloudwatch_alarm::AlarmOptions>(),
                prefixed("setup.", fields_of::<fanin::sources::eventbridge::RuleWiring>()),
                vec!["poll_interval".into()],
            ]
            .concat(),
            "cloudwatch_alarm_poll" => {
                [fields_of::<fanin::sources::cloudwatch_alarm::AlarmOptions>(), vec!["poll_interval".into()]].concat()
            }
            "cron" => fields_of::<fanin::sources::cron::CronSettings>(),
            "http" => [
                // The buffer queue's reader takes the queue keys but its URL, which is `buffer_queue`.
                queue.iter().filter(|k| *k != "queue_url" && *k != "shape").cloned().collect(),
                vec!["buffer_queue".into()],
                fields_of::<fanin::sources::http::HttpOptions>(),
                prefixed("signature.", fields_of::<fanin::sources::http::SignatureSettings>()),
            ]
            .concat(),
            other => panic!("source type {other} has no schema in this test: add its rows to ROWS and its structs here"),
        };
        // Keys every source file has are covered once, in the cron file.
        let everywhere: Vec<String> =
            if t == "cron" { common.iter().map(|k| k.to_string()).chain(routes.clone()).collect() } else { vec![] };
        add(&format!("{t}:"), [own, everywhere].concat());
    }
    keys
}

fn prefixed(prefix: &str, fields: Vec<String>) -> Vec<String> {
    fields.into_iter().map(|f| format!("{prefix}{f}")).collect()
}

#[test]
fn the_table_covers_every_key_of_the_schema() {
    let (schema, covered) = (schema(), covered());
    let missing: Vec<&String> = schema.difference(&covered).collect();
    let unknown: Vec<&String> = covered.difference(&schema).collect();
    assert!(missing.is_empty(), "keys without a row in edge_values::ROWS: {missing:?}");
    assert!(unknown.is_empty(), "rows for keys the schema does not have: {unknown:?}");
}
