//! AWS configuration and clients: region, profile, assumed role and endpoints from `[aws]`,
//! with the SDK's own retries capped where fanin retries by itself.

use std::path::Path;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

use serde::Deserialize;

use crate::config::limits::{http_url, not_empty};
use crate::config::ConfigError;

/// `[aws]`: all optional; the standard credential chain and region apply.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    /// Region for every client (else `AWS_REGION` / the profile's region).
    pub region: Option<String>,
    /// Named profile from `~/.aws/config`.
    pub profile: Option<String>,
    /// Role to assume (through STS) on top of the base credentials.
    pub assume_role_arn: Option<String>,
    /// Endpoint for every service; `AWS_ENDPOINT_URL_<SERVICE>` still wins for its service.
    pub endpoint_url: Option<String>,
    /// The account fanin runs in (12 digits), for the fields AWS always fills with it (cron's
    /// Scheduled Event, ARNs fanin builds); else asked of `sts:GetCallerIdentity` at start.
    pub account_id: Option<String>,
}

impl AwsSettings {
    /// Refuses what no AWS call could be made with (the SDK panics on an endpoint that is no
    /// URL), naming the key of the daemon file `file`.
    pub fn check(&self, file: &Path) -> Result<(), ConfigError> {
        if let Some(region) = &self.region {
            // Region names go into endpoint host names: `us-east-1`, `eu-central-2`, a local
            // emulator's own name.
            let ok = !region.is_empty()
                && region.len() <= 50
                && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                let message = format!("\"{region}\" is not a region name (lowercase letters, digits and `-`, like \"us-east-1\")");
                return Err(ConfigError::new(file, "aws.region", message));
            }
        }
        if let Some(profile) = &self.profile {
            not_empty(file, "aws.profile", profile)?;
        }
        if let Some(role) = &self.assume_role_arn {
            // STS's RoleArn: 20 to 2048 characters, `arn:PARTITION:iam::ACCOUNT:role/NAME`.
            let parts: Vec<&str> = role.splitn(6, ':').collect();
            let ok = role.len() <= 2048
                && parts.len() == 6
                && parts[0] == "arn"
                && parts[2] == "iam"
                && parts[5].starts_with("role/")
                && parts[5].len() > 5;
            if !ok {
                return Err(ConfigError::new(file, "aws.assume_role_arn", "must be a role ARN: arn:aws:iam::ACCOUNT:role/NAME"));
            }
        }
        if let Some(url) = &self.endpoint_url {
            http_url(file, "aws.endpoint_url", url, "an endpoint")?;
        }
        if let Some(account) = &self.account_id {
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ConfigError::new(file, "aws.account_id", format!("\"{account}\" is not an AWS account id (12 digits)")));
            }
        }
        Ok(())
    }
}

/// Loads the shared SDK configuration: the standard chain, then what `[aws]` says.
pub async fn load(settings: &AwsSettings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let base = loader.load().await;
    match &settings.assume_role_arn {
        None => base,
        Some(role) => {
            let provider = aws_config::sts::AssumeRoleProvider::builder(role).session_name("fanin").configure(&base).build().await;
            base.into_builder().credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(provider)).build()
        }
    }
}

/// Why no AWS call can be made at all: known at start, said once, with the fix.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Neither `[aws] region`, `AWS_REGION` nor the profile names a region.
    #[error("no region: set [aws] region in the daemon file, or AWS_REGION")]
    NoRegion,
    /// The SDK's default chain found no credentials anywhere.
    #[error(
        "no credentials found: tried the environment, the profile ({profile}), web identity, the container and the instance metadata (IMDS) — set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, [aws] profile or AWS_PROFILE, or run with an instance or task role"
    )]
    NoCredentials {
        /// The profile the chain looked in.
        profile: String,
    },
    /// A source of credentials was found but failed (an expired SSO session, a role that
    /// cannot be assumed).
    #[error("credentials: {0}")]
    Credentials(String),
}

/// Checks that `sdk` can sign a call: a region, and credentials the chain can provide. The
/// alternative is a per-event failure, retried for every event.
pub async fn check_ready(sdk: &SdkConfig, settings: &AwsSettings) -> Result<(), SetupError> {
    use aws_credential_types::provider::error::CredentialsError;
    use aws_credential_types::provider::ProvideCredentials;
    if sdk.region().is_none() {
        return Err(SetupError::NoRegion);
    }
    let profile = settings.profile.clone().or_else(|| std::env::var("AWS_PROFILE").ok()).unwrap_or_else(|| "default".into());
    let Some(provider) = sdk.credentials_provider() else { return Err(SetupError::NoCredentials { profile }) };
    match provider.provide_credentials().await {
        Ok(_) => Ok(()),
        Err(CredentialsError::CredentialsNotLoaded(_)) => Err(SetupError::NoCredentials { profile }),
        // The instance metadata is the chain's last resort: it failing means nothing before it
        // had credentials either (off EC2 it is refused or unreachable).
        Err(e) if crate::error_chain(&e).contains("IMDS") => Err(SetupError::NoCredentials { profile }),
        Err(e) => Err(SetupError::Credentials(crate::error_chain(&e))),
    }
}

/// The region calls are signed for. Every command that calls AWS refuses to start without a
/// region ([`check_ready`]), so the fallback is only met by clients built in unit tests.
pub fn region(sdk: &SdkConfig) -> String {
    const ONLY_IN_TESTS: &str = "us-east-1";
    sdk.region().map_or_else(|| ONLY_IN_TESTS.to_string(), |r| r.to_string())
}

/// `AWS_ENDPOINT_URL_<SERVICE>`, which wins over `[aws] endpoint_url` for that service.
fn service_endpoint(service: &str) -> Option<String> {
    std::env::var(format!("AWS_ENDPOINT_URL_{service}")).ok().filter(|v| !v.is_empty())
}

/// The endpoint `service` is sent to when not AWS's own: `AWS_ENDPOINT_URL_<SERVICE>`, else
/// `[aws] endpoint_url` (or `AWS_ENDPOINT_URL`).
pub fn endpoint_override(sdk: &SdkConfig, service: &str) -> Option<String> {
    service_endpoint(service).or_else(|| sdk.endpoint_url().map(str::to_string))
}

/// Whether any endpoint other than AWS's own is in use (then S3 needs path-style addressing).
fn custom_endpoint(sdk: &SdkConfig, service: &str) -> bool {
    sdk.endpoint_url().is_some() || service_endpoint(service).is_some()
}

/// A client of the SDK crate `$krate` for `service` (the `AWS_ENDPOINT_URL_<SERVICE>` suffix):
/// the shared configuration, that service's endpoint variable, then what `|b| …` adds to the
/// builder. One constructor for every client; the SDK crates share no builder trait.
macro_rules! client {
    ($krate:ident, $service:literal, $sdk:expr $(, |$b:ident| $extra:expr)?) => {{
        let b = $krate::config::Builder::from($sdk);
        let b = match service_endpoint($service) {
            Some(url) => b.endpoint_url(url),
            None => b,
        };
        $(let $b = b; let b = $extra;)?
        $krate::Client::from_conf(b.build())
    }};
}

/// Exactly one attempt per call (the dispatcher retries), given up after `attempt_timeout`.
fn one_attempt(attempt_timeout: Duration) -> (RetryConfig, TimeoutConfig) {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3).min(attempt_timeout))
        .operation_attempt_timeout(attempt_timeout)
        .build();
    (RetryConfig::standard().with_max_attempts(1), timeouts)
}

/// An SQS client.
pub fn sqs(sdk: &SdkConfig) -> aws_sdk_sqs::Client {
    client!(aws_sdk_sqs, "SQS", sdk)
}

/// An S3 client; path-style addressing when the endpoint is not AWS's.
pub fn s3(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    client!(aws_sdk_s3, "S3", sdk, |b| b.force_path_style(custom_endpoint(sdk, "S3")))
}

/// A Lambda client that makes exactly one attempt per call (fanin's dispatcher retries)
/// and gives up on a call after `attempt_timeout`.
pub fn lambda(sdk: &SdkConfig, attempt_timeout: Duration) -> aws_sdk_lambda::Client {
    let (retry, timeouts) = one_attempt(attempt_timeout);
    client!(aws_sdk_lambda, "LAMBDA", sdk, |b| b.retry_config(retry).timeout_config(timeouts))
}

/// A Step Functions client that makes exactly one attempt per call (the dispatcher retries)
/// and gives up on a call after `attempt_timeout`.
pub fn sfn(sdk: &SdkConfig, attempt_timeout: Duration) -> aws_sdk_sfn::Client {
    let (retry, timeouts) = one_attempt(attempt_timeout);
    client!(aws_sdk_sfn, "SFN", sdk, |b| b.retry_config(retry).timeout_config(timeouts))
}

/// A CloudWatch client (alarm polling).
pub fn cloudwatch(sdk: &SdkConfig) -> aws_sdk_cloudwatch::Client {
    client!(aws_sdk_cloudwatch, "CLOUDWATCH", sdk)
}

/// An SNS client (`fanin setup`).
pub fn sns(sdk: &SdkConfig) -> aws_sdk_sns::Client {
    client!(aws_sdk_sns, "SNS", sdk)
}

/// An EventBridge client (`fanin setup`).
pub fn eventbridge(sdk: &SdkConfig) -> aws_sdk_eventbridge::Client {
    client!(aws_sdk_eventbridge, "EVENTBRIDGE", sdk)
}

/// The account fanin runs in: `[aws] account_id`, else the caller's own, asked of
/// `sts:GetCallerIdentity` (a call every identity may make, whatever its policy says).
pub async fn account_id(sdk: &SdkConfig, settings: &AwsSettings) -> anyhow::Result<String> {
    if let Some(account) = &settings.account_id {
        return Ok(account.clone());
    }
    caller_account(sdk).await.map_err(|why| {
        anyhow::anyhow!(
            "cannot tell which AWS account this is (sts:GetCallerIdentity: {why}); \
             set [aws] account_id = \"<12 digits>\" in the daemon file, or give fanin credentials that reach STS"
        )
    })
}

/// The account of the credentials in use, from `sts:GetCallerIdentity`; why not, as text.
pub async fn caller_account(sdk: &SdkConfig) -> Result<String, String> {
    let sts: aws_sdk_sts::Client = client!(aws_sdk_sts, "STS", sdk);
    match sts.get_caller_identity().send().await {
        Ok(identity) => identity.account().map(str::to_string).ok_or_else(|| "no account in the answer".into()),
        Err(e) => Err(aws_sdk_sts::error::DisplayErrorContext(e).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<(), ConfigError> {
        let aws: AwsSettings = toml::from_str(text).unwrap();
        aws.check(Path::new("fanin.toml"))
    }

    #[test]
    fn aws_settings_are_checked_before_the_sdk_sees_them() {
        assert!(check("region = \"eu-central-2\"\nendpoint_url = \"http://127.0.0.1:4566\"\nassume_role_arn = \"arn:aws:iam::123456789012:role/fanin\"").is_ok());
        // The SDK panics when it resolves an endpoint that is not a URL.
        assert_eq!(check("endpoint_url = \"\"").unwrap_err().key, "aws.endpoint_url");
        assert_eq!(check("region = \"us-east-1/..\"").unwrap_err().key, "aws.region");
        assert_eq!(check("assume_role_arn = \"arn:aws:iam::123456789012:user/fanin\"").unwrap_err().key, "aws.assume_role_arn");
    }
}
