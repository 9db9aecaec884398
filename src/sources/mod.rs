//! Sources: one task per source file, each feeding the bounded queue and owning its upstream
//! (receipts, visibility, deletes once acks settle).

pub mod alarm_poll;
pub mod cron;
pub mod decode;
pub mod sqs;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use aws_config::SdkConfig;
use tokio_util::sync::CancellationToken;

use crate::config::{FleetSettings, SourceKind, SourceSettings};
use crate::queue::QueueSender;

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
        SourceKind::Sqs(s) => {
            let sns = matches!(s.origin, Some(crate::config::Origin::Sns(_))).then(|| crate::aws::sns(sdk));
            Box::new(sqs::SqsSource::new(s.clone(), sdk, sns))
        }
        SourceKind::Cron(c) => {
            let claims = fleet.claims.clone().map(|location| {
                let host = fleet.host.clone().unwrap_or_else(cron::claim::host_name);
                cron::claim::Claims::new(crate::aws::s3(sdk), location, instance.to_string(), host)
            });
            Box::new(cron::CronSource::new(c.clone(), claims))
        }
        SourceKind::AlarmPoll(a) => Box::new(alarm_poll::AlarmPollSource::new(a.clone(), crate::aws::cloudwatch(sdk))),
    }
}
