//! Once-per-fleet fires: before a schedule fires, it claims the fire in S3 with a conditional
//! write (`If-None-Match: *` on `<prefix><schedule>/<fire time>`); only the host whose write
//! lands fires it.
//!
//! A claim is owned by an *instance* (the id kept in its `state_dir`, see
//! [`crate::instance`]) and carries the host name only as a label, so instances sharing a host
//! name never take each other's claims for their own. An instance that finds its own claim
//! (it claimed the fire, then stopped before the event settled, and catch-up brings the fire
//! back) fires it again, so a restart loses nothing. A fire that cannot be claimed because S3
//! does not answer is fired anyway: two instances may then both fire it (same event id),
//! which beats none firing it.

use std::path::Path;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::limits::not_empty;
use crate::config::{ConfigError, S3Location};

/// `[fleet]`: several hosts run this same configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetSettings {
    /// Where each cron fire is claimed (`s3://BUCKET/PREFIX/`), so that it fires on one host.
    #[serde(default, deserialize_with = "crate::config::optional_s3_location")]
    pub claims: Option<S3Location>,
    /// This host's name in the claims; default: the machine's host name. Two instances on one
    /// machine need different names.
    pub host: Option<String>,
}

impl FleetSettings {
    /// Refuses a host name that labels nothing, naming the key of the daemon file `file`.
    pub fn check(&self, file: &Path) -> Result<(), ConfigError> {
        if let Some(host) = &self.host {
            not_empty(file, "fleet.host", host)?;
        }
        Ok(())
    }
}

/// Where and as whom fires are claimed.
#[derive(Clone)]
pub struct Claims {
    client: aws_sdk_s3::Client,
    location: S3Location,
    /// The owner of this instance's claims.
    instance: String,
    /// A readable label for people looking at the claims.
    host: String,
}

/// How a claim came out.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// This instance fires it (its write landed, or the claim is its own from before).
    Ours,
    /// Another instance claimed it first (its host label and instance id).
    Theirs(String),
    /// S3 did not settle it; the fire goes ahead.
    Unknown(String),
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    /// The owner. Claims written before instances had ids have none: never this instance's.
    #[serde(default)]
    instance: String,
    host: String,
    claimed_at: DateTime<Utc>,
}

/// Conflicting writes to one key that S3 asks to retry (409 `ConditionalRequestConflict`).
const CONFLICT_RETRIES: u32 = 3;

impl Claims {
    pub fn new(client: aws_sdk_s3::Client, location: S3Location, instance: String, host: String) -> Claims {
        Claims { client, location, instance, host }
    }

    /// The object that claims `schedule`'s fire at `at`.
    pub fn key(&self, schedule: &str, at: DateTime<Utc>) -> String {
        format!("{}{schedule}/{}", self.location.prefix, super::fire_time(at))
    }

    /// Claims `schedule`'s fire at `at` for this instance.
    pub async fn claim(&self, schedule: &str, at: DateTime<Utc>) -> Claim {
        let key = self.key(schedule, at);
        let record = Record { instance: self.instance.clone(), host: self.host.clone(), claimed_at: Utc::now() };
        let record = serde_json::to_vec(&record).expect("a claim serializes");
        for attempt in 1..=CONFLICT_RETRIES {
            let put = self
                .client
                .put_object()
                .bucket(&self.location.bucket)
                .key(&key)
                .if_none_match("*")
                .content_type("application/json")
                .body(ByteStream::from(record.clone()))
                .send()
                .await;
            let status = match &put {
                Ok(_) => return Claim::Ours,
                Err(e) => e.raw_response().map(|r| r.status().as_u16()),
            };
            match status {
                Some(412) => return self.owner_of(&key).await,
                Some(409) if attempt < CONFLICT_RETRIES => tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await,
                _ => {
                    let error = put.err().map(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string()).unwrap_or_default();
                    return Claim::Unknown(format!("s3://{}/{key}: {error}", self.location.bucket));
                }
            }
        }
        Claim::Unknown(format!("s3://{}/{key}: writes kept conflicting", self.location.bucket))
    }

    /// Whose the existing claim at `key` is.
    async fn owner_of(&self, key: &str) -> Claim {
        let read = async {
            let out = self.client.get_object().bucket(&self.location.bucket).key(key).send().await.ok()?;
            let bytes = out.body.collect().await.ok()?.into_bytes();
            serde_json::from_slice::<Record>(&bytes).ok()
        };
        match read.await {
            Some(record) if record.instance == self.instance => Claim::Ours,
            Some(record) => Claim::Theirs(format!("{} (instance {})", record.host, record.instance)),
            // Someone's write landed first; whose it is cannot be told.
            None => Claim::Theirs("another instance".into()),
        }
    }
}

/// This machine's host name (Linux), for claims.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "localhost".into())
}
