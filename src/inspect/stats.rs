//! `fanin dlq stats`: counts by target, condition and error type, with the oldest and newest
//! of each.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::render::{header_json, header_text, pretty, table, time, time_text};
use super::{Format, Read};

struct Group<'a> {
    count: usize,
    oldest: Option<DateTime<Utc>>,
    newest: Option<DateTime<Utc>>,
    first: &'a str,
    last: &'a str,
}

pub(super) fn stats(read: &Read, format: Format) -> String {
    type Key<'a> = (Option<&'a str>, &'a str, Option<&'a str>);
    let mut groups: BTreeMap<Key, Group> = BTreeMap::new();
    for row in &read.rows {
        let key = (row.target.as_deref(), row.condition.as_str(), row.error_type.as_deref());
        let g = groups.entry(key).or_insert(Group { count: 0, oldest: None, newest: None, first: &row.event_id, last: "" });
        g.count += 1;
        g.oldest = min_time(g.oldest, row.timestamp);
        g.newest = g.newest.max(row.timestamp);
        g.last = &row.event_id;
    }
    let oldest = read.rows.iter().filter_map(|r| r.timestamp).min();
    let newest = read.rows.iter().filter_map(|r| r.timestamp).max();
    if format == Format::Json {
        let mut doc = header_json(read);
        doc.insert("total".into(), json!({"count": read.rows.len(), "oldest": time(oldest), "newest": time(newest)}));
        let groups: Vec<Value> = groups
            .iter()
            .map(|((target, condition, error_type), g)| {
                json!({"target": target, "condition": condition, "errorType": error_type, "count": g.count,
                       "oldest": time(g.oldest), "newest": time(g.newest), "firstEventId": g.first, "lastEventId": g.last})
            })
            .collect();
        doc.insert("groups".into(), Value::Array(groups));
        return pretty(&Value::Object(doc));
    }
    let mut out = header_text(read);
    if read.rows.is_empty() {
        out.push_str("no dead letters\n");
    } else {
        let mut cells = vec![["TARGET", "CONDITION", "ERROR TYPE", "COUNT", "OLDEST", "NEWEST"].map(String::from).to_vec()];
        for ((target, condition, error_type), g) in &groups {
            cells.push(vec![
                target.unwrap_or("-").to_string(),
                condition.to_string(),
                error_type.unwrap_or("-").to_string(),
                g.count.to_string(),
                time_text(g.oldest),
                time_text(g.newest),
            ]);
        }
        cells.push(vec!["total".into(), String::new(), String::new(), read.rows.len().to_string(), time_text(oldest), time_text(newest)]);
        let lines = table(&cells, &[3]);
        let last = lines.len() - 1;
        for (n, line) in lines.iter().enumerate() {
            out.push_str(line.trim_end());
            out.push('\n');
            if n > 0 && n < last {
                let g = groups.values().nth(n - 1).expect("one line per group");
                out.push_str(&format!("    first {}  last {}\n", g.first, g.last));
            }
        }
    }
    if !read.unreadable.is_empty() {
        out.push_str(&format!("unreadable, skipped: {}\n", read.unreadable.len()));
        for e in &read.unreadable {
            out.push_str(&format!("  {e}\n"));
        }
    }
    out
}

/// The earlier of two times, where there is one.
pub(super) fn min_time(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
