//! Test support: the harness, the Lambda-compatible endpoint, and a fake SQS for benchmarks.

pub mod executing_moto;
pub mod fake_sqs;
pub mod harness;
pub mod lambda_endpoint;
#[cfg(test)]
mod selftest;
pub mod serve;

use std::time::Duration;

/// The message number `n` carried in `{"n": N}` bodies, from an SQS-shaped payload.
pub fn body_n(payload: &serde_json::Value) -> u64 {
    let body = payload["Records"][0]["body"].as_str().expect("an SQS record with a body");
    let body: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
    body["n"].as_u64().expect("a body with n")
}

/// `{"n": i}` for `i` in `0..count`.
pub fn numbered(count: usize) -> Vec<String> {
    (0..count).map(|i| serde_json::json!({ "n": i }).to_string()).collect()
}

/// Long enough for anything a test waits for on this 2-core machine, short enough to fail.
pub const PATIENCE: Duration = Duration::from_secs(120);
