//! The `cron` source: fires at exact instants (a `sleep_until` loop over `croner`'s fire
//! times, not a polling tick), catches up what was missed while down, keeps its last fire,
//! and with `[fleet] claims` fires each instant on one host of the fleet.

pub mod claim;
pub mod schedule;
pub mod settings;
mod state;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, warn};

use super::{Source, SourceContext};
use crate::event::{Ack, Disposition, Event};
use crate::telemetry::events::{CronFired, EventReceived, EventSkipped};
pub use settings::CronSettings;

use claim::{Claim, Claims};
use schedule::Schedule;
use state::LastFire;

/// Fires one schedule.
pub struct CronSource {
    settings: CronSettings,
    claims: Option<Claims>,
}

impl CronSource {
    /// `claims`: where fires are claimed when several hosts run this schedule.
    pub fn new(settings: CronSettings, claims: Option<Claims>) -> Self {
        CronSource { settings, claims }
    }
}

impl Source for CronSource {
    fn run(self: Box<Self>, ctx: SourceContext) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> {
        Box::pin(async move {
            let schedule = match self.settings.parsed.clone() {
                Some(s) => s,
                None => Schedule::parse(&self.settings.schedule, &self.settings.timezone)?,
            };
            // The last fire is kept for catch-up alone: without it, no state file is written.
            let last = self.settings.catch_up.map(|_| Arc::new(LastFire::new(ctx.state_dir.join("cron").join(format!("{}.json", ctx.name)))));
            let waiters = TaskTracker::new();
            let firer = Firer {
                ctx: &ctx,
                settings: &self.settings,
                claims: self.claims.as_ref(),
                last: last.clone(),
                waiters: waiters.clone(),
            };

            let now = Utc::now();
            if let (Some(window), Some(previous)) = (self.settings.catch_up, last.as_ref().and_then(|l| l.load())) {
                let from = previous.max(now - chrono::Duration::from_std(window)?);
                let missed = schedule.fires_between(from, now);
                if !missed.is_empty() {
                    info!(source = %ctx.name, count = missed.len(), since = %from, "catching up missed fires");
                }
                for at in missed {
                    if !firer.fire(firer.prepare(at)).await {
                        break;
                    }
                }
            }
            info!(source = %ctx.name, schedule = schedule.expression(), timezone = %schedule.timezone(), "cron source started");
            ctx.health.source_ok(&ctx.name);
            let mut cursor = now;
            while let Some(at) = schedule.next_after(cursor) {
                // Made before the instant, so firing is only handing it on.
                let fire = firer.prepare(at);
                if !sleep_until(at, &ctx.shutdown).await {
                    break;
                }
                if !firer.fire(fire).await {
                    break;
                }
                // Other schedules due at this instant fire before this one works out its next.
                tokio::task::yield_now().await;
                cursor = at;
            }
            waiters.close();
            waiters.wait().await;
            Ok(())
        })
    }
}

/// Sleeps until the wall clock reaches `at`; false if shutdown came first. Sleeps in slices
/// so a wall-clock step (NTP, suspend) is noticed within a minute.
async fn sleep_until(at: DateTime<Utc>, shutdown: &CancellationToken) -> bool {
    loop {
        let left = match (at - Utc::now()).to_std() {
            Ok(d) if !d.is_zero() => d,
            _ => return true,
        };
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            _ = tokio::time::sleep(left.min(Duration::from_secs(60))) => {}
        }
    }
}

struct Firer<'a> {
    ctx: &'a SourceContext,
    settings: &'a CronSettings,
    claims: Option<&'a Claims>,
    last: Option<Arc<LastFire>>,
    waiters: TaskTracker,
}

/// A fire's event id and payload, made ahead of its instant.
struct Prepared {
    at: DateTime<Utc>,
    id: String,
    payload: Bytes,
}

impl Firer<'_> {
    fn prepare(&self, at: DateTime<Utc>) -> Prepared {
        let id = fire_id(&self.ctx.name, at);
        let payload = match &self.settings.payload {
            Some(p) => Bytes::from(serde_json::to_vec(p).expect("JSON from TOML serializes")),
            None => scheduled_event(&id, &self.ctx.name, &self.ctx.region, &self.ctx.account, at),
        };
        Prepared { at, id, payload }
    }

    /// Hands a fire to the dispatcher; false once the daemon is stopping.
    async fn fire(&self, fire: Prepared) -> bool {
        let Prepared { at, id, payload } = fire;
        if let Some(claims) = self.claims {
            match claims.claim(&self.ctx.name, at).await {
                Claim::Ours => {}
                Claim::Theirs(owner) => {
                    EventSkipped { source: &self.ctx.name, reason: "fired by another instance" }.emit();
                    debug!(source = %self.ctx.name, event_id = %id, owner, "claimed by another instance");
                    // Done for the fleet: catch-up has nothing to bring back.
                    self.record(at);
                    return true;
                }
                Claim::Unknown(error) => {
                    if let Some(left_out) = crate::telemetry::log_limit::allow(&format!("claim:{}", self.ctx.name)) {
                        warn!(source = %self.ctx.name, event_id = %id, error, similar_left_out = left_out, "could not claim the fire; firing it anyway (another host may fire it too)");
                    }
                }
            }
        }
        // The waiter token keeps the source from finishing before its fires settle.
        let (name, event_id, waiter, recorder) = (self.ctx.name.clone(), id.clone(), self.waiters.token(), self.recorder());
        let ack = Ack::calling(move |disposition| {
            match disposition {
                Disposition::Settled => recorder.record(at),
                Disposition::Failed => error!(
                    source = %name, event_id = %event_id,
                    "fire neither delivered nor dead-lettered; catch-up fires it again after a restart if it is the last one"
                ),
            }
            drop(waiter);
        });
        let event =
            Event { id: id.clone(), source: self.ctx.name.clone(), born: SystemTime::from(at), payload, invalid: None, filter_view: None, ack };
        tokio::select! {
            _ = self.ctx.shutdown.cancelled() => return false,
            sent = self.ctx.queue.send(event) => if sent.is_err() { return false },
        }
        let late = (Utc::now() - at).to_std().unwrap_or_default();
        EventReceived { source: &self.ctx.name }.emit();
        CronFired { source: &self.ctx.name, late }.emit();
        debug!(source = %self.ctx.name, event_id = %id, lateness_us = late.as_micros() as u64, "fired");
        true
    }

    fn recorder(&self) -> Recorder {
        Recorder { name: self.ctx.name.clone(), last: self.last.clone(), waiters: self.waiters.clone() }
    }

    fn record(&self, at: DateTime<Utc>) {
        self.recorder().record(at);
    }
}

/// Records settled fires as the last fire (for catch-up) on the state writer's thread.
struct Recorder {
    name: Arc<str>,
    last: Option<Arc<LastFire>>,
    waiters: TaskTracker,
}

impl Recorder {
    fn record(self, at: DateTime<Utc>) {
        if let Some(last) = self.last {
            last.advance_later(self.name, at, self.waiters.token());
        }
    }
}

/// `<schedule name>-<fire time, UTC>`: the same fire always gets the same id.
pub fn fire_id(name: &str, at: DateTime<Utc>) -> String {
    format!("{name}-{}", fire_time(at))
}

/// A fire time as ids and claim keys spell it: `20261127T020000Z`.
pub fn fire_time(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// EventBridge's "Scheduled Event", as a scheduled rule would deliver it.
pub(crate) fn scheduled_event(id: &str, name: &str, region: &str, account: &str, at: DateTime<Utc>) -> Bytes {
    let event = EventBridgeEvent::<serde_json::Value> {
        version: Some("0".into()),
        id: Some(id.to_string()),
        detail_type: "Scheduled Event".into(),
        source: "aws.events".into(),
        account: Some(account.to_string()),
        time: Some(at),
        region: Some(region.to_string()),
        resources: Some(vec![format!("fanin:schedule/{name}")]),
        detail: serde_json::json!({}),
        ..Default::default()
    };
    Bytes::from(serde_json::to_vec(&event).expect("an EventBridge event always serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduled_event_shape() {
        let at = DateTime::parse_from_rfc3339("2026-11-27T02:00:00Z").unwrap().with_timezone(&Utc);
        let id = fire_id("nightly", at);
        assert_eq!(id, "nightly-20261127T020000Z");
        let v: serde_json::Value = serde_json::from_slice(&scheduled_event(&id, "nightly", "us-east-1", "123456789012", at)).unwrap();
        assert_eq!(v["detail-type"], "Scheduled Event");
        assert_eq!(v["source"], "aws.events");
        assert_eq!(v["id"], "nightly-20261127T020000Z");
        assert_eq!(v["time"], "2026-11-27T02:00:00Z");
        assert_eq!(v["region"], "us-east-1");
        assert_eq!(v["account"], "123456789012");
        assert_eq!(v["detail"], serde_json::json!({}));
    }
}
