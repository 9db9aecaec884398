// The sqs-consumer peer of fanin's throughput benchmark: the SQS -> Lambda consumer people write
// with bbc/sqs-consumer and the AWS SDK for JavaScript v3.
//
//     node consumer.mjs QUEUE_URL FUNCTION_NAME CONCURRENCY
//
// Endpoints, region and credentials come from the environment (AWS_ENDPOINT_URL_SQS, AWS_REGION...).
// 2 * ceil(CONCURRENCY / 10) Consumer instances (each one receive -> handle -> delete loop), so
// that one's receive and delete overlap the others' invokes; a process-wide semaphore keeps at most
// CONCURRENCY invokes in flight. Each batch of up to 10 messages is invoked one Event per message
// (Lambda's SQS event with one record), and the messages whose invoke succeeded are returned to
// sqs-consumer, which deletes them with one DeleteMessageBatch; a failed invoke leaves its message
// in the queue. SIGTERM or SIGINT: the consumers finish the batch they hold, and the process exits 0
// (at most 5 s later).

import { Buffer } from "node:buffer";
import { SQSClient } from "@aws-sdk/client-sqs";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { Consumer } from "sqs-consumer";

const ACCOUNT = "123456789012";
// The SDK warns on stderr at the first client that Node 20 support ends in 2027: not news here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const log = (text) => process.stderr.write(`sqs-consumer peer: ${text}\n`);

const [queueUrl, functionName, concurrencyArg] = process.argv.slice(2);
const concurrency = Number(concurrencyArg);
if (!queueUrl || !functionName || !Number.isInteger(concurrency) || concurrency < 1) {
  log("usage: node consumer.mjs QUEUE_URL FUNCTION_NAME CONCURRENCY");
  process.exit(2);
}
const consumerCount = 2 * Math.ceil(concurrency / 10);
const region = process.env.AWS_REGION || "us-east-1";
const queueName = new URL(queueUrl).pathname.split("/").filter(Boolean).pop();
const queueArn = `arn:aws:sqs:${region}:${ACCOUNT}:${queueName}`;

// The SDK's agents default to 50 sockets per host; one per request that can be in flight.
// useQueueUrlAsEndpoint: false so AWS_ENDPOINT_URL_SQS, not the queue URL's host, is used.
const sqs = new SQSClient({ region, useQueueUrlAsEndpoint: false, requestHandler: { httpAgent: { maxSockets: consumerCount } } });
const lambda = new LambdaClient({ region, requestHandler: { httpAgent: { maxSockets: concurrency } } });

let available = concurrency;
const waiting = [];
const acquire = () => (available > 0 ? (available--, Promise.resolve()) : new Promise((resolve) => waiting.push(resolve)));
const release = () => {
  const next = waiting.shift();
  if (next) next();
  else available++;
};

let stopping = false;

async function invoke(message) {
  const event = {
    Records: [
      {
        messageId: message.MessageId,
        receiptHandle: message.ReceiptHandle,
        body: message.Body ?? "",
        attributes: message.Attributes ?? {},
        messageAttributes: {},
        md5OfBody: message.MD5OfBody ?? "",
        eventSource: "aws:sqs",
        eventSourceARN: queueArn,
        awsRegion: region,
      },
    ],
  };
  await acquire();
  try {
    await lambda.send(
      new InvokeCommand({ FunctionName: functionName, InvocationType: "Event", Payload: Buffer.from(JSON.stringify(event)) }),
    );
    return message;
  } catch (err) {
    if (!stopping) log(`invoke for message ${message.MessageId} failed: ${err.name}: ${err.message}`);
    return null;
  } finally {
    release();
  }
}

const consumers = Array.from({ length: consumerCount }, () => {
  const consumer = Consumer.create({
    queueUrl,
    sqs,
    batchSize: 10,
    waitTimeSeconds: 1,
    messageSystemAttributeNames: ["All"],
    messageAttributeNames: ["All"],
    strictReturn: true,
    // The messages returned are the ones sqs-consumer deletes (one DeleteMessageBatch).
    handleMessageBatch: async (messages) => (await Promise.all(messages.map(invoke))).filter(Boolean),
  });
  for (const kind of ["error", "processing_error", "timeout_error"]) {
    consumer.on(kind, (err) => {
      if (!stopping) log(`${kind}: ${err.name}: ${err.message}`);
    });
  }
  return consumer;
});

function shutdown() {
  if (stopping) return;
  stopping = true;
  for (const c of consumers) c.stop();
  const deadline = Date.now() + 5000;
  const check = () => {
    if (consumers.every((c) => !c.status.isPolling) || Date.now() > deadline) process.exit(0);
    setTimeout(check, 20);
  };
  check();
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

for (const c of consumers) c.start();
