//! The claim check: a payload over Lambda's asynchronous limit is written to S3 and the
//! function gets a small pointer event instead, for targets with `large_payloads`.
//!
//! The pointer event is `{"fanin":{"claimCheck":{"bucket","key","size","eventId","source"}}}`;
//! the object holds the payload exactly as it would have been sent. One object per event
//! (`<prefix><source>/<event id>.json`), shared by every target the event goes to, written
//! before the first attempt; objects are never deleted by fanin (a lifecycle rule on the
//! prefix expires them).

use std::time::Duration;

use aws_config::SdkConfig;
use bytes::Bytes;
use serde_json::json;

use crate::dispatch::settings::TargetSettings;

/// Where a target's large payloads go.
#[derive(Clone)]
pub struct ClaimCheck {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

/// Attempts at writing one payload before the event is left upstream.
const WRITE_ATTEMPTS: u32 = 3;

impl ClaimCheck {
    /// The claim check of `settings`, if it has `large_payloads`.
    pub fn of(settings: &TargetSettings, sdk: &SdkConfig) -> Option<ClaimCheck> {
        let large = settings.large_payloads.as_ref()?;
        Some(ClaimCheck { client: crate::aws::s3(sdk), bucket: large.bucket.clone(), prefix: large.prefix.clone() })
    }

    /// Writes `payload` and returns the pointer event; `Err` when S3 would not take it.
    pub async fn store(&self, source: &str, event_id: &str, payload: &Bytes) -> Result<Bytes, String> {
        let key = format!("{}{source}/{}.json", self.prefix, object_name(event_id));
        let mut last_error = String::new();
        for attempt in 1..=WRITE_ATTEMPTS {
            let put = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(&key)
                .content_type("application/json")
                .body(payload.clone().into())
                .send()
                .await;
            match put {
                Ok(_) => {
                    let pointer = json!({ "fanin": { "claimCheck": {
                        "bucket": self.bucket, "key": key, "size": payload.len(), "eventId": event_id, "source": source,
                    } } });
                    return Ok(Bytes::from(pointer.to_string()));
                }
                Err(e) => last_error = aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
            }
            if attempt < WRITE_ATTEMPTS {
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
            }
        }
        Err(format!("s3://{}/{key}: {last_error}", self.bucket))
    }
}

/// An event id as an object name: the id's safe characters (at most 100), then a fingerprint
/// of the whole id, so two ids never share an object.
fn object_name(event_id: &str) -> String {
    let safe: String = event_id.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).take(100).collect();
    format!("{safe}-{}", crate::event::fingerprint(event_id.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_safe_and_distinct() {
        assert_eq!(object_name("nightly-20261127T020000Z").split('-').count(), 3);
        assert!(object_name("photos/a b.jpg/0055").starts_with("photos_a_b.jpg_0055-"));
        assert_ne!(object_name("a/b"), object_name("a_b"));
        assert!(object_name(&"x".repeat(500)).len() < 120);
    }
}
