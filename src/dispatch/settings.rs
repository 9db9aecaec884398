//! `[targets.NAME]`: what a target is configured with, and the checks a target's settings
//! must pass on their own.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::config::limits::{at_most, duration_between};
use crate::config::{ConfigError, Rate};

/// `[targets.NAME]`: what events are sent to, and how.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "TargetFile")]
pub struct TargetSettings {
    /// What is called: a function, a function URL or a state machine.
    pub kind: TargetKind,
    /// Version or alias.
    pub qualifier: Option<String>,
    /// Invocations of this target in flight at once (lowered while Lambda throttles).
    pub max_concurrency: usize,
    /// Invocations per second or minute.
    pub rate: Option<Rate>,
    /// Retry policy.
    pub retry: RetrySettings,
    /// Dead-letter sink name; default: the file `<state_dir>/dlq.jsonl`.
    pub dlq: Option<String>,
    /// `Event` (asynchronous) or `RequestResponse`.
    pub invocation_type: InvocationType,
    /// Whether to ask Lambda for the tail of the function's log.
    pub log_type: LogType,
    /// Sink that gets Lambda's on-success destination record for every accepted event.
    pub on_success: Option<String>,
    /// Sent as the base64 `ClientContext` (JSON).
    pub client_context: Option<serde_json::Map<String, serde_json::Value>>,
    /// Time allowed for one call before it counts as a timeout.
    pub invoke_timeout: Duration,
    /// Where payloads over Lambda's asynchronous limit go (claim check).
    pub large_payloads: Option<LargePayloads>,
}

/// What a target calls: exactly one of three kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetKind {
    /// Lambda's Invoke API on a function: its name, partial ARN or full ARN.
    Function(String),
    /// A function URL the event is POSTed to.
    Url {
        /// `https://….lambda-url.<region>.on.aws/`.
        url: String,
        /// Signed with SigV4 or not.
        auth: UrlAuth,
        /// The function behind the URL, for `iam-policy` (a URL's id does not name it).
        function: Option<String>,
    },
    /// Step Functions: each event starts an execution of the state machine with this ARN.
    StateMachine(String),
}

impl TargetSettings {
    /// The Lambda function the target names (behind a URL too), if any.
    pub fn function(&self) -> Option<&str> {
        match &self.kind {
            TargetKind::Function(f) => Some(f),
            TargetKind::Url { function, .. } => function.as_deref(),
            TargetKind::StateMachine(_) => None,
        }
    }
}

/// `[targets.NAME]` as the file writes it; [`TargetSettings`] once its kind is known.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetFile {
    /// Lambda: the function's name, partial ARN or full ARN (empty for a `state_machine` target).
    #[serde(default)]
    function: String,
    /// Step Functions: the state machine ARN each event starts an execution of, instead of a function.
    state_machine: Option<String>,
    /// A function URL (`https://….lambda-url.<region>.on.aws/`) the event is POSTed to, instead
    /// of an Invoke; `function` may then name the function, for `iam-policy`.
    url: Option<String>,
    /// How a function URL is called: `"AWS_IAM"` (SigV4-signed, the default) or `"NONE"`.
    #[serde(default)]
    auth: UrlAuth,
    /// Version or alias.
    qualifier: Option<String>,
    /// Invocations of this target in flight at once (lowered while Lambda throttles).
    #[serde(default = "default_max_concurrency")]
    max_concurrency: usize,
    /// Invocations per second or minute: `"100/s"`, `"600/m"`.
    #[serde(default, deserialize_with = "crate::config::optional_rate")]
    rate: Option<Rate>,
    /// Retry policy.
    #[serde(default)]
    retry: RetrySettings,
    /// Dead-letter sink name; default: the file `<state_dir>/dlq.jsonl`.
    dlq: Option<String>,
    /// `Event` (asynchronous, the default) or `RequestResponse`.
    #[serde(default)]
    invocation_type: InvocationType,
    /// `"Tail"`: ask Lambda for the last 4 KB of the function's log (`RequestResponse` only),
    /// kept in the dead-letter record and the warning when the function fails.
    #[serde(default)]
    log_type: LogType,
    /// Sink that gets Lambda's on-success destination record for every event the function
    /// accepted, written before the upstream message is deleted.
    on_success: Option<String>,
    /// Sent as the base64 `ClientContext` (JSON).
    client_context: Option<serde_json::Map<String, serde_json::Value>>,
    /// Time allowed for one Invoke call before it counts as a timeout.
    #[serde(default = "default_invoke_timeout", deserialize_with = "crate::config::duration")]
    invoke_timeout: Duration,
    /// Claim check: payloads over Lambda's asynchronous limit go to S3 here and the function
    /// gets a pointer event; without it they are dead-lettered `RequestTooLarge`.
    large_payloads: Option<LargePayloads>,
}

impl TryFrom<TargetFile> for TargetSettings {
    type Error = &'static str;

    fn try_from(file: TargetFile) -> Result<Self, Self::Error> {
        let kind = match (file.function, file.url, file.state_machine) {
            (function, None, None) if !function.is_empty() => TargetKind::Function(function),
            (function, Some(url), None) => TargetKind::Url { url, auth: file.auth, function: Some(function).filter(|f| !f.is_empty()) },
            (function, None, Some(arn)) if function.is_empty() => TargetKind::StateMachine(arn),
            _ => return Err("give one of `function` (Lambda), `url` (a function URL) or `state_machine` (Step Functions)"),
        };
        Ok(TargetSettings {
            kind,
            qualifier: file.qualifier,
            max_concurrency: file.max_concurrency,
            rate: file.rate,
            retry: file.retry,
            dlq: file.dlq,
            invocation_type: file.invocation_type,
            log_type: file.log_type,
            on_success: file.on_success,
            client_context: file.client_context,
            invoke_timeout: file.invoke_timeout,
            large_payloads: file.large_payloads,
        })
    }
}

/// `large_payloads = { … }` of a target.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LargePayloads {
    /// The bucket.
    pub bucket: String,
    /// Key prefix; default `fanin/payloads/`.
    #[serde(default = "default_payload_prefix")]
    pub prefix: String,
}

fn default_payload_prefix() -> String {
    "fanin/payloads/".into()
}

fn default_max_concurrency() -> usize {
    64
}

fn default_invoke_timeout() -> Duration {
    Duration::from_secs(10)
}

/// How a target is invoked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum InvocationType {
    /// Asynchronous: Lambda queues the event and answers 202.
    #[default]
    Event,
    /// Synchronous: the function's error counts as a failed attempt.
    RequestResponse,
}

/// `auth` of a function URL target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum UrlAuth {
    /// Signed with SigV4 (service `lambda`) with the configured credentials.
    #[default]
    #[serde(rename = "AWS_IAM")]
    AwsIam,
    /// Unsigned: the URL lets anyone call it.
    #[serde(rename = "NONE")]
    None,
}

/// `log_type` of a target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum LogType {
    /// No log in the answer.
    #[default]
    None,
    /// The last 4 KB of the function's log.
    Tail,
}

/// `retry = { … }` of a target.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySettings {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Backoff before the second attempt (doubled each time, full jitter).
    #[serde(deserialize_with = "crate::config::duration")]
    pub base_delay: Duration,
    /// Backoff never exceeds this.
    #[serde(deserialize_with = "crate::config::duration")]
    pub max_delay: Duration,
    /// Dead-letter an event this old (counted from its birth, e.g. SQS `SentTimestamp`).
    #[serde(deserialize_with = "crate::config::duration")]
    pub max_event_age: Duration,
    /// Retry Lambda's KMS errors (`KMSAccessDeniedException`, `KMSDisabledException`, …)
    /// instead of dead-lettering them at once: for a key that is being re-enabled or re-granted.
    pub retry_kms_errors: bool,
    /// `RequestResponse`: retry when the function itself failed (`X-Amz-Function-Error`);
    /// `false` dead-letters such an event after its first attempt.
    pub retry_function_errors: bool,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            max_attempts: 3,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            max_event_age: Duration::from_secs(6 * 3600),
            retry_kms_errors: false,
            retry_function_errors: true,
        }
    }
}

/// The most invocations of one target in flight: each is an open connection, and Lambda's own
/// concurrency quotas are in the tens of thousands (the bound `daemon.max_in_flight` has too).
pub const MAX_CONCURRENCY: u64 = 100_000;
/// `invoke_timeout`: shorter than 100 ms no call gets through; a synchronous call waits for
/// a function that may run 15 minutes, and an hour is past any answer.
pub const MIN_INVOKE_TIMEOUT: Duration = Duration::from_millis(100);
pub const MAX_INVOKE_TIMEOUT: Duration = Duration::from_secs(3600);
/// Lambda's limit on `ClientContext`, counted in base64.
pub const MAX_CLIENT_CONTEXT: usize = 3583;
/// `retry.max_attempts`: attempts the function itself fails (throttles and service errors do
/// not count); past a thousand the event's age is the real bound.
pub const MAX_ATTEMPTS: u64 = 1000;
/// `retry.base_delay`, `retry.max_delay`: a zero backoff retries throttles and service errors
/// in a hot loop until `max_event_age`; a backoff past 12 hours outlives any SQS visibility.
pub const MIN_BACKOFF: Duration = Duration::from_millis(1);
pub const MAX_BASE_DELAY: Duration = Duration::from_secs(3600);
pub const MAX_BACKOFF: Duration = Duration::from_secs(12 * 3600);
/// `retry.max_event_age`: at least a second, and no longer than SQS keeps a message (14 days).
pub const MIN_EVENT_AGE: Duration = Duration::from_secs(1);
pub const MAX_EVENT_AGE: Duration = Duration::from_secs(14 * 24 * 3600);

/// The length of `context` as the `X-Amz-Client-Context` header carries it: base64 of its JSON.
pub fn client_context_len(context: &serde_json::Map<String, serde_json::Value>) -> usize {
    serde_json::Value::Object(context.clone()).to_string().len().div_ceil(3) * 4
}

impl RetrySettings {
    /// Refuses a retry policy that loops hot or overflows the time it counts, naming the keys
    /// under `key` (`targets.NAME.retry`) of `file`.
    pub fn check(&self, file: &Path, key: &str) -> Result<(), ConfigError> {
        at_most(file, format!("{key}.max_attempts"), u64::from(self.max_attempts), MAX_ATTEMPTS)?;
        duration_between(file, format!("{key}.base_delay"), self.base_delay, MIN_BACKOFF, MAX_BASE_DELAY)?;
        duration_between(file, format!("{key}.max_delay"), self.max_delay, MIN_BACKOFF, MAX_BACKOFF)?;
        duration_between(file, format!("{key}.max_event_age"), self.max_event_age, MIN_EVENT_AGE, MAX_EVENT_AGE)
    }
}

impl TargetSettings {
    /// Refuses settings that cannot work: `name` is the target's, `at` the file it is defined
    /// in and `sinks` the dead-letter sinks there are.
    pub fn check<S>(&self, name: &str, at: &Path, sinks: &BTreeMap<String, S>) -> Result<(), ConfigError> {
        let target = self;
        let key = |k: &str| format!("targets.{name}.{k}");
        if target.max_concurrency == 0 {
            return Err(ConfigError::new(at, format!("targets.{name}.max_concurrency"), "must be at least 1"));
        }
        at_most(at, key("max_concurrency"), target.max_concurrency as u64, MAX_CONCURRENCY)?;
        duration_between(at, key("invoke_timeout"), target.invoke_timeout, MIN_INVOKE_TIMEOUT, MAX_INVOKE_TIMEOUT)?;
        if let Some(q) = &target.qualifier {
            // Invoke's Qualifier: 1 to 128 characters.
            if q.is_empty() || q.len() > 128 {
                return Err(ConfigError::new(at, key("qualifier"), format!("must be 1 to 128 characters (it is {})", q.len())));
            }
        }
        if let Some(context) = &target.client_context {
            let encoded = client_context_len(context);
            if encoded > MAX_CLIENT_CONTEXT {
                let message = format!("is {encoded} bytes in base64; Lambda takes at most {MAX_CLIENT_CONTEXT}");
                return Err(ConfigError::new(at, key("client_context"), message));
            }
        }
        if let Some(large) = &target.large_payloads {
            crate::dlq::settings::s3_place(at, &key("large_payloads"), &large.bucket, &large.prefix)?;
        }
        match &target.kind {
            // A URL that does not parse would fail every call, dead-lettering every event.
            TargetKind::Url { url, .. } if crate::config::limits::http_url(at, "", url, "").is_err() => {
                return Err(ConfigError::new(at, key("url"), "must be a function URL: https://<id>.lambda-url.<region>.on.aws/"));
            }
            TargetKind::StateMachine(arn)
                if !(arn.starts_with("arn:") && arn.split(':').nth(5) == Some("stateMachine") && arn.split(':').count() == 7) =>
            {
                let message = "must be a state machine ARN: arn:aws:states:REGION:ACCOUNT:stateMachine:NAME";
                return Err(ConfigError::new(at, key("state_machine"), message));
            }
            _ => {}
        }
        // Invoke's FunctionName: 1 to 170 characters, whichever form it takes.
        if let Some(function) = target.function().filter(|f| f.len() > 170) {
            return Err(ConfigError::new(at, key("function"), format!("must be 1 to 170 characters (it is {})", function.len())));
        }
        if target.retry.max_attempts == 0 {
            return Err(ConfigError::new(at, format!("targets.{name}.retry.max_attempts"), "must be at least 1"));
        }
        target.retry.check(at, &key("retry"))?;
        for (key, sink) in [("dlq", &target.dlq), ("on_success", &target.on_success)] {
            if let Some(sink) = sink.as_ref().filter(|s| !sinks.contains_key(*s)) {
                let message = format!("no sink named \"{sink}\" (define it as [dlq.{sink}])");
                return Err(ConfigError::new(at, format!("targets.{name}.{key}"), message));
            }
        }
        if target.log_type == LogType::Tail && target.invocation_type != InvocationType::RequestResponse {
            return Err(ConfigError::new(
                at,
                format!("targets.{name}.log_type"),
                "Lambda returns logs only for invocation_type = \"RequestResponse\"",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(extra: &str) -> ConfigError {
        let target: TargetSettings = toml::from_str(&format!("function = \"f\"\n{extra}")).unwrap();
        target.check("t", Path::new("fanin.toml"), &BTreeMap::<String, ()>::new()).unwrap_err()
    }

    fn accepted(extra: &str) -> bool {
        let target: TargetSettings = toml::from_str(&format!("function = \"f\"\n{extra}")).unwrap();
        target.check("t", Path::new("fanin.toml"), &BTreeMap::<String, ()>::new()).is_ok()
    }

    #[test]
    fn limits_and_timeouts_keep_to_their_ranges() {
        assert!(accepted("max_concurrency = 100000") && accepted("invoke_timeout = \"100ms\"") && accepted("invoke_timeout = \"1h\""));
        assert_eq!(refusal("max_concurrency = 100001").message, "must be at most 100000 (it is 100001)");
        assert_eq!(refusal("max_concurrency = 0").message, "must be at least 1");
        let e = refusal("invoke_timeout = \"0s\"");
        assert_eq!((e.key.as_str(), e.message.as_str()), ("targets.t.invoke_timeout", "must be between 100ms and 1h (it is 0s)"));
        assert_eq!(refusal("qualifier = \"\"").key, "targets.t.qualifier");
        let url = |u: &str| {
            let target: TargetSettings = toml::from_str(&format!("url = \"{u}\"")).unwrap();
            target.check("t", Path::new("f"), &BTreeMap::<String, ()>::new())
        };
        assert!(url("https://abc.lambda-url.us-east-1.on.aws/").is_ok());
        for bad in ["http://", "http://a b/", "https://[::1", "ftp://host/"] {
            assert_eq!(url(bad).unwrap_err().message, "must be a function URL: https://<id>.lambda-url.<region>.on.aws/", "{bad}");
        }
        assert_eq!(refusal(&format!("qualifier = \"{}\"", "q".repeat(129))).key, "targets.t.qualifier");
    }

    #[test]
    fn a_target_is_exactly_one_kind() {
        let kind = |toml: &str| toml::from_str::<TargetSettings>(toml).map(|t| t.kind).map_err(|e| e.message().to_string());
        assert_eq!(kind("function = \"f\""), Ok(TargetKind::Function("f".into())));
        assert_eq!(kind("state_machine = \"arn\""), Ok(TargetKind::StateMachine("arn".into())));
        assert_eq!(kind("url = \"u\""), Ok(TargetKind::Url { url: "u".into(), auth: UrlAuth::AwsIam, function: None }));
        assert_eq!(
            kind("url = \"u\"\nfunction = \"f\"\nauth = \"NONE\""),
            Ok(TargetKind::Url { url: "u".into(), auth: UrlAuth::None, function: Some("f".into()) })
        );
        let refused = "give one of `function` (Lambda), `url` (a function URL) or `state_machine` (Step Functions)";
        for toml in ["", "function = \"\"", "function = \"f\"\nstate_machine = \"arn\"", "url = \"u\"\nstate_machine = \"arn\""] {
            assert_eq!(kind(toml), Err(refused.to_string()), "{toml:?}");
        }
    }

    #[test]
    fn a_retry_policy_that_loops_hot_or_overflows_is_refused() {
        assert!(accepted("retry = { max_attempts = 1000, base_delay = \"1ms\", max_delay = \"12h\", max_event_age = \"14d\" }"));
        assert_eq!(refusal("retry = { max_attempts = 1001 }").key, "targets.t.retry.max_attempts");
        assert_eq!(refusal("retry = { max_attempts = 0 }").message, "must be at least 1");
        assert_eq!(refusal("retry = { base_delay = \"0s\" }").key, "targets.t.retry.base_delay");
        assert_eq!(refusal("retry = { max_delay = \"1000000000y\" }").key, "targets.t.retry.max_delay");
        assert_eq!(refusal("retry = { max_event_age = \"15d\" }").message, "must be between 1s and 14d (it is 15d)");
    }

    #[test]
    fn a_client_context_is_held_to_lambdas_3583_bytes_of_base64() {
        // `{"k":"…"}`: 8 bytes around the string; 2,685 bytes of JSON are 3,580 of base64.
        let context = |n: usize| format!("client_context = {{ k = \"{}\" }}", "x".repeat(n));
        assert!(accepted(&context(2677)));
        let e = refusal(&context(2678));
        assert_eq!(
            (e.key.as_str(), e.message.as_str()),
            ("targets.t.client_context", "is 3584 bytes in base64; Lambda takes at most 3583")
        );
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(r#"{"k":"xx"}"#).unwrap();
        assert_eq!(client_context_len(&map), base64::Engine::encode(&base64::engine::general_purpose::STANDARD, r#"{"k":"xx"}"#).len());
    }

    #[test]
    fn a_claim_check_needs_a_bucket_and_room_for_its_keys() {
        assert_eq!(refusal("large_payloads = { bucket = \"\" }").key, "targets.t.large_payloads.bucket");
        assert_eq!(
            refusal(&format!("large_payloads = {{ bucket = \"b\", prefix = \"{}\" }}", "p".repeat(513))).key,
            "targets.t.large_payloads.prefix"
        );
    }
}
