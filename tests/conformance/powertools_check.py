"""Checks events fanin delivered against aws-lambda-powertools' own models of AWS's events.

A function written for a direct S3/SNS/EventBridge/CloudWatch-alarm/SQS trigger, and typed with
Powertools' parser (pydantic) models or event data classes, must accept what fanin invokes it
with. This script is the Python half of that conformance test; pin:
``aws-lambda-powertools[parser]==3.37.0`` (pydantic 2).

Usage:
    powertools_check.py FILE.json    check every case in FILE.json
    powertools_check.py --self-test  prove the checks pass and fail where they must

FILE.json is ``{"<case>": {"kind": "<kind>", "event": <event as the function got it>}, ...}``;
a case may add ``"require": ["dotted.path", ...]``: fields that must be present and not null.
One line per case: ``ok   <case> (<model>)`` or ``FAIL <case> (<model>): <what failed>``.
Exit status: 0 all passed, 1 some case failed, 2 usage error (bad arguments or file).

Kinds and what checks them:
    sqs          SqsModel
    sqs_body     none fits a bare SQS body: any JSON value passes (model "json")
    s3           S3Model, then the S3Event data class's per-record accessors
    sns          SnsModel
    eventbridge  EventBridgeModel (an aws.s3 event also S3EventNotificationEventBridgeModel)
    cron         EventBridgeModel, detail-type "Scheduled Event", source aws.events, 12-digit account
    alarm        CloudWatchAlarmEvent data class (Powertools 3.37 has no parser model for the
                 alarm-action event): every property a function reads
    claim_check  a JSON object (model "json")
    http         LambdaFunctionUrlModel and APIGatewayProxyEventV2Model, then the
                 LambdaFunctionUrlEvent data class's accessors (a body that is not base64
                 when isBase64Encoded says it is fails)
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from aws_lambda_powertools.utilities.data_classes import CloudWatchAlarmEvent, LambdaFunctionUrlEvent, S3Event
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayProxyEventV2Model,
    EventBridgeModel,
    LambdaFunctionUrlModel,
    S3EventNotificationEventBridgeModel,
    S3Model,
    SnsModel,
    SqsModel,
)

SAMPLES = Path(__file__).with_name("aws_samples.json")
ACCOUNT_ID = re.compile(r"^\d{12}$")
ALARM_ARN = re.compile(r"^arn:[a-z-]+:cloudwatch:(?P<region>[^:]+):(?P<account>\d{12}):alarm:(?P<name>.+)$")
ALARM_STATES = {"OK", "ALARM", "INSUFFICIENT_DATA"}
USAGE = "usage: powertools_check.py FILE.json | --self-test"


class CheckFailed(Exception):
    """A case does not conform; the message says why."""


class UsageError(Exception):
    """The arguments or the cases file are not usable."""


# ---------------------------------------------------------------------------------------------
# Reporting pydantic and data-class failures
# ---------------------------------------------------------------------------------------------


def data_path(loc: Iterable[Any], event: Any, *, missing: bool) -> str:
    """The dotted path into `event` of a pydantic error location, without pydantic's union tags.

    `missing`: the error is a required field that is absent, so its last item is that field.
    """
    parts, node = [], event
    loc = list(loc)
    for i, item in enumerate(loc):
        if isinstance(node, dict) and item in node:
            node = node[item]
        elif isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
            node = node[item]
        elif not (missing and i == len(loc) - 1):
            continue  # a union member's tag such as `str`, `function-plain[...]`, `literal['...']`
        parts.append(str(item))
    return ".".join(parts) or "<event>"


def summarize(error: ValidationError, event: Any) -> str:
    """One line per field path: `path: message` (union alternatives joined by ` | `)."""
    by_path: dict[str, list[str]] = {}
    for item in error.errors(include_url=False):
        path = data_path(item["loc"], event, missing=item["type"] == "missing")
        messages = by_path.setdefault(path, [])
        if item["msg"] not in messages:
            messages.append(item["msg"])
    return "; ".join(f"{path}: {' | '.join(msgs)}" for path, msgs in by_path.items())


def validate(model: type[BaseModel], event: Any) -> BaseModel:
    """`model.model_validate(event)`, any failure raised as CheckFailed with its field paths."""
    try:
        return model.model_validate(event)
    except ValidationError as error:
        raise CheckFailed(summarize(error, event)) from None
    except Exception as error:  # a model's own `before` validator can trip over a wrong shape
        raise CheckFailed(f"{model.__name__}'s own validator raised {type(error).__name__}: {error}") from None


def read(path: str, getter: Callable[[], Any], *, optional: bool = False) -> Any:
    """A data-class property: raising, or None unless optional, fails the case under `path`."""
    try:
        value = getter()
    except Exception as error:
        raise CheckFailed(f"{path}: raised {type(error).__name__}: {error}") from None
    if value is None and not optional:
        raise CheckFailed(f"{path}: is None")
    return value


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def expect_str(path: str, value: Any) -> None:
    expect(isinstance(value, str) and value != "", f"{path}: expected a non-empty string, got {value!r}")


def expect_timestamp(path: str, value: Any) -> None:
    """An ISO-8601 time with an offset, as AWS writes them (`...Z`, `...+0000`)."""
    expect_str(path, value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CheckFailed(f"{path}: not an ISO-8601 time: {value!r}") from None
    expect(parsed.tzinfo is not None, f"{path}: ISO-8601 time without an offset: {value!r}")


# ---------------------------------------------------------------------------------------------
# One check per kind; each raises CheckFailed when the event does not conform
# ---------------------------------------------------------------------------------------------


def check_json(event: Any) -> None:
    """Any JSON value: the cases file already parsed it."""


def check_json_object(event: Any) -> None:
    """A JSON object, whatever its fields (a case's `require` names the ones it needs)."""
    expect(isinstance(event, dict), f"<event>: expected a JSON object, got {type(event).__name__}")


def check_sqs(event: Any) -> None:
    validate(SqsModel, event)
    for i, record in enumerate(event["Records"]):  # SqsModel would take an object for a body, too
        body = record["body"]
        expect(isinstance(body, str), f"Records.{i}.body: expected a string, got {type(body).__name__}")


def check_sns(event: Any) -> None:
    validate(SnsModel, event)


def check_s3(event: Any) -> None:
    validate(S3Model, event)
    s3_event = S3Event(event)
    read("bucket_name", lambda: s3_event.bucket_name)
    read("object_key", lambda: s3_event.object_key)
    for i, record in enumerate(s3_event.records):
        at, event_name = f"Records.{i}.s3", record.event_name
        read(f"{at}.bucket.name", lambda: record.s3.bucket.name)
        read(f"{at}.get_object.key", lambda: record.s3.get_object.key)
        read(f"{at}.get_object.etag", lambda: record.s3.get_object.etag)
        if ":Delete" not in event_name:  # S3 sends no size for deletions (S3Model's own rule)
            read(f"{at}.get_object.size", lambda: record.s3.get_object.size)
        if event_name.startswith(("ObjectCreated:", "ObjectRemoved:")):  # S3: "used with PUTs and DELETEs"
            read(f"{at}.get_object.sequencer", lambda: record.s3.get_object.sequencer)


def check_eventbridge(event: Any) -> None:
    validate(EventBridgeModel, event)
    if is_s3_eventbridge(event):
        validate(S3EventNotificationEventBridgeModel, event)


def check_cron(event: Any) -> None:
    parsed = validate(EventBridgeModel, event)
    expect(parsed.detail_type == "Scheduled Event", f"detail-type: expected 'Scheduled Event', got {parsed.detail_type!r}")
    expect(parsed.source == "aws.events", f"source: expected 'aws.events', got {parsed.source!r}")
    expect(bool(ACCOUNT_ID.match(parsed.account)), f"account: expected 12 digits, got {parsed.account!r}")


def check_alarm_state(path: str, state: Any, *, full: bool) -> None:
    """`value` always; `reason` and `timestamp` too when `full` (the current state)."""
    value = read(f"{path}.value", lambda: state.value)
    expect(value in ALARM_STATES, f"{path}.value: expected one of {sorted(ALARM_STATES)}, got {value!r}")
    reason = read(f"{path}.reason", lambda: state.get("reason"), optional=not full)
    timestamp = read(f"{path}.timestamp", lambda: state.get("timestamp"), optional=not full)
    if reason is not None:
        expect_str(f"{path}.reason", reason)
    if timestamp is not None:
        expect_timestamp(f"{path}.timestamp", timestamp)
    reason_data = read(f"{path}.reasonData", lambda: state.get("reasonData"), optional=True)
    if reason_data is not None:
        expect_str(f"{path}.reasonData", reason_data)
        read(f"{path}.reason_data_decoded", lambda: state.reason_data_decoded)


def check_alarm_metric(path: str, metric: Any) -> None:
    expect_str(f"{path}.id", read(f"{path}.id", lambda: metric.metric_id))
    return_data = read(f"{path}.returnData", lambda: metric.return_data)
    expect(isinstance(return_data, bool), f"{path}.returnData: expected a boolean, got {return_data!r}")
    if metric.expression is not None:  # metric math: an expression instead of a metricStat
        expect_str(f"{path}.expression", metric.expression)
        return
    stat = read(f"{path}.metricStat", lambda: metric.metric_stat)
    described = read(f"{path}.metricStat.metric", lambda: stat.metric)
    expect(isinstance(described, dict) and described != {}, f"{path}.metricStat.metric: missing or empty")
    expect_str(f"{path}.metricStat.metric.namespace", described.get("namespace"))
    expect_str(f"{path}.metricStat.metric.name", described.get("name"))
    dimensions = described.get("dimensions", {})
    expect(isinstance(dimensions, dict), f"{path}.metricStat.metric.dimensions: expected an object, got {dimensions!r}")
    period = read(f"{path}.metricStat.period", lambda: stat.period)
    expect(isinstance(period, int) and not isinstance(period, bool) and period > 0,
           f"{path}.metricStat.period: expected a positive integer, got {period!r}")
    expect_str(f"{path}.metricStat.stat", read(f"{path}.metricStat.stat", lambda: stat.stat))


def check_alarm(event: Any) -> None:
    """The alarm-action event through CloudWatchAlarmEvent, as a function would read it."""
    check_json_object(event)
    alarm = CloudWatchAlarmEvent(event)
    source = read("source", lambda: alarm.source)
    expect(source == "aws.cloudwatch", f"source: expected 'aws.cloudwatch', got {source!r}")
    arn = read("alarmArn", lambda: alarm.alarm_arn)
    region = read("region", lambda: alarm.region)
    account = read("accountId", lambda: alarm.source_account_id)
    expect(isinstance(account, str) and bool(ACCOUNT_ID.match(account)), f"accountId: expected 12 digits, got {account!r}")
    expect_timestamp("time", read("time", lambda: alarm.timestamp))
    data = read("alarmData", lambda: alarm.alarm_data)
    name = read("alarmData.alarmName", lambda: data.alarm_name)
    expect_str("alarmData.alarmName", name)
    check_alarm_state("alarmData.state", read("alarmData.state", lambda: data.state), full=True)
    check_alarm_state("alarmData.previousState", read("alarmData.previousState", lambda: data.previous_state), full=False)
    configuration = read("alarmData.configuration", lambda: data.configuration)
    read("alarmData.configuration.description", lambda: configuration.description, optional=True)
    metrics = read("alarmData.configuration.metrics", lambda: configuration.metrics)
    for i, metric in enumerate(metrics):
        check_alarm_metric(f"alarmData.configuration.metrics.{i}", metric)
    expect(bool(metrics) or configuration.alarm_rule is not None,
           "alarmData.configuration: neither metrics (metric alarm) nor alarmRule (composite alarm)")
    matched = ALARM_ARN.match(arn) if isinstance(arn, str) else None
    expect(matched is not None, f"alarmArn: not a CloudWatch alarm ARN: {arn!r}")
    for field, value, in_arn in (
        ("region", region, matched["region"]),
        ("accountId", account, matched["account"]),
        ("alarmData.alarmName", name, matched["name"]),
    ):
        expect(value == in_arn, f"{field}: {value!r} does not match alarmArn's {in_arn!r}")


def check_http(event: Any) -> None:
    validate(LambdaFunctionUrlModel, event)
    validate(APIGatewayProxyEventV2Model, event)
    url = LambdaFunctionUrlEvent(event)
    try:
        _ = (url.http_method, url.path, url.request_context.http.source_ip, url.headers, url.query_string_parameters)
        url.decoded_body
    except Exception as e:  # noqa: BLE001 - any failure of an accessor is a conformance failure
        raise CheckFailed(f"LambdaFunctionUrlEvent: {type(e).__name__}: {e}") from e


def is_s3_eventbridge(event: Any) -> bool:
    return isinstance(event, dict) and event.get("source") == "aws.s3"


CHECKS: dict[str, Callable[[Any], None]] = {
    "sqs": check_sqs,
    "sqs_body": check_json,
    "s3": check_s3,
    "sns": check_sns,
    "eventbridge": check_eventbridge,
    "cron": check_cron,
    "alarm": check_alarm,
    "claim_check": check_json_object,
    "http": check_http,
}
MODELS = {
    "sqs": "SqsModel",
    "sqs_body": "json",
    "s3": "S3Model+S3Event",
    "sns": "SnsModel",
    "eventbridge": "EventBridgeModel",
    "cron": "EventBridgeModel",
    "alarm": "CloudWatchAlarmEvent",
    "claim_check": "json",
    "http": "LambdaFunctionUrlModel+APIGatewayProxyEventV2Model",
}


def model_name(kind: str, event: Any) -> str:
    """What a case's line names as the model it was checked with."""
    if kind == "eventbridge" and is_s3_eventbridge(event):
        return "EventBridgeModel+S3EventNotificationEventBridgeModel"
    return MODELS[kind]


def check_required(event: Any, paths: list[str]) -> None:
    """Each dotted path (list items by index) is present and not null."""
    for path in paths:
        node = event
        for part in path.split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise CheckFailed(f"{path}: missing")
        expect(node is not None, f"{path}: is null")


def run_case(name: str, case: dict[str, Any]) -> tuple[bool, str]:
    """(passed, the line to print) for one case."""
    kind, event = case["kind"], case["event"]
    model = model_name(kind, event)
    try:
        CHECKS[kind](event)
        check_required(event, case.get("require", []))
    except CheckFailed as failure:
        return False, f"FAIL {name} ({model}): {failure}"
    return True, f"ok   {name} ({model})"


# ---------------------------------------------------------------------------------------------
# The cases file
# ---------------------------------------------------------------------------------------------


def load_cases(path: str) -> dict[str, dict[str, Any]]:
    """The cases in `path`, every one well-formed, else UsageError."""
    try:
        cases = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise UsageError(f"{path} is not JSON: {error}") from None
    if not isinstance(cases, dict) or not cases:
        raise UsageError(f"{path}: expected a non-empty JSON object of cases")
    for name, case in cases.items():
        if not isinstance(case, dict) or "kind" not in case or "event" not in case:
            raise UsageError(f"{path}: case {name!r} must be an object with `kind` and `event`")
        if case["kind"] not in CHECKS:
            raise UsageError(f"{path}: case {name!r} has unknown kind {case['kind']!r} (known: {', '.join(CHECKS)})")
        require = case.get("require", [])
        if not isinstance(require, list) or not all(isinstance(p, str) and p for p in require):
            raise UsageError(f"{path}: case {name!r}: `require` must be a list of dotted paths")
    return cases


def check_file(path: str) -> int:
    passed = True
    for name, case in load_cases(path).items():
        ok, line = run_case(name, case)
        print(line)
        passed &= ok
    return 0 if passed else 1


# ---------------------------------------------------------------------------------------------
# --self-test: the checks fail where they must, and the AWS samples beside this file pass
# ---------------------------------------------------------------------------------------------


def alarm_action_event() -> dict[str, Any]:
    """What Lambda gets when a CloudWatch metric alarm invokes it directly (AWS's documented shape)."""
    arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:cpu-high"
    return {
        "source": "aws.cloudwatch",
        "alarmArn": arn,
        "accountId": "123456789012",
        "time": "2026-11-14T09:20:12.412+0000",
        "region": "us-east-1",
        "alarmData": {
            "alarmName": "cpu-high",
            "state": {
                "value": "ALARM",
                "reason": "Threshold Crossed: 1 out of the last 1 datapoints [92.5 (14/11/26 09:15:00)] was greater than the threshold (80.0) (minimum 1 datapoint for OK -> ALARM transition).",
                "reasonData": '{"version":"1.0","queryDate":"2026-11-14T09:20:12.341+0000","startDate":"2026-11-14T09:15:00.000+0000","statistic":"Average","period":300,"recentDatapoints":[92.5],"threshold":80.0}',
                "timestamp": "2026-11-14T09:20:12.345+0000",
            },
            "previousState": {
                "value": "OK",
                "reason": "Threshold Crossed: 1 out of the last 1 datapoints [12.1 (14/11/26 09:10:00)] was not greater than the threshold (80.0) (minimum 1 datapoint for ALARM -> OK transition).",
                "timestamp": "2026-11-14T09:15:12.123+0000",
            },
            "configuration": {
                "description": "CPU above 80%",
                "metrics": [{
                    "id": "30b6c6b2-a864-43a2-4877-c09a1afc3b87",
                    "metricStat": {
                        "metric": {"namespace": "AWS/EC2", "name": "CPUUtilization", "dimensions": {"InstanceId": "i-0123456789abcdef0"}},
                        "period": 300,
                        "stat": "Average",
                    },
                    "returnData": True,
                }],
            },
        },
    }


def s3_event() -> dict[str, Any]:
    """Lambda's S3 event for one ObjectCreated:Put (AWS's documented shape)."""
    return {"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2026-11-14T09:21:07.215Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAJDPLRKLG7UEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.17"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "photos-to-queue",
            "bucket": {"name": "amzn-s3-demo-bucket", "ownerIdentity": {"principalId": "A3NL1KOZZKExample"}, "arn": "arn:aws:s3:::amzn-s3-demo-bucket"},
            "object": {"key": "photos/my+cat.jpg", "size": 1024, "eTag": "d41d8cd98f00b204e9800998ecf8427e", "sequencer": "0055AED6DCD90281E5"},
        },
    }]}


def cron_event() -> dict[str, Any]:
    """EventBridge's "Scheduled Event" from a schedule rule (AWS's documented shape)."""
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-14T09:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/nightly"],
        "detail": {},
    }


def without(event: dict[str, Any], path: str) -> dict[str, Any]:
    """A deep copy of `event` with the dotted `path` removed."""
    copy = json.loads(json.dumps(event))
    *parents, last = path.split(".")
    node: Any = copy
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    del node[last]
    return copy


def built_in_cases() -> list[tuple[str, str, Any, bool]]:
    """(name, kind, event, should pass) for hand-built events and their broken twins."""
    return [
        ("alarm_action", "alarm", alarm_action_event(), True),
        ("alarm_action_without_accountId", "alarm", without(alarm_action_event(), "accountId"), False),
        ("alarm_action_without_state_value", "alarm", without(alarm_action_event(), "alarmData.state.value"), False),
        ("s3_put", "s3", s3_event(), True),
        ("s3_without_configurationId", "s3", without(s3_event(), "Records.0.s3.configurationId"), False),
        ("s3_without_sequencer", "s3", without(s3_event(), "Records.0.s3.object.sequencer"), False),
        ("cron", "cron", cron_event(), True),
        ("cron_account_null", "cron", {**cron_event(), "account": None}, False),
        ("cron_wrong_detail_type", "cron", {**cron_event(), "detail-type": "Object Created"}, False),
        ("claim_check_not_an_object", "claim_check", ["not", "an", "object"], False),
    ]


def lambda_sns_event(envelope: dict[str, Any]) -> dict[str, Any]:
    """Lambda's SNS event for the envelope SNS wrote into SQS (Lambda spells the two URLs `...Url`)."""
    sns = {k: v for k, v in envelope.items() if k not in ("SigningCertURL", "UnsubscribeURL")}
    sns["SigningCertUrl"] = envelope["SigningCertURL"]
    sns["UnsubscribeUrl"] = envelope["UnsubscribeURL"]
    sns.setdefault("Subject", None)
    sns.setdefault("MessageAttributes", {})
    subscription = envelope["UnsubscribeURL"].split("SubscriptionArn=", 1)[1]
    return {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": subscription, "Sns": sns}]}


def lambda_sqs_event(body: str) -> dict[str, Any]:
    """Lambda's SQS event for one message with `body`."""
    return {"Records": [{
        "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1794734467215",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1794734467230",
        },
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:fanin-in",
        "awsRegion": "us-east-1",
    }]}


def sample_cases(samples: dict[str, Any]) -> list[tuple[str, str, Any, bool]]:
    """The events AWS's own triggers would deliver for each sample body; all must pass."""
    cases = []
    for name, sample in samples.items():
        body = sample["body"]
        cases.append((f"samples.{name}.as_sqs", "sqs", lambda_sqs_event(body), True))
        try:
            value = json.loads(body)
        except ValueError:
            continue  # a plain-text body (raw SNS delivery): only the SQS event applies
        if isinstance(value, dict) and value.get("Type") == "Notification":
            cases.append((f"samples.{name}.as_sns", "sns", lambda_sns_event(value), True))
            if '"Records"' in value["Message"]:
                cases.append((f"samples.{name}.as_s3", "s3", json.loads(value["Message"]), True))
        elif isinstance(value, dict) and "Records" in value:
            cases.append((f"samples.{name}.as_s3", "s3", value, True))
        elif isinstance(value, dict) and "detail-type" in value:
            cases.append((f"samples.{name}.as_eventbridge", "eventbridge", value, True))
            if value["detail-type"] == "CloudWatch Alarm State Change":
                cases.append((f"samples.{name}.as_alarm_action", "alarm", alarm_action_from(value), True))
        else:
            cases.append((f"samples.{name}.as_sqs_body", "sqs_body", value, True))
    return cases


def alarm_action_from(state_change: dict[str, Any]) -> dict[str, Any]:
    """The alarm-action event for an EventBridge "CloudWatch Alarm State Change" (same alarmData)."""
    return {
        "source": "aws.cloudwatch",
        "alarmArn": state_change["resources"][0],
        "accountId": state_change["account"],
        "time": state_change["time"],
        "region": state_change["region"],
        "alarmData": state_change["detail"],
    }


def self_test() -> int:
    """Each case passes or fails as it should; prints `ok` or `FAIL` per case."""
    cases = built_in_cases() + sample_cases(json.loads(SAMPLES.read_text(encoding="utf-8")))
    all_as_expected = True
    for name, kind, event, should_pass in cases:
        passed, line = run_case(name, {"kind": kind, "event": event})
        detail = line.split(" ", 1)[1].strip()
        if passed == should_pass:
            print(f"ok   {detail}" + ("" if passed else " [failed as it should]"))
        else:
            print(f"FAIL {detail}" + (" [passed but must fail]" if passed else ""))
            all_as_expected = False
    return 0 if all_as_expected else 1


def main(argv: list[str]) -> int:
    if argv == ["--self-test"]:
        return self_test()
    if len(argv) != 1 or argv[0].startswith("-"):
        print(USAGE, file=sys.stderr)
        return 2
    try:
        return check_file(argv[0])
    except UsageError as error:
        print(f"powertools_check: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
