//! Dead-letter sinks: each can take a record.
//!
//! * `file`: the file is appendable, or its directory can be created and written (offline too).
//! * `sqs`: the queue exists (`GetQueueAttributes`). Sending a test message would put junk in
//!   the queue, so the write itself is not tried; a caller that may send but not read the
//!   queue's attributes (the least-privilege policy) gets a warning, not a failure.
//! * `s3`: a small marker object is put under the prefix (the one permission fanin needs, so
//!   the check proves it) and deleted again. Where deleting is refused (fanin needs no
//!   `s3:DeleteObject`), the marker stays: one fixed key, `<prefix>fanin-validate.marker`, not
//!   a `.json` record, overwritten by every run.

use aws_config::SdkConfig;
use aws_sdk_s3::primitives::ByteStream;

use super::failure::Failure;
use super::files;
use super::queues::{attributes, missing_queue_advice};
use super::{Check, Status, World};
use crate::dlq::settings::{DlqSettings, DEFAULT_DLQ};
use crate::iam::Subject;
use crate::settings::Config;

const KIND: &str = "dlq";

/// The S3 marker's key under the prefix.
const MARKER: &str = "fanin-validate.marker";
const MARKER_BODY: &[u8] = b"written by fanin validate to prove this sink may be written; safe to delete\n";

/// Every sink the daemon builds: the configured ones, and the default file sink
/// (`<state_dir>/dlq.jsonl`, `path` unset here) when a target names no sink.
pub(super) fn all(config: &Config) -> Vec<(String, DlqSettings)> {
    let mut sinks = Vec::new();
    let implicit_default = !config.dlq.contains_key(DEFAULT_DLQ) && config.targets.values().any(|t| t.dlq.is_none());
    if implicit_default {
        sinks.push((DEFAULT_DLQ.to_string(), DlqSettings::File { path: None }));
    }
    sinks.extend(config.dlq.iter().map(|(name, sink)| (name.clone(), sink.clone())));
    sinks
}

/// Checks one sink; remote sinks only online.
pub(super) async fn check(world: World, (name, sink): (String, DlqSettings)) -> Vec<Check> {
    let check = match (&sink, &world.sdk) {
        (DlqSettings::File { path }, _) => file(&world.config, &name, path.as_deref()),
        (DlqSettings::Sqs { queue_url, .. }, Some(sdk)) => sqs(&world, sdk, &name, &sink, queue_url).await,
        (DlqSettings::S3 { bucket, prefix }, Some(sdk)) => s3(&world, sdk, &name, &sink, bucket, prefix).await,
        (_, None) => return vec![],
    };
    vec![check]
}

fn file(config: &Config, name: &str, path: Option<&std::path::Path>) -> Check {
    let (file, key) = match path {
        Some(p) => (p.to_path_buf(), format!("dlq.{name}.path")),
        None => (config.default_dlq_path(), "daemon.state_dir".to_string()),
    };
    match files::appendable(&file) {
        Ok(how) => Check::new(KIND, name, Status::Ok, format!("file {}: {how}", file.display())),
        Err(e) => Check::new(KIND, name, Status::Fail, format!("file {}: cannot be written: {e}", file.display())).advise(format!(
            "make its directory exist and be writable by the user fanin runs as (systemd: StateDirectory=), or change {key}"
        )),
    }
}

async fn sqs(world: &World, sdk: &SdkConfig, name: &str, sink: &DlqSettings, url: &str) -> Check {
    let check = |status, detail: String| Check::new(KIND, name, status, detail);
    let f = match attributes(sdk, url).await {
        Ok(_) => return check(Status::Ok, format!("queue {url} exists")),
        Err(f) => f,
    };
    if f.no_such_queue() {
        return check(Status::Fail, format!("queue {url} does not exist"))
            .advise(missing_queue_advice(url, &format!("dlq.{name}.queue_url")));
    }
    if f.denied() {
        let intro = "fanin itself needs only sqs:SendMessage on it, which this check cannot try without sending a message; \
                     make sure the role fanin runs as has:";
        return check(Status::Warn, format!("queue {url}: could not check it exists: {}", f.summary()))
            .advise(world.grant(intro, Subject::Sink(sink)));
    }
    check(Status::Fail, format!("queue {url}: {}", f.summary())).unless_answered(&f, "SQS")
}

async fn s3(world: &World, sdk: &SdkConfig, name: &str, sink: &DlqSettings, bucket: &str, prefix: &str) -> Check {
    let client = crate::aws::s3(sdk);
    let key = format!("{prefix}{MARKER}");
    let check = |status, detail: String| Check::new(KIND, name, status, detail);
    let put = client.put_object().bucket(bucket).key(&key).body(ByteStream::from_static(MARKER_BODY)).send().await;
    if let Err(e) = put {
        let f = Failure::of(&e);
        if f.code.as_deref() == Some("NoSuchBucket") {
            let region = world.region().unwrap_or_else(|| "REGION".into());
            return check(Status::Fail, format!("bucket {bucket} does not exist"))
                .advise(format!("create it, or fix dlq.{name}.bucket:\naws s3 mb s3://{bucket} --region {region}"));
        }
        if f.denied() {
            return check(Status::Fail, format!("s3://{bucket}/{prefix}: write denied: {}", f.summary()))
                .advise(world.grant_missing(Subject::Sink(sink)));
        }
        return check(Status::Fail, format!("s3://{bucket}/{prefix}: {}", f.summary())).unless_answered(&f, "S3");
    }
    let detail = match client.delete_object().bucket(bucket).key(&key).send().await {
        Ok(_) => format!("s3://{bucket}/{prefix}: a marker object was written and deleted"),
        Err(e) => format!(
            "s3://{bucket}/{prefix}: a marker object was written; it stays at s3://{bucket}/{key} \
             (delete: {}; fanin needs no s3:DeleteObject, and each validate overwrites it)",
            Failure::of(&e).summary()
        ),
    };
    check(Status::Ok, detail)
}
