//! Targets: a `DryRun` Invoke of each, which Lambda answers only when the function and its
//! qualifier exist and the caller may invoke them, without running anything.

use aws_sdk_lambda::types::InvocationType;

use super::failure::Failure;
use super::{Check, Status, World};
use crate::dispatch::function_name::split_qualifier;
use crate::dispatch::settings::{TargetKind, TargetSettings};
use crate::dispatch::{classify, Class};
use crate::dlq::Condition;
use crate::iam::Subject;

const KIND: &str = "target";

/// Checks one target.
pub(super) async fn check(world: World, name: String) -> Vec<Check> {
    let target = &world.config.targets[&name];
    let sdk = world.sdk.as_ref().expect("target checks run online");
    let function = match &target.kind {
        TargetKind::StateMachine(arn) => return vec![state_machine(&world, &name, target, arn).await],
        TargetKind::Url { url, .. } => return vec![function_url(&name, url, target).await],
        TargetKind::Function(function) => function,
    };
    let client = crate::aws::lambda(sdk, target.invoke_timeout);
    let check = match dry_run(&client, function, target.qualifier.as_deref()).await {
        Ok(()) => Check::new(KIND, &name, Status::Ok, format!("{}: exists and may be invoked (DryRun)", describe(function, target))),
        Err(f) => explain(&world, &name, function, target, &client, f).await,
    };
    vec![check]
}

/// The function as configured, with its configured qualifier.
fn describe(function: &str, target: &TargetSettings) -> String {
    match &target.qualifier {
        Some(q) => format!("{function} (qualifier {q})"),
        None => function.to_string(),
    }
}

async fn dry_run(client: &aws_sdk_lambda::Client, function: &str, qualifier: Option<&str>) -> Result<(), Failure> {
    client
        .invoke()
        .function_name(function)
        .set_qualifier(qualifier.map(str::to_string))
        .invocation_type(InvocationType::DryRun)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| Failure::of(&e))
}

/// How the dispatcher would classify a failure Lambda answered; `None` when it never answered.
fn class(f: &Failure) -> Option<Class> {
    f.answered().then(|| classify(f.code.as_deref(), f.status, false))
}

const NOT_FOUND: Class = Class::Terminal(Condition::ResourceNotFound);

/// The finding for a DryRun that failed.
async fn explain(world: &World, name: &str, function: &str, target: &TargetSettings, client: &aws_sdk_lambda::Client, f: Failure) -> Check {
    let what = describe(function, target);
    match class(&f) {
        None => {
            Check::new(KIND, name, Status::Fail, format!("{what}: Lambda did not answer: {}", f.summary())).unless_answered(&f, "LAMBDA")
        }
        Some(NOT_FOUND) => not_found(world, name, function, target, client).await,
        Some(Class::Terminal(Condition::AccessDenied)) => denied(world, name, &what, target, &f),
        Some(Class::Throttled { .. }) => Check::new(
            KIND,
            name,
            Status::Warn,
            format!("{what}: Lambda throttled the DryRun: {}", f.summary()),
        )
        .advise(
            "the function exists, but calls to it are being throttled: check its reserved concurrency and the account's concurrency limits",
        ),
        Some(_) => Check::new(KIND, name, Status::Fail, format!("{what}: Lambda refused the DryRun: {}", f.summary())),
    }
}

/// 404: with a qualifier, a second, unqualified DryRun tells a missing alias or version from a
/// missing function.
async fn not_found(world: &World, name: &str, function: &str, target: &TargetSettings, client: &aws_sdk_lambda::Client) -> Check {
    let (function, suffix) = split_qualifier(function);
    let Some(qualifier) = target.qualifier.as_deref().or(suffix) else {
        return function_missing(world, name, function);
    };
    match dry_run(client, function, None).await {
        Err(f) if class(&f) == Some(NOT_FOUND) => function_missing(world, name, function),
        _ => Check::new(KIND, name, Status::Fail, format!("function {function} has no alias or version \"{qualifier}\"")).advise(format!(
            "see the aliases and versions it has, then fix targets.{name}.qualifier:\n\
                 aws lambda list-aliases --function-name {function}\n\
                 aws lambda list-versions-by-function --function-name {function}"
        )),
    }
}

fn function_missing(world: &World, name: &str, function: &str) -> Check {
    let region = world.region().unwrap_or_else(|| "(none resolved)".into());
    Check::new(KIND, name, Status::Fail, format!("function {function} not found in region {region}")).advise(format!(
        "check the name in targets.{name}.function (a name, partial ARN or full ARN) and the region ([aws] region, AWS_REGION):\n\
         aws lambda get-function --function-name {function} --region {region}"
    ))
}

/// A function URL target: it resolves and answers (TLS for `https://`); no event is sent.
async fn function_url(name: &str, url: &str, target: &TargetSettings) -> Check {
    match crate::dispatch::function_url::reach(url, target.invoke_timeout).await {
        Ok(()) => {
            let tls = if url.starts_with("https://") { " and answers TLS" } else { " and answers (plain HTTP)" };
            Check::new(KIND, name, Status::Ok, format!("function URL {url}: resolves{tls}; nothing sent"))
        }
        Err(e) => Check::new(KIND, name, Status::Fail, format!("function URL {url}: {e}"))
            .advise(format!("check targets.{name}.url (aws lambda get-function-url-config --function-name <function>) and the network")),
    }
}

/// A Step Functions target: `DescribeStateMachine`, which starts nothing.
async fn state_machine(world: &World, name: &str, target: &TargetSettings, arn: &str) -> Check {
    let sdk = world.sdk.as_ref().expect("target checks run online");
    let described = crate::aws::sfn(sdk, target.invoke_timeout).describe_state_machine().state_machine_arn(arn).send().await;
    match described.map_err(|e| Failure::of(&e)) {
        Ok(out) => Check::new(
            KIND,
            name,
            Status::Ok,
            format!("state machine {arn}: exists ({}, {})", out.r#type().as_str(), out.status().map(|s| s.as_str()).unwrap_or("ACTIVE")),
        ),
        Err(f) if f.code.as_deref() == Some("StateMachineDoesNotExist") => {
            Check::new(KIND, name, Status::Fail, format!("state machine {arn} does not exist")).advise(format!(
                "check targets.{name}.state_machine and the region:\naws stepfunctions describe-state-machine --state-machine-arn {arn}"
            ))
        }
        Err(f) if f.denied() => Check::new(KIND, name, Status::Fail, format!("state machine {arn}: access denied: {}", f.summary()))
            .advise(world.grant_missing(Subject::Target(target))),
        Err(f) => Check::new(KIND, name, Status::Fail, format!("state machine {arn}: {}", f.summary())).unless_answered(&f, "SFN"),
    }
}

fn denied(world: &World, name: &str, what: &str, target: &TargetSettings, f: &Failure) -> Check {
    Check::new(KIND, name, Status::Fail, format!("{what}: invoke denied: {}", f.summary()))
        .advise(world.grant_missing(Subject::Target(target)))
}
