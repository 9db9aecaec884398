"""Sets up and inspects the local AWS for scripts/demo (boto3 against moto server)."""

import io
import json
import sys
import zipfile

import boto3

ENDPOINT = sys.argv[2]
KW = dict(endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")


def setup(count):
    sqs = boto3.client("sqs", **KW)
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    iam = boto3.client("iam", **KW)
    role = iam.create_role(RoleName="fanin-demo", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return event\n")
    lam = boto3.client("lambda", **KW)
    for name in ("process-order", "heartbeat"):  # archive-order is deliberately not deployed
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="handler.handler",
                            Code={"ZipFile": code.getvalue()})
    for start in range(0, count, 10):
        entries = [{"Id": str(i), "MessageBody": json.dumps({"order": i, "item": "book"})}
                   for i in range(start, min(start + 10, count))]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    print(url)


def depth():
    sqs = boto3.client("sqs", **KW)
    url = sqs.get_queue_url(QueueName="orders")["QueueUrl"]
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                               "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    print(int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"]))


if __name__ == "__main__":
    {"setup": lambda: setup(int(sys.argv[3])), "depth": depth}[sys.argv[1]]()
