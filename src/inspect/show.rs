//! `fanin dlq show`: one record, found by number or event id, with its fields and the record
//! as stored.

use serde_json::Value;

use super::list::entry;
use super::render::{header_json, pretty, time_text};
use super::{Format, Read, Row, ShowArgs};

pub(super) fn show_one(read: &Read, args: &ShowArgs, format: Format) -> Result<String, String> {
    let with_id: Vec<&Row> = read.rows.iter().filter(|r| args.id.as_ref().is_none_or(|id| &r.event_id == id)).collect();
    let row = match args.index {
        Some(n) => with_id.iter().find(|r| r.index as u64 == n).copied(),
        None => with_id.first().copied(),
    };
    let Some(row) = row else {
        let which = match (&args.id, args.index) {
            (Some(id), Some(n)) => format!("record {n} with event id {id:?}"),
            (Some(id), None) => format!("record with event id {id:?}"),
            (None, n) => format!("record {}", n.unwrap_or_default()),
        };
        return Err(format!("no {which} among the {} selected from {}", read.rows.len(), read.from));
    };
    if args.index.is_none() && with_id.len() > 1 {
        let others: Vec<String> = with_id[1..].iter().map(|r| r.index.to_string()).collect();
        eprintln!(
            "fanin: {} records have event id {:?}; showing number {}; the others are number {}",
            with_id.len(),
            row.event_id,
            row.index,
            others.join(", ")
        );
    }
    if format == Format::Json {
        let mut doc = header_json(read);
        doc.extend(entry(row));
        doc.insert("record".into(), row.record.clone());
        return Ok(pretty(&Value::Object(doc)));
    }
    let mut out = format!("record {} of {} selected from {}\n", row.index, read.rows.len(), read.from);
    let fields = [
        ("event id", Some(row.event_id.clone())),
        ("timestamp", Some(time_text(row.timestamp))),
        ("target", row.target.clone()),
        ("function", row.function.clone()),
        ("condition", Some(row.condition.clone())),
        ("error type", row.error_type.clone()),
        ("source", Some(row.source.clone())),
        ("format", Some(row.format.to_string())),
        ("replay count", Some(row.replay_count.to_string())),
        ("location", row.location.clone()),
    ];
    for (name, value) in fields {
        out.push_str(&format!("  {:<13} {}\n", format!("{name}:"), value.as_deref().unwrap_or("-")));
    }
    out.push_str(if row.format == "legacy" { "message body (the event as sent):\n" } else { "record:\n" });
    out.push_str(&pretty_record(&row.record));
    Ok(out)
}

/// A record pretty-printed with its parts in the order Lambda writes them, not alphabetical.
pub(super) fn pretty_record(record: &Value) -> String {
    const ORDER: [&str; 7] = ["version", "timestamp", "requestContext", "requestPayload", "responseContext", "responsePayload", "fanin"];
    let Value::Object(m) = record else { return pretty(record) };
    let keys: Vec<&str> =
        ORDER.iter().copied().filter(|k| m.contains_key(*k)).chain(m.keys().map(String::as_str).filter(|k| !ORDER.contains(k))).collect();
    if keys.is_empty() {
        return pretty(record);
    }
    let mut out = String::from("{\n");
    for (n, key) in keys.iter().enumerate() {
        let value = serde_json::to_string_pretty(&m[*key]).expect("JSON values print").replace('\n', "\n  ");
        let comma = if n + 1 < keys.len() { "," } else { "" };
        out.push_str(&format!("  {}: {value}{comma}\n", Value::String(key.to_string())));
    }
    out.push_str("}\n");
    out
}
