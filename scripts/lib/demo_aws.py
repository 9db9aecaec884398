"""Sets up and inspects the local AWS for scripts/demo (boto3 against moto server): the queues
every example source reads, wired to S3, SNS and EventBridge, the functions, and some traffic."""

import io
import json
import sys
import zipfile

import boto3

ENDPOINT = sys.argv[2]
KW = dict(endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
QUEUES = ["orders", "uploads-events", "news-events", "bus-events", "alarms-events"]
# archive-order is deliberately not deployed: its events end in the dead-letter file.
FUNCTIONS = ["process-order", "heartbeat", "resize", "notify", "audit", "pager"]


def setup(count):
    sqs = boto3.client("sqs", **KW)
    urls = {q: sqs.create_queue(QueueName=q)["QueueUrl"] for q in QUEUES}
    arn = lambda q: f"arn:aws:sqs:us-east-1:123456789012:{q}"

    iam = boto3.client("iam", **KW)
    role = iam.create_role(RoleName="fanin-demo", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return event\n")
    lam = boto3.client("lambda", **KW)
    for name in FUNCTIONS:
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="handler.handler",
                            Code={"ZipFile": code.getvalue()})

    # S3 -> SQS notifications (S3 sends an s3:TestEvent first, which fanin skips).
    s3 = boto3.client("s3", **KW)
    s3.create_bucket(Bucket="uploads")
    s3.put_bucket_notification_configuration(Bucket="uploads", NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn("uploads-events"), "Events": ["s3:ObjectCreated:*"]}]})
    # SNS topic -> SQS subscription.
    sns = boto3.client("sns", **KW)
    topic = sns.create_topic(Name="news")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn("news-events"))
    # EventBridge rule -> SQS target.
    events = boto3.client("events", **KW)
    events.put_rule(Name="orders", EventPattern=json.dumps({"source": ["app.orders"]}))
    events.put_targets(Rule="orders", Targets=[{"Id": "q", "Arn": arn("bus-events")}])

    for start in range(0, count, 10):
        entries = [{"Id": str(i), "MessageBody": json.dumps({"order": i, "item": "book"})}
                   for i in range(start, min(start + 10, count))]
        sqs.send_message_batch(QueueUrl=urls["orders"], Entries=entries)
    for key in ["photos/cat 1.jpg", "photos/dog+2.jpg", "notes/readme.txt"]:
        s3.put_object(Bucket="uploads", Key=key, Body=b"...")
    for n in range(2):
        sns.publish(TopicArn=topic, Subject=f"News {n}", Message=json.dumps({"headline": n}))
    for amount in (20, 250):
        events.put_events(Entries=[{"Source": "app.orders", "DetailType": "OrderPlaced",
                                    "Detail": json.dumps({"amount": amount})}])
    for state, previous in (("ALARM", "OK"), ("OK", "ALARM")):
        sqs.send_message(QueueUrl=urls["alarms-events"], MessageBody=json.dumps({
            "version": "0", "id": f"alarm-{state}", "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch", "account": "123456789012", "time": "2026-11-27T01:00:00Z",
            "region": "us-east-1", "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:cpu-high"],
            "detail": {"alarmName": "cpu-high",
                       "state": {"value": state, "reason": "demo", "timestamp": "2026-11-27T01:00:00.000+0000"},
                       "previousState": {"value": previous, "reason": "demo", "timestamp": "2026-11-27T00:00:00.000+0000"},
                       "configuration": {"metrics": []}}}))
    print(urls["orders"])


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
    {"setup": lambda: setup(int(sys.argv[3])), "depth": depth}[sys.argv[1]]()
