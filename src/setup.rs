//! `fanin setup [--apply]`: what AWS must be told so that each source's events reach its queue.
//!
//! A source file's `setup = { … }` says what to wire: an `s3` source's bucket notification, an
//! `sns` source's subscription, an `eventbridge` (or queue-fed `cloudwatch_alarm`) source's rule
//! and target; and for each, the statement in the queue's policy that lets the service send.
//! Setup reads what is there, compares it with what the source needs, and lists the
//! differences as [`Change`]s; `--apply` makes them. Everything is keyed by a name derived from
//! the source (`fanin-<source>`), so a second run finds its own entries and changes nothing,
//! and entries that others made (another notification on the bucket, another statement in the
//! policy) are kept as they are. Queues are not created: they are the source's own.

mod bucket;
mod queue_policy;
mod rule;
mod topic;

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Context;
use aws_config::SdkConfig;

use crate::settings::Config;
use crate::sources::sqs_reader::{SqsSettings, Wiring};
use crate::sources::{SourceKind, SourceSettings};
use queue_policy::{QueuePolicy, Statement};
pub use rule::rule_arn;

/// One difference between what is in AWS and what a source needs, and how to remove it.
struct Change {
    /// The source it is for.
    source: String,
    /// What it changes, for people: `s3 bucket photos: add notification fanin-uploads …`.
    description: String,
    action: Action,
}

/// One AWS call that makes a [`Change`].
enum Action {
    QueuePolicy(queue_policy::Update),
    Bucket(bucket::Update),
    Topic(topic::Update),
    Rule(rule::Update),
}

/// The clients setup calls.
struct Clients {
    sqs: aws_sdk_sqs::Client,
    s3: aws_sdk_s3::Client,
    sns: aws_sdk_sns::Client,
    events: aws_sdk_eventbridge::Client,
}

impl Clients {
    fn new(sdk: &SdkConfig) -> Clients {
        Clients { sqs: crate::aws::sqs(sdk), s3: crate::aws::s3(sdk), sns: crate::aws::sns(sdk), events: crate::aws::eventbridge(sdk) }
    }
}

/// Lists (and with `apply`, makes) the changes every source's wiring needs; exit 0 unless an
/// AWS call fails.
pub async fn run(config: &Config, apply: bool) -> anyhow::Result<ExitCode> {
    let sources: Vec<&SourceSettings> = config.sources.iter().filter(|s| wired(s).is_some()).collect();
    if sources.is_empty() {
        println!("No source has a `setup` table: nothing to wire.");
        return Ok(ExitCode::SUCCESS);
    }
    let sdk = crate::aws::load(&config.aws).await;
    crate::aws::check_ready(&sdk, &config.aws).await?;
    let clients = Clients::new(&sdk);
    let changes = plan(&sources, &clients).await?;
    if changes.is_empty() {
        println!("Nothing to change: the wiring of all {} source(s) with a `setup` table is in place.", sources.len());
        return Ok(ExitCode::SUCCESS);
    }
    for change in &changes {
        let mark = if apply { "change" } else { "would change" };
        println!("{}: {mark}: {}", change.source, change.description);
    }
    if !apply {
        println!("{} change(s) to make; run `fanin setup --config {} --apply` to make them.", changes.len(), config.file.display());
        return Ok(ExitCode::SUCCESS);
    }
    let count = changes.len();
    for change in changes {
        let Change { source, description, action } = change;
        let made = match action {
            Action::QueuePolicy(u) => u.apply(&clients.sqs).await,
            Action::Bucket(u) => u.apply(&clients.s3).await,
            Action::Topic(u) => u.apply(&clients.sns).await,
            Action::Rule(u) => u.apply(&clients.events).await,
        };
        made.with_context(|| format!("source {source}: {description}"))?;
    }
    println!("{count} change(s) made.");
    Ok(ExitCode::SUCCESS)
}

/// Every change, queue policies first: S3 checks that it may send to a queue when the
/// notification is put, and nothing should be sent before the queue accepts it.
async fn plan(sources: &[&SourceSettings], clients: &Clients) -> anyhow::Result<Vec<Change>> {
    let mut policies: BTreeMap<String, (QueuePolicy, Vec<(String, Statement)>)> = BTreeMap::new();
    let mut wiring = Vec::new();
    for source in sources {
        let Some((settings, what)) = wired(source) else { continue };
        let context = || format!("source {} ({})", source.name, source.file.display());
        if !policies.contains_key(&settings.queue_url) {
            let policy = QueuePolicy::read(&clients.sqs, &settings.queue_url).await.with_context(context)?;
            policies.insert(settings.queue_url.clone(), (policy, Vec::new()));
        }
        let (policy, statements) = policies.get_mut(&settings.queue_url).expect("read above");
        let (statement, changes) = wire(source, settings, what, &policy.queue_arn, clients).await.with_context(context)?;
        statements.push((source.name.clone(), statement));
        wiring.extend(changes);
    }
    let mut changes = Vec::new();
    for (policy, statements) in policies.into_values() {
        changes.extend(policy.changes(statements));
    }
    changes.extend(wiring);
    Ok(changes)
}

/// The queue and what to wire for it, for a source with a `setup` table.
fn wired(source: &SourceSettings) -> Option<(&SqsSettings, Wiring<'_>)> {
    let SourceKind::Sqs(settings @ SqsSettings { origin: Some(origin), .. }) = &source.kind else { return None };
    origin.wiring().map(|wiring| (settings, wiring))
}

/// What one source needs: the statement its queue's policy must hold, and the changes to the
/// service that sends (bucket, topic, rule).
async fn wire(
    source: &SourceSettings,
    settings: &SqsSettings,
    wiring: Wiring<'_>,
    queue_arn: &str,
    clients: &Clients,
) -> anyhow::Result<(Statement, Vec<Change>)> {
    let name = &source.name;
    let sent_by = |service: &str, arn: &str| Statement::new(name, service, queue_arn, arn);
    match wiring {
        Wiring::Bucket { bucket, options } => {
            let change = bucket::diff(&clients.s3, name, bucket, bucket::Wanted::new(name, queue_arn, options)).await?;
            Ok((sent_by("s3.amazonaws.com", &format!("arn:aws:s3:::{bucket}")), change.into_iter().collect()))
        }
        Wiring::Topic { topic } => {
            let change = topic::diff(&clients.sns, name, topic, queue_arn).await?;
            Ok((sent_by("sns.amazonaws.com", topic), change.into_iter().collect()))
        }
        Wiring::Rule { rule, pattern } => {
            let wanted = rule::Wanted {
                source: name.clone(),
                rule: rule.rule.clone(),
                bus: rule.event_bus.clone(),
                pattern,
                queue_arn: queue_arn.to_string(),
                message_group: settings.queue_url.ends_with(".fifo").then(|| name.clone()),
            };
            let (rule_arn, changes) = rule::diff(&clients.events, wanted).await?;
            Ok((sent_by("events.amazonaws.com", &rule_arn), changes))
        }
    }
}
