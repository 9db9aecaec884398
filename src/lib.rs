//! fanin: fans events in from AWS event sources and local schedules, and fans them out as
//! asynchronous Lambda invocations under concurrency and rate limits, with retries and a
//! dead-letter sink.

pub mod aws;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod dispatch;
pub mod dlq;
pub mod event;
#[doc(hidden)]
pub mod fuzzing;
pub mod iam;
pub mod inspect;
pub mod instance;
pub mod invoke;
pub mod pattern;
pub mod queue;
pub mod replay;
pub mod samples;
pub mod settings;
pub mod setup;
pub mod signed_http;
#[cfg(test)]
mod simulation;
pub mod sources;
pub mod telemetry;
pub mod test_pattern;
pub mod validate;

/// An error and its causes, `outer: inner: …` (the SDKs' own context display adds a Debug dump).
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

/// A boxed, sendable future (for traits used as objects).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
