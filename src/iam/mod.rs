//! `fanin iam-policy`: the least-privilege IAM policy a configuration needs.
//!
//! Every permission is a `Grant`: one action group on one exact resource. Grants come from
//! the targets (invoke), the sources (what the daemon calls on them, and with `--include-setup`
//! what `fanin setup --apply` would call) and the dead-letter sinks; the policy merges them into
//! one statement per action group, in a fixed order, resources sorted, so the output is stable.
//! A source type with an upstream of its own is one arm in `source_grants`; a queue-fed type
//! needs none (its queue, its own topics and its `Wiring` say what to grant).
//!
//! Names that are not ARNs need a region and an account; where the configuration does not tell
//! them (see `Scope`), the field is `*` rather than a guess that would make the policy deny.
//! The policy covers `fanin run`; `fanin validate`'s own extra look-ups (a dead-letter queue's
//! attributes, deleting its S3 marker) are deliberately not in it.

mod scope;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::dispatch::function_name::function_arn;
use crate::dispatch::settings::{TargetKind, TargetSettings, UrlAuth};
use crate::dlq::settings::DlqSettings;
use crate::settings::Config;
use crate::sources::sqs_reader::{Origin, SqsSettings, Wiring};
use crate::sources::{SourceKind, SourceSettings};
use scope::{queue_arn, Scope, ANY};

/// The policy document for `config` (`include_setup`: also what `fanin setup --apply` needs).
pub fn policy(config: &Config, include_setup: bool) -> Value {
    let scope = Scope::of(config);
    let mut grants: Vec<Grant> = config.targets.values().flat_map(|t| target_grants(&scope, t)).collect();
    for source in &config.sources {
        grants.extend(source_grants(&scope, source));
        if include_setup {
            grants.extend(setup_grants(&scope, source));
        }
    }
    grants.extend(config.dlq.values().flat_map(|sink| sink_grants(&scope, sink)));
    grants.extend(claims_grant(config));
    document(grants)
}

/// One part of a configuration, for advice about a single denied call (`fanin validate`).
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// What invoking the target needs.
    Target(&'a TargetSettings),
    /// What reading the source needs.
    Source(&'a SourceSettings),
    /// What writing to the dead-letter sink needs (nothing for a file).
    Sink(&'a DlqSettings),
}

/// The statements `subject` alone needs, as they stand in [`policy`]; `region` (the one the
/// SDK resolved) fills in a region the configuration does not name.
pub fn statements_for(config: &Config, subject: Subject<'_>, region: Option<&str>) -> Vec<Value> {
    let mut scope = Scope::of(config);
    if let (true, Some(region)) = (scope.region == ANY, region) {
        scope.region = region.to_string();
    }
    let grants = match subject {
        Subject::Target(t) => target_grants(&scope, t),
        Subject::Source(s) => source_grants(&scope, s),
        Subject::Sink(s) => sink_grants(&scope, s),
    };
    statements(grants)
}

/// A set of actions that always go together, one statement each in the policy. The order of
/// the variants is the order of the statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    /// Invoke (asynchronous, synchronous and DryRun all need `lambda:InvokeFunction`).
    InvokeTargets,
    /// Function URL targets with `auth = "AWS_IAM"`.
    InvokeFunctionUrls,
    /// Step Functions targets: one execution per event.
    StartExecutions,
    /// Long-poll, keep visibility, delete: what an SQS-backed source does.
    ConsumeSourceQueues,
    /// An `http` source storing each webhook in its buffer queue before it answers.
    StoreWebhooks,
    /// An `sns` source confirming its topic's subscription (a topic in another account).
    ConfirmSubscriptions,
    /// A source with `task_token`: completing each message's Step Functions task.
    CompleteTasks,
    /// A source with `task_token` and `heartbeat`: keeping those tasks alive.
    HeartbeatTasks,
    /// What a polling `cloudwatch_alarm` source reads.
    DescribeAlarms,
    /// `[fleet] claims`: one claim object per cron fire.
    ClaimCronFires,
    /// Learning the account at start, where `[aws] account_id` does not say it.
    /// The `sqs` dead-letter sink.
    SendDeadLetterMessages,
    /// The `s3` dead-letter sink.
    WriteDeadLetterObjects,
    /// Targets' `large_payloads` (the claim check).
    WriteLargePayloads,
    /// `fanin setup`: the statement in a source queue's policy that lets its sender in.
    WireQueuePolicies,
    /// `fanin setup`: an `s3` source's bucket notification.
    WireBucketNotifications,
    /// `fanin setup`: an `sns` source's subscription.
    WireTopicSubscriptions,
    /// `fanin setup`: an `eventbridge` or `cloudwatch_alarm` source's rule and target.
    WireRules,
}

impl Group {
    fn sid(self) -> &'static str {
        match self {
            Group::InvokeTargets => "InvokeTargets",
            Group::InvokeFunctionUrls => "InvokeFunctionUrls",
            Group::StartExecutions => "StartExecutions",
            Group::ConsumeSourceQueues => "ConsumeSourceQueues",
            Group::StoreWebhooks => "StoreWebhooks",
            Group::ConfirmSubscriptions => "ConfirmSubscriptions",
            Group::CompleteTasks => "CompleteTasks",
            Group::HeartbeatTasks => "HeartbeatTasks",
            Group::DescribeAlarms => "DescribeAlarms",
            Group::ClaimCronFires => "ClaimCronFires",
            Group::SendDeadLetterMessages => "SendDeadLetterMessages",
            Group::WriteDeadLetterObjects => "WriteDeadLetterObjects",
            Group::WriteLargePayloads => "WriteLargePayloads",
            Group::WireQueuePolicies => "SetupQueuePolicies",
            Group::WireBucketNotifications => "SetupBucketNotifications",
            Group::WireTopicSubscriptions => "SetupTopicSubscriptions",
            Group::WireRules => "SetupRules",
        }
    }

    /// Sorted, so the document is the same whatever the order grants came in.
    fn actions(self) -> &'static [&'static str] {
        match self {
            Group::InvokeTargets => &["lambda:InvokeFunction"],
            Group::InvokeFunctionUrls => &["lambda:InvokeFunctionUrl"],
            Group::StartExecutions => &["states:StartExecution"],
            // The batch calls (DeleteMessageBatch, ChangeMessageVisibilityBatch) are authorised
            // by these same actions.
            Group::ConsumeSourceQueues => {
                &["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
            }
            // SendMessageBatch is authorised by sqs:SendMessage.
            Group::StoreWebhooks => &["sqs:SendMessage"],
            Group::ConfirmSubscriptions => &["sns:ConfirmSubscription"],
            Group::CompleteTasks => &["states:SendTaskFailure", "states:SendTaskSuccess"],
            Group::HeartbeatTasks => &["states:SendTaskHeartbeat"],
            Group::DescribeAlarms => &["cloudwatch:DescribeAlarms"],
            Group::ClaimCronFires => &["s3:GetObject", "s3:PutObject"],
            Group::SendDeadLetterMessages => &["sqs:SendMessage"],
            Group::WriteDeadLetterObjects => &["s3:PutObject"],
            Group::WriteLargePayloads => &["s3:PutObject"],
            Group::WireQueuePolicies => &["sqs:GetQueueAttributes", "sqs:SetQueueAttributes"],
            Group::WireBucketNotifications => &["s3:GetBucketNotification", "s3:PutBucketNotification"],
            Group::WireTopicSubscriptions => &["sns:ListSubscriptionsByTopic", "sns:Subscribe"],
            Group::WireRules => &["events:DescribeRule", "events:ListTargetsByRule", "events:PutRule", "events:PutTargets"],
        }
    }
}

/// One action group on one resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Grant {
    group: Group,
    resource: String,
}

/// What a target needs: invoking it, and writing its large payloads if it takes pointer events.
fn target_grants(scope: &Scope, target: &TargetSettings) -> Vec<Grant> {
    let claim_check = target
        .large_payloads
        .as_ref()
        .map(|l| Grant { group: Group::WriteLargePayloads, resource: format!("arn:aws:s3:::{}/{}*", l.bucket, l.prefix) });
    let call = match &target.kind {
        TargetKind::StateMachine(arn) => Some(Grant { group: Group::StartExecutions, resource: arn.clone() }),
        // A URL's id does not name its function: the target's `function` does, else any.
        TargetKind::Url { auth, function, .. } => (*auth == UrlAuth::AwsIam).then(|| {
            let function = function.as_deref().unwrap_or("*");
            Grant { group: Group::InvokeFunctionUrls, resource: function_arn(function, None, &scope.region, &scope.account) }
        }),
        TargetKind::Function(function) => Some(invoke_grant(scope, function, target)),
    };
    call.into_iter().chain(claim_check).collect()
}

/// `lambda:InvokeFunction` on exactly what the target calls: a qualified invoke is authorised
/// against the qualified ARN only, an unqualified one against the bare function ARN only.
fn invoke_grant(scope: &Scope, function: &str, target: &TargetSettings) -> Grant {
    Grant { group: Group::InvokeTargets, resource: function_arn(function, target.qualifier.as_deref(), &scope.region, &scope.account) }
}

/// What the daemon calls on a source's upstream.
fn source_grants(scope: &Scope, source: &SourceSettings) -> Vec<Grant> {
    match &source.kind {
        SourceKind::Sqs(s) => {
            let consume = Grant { group: Group::ConsumeSourceQueues, resource: queue_arn(scope, &s.queue_url) };
            // An `http` source also sends to its queue: its buffer.
            let store = matches!(s.origin, Some(Origin::Http(_)))
                .then(|| Grant { group: Group::StoreWebhooks, resource: queue_arn(scope, &s.queue_url) });
            // An `sns` source confirms its own topics' subscriptions when asked to.
            let topics: BTreeSet<&str> = s.origin.iter().flat_map(|o| o.own_topics()).collect();
            // Task callbacks name no resource IAM can scope them to: a task token stands for
            // its execution, and these actions take only `*`.
            let tasks = s.task_token.as_ref().map(|_| Grant { group: Group::CompleteTasks, resource: ANY.into() });
            let heartbeats = s.task_token.as_ref().and(s.heartbeat).map(|_| Grant { group: Group::HeartbeatTasks, resource: ANY.into() });
            std::iter::once(consume)
                .chain(store)
                .chain(topics.into_iter().map(|t| Grant { group: Group::ConfirmSubscriptions, resource: t.to_string() }))
                .chain(tasks)
                .chain(heartbeats)
                .collect()
        }
        SourceKind::Cron(_) => vec![],
        // DescribeAlarms is authorised per alarm; the name prefix is applied by the call, so
        // the grant covers the account's alarms in the region.
        SourceKind::AlarmPoll(_) => {
            vec![Grant { group: Group::DescribeAlarms, resource: format!("arn:aws:cloudwatch:{}:{}:alarm:*", scope.region, scope.account) }]
        }
    }
}

/// What `fanin setup --apply` calls to wire a source's upstream (S3 notifications, SNS
/// subscriptions, EventBridge rules), for the sources that have a `setup` table.
fn setup_grants(scope: &Scope, source: &SourceSettings) -> Vec<Grant> {
    let SourceKind::Sqs(SqsSettings { queue_url, origin: Some(origin), .. }) = &source.kind else { return vec![] };
    let queue = queue_arn(scope, queue_url);
    let wired = origin.wiring().map(|wiring| match wiring {
        Wiring::Bucket { bucket, .. } => Grant { group: Group::WireBucketNotifications, resource: format!("arn:aws:s3:::{bucket}") },
        Wiring::Topic { topic } => Grant { group: Group::WireTopicSubscriptions, resource: topic.to_string() },
        Wiring::Rule { rule, .. } => {
            Grant { group: Group::WireRules, resource: crate::setup::rule_arn(&queue, &rule.event_bus, &rule.rule) }
        }
    });
    match wired {
        Some(grant) => vec![grant, Grant { group: Group::WireQueuePolicies, resource: queue }],
        None => vec![],
    }
}

/// Claiming cron fires under `[fleet] claims` (and reading a claim back to tell whose it is).
fn claims_grant(config: &Config) -> Option<Grant> {
    let claims = config.fleet.claims.as_ref()?;
    let has_cron = config.sources.iter().any(|s| matches!(s.kind, SourceKind::Cron(_)));
    has_cron.then(|| Grant { group: Group::ClaimCronFires, resource: format!("arn:aws:s3:::{}/{}*", claims.bucket, claims.prefix) })
}

/// What a dead-letter sink writes with; a file sink needs no AWS permission.
fn sink_grants(scope: &Scope, sink: &DlqSettings) -> Vec<Grant> {
    let objects =
        |bucket: &str, prefix: &str| Grant { group: Group::WriteDeadLetterObjects, resource: format!("arn:aws:s3:::{bucket}/{prefix}*") };
    match sink {
        DlqSettings::File { .. } => vec![],
        DlqSettings::Sqs { queue_url, large_records } => {
            let messages = Grant { group: Group::SendDeadLetterMessages, resource: queue_arn(scope, queue_url) };
            std::iter::once(messages).chain(large_records.as_ref().map(|l| objects(&l.bucket, &l.prefix))).collect()
        }
        DlqSettings::S3 { bucket, prefix } => vec![objects(bucket, prefix)],
    }
}

/// The policy document: one statement per group present.
fn document(grants: Vec<Grant>) -> Value {
    json!({ "Version": "2012-10-17", "Statement": statements(grants) })
}

/// One statement per group, in group order, each with its resources sorted and deduplicated.
fn statements(grants: Vec<Grant>) -> Vec<Value> {
    let mut by_group: BTreeMap<Group, BTreeSet<String>> = BTreeMap::new();
    for g in grants {
        by_group.entry(g.group).or_default().insert(g.resource);
    }
    by_group
        .into_iter()
        .map(|(group, resources)| {
            let mut statement = json!({
                "Sid": group.sid(),
                "Effect": "Allow",
                "Action": group.actions(),
                "Resource": resources,
            });
            // Only IAM-authenticated URLs: a URL with auth NONE needs no permission at all.
            if group == Group::InvokeFunctionUrls {
                statement["Condition"] = json!({ "StringEquals": { "lambda:FunctionUrlAuthType": "AWS_IAM" } });
            }
            statement
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration of one daemon file (`sources_dir` made empty) and one SQS source file.
    fn config(daemon: &str, queue_url: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sources")).unwrap();
        std::fs::write(dir.path().join("fanin.toml"), daemon).unwrap();
        let source = format!("type = \"sqs\"\nqueue_url = \"{queue_url}\"\ntarget = \"t\"\n");
        std::fs::write(dir.path().join("sources/q.toml"), source).unwrap();
        Config::load(&dir.path().join("fanin.toml")).unwrap()
    }

    #[test]
    fn region_and_account_come_from_what_the_configuration_names() {
        let eu = "https://sqs.eu-west-1.amazonaws.com/123456789012/q";
        let scope = |daemon: &str, url: &str| Scope::of(&config(daemon, url));
        let named = |region: &str, account: &str| Scope { region: region.into(), account: account.into() };
        // No [aws] region: the queue's; its account too.
        assert_eq!(scope("[targets.t]\nfunction = \"f\"\n", eu), named("eu-west-1", "123456789012"));
        // [aws] region wins; the assumed role's account wins.
        let daemon =
            "[aws]\nregion = \"us-west-2\"\nassume_role_arn = \"arn:aws:iam::210987654321:role/fanin\"\n[targets.t]\nfunction = \"f\"\n";
        assert_eq!(scope(daemon, eu), named("us-west-2", "210987654321"));
        // Accounts (or regions) that disagree tell nothing: wildcards.
        let other = "[targets.t]\nfunction = \"arn:aws:lambda:us-east-1:210987654321:function:f\"\n";
        assert_eq!(scope(other, eu), named("*", "*"));
        // Nothing names either.
        assert_eq!(scope("[targets.t]\nfunction = \"f\"\n", "http://127.0.0.1:9/q"), named("*", "*"));
    }

    #[test]
    fn an_http_source_may_send_to_and_read_its_buffer_queue_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sources")).unwrap();
        let daemon = "[aws]\naccount_id = \"123456789012\"\n[http]\nlisten = \"127.0.0.1:0\"\n[targets.t]\nfunction = \"f\"\n";
        std::fs::write(dir.path().join("fanin.toml"), daemon).unwrap();
        let source = "type = \"http\"\npath = \"/h\"\nbuffer_queue = \"https://sqs.eu-west-1.amazonaws.com/123456789012/hooks\"\n\
                      signature = { scheme = \"none\" }\ntarget = \"t\"\n";
        std::fs::write(dir.path().join("sources/h.toml"), source).unwrap();
        let config = Config::load(&dir.path().join("fanin.toml")).unwrap();
        let statements = policy(&config, true)["Statement"].as_array().unwrap().clone();
        let sids: Vec<&str> = statements.iter().map(|s| s["Sid"].as_str().unwrap()).collect();
        assert_eq!(sids, ["InvokeTargets", "ConsumeSourceQueues", "StoreWebhooks"], "and nothing for setup");
        assert_eq!(statements[2]["Action"], json!(["sqs:SendMessage"]));
        assert_eq!(statements[2]["Resource"], json!(["arn:aws:sqs:eu-west-1:123456789012:hooks"]));
    }

    #[test]
    fn a_task_token_source_may_complete_tasks_and_heartbeat_only_when_it_heartbeats() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sources")).unwrap();
        std::fs::write(dir.path().join("fanin.toml"), "[targets.t]\nfunction = \"f\"\n").unwrap();
        let source = |name: &str, extra: &str| {
            let text = format!("type = \"sqs\"\nqueue_url = \"https://sqs.us-east-1.amazonaws.com/1/{name}\"\ntarget = \"t\"\n{extra}");
            std::fs::write(dir.path().join(format!("sources/{name}.toml")), text).unwrap();
        };
        let sids = |dir: &tempfile::TempDir| -> Vec<String> {
            let policy = policy(&Config::load(&dir.path().join("fanin.toml")).unwrap(), false);
            policy["Statement"].as_array().unwrap().iter().map(|s| s["Sid"].as_str().unwrap().to_string()).collect()
        };
        source("plain", "");
        assert!(!sids(&dir).iter().any(|s| s.contains("Tasks")), "no task token, no Step Functions callbacks");
        source("asks", "task_token = \"$.TaskToken\"\n");
        let policy = policy(&Config::load(&dir.path().join("fanin.toml")).unwrap(), false);
        let complete = policy["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "CompleteTasks").cloned();
        assert_eq!(
            complete,
            Some(
                json!({"Sid": "CompleteTasks", "Effect": "Allow", "Action": ["states:SendTaskFailure", "states:SendTaskSuccess"], "Resource": ["*"]})
            )
        );
        assert!(!sids(&dir).contains(&"HeartbeatTasks".to_string()), "no heartbeat, no SendTaskHeartbeat");
        source("beats", "task_token = \"$.TaskToken\"\nheartbeat = \"30s\"\n");
        assert!(sids(&dir).contains(&"HeartbeatTasks".to_string()));
    }

    #[test]
    fn statements_merge_by_group_in_a_fixed_order() {
        let grant = |group, r: &str| Grant { group, resource: r.into() };
        let out = statements(vec![
            grant(Group::WriteDeadLetterObjects, "arn:aws:s3:::b/p*"),
            grant(Group::InvokeTargets, "arn:aws:lambda:r:1:function:z"),
            grant(Group::InvokeTargets, "arn:aws:lambda:r:1:function:a"),
            grant(Group::InvokeTargets, "arn:aws:lambda:r:1:function:a"),
        ]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["Sid"], "InvokeTargets");
        assert_eq!(out[0]["Resource"], json!(["arn:aws:lambda:r:1:function:a", "arn:aws:lambda:r:1:function:z"]));
        assert_eq!(out[1]["Sid"], "WriteDeadLetterObjects");
    }
}
