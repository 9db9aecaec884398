//! Sources: one task per source file, each feeding the bounded queue and owning its upstream
//! (receipts, visibility, deletes once acks settle).
//!
//! One folder per source type, each with its settings, its decoder and event builder; the
//! queue-fed types share [`sqs_reader`]. [`TYPES`] lists the types a source file may name.

pub mod cloudwatch_alarm;
pub mod cron;
pub mod decode;
pub mod eventbridge;
pub mod http;
pub mod s3;
pub mod sns;
pub mod sqs;
pub mod sqs_reader;
pub mod state_writer;
pub mod task_token;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use aws_config::SdkConfig;
use tokio_util::sync::CancellationToken;

use crate::config::ConfigError;
use crate::dispatch::route::Route;
use crate::queue::QueueSender;
use cloudwatch_alarm::AlarmPollSettings;
use cron::claim::FleetSettings;
use cron::CronSettings;
use sqs_reader::SqsSettings;

/// Reads a source type's settings from its file's table (`type`, `target` and `routes` taken out).
pub type ReadSettings = fn(&Path, toml::Table) -> Result<SourceKind, ConfigError>;

/// The source types, by the name a source file's `type` gives.
pub const TYPES: &[(&str, ReadSettings)] = &[
    ("sqs", sqs::settings),
    ("s3", s3::settings),
    ("sns", sns::settings),
    ("eventbridge", eventbridge::settings),
    ("cloudwatch_alarm", cloudwatch_alarm::settings),
    ("cron", cron::settings::settings),
    ("http", http::settings),
];

/// The names in [`TYPES`], for people: `sqs, s3, … or cron`.
fn type_names() -> String {
    let names: Vec<&str> = TYPES.iter().map(|(name, _)| *name).collect();
    let (last, rest) = names.split_last().expect("there are source types");
    format!("{} or {last}", rest.join(", "))
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

impl SourceKind {
    /// The type-specific settings of the source file `path`, by its `type`.
    pub fn from_table(path: &Path, mut table: toml::Table) -> Result<SourceKind, ConfigError> {
        match table.remove("type") {
            None => Err(ConfigError::new(path, "type", format!("missing: one of {}", type_names()))),
            Some(toml::Value::String(t)) => match TYPES.iter().find(|(name, _)| *name == t) {
                Some((_, settings)) => settings(path, table),
                None => Err(ConfigError::new(path, "type", format!("unknown source type \"{t}\"; expected {}", type_names()))),
            },
            Some(_) => Err(ConfigError::new(path, "type", "must be a string")),
        }
    }

    /// Refuses settings that cannot work on their own, naming the key of the source file `file`.
    pub fn check(&mut self, file: &Path) -> Result<(), ConfigError> {
        match self {
            SourceKind::Sqs(s) => s.check(file),
            SourceKind::Cron(c) => c.check(file),
            SourceKind::AlarmPoll(_) => Ok(()),
        }
    }
}

/// What every source gets to run with.
pub struct SourceContext {
    /// The source's name.
    pub name: Arc<str>,
    /// Where its events go.
    pub queue: QueueSender,
    /// Cancelled when the daemon stops: stop pulling, finish settling what was handed out.
    pub shutdown: CancellationToken,
    /// Where a source keeps state across restarts.
    pub state_dir: std::path::PathBuf,
    /// The AWS region events are labelled with.
    pub region: String,
    /// The AWS account events and the ARNs fanin builds are labelled with.
    pub account: String,
    /// Where the source reports that it runs, or keeps failing.
    pub health: Arc<crate::telemetry::health::Health>,
}

/// A running source.
pub trait Source: Send {
    /// Pulls events into the queue until shutdown, then returns once every event it handed
    /// out has settled upstream (deleted or left).
    fn run(self: Box<Self>, ctx: SourceContext) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;
}

/// The source a source file describes; `fleet` says where cron fires are claimed, by the
/// instance `instance`.
pub fn build(settings: &SourceSettings, sdk: &SdkConfig, fleet: &FleetSettings, instance: &str) -> Box<dyn Source> {
    match &settings.kind {
        SourceKind::Sqs(s) if matches!(s.origin, Some(sqs_reader::Origin::Http(_))) => Box::new(http::HttpSource::new(s.clone(), sdk)),
        SourceKind::Sqs(s) => {
            // SNS is called only to confirm the subscriptions of the source's own topics.
            let sns = s.origin.as_ref().is_some_and(|o| !o.own_topics().is_empty()).then(|| crate::aws::sns(sdk));
            Box::new(sqs_reader::SqsReader::new(s.clone(), sdk, sns))
        }
        SourceKind::Cron(c) => {
            let claims = fleet.claims.clone().map(|location| {
                let host = fleet.host.clone().unwrap_or_else(cron::claim::host_name);
                cron::claim::Claims::new(crate::aws::s3(sdk), location, instance.to_string(), host, fleet.lease)
            });
            Box::new(cron::CronSource::new(c.clone(), claims))
        }
        SourceKind::AlarmPoll(a) => Box::new(cloudwatch_alarm::poll::AlarmPollSource::new(a.clone(), crate::aws::cloudwatch(sdk))),
    }
}
