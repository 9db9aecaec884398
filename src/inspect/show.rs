//! `fanin dlq show`: one record, found by number or event id, with its fields and the record
//! as stored. It holds only the candidates as the store is read (`Finder`).

use serde_json::Value;

use super::list::entry;
use super::render::{header_json, pretty, time_text};
use std::collections::BinaryHeap;

use super::{Format, ListKey, Read, Row, ShowArgs};

/// Finds the record `show` asks for as the store is read, holding only candidates: with
/// `--id`, the records of that event id (and every record's place in list order, for their
/// numbers); with a number N alone, the N first in list order.
pub(super) struct Finder<'a> {
    args: &'a ShowArgs,
    /// With `--id`: the list-order place of every selected record.
    places: Vec<ListKey>,
    /// With `--id`: its records. Without: the N first so far, the last on top.
    candidates: Vec<Row>,
    first_n: BinaryHeap<ByPlace>,
}

/// A row ordered by its place in list order.
struct ByPlace(ListKey, Row);

impl PartialEq for ByPlace {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for ByPlace {}
impl PartialOrd for ByPlace {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ByPlace {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

impl<'a> Finder<'a> {
    pub(super) fn new(args: &'a ShowArgs) -> Self {
        Finder { args, places: Vec::new(), candidates: Vec::new(), first_n: BinaryHeap::new() }
    }

    pub(super) fn add(&mut self, row: Row) {
        match (&self.args.id, self.args.index) {
            (Some(id), _) => {
                self.places.push(row.key());
                if &row.event_id == id {
                    self.candidates.push(row);
                }
            }
            (None, Some(n)) => {
                self.first_n.push(ByPlace(row.key(), row));
                if self.first_n.len() as u64 > n {
                    self.first_n.pop();
                }
            }
            (None, None) => {}
        }
    }

    /// The record, numbered, printed.
    pub(super) fn show(mut self, read: &Read, format: Format) -> Result<String, String> {
        let args = self.args;
        let with_id: Vec<Row> = if args.id.is_some() {
            self.places.sort_unstable();
            let mut rows = std::mem::take(&mut self.candidates);
            for row in &mut rows {
                row.index = self.places.partition_point(|p| p < &row.key()) + 1;
            }
            rows.sort_by_key(|r| r.index);
            rows
        } else {
            match self.first_n.pop() {
                Some(ByPlace(_, mut row)) if self.first_n.len() as u64 + 1 == args.index.unwrap_or(0) => {
                    row.index = args.index.unwrap_or(0) as usize;
                    vec![row]
                }
                _ => vec![],
            }
        };
        let row = match args.index {
            Some(n) => with_id.iter().find(|r| r.index as u64 == n),
            None => with_id.first(),
        };
        let Some(row) = row else {
            let which = match (&args.id, args.index) {
                (Some(id), Some(n)) => format!("record {n} with event id {id:?}"),
                (Some(id), None) => format!("record with event id {id:?}"),
                (None, n) => format!("record {}", n.unwrap_or_default()),
            };
            return Err(format!("no {which} among the {} selected from {}", read.selected, read.from));
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
        let record = row.record.clone().unwrap_or(Value::Null);
        if format == Format::Json {
            let mut doc = header_json(read);
            doc.extend(entry(row));
            doc.insert("record".into(), record);
            return Ok(pretty(&Value::Object(doc)));
        }
        let mut out = format!("record {} of {} selected from {}\n", row.index, read.selected, read.from);
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
        out.push_str(&pretty_record(&record));
        Ok(out)
    }
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
