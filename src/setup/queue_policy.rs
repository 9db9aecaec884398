//! The statements in a source queue's policy that let S3, SNS or EventBridge send to it: one
//! per source, `Sid` `fanin-<source>`, next to whatever else the policy holds.

use anyhow::Context;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{json, Value};

use super::{Action, Change};

/// A queue's ARN and its policy as it is.
pub struct QueuePolicy {
    url: String,
    pub queue_arn: String,
    document: Option<Value>,
}

/// One statement a source needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement(Value);

impl Statement {
    /// Lets `service` send messages to `queue_arn`, only on behalf of `source_arn` (the bucket,
    /// topic or rule): AWS's confused-deputy guard.
    pub fn new(source: &str, service: &str, queue_arn: &str, source_arn: &str) -> Statement {
        Statement(json!({
            "Sid": format!("fanin-{source}"),
            "Effect": "Allow",
            "Principal": { "Service": service },
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": { "ArnEquals": { "aws:SourceArn": source_arn } },
        }))
    }

    fn sid(&self) -> &Value {
        &self.0["Sid"]
    }
}

/// Sets the queue's policy.
pub struct Update {
    url: String,
    policy: String,
}

impl Update {
    pub async fn apply(self, sqs: &aws_sdk_sqs::Client) -> anyhow::Result<()> {
        sqs.set_queue_attributes().queue_url(&self.url).attributes(QueueAttributeName::Policy, self.policy).send().await?;
        Ok(())
    }
}

impl QueuePolicy {
    /// Reads the queue's ARN and policy; the queue must exist.
    pub async fn read(sqs: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<QueuePolicy> {
        let out = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .attribute_names(QueueAttributeName::Policy)
            .send()
            .await
            .with_context(|| format!("queue {url} (setup does not create queues: create it first)"))?;
        let mut attributes = out.attributes.unwrap_or_default();
        let queue_arn = attributes.remove(&QueueAttributeName::QueueArn).with_context(|| format!("queue {url} has no QueueArn"))?;
        let document = match attributes.remove(&QueueAttributeName::Policy).filter(|p| !p.is_empty()) {
            Some(text) => Some(serde_json::from_str(&text).with_context(|| format!("queue {url}: its policy is not JSON"))?),
            None => None,
        };
        Ok(QueuePolicy { url: url.to_string(), queue_arn, document })
    }

    /// The change that puts `statements` (by source) into the policy, replacing the sources'
    /// earlier statements and keeping every other one; `None` when they are there already.
    pub fn changes(self, statements: Vec<(String, Statement)>) -> Option<Change> {
        let mut document = self.document.unwrap_or_else(|| json!({ "Version": "2012-10-17", "Statement": [] }));
        let mut present: Vec<Value> = match document.get("Statement") {
            Some(Value::Array(list)) => list.clone(),
            Some(single @ Value::Object(_)) => vec![single.clone()],
            _ => Vec::new(),
        };
        let mut sources = Vec::new();
        for (source, Statement(wanted)) in statements {
            match present.iter().position(|s| s.get("Sid") == Some(Statement(wanted.clone()).sid())) {
                Some(i) if present[i] == wanted => continue,
                Some(i) => present[i] = wanted,
                None => present.push(wanted),
            }
            sources.push(source);
        }
        if sources.is_empty() {
            return None;
        }
        document["Statement"] = Value::Array(present);
        let name = self.url.trim_end_matches('/').rsplit('/').next().unwrap_or(&self.url).to_string();
        let sids: Vec<String> = sources.iter().map(|s| format!("fanin-{s}")).collect();
        Some(Change {
            source: sources.join(", "),
            description: format!("sqs queue {name}: put policy statement {} (lets the sender in)", sids.join(", ")),
            action: Action::QueuePolicy(Update { url: self.url, policy: document.to_string() }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(document: Option<Value>) -> QueuePolicy {
        QueuePolicy { url: "http://x/123456789012/q".into(), queue_arn: "arn:aws:sqs:us-east-1:123456789012:q".into(), document }
    }

    fn policy_of(change: Change) -> Value {
        let Action::QueuePolicy(update) = change.action else { panic!("not a policy change") };
        serde_json::from_str(&update.policy).unwrap()
    }

    #[test]
    fn adds_to_what_others_granted_and_changes_nothing_the_second_time() {
        let theirs = json!({"Sid": "theirs", "Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "q"});
        let ours = Statement::new("news", "sns.amazonaws.com", "arn:q", "arn:aws:sns:us-east-1:1:news");
        let change = policy(Some(json!({"Version": "2012-10-17", "Statement": theirs.clone()})))
            .changes(vec![("news".into(), ours.clone())])
            .expect("a statement to add");
        let document = policy_of(change);
        assert_eq!(document["Statement"].as_array().unwrap().len(), 2);
        assert_eq!(document["Statement"][0], theirs);
        assert_eq!(document["Statement"][1]["Condition"]["ArnEquals"]["aws:SourceArn"], "arn:aws:sns:us-east-1:1:news");
        assert!(policy(Some(document)).changes(vec![("news".into(), ours)]).is_none());
    }

    #[test]
    fn a_changed_source_replaces_its_own_statement() {
        let old = Statement::new("bus", "events.amazonaws.com", "arn:q", "arn:aws:events:us-east-1:1:rule/old");
        let new = Statement::new("bus", "events.amazonaws.com", "arn:q", "arn:aws:events:us-east-1:1:rule/new");
        let document = json!({"Version": "2012-10-17", "Statement": [old.0]});
        let updated = policy_of(policy(Some(document)).changes(vec![("bus".into(), new.clone())]).unwrap());
        assert_eq!(updated["Statement"], json!([new.0]));
    }
}
