//! fanin: fans events in from AWS event sources and local schedules, and fans them out as
//! asynchronous Lambda invocations under concurrency and rate limits, with retries and a
//! dead-letter sink.

pub mod aws;
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
pub mod setup;
pub mod sources;
pub mod telemetry;
pub mod validate;

/// A boxed, sendable future (for traits used as objects).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
