//! Table layout, the order of a shown record's parts, and the earliest of optional times.

use super::*;
use serde_json::json;

use super::render::table;
use super::show::pretty_record;
use super::stats::min_time;

#[test]
fn tables_align_and_do_not_pad_the_last_column() {
    let rows = vec![vec!["#".into(), "NAME".into(), "X".into()], vec!["10".into(), "a".into(), "long".into()]];
    assert_eq!(table(&rows, &[0]), vec![" #  NAME  X", "10  a     long"]);
}

#[test]
fn a_shown_record_is_json_in_lambdas_order() {
    let record = json!({"fanin": {"b": 1, "a": [1, 2]}, "version": "1.0", "other": null, "requestPayload": {"x": "y\nz"}});
    let text = pretty_record(&record);
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), record);
    let at = |k: &str| text.find(&format!("\n  \"{k}\"")).unwrap();
    assert!(at("version") < at("requestPayload") && at("requestPayload") < at("fanin") && at("fanin") < at("other"), "{text}");
    assert_eq!(pretty_record(&json!({})), "{}\n");
    assert_eq!(pretty_record(&json!([1])), "[\n  1\n]\n");
}

#[test]
fn the_earliest_time_ignores_missing_ones() {
    let t = DateTime::parse_from_rfc3339("2026-11-26T01:02:03Z").unwrap().with_timezone(&Utc);
    assert_eq!(min_time(None, Some(t)), Some(t));
    assert_eq!(min_time(Some(t), None), Some(t));
    assert_eq!(min_time(None, None), None);
}
