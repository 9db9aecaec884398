"""The boto3 peer of fanin's throughput benchmark: the SQS -> Lambda consumer people write with boto3.

    boto3_consumer.py QUEUE_URL FUNCTION_NAME CONCURRENCY

Endpoints, region and credentials come from the environment (AWS_ENDPOINT_URL_SQS, AWS_REGION...).
Each poller thread receives up to 10 messages (all attributes), hands one Event invoke per message
(Lambda's SQS event with one record) to a shared pool of CONCURRENCY threads, waits for them, and
deletes the messages whose invoke succeeded with one DeleteMessageBatch; a failed invoke leaves its
message in the queue. 2 * ceil(CONCURRENCY / 10) pollers, so that one poller's receive and delete
overlap the others' invokes and the pool stays full. SIGTERM or SIGINT: the pollers finish the batch
they hold, and the process exits 0 (at most 5 s later).
"""

import json
import math
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

ACCOUNT = "123456789012"


_log_lock = threading.Lock()


def log(text):
    with _log_lock:
        sys.stderr.write(f"boto3_consumer: {text}\n")
        sys.stderr.flush()


def main():
    if len(sys.argv) != 4 or not sys.argv[3].isdigit() or int(sys.argv[3]) < 1:
        log("usage: boto3_consumer.py QUEUE_URL FUNCTION_NAME CONCURRENCY")
        sys.exit(2)
    queue_url, function, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3])
    pollers = 2 * math.ceil(concurrency / 10)

    # Clients are thread-safe and shared by every thread; the session only builds them, here.
    # botocore reads AWS_DEFAULT_REGION, not AWS_REGION (the one the benchmark and the other SDKs set).
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    session = boto3.session.Session(region_name=region)
    queue_arn = f"arn:aws:sqs:{region}:{ACCOUNT}:{queue_url.rstrip('/').rsplit('/', 1)[-1]}"
    pool_size = max(concurrency, pollers)
    sqs = session.client("sqs", config=Config(max_pool_connections=pool_size))
    lam = session.client("lambda", config=Config(max_pool_connections=pool_size))
    invokers = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="invoke")
    stop = threading.Event()

    def invoke(m):
        event = {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m.get("Body", ""),
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": m.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": queue_arn,
                    "awsRegion": region,
                }
            ]
        }
        try:
            lam.invoke(FunctionName=function, InvocationType="Event", Payload=json.dumps(event).encode())
            return True
        except Exception as e:  # noqa: BLE001 - any failure leaves the message in the queue
            if not stop.is_set():
                log(f"invoke for message {m['MessageId']} failed: {e}")
            return False

    def poll():
        while not stop.is_set():
            try:
                out = sqs.receive_message(
                    QueueUrl=queue_url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=1,
                    MessageSystemAttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
            except Exception as e:  # noqa: BLE001
                if not stop.is_set():
                    log(f"ReceiveMessage failed: {e}")
                    stop.wait(1)
                continue
            messages = out.get("Messages", [])
            if not messages:
                continue
            calls = [(m, invokers.submit(invoke, m)) for m in messages]
            done = [m for m, call in calls if call.result()]
            if not done:
                continue
            try:
                out = sqs.delete_message_batch(
                    QueueUrl=queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )
                for f in out.get("Failed", []):
                    log(f"DeleteMessageBatch entry {f.get('Id')} failed: {f.get('Code')}: {f.get('Message')}")
            except Exception as e:  # noqa: BLE001
                if not stop.is_set():
                    log(f"DeleteMessageBatch failed: {e}")

    def guarded():
        try:
            poll()
        except Exception as e:  # noqa: BLE001 - a poller that dies says so, and the process goes on
            log(f"poller stopped: {e!r}")

    # Threads inherit the blocked signals; the main thread takes them with sigwait.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    threads = [threading.Thread(target=guarded, name=f"poller-{i}", daemon=True) for i in range(pollers)]
    for t in threads:
        t.start()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    stop.set()
    deadline = time.monotonic() + 5
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    invokers.shutdown(wait=False, cancel_futures=True)
    sys.stderr.flush()
    # Skips the interpreter's wait for pool threads that are still blocked in a request.
    os._exit(0)


if __name__ == "__main__":
    main()
