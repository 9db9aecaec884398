//! The consumer people write by hand with the AWS SDK for Rust: pollers receive 10, invoke
//! them all (at most `CONCURRENCY` invokes in flight in the process), wait for every answer,
//! delete the batch, and go again. It builds the same Lambda SQS event as fanin (attributes
//! included), without heartbeats, retries, dead letters or metrics.

use std::sync::Arc;

use tokio::sync::Semaphore;

pub fn run(queue_url: &str, concurrency: usize) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let lambda = aws_sdk_lambda::Client::new(&sdk);
        let in_flight = Arc::new(Semaphore::new(concurrency));
        // Enough pollers that every invoke slot can be busy.
        let pollers: Vec<_> = (0..concurrency.div_ceil(10))
            .map(|_| {
                let (sqs, lambda, url, in_flight) = (sqs.clone(), lambda.clone(), queue_url.to_string(), in_flight.clone());
                tokio::spawn(async move {
                    loop {
                        let out = sqs
                            .receive_message()
                            .queue_url(&url)
                            .max_number_of_messages(10)
                            .wait_time_seconds(1)
                            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                            .message_attribute_names("All")
                            .send()
                            .await
                            .unwrap();
                        let messages = out.messages.unwrap_or_default();
                        let mut calls = Vec::new();
                        for m in &messages {
                            let attributes: serde_json::Map<String, serde_json::Value> = m
                                .attributes()
                                .map(|a| a.iter().map(|(k, v)| (k.as_str().to_string(), serde_json::Value::from(v.as_str()))).collect())
                                .unwrap_or_default();
                            let event = serde_json::json!({"Records": [{
                                "messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
                                "attributes": attributes, "messageAttributes": {}, "md5OfBody": m.md5_of_body(),
                                "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench", "awsRegion": "us-east-1"
                            }]});
                            let permit = in_flight.clone().acquire_owned().await.unwrap();
                            let call = lambda
                                .invoke()
                                .function_name("work")
                                .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
                                .payload(aws_sdk_lambda::primitives::Blob::new(serde_json::to_vec(&event).unwrap()))
                                .send();
                            calls.push(tokio::spawn(async move {
                                let r = call.await;
                                drop(permit);
                                r
                            }));
                        }
                        for call in calls {
                            call.await.unwrap().unwrap();
                        }
                        if messages.is_empty() {
                            continue;
                        }
                        let entries = messages
                            .iter()
                            .enumerate()
                            .map(|(i, m)| {
                                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                                    .id(i.to_string())
                                    .receipt_handle(m.receipt_handle().unwrap())
                                    .build()
                                    .unwrap()
                            })
                            .collect();
                        sqs.delete_message_batch().queue_url(&url).set_entries(Some(entries)).send().await.unwrap();
                    }
                })
            })
            .collect();
        for p in pollers {
            let _ = p.await;
        }
    });
}
