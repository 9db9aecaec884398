//! An `s3` source's bucket notification: one queue configuration, Id `fanin-<source>`, merged
//! into the bucket's configuration (S3 replaces the whole configuration on every put, so the
//! other entries are read and written back as they were).

use std::collections::BTreeSet;

use anyhow::Context;
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter,
};

use super::{Action, Change};
use crate::sources::s3::S3Options;
use aws_sdk_s3::operation::get_bucket_notification_configuration::GetBucketNotificationConfigurationOutput;

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

/// Merges the source's entry into the bucket's configuration as it is when applied (so two
/// sources on one bucket, or someone else's change since the listing, are not overwritten).
pub struct Update {
    bucket: String,
    wanted: Wanted,
}

impl Update {
    pub async fn apply(self, s3: &aws_sdk_s3::Client) -> anyhow::Result<()> {
        let current = read(s3, &self.bucket).await?;
        let Some((_, configuration)) = merge(current, &self.wanted)? else { return Ok(()) };
        s3.put_bucket_notification_configuration().bucket(&self.bucket).notification_configuration(configuration).send().await?;
        Ok(())
    }
}

/// The change that adds (or corrects) the source's entry, unless it is there as wanted.
pub async fn diff(s3: &aws_sdk_s3::Client, source: &str, bucket: &str, wanted: Wanted) -> anyhow::Result<Option<Change>> {
    let Some((verb, _)) = merge(read(s3, bucket).await?, &wanted)? else { return Ok(None) };
    Ok(Some(Change {
        source: source.to_string(),
        description: format!("s3 bucket {bucket}: {verb} notification {} ({}) to {}", wanted.id, wanted.describe(), wanted.queue_arn),
        action: Action::Bucket(Update { bucket: bucket.to_string(), wanted }),
    }))
}

async fn read(s3: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<GetBucketNotificationConfigurationOutput> {
    match s3.get_bucket_notification_configuration().bucket(bucket).send().await {
        Ok(current) => Ok(current),
        Err(e) if is_empty_answer(&e) => Ok(GetBucketNotificationConfigurationOutput::builder().build()),
        Err(e) => Err(anyhow::anyhow!("{}", aws_sdk_s3::error::DisplayErrorContext(e)))
            .with_context(|| format!("s3 bucket {bucket}: reading its notification configuration")),
    }
}

/// `current` with the source's entry added (`"add"`) or corrected (`"update"`), every other
/// entry as it was; `None` when the entry is there as wanted.
fn merge(
    current: GetBucketNotificationConfigurationOutput,
    wanted: &Wanted,
) -> anyhow::Result<Option<(&'static str, NotificationConfiguration)>> {
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
    Ok(Some((verb, configuration)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::types::TopicConfiguration;

    fn options(events: &[&str], suffix: Option<&str>) -> S3Options {
        S3Options { events: events.iter().map(|e| e.to_string()).collect(), suffix: suffix.map(str::to_string), ..S3Options::default() }
    }

    #[test]
    fn merging_keeps_every_other_entry_and_finds_its_own_again() {
        let theirs_queue =
            QueueConfiguration::builder().id("theirs").queue_arn("arn:q2").events(Event::from("s3:ObjectRemoved:*")).build().unwrap();
        let theirs_topic =
            TopicConfiguration::builder().id("topic").topic_arn("arn:t").events(Event::from("s3:ObjectCreated:*")).build().unwrap();
        let current = GetBucketNotificationConfigurationOutput::builder()
            .queue_configurations(theirs_queue.clone())
            .topic_configurations(theirs_topic.clone())
            .build();
        let wanted = Wanted::new("uploads", "arn:q", &options(&["ObjectCreated:Put"], Some(".jpg")));
        let (verb, merged) = merge(current, &wanted).unwrap().expect("an entry to add");
        assert_eq!(verb, "add");
        assert_eq!(merged.topic_configurations(), [theirs_topic]);
        assert_eq!(merged.queue_configurations()[0], theirs_queue);
        let ours = &merged.queue_configurations()[1];
        assert_eq!(ours.id(), Some("fanin-uploads"));
        assert_eq!(ours.events(), [Event::from("s3:ObjectCreated:Put")]);
        // Read back, it is found as wanted; also with the rule names capitalised, as S3 spells them.
        let read_back = GetBucketNotificationConfigurationOutput::builder()
            .set_queue_configurations(Some(merged.queue_configurations().to_vec()))
            .build();
        assert!(merge(read_back, &wanted).unwrap().is_none());
        let rule = FilterRule::builder().name(FilterRuleName::from("Suffix")).value(".jpg").build();
        let filter = NotificationConfigurationFilter::builder().key(S3KeyFilter::builder().filter_rules(rule).build()).build();
        let capitalised = QueueConfiguration::builder()
            .id("fanin-uploads")
            .queue_arn("arn:q")
            .events(Event::from("s3:ObjectCreated:Put"))
            .filter(filter)
            .build()
            .unwrap();
        assert!(wanted.matches(&capitalised));
        // A changed filter corrects the entry in place.
        let read_back = GetBucketNotificationConfigurationOutput::builder()
            .set_queue_configurations(Some(merged.queue_configurations().to_vec()))
            .build();
        let (verb, merged) = merge(read_back, &Wanted::new("uploads", "arn:q", &options(&[], None))).unwrap().unwrap();
        assert_eq!((verb, merged.queue_configurations().len()), ("update", 2));
        assert_eq!(merged.queue_configurations()[1].events(), [Event::from("s3:ObjectCreated:*")]);
    }
}
