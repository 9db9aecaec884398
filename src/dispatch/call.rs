//! What a target calls, one kind per module: a Lambda function (`Invoke`, [`super::invoker`])
//! or a Step Functions state machine (`StartExecution`, [`super::step_functions`]). The
//! dispatcher sees only this.

use aws_config::SdkConfig;
use bytes::Bytes;

use super::ASYNC_PAYLOAD_LIMIT;
use super::invoker::{Answer, InvokeFailure, Invoker};
use super::step_functions::{self, Starter};
use crate::config::TargetSettings;

/// A target's call.
pub enum Call {
    Lambda(Invoker),
    StepFunctions(Starter),
}

impl Call {
    /// The call `settings` describe. `scope` (region, account) completes a function given by
    /// name into the ARN records carry; without it they name it as configured.
    pub fn of(sdk: &SdkConfig, settings: &TargetSettings, target: &str, scope: Option<(&str, &str)>) -> Call {
        match &settings.state_machine {
            Some(arn) => Call::StepFunctions(Starter::new(crate::aws::sfn(sdk, settings.invoke_timeout), arn, target)),
            None => Call::Lambda(Invoker::new(crate::aws::lambda(sdk, settings.invoke_timeout), settings, scope)),
        }
    }

    /// Sends event `event_id` once.
    pub async fn send(&self, event_id: &str, payload: &Bytes) -> Result<Answer, InvokeFailure> {
        match self {
            Call::Lambda(invoker) => invoker.invoke(payload).await,
            Call::StepFunctions(starter) => starter.start(event_id, payload).await,
        }
    }

    /// What records name as the function (`requestContext.functionArn`).
    pub fn arn(&self) -> String {
        match self {
            Call::Lambda(invoker) => invoker.function_arn(),
            Call::StepFunctions(starter) => starter.arn().to_string(),
        }
    }

    /// The largest payload the service takes; larger ones go through the claim check.
    pub fn payload_limit(&self) -> usize {
        match self {
            Call::Lambda(_) => ASYNC_PAYLOAD_LIMIT,
            Call::StepFunctions(_) => step_functions::INPUT_LIMIT,
        }
    }
}
