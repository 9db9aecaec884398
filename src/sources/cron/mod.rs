//! The `cron` source: fires at exact instants (a `sleep_until` loop over `croner`'s fire
//! times, not a polling tick), catches up what was missed while down, keeps its last fire,
//! tries a failed fire again while it is in its window, and with `[fleet] claims` fires each
//! instant on one host of the fleet, under a lease another host takes over if it runs out.

pub mod claim;
mod eventbridge_hint;
mod fire;
#[cfg(test)]
mod fleet_simulation;
pub mod schedule;
pub mod settings;
mod state;
pub mod store;
mod sweep;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

use super::{Source, SourceContext};
use crate::clock;
pub use settings::CronSettings;

use claim::Claims;
use fire::Firing;
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

/// How long after its instant a fire is still fired (taken over from a holder whose lease ran
/// out, or tried again after it failed): `catch_up`, but at least two leases, so that a fire
/// whose holder died just after claiming it (its lease runs out a little over one lease after
/// its instant) is still taken over, also for a schedule without `catch_up`.
pub fn window(catch_up: Option<Duration>, lease: Duration) -> Duration {
    catch_up.unwrap_or_default().max(lease * 2)
}

impl Source for CronSource {
    fn run(self: Box<Self>, ctx: SourceContext) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> {
        Box::pin(async move {
            let schedule = match self.settings.parsed.clone() {
                Some(s) => s,
                None => Schedule::parse(&self.settings.schedule, &self.settings.timezone)?,
            };
            // The last fire is kept for catch-up alone: without it, no state file is written.
            let last =
                self.settings.catch_up.map(|_| Arc::new(LastFire::new(ctx.state_dir.join("cron").join(format!("{}.json", ctx.name)))));
            // Dropped unfinished (the process dies), the run's tasks stop with it.
            let alive = CancellationToken::new();
            let _alive = alive.clone().drop_guard();
            let lease = self.claims.as_ref().map_or(claim::DEFAULT_LEASE, Claims::lease);
            let firing = Arc::new(Firing {
                name: ctx.name.clone(),
                queue: ctx.queue.clone(),
                shutdown: ctx.shutdown.clone(),
                region: ctx.region.clone(),
                account: ctx.account.clone(),
                settings: self.settings.clone(),
                claims: self.claims.clone(),
                last: last.clone(),
                waiters: TaskTracker::new(),
                alive,
                watch: Mutex::new(sweep::Watch::default()),
                window: window(self.settings.catch_up, lease),
            });

            let now = clock::utc();
            if let (Some(window), Some(previous)) = (self.settings.catch_up, last.as_ref().and_then(|l| l.load())) {
                let from = previous.max(now - chrono::Duration::from_std(window)?);
                let missed = schedule.fires_between(from, now);
                if !missed.is_empty() {
                    info!(source = %ctx.name, count = missed.len(), since = %from, "catching up missed fires");
                }
                for at in missed {
                    if !firing.fire(firing.prepare(at)).await {
                        break;
                    }
                }
            }
            if let Some(claims) = self.claims.clone() {
                firing.spawn(sweep::run(firing.clone(), claims, schedule.clone()));
            }
            info!(source = %ctx.name, schedule = schedule.expression(), timezone = %schedule.timezone(), "cron source started");
            ctx.health.source_ok(&ctx.name);
            let mut cursor = now;
            while let Some(at) = schedule.next_after(cursor) {
                // Made before the instant, so firing is only handing it on.
                let fire = firing.prepare(at);
                if !sleep_until(at, &ctx.shutdown).await {
                    break;
                }
                if !firing.fire(fire).await {
                    break;
                }
                // Other schedules due at this instant fire before this one works out its next.
                tokio::task::yield_now().await;
                cursor = at;
            }
            firing.waiters.close();
            firing.waiters.wait().await;
            Ok(())
        })
    }
}

/// Sleeps until the wall clock reaches `at`; false if shutdown came first. Sleeps in slices
/// so a wall-clock step (NTP, suspend) is noticed within a minute.
async fn sleep_until(at: DateTime<Utc>, shutdown: &CancellationToken) -> bool {
    loop {
        let left = match (at - clock::utc()).to_std() {
            Ok(d) if !d.is_zero() => d,
            _ => return true,
        };
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return false,
            _ = tokio::time::sleep(left.min(Duration::from_secs(60))) => {}
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
        // As EventBridge names the rule that fired: the schedule's name stands for the rule's.
        resources: Some(vec![format!("arn:aws:events:{region}:{account}:rule/{name}")]),
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
        assert_eq!(v["resources"], serde_json::json!(["arn:aws:events:us-east-1:123456789012:rule/nightly"]));
    }
}
