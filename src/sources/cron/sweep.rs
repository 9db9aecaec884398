//! The takeover sweep: on start, and then every quarter lease (at most every 5 s), an instance
//! looks again at the fleet's claims in its window that it does not know to be done, and
//! takes over, through [`Claims::examine`], those left unsettled past their lease.
//!
//! Looking is cheap: the sweep reads a claim only when there is a reason to. On start it
//! reads the claim of each of the schedule's instants in the window (one `GetObject` each, no
//! listing); after that every instant is claimed live by each instance, which notes what it
//! lost and until when the holder's lease runs ([`Watch`]), and reads that claim again only
//! once the lease may have run out.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::debug;

use super::claim::{Claim, Claims};
use super::fire::Firing;
use super::schedule::Schedule;
use crate::clock;

/// What one run knows of a fire in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// Being claimed, fired or examined by this run.
    Busy,
    /// Done for the fleet (settled, given up, or held for good by its owner).
    Done,
    /// Another instance's, or not known: read the claim again from then on.
    Recheck(DateTime<Utc>),
}

/// The fires of the window this run has seen, by instant.
#[derive(Debug, Default)]
pub(super) struct Watch {
    fires: BTreeMap<DateTime<Utc>, Known>,
}

impl Watch {
    /// Takes the fire at `at` in hand; false when this run has it in hand or done already.
    pub fn begin(&mut self, at: DateTime<Utc>) -> bool {
        match self.fires.get(&at) {
            Some(Known::Busy | Known::Done) => false,
            _ => {
                self.fires.insert(at, Known::Busy);
                true
            }
        }
    }

    pub fn done(&mut self, at: DateTime<Utc>) {
        self.fires.insert(at, Known::Done);
    }

    /// Reads the claim at `at` again from `when` on.
    pub fn recheck(&mut self, at: DateTime<Utc>, when: DateTime<Utc>) {
        self.fires.insert(at, Known::Recheck(when));
    }

    /// The fires due for another look at `now`, taken in hand.
    fn due(&mut self, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let due: Vec<DateTime<Utc>> =
            self.fires.iter().filter(|(_, k)| matches!(k, Known::Recheck(t) if *t <= now)).map(|(at, _)| *at).collect();
        for at in &due {
            self.fires.insert(*at, Known::Busy);
        }
        due
    }

    /// Forgets fires before `before` (out of the window: nobody fires them any more).
    fn forget_before(&mut self, before: DateTime<Utc>) {
        self.fires = self.fires.split_off(&before);
    }

    /// Instants of the window this run has not seen, to be read on the first sweep.
    fn seed(&mut self, instants: impl IntoIterator<Item = DateTime<Utc>>, now: DateTime<Utc>) {
        for at in instants {
            self.fires.entry(at).or_insert(Known::Recheck(now));
        }
    }
}

/// How often the sweep looks: a quarter lease, from 250 ms to 5 s, so that a dead holder's
/// fire goes out within a lease and 5 s of its last renewal.
pub(super) fn every(lease: Duration) -> Duration {
    (lease / 4).clamp(Duration::from_millis(250), Duration::from_secs(5))
}

/// Sweeps until the daemon stops.
pub(super) async fn run(firing: Arc<Firing>, claims: Claims, schedule: Schedule) {
    let window = chrono::Duration::from_std(firing.window).unwrap_or(chrono::Duration::MAX);
    let every = every(claims.lease());
    let now = clock::utc();
    firing.watch.lock().unwrap().seed(schedule.fires_between(now - window, now), now);
    loop {
        let now = clock::utc();
        let due = {
            let mut watch = firing.watch.lock().unwrap();
            watch.forget_before(now - window);
            watch.due(now)
        };
        for at in due {
            if firing.shutdown.is_cancelled() {
                return;
            }
            let fire = firing.prepare(at);
            match claims.examine(&firing.name, at).await {
                Claim::Ours(lease) => {
                    if !firing.take_over(fire, lease).await {
                        return;
                    }
                }
                // Nobody claimed it yet; a late holder may still: look once more a lease on.
                Claim::Absent if clock::utc() - at < chrono::Duration::from_std(claims.lease()).unwrap_or_default() => {
                    firing.watch.lock().unwrap().recheck(at, clock::utc() + claims.lease());
                }
                Claim::Absent => firing.watch.lock().unwrap().done(at),
                Claim::Later(error) | Claim::Unknown(error) => {
                    debug!(source = %firing.name, event_id = %fire.id, error, "could not read the fire's claim; looking again later");
                    firing.watch.lock().unwrap().recheck(at, clock::utc() + every);
                }
                Claim::Settled(_) => firing.watch.lock().unwrap().done(at),
                Claim::Held { until: Some(until), .. } => firing.watch.lock().unwrap().recheck(at, until),
                Claim::Held { until: None, .. } => firing.watch.lock().unwrap().done(at),
            }
        }
        tokio::select! {
            biased;
            _ = firing.shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + i64::from(s), 0).unwrap()
    }

    #[test]
    fn a_fire_in_hand_or_done_is_not_begun_again_and_a_recheck_comes_due_once() {
        let mut watch = Watch::default();
        assert!(watch.begin(t(0)));
        assert!(!watch.begin(t(0)), "in hand");
        watch.done(t(0));
        assert!(!watch.begin(t(0)), "done");
        watch.recheck(t(2), t(10));
        assert!(watch.due(t(9)).is_empty());
        assert_eq!(watch.due(t(10)), vec![t(2)]);
        assert!(watch.due(t(11)).is_empty(), "taken in hand when due");
        watch.seed([t(0), t(4)], t(5));
        assert_eq!(watch.due(t(5)), vec![t(4)], "seeding leaves what is known");
        watch.forget_before(t(3));
        assert!(watch.begin(t(0)), "forgotten");
    }

    #[test]
    fn the_sweep_looks_every_quarter_lease_within_bounds() {
        assert_eq!(every(Duration::from_secs(4)), Duration::from_secs(1));
        assert_eq!(every(Duration::from_secs(30)), Duration::from_secs(5));
        assert_eq!(every(Duration::from_secs(3)), Duration::from_millis(750));
    }
}
