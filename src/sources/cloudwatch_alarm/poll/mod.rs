//! The polling `cloudwatch_alarm` source: where no rule or alarm action can be wired,
//! `DescribeAlarms` every interval and one event per state transition, shaped as the event an
//! alarm's Lambda action gives.
//!
//! Each alarm's last *delivered* state is kept in `<state_dir>/alarms/<source>.json` and moves
//! only when the transition's event has settled (delivered or dead-lettered), so a restart
//! repeats nothing that settled and misses nothing that did not. A first run (no file) takes
//! the states it finds as they are; an alarm that appears later counts as coming from
//! `INSUFFICIENT_DATA`, the state CloudWatch creates alarms in.

mod state;

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use aws_sdk_cloudwatch::error::DisplayErrorContext;
use aws_sdk_cloudwatch::types::{AlarmType, CompositeAlarm, Dimension, MetricAlarm, MetricDataQuery};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, warn};

use super::AlarmPollSettings;
use crate::event::{Ack, Disposition, Event};
use crate::sources::{state_writer, Source, SourceContext};
use crate::telemetry::events::{EventReceived, EventSkipped};
use state::{AlarmStates, Seen};

/// The state CloudWatch creates alarms in.
const CREATED_STATE: &str = "INSUFFICIENT_DATA";

/// Polls the alarms of one source file.
pub struct AlarmPollSource {
    settings: AlarmPollSettings,
    client: aws_sdk_cloudwatch::Client,
}

impl AlarmPollSource {
    pub fn new(settings: AlarmPollSettings, client: aws_sdk_cloudwatch::Client) -> Self {
        AlarmPollSource { settings, client }
    }
}

/// One alarm as a round of `DescribeAlarms` found it.
pub(crate) struct Found {
    arn: String,
    seen: Seen,
    /// Whether CloudWatch told when the state last changed (not only when it was last updated):
    /// then a newer time in the same state is a transition out and back between two rounds.
    transition_time_known: bool,
    /// The alarm in the shape of an SNS alarm notification, for [`super::alarm_action`].
    pub(crate) notification: Map<String, Value>,
}

impl Source for AlarmPollSource {
    fn run(self: Box<Self>, ctx: SourceContext) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> {
        Box::pin(async move {
            let path = ctx.state_dir.join("alarms").join(format!("{}.json", ctx.name));
            let (store, known) = AlarmStates::load(path)?;
            let store = Arc::new(store);
            let mut first_run = known.is_none();
            // The latest state each alarm was seen in (delivered or on its way).
            let mut latest: BTreeMap<String, Seen> = known.unwrap_or_default();
            let waiters = TaskTracker::new();
            let options = &self.settings.options;
            info!(source = %ctx.name, interval = ?self.settings.poll_interval, prefix = ?options.alarm_name_prefix, "cloudwatch alarm polling started");

            let mut tick = tokio::time::interval(self.settings.poll_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let (mut failures, mut reported_ok) = (0u32, false);
            loop {
                tokio::select! {
                    _ = ctx.shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let alarms = match describe(&self.client, options.alarm_name_prefix.as_deref()).await {
                    Ok(alarms) => {
                        if failures > 0 || !reported_ok {
                            ctx.health.source_ok(&ctx.name);
                        }
                        (failures, reported_ok) = (0, true);
                        alarms
                    }
                    Err(error) => {
                        failures += 1;
                        if let Some(left_out) = crate::telemetry::log_limit::allow(&format!("describe-alarms:{}", ctx.name)) {
                            warn!(source = %ctx.name, error, failures, similar_left_out = left_out, "DescribeAlarms failed; trying again next round");
                        }
                        ctx.health.source_failed(&ctx.name, error);
                        continue;
                    }
                };

                let present: HashSet<String> = alarms.iter().map(|a| a.arn.clone()).collect();
                latest.retain(|arn, _| present.contains(arn));
                // States that moved without an event: written once, at the end of the round.
                let mut quiet = Vec::new();
                let mut stopping = false;
                for found in alarms {
                    let previous = latest.get(&found.arn).cloned();
                    let previous = match previous {
                        Some(p) if !is_transition(&p, &found) => continue,
                        Some(p) => p,
                        // Known from now on; a new alarm still in INSUFFICIENT_DATA has not moved yet.
                        None if first_run || found.seen.value == CREATED_STATE => {
                            latest.insert(found.arn.clone(), found.seen.clone());
                            quiet.push((found.arn, found.seen));
                            continue;
                        }
                        None => Seen { value: CREATED_STATE.into(), reason: String::new(), reason_data: None, since: found.seen.since },
                    };
                    latest.insert(found.arn.clone(), found.seen.clone());
                    if !options.states.is_empty() && !options.states.contains(&found.seen.value) {
                        EventSkipped { source: &ctx.name, reason: "filtered out by the source" }.emit();
                        quiet.push((found.arn, found.seen));
                        continue;
                    }
                    if !deliver(&ctx, &store, &waiters, found, &previous).await {
                        stopping = true;
                        break;
                    }
                }
                if store.end_round(|arn| present.contains(arn), quiet) {
                    state_writer::write_later(store.clone(), ctx.name.clone(), waiters.token());
                }
                if stopping {
                    break;
                }
                first_run = false;
            }
            waiters.close();
            waiters.wait().await;
            info!(source = %ctx.name, "cloudwatch alarm polling stopped");
            Ok(())
        })
    }
}

/// Whether `found` is a state change since `previous`: another state, or (where CloudWatch
/// tells when the state last changed) the same state entered again.
fn is_transition(previous: &Seen, found: &Found) -> bool {
    previous.value != found.seen.value || (found.transition_time_known && found.seen.since > previous.since)
}

/// Hands the transition `previous` → `found` to the dispatcher and records it once it settles;
/// false once the daemon is stopping.
async fn deliver(ctx: &SourceContext, store: &Arc<AlarmStates>, waiters: &TaskTracker, found: Found, previous: &Seen) -> bool {
    let event = match super::alarm_action(&found.notification, &ctx.account) {
        Ok(mut event) => {
            let data = &mut event.payload["alarmData"];
            data["previousState"] = state_json(previous);
            data["state"] = state_json(&found.seen);
            event
        }
        Err(reason) => {
            // DescribeAlarms answered with something that is no alarm: say so, but do not let
            // it stop the others; it is looked at again next round.
            error!(source = %ctx.name, alarm = %found.arn, reason, "cannot build the alarm event");
            return true;
        }
    };
    let (ack, settled) = Ack::new();
    let id = event.id.clone();
    let born = SystemTime::from(found.seen.since);
    let payload = Bytes::from(serde_json::to_vec(&event.payload).expect("JSON serializes"));
    let event = Event { id: id.clone(), source: ctx.name.clone(), born, payload, invalid: None, filter_view: None, trace: None, ack };
    tokio::select! {
        _ = ctx.shutdown.cancelled() => return false,
        sent = ctx.queue.send(event) => if sent.is_err() { return false },
    }
    EventReceived { source: &ctx.name }.emit();
    debug!(source = %ctx.name, event_id = %id, from = %previous.value, to = %found.seen.value, "alarm transition");
    let (store, name, arn, seen, waiter) = (store.clone(), ctx.name.clone(), found.arn, found.seen, waiters.token());
    waiters.spawn(async move {
        match settled.await.unwrap_or(Disposition::Failed) {
            Disposition::Settled => {
                if store.record(&arn, seen) {
                    state_writer::write_later(store, name, waiter);
                }
            }
            Disposition::Failed => {
                error!(source = %name, event_id = %id, "alarm transition neither delivered nor dead-lettered; it is delivered again after a restart")
            }
        }
    });
    true
}

/// An alarm action's `state` / `previousState`.
fn state_json(seen: &Seen) -> Value {
    let mut state = json!({ "value": seen.value, "reason": seen.reason, "timestamp": alarm_time(seen.since) });
    if let Some(data) = &seen.reason_data {
        state["reasonData"] = data.clone().into();
    }
    state
}

/// CloudWatch's own time format in alarm events: `2023-08-04T12:36:15.490+0000`.
fn alarm_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string()
}

/// Every metric and composite alarm whose name starts with `prefix`.
async fn describe(client: &aws_sdk_cloudwatch::Client, prefix: Option<&str>) -> Result<Vec<Found>, String> {
    let mut pages = client
        .describe_alarms()
        .set_alarm_name_prefix(prefix.map(str::to_string))
        .alarm_types(AlarmType::MetricAlarm)
        .alarm_types(AlarmType::CompositeAlarm)
        .into_paginator()
        .send();
    let mut found = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| DisplayErrorContext(&e).to_string())?;
        found.extend(page.metric_alarms().iter().filter_map(metric_alarm));
        found.extend(page.composite_alarms().iter().filter_map(composite_alarm));
    }
    Ok(found)
}

fn to_chrono(t: &aws_sdk_cloudwatch::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// The fields every alarm has; `None` for an alarm without ARN, state or time.
#[allow(clippy::too_many_arguments)]
fn found(
    arn: Option<&str>,
    name: Option<&str>,
    description: Option<&str>,
    value: Option<&str>,
    reason: Option<&str>,
    reason_data: Option<&str>,
    updated: Option<&aws_sdk_cloudwatch::primitives::DateTime>,
    transitioned: Option<&aws_sdk_cloudwatch::primitives::DateTime>,
) -> Option<Found> {
    let (arn, name, value) = (arn?, name?, value?);
    let since = to_chrono(transitioned.or(updated)?)?;
    let seen = Seen {
        value: value.to_string(),
        reason: reason.unwrap_or_default().to_string(),
        reason_data: reason_data.map(str::to_string),
        since,
    };
    let mut notification = Map::new();
    notification.insert("AlarmName".into(), name.into());
    notification.insert("AlarmArn".into(), arn.into());
    notification.insert("NewStateValue".into(), value.into());
    notification.insert("NewStateReason".into(), seen.reason.clone().into());
    notification.insert("StateChangeTime".into(), alarm_time(since).into());
    if let Some(d) = description {
        notification.insert("AlarmDescription".into(), d.into());
    }
    Some(Found { arn: arn.to_string(), seen, transition_time_known: transitioned.is_some(), notification })
}

/// [`found`] for either SDK alarm type: they spell the shared fields alike.
macro_rules! found {
    ($alarm:expr) => {
        found(
            $alarm.alarm_arn(),
            $alarm.alarm_name(),
            $alarm.alarm_description(),
            $alarm.state_value().map(|s| s.as_str()),
            $alarm.state_reason(),
            $alarm.state_reason_data(),
            $alarm.state_updated_timestamp(),
            $alarm.state_transitioned_timestamp(),
        )
    };
}

pub(crate) fn metric_alarm(a: &MetricAlarm) -> Option<Found> {
    let mut f = found!(a)?;
    let trigger = json!({
        "MetricName": a.metric_name(),
        "Namespace": a.namespace(),
        "Statistic": a.statistic().map(|s| s.as_str()),
        "ExtendedStatistic": a.extended_statistic(),
        "Unit": a.unit().map(|u| u.as_str()),
        "Period": a.period(),
        "Dimensions": dimensions(a.dimensions()),
        "Metrics": a.metrics().iter().map(metric_query).collect::<Vec<_>>(),
    });
    f.notification.insert("Trigger".into(), trigger);
    Some(f)
}

pub(crate) fn composite_alarm(a: &CompositeAlarm) -> Option<Found> {
    let mut f = found!(a)?;
    f.notification.insert("AlarmRule".into(), a.alarm_rule().unwrap_or_default().into());
    if let Some(s) = a.actions_suppressor() {
        f.notification.insert("ActionsSuppressor".into(), s.into());
        f.notification.insert("ActionsSuppressorWaitPeriod".into(), a.actions_suppressor_wait_period().into());
        f.notification.insert("ActionsSuppressorExtensionPeriod".into(), a.actions_suppressor_extension_period().into());
    }
    Some(f)
}

/// Dimensions as SNS alarm notifications list them.
fn dimensions(dims: &[Dimension]) -> Value {
    dims.iter().map(|d| json!({ "name": d.name(), "value": d.value() })).collect()
}

/// A metric data query as SNS alarm notifications spell it.
fn metric_query(q: &MetricDataQuery) -> Value {
    let mut out = json!({ "Id": q.id(), "ReturnData": q.return_data() });
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            out[k] = v;
        }
    };
    put("Expression", q.expression().map(Into::into));
    put("Label", q.label().map(Into::into));
    put("Period", q.period().map(Into::into));
    put("AccountId", q.account_id().map(Into::into));
    put(
        "MetricStat",
        q.metric_stat().map(|s| {
            let metric = s.metric();
            json!({
                "Metric": {
                    "Namespace": metric.and_then(|m| m.namespace()),
                    "MetricName": metric.and_then(|m| m.metric_name()),
                    "Dimensions": dimensions(metric.map(|m| m.dimensions()).unwrap_or_default()),
                },
                "Period": s.period(),
                "Stat": s.stat(),
                "Unit": s.unit().map(|u| u.as_str()),
            })
        }),
    );
    out
}
