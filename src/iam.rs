//! `fanin iam-policy`: the least-privilege IAM policy a configuration needs. (Being built.)

use crate::config::Config;

/// The policy document.
pub fn policy(_config: &Config, _include_setup: bool) -> serde_json::Value {
    serde_json::json!({ "Version": "2012-10-17", "Statement": [] })
}
