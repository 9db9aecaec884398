//! The queue settings every queue-fed source type shares, and the checks they must pass.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::config::limits::{at_most, duration_between, http_url};
use crate::config::{deserialize_at, ConfigError};
use crate::sources::sqs::SqsShape;
use crate::sources::task_token::TokenPath;
use crate::sources::SourceKind;

use super::Origin;

/// The queue settings of `type = "sqs"` and of every AWS type that reads a queue.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqsSettings {
    /// The queue's URL (standard or `.fifo`).
    pub queue_url: String,
    /// `sqs`: Lambda's SQS event with one record; `body`: the body, which must be JSON.
    #[serde(default)]
    pub shape: SqsShape,
    /// Concurrent long-polling receivers.
    #[serde(default = "default_pollers")]
    pub pollers: usize,
    /// Messages per receive, 1 to 10.
    #[serde(default = "default_batch_size")]
    pub batch_size: i32,
    /// Long-poll wait, at most 20 s.
    #[serde(default = "default_wait_time", deserialize_with = "crate::config::duration")]
    pub wait_time: Duration,
    /// Visibility timeout asked for on receive and renewed while an event waits or retries.
    #[serde(default = "default_visibility_timeout", deserialize_with = "crate::config::duration")]
    pub visibility_timeout: Duration,
    /// Where each message's Step Functions task token sits in its body (`"$.TaskToken"`, where
    /// `sqs:sendMessage.waitForTaskToken` puts it): fanin completes the task before the delete,
    /// with a `RequestResponse` answer, or with the failure when the event is dead-lettered.
    #[serde(default)]
    pub task_token: Option<TokenPath>,
    /// With `task_token`: `SendTaskHeartbeat` this often while the event is in flight or waits
    /// for a retry (shorter than the state's `HeartbeatSeconds`).
    #[serde(default, deserialize_with = "crate::config::optional_duration")]
    pub heartbeat: Option<Duration>,
    /// For the `s3`, `sns`, `eventbridge` and `cloudwatch_alarm` types: which AWS service
    /// delivers to the queue, so messages become the events its own Lambda trigger would give.
    #[serde(skip)]
    pub origin: Option<Origin>,
}

/// The most long-polling receivers one source may run: each holds a connection and a task,
/// and a thousand receive far more than any one queue delivers.
pub const MAX_POLLERS: u64 = 1000;

/// `heartbeat`: Step Functions' `HeartbeatSeconds` is at least one second, and a task waits at
/// most a year; an hour between heartbeats is past any use.
pub const MIN_HEARTBEAT: Duration = Duration::from_secs(1);
pub const MAX_HEARTBEAT: Duration = Duration::from_secs(3600);

fn default_pollers() -> usize {
    2
}
fn default_batch_size() -> i32 {
    10
}
fn default_wait_time() -> Duration {
    Duration::from_secs(20)
}
fn default_visibility_timeout() -> Duration {
    Duration::from_secs(30)
}

impl SqsSettings {
    /// A source of an AWS service that delivers to a queue: the queue settings of
    /// `type = "sqs"` (but `shape`, which the service decides), plus where messages come from.
    pub fn fed_by(path: &Path, table: toml::Table, origin: Origin) -> Result<SourceKind, ConfigError> {
        if table.contains_key("shape") {
            return Err(ConfigError::new(path, "shape", "only sqs and s3 sources have a shape"));
        }
        let mut settings: SqsSettings = deserialize_at(path, "", toml::Value::Table(table))?;
        settings.origin = Some(origin);
        Ok(SourceKind::Sqs(settings))
    }

    /// Refuses what SQS would refuse, naming the key of the source file `file`.
    pub fn check(&self, file: &Path) -> Result<(), ConfigError> {
        if self.queue_url.starts_with("arn:") {
            let mut message = "queue_url must be the queue's URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME), not its ARN".to_string();
            if let [_, partition, "sqs", region, account, name] = self.queue_url.split(':').collect::<Vec<_>>()[..] {
                let domain = if partition == "aws-cn" { "amazonaws.com.cn" } else { "amazonaws.com" };
                message.push_str(&format!(": write https://sqs.{region}.{domain}/{account}/{name}"));
            }
            return Err(ConfigError::new(file, "queue_url", message));
        }
        http_url(file, "queue_url", &self.queue_url, "a queue URL")?;
        if !(1..=10).contains(&self.batch_size) {
            return Err(ConfigError::new(file, "batch_size", "must be between 1 and 10"));
        }
        if self.wait_time > Duration::from_secs(20) {
            return Err(ConfigError::new(file, "wait_time", "SQS long polling waits at most 20s"));
        }
        if self.pollers == 0 {
            return Err(ConfigError::new(file, "pollers", "must be at least 1"));
        }
        at_most(file, "pollers", self.pollers as u64, MAX_POLLERS)?;
        if self.visibility_timeout < Duration::from_secs(3) || self.visibility_timeout > Duration::from_secs(12 * 3600) {
            return Err(ConfigError::new(file, "visibility_timeout", "must be between 3s and 12h"));
        }
        if let Some(every) = self.heartbeat {
            if self.task_token.is_none() {
                return Err(ConfigError::new(file, "heartbeat", "heartbeats are for task tokens: set task_token too"));
            }
            // Step Functions counts HeartbeatSeconds in whole seconds, from one up.
            duration_between(file, "heartbeat", every, MIN_HEARTBEAT, MAX_HEARTBEAT)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(extra: &str) -> Result<(), ConfigError> {
        let s: SqsSettings = toml::from_str(&format!("queue_url = \"https://sqs.us-east-1.amazonaws.com/1/q\"\n{extra}")).unwrap();
        s.check(Path::new("q.toml"))
    }

    #[test]
    fn queue_settings_keep_to_what_sqs_and_the_reader_take() {
        assert!(check("pollers = 1000\nbatch_size = 10\nwait_time = \"20s\"\nvisibility_timeout = \"12h\"").is_ok());
        assert_eq!(check("pollers = 1001").unwrap_err().message, "must be at most 1000 (it is 1001)");
        // The messages tests and operators already know stay as they were.
        assert_eq!(check("batch_size = 11").unwrap_err().message, "must be between 1 and 10");
        assert_eq!(check("wait_time = \"21s\"").unwrap_err().message, "SQS long polling waits at most 20s");
        assert_eq!(check("visibility_timeout = \"12h 1s\"").unwrap_err().message, "must be between 3s and 12h");
        assert_eq!(check("heartbeat = \"10s\"").unwrap_err().message, "heartbeats are for task tokens: set task_token too");
        assert!(check("task_token = \"$.TaskToken\"\nheartbeat = \"10s\"").is_ok());
        assert_eq!(check("task_token = \"$.TaskToken\"\nheartbeat = \"500ms\"").unwrap_err().key, "heartbeat");
        let bad = toml::from_str::<SqsSettings>("queue_url = \"https://sqs.us-east-1.amazonaws.com/1/q\"\ntask_token = \"TaskToken\"");
        assert!(bad.unwrap_err().to_string().contains("is not a JSON path"));
        let s: SqsSettings = toml::from_str("queue_url = \"\"").unwrap();
        assert_eq!(s.check(Path::new("q.toml")).unwrap_err().key, "queue_url");
    }
}
