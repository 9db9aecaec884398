//! `fanin dlq list`: one line (or JSON entry) per record, in list order. To sort, it holds a
//! row per selected record (its fields, not the record).

use serde_json::{json, Value};

use super::render::{header_json, header_text, pretty, table, time, time_text};
use super::{Format, Read, Row};

pub(super) fn entry(row: &Row) -> serde_json::Map<String, Value> {
    let v = json!({
        "index": row.index, "timestamp": time(row.timestamp), "target": row.target, "function": row.function,
        "condition": row.condition, "errorType": row.error_type, "eventId": row.event_id, "source": row.source,
        "format": row.format, "replayCount": row.replay_count, "location": row.location,
    });
    let Value::Object(m) = v else { unreachable!("an object") };
    m
}

pub(super) fn list(read: &Read, rows: &[Row], format: Format) -> String {
    if format == Format::Json {
        let mut doc = header_json(read);
        doc.insert("records".into(), Value::Array(rows.iter().map(|r| Value::Object(entry(r))).collect()));
        return pretty(&Value::Object(doc));
    }
    let mut out = header_text(read);
    if rows.is_empty() {
        out.push_str("no dead letters\n");
        return out;
    }
    let mut cells = vec![["#", "TIMESTAMP", "TARGET", "CONDITION", "ERROR TYPE", "EVENT ID", "SOURCE"].map(String::from).to_vec()];
    for r in rows {
        cells.push(vec![
            r.index.to_string(),
            time_text(r.timestamp),
            r.target.clone().unwrap_or_else(|| "-".into()),
            r.condition.clone(),
            r.error_type.clone().unwrap_or_else(|| "-".into()),
            r.event_id.clone(),
            r.source.clone(),
        ]);
    }
    for line in table(&cells, &[0]) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}
