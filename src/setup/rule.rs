//! An `eventbridge` or queue-fed `cloudwatch_alarm` source's rule: the rule with its pattern,
//! enabled, and the queue as one of its targets (Id `fanin-<source>`).

use aws_sdk_eventbridge::types::{RuleState, SqsParameters, Target};
use serde_json::Value;

use super::{Action, Change};

/// What a source needs of its rule.
pub struct Wanted {
    pub source: String,
    pub rule: String,
    pub bus: String,
    pub pattern: Value,
    pub queue_arn: String,
    /// A FIFO queue's message group (EventBridge must name one).
    pub message_group: Option<String>,
}

/// One call on the rule.
pub enum Update {
    PutRule { rule: String, bus: String, pattern: String },
    PutTarget { rule: String, bus: String, target: Box<Target> },
}

impl Update {
    pub async fn apply(self, events: &aws_sdk_eventbridge::Client) -> anyhow::Result<()> {
        match self {
            Update::PutRule { rule, bus, pattern } => {
                events.put_rule().name(rule).event_bus_name(bus).event_pattern(pattern).state(RuleState::Enabled).send().await?;
            }
            Update::PutTarget { rule, bus, target } => {
                let out = events.put_targets().rule(rule).event_bus_name(bus).targets(*target).send().await?;
                if let Some(failed) = out.failed_entries().first() {
                    anyhow::bail!(
                        "target refused: {} {}",
                        failed.error_code().unwrap_or_default(),
                        failed.error_message().unwrap_or_default()
                    );
                }
            }
        }
        Ok(())
    }
}

/// The rule's ARN (as it is, or as it will be) and the changes the rule needs.
pub async fn diff(events: &aws_sdk_eventbridge::Client, wanted: Wanted) -> anyhow::Result<(String, Vec<Change>)> {
    let Wanted { source, rule, bus, pattern, queue_arn, message_group } = wanted;
    let change = |description: String, update| Change { source: source.clone(), description, action: Action::Rule(update) };
    let mut changes = Vec::new();
    let pattern_text = pattern.to_string();
    let put_rule = Update::PutRule { rule: rule.clone(), bus: bus.clone(), pattern: pattern_text.clone() };
    let described = events.describe_rule().name(&rule).event_bus_name(&bus).send().await;
    let (rule_arn, has_target) = match described {
        Ok(current) => {
            let same_pattern = current.event_pattern().and_then(|p| serde_json::from_str::<Value>(p).ok()) == Some(pattern.clone());
            if !same_pattern || current.state() != Some(&RuleState::Enabled) {
                changes.push(change(format!("eventbridge rule {bus}/{rule}: set pattern {pattern_text}, enabled"), put_rule));
            }
            let arn = current.arn().unwrap_or_default().to_string();
            (arn, has_target(events, &rule, &bus, &queue_arn).await?)
        }
        Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => {
            changes.push(change(format!("eventbridge rule {bus}/{rule}: create with pattern {pattern_text}"), put_rule));
            (rule_arn(&queue_arn, &bus, &rule), false)
        }
        Err(e) => anyhow::bail!("eventbridge rule {bus}/{rule}: {}", aws_sdk_eventbridge::error::DisplayErrorContext(e)),
    };
    if !has_target {
        let id = target_id(&source);
        let target = Target::builder()
            .id(&id)
            .arn(&queue_arn)
            .set_sqs_parameters(message_group.map(|g| SqsParameters::builder().message_group_id(g).build()))
            .build()?;
        changes.push(change(
            format!("eventbridge rule {bus}/{rule}: add target {id} (queue {queue_arn})"),
            Update::PutTarget { rule: rule.clone(), bus: bus.clone(), target: Box::new(target) },
        ));
    }
    Ok((rule_arn, changes))
}

async fn has_target(events: &aws_sdk_eventbridge::Client, rule: &str, bus: &str, queue_arn: &str) -> anyhow::Result<bool> {
    let mut token = None;
    loop {
        let page = events
            .list_targets_by_rule()
            .rule(rule)
            .event_bus_name(bus)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("eventbridge rule {bus}/{rule}: {}", aws_sdk_eventbridge::error::DisplayErrorContext(e)))?;
        if page.targets().iter().any(|t| t.arn() == queue_arn) {
            return Ok(true);
        }
        match page.next_token {
            Some(next) => token = Some(next),
            None => return Ok(false),
        }
    }
}

/// The ARN a rule will have, in the queue's partition, region and account (rules on the
/// default bus leave the bus out).
pub fn rule_arn(queue_arn: &str, bus: &str, rule: &str) -> String {
    let parts: Vec<&str> = queue_arn.splitn(6, ':').collect();
    let (partition, region, account) = (parts.get(1).unwrap_or(&"aws"), parts.get(3).unwrap_or(&""), parts.get(4).unwrap_or(&""));
    let path = if bus == "default" { rule.to_string() } else { format!("{bus}/{rule}") };
    format!("arn:{partition}:events:{region}:{account}:rule/{path}")
}

/// `fanin-<source>`, in the characters and length EventBridge allows for target ids.
fn target_id(source: &str) -> String {
    let id: String =
        format!("fanin-{source}").chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' }).collect();
    id.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_arns_and_target_ids() {
        let queue = "arn:aws:sqs:eu-west-1:123456789012:bus-events";
        assert_eq!(rule_arn(queue, "default", "orders"), "arn:aws:events:eu-west-1:123456789012:rule/orders");
        assert_eq!(rule_arn(queue, "shop", "orders"), "arn:aws:events:eu-west-1:123456789012:rule/shop/orders");
        assert_eq!(target_id("bus ä"), "fanin-bus--");
        assert_eq!(target_id(&"x".repeat(100)).len(), 64);
    }
}
