//! `fanin validate`: the configuration checked against the world.
//!
//! The configuration itself was loaded (and refused with exit 2 if bad) before this runs. Here
//! every target is DryRun-invoked, every SQS source queue and dead-letter sink is looked up or
//! written to, and every schedule's next fires are listed. Each finding is a `Check`: ok, warn
//! (works, but something an operator should know) or fail (unreachable, missing or denied),
//! with advice in the operator's terms. `--offline` makes no AWS call at all (systemd
//! `ExecStartPre`), so it checks only what is local: file sinks, the cron state directory,
//! schedules, and what the configuration alone says about SQS's limits.
//!
//! The AWS checks run at once (one task each), so a slow or unreachable endpoint costs one
//! timeout, not one per target; the findings are printed in configuration order all the same.

mod account;
mod alarms;
mod failure;
mod files;
mod queues;
mod schedules;
mod sinks;
mod targets;
mod webhooks;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;
use serde::Serialize;

use crate::iam::Subject;
use crate::settings::Config;
use crate::sources::SourceKind;
use crate::BoxFuture;

/// How `validate` prints its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// One JSON document.
    Json,
}

/// Runs every check and prints them; exit 0 when nothing failed (warnings allowed), else 1.
pub async fn run(config: &Config, offline: bool, format: Format) -> anyhow::Result<ExitCode> {
    let config = Arc::new(config.clone());
    let mut checks = config.warnings().iter().map(Check::warning).collect::<Vec<_>>();
    let sdk = if offline { None } else { Some(bounded(crate::aws::load(&config.aws).await)) };
    // Without a region or credentials no AWS check can say anything but that: say it once,
    // and check what is local.
    let unready = match &sdk {
        Some(sdk) => crate::aws::check_ready(sdk, &config.aws).await.err(),
        None => None,
    };
    let sdk = if unready.is_some() { None } else { sdk };
    if let Some(why) = unready {
        checks.push(Check::new("aws", "setup", Status::Fail, why.to_string()));
    }
    let world = World { config, sdk };
    checks.extend(run_all(plan(&world)).await);
    let failed = checks.iter().any(|c| c.status == Status::Fail);
    match format {
        Format::Text => print!("{}", text(&checks, offline)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&Report { ok: !failed, offline, checks: &checks })?),
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// How long one SQS or S3 call may take, its SDK retries included (Lambda calls have the
/// target's `invoke_timeout`), so an endpoint that never answers cannot hang the run.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

fn bounded(sdk: SdkConfig) -> SdkConfig {
    let timeouts = sdk.timeout_config().map(TimeoutConfig::to_builder).unwrap_or_default().operation_timeout(CALL_TIMEOUT).build();
    sdk.into_builder().timeout_config(timeouts).build()
}

/// The configuration and, unless offline, the SDK settings every AWS client is built from.
#[derive(Clone)]
struct World {
    config: Arc<Config>,
    sdk: Option<SdkConfig>,
}

impl World {
    /// The region the clients resolved, for advice (`aws … --region R`) and IAM statements.
    fn region(&self) -> Option<String> {
        self.sdk.as_ref().and_then(|s| s.region()).map(|r| r.to_string())
    }

    /// Advice for a denied call: `intro`, then the statements `subject` needs, as
    /// `fanin iam-policy` prints them (pretty JSON, ready to paste).
    fn grant(&self, intro: &str, subject: Subject<'_>) -> String {
        let mut advice = intro.to_string();
        for s in crate::iam::statements_for(&self.config, subject, self.region().as_deref()) {
            advice.push('\n');
            advice.push_str(&serde_json::to_string_pretty(&s).expect("a statement serializes"));
        }
        advice
    }

    /// Advice for a denied call fanin itself needs: the statement to grant.
    fn grant_missing(&self, subject: Subject<'_>) -> String {
        let intro = format!(
            "grant this statement to the role fanin runs as (fanin iam-policy --config {} prints the whole policy):",
            self.config.file.display()
        );
        self.grant(&intro, subject)
    }
}

/// Every check, in the order they are printed: the account, targets, sources, sinks, the cron state.
fn plan(world: &World) -> Vec<BoxFuture<'static, Vec<Check>>> {
    let config = &world.config;
    let mut plan: Vec<BoxFuture<'static, Vec<Check>>> = vec![Box::pin(account::check(world.clone()))];
    if world.sdk.is_some() {
        for name in config.targets.keys() {
            plan.push(Box::pin(targets::check(world.clone(), name.clone())));
        }
    }
    for (index, source) in config.sources.iter().enumerate() {
        match &source.kind {
            SourceKind::Sqs(_) => plan.push(Box::pin(queues::check(world.clone(), index))),
            SourceKind::Cron(cron) => plan.push(ready(vec![schedules::check(&source.name, cron, chrono::Utc::now())])),
            SourceKind::AlarmPoll(_) => plan.push(Box::pin(alarms::check(world.clone(), index))),
        }
    }
    plan.push(ready(webhooks::check(world)));
    for sink in sinks::all(config) {
        plan.push(Box::pin(sinks::check(world.clone(), sink)));
    }
    if let Some(check) = schedules::state(config) {
        plan.push(ready(vec![check]));
    }
    plan.push(Box::pin(schedules::claims(world.clone())));
    plan
}

fn ready(checks: Vec<Check>) -> BoxFuture<'static, Vec<Check>> {
    Box::pin(std::future::ready(checks))
}

/// Runs the checks at once and returns their findings in plan order.
async fn run_all(plan: Vec<BoxFuture<'static, Vec<Check>>>) -> Vec<Check> {
    let mut set = tokio::task::JoinSet::new();
    for (i, check) in plan.into_iter().enumerate() {
        set.spawn(async move { (i, check.await) });
    }
    let mut done = set.join_all().await;
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().flat_map(|(_, checks)| checks).collect()
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Fail,
}

/// One finding: what was checked, how it came out, and what to do about it.
#[derive(Debug, Clone, Serialize)]
struct Check {
    /// `target`, `source`, `schedule`, `dlq` or `state`.
    kind: &'static str,
    /// The target, source or sink name as configured.
    name: String,
    status: Status,
    detail: String,
    /// What to do, when there is something to do.
    advice: Option<String>,
}

impl Check {
    fn new(kind: &'static str, name: &str, status: Status, detail: impl Into<String>) -> Check {
        Check { kind, name: name.to_string(), status, detail: detail.into(), advice: None }
    }

    /// A no-op of the configuration ([`Config::warnings`]).
    fn warning(w: &crate::config::ConfigError) -> Check {
        Check::new("config", &w.file.display().to_string(), Status::Warn, format!("{}: {}", w.key, w.message))
    }

    fn advise(mut self, advice: impl Into<String>) -> Check {
        self.advice = Some(advice.into());
        self
    }

    /// Advises on reaching `service` when the call that failed got no answer at all.
    fn unless_answered(self, f: &failure::Failure, service: &str) -> Check {
        if f.answered() {
            self
        } else {
            self.advise(failure::Failure::unreachable_advice(service))
        }
    }
}

/// The `--format json` document.
#[derive(Serialize)]
struct Report<'a> {
    ok: bool,
    offline: bool,
    checks: &'a [Check],
}

/// What `validate` finds about the target `name` (a DryRun, and its advice when it fails), as
/// it prints it: `fanin invoke` shows this when its call failed.
pub async fn target_finding(config: &Config, sdk: &SdkConfig, name: &str) -> String {
    let world = World { config: Arc::new(config.clone()), sdk: Some(bounded(sdk.clone())) };
    lines(&targets::check(world, name.to_string()).await)
}

/// Why the target `name` fails the check `validate` makes of it (a DryRun), with its advice
/// on the same line; `None` when it passes or only warns. `fanin run` asks this at start.
pub async fn target_problem(config: &Config, sdk: &SdkConfig, name: &str) -> Option<String> {
    let world = World { config: Arc::new(config.clone()), sdk: Some(bounded(sdk.clone())) };
    let failed = targets::check(world, name.to_string()).await.into_iter().find(|c| c.status == Status::Fail)?;
    let advice = failed.advice.map(|a| format!(" ({})", a.lines().next().unwrap_or_default().trim_end_matches(':'))).unwrap_or_default();
    Some(format!("{}{advice}", failed.detail))
}

/// One line per check, advice indented under it, then a count.
fn text(checks: &[Check], offline: bool) -> String {
    let mut out = String::new();
    if offline {
        out.push_str("offline: targets, queues and remote sinks not checked against AWS\n");
    }
    out.push_str(&lines(checks));
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    out.push_str(&format!(
        "{} checks: {} ok, {} warn, {} failed\n",
        checks.len(),
        count(Status::Ok),
        count(Status::Warn),
        count(Status::Fail)
    ));
    out
}

/// One line per check, advice indented under it.
fn lines(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let status = match c.status {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        out.push_str(&format!("{status:<4}  {} {}: {}\n", c.kind, c.name, c.detail));
        for line in c.advice.iter().flat_map(|a| a.lines()) {
            out.push_str(&format!("      {line}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_has_one_line_per_check_and_indented_advice() {
        let checks = vec![
            Check::new("target", "a", Status::Ok, "fine"),
            Check::new("source", "b", Status::Fail, "gone").advise("create it\nthen retry"),
        ];
        assert_eq!(
            text(&checks, false),
            "ok    target a: fine\nFAIL  source b: gone\n      create it\n      then retry\n2 checks: 1 ok, 0 warn, 1 failed\n"
        );
    }

    #[test]
    fn json_statuses_are_lowercase() {
        let check = Check::new("dlq", "x", Status::Warn, "d");
        let v = serde_json::to_value(&check).unwrap();
        assert_eq!(v["status"], "warn");
        assert_eq!(v["advice"], serde_json::Value::Null);
    }
}
