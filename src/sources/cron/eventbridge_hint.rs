//! EventBridge's schedule expressions (`cron(0 12 * * ? *)`, `rate(5 minutes)`) are what people
//! who run Lambda know; fanin's are six-field cron with seconds. A refusal shows the equivalent.

/// For an EventBridge `cron(…)` or `rate(…)` expression, why it is refused and what to write
/// instead; `None` for anything else.
pub fn hint(expression: &str) -> Option<String> {
    let e = expression.trim();
    if let Some(inner) = e.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
        let intro = format!("`{e}` is an EventBridge expression; fanin's has six fields: sec min hour day-of-month month day-of-week");
        return Some(match equivalent_cron(inner) {
            Some(six) => format!("{intro}: write `{six}`"),
            None => format!("{intro}, and no year field"),
        });
    }
    if let Some(inner) = e.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
        let intro =
            format!("`{e}` is an EventBridge rate; fanin's schedules are six-field cron: sec min hour day-of-month month day-of-week");
        return Some(match equivalent_rate(inner) {
            Some(six) => format!("{intro}: write `{six}`"),
            None => intro,
        });
    }
    None
}

/// EventBridge's `min hour dom month dow year` as fanin's `sec min hour dom month dow`: `?`
/// becomes `*`, and day-of-week numbers move from 1–7 (Sunday = 1) to 0–6 (Sunday = 0). Only a
/// year of `*` has an equivalent.
fn equivalent_cron(inner: &str) -> Option<String> {
    let f: Vec<&str> = inner.split_whitespace().collect();
    let [min, hour, dom, month, dow, year] = f.as_slice() else { return None };
    if *year != "*" {
        return None;
    }
    let any = |s: &str| if s == "?" { "*".to_string() } else { s.to_string() };
    Some(format!("0 {min} {hour} {} {month} {}", any(dom), day_numbers_from_zero(&any(dow))))
}

/// Each number in a day-of-week field one lower (`2-6` → `1-5`, `6#3` → `5#3`, `7L` → `6L`); the
/// number after `#` is a week, not a day, and stays.
fn day_numbers_from_zero(field: &str) -> String {
    let mut out = String::new();
    let mut chars = field.chars().peekable();
    let mut after_hash = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            let mut n = c.to_digit(10).unwrap_or(0);
            while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                n = n * 10 + d;
                chars.next();
            }
            let n = if after_hash { n } else { n.saturating_sub(1) };
            out.push_str(&n.to_string());
            after_hash = false;
        } else {
            after_hash = c == '#';
            out.push(c);
        }
    }
    out
}

/// `5 minutes` → `0 */5 * * * *`; a rate that does not divide its next unit evenly has no cron
/// equivalent.
fn equivalent_rate(inner: &str) -> Option<String> {
    let (n, unit) = inner.trim().split_once(' ')?;
    let n: u32 = n.parse().ok()?;
    let step = |n: u32| if n == 1 { "*".to_string() } else { format!("*/{n}") };
    match unit.trim().trim_end_matches('s') {
        "minute" if 60 % n == 0 => Some(format!("0 {} * * * *", step(n))),
        "hour" if 24 % n == 0 => Some(format!("0 0 {} * * *", step(n))),
        "day" if n == 1 => Some("0 0 0 * * *".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::hint;

    #[test]
    fn eventbridge_crons_get_their_six_field_equivalent() {
        let h = hint("cron(0 12 * * ? *)").unwrap();
        assert!(h.ends_with("write `0 0 12 * * *`"), "{h}");
        assert!(hint("cron(15 10 ? * 6L 2026)").unwrap().ends_with("and no year field"));
        assert!(hint("cron(0/15 8-17 ? * 2-6 *)").unwrap().ends_with("write `0 0/15 8-17 * * 1-5`"));
        assert!(hint("cron(0 9 ? * 6#3 *)").unwrap().ends_with("write `0 0 9 * * 5#3`"));
        assert!(hint("cron(0 9 ? * MON-FRI *)").unwrap().ends_with("write `0 0 9 * * MON-FRI`"));
    }

    #[test]
    fn eventbridge_rates_get_their_cron_equivalent() {
        assert!(hint("rate(5 minutes)").unwrap().ends_with("write `0 */5 * * * *`"));
        assert!(hint("rate(1 hour)").unwrap().ends_with("write `0 0 * * * *`"));
        assert!(hint("rate(7 minutes)").unwrap().ends_with("day-of-week"));
    }

    #[test]
    fn fanins_own_expressions_get_no_hint() {
        assert_eq!(hint("0 0 12 * * *"), None);
    }
}
