//! What a target calls, one kind per module: a Lambda function (`Invoke`, [`super::invoker`]),
//! a function URL (an HTTPS POST, [`super::function_url`]) or a Step Functions state machine
//! (`StartExecution`, [`super::step_functions`]). The dispatcher sees only this.

use aws_config::SdkConfig;
use bytes::Bytes;

use super::ASYNC_PAYLOAD_LIMIT;

/// A synchronous invocation's request limit (what a function URL takes).
const SYNC_PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;
use super::function_url::UrlCaller;
use super::invoker::{Answer, InvokeFailure, Invoker};
use super::step_functions::{self, Starter};
use crate::dispatch::settings::{TargetKind, TargetSettings};

/// A target's call.
pub enum Call {
    Lambda(Invoker),
    FunctionUrl(UrlCaller),
    StepFunctions(Starter),
    /// A function played in memory by the simulation (`crate::simulation`).
    #[cfg(test)]
    Scripted(ScriptedCall),
}

/// The simulation's function: given the event id and payload, Lambda's answer.
#[cfg(test)]
pub type ScriptedCall = std::sync::Arc<dyn Fn(&str, &Bytes) -> crate::BoxFuture<'static, Result<Answer, InvokeFailure>> + Send + Sync>;

impl Call {
    /// The call `settings` describe. `scope` (region, account) completes a function given by
    /// name into the ARN records carry; without it they name it as configured.
    pub fn of(sdk: &SdkConfig, settings: &TargetSettings, target: &str, scope: Option<(&str, &str)>) -> Call {
        match &settings.kind {
            TargetKind::StateMachine(arn) => Call::StepFunctions(Starter::new(crate::aws::sfn(sdk, settings.invoke_timeout), arn, target)),
            TargetKind::Url { url, auth, .. } => Call::FunctionUrl(UrlCaller::new(sdk, url, *auth, settings.invoke_timeout)),
            TargetKind::Function(function) => Call::Lambda(Invoker::new(sdk, function, settings, scope)),
        }
    }

    /// Sends event `event_id` once, in the X-Ray trace `trace` when it has one.
    pub async fn send(&self, event_id: &str, payload: &Bytes, trace: Option<&str>) -> Result<Answer, InvokeFailure> {
        match self {
            Call::Lambda(invoker) => invoker.invoke(payload, trace).await,
            Call::FunctionUrl(caller) => caller.post(payload, trace).await,
            Call::StepFunctions(starter) => starter.start(event_id, payload, trace).await,
            #[cfg(test)]
            Call::Scripted(call) => call(event_id, payload).await,
        }
    }

    /// What records name as the function (`requestContext.functionArn`).
    pub fn arn(&self) -> String {
        match self {
            Call::Lambda(invoker) => invoker.function_arn(),
            Call::FunctionUrl(caller) => caller.url().to_string(),
            Call::StepFunctions(starter) => starter.arn().to_string(),
            #[cfg(test)]
            Call::Scripted(_) => "arn:aws:lambda:us-east-1:123456789012:function:simulated".into(),
        }
    }

    /// Whether a call's answer is the work's result (a synchronous Lambda invoke, a function
    /// URL), which a task-token source completes its task with; an asynchronous invoke or a
    /// started execution leaves the task to whoever does the work.
    pub fn answers(&self) -> bool {
        match self {
            Call::Lambda(invoker) => invoker.is_synchronous(),
            Call::FunctionUrl(_) => true,
            Call::StepFunctions(_) => false,
            #[cfg(test)]
            Call::Scripted(_) => false,
        }
    }

    /// The largest payload the service takes; larger ones go through the claim check.
    pub fn payload_limit(&self) -> usize {
        match self {
            Call::Lambda(_) => ASYNC_PAYLOAD_LIMIT,
            // A function URL runs the function synchronously: Invoke's 6 MB request limit.
            Call::FunctionUrl(_) => SYNC_PAYLOAD_LIMIT,
            Call::StepFunctions(_) => step_functions::INPUT_LIMIT,
            #[cfg(test)]
            Call::Scripted(_) => ASYNC_PAYLOAD_LIMIT,
        }
    }
}
