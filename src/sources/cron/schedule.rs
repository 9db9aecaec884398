//! Cron expressions with seconds and an IANA time zone: exact fire instants, DST-aware.
//!
//! # Expression
//!
//! Exactly six fields: `sec min hour day-of-month month day-of-week`, e.g. `0 0 2 * * *`,
//! `*/5 * * * * *`, `0 30 9 * * MON-FRI`. Five-field expressions are refused (the seconds field is
//! required), and so are a seventh (year) field and `@daily`-style nicknames. Field syntax is
//! croner's: `*`, `a-b`, `a,b`, `*/n`, `a-b/n`, names (`JAN`, `MON`), and the extensions `L`, `W`,
//! `#n`. Day-of-month and day-of-week combine as in Vixie cron (croner's default): when both are
//! restricted a day matches if *either* matches; when one is `*`, only the other restricts.
//! Expressions that can never fire (e.g. `0 0 0 30 2 *`) are refused.
//!
//! # Daylight saving
//!
//! Matching is done on the local wall clock of the schedule's time zone. Where the wall clock is
//! not one-to-one with real time, the rule depends on the hour field:
//!
//! * **Hour field starts with `*`** (`*`, `*/n`; e.g. `*/5 * * * * *`, `0 */15 * * * *`,
//!   `0 0 * * * *`): the schedule is about elapsed time. It fires at every instant whose local
//!   time matches: in a repeated hour (fall back) it fires in both occurrences, and local times
//!   that do not exist (spring forward) are simply skipped — "every 15 minutes" stays every 15
//!   minutes of real time. This is Vixie cron's treatment of wildcard jobs.
//! * **Any other hour field** (`2`, `1,13`, `9-17`): the schedule is about wall-clock times, and
//!   each matching local time fires exactly once. A time that occurs twice fires at its first
//!   occurrence only; a time that does not exist fires at the instant it would have had with the
//!   offset in force before the gap, i.e. shifted forward by the gap length (New York 02:30 on the
//!   spring-forward day fires at 03:30 EDT). Should that coincide with a regular fire, it fires once.
//!
//! croner 3 alone does not give this: `find_next_occurrence` can return an instant *before* its
//! start when started in the second pass of a repeated hour, never returns second occurrences (only
//! its iterator does, out of order), snaps a skipped fixed time to the end of the gap (03:00, not
//! 03:30), and drops skipped times entirely for multi-valued fields (`0 30 2,14 * * *`). So croner
//! is used here only to parse and to search the wall clock as a DST-free naive calendar; the
//! mapping to instants is done below.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, Offset, SubsecRound, TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

/// A parsed cron schedule bound to a time zone.
#[derive(Clone, Debug)]
pub struct Schedule {
    expression: String,
    cron: Cron,
    tz: Tz,
    /// Hour field starts with `*`: fire by elapsed time (see module docs).
    elapsed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("invalid cron expression: {0}")]
    Expression(String),
    #[error("invalid time zone: {0}")]
    TimeZone(String),
}

/// Window in which we look back for a spring-forward whose skipped wall times may still be due.
/// Real gaps are 30 min to 2 h; a day also covers date-line jumps (Pacific/Apia 2011).
const MAX_GAP: Duration = Duration::days(1);
/// Step for scanning for offset changes. tzdata never changes offset twice within 12 h and back.
const PROBE_STEP: Duration = Duration::hours(12);
const SECOND: Duration = Duration::seconds(1);

impl Schedule {
    pub fn parse(expression: &str, timezone: &str) -> Result<Schedule, ScheduleError> {
        let expression = expression.trim();
        if let Some(hint) = super::eventbridge_hint::hint(expression) {
            return Err(ScheduleError::Expression(hint));
        }
        let fields: Vec<&str> = expression.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(ScheduleError::Expression(format!(
                "`{expression}` has {} field(s); expected 6: sec min hour day-of-month month \
                 day-of-week (the seconds field is required, e.g. `0 0 2 * * *` for 02:00 daily)",
                fields.len()
            )));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .year(Year::Disallowed)
            .build()
            .parse(expression)
            .map_err(|e| ScheduleError::Expression(format!("`{expression}`: {e}")))?;
        let tz: Tz = timezone.parse().map_err(|_| {
            ScheduleError::TimeZone(format!("unknown IANA time zone `{timezone}` (e.g. `UTC`, `Europe/London`, `Asia/Tokyo`)"))
        })?;
        let schedule = Schedule { expression: expression.to_string(), elapsed: fields[2].starts_with('*'), cron, tz };
        // croner accepts impossible dates such as 30 February; catch them here, not at run time.
        let epoch = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
        if schedule.next_local(epoch).is_none() {
            return Err(ScheduleError::Expression(format!("`{expression}` never fires")));
        }
        Ok(schedule)
    }

    /// The first fire strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Fires are on whole seconds; `t` is the earliest instant still eligible.
        let mut t = after.trunc_subsecs(0) + SECOND;
        // Walk the timeline one constant-offset stretch at a time: within a stretch the wall clock
        // is `t + offset`, so croner's naive search gives the next fire directly.
        loop {
            // A skipped wall time, shifted past the gap, that is due at or after `t`.
            let gap_fire = if self.elapsed { None } else { self.gap_fire_due(t) };
            let offset = self.offset(t);
            let Some(local) = self.next_local(t.naive_utc() + offset) else {
                return gap_fire;
            };
            let candidate = (local - offset).and_utc();
            if let Some(p) = gap_fire.filter(|p| *p <= candidate) {
                return Some(p);
            }
            // The offset changed before the candidate: its wall time means another instant.
            // Resume at the change, with the new offset.
            if let Some(change) = self.first_offset_change(t, candidate) {
                t = change;
                continue;
            }
            // Second pass through a repeated hour: wall-clock schedules already fired at the first.
            if !self.elapsed && self.is_second_occurrence(local, candidate) {
                t = candidate + SECOND;
                continue;
            }
            return Some(candidate);
        }
    }

    /// Every fire in (from, to], in order, each once (for catch-up after downtime).
    /// Cost is proportional to the number of fires (an hour of an every-second schedule is cheap).
    pub fn fires_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut fires = Vec::new();
        let mut cursor = from;
        while let Some(next) = self.next_after(cursor).filter(|n| *n <= to) {
            fires.push(next);
            cursor = next;
        }
        fires
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// Next matching wall-clock time at or after `local`. croner runs on UTC here, which has no
    /// DST, so it is a plain calendar search; DST is handled by the callers.
    fn next_local(&self, local: NaiveDateTime) -> Option<NaiveDateTime> {
        self.cron.find_next_occurrence(&local.and_utc(), true).ok().map(|d| d.naive_utc())
    }

    /// UTC offset of the schedule's zone at `t`.
    fn offset(&self, t: DateTime<Utc>) -> Duration {
        Duration::seconds(self.tz.offset_from_utc_datetime(&t.naive_utc()).fix().local_minus_utc().into())
    }

    /// The first instant in (from, to] whose offset differs from the offset at `from`.
    fn first_offset_change(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let offset = self.offset(from);
        let mut lo = from;
        // Coarse scan, then bisect to the exact second (transitions are on whole seconds).
        let mut hi = loop {
            if lo >= to {
                return None;
            }
            let probe = (lo + PROBE_STEP).min(to);
            if self.offset(probe) != offset {
                break probe;
            }
            lo = probe;
        };
        while hi - lo > SECOND {
            let mid = lo + (hi - lo) / 2;
            let mid = mid.trunc_subsecs(0);
            if self.offset(mid) == offset {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(hi)
    }

    /// If `t` falls within a gap's length after a spring-forward, the earliest matching wall time
    /// from that gap not yet due before `t`, at its shifted instant (wall time minus the offset in
    /// force before the gap).
    fn gap_fire_due(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let new = self.offset(t);
        let old = self.offset(t - MAX_GAP);
        let gap = new - old;
        // Not shortly after a spring-forward: either none in the window, or more than `gap` ago.
        if gap <= Duration::zero() || self.offset(t - gap) == new {
            return None;
        }
        let change = self.first_offset_change(t - gap, t)?;
        let gap_end = change.naive_utc() + new; // first wall time that exists again
        let local = self.next_local(t.naive_utc() + old)?;
        (local < gap_end).then(|| (local - old).and_utc())
    }

    /// `instant` shows wall time `local`, and an earlier instant showed it too.
    fn is_second_occurrence(&self, local: NaiveDateTime, instant: DateTime<Utc>) -> bool {
        matches!(self.tz.from_local_datetime(&local), LocalResult::Ambiguous(first, _) if first.with_timezone(&Utc) < instant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn sched(expr: &str, tz: &str) -> Schedule {
        Schedule::parse(expr, tz).unwrap()
    }

    fn fires(s: &Schedule, from: &str, to: &str) -> Vec<DateTime<Utc>> {
        s.fires_between(utc(from), utc(to))
    }

    fn utcs(list: &[&str]) -> Vec<DateTime<Utc>> {
        list.iter().map(|s| utc(s)).collect()
    }

    #[test]
    fn refuses_five_fields_with_hint_about_seconds() {
        let err = Schedule::parse("0 2 * * *", "UTC").unwrap_err();
        assert!(matches!(err, ScheduleError::Expression(_)));
        assert!(err.to_string().contains("seconds field is required"), "{err}");
    }

    #[test]
    fn refuses_year_field_nicknames_and_garbage() {
        for expr in ["0 0 2 * * * 2026", "@daily", "", "hello world", "0 0 25 * * *", "61 * * * * *", "0 0 0 * * FOO", "0 0 0 30 2 *"] {
            let err = Schedule::parse(expr, "UTC").unwrap_err();
            assert!(matches!(err, ScheduleError::Expression(_)), "{expr}: {err}");
        }
    }

    #[test]
    fn refuses_unknown_timezone() {
        let err = Schedule::parse("0 0 2 * * *", "Mars/Olympus").unwrap_err();
        assert!(matches!(err, ScheduleError::TimeZone(_)));
        assert!(err.to_string().contains("Mars/Olympus"));
    }

    #[test]
    fn accessors() {
        let s = sched(" 0 30 9 * * MON-FRI ", "America/New_York");
        assert_eq!(s.expression(), "0 30 9 * * MON-FRI");
        assert_eq!(s.timezone(), chrono_tz::America::New_York);
    }

    #[test]
    fn every_second_gives_consecutive_seconds() {
        let s = sched("* * * * * *", "UTC");
        let start = utc("2026-05-01T12:00:00Z");
        assert_eq!(s.next_after(start), Some(utc("2026-05-01T12:00:01Z")));
        // Sub-second `after`: the next whole second.
        let mid = utc("2026-05-01T12:00:00.5Z");
        assert_eq!(s.next_after(mid), Some(utc("2026-05-01T12:00:01Z")));
        let got = s.fires_between(start, start + Duration::seconds(5));
        assert_eq!(got, (1..=5).map(|i| start + Duration::seconds(i)).collect::<Vec<_>>());
    }

    #[test]
    fn every_second_over_an_hour_is_3600_fires() {
        let s = sched("* * * * * *", "Europe/London");
        let got = fires(&s, "2026-05-01T00:00:00Z", "2026-05-01T01:00:00Z");
        assert_eq!(got.len(), 3600);
        assert_eq!(got[0], utc("2026-05-01T00:00:01Z")); // from is exclusive
        assert_eq!(got[3599], utc("2026-05-01T01:00:00Z")); // to is inclusive
        assert!(got.windows(2).all(|w| w[1] - w[0] == SECOND));
    }

    #[test]
    fn every_second_across_fall_back_counts_real_seconds() {
        // New York 2026-11-01: 01:00-02:00 local happens twice; 04:00Z..08:00Z is 4 real hours.
        let s = sched("* * * * * *", "America/New_York");
        let got = fires(&s, "2026-11-01T04:00:00Z", "2026-11-01T08:00:00Z");
        assert_eq!(got.len(), 4 * 3600);
        assert!(got.windows(2).all(|w| w[1] - w[0] == SECOND));
    }

    #[test]
    fn every_five_seconds_across_spring_forward() {
        let s = sched("*/5 * * * * *", "America/New_York");
        let got = fires(&s, "2026-03-08T06:00:00Z", "2026-03-08T08:00:00Z");
        assert_eq!(got.len(), 2 * 720);
        assert!(got.windows(2).all(|w| w[1] - w[0] == Duration::seconds(5)));
    }

    #[test]
    fn fires_between_boundaries() {
        let s = sched("0 0 * * * *", "UTC");
        let got = fires(&s, "2026-05-01T00:00:00Z", "2026-05-01T03:00:00Z");
        assert_eq!(got, utcs(&["2026-05-01T01:00:00Z", "2026-05-01T02:00:00Z", "2026-05-01T03:00:00Z"]));
        assert!(fires(&s, "2026-05-01T03:00:00Z", "2026-05-01T03:00:00Z").is_empty());
        assert!(fires(&s, "2026-05-01T04:00:00Z", "2026-05-01T03:00:00Z").is_empty());
    }

    #[test]
    fn tokyo_daily_2am_is_17_utc_previous_day() {
        let s = sched("0 0 2 * * *", "Asia/Tokyo");
        assert_eq!(s.next_after(utc("2026-05-01T00:00:00Z")), Some(utc("2026-05-01T17:00:00Z")));
        assert_eq!(s.next_after(utc("2026-05-01T17:00:00Z")), Some(utc("2026-05-02T17:00:00Z")));
    }

    #[test]
    fn weekdays_only() {
        let s = sched("0 30 9 * * MON-FRI", "UTC");
        // 2026-05-01 is a Friday.
        assert_eq!(s.next_after(utc("2026-05-01T10:00:00Z")), Some(utc("2026-05-04T09:30:00Z")));
    }

    #[test]
    fn day_of_month_or_day_of_week() {
        // Vixie: both restricted => either matches. 2026-05-01 is a Friday, 05-04 a Monday.
        let s = sched("0 0 0 1 * MON", "UTC");
        let got = fires(&s, "2026-04-30T00:00:00Z", "2026-05-12T00:00:00Z");
        assert_eq!(got, utcs(&["2026-05-01T00:00:00Z", "2026-05-04T00:00:00Z", "2026-05-11T00:00:00Z"]));
    }

    // --- Fall back: New York 2026-11-01 02:00 EDT -> 01:00 EST (06:00Z). ---

    #[test]
    fn fixed_time_in_repeated_hour_fires_once_at_first_occurrence() {
        let s = sched("0 30 1 * * *", "America/New_York");
        assert_eq!(s.next_after(utc("2026-10-31T12:00:00Z")), Some(utc("2026-11-01T05:30:00Z")));
        assert_eq!(s.next_after(utc("2026-11-01T05:30:00Z")), Some(utc("2026-11-02T06:30:00Z")));
        // Starting inside the second pass (01:00 EST) must not go back nor fire 06:30Z.
        assert_eq!(s.next_after(utc("2026-11-01T06:00:00Z")), Some(utc("2026-11-02T06:30:00Z")));
    }

    #[test]
    fn fixed_hour_with_several_minutes_fires_once_each() {
        let s = sched("0 0,30 1 * * *", "America/New_York");
        let got = fires(&s, "2026-11-01T00:00:00Z", "2026-11-01T12:00:00Z");
        assert_eq!(got, utcs(&["2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z"]));
    }

    #[test]
    fn wildcard_hour_keeps_firing_through_repeated_hour() {
        let hourly = sched("0 0 * * * *", "America/New_York");
        let got = fires(&hourly, "2026-11-01T04:30:00Z", "2026-11-01T08:00:00Z");
        assert_eq!(got, utcs(&["2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z", "2026-11-01T08:00:00Z"]));

        let quarter = sched("0 */15 * * * *", "America/New_York");
        let got = fires(&quarter, "2026-11-01T04:00:00Z", "2026-11-01T08:00:00Z");
        assert_eq!(got.len(), 16);
        assert!(got.windows(2).all(|w| w[1] - w[0] == Duration::minutes(15)));
        // From inside the second pass: next is 15 real minutes on, not back in the first pass.
        assert_eq!(quarter.next_after(utc("2026-11-01T06:10:00Z")), Some(utc("2026-11-01T06:15:00Z")));
        // From the end of the first pass: the second pass starts right after.
        assert_eq!(quarter.next_after(utc("2026-11-01T05:50:00Z")), Some(utc("2026-11-01T06:00:00Z")));
    }

    // --- Spring forward: New York 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z). ---

    #[test]
    fn skipped_fixed_time_fires_shifted_by_the_gap() {
        let s = sched("0 30 2 * * *", "America/New_York");
        assert_eq!(s.next_after(utc("2026-03-07T12:00:00Z")), Some(utc("2026-03-08T07:30:00Z")));
        assert_eq!(s.next_after(utc("2026-03-08T07:30:00Z")), Some(utc("2026-03-09T06:30:00Z")));
        // Starting within the shifted window still finds it.
        assert_eq!(s.next_after(utc("2026-03-08T07:10:00Z")), Some(utc("2026-03-08T07:30:00Z")));
        // Multi-valued hour field is a wall-clock schedule too (croner would drop 02:30).
        let twice = sched("0 30 2,14 * * *", "America/New_York");
        let got = fires(&twice, "2026-03-07T20:00:00Z", "2026-03-08T20:00:00Z");
        assert_eq!(got, utcs(&["2026-03-08T07:30:00Z", "2026-03-08T18:30:00Z"]));
    }

    #[test]
    fn shifted_fire_coinciding_with_regular_fire_fires_once() {
        // 02:30 (skipped) shifts to 03:30 EDT, which is also a regular fire.
        let s = sched("0 30 2,3 * * *", "America/New_York");
        let got = fires(&s, "2026-03-08T00:00:00Z", "2026-03-08T12:00:00Z");
        assert_eq!(got, utcs(&["2026-03-08T07:30:00Z"]));
    }

    #[test]
    fn wildcard_hour_skips_nonexistent_times() {
        let s = sched("0 */15 * * * *", "America/New_York");
        let got = fires(&s, "2026-03-08T06:00:00Z", "2026-03-08T08:00:00Z");
        assert_eq!(got.len(), 8);
        assert!(got.windows(2).all(|w| w[1] - w[0] == Duration::minutes(15)));
    }

    #[test]
    fn london_spring_forward_and_fall_back() {
        let s = sched("0 30 1 * * *", "Europe/London");
        // 2026-03-29 01:00 GMT -> 02:00 BST: 01:30 fires at 02:30 BST = 01:30Z.
        assert_eq!(s.next_after(utc("2026-03-28T12:00:00Z")), Some(utc("2026-03-29T01:30:00Z")));
        // 2026-10-25 02:00 BST -> 01:00 GMT: 01:30 fires once, at 01:30 BST = 00:30Z.
        let got = fires(&s, "2026-10-24T12:00:00Z", "2026-10-26T00:00:00Z");
        assert_eq!(got, utcs(&["2026-10-25T00:30:00Z"]));
    }

    #[test]
    fn daily_fires_once_per_local_day_across_transitions() {
        // Two weeks around each transition, noon UTC to noon UTC: 14 local days, 14 fires.
        for (tz, expr, from, to) in [
            ("America/New_York", "0 30 2 * * *", "2026-03-01T12:00:00Z", "2026-03-15T12:00:00Z"),
            ("America/New_York", "0 30 1 * * *", "2026-10-25T12:00:00Z", "2026-11-08T12:00:00Z"),
            ("Europe/London", "0 30 1 * * *", "2026-03-22T12:00:00Z", "2026-04-05T12:00:00Z"),
            ("Europe/London", "0 30 1 * * *", "2026-10-18T12:00:00Z", "2026-11-01T12:00:00Z"),
        ] {
            let s = sched(expr, tz);
            let got = fires(&s, from, to);
            assert_eq!(got.len(), 14, "{tz} {expr}: {got:?}");
            let tz = s.timezone();
            let days: Vec<_> = got.iter().map(|f| f.with_timezone(&tz).date_naive()).collect();
            assert!(days.windows(2).all(|w| w[1] == w[0].succ_opt().unwrap()), "{tz} {expr}: {days:?}");
        }
    }

    #[test]
    fn next_after_is_strictly_after_and_increasing_over_a_year() {
        for expr in ["0 30 1 * * *", "0 30 2 * * *", "0 */20 * * * *", "0 0,30 1-2 * * *"] {
            let s = sched(expr, "America/New_York");
            let got = fires(&s, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
            assert!(got.windows(2).all(|w| w[0] < w[1]), "{expr}");
        }
    }
}
