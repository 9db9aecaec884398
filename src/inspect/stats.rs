//! `fanin dlq stats`: counts by target, condition and error type, with the oldest and newest
//! of each, counted as the store is read: it holds one entry per group, whatever the store holds.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::render::{header_json, header_text, pretty, table, time, time_text};
use super::{Format, ListKey, Read, Row};

struct Group {
    count: usize,
    oldest: Option<DateTime<Utc>>,
    newest: Option<DateTime<Utc>>,
    /// The first and last record in list order: its place and event id.
    first: ListKey,
    last: ListKey,
}

/// (target, condition, error type).
type GroupKey = (Option<String>, String, Option<String>);

#[derive(Default)]
pub(super) struct Stats {
    groups: BTreeMap<GroupKey, Group>,
    count: usize,
    oldest: Option<DateTime<Utc>>,
    newest: Option<DateTime<Utc>>,
}

impl Stats {
    pub(super) fn add(&mut self, row: Row) {
        self.count += 1;
        self.oldest = min_time(self.oldest, row.timestamp);
        self.newest = self.newest.max(row.timestamp);
        let place = row.key();
        let g = self.groups.entry((row.target, row.condition, row.error_type)).or_insert_with(|| Group {
            count: 0,
            oldest: None,
            newest: None,
            first: place.clone(),
            last: place.clone(),
        });
        g.count += 1;
        g.oldest = min_time(g.oldest, row.timestamp);
        g.newest = g.newest.max(row.timestamp);
        if place < g.first {
            g.first = place;
        } else if place > g.last {
            g.last = place;
        }
    }

    pub(super) fn render(&self, read: &Read, format: Format) -> String {
        let (oldest, newest) = (self.oldest, self.newest);
        if format == Format::Json {
            let mut doc = header_json(read);
            doc.insert("total".into(), json!({"count": self.count, "oldest": time(oldest), "newest": time(newest)}));
            let groups: Vec<Value> = self
                .groups
                .iter()
                .map(|((target, condition, error_type), g)| {
                    json!({"target": target, "condition": condition, "errorType": error_type, "count": g.count,
                           "oldest": time(g.oldest), "newest": time(g.newest), "firstEventId": g.first.2, "lastEventId": g.last.2})
                })
                .collect();
            doc.insert("groups".into(), Value::Array(groups));
            return pretty(&Value::Object(doc));
        }
        let mut out = header_text(read);
        if self.count == 0 {
            out.push_str("no dead letters\n");
        } else {
            let mut cells = vec![["TARGET", "CONDITION", "ERROR TYPE", "COUNT", "OLDEST", "NEWEST"].map(String::from).to_vec()];
            for ((target, condition, error_type), g) in &self.groups {
                cells.push(vec![
                    target.as_deref().unwrap_or("-").to_string(),
                    condition.to_string(),
                    error_type.as_deref().unwrap_or("-").to_string(),
                    g.count.to_string(),
                    time_text(g.oldest),
                    time_text(g.newest),
                ]);
            }
            cells.push(vec!["total".into(), String::new(), String::new(), self.count.to_string(), time_text(oldest), time_text(newest)]);
            let lines = table(&cells, &[3]);
            let last = lines.len() - 1;
            for (n, line) in lines.iter().enumerate() {
                out.push_str(line.trim_end());
                out.push('\n');
                if n > 0 && n < last {
                    let g = self.groups.values().nth(n - 1).expect("one line per group");
                    out.push_str(&format!("    first {}  last {}\n", g.first.2, g.last.2));
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
}

/// The earlier of two times, where there is one.
pub(super) fn min_time(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
