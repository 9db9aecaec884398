//! CloudWatch alarm state changes (EventBridge, SNS alarm notifications, alarm-action events)
//! into the event an alarm's Lambda action gives.

use serde_json::{json, Map, Value};

use crate::sources::decode::sns_envelope::{classify_sns, Envelope};
use crate::sources::decode::{is_eventbridge, parse_body, prefix_invalid, str_at, Decoded, DecodedEvent, Meta};

const ALARM_STATES: [&str; 3] = ["OK", "ALARM", "INSUFFICIENT_DATA"];

/// Decodes a CloudWatch alarm state change into the event Lambda receives from
/// an alarm action: from an EventBridge "CloudWatch Alarm State Change" event,
/// an SNS alarm notification (enveloped or raw), or an alarm-action event
/// itself (passed as is). States other than `OK`, `ALARM`, `INSUFFICIENT_DATA`
/// are Invalid. `account` stands in where the message names none (the emulators' events).
pub fn decode(body: &str, account: &str) -> Decoded {
    let v = match parse_body(body) {
        Ok(v) => v,
        Err(r) => return Decoded::Invalid(r),
    };
    match classify_sns(&v) {
        Envelope::Notification(n) => match serde_json::from_str::<Value>(&n.message) {
            Ok(inner) => prefix_invalid(alarm_value(&inner, account), "SNS envelope Message: "),
            Err(e) => Decoded::Invalid(format!("SNS envelope Message is not a CloudWatch alarm (not JSON: {e})")),
        },
        Envelope::Confirmation(answer) => answer,
        Envelope::Malformed(reason) => Decoded::Invalid(reason),
        Envelope::Not => alarm_value(&v, account),
    }
}

/// The alarm-action event for an alarm given in the shape of an SNS alarm notification
/// (`AlarmName`, `NewStateValue`, `Trigger`…): how the polling source, which reads
/// `DescribeAlarms`, builds the same event the queue-fed source delivers.
pub fn alarm_action(sns_message: &Map<String, Value>, account: &str) -> Result<DecodedEvent, String> {
    alarm_from_sns_message(sns_message, account).and_then(alarm_event)
}

fn alarm_value(v: &Value, account: &str) -> Decoded {
    let Some(obj) = v.as_object() else {
        return Decoded::Invalid("not a CloudWatch alarm (not a JSON object)".into());
    };
    let payload = if obj.contains_key("alarmData") {
        Ok(v.clone())
    } else if is_eventbridge(obj) {
        alarm_from_eventbridge(v, account)
    } else if obj.contains_key("AlarmName") && obj.contains_key("NewStateValue") {
        alarm_from_sns_message(obj, account)
    } else {
        Err("not a CloudWatch alarm (expected an EventBridge \"CloudWatch Alarm State Change\" \
             event, an SNS alarm notification or an alarm action event)"
            .to_string())
    };
    match payload.and_then(alarm_event) {
        Ok(event) => Decoded::Events(vec![event]),
        Err(reason) => Decoded::Invalid(reason),
    }
}

fn check_state(what: &str, value: Option<&str>) -> Result<(), String> {
    match value {
        Some(s) if ALARM_STATES.contains(&s) => Ok(()),
        Some(s) => Err(format!("alarm {what} `{s}` is not OK, ALARM or INSUFFICIENT_DATA")),
        None => Err(format!("alarm has no {what}")),
    }
}

/// Validates an alarm-action payload and wraps it as an event.
fn alarm_event(payload: Value) -> Result<DecodedEvent, String> {
    if let Some(source) = payload.get("source") {
        if source.as_str() != Some("aws.cloudwatch") {
            return Err(format!("alarm event source is {source}, not \"aws.cloudwatch\""));
        }
    }
    let arn = str_at(&payload, &["alarmArn"]).ok_or("alarm has no alarm ARN")?;
    let data = payload.get("alarmData").ok_or("alarm has no `alarmData`")?;
    let name = str_at(data, &["alarmName"]).ok_or("alarm has no name")?;
    let state = str_at(data, &["state", "value"]);
    check_state("state", state)?;
    let timestamp = str_at(data, &["state", "timestamp"]).ok_or("alarm state has no timestamp")?;
    if let Some(previous) = data.get("previousState").filter(|p| !p.is_null()) {
        check_state("previous state", str_at(previous, &["value"]))?;
    }
    Ok(DecodedEvent {
        id: format!("{arn}@{timestamp}"),
        meta: Meta { alarm_name: Some(name.to_string()), state: state.map(str::to_string), ..Meta::default() },
        payload,
        filter_view: None,
    })
}

/// The account field of an alarm ARN (`arn:aws:cloudwatch:<region>:<account>:alarm:<name>`).
fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

fn alarm_from_eventbridge(v: &Value, fallback_account: &str) -> Result<Value, String> {
    let source = str_at(v, &["source"]).unwrap_or_default();
    let detail_type = str_at(v, &["detail-type"]).unwrap_or_default();
    if source != "aws.cloudwatch" || detail_type != "CloudWatch Alarm State Change" {
        return Err(format!("EventBridge event `{source}` / `{detail_type}` is not a CloudWatch alarm state change"));
    }
    let detail = v.get("detail").filter(|d| d.is_object()).ok_or("alarm EventBridge event has no `detail` object")?;
    let region = str_at(v, &["region"]).unwrap_or_default();
    let resource = v.get("resources").and_then(|r| r.get(0)).and_then(Value::as_str);
    let account = str_at(v, &["account"]).filter(|a| !a.is_empty()).or_else(|| resource.and_then(arn_account)).unwrap_or(fallback_account);
    let arn = match resource {
        Some(arn) => arn.to_string(),
        None => {
            let name = str_at(detail, &["alarmName"]).ok_or("alarm has no name")?;
            format!("arn:aws:cloudwatch:{region}:{account}:alarm:{name}")
        }
    };
    // The alarm action's `time` is the state change time, in CloudWatch's format.
    let time = str_at(detail, &["state", "timestamp"]).or_else(|| str_at(v, &["time"])).unwrap_or_default();
    Ok(json!({
        "source": "aws.cloudwatch",
        "alarmArn": arn,
        "accountId": account,
        "time": time,
        "region": region,
        "alarmData": detail,
    }))
}

/// `AVERAGE` → `Average` etc.: SNS alarm messages spell statistics as an enum.
fn statistic_name(s: &str) -> &str {
    match s {
        "AVERAGE" => "Average",
        "SUM" => "Sum",
        "SAMPLE_COUNT" => "SampleCount",
        "MINIMUM" => "Minimum",
        "MAXIMUM" => "Maximum",
        other => other,
    }
}

/// SNS `[{"name":…,"value":…}]` → alarm action `{name: value}`.
fn dimensions(v: Option<&Value>) -> Map<String, Value> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|d| {
            let name = str_at(d, &["name"]).or_else(|| str_at(d, &["Name"]))?;
            let value = d.get("value").or_else(|| d.get("Value"))?;
            Some((name.to_string(), value.clone()))
        })
        .collect()
}

/// Copies the fields present in `from` into `to` under new names.
fn copy_fields(from: &Value, to: &mut Map<String, Value>, fields: &[(&str, &str)]) {
    for (src, dst) in fields {
        if let Some(v) = from.get(*src).filter(|v| !v.is_null()) {
            to.insert((*dst).to_string(), v.clone());
        }
    }
}

fn metric_from_sns(m: &Value) -> Value {
    let mut out = Map::new();
    copy_fields(m, &mut out, &[("Id", "id"), ("Expression", "expression"), ("Label", "label")]);
    if let Some(stat) = m.get("MetricStat").filter(|s| s.is_object()) {
        let metric = &stat["Metric"];
        let mut metric_out = Map::new();
        copy_fields(metric, &mut metric_out, &[("Namespace", "namespace"), ("MetricName", "name")]);
        metric_out.insert("dimensions".into(), dimensions(metric.get("Dimensions")).into());
        let mut stat_out = Map::new();
        stat_out.insert("metric".into(), metric_out.into());
        copy_fields(stat, &mut stat_out, &[("Period", "period"), ("Stat", "stat"), ("Unit", "unit")]);
        out.insert("metricStat".into(), stat_out.into());
    }
    copy_fields(m, &mut out, &[("ReturnData", "returnData"), ("Period", "period"), ("AccountId", "accountId")]);
    out.into()
}

fn alarm_from_sns_message(obj: &Map<String, Value>, fallback_account: &str) -> Result<Value, String> {
    let field = |k: &str| obj.get(k).and_then(Value::as_str);
    let name = field("AlarmName").ok_or("alarm has no string `AlarmName`")?;
    let arn = field("AlarmArn").ok_or("alarm has no `AlarmArn`")?;
    let new_state = field("NewStateValue").ok_or("alarm has no string `NewStateValue`")?;
    let time = field("StateChangeTime").ok_or("alarm has no `StateChangeTime`")?;
    // arn:aws:cloudwatch:<region>:<account>:alarm:<name>; SNS's `Region` is a display name.
    let arn_parts: Vec<&str> = arn.splitn(6, ':').collect();
    let region = arn_parts.get(3).copied().or_else(|| field("Region")).unwrap_or_default();
    let account = field("AWSAccountId").filter(|a| !a.is_empty()).or_else(|| arn_account(arn)).unwrap_or(fallback_account);

    let mut configuration = Map::new();
    if let Some(description) = field("AlarmDescription") {
        configuration.insert("description".into(), description.into());
    }
    if let Some(rule) = field("AlarmRule") {
        configuration.insert("alarmRule".into(), rule.into());
        let v = Value::Object(obj.clone());
        copy_fields(
            &v,
            &mut configuration,
            &[
                ("ActionsSuppressor", "actionsSuppressor"),
                ("ActionsSuppressorWaitPeriod", "actionsSuppressorWaitPeriod"),
                ("ActionsSuppressorExtensionPeriod", "actionsSuppressorExtensionPeriod"),
            ],
        );
    } else if let Some(trigger) = obj.get("Trigger").filter(|t| t.is_object()) {
        let metrics: Vec<Value> = match trigger.get("Metrics").and_then(Value::as_array) {
            Some(metrics) if !metrics.is_empty() => metrics.iter().map(metric_from_sns).collect(),
            _ => {
                let statistic = str_at(trigger, &["Statistic"]).or_else(|| str_at(trigger, &["ExtendedStatistic"])).map(statistic_name);
                let mut metric = Map::new();
                copy_fields(trigger, &mut metric, &[("Namespace", "namespace"), ("MetricName", "name")]);
                metric.insert("dimensions".into(), dimensions(trigger.get("Dimensions")).into());
                let mut stat = Map::new();
                stat.insert("metric".into(), metric.into());
                copy_fields(trigger, &mut stat, &[("Period", "period")]);
                if let Some(statistic) = statistic {
                    stat.insert("stat".into(), statistic.into());
                }
                copy_fields(trigger, &mut stat, &[("Unit", "unit")]);
                vec![json!({ "id": "m1", "metricStat": stat, "returnData": true })]
            }
        };
        configuration.insert("metrics".into(), metrics.into());
    }

    let mut alarm_data = json!({
        "alarmName": name,
        "state": {
            "value": new_state,
            "reason": field("NewStateReason").unwrap_or_default(),
            "timestamp": time,
        },
        "configuration": configuration,
    });
    if let Some(old) = field("OldStateValue") {
        alarm_data["previousState"] = json!({ "value": old });
    }
    Ok(json!({
        "source": "aws.cloudwatch",
        "alarmArn": arn,
        "accountId": account,
        "time": time,
        "region": region,
        "alarmData": alarm_data,
    }))
}

#[cfg(test)]
mod tests;
