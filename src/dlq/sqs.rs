//! The SQS sink: one message per record.

use aws_sdk_sqs::error::DisplayErrorContext;

use super::{DeadLetterRecord, DeadLetterSink, SinkError};
use crate::BoxFuture;

/// Sends each record as one message to a queue.
pub struct SqsSink {
    name: String,
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsSink {
    pub fn new(name: &str, client: aws_sdk_sqs::Client, queue_url: String) -> Self {
        SqsSink { name: name.to_string(), client, queue_url }
    }
}

impl DeadLetterSink for SqsSink {
    fn write<'a>(&'a self, record: &'a DeadLetterRecord) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let body = serde_json::to_string(record)
                .map_err(|e| SinkError { sink: self.name.clone(), message: e.to_string() })?;
            self.client
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(body)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| SinkError { sink: self.name.clone(), message: DisplayErrorContext(e).to_string() })
        })
    }
}
