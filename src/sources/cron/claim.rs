//! Once-per-fleet fires: before a schedule fires, it claims the fire with a conditional write
//! (`If-None-Match: *` on `<prefix><schedule>/<fire time>`); only the instance whose write
//! lands fires it.
//!
//! A claim is a **lease**. The claim object says who holds it, when they took it
//! (`takenAt`) and until when it holds (`heldUntil`); its holder renews it while the fire is
//! unsettled and marks it settled (`settledAt`) once the fire was delivered or dead-lettered.
//! Another instance that finds a claim unsettled and its lease run out takes it over with a
//! write conditional on the ETag it read (`If-Match`), so of several trying exactly one gets
//! it, and fires it. A host that died for good thus loses the fleet nothing.
//!
//! A claim is owned by an *instance* (the id kept in its `state_dir`, see
//! [`crate::instance`]) and carries the host name only as a label, so instances sharing a host
//! name never take each other's claims for their own. An instance that finds its own claim
//! unsettled (it claimed the fire, then stopped before it settled) takes it back at once: one
//! `state_dir` serves one process, so no other process of it still holds the fire. A fire that
//! cannot be claimed because the store does not answer is fired anyway: two instances may then
//! both fire it (same event id), which beats none firing it.
//!
//! Claims written before leases (no `heldUntil`) count as held for good by their owner: its
//! catch-up fires such a claim again, as it did then, and no other instance takes it over
//! (those versions never marked a fire settled, so most such claims were delivered).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::store::{ClaimStore, Created, Replaced, S3Store, StoreError};
use crate::clock;
use crate::config::limits::not_empty;
use crate::config::{ConfigError, S3Location};

/// `[fleet]`: several hosts run this same configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetSettings {
    /// Where each cron fire is claimed (`s3://BUCKET/PREFIX/`), so that it fires on one host.
    #[serde(default, deserialize_with = "crate::config::optional_s3_location")]
    pub claims: Option<S3Location>,
    /// This host's name in the claims; default: the machine's host name. Two instances on one
    /// machine need different names.
    pub host: Option<String>,
    /// How long a claim holds without renewal: the holder renews it every third of this while
    /// its fire is unsettled, and another instance takes over a claim left unsettled this
    /// long. Also how far back a schedule without `catch_up` takes over (two leases).
    #[serde(default = "default_lease", deserialize_with = "lease")]
    pub lease: Duration,
}

impl Default for FleetSettings {
    fn default() -> Self {
        FleetSettings { claims: None, host: None, lease: DEFAULT_LEASE }
    }
}

/// The lease a claim holds for when `[fleet] lease` says nothing: SQS's default visibility
/// timeout, long enough that a holder misses two renewals (S3 slow, clocks some seconds
/// apart) before another takes over, short enough that a dead host's fires go out within a
/// minute.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// Renewals come every third of the lease: below this, one S3 round trip late is a takeover.
pub const MIN_LEASE: Duration = Duration::from_secs(3);
/// A dead host's unsettled fires wait a lease before another fires them; longer is a mistake.
pub const MAX_LEASE: Duration = Duration::from_secs(3600);

fn default_lease() -> Duration {
    DEFAULT_LEASE
}

/// Reads `[fleet] lease`, refusing what renewal cannot keep or nobody means.
fn lease<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let lease = crate::config::duration(d)?;
    if lease < MIN_LEASE || lease > MAX_LEASE {
        let message = format!(
            "{} is out of range: a lease is renewed every third of it, so it must be from 3s to 1h",
            humantime::format_duration(lease)
        );
        return Err(serde::de::Error::custom(message));
    }
    Ok(lease)
}

/// What a claim object holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    /// The holder. Claims written before instances had ids have none: never this instance's.
    #[serde(default)]
    instance: String,
    /// The holder's host label.
    host: String,
    /// When the fire was first claimed (kept across takeovers).
    claimed_at: DateTime<Utc>,
    /// When the holder took it. Absent in claims from before leases.
    #[serde(default)]
    taken_at: Option<DateTime<Utc>>,
    /// Until when the holder's lease runs. Absent in claims from before leases.
    #[serde(default)]
    held_until: Option<DateTime<Utc>>,
    /// When the fire settled (delivered or dead-lettered): from then on nobody takes it.
    #[serde(default)]
    settled_at: Option<DateTime<Utc>>,
    /// How often the fire changed hands after its holder's lease ran out.
    #[serde(default)]
    takeovers: u32,
}

impl Record {
    fn owner(&self) -> String {
        if self.instance.is_empty() {
            self.host.clone()
        } else {
            format!("{} (instance {})", self.host, self.instance)
        }
    }
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
    store: Arc<dyn ClaimStore>,
    prefix: String,
    /// The owner of this instance's claims.
    instance: String,
    /// A readable label for people looking at the claims.
    host: String,
    lease: Duration,
}

/// How a claim came out.
#[derive(Debug)]
pub enum Claim {
    /// This instance fires it, under this lease: its write landed, the claim is its own from
    /// before, or it took over a claim whose lease ran out.
    Ours(Lease),
    /// Fired by the fleet already: the claim is marked settled (its holder named).
    Settled(String),
    /// Another instance holds it (named), until then (`None`: a claim from before leases,
    /// held for good).
    Held { owner: String, until: Option<DateTime<Utc>> },
    /// No claim there (only from [`Claims::examine`]).
    Absent,
    /// The store did not tell whose it is or a takeover did not land: look again later.
    Later(String),
    /// The store did not answer the claim itself; the fire goes ahead unclaimed.
    Unknown(String),
}

/// A claim this instance holds: what renews it, and settles or releases it.
#[derive(Debug)]
pub struct Lease {
    key: String,
    etag: String,
    record: Record,
}

impl Lease {
    /// Until when it holds, as last written.
    pub fn held_until(&self) -> DateTime<Utc> {
        self.record.held_until.unwrap_or_else(clock::utc)
    }

    /// The claim object's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// How often the fire changed hands before this instance held it.
    pub fn takeovers(&self) -> u32 {
        self.record.takeovers
    }
}

/// Why a lease could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// The claim changed since this instance wrote it: another instance took it over.
    #[error("another instance took the claim over")]
    Lost,
    /// The store did not answer; the lease may still hold.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Claims {
    /// Claims in S3 at `location`.
    pub fn new(client: aws_sdk_s3::Client, location: S3Location, instance: String, host: String, lease: Duration) -> Claims {
        let store = Arc::new(S3Store::new(client, &location));
        Claims::with_store(store, location.prefix, instance, host, lease)
    }

    /// Claims kept in `store` under `prefix`.
    pub fn with_store(store: Arc<dyn ClaimStore>, prefix: String, instance: String, host: String, lease: Duration) -> Claims {
        Claims { store, prefix, instance, host, lease }
    }

    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// The object that claims `schedule`'s fire at `at`.
    pub fn key(&self, schedule: &str, at: DateTime<Utc>) -> String {
        format!("{}{schedule}/{}", self.prefix, super::fire_time(at))
    }

    /// `key` as people find it, for logs.
    pub fn describe(&self, key: &str) -> String {
        self.store.describe(key)
    }

    fn fresh(&self, claimed_at: DateTime<Utc>, takeovers: u32) -> Record {
        let now = clock::utc();
        Record {
            instance: self.instance.clone(),
            host: self.host.clone(),
            claimed_at,
            taken_at: Some(now),
            held_until: Some(now + self.lease),
            settled_at: None,
            takeovers,
        }
    }

    /// Claims `schedule`'s fire at `at` for this instance, at its instant or in catch-up.
    pub async fn claim(&self, schedule: &str, at: DateTime<Utc>) -> Claim {
        let key = self.key(schedule, at);
        let record = self.fresh(clock::utc(), 0);
        match self.store.create(&key, to_body(&record)).await {
            Ok(Created::Written(etag)) => Claim::Ours(Lease { key, etag, record }),
            Ok(Created::Exists) => match self.examine_key(key, true).await {
                // Someone's write landed first and is gone already: whose it was cannot be told.
                Claim::Absent => Claim::Later("the claim vanished".into()),
                found => found,
            },
            Err(e) => Claim::Unknown(e.to_string()),
        }
    }

    /// Whose `schedule`'s fire at `at` is, taking it when it is this instance's own from
    /// before or its holder's lease ran out unsettled (the sweep).
    pub async fn examine(&self, schedule: &str, at: DateTime<Utc>) -> Claim {
        self.examine_key(self.key(schedule, at), false).await
    }

    /// `catching_up`: a claim of this instance's from before leases is fired again only by
    /// catch-up, as it was then, from the last fire on; the sweep, which reads the whole
    /// window, would fire again every such claim in it (most of them delivered).
    async fn examine_key(&self, key: String, catching_up: bool) -> Claim {
        let stored = match self.store.read(&key).await {
            Ok(Some(stored)) => stored,
            Ok(None) => return Claim::Absent,
            Err(e) => return Claim::Later(e.to_string()),
        };
        let Ok(record) = serde_json::from_slice::<Record>(&stored.body) else {
            // Not a claim this version can read: never this instance's to take.
            return Claim::Held { owner: "another instance (unreadable claim)".into(), until: None };
        };
        if record.settled_at.is_some() {
            return Claim::Settled(record.owner());
        }
        let now = clock::utc();
        let mine = record.instance == self.instance;
        let takeover = match record.held_until {
            None if mine && catching_up => false,
            None => return Claim::Held { owner: record.owner(), until: None },
            _ if mine => false,
            Some(until) if until > now => return Claim::Held { owner: record.owner(), until: Some(until) },
            Some(_) => true,
        };
        let fresh = self.fresh(record.claimed_at, record.takeovers + u32::from(takeover));
        match self.store.replace(&key, &stored.etag, to_body(&fresh)).await {
            Ok(Replaced::Written(etag)) => Claim::Ours(Lease { key, etag, record: fresh }),
            Ok(Replaced::Conflict) => Claim::Later(format!("{} changed while it was taken", self.describe(&key))),
            // Our own claim from before: fired, as before leases, if only without one.
            Err(e) if mine => Claim::Unknown(e.to_string()),
            Err(e) => Claim::Later(e.to_string()),
        }
    }

    /// Extends `lease` by a lease from now.
    pub async fn renew(&self, lease: &mut Lease) -> Result<(), LeaseError> {
        let until = clock::utc() + self.lease;
        self.write(lease, |r| r.held_until = Some(until)).await
    }

    /// Marks `lease`'s fire settled: nobody takes it from now on.
    pub async fn settle(&self, lease: &mut Lease) -> Result<(), LeaseError> {
        let now = clock::utc();
        self.write(lease, |r| r.settled_at = Some(now)).await
    }

    /// Lets `lease` run out now, unsettled, so another instance takes the fire over at once
    /// (this one is stopping).
    pub async fn release(&self, lease: &mut Lease) -> Result<(), LeaseError> {
        let now = clock::utc();
        self.write(lease, |r| r.held_until = Some(now)).await
    }

    async fn write(&self, lease: &mut Lease, change: impl FnOnce(&mut Record)) -> Result<(), LeaseError> {
        let mut record = lease.record.clone();
        change(&mut record);
        match self.store.replace(&lease.key, &lease.etag, to_body(&record)).await? {
            Replaced::Written(etag) => {
                lease.etag = etag;
                lease.record = record;
                Ok(())
            }
            Replaced::Conflict => Err(LeaseError::Lost),
        }
    }
}

fn to_body(record: &Record) -> Vec<u8> {
    serde_json::to_vec(record).expect("a claim serializes")
}

/// This machine's host name (Linux), for claims.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests;
