"""Sets up and inspects the local AWS for scripts/demo (boto3 against moto server): the queues
every example source reads, the bucket, topic and functions they name, and some traffic. The
wiring between them (bucket notification, subscription, rules, queue policies) is left to
`fanin setup --apply`."""

import io
import json
import sys
import time
import urllib.request
import zipfile

import boto3

ENDPOINT = sys.argv[2]
KW = dict(endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
QUEUES = ["orders", "uploads-events", "news-events", "bus-events", "alarms-events", "approvals"]
# archive-order is deliberately not deployed: its events end in the dead-letter file.
FUNCTIONS = ["process-order", "heartbeat", "resize", "notify", "audit", "pager"]
# Polled by the demo's own source (alarm polling needs no queue).
POLLED_ALARM = "demo-disk-full"
# A state machine whose task waits for its token, put on the approvals queue.
APPROVALS = "approve-order"


def approvals_machine(sfn, queue_url):
    definition = {"StartAt": "Approve", "States": {"Approve": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "HeartbeatSeconds": 10,
        "Parameters": {"QueueUrl": queue_url, "MessageBody": {"TaskToken.$": "$$.Task.Token", "order.$": "$.order"}},
        "End": True}}}
    return sfn.create_state_machine(name=APPROVALS, definition=json.dumps(definition),
                                    roleArn="arn:aws:iam::123456789012:role/fanin-demo")["stateMachineArn"]


def setup():
    # moto runs state machines only when asked; the task-token source needs a real execution.
    config = urllib.request.Request(ENDPOINT + "/moto-api/config", method="POST", headers={"Content-Type": "application/json"},
                                    data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode())
    urllib.request.urlopen(config).read()
    sqs = boto3.client("sqs", **KW)
    for q in QUEUES:
        sqs.create_queue(QueueName=q)
    approvals_machine(boto3.client("stepfunctions", **KW), sqs.get_queue_url(QueueName="approvals")["QueueUrl"])
    iam = boto3.client("iam", **KW)
    role = iam.create_role(RoleName="fanin-demo", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return event\n")
    lam = boto3.client("lambda", **KW)
    for name in FUNCTIONS:
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="handler.handler",
                            Code={"ZipFile": code.getvalue()})
    boto3.client("s3", **KW).create_bucket(Bucket="photos")
    boto3.client("sns", **KW).create_topic(Name="news")
    boto3.client("cloudwatch", **KW).put_metric_alarm(
        AlarmName=POLLED_ALARM, Namespace="CWAgent", MetricName="disk_used_percent", Statistic="Average",
        Period=60, EvaluationPeriods=1, Threshold=90.0, ComparisonOperator="GreaterThanThreshold")


def traffic(count):
    sqs = boto3.client("sqs", **KW)
    orders = sqs.get_queue_url(QueueName="orders")["QueueUrl"]
    for start in range(0, count, 10):
        entries = [{"Id": str(i), "MessageBody": json.dumps({"order": i, "item": "book"})}
                   for i in range(start, min(start + 10, count))]
        sqs.send_message_batch(QueueUrl=orders, Entries=entries)
    s3 = boto3.client("s3", **KW)
    for key in ["photos/cat 1.jpg", "photos/dog+2.jpg", "notes/readme.txt"]:
        s3.put_object(Bucket="photos", Key=key, Body=b"...")
    sns = boto3.client("sns", **KW)
    topic = sns.create_topic(Name="news")["TopicArn"]
    for n in range(2):
        sns.publish(TopicArn=topic, Subject=f"News {n}", Message=json.dumps({"headline": n}))
    events = boto3.client("events", **KW)
    for amount in (20, 250):
        events.put_events(Entries=[{"Source": "shop", "DetailType": "OrderPlaced",
                                    "Detail": json.dumps({"amount": amount})}])
    # As CloudWatch sends alarm state changes to EventBridge (moto sends none itself).
    for state, previous in (("ALARM", "OK"), ("OK", "ALARM")):
        events.put_events(Entries=[{
            "Source": "aws.cloudwatch", "DetailType": "CloudWatch Alarm State Change",
            "Resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:cpu-high"],
            "Detail": json.dumps({"alarmName": "cpu-high",
                                  "state": {"value": state, "reason": "demo", "timestamp": "2026-11-27T01:00:00.000+0000"},
                                  "previousState": {"value": previous, "reason": "demo", "timestamp": "2026-11-27T00:00:00.000+0000"},
                                  "configuration": {"metrics": []}})}])
    boto3.client("cloudwatch", **KW).set_alarm_state(AlarmName=POLLED_ALARM, StateValue="ALARM", StateReason="disk at 95%")
    sfn = boto3.client("stepfunctions", **KW)
    machine = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if m["name"] == APPROVALS)
    sfn.start_execution(stateMachineArn=machine, name="order-7", input=json.dumps({"order": 7}))


def execution():
    """The approval execution's status, once it left RUNNING (or after 20 s)."""
    sfn = boto3.client("stepfunctions", **KW)
    arn = f"arn:aws:states:us-east-1:123456789012:execution:{APPROVALS}:order-7"
    for _ in range(100):
        status = sfn.describe_execution(executionArn=arn)["status"]
        if status != "RUNNING":
            break
        time.sleep(0.2)
    print(status)

def depth():
    sqs = boto3.client("sqs", **KW)
    total = 0
    for q in QUEUES:
        url = sqs.get_queue_url(QueueName=q)["QueueUrl"]
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                   "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        total += int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])
    print(total)


if __name__ == "__main__":
    {"setup": setup, "traffic": lambda: traffic(int(sys.argv[3])), "depth": depth, "execution": execution}[sys.argv[1]]()
