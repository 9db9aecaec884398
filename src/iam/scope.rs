//! Where the policy's names live: the region and account a configuration implies, and the
//! full ARNs of functions and queues it names only in part.

use std::collections::BTreeSet;

use crate::dispatch::function_name::FunctionRef;
use crate::dispatch::settings::TargetKind;
use crate::dlq::settings::DlqSettings;
use crate::settings::Config;
use crate::sources::SourceKind;

/// The wildcard used for a region or account nothing in the configuration gives.
pub(super) const ANY: &str = "*";

/// Region and account for names given without them (a bare function name, a queue URL whose
/// host names no region).
///
/// Region: `[aws] region` (or `FANIN__AWS__REGION`); else the one region every ARN and queue
/// URL in the configuration names (the clients reach one region, so they must agree); else `*`.
/// Account: `[aws] account_id`; else that of `[aws] assume_role_arn` (fanin acts as that role,
/// and a bare function name resolves in the caller's account); else the one account every function ARN and queue URL
/// names; else (none, or several) `*`. The process environment is not read, so the policy is a
/// function of the configuration alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Scope {
    pub(super) region: String,
    pub(super) account: String,
}

impl Scope {
    pub(super) fn of(config: &Config) -> Scope {
        let named = named_locations(config);
        let region = config.aws.region.clone().or_else(|| only(named.iter().filter_map(|(r, _)| r.clone())));
        let role_account = config.aws.assume_role_arn.as_deref().and_then(|arn| arn.split(':').nth(4)).filter(|a| is_account(a));
        let account = config
            .aws
            .account_id
            .clone()
            .or_else(|| role_account.map(str::to_string))
            .or_else(|| only(named.into_iter().filter_map(|(_, a)| a)));
        Scope { region: region.unwrap_or_else(|| ANY.into()), account: account.unwrap_or_else(|| ANY.into()) }
    }
}

/// The (region, account) each function and queue of the configuration names, where it does.
fn named_locations(config: &Config) -> Vec<(Option<String>, Option<String>)> {
    let functions = config.targets.values().map(|t| match &t.kind {
        TargetKind::StateMachine(arn) => {
            let field = |i: usize| arn.split(':').nth(i).filter(|f| !f.is_empty()).map(str::to_string);
            (field(3), field(4))
        }
        _ => {
            let f = FunctionRef::parse(t.function().unwrap_or_default());
            (f.region, f.account)
        }
    });
    let queues = queue_urls(config).map(|url| {
        let (region, account, _) = queue_parts(url);
        (region, account)
    });
    functions.chain(queues).collect()
}

/// Every SQS queue URL in the configuration: sources and dead-letter queues.
fn queue_urls(config: &Config) -> impl Iterator<Item = &str> {
    let sources = config.sources.iter().filter_map(|s| match &s.kind {
        SourceKind::Sqs(q) => Some(q.queue_url.as_str()),
        SourceKind::Cron(_) | SourceKind::AlarmPoll(_) => None,
    });
    let sinks = config.dlq.values().filter_map(|d| match d {
        DlqSettings::Sqs { queue_url, .. } => Some(queue_url.as_str()),
        DlqSettings::File { .. } | DlqSettings::S3 { .. } => None,
    });
    sources.chain(sinks)
}

/// The single distinct value, if there is exactly one.
fn only(values: impl Iterator<Item = String>) -> Option<String> {
    let distinct: BTreeSet<String> = values.collect();
    (distinct.len() == 1).then(|| distinct.into_iter().next().expect("one value"))
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A queue URL's region (when its host names one), account and name, read through the same
/// parser the SQS source labels events with.
fn queue_parts(url: &str) -> (Option<String>, Option<String>, String) {
    let arn = crate::sources::sqs_reader::queue_arn(url, "");
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let field = |i: usize| parts.get(i).copied().unwrap_or_default();
    let region = Some(field(3)).filter(|r| !r.is_empty()).map(str::to_string);
    let account = Some(field(4)).filter(|a| is_account(a)).map(str::to_string);
    (region, account, field(5).to_string())
}

/// A queue's ARN, with the scope's region and account where the URL names none.
pub(super) fn queue_arn(scope: &Scope, url: &str) -> String {
    let (region, account, name) = queue_parts(url);
    let region = region.as_deref().unwrap_or(&scope.region);
    let account = account.as_deref().unwrap_or(&scope.account);
    format!("arn:aws:sqs:{region}:{account}:{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls_give_region_and_account() {
        assert_eq!(
            queue_parts("https://sqs.eu-west-1.amazonaws.com/123456789012/orders"),
            (Some("eu-west-1".into()), Some("123456789012".into()), "orders".into())
        );
        assert_eq!(queue_parts("http://127.0.0.1:5000/123456789012/q"), (None, Some("123456789012".into()), "q".into()));
        assert_eq!(queue_parts("http://q"), (None, None, "q".into()));
    }

    #[test]
    fn one_distinct_value_or_none() {
        assert_eq!(only(["a".to_string(), "a".to_string()].into_iter()), Some("a".into()));
        assert_eq!(only(["a".to_string(), "b".to_string()].into_iter()), None);
        assert_eq!(only(std::iter::empty()), None);
    }
}
