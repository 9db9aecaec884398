//! Cron schedules: the next fires, in the schedule's own time zone, so an operator sees the
//! expression means what they meant; the state directory cron keeps its last fires in; and,
//! with `[fleet] claims`, that claims can be written.

use chrono::{DateTime, Utc};

use super::failure::Failure;
use super::{files, Check, Status, World};
use crate::settings::Config;
use crate::sources::cron::schedule::Schedule;
use crate::sources::cron::CronSettings;
use crate::sources::SourceKind;

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
    let fires: Vec<String> =
        next_fires(&schedule, now).into_iter().map(|at| at.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z (%:z)").to_string()).collect();
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
            Err(e) => Check::new("state", "cron", Status::Fail, format!("directory {}: cannot be written: {e}", dir.display())).advise(
                "cron keeps each schedule's last fire there (for catch_up): make daemon.state_dir a directory \
                     writable by the user fanin runs as (systemd: StateDirectory=), or change it",
            ),
        }
    })
}

/// The marker written under the claims prefix (claims themselves go under `<schedule>/`).
const CLAIMS_MARKER: &str = "fanin-validate.marker";

/// `[fleet] claims`: a marker object is written where fires are claimed (online, and only when
/// there is a cron source to claim fires for).
pub(super) async fn claims(world: World) -> Vec<Check> {
    let config = &world.config;
    let (Some(location), Some(sdk)) = (&config.fleet.claims, &world.sdk) else { return vec![] };
    if !config.sources.iter().any(|s| matches!(s.kind, SourceKind::Cron(_))) {
        return vec![];
    }
    let key = format!("{}{CLAIMS_MARKER}", location.prefix);
    let url = format!("s3://{}/{}", location.bucket, location.prefix);
    let put = crate::aws::s3(sdk).put_object().bucket(&location.bucket).key(&key).body(Vec::from(&b"{}"[..]).into()).send().await;
    let check = |status, detail: String| Check::new("fleet", "claims", status, detail);
    vec![match put.map_err(|e| Failure::of(&e)) {
        Ok(_) => check(Status::Ok, format!("{url}: cron fires can be claimed (marker {key} written)")),
        Err(f) if f.denied() => check(Status::Fail, format!("{url}: access denied: {}", f.summary())).advise(format!(
            "grant s3:PutObject and s3:GetObject on arn:aws:s3:::{}/{}* (fanin iam-policy --config {} prints the whole policy)",
            location.bucket,
            location.prefix,
            config.file.display()
        )),
        Err(f) => check(Status::Fail, format!("{url}: {}", f.summary())).unless_answered(&f, "S3"),
    }]
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
