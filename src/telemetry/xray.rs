//! X-Ray trace headers: the `AWSTraceHeader` an SQS message arrived with travels on as the
//! invoke's `X-Amzn-Trace-Id`, so the function's invocation joins the producer's trace as with
//! Lambda's own SQS trigger; `[tracing] start_traces` gives events that came without one (cron,
//! polled alarms) a new trace id in X-Ray's format.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;

/// The HTTP header a trace travels in (Lambda Invoke, function URLs).
pub const HEADER: &str = "x-amzn-trace-id";

/// X-Ray's limit on a trace header's length: longer ones are not passed on.
pub const MAX_HEADER_LEN: usize = 1024;

/// `[tracing]`: what fanin does about traces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracingSettings {
    /// Start a new X-Ray trace (`Root=1-…`, no sampling decision: Lambda's own sampling decides)
    /// for each event that arrived without a trace header: cron fires, polled alarms, SQS
    /// messages sent without `AWSTraceHeader`. Off: such invocations start their own traces.
    pub start_traces: bool,
}

static START_TRACES: AtomicBool = AtomicBool::new(false);

/// Whether events without a trace get a new one (`[tracing] start_traces`).
pub fn start_traces() -> bool {
    START_TRACES.load(Ordering::Relaxed)
}

pub fn set_start_traces(on: bool) {
    START_TRACES.store(on, Ordering::Relaxed);
}

/// A new trace header, `Root=1-<epoch seconds, 8 hex>-<96 random bits, 24 hex>`, as X-Ray's
/// SDKs make one.
pub fn new_trace_header(now: SystemTime) -> String {
    let seconds = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default() as u32;
    let random: [u8; 12] = rand::random();
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("Root=1-{seconds:08x}-{hex}")
}

/// The header an event's trace is passed on in, when it can be: visible ASCII and not over
/// X-Ray's limit (an `AWSTraceHeader` is whatever the producer sent).
pub fn header_value(trace: &str) -> Option<hyper::header::HeaderValue> {
    if trace.is_empty() || trace.len() > MAX_HEADER_LEN {
        return None;
    }
    hyper::header::HeaderValue::from_str(trace).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_new_trace_header_is_in_x_rays_format_with_the_time_in_front() {
        let at = UNIX_EPOCH + Duration::from_secs(0x6939_a2b0);
        let header = new_trace_header(at);
        let (root, id) = header.split_at("Root=1-6939a2b0-".len());
        assert_eq!(root, "Root=1-6939a2b0-");
        assert!(id.len() == 24 && id.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{header}");
        assert_ne!(new_trace_header(at), header, "random ids");
    }

    #[test]
    fn only_a_trace_a_header_can_carry_is_passed_on() {
        assert!(header_value("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1").is_some());
        assert!(header_value("").is_none());
        assert!(header_value("Root=1\nx").is_none());
        assert!(header_value(&"x".repeat(MAX_HEADER_LEN + 1)).is_none());
    }
}
