//! An `s3` source's bucket notification: one queue configuration, Id `fanin-<source>`, merged
//! into the bucket's configuration (S3 replaces the whole configuration on every put, so the
//! other entries are read and written back as they were).

use std::collections::BTreeSet;

use anyhow::Context;
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter,
};

use super::{Action, Change};
use crate::config::S3Options;

/// The queue configuration a source needs.
pub struct Wanted {
    id: String,
    queue_arn: String,
    /// `s3:ObjectCreated:*` and the like.
    events: BTreeSet<String>,
    /// (`prefix` | `suffix`, value).
    rules: BTreeSet<(String, String)>,
}

impl Wanted {
    /// The source's `events` (default: every object creation), `prefix` and `suffix`, so S3
    /// sends only what the source would keep.
    pub fn new(source: &str, queue_arn: &str, options: &S3Options) -> Wanted {
        let events = if options.events.is_empty() {
            BTreeSet::from(["s3:ObjectCreated:*".to_string()])
        } else {
            options.events.iter().map(|e| if e.starts_with("s3:") { e.clone() } else { format!("s3:{e}") }).collect()
        };
        let rules = [("prefix", &options.prefix), ("suffix", &options.suffix)]
            .into_iter()
            .filter_map(|(name, value)| value.as_ref().map(|v| (name.to_string(), v.clone())))
            .collect();
        Wanted { id: format!("fanin-{source}"), queue_arn: queue_arn.to_string(), events, rules }
    }

    fn matches(&self, q: &QueueConfiguration) -> bool {
        let events: BTreeSet<String> = q.events().iter().map(|e| e.as_str().to_string()).collect();
        let rules: BTreeSet<(String, String)> = q
            .filter()
            .and_then(|f| f.key())
            .map(|k| k.filter_rules())
            .unwrap_or_default()
            .iter()
            .map(|r| (r.name().map(|n| n.as_str().to_ascii_lowercase()).unwrap_or_default(), r.value().unwrap_or_default().to_string()))
            .collect();
        q.queue_arn() == self.queue_arn && events == self.events && rules == self.rules
    }

    fn configuration(&self) -> anyhow::Result<QueueConfiguration> {
        let rules: Vec<FilterRule> = self
            .rules
            .iter()
            .map(|(name, value)| FilterRule::builder().name(FilterRuleName::from(name.as_str())).value(value).build())
            .collect();
        let filter = (!rules.is_empty())
            .then(|| NotificationConfigurationFilter::builder().key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build()).build());
        Ok(QueueConfiguration::builder()
            .id(&self.id)
            .queue_arn(&self.queue_arn)
            .set_events(Some(self.events.iter().map(|e| Event::from(e.as_str())).collect()))
            .set_filter(filter)
            .build()?)
    }

    fn describe(&self) -> String {
        let mut text = self.events.iter().cloned().collect::<Vec<_>>().join(", ");
        for (name, value) in &self.rules {
            text.push_str(&format!(", {name} {value:?}"));
        }
        text
    }
}

/// A 200 whose body is one empty XML element: a bucket without notifications, whatever the
/// element is called. S3 calls it `NotificationConfiguration`, which the SDK expects; some
/// S3-compatible stores (moto among them) name it after the operation.
fn is_empty_answer<E>(error: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> bool {
    let aws_sdk_s3::error::SdkError::ServiceError(e) = error else { return false };
    let Some(body) = e.raw().body().bytes().filter(|_| e.raw().status().as_u16() == 200) else { return false };
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let element = match text.strip_prefix("<?") {
        Some(rest) => rest.split_once("?>").map_or("", |(_, element)| element.trim()),
        None => text,
    };
    element.starts_with('<') && element.ends_with("/>") && element.matches('<').count() == 1
}

/// Puts the bucket's whole notification configuration.
pub struct Update {
    bucket: String,
    configuration: NotificationConfiguration,
}

impl Update {
    pub async fn apply(self, s3: &aws_sdk_s3::Client) -> anyhow::Result<()> {
        s3.put_bucket_notification_configuration().bucket(&self.bucket).notification_configuration(self.configuration).send().await?;
        Ok(())
    }
}

/// The change that adds (or corrects) the source's entry, unless it is there as wanted.
pub async fn diff(s3: &aws_sdk_s3::Client, source: &str, bucket: &str, wanted: Wanted) -> anyhow::Result<Option<Change>> {
    let current = match s3.get_bucket_notification_configuration().bucket(bucket).send().await {
        Ok(current) => current,
        Err(e) if is_empty_answer(&e) => aws_sdk_s3::operation::get_bucket_notification_configuration::GetBucketNotificationConfigurationOutput::builder().build(),
        Err(e) => {
            return Err(anyhow::anyhow!("{}", aws_sdk_s3::error::DisplayErrorContext(e)))
                .with_context(|| format!("s3 bucket {bucket}: reading its notification configuration"))
        }
    };
    let mut queues = current.queue_configurations.unwrap_or_default();
    let verb = match queues.iter().position(|q| q.id() == Some(wanted.id.as_str())) {
        Some(i) if wanted.matches(&queues[i]) => return Ok(None),
        Some(i) => {
            queues[i] = wanted.configuration()?;
            "update"
        }
        None => {
            queues.push(wanted.configuration()?);
            "add"
        }
    };
    let configuration = NotificationConfiguration::builder()
        .set_queue_configurations(Some(queues))
        .set_topic_configurations(current.topic_configurations)
        .set_lambda_function_configurations(current.lambda_function_configurations)
        .set_event_bridge_configuration(current.event_bridge_configuration)
        .build();
    Ok(Some(Change {
        source: source.to_string(),
        description: format!("s3 bucket {bucket}: {verb} notification {} ({}) to {}", wanted.id, wanted.describe(), wanted.queue_arn),
        action: Action::Bucket(Update { bucket: bucket.to_string(), configuration }),
    }))
}
