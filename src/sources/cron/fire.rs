//! One fire from its instant until it settles: claimed, handed on, its lease renewed while it
//! is unsettled, tried again with backoff when it fails, and its claim marked settled.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, warn};

use super::claim::{Claim, Claims, Lease, LeaseError};
use super::state::LastFire;
use super::sweep::Watch;
use super::{fire_id, scheduled_event, CronSettings};
use crate::clock;
use crate::event::{Ack, Disposition, Event};
use crate::queue::QueueSender;
use crate::telemetry::events::{CronFired, EventReceived, EventSkipped};
use crate::telemetry::log_limit;

/// The first wait before a failed fire is handed on again; doubled each time.
const RETRY_BASE: Duration = Duration::from_secs(1);
/// Failed fires are tried again at least this often.
const RETRY_MAX: Duration = Duration::from_secs(30);
/// Attempts at marking a settled fire's claim settled while the store does not answer.
const SETTLE_TRIES: u32 = 5;

/// What one run of a schedule fires with, shared by its loop, its sweep and its fires' tasks.
pub(super) struct Firing {
    pub name: Arc<str>,
    pub queue: QueueSender,
    /// The daemon stops: fire nothing new, let what was handed on settle.
    pub shutdown: CancellationToken,
    pub region: String,
    pub account: String,
    pub settings: CronSettings,
    pub claims: Option<Claims>,
    pub last: Option<Arc<LastFire>>,
    /// Every task of this run; the run ends once they have.
    pub waiters: TaskTracker,
    /// Cancelled when the run is dropped unfinished (the process dies, a test kills it): its
    /// tasks stop where they are, writing nothing more, as a killed process would.
    pub alive: CancellationToken,
    /// What this run knows of each fire in the window.
    pub watch: Mutex<Watch>,
    /// How long after its instant a fire is still fired: taken over, or tried again.
    pub window: Duration,
}

/// A fire's event id and payload, made ahead of its instant.
pub(super) struct Prepared {
    pub at: DateTime<Utc>,
    pub id: String,
    pub payload: Bytes,
}

/// The lease a fire runs under, if any.
enum Tenure {
    /// Fired without a claim (no `[fleet]`, or the store did not answer).
    Unclaimed,
    Held(Lease),
    /// Another instance took the claim over: the fire is theirs now.
    Lost,
}

impl Firing {
    pub fn prepare(&self, at: DateTime<Utc>) -> Prepared {
        let id = fire_id(&self.name, at);
        let payload = match &self.settings.payload {
            Some(p) => Bytes::from(serde_json::to_vec(p).expect("JSON from TOML serializes")),
            None => scheduled_event(&id, &self.name, &self.region, &self.account, at),
        };
        Prepared { at, id, payload }
    }

    /// Claims a fire (at its instant, or in catch-up) and hands it on if it is this
    /// instance's; false once the daemon is stopping.
    pub async fn fire(self: &Arc<Self>, fire: Prepared) -> bool {
        if !self.watch.lock().unwrap().begin(fire.at) {
            return true;
        }
        let tenure = match &self.claims {
            None => Tenure::Unclaimed,
            Some(claims) => match claims.claim(&self.name, fire.at).await {
                Claim::Ours(lease) => Tenure::Held(lease),
                Claim::Unknown(error) => {
                    if let Some(left_out) = log_limit::allow(&format!("claim:{}", self.name)) {
                        warn!(source = %self.name, event_id = %fire.id, error, similar_left_out = left_out, "could not claim the fire; firing it anyway (another host may fire it too)");
                    }
                    Tenure::Unclaimed
                }
                other => {
                    self.not_ours(&fire, other);
                    return true;
                }
            },
        };
        self.launch(fire, tenure).await
    }

    /// Notes a claim that is not this instance's to fire: settled, held by another (watched,
    /// so that it is taken over if its holder's lease runs out), or not known yet.
    pub fn not_ours(&self, fire: &Prepared, claim: Claim) {
        let mut watch = self.watch.lock().unwrap();
        match claim {
            Claim::Settled(owner) | Claim::Held { owner, until: None } => {
                watch.done(fire.at);
                self.skipped(fire, &owner);
            }
            Claim::Held { owner, until: Some(until) } => {
                watch.recheck(fire.at, until);
                self.skipped(fire, &owner);
            }
            Claim::Later(error) => {
                debug!(source = %self.name, event_id = %fire.id, error, "could not tell whose the fire is; looking again later");
                watch.recheck(fire.at, clock::utc());
            }
            Claim::Absent => watch.done(fire.at),
            Claim::Ours(_) | Claim::Unknown(_) => unreachable!("fired, not noted"),
        }
    }

    fn skipped(&self, fire: &Prepared, owner: &str) {
        EventSkipped { source: &self.name, reason: "fired by another instance" }.emit();
        debug!(source = %self.name, event_id = %fire.id, owner, "claimed by another instance");
        // Done for the fleet: catch-up has nothing to bring back (the sweep watches the rest).
        self.record(fire.at);
    }

    /// Fires a claim the sweep took over (or took back); false once the daemon is stopping.
    pub async fn take_over(self: &Arc<Self>, fire: Prepared, lease: Lease) -> bool {
        info!(source = %self.name, event_id = %fire.id, takeovers = lease.takeovers(), "firing a claimed fire that did not settle");
        self.launch(fire, Tenure::Held(lease)).await
    }

    /// Hands the fire on, then leaves it to a task of its own until it settles.
    async fn launch(self: &Arc<Self>, fire: Prepared, tenure: Tenure) -> bool {
        let Some(outcome) = self.hand_on(&fire).await else {
            self.spawn(self.clone().give_back(tenure));
            return false;
        };
        let late = (clock::utc() - fire.at).to_std().unwrap_or_default();
        EventReceived { source: &self.name }.emit();
        CronFired { source: &self.name, late }.emit();
        debug!(source = %self.name, event_id = %fire.id, lateness_us = late.as_micros() as u64, "fired");
        self.spawn(self.clone().keep(fire, tenure, outcome));
        true
    }

    /// Puts the fire's event on the queue; its outcome to come, or `None` once stopping.
    async fn hand_on(&self, fire: &Prepared) -> Option<oneshot::Receiver<Disposition>> {
        let (ack, outcome) = Ack::new();
        let event = Event {
            id: fire.id.clone(),
            source: self.name.clone(),
            born: SystemTime::from(fire.at),
            payload: fire.payload.clone(),
            invalid: None,
            filter_view: None,
            trace: None,
            ack,
        };
        tokio::select! {
            biased;
            _ = self.shutdown.cancelled() => None,
            sent = self.queue.send(event) => sent.ok().map(|()| outcome),
        }
    }

    /// Runs `task` as part of this run: waited for at shutdown, stopped if the run is dropped.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let alive = self.alive.clone();
        self.waiters.spawn(async move {
            tokio::select! {
                biased;
                _ = alive.cancelled() => {}
                _ = task => {}
            }
        });
    }

    /// One fire until it settles, is given up, or is another instance's.
    async fn keep(self: Arc<Self>, fire: Prepared, mut tenure: Tenure, mut outcome: oneshot::Receiver<Disposition>) {
        let mut retries = 0u32;
        loop {
            // A sender dropped unsent cannot happen (an ack always tells); read it as failed.
            let disposition = self.holding(&mut tenure, &mut outcome).await.unwrap_or(Disposition::Failed);
            if disposition == Disposition::Settled {
                self.record(fire.at);
                self.mark_settled(&fire, tenure).await;
                self.watch.lock().unwrap().done(fire.at);
                return;
            }
            if matches!(tenure, Tenure::Lost) {
                return self.lost(&fire);
            }
            if self.shutdown.is_cancelled() {
                return self.give_back(tenure).await;
            }
            let wait = RETRY_BASE.saturating_mul(1 << retries.min(16)).min(RETRY_MAX);
            retries += 1;
            let give_up_at = fire.at + self.window;
            if clock::utc() + wait > give_up_at {
                error!(source = %self.name, event_id = %fire.id, window = %humantime::format_duration(self.window), "fire neither delivered nor dead-lettered within its window; given up");
                self.watch.lock().unwrap().done(fire.at);
                return;
            }
            if let Some(left_out) = log_limit::allow(&format!("retry:{}", self.name)) {
                warn!(source = %self.name, event_id = %fire.id, retry_in_ms = wait.as_millis() as u64, similar_left_out = left_out, "fire neither delivered nor dead-lettered; trying it again");
            }
            let stopped = self.holding(&mut tenure, async {
                tokio::select! {
                    biased;
                    _ = self.shutdown.cancelled() => true,
                    _ = tokio::time::sleep(wait) => false,
                }
            });
            if stopped.await {
                return self.give_back(tenure).await;
            }
            if matches!(tenure, Tenure::Lost) {
                return self.lost(&fire);
            }
            match self.holding(&mut tenure, self.hand_on(&fire)).await {
                Some(next) => outcome = next,
                None => return self.give_back(tenure).await,
            }
        }
    }

    /// Awaits `until`, renewing the lease meanwhile once a third of it has passed since it
    /// was last written (counted from the write, not from this call: a fire that fails fast
    /// and is handed on again waits here many short times in a row).
    async fn holding<T>(&self, tenure: &mut Tenure, until: impl Future<Output = T>) -> T {
        let Some(claims) = &self.claims else { return until.await };
        tokio::pin!(until);
        // After a renewal the store did not answer, the next waits a sixth of the lease.
        let mut failed = false;
        loop {
            let renew_in = match tenure {
                Tenure::Held(lease) => (lease.held_until() - claims.lease() * 2 / 3 - clock::utc()).to_std().unwrap_or_default(),
                _ => return until.await,
            };
            let renew_in = if failed { renew_in.max(claims.lease() / 6) } else { renew_in };
            tokio::select! {
                biased;
                out = &mut until => return out,
                _ = tokio::time::sleep(renew_in) => {}
            }
            let Tenure::Held(lease) = tenure else { continue };
            failed = false;
            match claims.renew(lease).await {
                Ok(()) => {}
                Err(LeaseError::Lost) => {
                    let key = claims.describe(lease.key());
                    warn!(source = %self.name, key, "a fire's claim was taken over while it was unsettled (its lease ran out); the other instance fires it");
                    *tenure = Tenure::Lost;
                }
                Err(LeaseError::Store(e)) => {
                    failed = true;
                    if let Some(left_out) = log_limit::allow(&format!("renew:{}", self.name)) {
                        warn!(source = %self.name, error = %e, until = %lease.held_until(), similar_left_out = left_out, "could not renew a fire's claim; trying again");
                    }
                }
            }
        }
    }

    /// The fire's claim went to another instance: the sweep watches it again, in case that
    /// one's lease runs out too.
    fn lost(&self, fire: &Prepared) {
        self.watch.lock().unwrap().recheck(fire.at, clock::utc());
    }

    /// Marks the claim of a settled fire settled, so no other instance fires it again.
    async fn mark_settled(&self, fire: &Prepared, tenure: Tenure) {
        let (Some(claims), Tenure::Held(mut lease)) = (&self.claims, tenure) else { return };
        for attempt in 0..SETTLE_TRIES {
            match claims.settle(&mut lease).await {
                Ok(()) | Err(LeaseError::Lost) => return,
                Err(LeaseError::Store(e)) => {
                    debug!(source = %self.name, event_id = %fire.id, error = %e, "could not mark the claim settled; trying again");
                    tokio::time::sleep(RETRY_BASE * (attempt + 1)).await;
                }
            }
        }
        warn!(source = %self.name, event_id = %fire.id, "could not mark the fire's claim settled; another instance will fire it again once its lease runs out");
    }

    /// Stopping with the fire unsettled: lets its lease run out now so another instance (or
    /// this one, restarted) takes it over without waiting.
    async fn give_back(self: Arc<Self>, tenure: Tenure) {
        let (Some(claims), Tenure::Held(mut lease)) = (&self.claims, tenure) else { return };
        if let Err(e) = claims.release(&mut lease).await {
            debug!(source = %self.name, error = %e, "could not release an unsettled fire's claim; its lease runs out by itself");
        }
    }

    /// Records a fire the fleet is done with as the last fire (for catch-up), on the state
    /// writer's thread.
    fn record(&self, at: DateTime<Utc>) {
        if let Some(last) = &self.last {
            last.advance_later(self.name.clone(), at, self.waiters.token());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::event::Outcome;
    use crate::sources::cron::CronSource;
    use crate::sources::{Source, SourceContext};

    /// Runs an every-minute schedule without a fleet for `minutes`, answering its fires with
    /// `answer` (by attempt); the times each attempt came.
    async fn attempts(catch_up: &str, minutes: u64, answer: impl Fn(usize) -> Outcome + Send + 'static) -> Vec<DateTime<Utc>> {
        // 30 s before a minute.
        clock::simulated::set(UNIX_EPOCH + Duration::from_secs(1_800_000_000 - 30));
        let (queue, mut receiver) = crate::queue::bounded(10);
        let shutdown = CancellationToken::new();
        let dir = tempfile::tempdir().unwrap();
        let ctx = SourceContext {
            name: "tick".into(),
            queue,
            shutdown: shutdown.clone(),
            state_dir: dir.path().to_path_buf(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            health: Arc::new(crate::telemetry::health::Health::new(["tick"])),
        };
        let mut settings: CronSettings = toml::from_str(&format!("schedule = \"0 * * * * *\"\n{catch_up}")).unwrap();
        settings.check(std::path::Path::new("tick.toml")).unwrap();
        let run = tokio::spawn(Box::new(CronSource::new(settings, None)).run(ctx));
        let seen = Arc::new(Mutex::new(vec![]));
        let consumer = tokio::spawn({
            let seen = seen.clone();
            async move {
                while let Some(queued) = receiver.recv().await {
                    let n = seen.lock().unwrap().len();
                    seen.lock().unwrap().push(clock::utc());
                    queued.event.ack.settle(answer(n));
                }
            }
        });
        tokio::time::sleep(Duration::from_secs(30 + 60 * minutes)).await;
        shutdown.cancel();
        run.await.unwrap().unwrap();
        consumer.abort();
        let seen = seen.lock().unwrap().clone();
        seen
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_fire_is_handed_on_again_with_backoff_until_it_settles() {
        let seen = attempts("", 1, |n| if n < 3 { Outcome::Failed } else { Outcome::Delivered }).await;
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let after: Vec<i64> = seen.iter().map(|t| (*t - at).num_milliseconds()).collect();
        assert_eq!(after, vec![0, 1000, 3000, 7000], "1 s, then doubling");
    }

    #[tokio::test(start_paused = true)]
    async fn a_fire_failing_past_its_window_is_given_up() {
        // No catch_up, no fleet: two default leases, a minute.
        let seen = attempts("", 2, |n| if n < 100 { Outcome::Failed } else { Outcome::Delivered }).await;
        let first = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let of_first: Vec<i64> = seen.iter().map(|t| (*t - first).num_seconds()).filter(|s| *s < 60).collect();
        assert_eq!(of_first, vec![0, 1, 3, 7, 15, 31], "the next (61 s) would be out of its window");
        // With catch_up longer, it goes on.
        let seen = attempts("catch_up = \"5m\"\n", 2, |n| if n < 100 { Outcome::Failed } else { Outcome::Delivered }).await;
        assert!(seen.iter().any(|t| (*t - first).num_seconds() == 61), "{seen:?}");
    }
}
