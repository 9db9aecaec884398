"""Webhooks for scripts/demo: `queue ENDPOINT` creates the buffer queue and prints its URL;
`send ADDR` sends one signed request of each scheme (github, stripe, slack, standard) to fanin's
webhook listener and prints each answer. The secrets are the demo's own (scripts/demo exports
them to fanin too)."""

import base64
import hashlib
import hmac
import http.client
import json
import sys
import time

import boto3

SECRETS = {
    "github": "It's a Secret to Everybody",
    "stripe": "whsec_demo_stripe",
    "slack": "8f742231b10e8888abcd99yyyzzz85a5",
    "standard": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
}


def mac(key, msg):
    return hmac.new(key, msg, hashlib.sha256)


def requests():
    t = str(int(time.time()))
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    yield "github", body, {
        "X-Hub-Signature-256": "sha256=" + mac(SECRETS["github"].encode(), body).hexdigest(),
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-GitHub-Event": "ping",
    }
    body = json.dumps({"id": "evt_demo_1", "object": "event", "type": "charge.succeeded"}).encode()
    yield "stripe", body, {"Stripe-Signature": f"t={t},v1=" + mac(SECRETS["stripe"].encode(), t.encode() + b"." + body).hexdigest()}
    body = json.dumps({"type": "event_callback", "event_id": "Ev_demo_1"}).encode()
    yield "slack", body, {
        "X-Slack-Request-Timestamp": t,
        "X-Slack-Signature": "v0=" + mac(SECRETS["slack"].encode(), b"v0:" + t.encode() + b":" + body).hexdigest(),
    }
    body = json.dumps({"type": "user.created", "data": {"id": "u_1"}}).encode()
    key = base64.b64decode(SECRETS["standard"].removeprefix("whsec_"))
    sig = base64.b64encode(mac(key, b"msg_demo_1." + t.encode() + b"." + body).digest()).decode()
    yield "standard", body, {"webhook-id": "msg_demo_1", "webhook-timestamp": t, "webhook-signature": "v1," + sig}


def send(addr):
    host, port = addr.rsplit(":", 1)
    for scheme, body, headers in requests():
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("POST", f"/hooks/{scheme}", body, {**headers, "Content-Type": "application/json"})
        answer = conn.getresponse()
        print(f"  {scheme:<9} {answer.status} {answer.read().decode()}")
    # And one with a bad signature: refused, never delivered.
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("POST", "/hooks/github", b'{"evil":true}', {"X-Hub-Signature-256": "sha256=" + "0" * 64})
    answer = conn.getresponse()
    print(f"  {'forged':<9} {answer.status} {answer.read().decode()}")


if __name__ == "__main__":
    if sys.argv[1] == "queue":
        sqs = boto3.client("sqs", endpoint_url=sys.argv[2], region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
        print(sqs.create_queue(QueueName="webhooks")["QueueUrl"])
    elif sys.argv[1] == "send":
        send(sys.argv[2])
    else:
        sys.exit("usage: demo_webhooks.py queue ENDPOINT | send ADDR")
