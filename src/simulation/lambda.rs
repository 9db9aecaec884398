//! A simulated Lambda function, played through the dispatcher's `Call::Scripted`.
//!
//! Its answers are built as the Invoke call builds them from Lambda's wire (the code and
//! status through [`classify`], a throttle's `Reason` and `Retry-After` beside them), so the
//! dispatcher cannot tell it from Lambda: a reserved-concurrency cap that answers 429
//! `TooManyRequestsException` beyond it, 500 `ServiceException`, the function's own error,
//! 404 `ResourceNotFoundException`, stalls that end as `Timeout`, and acceptance (202).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::Rng;

use super::ledger::Ledger;
use crate::dispatch::{classify, Answer, Call, Class, InvokeFailure};

/// What a function is like when nothing is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    /// How long an invoke takes to be answered.
    pub latency: Duration,
    /// Reserved concurrency: invokes beyond this many at once are throttled.
    pub reserved: Option<usize>,
}

/// The faults a function shows while they are set: the chance of each per invoke.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FnFaults {
    pub throttle: f64,
    /// What a throttle says to wait (`Retry-After`), if anything.
    pub retry_after: Option<Duration>,
    pub server_error: f64,
    pub function_error: f64,
    /// 404 `ResourceNotFoundException` (a function deleted for a while): dead-lettered at once.
    pub not_found: f64,
    pub stall: f64,
}

pub struct SimFunction {
    pub name: String,
    spec: FunctionSpec,
    /// (invokes in flight, faults now).
    state: Mutex<(usize, FnFaults)>,
    ledger: Arc<Mutex<Ledger>>,
    rng: Arc<Mutex<StdRng>>,
}

/// One invoke's place under the reserved concurrency.
struct Running<'a>(&'a SimFunction);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.state.lock().unwrap().0 -= 1;
    }
}

impl SimFunction {
    pub fn new(name: &str, spec: FunctionSpec, ledger: Arc<Mutex<Ledger>>, rng: Arc<Mutex<StdRng>>) -> Arc<SimFunction> {
        Arc::new(SimFunction { name: name.into(), spec, state: Mutex::default(), ledger, rng })
    }

    pub fn set_faults(&self, faults: FnFaults) {
        self.state.lock().unwrap().1 = faults;
    }

    /// The call a target of one daemon instance makes; `alive` false once that instance crashed.
    pub fn call(self: &Arc<Self>, target: &str, alive: Arc<AtomicBool>, invoke_timeout: Duration) -> Call {
        let (function, target) = (self.clone(), Arc::<str>::from(target));
        Call::Scripted(Arc::new(move |id: &str, _payload: &Bytes| {
            let (function, target, alive, id) = (function.clone(), target.clone(), alive.clone(), id.to_string());
            Box::pin(async move { function.invoke(&target, &alive, &id, invoke_timeout).await })
        }))
    }

    async fn invoke(&self, target: &str, alive: &AtomicBool, id: &str, invoke_timeout: Duration) -> Result<Answer, InvokeFailure> {
        let (over_cap, faults) = {
            let mut s = self.state.lock().unwrap();
            s.0 += 1;
            (self.spec.reserved.is_some_and(|r| s.0 > r), s.1.clone())
        };
        let running = Running(self);
        let draw: f64 = self.rng.lock().unwrap().random();
        let mut p = 0.0;
        let mut next = |chance: f64| {
            p += chance;
            draw < p
        };
        let failure = if over_cap {
            Some(throttle("ReservedFunctionConcurrentInvocationLimitExceeded", None))
        } else if next(faults.throttle) {
            Some(throttle("CallerRateLimitExceeded", faults.retry_after))
        } else if next(faults.server_error) {
            Some(failure(classify(Some("ServiceException"), Some(500), false), "ServiceException", Some(500)))
        } else if next(faults.function_error) {
            // As the Invoke call reports a synchronous call whose function failed, with
            // `retry_function_errors` on (the default).
            let mut f = failure(Class::FunctionFailed, "FunctionError", Some(200));
            f.answer = Some(Answer { status: 200, function_error: Some("Unhandled".into()), ..Default::default() });
            Some(f)
        } else if next(faults.not_found) {
            Some(failure(classify(Some("ResourceNotFoundException"), Some(404), false), "ResourceNotFoundException", Some(404)))
        } else if next(faults.stall) {
            tokio::time::sleep(invoke_timeout).await;
            Some(failure(classify(None, None, false), "Timeout", None))
        } else {
            None
        };
        let answer = match failure {
            Some(f) => {
                tokio::time::sleep(Duration::from_millis(2)).await;
                drop(running);
                halt_unless(alive).await;
                let mut ledger = self.ledger.lock().unwrap();
                match f.code.as_deref() {
                    Some("TooManyRequestsException") => ledger.tally.throttled += 1,
                    Some("ServiceException") => ledger.tally.server_errors += 1,
                    Some("FunctionError") => ledger.tally.function_errors += 1,
                    Some("ResourceNotFoundException") => ledger.tally.not_found += 1,
                    _ => ledger.tally.stalls += 1,
                }
                Err(f)
            }
            None => {
                tokio::time::sleep(self.spec.latency).await;
                drop(running);
                halt_unless(alive).await;
                self.ledger.lock().unwrap().accepted(id, target);
                Ok(Answer { request_id: Some(format!("{}-{id}", self.name)), status: 202, ..Default::default() })
            }
        };
        answer
    }
}

/// A 429 as the Invoke call reads it: classified by its code, with `Reason` and `Retry-After`.
fn throttle(reason: &str, retry_after: Option<Duration>) -> InvokeFailure {
    let mut class = classify(Some("TooManyRequestsException"), Some(429), false);
    if let Class::Throttled { reason: r, retry_after: after } = &mut class {
        *r = Some(reason.to_string());
        *after = retry_after;
    }
    failure(class, "TooManyRequestsException", Some(429))
}

fn failure(class: Class, code: &str, status: Option<u16>) -> InvokeFailure {
    InvokeFailure { class, code: Some(code.into()), status, message: "simulated".into(), request_id: None, answer: None }
}

/// An answer to a crashed daemon never arrives.
async fn halt_unless(alive: &AtomicBool) {
    if !alive.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
}
