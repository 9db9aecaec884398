//! An `sns` source's subscription: the queue subscribed to the topic, with the envelope (raw
//! delivery would lose `Subject`, the signature and the message id Lambda's SNS event carries).

use super::{Action, Change};

/// Subscribes the queue.
pub struct Update {
    topic_arn: String,
    queue_arn: String,
}

impl Update {
    pub async fn apply(self, sns: &aws_sdk_sns::Client) -> anyhow::Result<()> {
        sns.subscribe().topic_arn(&self.topic_arn).protocol("sqs").endpoint(&self.queue_arn).return_subscription_arn(true).send().await?;
        Ok(())
    }
}

/// The subscription to make, unless the queue is subscribed already.
pub async fn diff(sns: &aws_sdk_sns::Client, source: &str, topic_arn: &str, queue_arn: &str) -> anyhow::Result<Option<Change>> {
    let mut pages = sns.list_subscriptions_by_topic().topic_arn(topic_arn).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| anyhow::anyhow!("sns topic {topic_arn}: {}", aws_sdk_sns::error::DisplayErrorContext(e)))?;
        if page.subscriptions().iter().any(|s| s.protocol() == Some("sqs") && s.endpoint() == Some(queue_arn)) {
            return Ok(None);
        }
    }
    Ok(Some(Change {
        source: source.to_string(),
        description: format!("sns topic {topic_arn}: subscribe queue {queue_arn}"),
        action: Action::Topic(Update { topic_arn: topic_arn.to_string(), queue_arn: queue_arn.to_string() }),
    }))
}
