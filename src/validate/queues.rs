//! SQS sources: the queue exists and may be read, and what the queue's settings and the
//! targets' retry settings mean for how long fanin can hold on to a message.
//!
//! fanin keeps a received message hidden (extending its visibility) for as long as its event
//! waits or retries, deletes it once every route settled, and otherwise leaves it to come back
//! after its visibility timeout; it never resets visibility to 0. So what matters is:
//!
//! * **12 hours**: SQS keeps a received message hidden at most 12 h from its receipt. A target
//!   whose retries can outlast that gets the message handed out again while it still retries:
//!   the event is delivered twice. Checked from the configuration alone (also offline).
//! * **Retention**: a message older than the queue's `MessageRetentionPeriod` is deleted by SQS,
//!   unrecorded. A `max_event_age` beyond it promises to keep events SQS will not keep.
//! * **Redrive**: a message comes back to fanin only when fanin could not settle it (stopped or
//!   restarted while holding it, dead-letter sink down, held past 12 h). With a low
//!   `maxReceiveCount`, such ordinary events move it to the queue's own dead-letter queue,
//!   outside fanin's dead-letter records and `fanin replay`.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;

use super::failure::Failure;
use super::{Check, Status, World};
use crate::dispatch::settings::TargetSettings;
use crate::iam::Subject;
use crate::sources::sqs_reader::SqsSettings;
use crate::sources::{SourceKind, SourceSettings};

const KIND: &str = "source";

/// SQS hides a received message at most this long after its receipt, extensions included.
const SQS_MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);

/// SQS's longest retention (14 days).
const SQS_MAX_RETENTION: Duration = Duration::from_secs(14 * 24 * 3600);

/// Below this many receives, a restart or a short sink outage can move messages to the
/// queue's own dead-letter queue. AWS advises at least 5 for Lambda's own SQS trigger, whose
/// re-receives come from the same kinds of events.
const MIN_RECEIVE_COUNT: u64 = 5;

/// Checks one SQS source: the queue (online), then what the settings say (always).
pub(super) async fn check(world: World, index: usize) -> Vec<Check> {
    let source = &world.config.sources[index];
    let SourceKind::Sqs(settings) = &source.kind else { return vec![] };
    let targets: Vec<(&str, &TargetSettings)> =
        source.routes.iter().filter_map(|r| world.config.targets.get_key_value(&r.target)).map(|(n, t)| (n.as_str(), t)).collect();
    let mut checks = Vec::new();
    if let Some(sdk) = &world.sdk {
        match attributes(sdk, &settings.queue_url).await {
            Ok(attrs) => {
                checks.push(Check::new(KIND, &source.name, Status::Ok, format!("queue {} exists and may be read", settings.queue_url)));
                checks.extend(retention_warnings(source, settings, &attrs, &targets));
                checks.extend(redrive_warning(source, &attrs));
            }
            Err(f) => checks.push(explain(&world, source, settings, f)),
        }
    }
    checks.extend(targets.iter().filter_map(|(name, t)| hold_warning(source, name, t)));
    checks
}

/// Every attribute of the queue at `url`.
pub(super) async fn attributes(sdk: &SdkConfig, url: &str) -> Result<HashMap<QueueAttributeName, String>, Failure> {
    crate::aws::sqs(sdk)
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .map(|out| out.attributes.unwrap_or_default())
        .map_err(|e| Failure::of(&e))
}

/// Advice for a queue URL that names no queue (shared with the `sqs` sink check).
pub(super) fn missing_queue_advice(url: &str, key: &str) -> String {
    let name = url.trim_end_matches('/').rsplit('/').next().unwrap_or(url);
    format!("create the queue, or fix {key}; to find its URL:\naws sqs get-queue-url --queue-name {name}")
}

fn explain(world: &World, source: &SourceSettings, settings: &SqsSettings, f: Failure) -> Check {
    let url = &settings.queue_url;
    let check = |status, detail: String| Check::new(KIND, &source.name, status, detail);
    if f.no_such_queue() {
        let key = format!("queue_url in {}", source.file.display());
        return check(Status::Fail, format!("queue {url} does not exist")).advise(missing_queue_advice(url, &key));
    }
    if f.denied() {
        return check(Status::Fail, format!("queue {url}: access denied: {}", f.summary()))
            .advise(world.grant_missing(Subject::Source(source)));
    }
    check(Status::Fail, format!("queue {url}: {}", f.summary())).unless_answered(&f, "SQS")
}

/// The longest a target's retries can keep an event, and so its message, in hand: every
/// attempt taking its whole `invoke_timeout` and every backoff its ceiling, capped by
/// `max_event_age` (which counts from the message's sending, before it was received).
fn retry_budget(target: &TargetSettings) -> Duration {
    let r = &target.retry;
    let backoffs = (1..r.max_attempts).fold(Duration::ZERO, |sum, attempt| {
        let ceiling = r.base_delay.saturating_mul(1u32.checked_shl(attempt - 1).unwrap_or(u32::MAX)).min(r.max_delay);
        sum.saturating_add(ceiling)
    });
    backoffs.saturating_add(target.invoke_timeout.saturating_mul(r.max_attempts)).min(r.max_event_age)
}

fn hold_warning(source: &SourceSettings, target_name: &str, target: &TargetSettings) -> Option<Check> {
    let budget = retry_budget(target);
    if budget <= SQS_MAX_VISIBILITY {
        return None;
    }
    let r = &target.retry;
    let detail = format!(
        "target {target_name} may hold a message up to {} ({} attempts of up to {} each, backoffs up to {}, \
         capped by max_event_age {}): longer than the 12h SQS keeps a received message hidden",
        human(budget),
        r.max_attempts,
        human(target.invoke_timeout),
        human(r.max_delay),
        human(r.max_event_age),
    );
    Some(Check::new(KIND, &source.name, Status::Warn, detail).advise(format!(
        "past 12h SQS hands the message out again while its retries go on, and the event is delivered twice; \
         bring targets.{target_name}.retry.max_event_age (or max_attempts, max_delay) down so retries end within 12h"
    )))
}

/// A seconds-valued attribute.
fn seconds(attrs: &HashMap<QueueAttributeName, String>, name: QueueAttributeName) -> Option<Duration> {
    attrs.get(&name)?.parse().ok().map(Duration::from_secs)
}

fn retention_warnings(
    source: &SourceSettings,
    settings: &SqsSettings,
    attrs: &HashMap<QueueAttributeName, String>,
    targets: &[(&str, &TargetSettings)],
) -> Vec<Check> {
    let Some(retention) = seconds(attrs, QueueAttributeName::MessageRetentionPeriod) else { return vec![] };
    targets
        .iter()
        .filter(|(_, t)| t.retry.max_event_age > retention)
        .map(|(name, t)| {
            let wanted = t.retry.max_event_age.min(SQS_MAX_RETENTION).as_secs();
            let detail = format!(
                "the queue keeps messages {} (MessageRetentionPeriod), less than targets.{name}.retry.max_event_age {}",
                human(retention),
                human(t.retry.max_event_age)
            );
            Check::new(KIND, &source.name, Status::Warn, detail).advise(format!(
                "a message still waiting when its retention runs out (a backlog, fanin stopped, a dead-letter sink down) \
                 is deleted by SQS with no dead-letter record; raise the retention or lower max_event_age to {}:\n\
                 aws sqs set-queue-attributes --queue-url {} --attributes MessageRetentionPeriod={wanted}",
                human(retention),
                settings.queue_url
            ))
        })
        .collect()
}

fn redrive_warning(source: &SourceSettings, attrs: &HashMap<QueueAttributeName, String>) -> Option<Check> {
    let policy: serde_json::Value = serde_json::from_str(attrs.get(&QueueAttributeName::RedrivePolicy)?).ok()?;
    let count = &policy["maxReceiveCount"];
    let count = count.as_u64().or_else(|| count.as_str()?.parse().ok())?;
    if count >= MIN_RECEIVE_COUNT {
        return None;
    }
    let to = policy["deadLetterTargetArn"].as_str().unwrap_or("its dead-letter queue");
    let detail = format!("the queue's redrive policy moves a message to {to} after {count} receive(s)");
    Some(Check::new(KIND, &source.name, Status::Warn, detail).advise(format!(
        "fanin receives a message again only when it could not settle it: it was stopped or restarted while holding it, \
         its dead-letter sink was down, or it held it past 12h. With maxReceiveCount below {MIN_RECEIVE_COUNT}, \
         a restart or a short sink outage moves messages to {to}, where fanin's dead-letter records and fanin replay \
         do not see them. Raise maxReceiveCount to at least {MIN_RECEIVE_COUNT}, or drop the redrive policy and let \
         fanin's dead-letter sink keep what fails."
    )))
}

/// A duration for people, to the second.
fn human(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::settings::RetrySettings;

    fn target(max_attempts: u32, base: u64, max: u64, age: u64) -> TargetSettings {
        let retry = RetrySettings {
            max_attempts,
            base_delay: Duration::from_secs(base),
            max_delay: Duration::from_secs(max),
            max_event_age: Duration::from_secs(age),
            retry_kms_errors: false,
            retry_function_errors: true,
        };
        let toml = "function = \"f\"\ninvoke_timeout = \"10s\"\n";
        TargetSettings { retry, ..toml::from_str(toml).unwrap() }
    }

    fn source() -> SourceSettings {
        let settings = toml::from_str("queue_url = \"https://sqs.us-east-1.amazonaws.com/123456789012/q\"").unwrap();
        SourceSettings { name: "s".into(), file: "s.toml".into(), routes: vec![], kind: SourceKind::Sqs(settings) }
    }

    #[test]
    fn the_budget_is_backoff_ceilings_plus_timeouts_capped_by_age() {
        // 3 attempts: backoffs 1s + 2s, three timeouts of 10s.
        assert_eq!(retry_budget(&target(3, 1, 300, 6 * 3600)), Duration::from_secs(33));
        // Ceilings stop at max_delay: 1 + 2 + 4 + 4, five timeouts.
        assert_eq!(retry_budget(&target(5, 1, 4, 6 * 3600)), Duration::from_secs(11 + 50));
        // A thousand attempts of up to 5 minutes are capped by max_event_age.
        assert_eq!(retry_budget(&target(1000, 1, 300, 24 * 3600)), Duration::from_secs(24 * 3600));
    }

    #[test]
    fn only_budgets_past_twelve_hours_warn() {
        let source = source();
        assert!(hold_warning(&source, "t", &target(1000, 1, 300, 12 * 3600)).is_none());
        let warning = hold_warning(&source, "t", &target(1000, 1, 300, 13 * 3600)).unwrap();
        assert_eq!(warning.status, Status::Warn);
        assert!(warning.detail.contains("13h"), "{}", warning.detail);
    }

    #[test]
    fn a_low_receive_count_warns() {
        let source = source();
        let attrs = |policy: &str| HashMap::from([(QueueAttributeName::RedrivePolicy, policy.to_string())]);
        let low = redrive_warning(&source, &attrs(r#"{"deadLetterTargetArn":"arn:aws:sqs:r:1:dead","maxReceiveCount":"2"}"#)).unwrap();
        assert!(low.detail.contains("arn:aws:sqs:r:1:dead") && low.detail.contains('2'), "{}", low.detail);
        assert!(redrive_warning(&source, &attrs(r#"{"deadLetterTargetArn":"a","maxReceiveCount":5}"#)).is_none());
        assert!(redrive_warning(&source, &HashMap::new()).is_none());
    }
}
