//! The S3 sink: one object per record under `<prefix>YYYY/MM/DD/HH/`.

use aws_sdk_s3::primitives::ByteStream;

use super::{DeadLetterRecord, DeadLetterSink, SinkError};
use crate::BoxFuture;

/// Writes each record as one object.
pub struct S3Sink {
    name: String,
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

impl S3Sink {
    pub fn new(name: &str, client: aws_sdk_s3::Client, bucket: String, prefix: String) -> Self {
        S3Sink { name: name.to_string(), client, bucket, prefix }
    }

    /// `<prefix>YYYY/MM/DD/HH/<eventId>.<target>.json`: the target is in the key so an event
    /// that died at two targets keeps both records, and a redelivered one overwrites its own.
    fn key(&self, record: &DeadLetterRecord) -> String {
        let hour = chrono::Utc::now().format("%Y/%m/%d/%H");
        let clean = |s: &str| s.replace(['/', '\\'], "_");
        format!("{}{hour}/{}.{}.json", self.prefix, clean(&record.fanin.event_id), clean(&record.fanin.target))
    }

    /// Writes `body` (the serialized `record`) and returns its bucket and key.
    pub(super) async fn put(&self, record: &DeadLetterRecord, body: Vec<u8>) -> Result<(&str, String), SinkError> {
        let key = self.key(record);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| SinkError::new(&self.name, e))?;
        Ok((&self.bucket, key))
    }
}

impl DeadLetterSink for S3Sink {
    fn write<'a>(&'a self, record: &'a DeadLetterRecord) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let body = serde_json::to_vec(record).map_err(|e| SinkError::new(&self.name, e))?;
            self.put(record, body).await.map(|_| ())
        })
    }
}
