//! The `cron_schedule` target: a schedule parsed in a time zone, then its fire times walked.

use super::*;

/// Instants a schedule is walked from when the input names none: around daylight-saving
/// changes in several zones, a date-line jump, a leap day.
const STARTS: &[&str] =
    &["2026-03-08T06:00:00Z", "2026-11-01T04:00:00Z", "2026-03-29T00:00:00Z", "2011-12-29T09:00:00Z", "2028-02-28T12:00:00Z"];

/// Fires looked at from each start, and the longest window `fires_between` covers.
const FIRES: usize = 12;
const WINDOW: Duration = Duration::days(3);

/// A cron schedule, lines `expression`, `time zone` (default UTC) and optionally a start
/// (RFC 3339, between 1970 and 2200, as now or a saved last fire would be): parsed as a cron
/// source file's is, then walked fire by fire and over a window, as the cron source and its
/// catch-up do. Each fire must be strictly after the instant it was asked from (else the cron
/// loop would stand still or go back).
pub fn cron_schedule(data: &[u8]) {
    let input = text(data);
    let mut lines = input.lines();
    let expression = lines.next().unwrap_or_default();
    let timezone = lines.next().unwrap_or("UTC");
    let Ok(schedule) = Schedule::parse(expression, timezone) else { return };
    std::hint::black_box((schedule.expression(), schedule.timezone()));
    let given = lines
        .next()
        .and_then(|s| DateTime::parse_from_rfc3339(s.trim()).ok())
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| (1970..=2200).contains(&chrono::Datelike::year(t)));
    let starts: Vec<DateTime<Utc>> = match given {
        Some(t) => vec![t],
        None => STARTS.iter().map(|s| s.parse().expect("valid start")).collect(),
    };
    for start in starts {
        let mut cursor = start;
        let mut fires = Vec::new();
        while fires.len() < FIRES {
            let Some(next) = schedule.next_after(cursor) else { break };
            assert!(next > cursor, "`{expression}` in {timezone}: next fire after {cursor} is {next}, not later");
            fires.push(next);
            cursor = next;
        }
        let end = fires.last().copied().unwrap_or(start + WINDOW).min(start + WINDOW);
        let between = schedule.fires_between(start, end);
        assert!(between.windows(2).all(|w| w[0] < w[1]), "`{expression}` in {timezone}: fires between {start} and {end} out of order");
        assert!(between.iter().all(|t| *t > start && *t <= end), "`{expression}` in {timezone}: a fire outside ({start}, {end}]");
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration files
