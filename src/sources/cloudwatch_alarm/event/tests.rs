//! Alarm state changes from every path (EventBridge, SNS, alarm actions) against the alarm
//! action's own event, and what is refused.

use serde_json::{json, Value};

use super::*;
use crate::sources::decode::testing::*;

// ----- CloudWatch alarms -------------------------------------------------

/// CloudWatch User Guide, "Alarm events and EventBridge": single-metric state change.
fn eb_alarm() -> Value {
    json!({
      "version": "0",
      "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
      "detail-type": "CloudWatch Alarm State Change",
      "source": "aws.cloudwatch",
      "account": "123456789012",
      "time": "2019-10-02T17:04:40Z",
      "region": "us-east-1",
      "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh"],
      "detail": {
        "alarmName": "ServerCpuTooHigh",
        "configuration": {
          "description": "Goes into alarm when server CPU utilization is too high!",
          "metrics": [{
            "id": "30b6c6b2-a864-43a2-4877-c09a1afc3b87",
            "metricStat": {
              "metric": {
                "dimensions": { "InstanceId": "i-12345678901234567" },
                "name": "CPUUtilization",
                "namespace": "AWS/EC2"
              },
              "period": 300,
              "stat": "Average"
            },
            "returnData": true
          }]
        },
        "previousState": {
          "reason": "Threshold Crossed: 1 out of the last 1 datapoints [0.0666851903306472 (01/10/19 13:46:00)] was not greater than the threshold (50.0) (minimum 1 datapoint for ALARM -> OK transition).",
          "reasonData": "{\"version\":\"1.0\",\"queryDate\":\"2019-10-01T13:56:40.985+0000\",\"startDate\":\"2019-10-01T13:46:00.000+0000\",\"statistic\":\"Average\",\"period\":300,\"recentDatapoints\":[0.0666851903306472],\"threshold\":50.0}",
          "timestamp": "2019-10-01T13:56:40.987+0000",
          "value": "OK"
        },
        "state": {
          "reason": "Threshold Crossed: 1 out of the last 1 datapoints [99.50160229693434 (02/10/19 16:59:00)] was greater than the threshold (50.0) (minimum 1 datapoint for OK -> ALARM transition).",
          "reasonData": "{\"version\":\"1.0\",\"queryDate\":\"2019-10-02T17:04:40.985+0000\",\"startDate\":\"2019-10-02T16:59:00.000+0000\",\"statistic\":\"Average\",\"period\":300,\"recentDatapoints\":[99.50160229693434],\"threshold\":50.0}",
          "timestamp": "2019-10-02T17:04:40.989+0000",
          "value": "ALARM"
        }
      }
    })
}

/// CloudWatch User Guide, "Invoke a Lambda function from an alarm": metric alarm event.
fn lambda_alarm_sample() -> Value {
    json!({
      "source": "aws.cloudwatch",
      "alarmArn": "arn:aws:cloudwatch:us-east-1:444455556666:alarm:lambda-demo-metric-alarm",
      "accountId": "444455556666",
      "time": "2023-08-04T12:36:15.490+0000",
      "region": "us-east-1",
      "alarmData": {
        "alarmName": "lambda-demo-metric-alarm",
        "state": { "value": "ALARM", "reason": "test", "timestamp": "2023-08-04T12:36:15.490+0000" },
        "previousState": {
          "value": "INSUFFICIENT_DATA",
          "reason": "Insufficient Data: 5 datapoints were unknown.",
          "reasonData": "{\"version\":\"1.0\",\"queryDate\":\"2023-08-04T12:31:29.591+0000\",\"statistic\":\"Average\",\"period\":60,\"recentDatapoints\":[],\"threshold\":5.0,\"evaluatedDatapoints\":[{\"timestamp\":\"2023-08-04T12:30:00.000+0000\"}]}",
          "timestamp": "2023-08-04T12:31:29.595+0000"
        },
        "configuration": {
          "description": "Metric Alarm to test Lambda actions",
          "metrics": [{
            "id": "1234e046-06f0-a3da-9534-EXAMPLEe4c",
            "metricStat": {
              "metric": { "namespace": "AWS/Logs", "name": "CallCount", "dimensions": { "InstanceId": "i-12345678" } },
              "period": 60,
              "stat": "Average",
              "unit": "Percent"
            },
            "returnData": true
          }]
        }
      }
    })
}

/// The SNS alarm message of the Lambda SNS sample for a CloudWatch alarm.
fn sns_alarm_message() -> Value {
    json!({
        "AlarmName": "EXAMPLE",
        "AlarmDescription": "EXAMPLE",
        "AWSAccountId": "123456789012",
        "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints [1234.0 (06/03/15 17:43:27)] was greater than the threshold (0.0) (minimum 1 datapoint for OK -> ALARM transition).",
        "StateChangeTime": "2015-06-03T17:43:27.123+0000",
        "Region": "US East (N. Virginia)",
        "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:EXAMPLE",
        "OldStateValue": "INSUFFICIENT_DATA",
        "Trigger": {
            "MetricName": "NetworkOut",
            "Namespace": "AWS/EC2",
            "StatisticType": "Statistic",
            "Statistic": "AVERAGE",
            "Unit": "Bytes",
            "Dimensions": [{ "value": "TestInstance", "name": "InstanceId" }],
            "Period": 60,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 0.0,
            "TreatMissingData": "- TreatMissingData:                    missing",
            "EvaluateLowSampleCountPercentile": ""
        }
    })
}

fn expected_from_sns_alarm() -> Value {
    json!({
        "source": "aws.cloudwatch",
        "alarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:EXAMPLE",
        "accountId": "123456789012",
        "time": "2015-06-03T17:43:27.123+0000",
        "region": "us-east-1",
        "alarmData": {
            "alarmName": "EXAMPLE",
            "state": {
                "value": "ALARM",
                "reason": "Threshold Crossed: 1 out of the last 1 datapoints [1234.0 (06/03/15 17:43:27)] was greater than the threshold (0.0) (minimum 1 datapoint for OK -> ALARM transition).",
                "timestamp": "2015-06-03T17:43:27.123+0000"
            },
            "previousState": { "value": "INSUFFICIENT_DATA" },
            "configuration": {
                "description": "EXAMPLE",
                "metrics": [{
                    "id": "m1",
                    "metricStat": {
                        "metric": { "namespace": "AWS/EC2", "name": "NetworkOut", "dimensions": { "InstanceId": "TestInstance" } },
                        "period": 60,
                        "stat": "Average",
                        "unit": "Bytes"
                    },
                    "returnData": true
                }]
            }
        }
    })
}

#[test]
fn alarm_via_eventbridge_becomes_alarm_action_event() {
    let eb = eb_alarm();
    let e = one(decode(&eb.to_string(), "123456789012"));
    let expected = json!({
        "source": "aws.cloudwatch",
        "alarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh",
        "accountId": "123456789012",
        "time": "2019-10-02T17:04:40.989+0000",
        "region": "us-east-1",
        "alarmData": eb["detail"]
    });
    assert_eq!(e.payload, expected);
    assert_eq!(e.id, "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh@2019-10-02T17:04:40.989+0000");
    assert_eq!(e.meta.alarm_name.as_deref(), Some("ServerCpuTooHigh"));
    assert_eq!(e.meta.state.as_deref(), Some("ALARM"));
    // Same keys, field by field, as the documented alarm action event.
    let sample = lambda_alarm_sample();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&e.payload), keys(&sample));
    assert_eq!(keys(&e.payload["alarmData"]), keys(&sample["alarmData"]));
    assert_eq!(keys(&e.payload["alarmData"]["state"]), keys(&eb["detail"]["state"]));
}

#[test]
fn alarm_action_event_passes_as_is() {
    let sample = lambda_alarm_sample();
    let e = one(decode(&sample.to_string(), "123456789012"));
    assert_eq!(e.payload, sample);
    assert_eq!(e.id, "arn:aws:cloudwatch:us-east-1:444455556666:alarm:lambda-demo-metric-alarm@2023-08-04T12:36:15.490+0000");
}

#[test]
fn alarm_via_sns_and_raw_alarm_json() {
    let message = sns_alarm_message().to_string();
    let via_sns = one(decode(&envelope(&message), "123456789012"));
    assert_eq!(via_sns.payload, expected_from_sns_alarm());
    assert_eq!(via_sns.id, "arn:aws:cloudwatch:us-east-1:123456789012:alarm:EXAMPLE@2015-06-03T17:43:27.123+0000");
    assert_eq!(via_sns.meta.alarm_name.as_deref(), Some("EXAMPLE"));
    assert_eq!(via_sns.meta.state.as_deref(), Some("ALARM"));
    let raw = one(decode(&message, "123456789012"));
    assert_eq!(raw, via_sns);
}

#[test]
fn alarm_via_sns_metric_math_and_composite() {
    // aws_lambda_events fixture (AWS sample): metric math alarm via SNS.
    let mut msg = sns_alarm_message();
    msg["AlarmDescription"] = Value::Null;
    msg["Trigger"] = json!({
        "Period": 60, "EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanThreshold", "Threshold": 0.0,
        "Metrics": [
            { "Expression": "m1*1", "Id": "e1", "Label": "Expression1", "ReturnData": true },
            { "Id": "m1", "MetricStat": { "Metric": { "Dimensions": [{ "value": "TestInstance", "name": "InstanceId" }],
              "MetricName": "NetworkOut", "Namespace": "AWS/EC2" }, "Period": 60, "Stat": "Average" }, "ReturnData": false }
        ]
    });
    let e = one(decode(&envelope(&msg.to_string()), "123456789012"));
    assert_eq!(
        e.payload["alarmData"]["configuration"],
        json!({ "metrics": [
            { "id": "e1", "expression": "m1*1", "label": "Expression1", "returnData": true },
            { "id": "m1", "metricStat": { "metric": { "namespace": "AWS/EC2", "name": "NetworkOut",
              "dimensions": { "InstanceId": "TestInstance" } }, "period": 60, "stat": "Average" }, "returnData": false }
        ]})
    );
    let mut composite = sns_alarm_message();
    composite.as_object_mut().unwrap().remove("Trigger");
    composite["AlarmRule"] = "ALARM(CompositeDemo.FirstChild) OR ALARM(CompositeDemo.SecondChild)".into();
    let e = one(decode(&composite.to_string(), "123456789012"));
    assert_eq!(
        e.payload["alarmData"]["configuration"],
        json!({
            "description": "EXAMPLE",
            "alarmRule": "ALARM(CompositeDemo.FirstChild) OR ALARM(CompositeDemo.SecondChild)"
        })
    );
}

#[test]
fn alarm_same_transition_same_id_across_paths() {
    let mut msg = sns_alarm_message();
    msg["AlarmArn"] = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh".into();
    msg["StateChangeTime"] = "2019-10-02T17:04:40.989+0000".into();
    let via_sns = one(decode(&envelope(&msg.to_string()), "123456789012"));
    let via_eb = one(decode(&eb_alarm().to_string(), "123456789012"));
    assert_eq!(via_sns.id, via_eb.id);
}

#[test]
fn alarm_unknown_state_is_invalid_in_every_form() {
    let mut eb = eb_alarm();
    eb["detail"]["state"]["value"] = "BROKEN".into();
    let r = invalid(decode(&eb.to_string(), "123456789012"));
    assert!(r.contains("`BROKEN` is not OK, ALARM or INSUFFICIENT_DATA"), "{r}");
    let mut msg = sns_alarm_message();
    msg["NewStateValue"] = "alarm".into();
    assert!(invalid(decode(&envelope(&msg.to_string()), "123456789012")).starts_with("SNS envelope Message: alarm state `alarm`"));
    let mut msg = sns_alarm_message();
    msg["OldStateValue"] = "UNKNOWN".into();
    assert!(invalid(decode(&msg.to_string(), "123456789012")).contains("previous state `UNKNOWN`"));
    let mut sample = lambda_alarm_sample();
    sample["alarmData"]["state"]["value"] = Value::Null;
    assert!(invalid(decode(&sample.to_string(), "123456789012")).contains("alarm has no state"));
}

#[test]
fn alarm_malformed_is_invalid() {
    let truncated = &eb_alarm().to_string()[..200];
    assert!(invalid(decode(truncated, "123456789012")).starts_with("body is not valid JSON"));
    let r = invalid(decode(&envelope("Hello world!"), "123456789012"));
    assert!(r.contains("SNS envelope Message is not a CloudWatch alarm"), "{r}");
    let r = invalid(decode(&envelope(&lambda_s3_sample().to_string()), "123456789012"));
    assert!(r.starts_with("SNS envelope Message: not a CloudWatch alarm"), "{r}");
    let mut eb = eb_alarm();
    eb["detail-type"] = "CloudWatch Alarm Configuration Change".into();
    assert!(invalid(decode(&eb.to_string(), "123456789012")).contains("not a CloudWatch alarm state change"));
    assert!(invalid(decode(&eb_object_created().to_string(), "123456789012")).contains("not a CloudWatch alarm state change"));
    let mut msg = sns_alarm_message();
    msg.as_object_mut().unwrap().remove("AlarmArn");
    assert!(invalid(decode(&msg.to_string(), "123456789012")).contains("AlarmArn"));
    let mut sample = lambda_alarm_sample();
    sample["source"] = "aws.s3".into();
    assert!(invalid(decode(&sample.to_string(), "123456789012")).contains("not \"aws.cloudwatch\""));
    assert!(invalid(decode("42", "123456789012")).contains("not a JSON object"));
}
