//! The `route_pattern` target: an event pattern parsed, then matched against events.

use super::*;

/// A route filter: compiled, then matched against fixed events and against the events that
/// follow it in the input (after `%%` lines).
pub fn route_pattern(data: &[u8]) {
    let parts = parts(data);
    let Ok(pattern) = Pattern::parse_str(&text(parts[0])) else { return };
    for event in fixed_events() {
        std::hint::black_box(pattern.matches(event));
    }
    for event in &parts[1..] {
        if let Ok(event) = serde_json::from_slice::<Value>(event) {
            std::hint::black_box(pattern.matches(&event));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Cron
