//! Cron schedules: the next fires, in the schedule's own time zone, so an operator sees the
//! expression means what they meant; and the state directory cron keeps its last fires in.

use chrono::{DateTime, Utc};

use super::{files, Check, Status};
use crate::config::{Config, CronSettings, SourceKind};
use crate::sources::cron::schedule::Schedule;

const KIND: &str = "schedule";

/// How many fires are listed.
const SHOWN: usize = 3;

/// The next fires of the cron source `name` after `now`.
pub(super) fn check(name: &str, cron: &CronSettings, now: DateTime<Utc>) -> Check {
    // A loaded configuration has every schedule parsed; parse here only if it was built by hand.
    let schedule = match cron.parsed.clone().map(Ok).unwrap_or_else(|| Schedule::parse(&cron.schedule, &cron.timezone)) {
        Ok(s) => s,
        Err(e) => return Check::new(KIND, name, Status::Fail, e.to_string()),
    };
    let tz = schedule.timezone();
    let fires: Vec<String> = next_fires(&schedule, now)
        .into_iter()
        .map(|at| at.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z (%:z)").to_string())
        .collect();
    if fires.is_empty() {
        Check::new(KIND, name, Status::Warn, format!("`{}` in {tz} never fires again", schedule.expression()))
    } else {
        Check::new(KIND, name, Status::Ok, format!("`{}` in {tz}: next {}", schedule.expression(), fires.join(", ")))
    }
}

fn next_fires(schedule: &Schedule, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    std::iter::successors(schedule.next_after(now), |at| schedule.next_after(*at)).take(SHOWN).collect()
}

/// `<state_dir>/cron`, where each schedule's last settled fire is kept for `catch_up`; checked
/// when there is a cron source.
pub(super) fn state(config: &Config) -> Option<Check> {
    config.sources.iter().any(|s| matches!(s.kind, SourceKind::Cron(_))).then(|| {
        let dir = config.daemon.state_dir.join("cron");
        match files::writable_dir(&dir) {
            Ok(()) => Check::new("state", "cron", Status::Ok, format!("directory {}: writable", dir.display())),
            Err(e) => Check::new("state", "cron", Status::Fail, format!("directory {}: cannot be written: {e}", dir.display()))
                .advise(
                    "cron keeps each schedule's last fire there (for catch_up): make daemon.state_dir a directory \
                     writable by the user fanin runs as (systemd: StateDirectory=), or change it",
                ),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_fires_in_the_schedules_time_zone() {
        let cron = toml::from_str("schedule = \"0 0 2 * * *\"\ntimezone = \"Asia/Tokyo\"").unwrap();
        let check = check("nightly", &cron, "2026-03-01T00:00:00Z".parse().unwrap());
        assert_eq!(check.status, Status::Ok);
        assert_eq!(
            check.detail,
            "`0 0 2 * * *` in Asia/Tokyo: next 2026-03-02 02:00:00 JST (+09:00), 2026-03-03 02:00:00 JST (+09:00), 2026-03-04 02:00:00 JST (+09:00)"
        );
    }
}
