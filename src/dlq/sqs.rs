//! The SQS sink: one message per record; a record over SQS's message size goes to S3 (with
//! `large_records`) and the message points at it.

use super::offload::{point_at, SQS_MAX_BODY};
use super::s3::S3Sink;
use super::{DeadLetterRecord, DeadLetterSink, SinkError};
use crate::BoxFuture;

/// Sends each record as one message to a queue.
pub struct SqsSink {
    name: String,
    client: aws_sdk_sqs::Client,
    queue_url: String,
    /// Where records too large for a message go.
    large: Option<S3Sink>,
}

impl SqsSink {
    pub fn new(name: &str, client: aws_sdk_sqs::Client, queue_url: String, large: Option<S3Sink>) -> Self {
        SqsSink { name: name.to_string(), client, queue_url, large }
    }
}

impl DeadLetterSink for SqsSink {
    fn write<'a>(&'a self, record: &'a DeadLetterRecord) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let body = serde_json::to_string(record).map_err(|e| SinkError::new(&self.name, e))?;
            let size = body.len();
            let mut send = self.client.send_message().queue_url(&self.queue_url);
            send = if size <= SQS_MAX_BODY {
                send.message_body(body)
            } else {
                let Some(large) = &self.large else {
                    return Err(SinkError::new(
                        &self.name,
                        format!("the record is {size} bytes, over SQS's message limit of {SQS_MAX_BODY}: give the sink large_records"),
                    ));
                };
                let (bucket, key) = large.put(record, body.into_bytes()).await?;
                point_at(send, bucket, &key, size)
            };
            send.send().await.map(|_| ()).map_err(|e| SinkError::new(&self.name, e))
        })
    }
}
