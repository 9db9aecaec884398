//! The `describe_alarms` target: a `DescribeAlarms` answer as JSON into the SDK's alarm values,
//! then the polling source's transitions and events.

use super::*;

fn field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn field_i32(v: &Value, k: &str) -> Option<i32> {
    v.get(k).and_then(Value::as_i64).map(|n| n as i32)
}

/// A timestamp as the SDK's deserializer can give one: epoch seconds (fractional or not), or
/// an RFC 3339 string.
fn timestamp(v: &Value, k: &str) -> Option<AwsDateTime> {
    match v.get(k)? {
        Value::Number(n) => match n.as_i64() {
            Some(secs) => Some(AwsDateTime::from_secs(secs)),
            None => {
                let x = n.as_f64()?;
                let secs = x.floor();
                let nanos = (((x - secs) * 1e9) as u32).min(999_999_999);
                Some(AwsDateTime::from_secs_and_nanos(secs as i64, nanos))
            }
        },
        Value::String(s) => AwsDateTime::from_str(s, DateTimeFormat::DateTime).ok(),
        _ => None,
    }
}

fn dimensions(v: &Value) -> Option<Vec<Dimension>> {
    let list = v.get("Dimensions")?.as_array()?;
    Some(
        list.iter()
            .map(|d| Dimension::builder().set_name(field(d, "Name").map(Into::into)).set_value(field(d, "Value").map(Into::into)).build())
            .collect(),
    )
}

fn metric_query(q: &Value) -> MetricDataQuery {
    let stat = q.get("MetricStat").map(|s| {
        let metric = s.get("Metric").map(|m| {
            Metric::builder()
                .set_namespace(field(m, "Namespace").map(Into::into))
                .set_metric_name(field(m, "MetricName").map(Into::into))
                .set_dimensions(dimensions(m))
                .build()
        });
        MetricStat::builder()
            .set_metric(metric)
            .set_period(field_i32(s, "Period"))
            .set_stat(field(s, "Stat").map(Into::into))
            .set_unit(field(s, "Unit").map(Into::into))
            .build()
    });
    MetricDataQuery::builder()
        .set_id(field(q, "Id").map(Into::into))
        .set_metric_stat(stat)
        .set_expression(field(q, "Expression").map(Into::into))
        .set_label(field(q, "Label").map(Into::into))
        .set_return_data(q.get("ReturnData").and_then(Value::as_bool))
        .set_period(field_i32(q, "Period"))
        .set_account_id(field(q, "AccountId").map(Into::into))
        .build()
}

fn metric_alarm(a: &Value) -> MetricAlarm {
    MetricAlarm::builder()
        .set_alarm_name(field(a, "AlarmName").map(Into::into))
        .set_alarm_arn(field(a, "AlarmArn").map(Into::into))
        .set_alarm_description(field(a, "AlarmDescription").map(Into::into))
        .set_state_value(field(a, "StateValue").map(Into::into))
        .set_state_reason(field(a, "StateReason").map(Into::into))
        .set_state_reason_data(field(a, "StateReasonData").map(Into::into))
        .set_state_updated_timestamp(timestamp(a, "StateUpdatedTimestamp"))
        .set_state_transitioned_timestamp(timestamp(a, "StateTransitionedTimestamp"))
        .set_metric_name(field(a, "MetricName").map(Into::into))
        .set_namespace(field(a, "Namespace").map(Into::into))
        .set_statistic(field(a, "Statistic").map(Into::into))
        .set_extended_statistic(field(a, "ExtendedStatistic").map(Into::into))
        .set_unit(field(a, "Unit").map(Into::into))
        .set_period(field_i32(a, "Period"))
        .set_dimensions(dimensions(a))
        .set_metrics(a.get("Metrics").and_then(Value::as_array).map(|m| m.iter().map(metric_query).collect()))
        .build()
}

fn composite_alarm(a: &Value) -> CompositeAlarm {
    CompositeAlarm::builder()
        .set_alarm_name(field(a, "AlarmName").map(Into::into))
        .set_alarm_arn(field(a, "AlarmArn").map(Into::into))
        .set_alarm_description(field(a, "AlarmDescription").map(Into::into))
        .set_state_value(field(a, "StateValue").map(Into::into))
        .set_state_reason(field(a, "StateReason").map(Into::into))
        .set_state_reason_data(field(a, "StateReasonData").map(Into::into))
        .set_state_updated_timestamp(timestamp(a, "StateUpdatedTimestamp"))
        .set_state_transitioned_timestamp(timestamp(a, "StateTransitionedTimestamp"))
        .set_alarm_rule(field(a, "AlarmRule").map(Into::into))
        .set_actions_suppressor(field(a, "ActionsSuppressor").map(Into::into))
        .set_actions_suppressor_wait_period(field_i32(a, "ActionsSuppressorWaitPeriod"))
        .set_actions_suppressor_extension_period(field_i32(a, "ActionsSuppressorExtensionPeriod"))
        .build()
}

/// A `DescribeAlarms` answer (its JSON form: `MetricAlarms`, `CompositeAlarms`) as SDK values,
/// through the polling source's conversion into the alarm-action event it delivers.
pub fn describe_alarms(data: &[u8]) {
    let Ok(answer) = serde_json::from_slice::<Value>(data) else { return };
    let list = |k: &str| answer.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
    let metric: Vec<MetricAlarm> = list("MetricAlarms").iter().map(metric_alarm).collect();
    let composite: Vec<CompositeAlarm> = list("CompositeAlarms").iter().map(composite_alarm).collect();
    let found = metric
        .iter()
        .filter_map(crate::sources::cloudwatch_alarm::poll::metric_alarm)
        .chain(composite.iter().filter_map(crate::sources::cloudwatch_alarm::poll::composite_alarm));
    for f in found {
        if let Ok(event) = cloudwatch_alarm::alarm_action(&f.notification, ACCOUNT) {
            use_decoded(Decoded::Events(vec![event]));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Dead letters
