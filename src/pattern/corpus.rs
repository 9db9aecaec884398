//! The shared conformance corpus, run whole: every case of `../shared/conformance/` (cases
//! recorded against EventBridge, taken from its documentation, and from the tests of the
//! event-ruler engine behind it) compiled and matched, and the disagreements listed.
//!
//! The corpus is not part of this repository (it is derived from other projects' tests); it
//! sits beside the checkout in development and CI. Without it the test says so and passes.

use std::path::PathBuf;

use serde_json::Value;

use super::Pattern;

fn corpus_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance");
    dir.join("eventbridge-patterns.json").is_file().then_some(dir)
}

fn read(dir: &std::path::Path, file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The pattern of a case: its raw text when it repeats a key (the parsed value would have
/// lost the repetition), else its JSON value.
fn compile(case: &Value) -> Result<Pattern, super::PatternError> {
    match case.get("pattern_text").and_then(Value::as_str) {
        Some(text) => Pattern::parse_str(text),
        None => Pattern::parse(&case["pattern"]),
    }
}

#[test]
fn the_whole_corpus_agrees() {
    let Some(dir) = corpus_dir() else {
        eprintln!(
            "SKIPPED: the conformance corpus is not at ../shared/conformance beside the crate; \
             nothing to compare with"
        );
        return;
    };
    let cases = read(&dir, "eventbridge-patterns.json");
    let refused = read(&dir, "eventbridge-patterns-invalid.json");
    let mut disagreements = Vec::new();
    for case in &cases {
        let id = case["id"].as_str().unwrap_or("?");
        let want = case["match"].as_bool().expect("a case says whether it matches");
        match compile(case) {
            Ok(pattern) => {
                let got = pattern.matches(&case["event"]);
                if got != want {
                    disagreements.push(format!("{id}: expected {want}, got {got}"));
                }
            }
            Err(e) => disagreements.push(format!("{id}: expected {want}, refused ({e})")),
        }
    }
    for case in &refused {
        let id = case["id"].as_str().unwrap_or("?");
        if compile(case).is_ok() {
            let aws = case["aws_error"].as_str().unwrap_or("");
            disagreements.push(format!("{id}: accepted, EventBridge refuses it ({aws})"));
        }
    }
    let total = cases.len() + refused.len();
    eprintln!("conformance corpus: {} of {total} cases agree", total - disagreements.len());
    for d in &disagreements {
        eprintln!("  disagrees: {d}");
    }
    assert!(disagreements.is_empty(), "{} cases disagree (listed above)", disagreements.len());
}
