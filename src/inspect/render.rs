//! What the `dlq` commands print alike: times, the header of what was read, pretty JSON and
//! aligned text tables.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::Read;

pub(super) fn time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true)))
}

pub(super) fn time_text(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".to_string(), |t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

pub(super) fn header_json(read: &Read) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("from".into(), json!(read.from));
    m.insert("read".into(), json!(read.read));
    m.insert("selected".into(), json!(read.selected));
    m.insert("unreadable".into(), json!(read.unreadable));
    m.insert("complete".into(), json!(read.complete));
    m
}

pub(super) fn header_text(read: &Read) -> String {
    format!("read {} dead letters from {} ({} unreadable); {} selected\n", read.read, read.from, read.unreadable.len(), read.selected)
}

pub(super) fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).expect("JSON values print") + "\n"
}

/// Left-aligned columns two spaces apart; the last column is not padded. `right` columns are
/// right-aligned.
pub(super) fn table(rows: &[Vec<String>], right: &[usize]) -> Vec<String> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> =
        (0..columns).map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0)).collect();
    rows.iter()
        .map(|r| {
            let mut line = String::new();
            for (c, cell) in r.iter().enumerate() {
                let pad = widths[c] - cell.chars().count();
                if c > 0 {
                    line.push_str("  ");
                }
                if right.contains(&c) {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    if c + 1 < r.len() {
                        line.push_str(&" ".repeat(pad));
                    }
                }
            }
            line
        })
        .collect()
}
