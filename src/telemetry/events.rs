//! Internal events: one struct per thing that happens, each feeding its metrics, so the
//! names and labels live in one place. Labels are `source` and `target`, plus the bounded
//! `condition` and `reason` where the issue calls for them; never event ids.

use std::time::Duration;

use metrics::{counter, gauge, histogram, Counter, Histogram};

/// Installs the Prometheus recorder; the handle renders `/metrics`.
pub fn install_recorder() -> metrics_exporter_prometheus::PrometheusHandle {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Suffix("seconds".into()),
            &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
        )
        .expect("static buckets")
        .install_recorder()
        .expect("the metrics recorder is installed once");
    describe();
    handle
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Folds recorded histogram samples into their buckets every few seconds until `shutdown`.
/// The recorder keeps every sample until a render or an upkeep drains it, so without this a
/// daemon nobody scrapes would grow by eight bytes per invocation, forever.
pub async fn upkeep(handle: metrics_exporter_prometheus::PrometheusHandle, shutdown: tokio_util::sync::CancellationToken) {
    let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => handle.run_upkeep(),
        }
    }
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!("fanin_events_received_total", "Events taken in from upstream, by source.");
    describe_counter!("fanin_events_dispatched_total", "Events Lambda accepted, by source and target.");
    describe_counter!("fanin_events_dead_lettered_total", "Events written to a dead-letter sink, by condition.");
    describe_counter!("fanin_dead_letter_failures_total", "Dead-letter writes that failed (the event stays upstream).");
    describe_counter!("fanin_success_record_failures_total", "On-success records that could not be written (the event stays upstream).");
    describe_counter!("fanin_invoke_retries_total", "Failed attempts that will be retried.");
    describe_counter!("fanin_invoke_throttles_total", "429 answers, by Lambda's Reason.");
    describe_counter!("fanin_events_unrouted_total", "Events with no route, acknowledged.");
    describe_counter!(
        "fanin_messages_left_upstream_total",
        "Upstream messages left in place because a route did not settle; they come back."
    );
    describe_counter!("fanin_events_skipped_total", "Messages that became no event (S3 test events, SNS confirmations, source filters).");
    describe_counter!(
        "fanin_duplicates_suppressed_total",
        "Copies of a message received while an earlier copy was still in flight, not invoked again."
    );
    describe_counter!("fanin_config_reloads_total", "Configuration reloads, by result.");
    describe_counter!("fanin_http_requests_total", "Webhook requests answered, by source and status code.");
    describe_counter!("fanin_http_signature_failures_total", "Webhook requests whose signature was refused (401), by source.");
    describe_counter!(
        "fanin_task_callbacks_total",
        "Task-token sources' Step Functions tasks by result: success, failure, gone (closed already), not_taken (left upstream)."
    );
    describe_histogram!("fanin_invoke_duration_seconds", Unit::Seconds, "Invoke call latency, by target.");
    describe_histogram!("fanin_cron_lateness_seconds", Unit::Seconds, "How late a cron fire reached the queue.");
    describe_gauge!("fanin_queue_depth", "Events held and not in flight: waiting for dispatch, for a permit, or to retry.");
    describe_gauge!("fanin_invocations_in_flight", "Invoke calls in flight.");
    describe_gauge!("fanin_oldest_event_age_seconds", "Age of the oldest event under dispatch (waiting, in flight or backing off).");
}

/// An event came in from upstream.
pub struct EventReceived<'a> {
    pub source: &'a str,
}

impl EventReceived<'_> {
    pub fn emit(&self) {
        self.counter().increment(1);
    }

    /// The counter itself, for a source to keep: a kept handle is bumped without building its
    /// key and looking it up in the registry for every event.
    pub fn counter(&self) -> Counter {
        counter!("fanin_events_received_total", "source" => self.source.to_string())
    }
}

/// Lambda accepted an event.
pub struct EventDispatched<'a> {
    pub source: &'a str,
    pub target: &'a str,
}

impl EventDispatched<'_> {
    /// The counter itself, kept with each route (see [`EventReceived::counter`]).
    pub fn counter(&self) -> Counter {
        counter!("fanin_events_dispatched_total", "source" => self.source.to_string(), "target" => self.target.to_string())
    }
}

/// One Invoke call finished, whatever its answer: its duration goes to its target's histogram,
/// which the target keeps (see [`EventReceived::counter`]).
pub struct InvokeFinished;

impl InvokeFinished {
    pub fn histogram(target: &str) -> Histogram {
        histogram!("fanin_invoke_duration_seconds", "target" => target.to_string())
    }
}

/// An attempt failed and another will follow.
pub struct InvokeRetried<'a> {
    pub source: &'a str,
    pub target: &'a str,
}

impl InvokeRetried<'_> {
    pub fn emit(&self) {
        counter!("fanin_invoke_retries_total", "source" => self.source.to_string(), "target" => self.target.to_string()).increment(1);
    }
}

/// Lambda answered 429.
pub struct InvokeThrottled<'a> {
    pub target: &'a str,
    pub reason: &'a str,
}

impl InvokeThrottled<'_> {
    pub fn emit(&self) {
        counter!("fanin_invoke_throttles_total", "target" => self.target.to_string(), "reason" => self.reason.to_string()).increment(1);
    }
}

/// What became of a Step Functions task a task-token source held (`result`: `success` or
/// `failure`, the callback sent; `gone`, the task was closed already; `not_taken`, the callback
/// was refused or unanswered and the message stays upstream).
pub struct TaskCallback<'a> {
    pub source: &'a str,
    pub result: &'static str,
}

impl TaskCallback<'_> {
    pub fn emit(&self) {
        counter!("fanin_task_callbacks_total", "source" => self.source.to_string(), "result" => self.result).increment(1);
    }
}

/// An upstream message's routes did not all settle: it stays upstream and comes back.
pub struct MessageLeftUpstream;

impl MessageLeftUpstream {
    pub fn emit(&self) {
        counter!("fanin_messages_left_upstream_total").increment(1);
    }
}

/// The line `fanin run` ends with: what this run did, summed from its own metrics so that the
/// line and `/metrics` never disagree.
pub fn run_summary(metrics: &str) -> String {
    let total = |name: &str| -> u64 {
        metrics
            .lines()
            .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with(['{', ' '])))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    };
    format!(
        "fanin stopped: received {} events; Lambda accepted {} deliveries, {} went to dead-letter sinks, {} messages left upstream to come back",
        total("fanin_events_received_total"),
        total("fanin_events_dispatched_total"),
        total("fanin_events_dead_lettered_total"),
        total("fanin_messages_left_upstream_total"),
    )
}

/// An event was written to its dead-letter sink.
pub struct EventDeadLettered<'a> {
    pub source: &'a str,
    pub target: &'a str,
    pub condition: &'static str,
}

impl EventDeadLettered<'_> {
    pub fn emit(&self) {
        counter!(
            "fanin_events_dead_lettered_total",
            "source" => self.source.to_string(), "target" => self.target.to_string(), "condition" => self.condition
        )
        .increment(1);
    }
}

/// A dead-letter write failed.
pub struct DeadLetterFailed<'a> {
    pub source: &'a str,
    pub target: &'a str,
}

impl DeadLetterFailed<'_> {
    pub fn emit(&self) {
        counter!("fanin_dead_letter_failures_total", "source" => self.source.to_string(), "target" => self.target.to_string()).increment(1);
    }
}

/// An on-success record could not be written; the event stays upstream.
pub struct SuccessRecordFailed<'a> {
    pub source: &'a str,
    pub target: &'a str,
}

impl SuccessRecordFailed<'_> {
    pub fn emit(&self) {
        counter!("fanin_success_record_failures_total", "source" => self.source.to_string(), "target" => self.target.to_string())
            .increment(1);
    }
}

/// A message became no event (S3 test event, SNS confirmation, filtered out by the source).
pub struct EventSkipped<'a> {
    pub source: &'a str,
    pub reason: &'static str,
}

impl EventSkipped<'_> {
    pub fn emit(&self) {
        counter!("fanin_events_skipped_total", "source" => self.source.to_string(), "reason" => self.reason).increment(1);
    }
}

/// SQS handed out a message again while its first copy was still in flight here; the copy
/// was not dispatched (its newer receipt handle was kept for the delete).
pub struct DuplicateSuppressed<'a> {
    pub source: &'a str,
}

impl DuplicateSuppressed<'_> {
    pub fn emit(&self) {
        counter!("fanin_duplicates_suppressed_total", "source" => self.source.to_string()).increment(1);
    }
}

/// An event matched no route.
pub struct EventUnrouted<'a> {
    pub source: &'a str,
}

impl EventUnrouted<'_> {
    pub fn emit(&self) {
        counter!("fanin_events_unrouted_total", "source" => self.source.to_string()).increment(1);
    }
}

/// A cron fire reached the queue `late` after its instant.
pub struct CronFired<'a> {
    pub source: &'a str,
    pub late: Duration,
}

impl CronFired<'_> {
    pub fn emit(&self) {
        histogram!("fanin_cron_lateness_seconds", "source" => self.source.to_string()).record(self.late.as_secs_f64());
    }
}

/// A configuration reload was tried.
pub struct ConfigReloaded {
    pub ok: bool,
}

impl ConfigReloaded {
    pub fn emit(&self) {
        counter!("fanin_config_reloads_total", "result" => if self.ok { "ok" } else { "refused" }).increment(1);
    }
}

/// The dispatcher's periodic view of its load.
pub struct DispatchLoad {
    pub queue_depth: usize,
    pub in_flight: usize,
    pub oldest_event_age: Duration,
}

impl DispatchLoad {
    pub fn emit(&self) {
        gauge!("fanin_queue_depth").set(self.queue_depth as f64);
        gauge!("fanin_invocations_in_flight").set(self.in_flight as f64);
        gauge!("fanin_oldest_event_age_seconds").set(self.oldest_event_age.as_secs_f64());
    }
}

/// An `http` source answered a request (`source` empty: no source on its path).
pub struct HttpAnswered<'a> {
    pub source: &'a str,
    pub code: u16,
}

impl HttpAnswered<'_> {
    pub fn emit(&self) {
        counter!("fanin_http_requests_total", "source" => self.source.to_string(), "code" => self.code.to_string()).increment(1);
    }
}

/// An `http` source refused a request's signature.
pub struct SignatureRefused<'a> {
    pub source: &'a str,
}

impl SignatureRefused<'_> {
    pub fn emit(&self) {
        counter!("fanin_http_signature_failures_total", "source" => self.source.to_string()).increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_summary_sums_each_counter_over_its_labels() {
        let metrics = "# HELP fanin_events_received_total x\n\
            fanin_events_received_total{source=\"a\"} 3\n\
            fanin_events_received_total{source=\"b\"} 4\n\
            fanin_events_received_total_other 100\n\
            fanin_events_dispatched_total{source=\"a\",target=\"t\"} 6\n\
            fanin_events_dead_lettered_total{source=\"b\",target=\"t\",condition=\"ResourceNotFound\"} 1\n\
            fanin_messages_left_upstream_total 2\n";
        assert_eq!(
            run_summary(metrics),
            "fanin stopped: received 7 events; Lambda accepted 6 deliveries, 1 went to dead-letter sinks, 2 messages left upstream to come back"
        );
    }
}
