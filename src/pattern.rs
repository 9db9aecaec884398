//! TEMPORARY stub, replaced by the event-pattern matcher.
#[derive(Debug, Clone)]
pub struct Pattern(serde_json::Value);
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PatternError { pub path: String, pub message: String }
impl Pattern {
    pub fn parse_str(json: &str) -> Result<Pattern, PatternError> {
        serde_json::from_str(json).map(Pattern).map_err(|e| PatternError { path: String::new(), message: e.to_string() })
    }
    pub fn matches(&self, _event: &serde_json::Value) -> bool { true }
}
