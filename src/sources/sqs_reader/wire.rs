//! The SQS calls on the hot path (`ReceiveMessage`, `DeleteMessageBatch`,
//! `ChangeMessageVisibilityBatch`) in SQS's JSON protocol over [`crate::signed_http`]: the
//! SDK's per-request machinery cost more than the calls themselves. Messages come back as the
//! SDK's own `Message` type, so everything after the receive reads them as before.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName};
use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::signed_http::{self, Signer};
use crate::BoxFuture;

/// Time allowed beyond a long poll's wait for the answer to arrive.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// Why an SQS call failed.
#[derive(Debug, thiserror::Error)]
pub enum SqsError {
    /// SQS answered with an error.
    #[error("{code} ({status}): {message}")]
    Service { status: u16, code: String, message: String },
    /// No answer: connection refused or dropped, TLS, no credentials, no endpoint.
    #[error("no answer from SQS")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("no answer from SQS within {0:?}")]
    Timeout(Duration),
}

/// One queue's calls.
pub struct SqsWire {
    endpoint: Result<hyper::Uri, String>,
    queue_url: String,
    signer: Signer,
}

/// A batch entry SQS did not carry out.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Failed {
    /// The entry's id: its index in the batch.
    #[serde(default)]
    pub id: String,
    pub code: String,
    /// True when the request itself was at fault (a stale receipt handle): trying again will
    /// not help. False for SQS's own failures (`InternalError`), which are worth another try.
    #[serde(default)]
    pub sender_fault: bool,
}

/// The three calls the reader makes on its queue. [`SqsWire`] makes them over HTTP; the
/// simulation (`crate::simulation`) answers them in memory.
pub trait QueueWire: Send + Sync {
    /// Up to `max` messages, waiting up to `wait` for the first, hidden for `visibility`.
    fn receive(&self, max: i32, wait: Duration, visibility: Duration) -> BoxFuture<'_, Result<Vec<Message>, SqsError>>;
    /// Deletes the messages of these receipt handles; the entries SQS did not delete (their
    /// `id` is the index in `receipts`).
    fn delete_batch<'a>(&'a self, receipts: &'a [&'a str]) -> BoxFuture<'a, Result<Vec<Failed>, SqsError>>;
    /// Hides the messages of these receipt handles for `visibility` more; the entries SQS did
    /// not change (their `id` is the index in `receipts`).
    fn change_visibility_batch<'a>(&'a self, receipts: &'a [String], visibility: Duration) -> BoxFuture<'a, Result<Vec<Failed>, SqsError>>;
}

impl QueueWire for SqsWire {
    fn receive(&self, max: i32, wait: Duration, visibility: Duration) -> BoxFuture<'_, Result<Vec<Message>, SqsError>> {
        Box::pin(SqsWire::receive(self, max, wait, visibility))
    }
    fn delete_batch<'a>(&'a self, receipts: &'a [&'a str]) -> BoxFuture<'a, Result<Vec<Failed>, SqsError>> {
        Box::pin(SqsWire::delete_batch(self, receipts))
    }
    fn change_visibility_batch<'a>(&'a self, receipts: &'a [String], visibility: Duration) -> BoxFuture<'a, Result<Vec<Failed>, SqsError>> {
        Box::pin(SqsWire::change_visibility_batch(self, receipts, visibility))
    }
}

/// The most of an SQS answer read: ten messages of at most 1 MiB each, with their attributes,
/// JSON-escaped, fit well within it.
const MAX_ANSWER: usize = 32 * 1024 * 1024;

impl SqsWire {
    pub fn new(sdk: &SdkConfig, queue_url: &str) -> SqsWire {
        let region = crate::aws::region(sdk);
        SqsWire {
            endpoint: endpoint(sdk).and_then(|e| e.parse().map_err(|err| format!("{e}: {err}"))),
            queue_url: queue_url.to_string(),
            signer: Signer::new(sdk.credentials_provider(), region, "sqs"),
        }
    }

    /// Up to `max` messages, waiting up to `wait` for the first, hidden for `visibility`;
    /// every system and message attribute asked for.
    pub async fn receive(&self, max: i32, wait: Duration, visibility: Duration) -> Result<Vec<Message>, SqsError> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Request<'a> {
            queue_url: &'a str,
            max_number_of_messages: i32,
            wait_time_seconds: u64,
            visibility_timeout: u64,
            message_system_attribute_names: [&'a str; 1],
            message_attribute_names: [&'a str; 1],
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Response {
            #[serde(default)]
            messages: Vec<WireMessage>,
        }
        let request = Request {
            queue_url: &self.queue_url,
            max_number_of_messages: max,
            wait_time_seconds: wait.as_secs(),
            visibility_timeout: visibility.as_secs(),
            message_system_attribute_names: ["All"],
            message_attribute_names: ["All"],
        };
        let response: Response = self.call("ReceiveMessage", &request, wait + ANSWER_WITHIN).await?;
        Ok(response.messages.into_iter().map(WireMessage::into_message).collect())
    }

    /// Deletes the messages of these receipt handles; the entries SQS did not delete.
    pub async fn delete_batch(&self, receipts: &[&str]) -> Result<Vec<Failed>, SqsError> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Entry<'a> {
            id: String,
            receipt_handle: &'a str,
        }
        let entries: Vec<Entry> = receipts.iter().enumerate().map(|(i, r)| Entry { id: i.to_string(), receipt_handle: r }).collect();
        self.batch("DeleteMessageBatch", entries).await
    }

    /// Hides the messages of these receipt handles for `visibility` more; the entries SQS did
    /// not change.
    pub async fn change_visibility_batch(&self, receipts: &[String], visibility: Duration) -> Result<Vec<Failed>, SqsError> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Entry<'a> {
            id: String,
            receipt_handle: &'a str,
            visibility_timeout: u64,
        }
        let entries: Vec<Entry> = receipts
            .iter()
            .enumerate()
            .map(|(i, r)| Entry { id: i.to_string(), receipt_handle: r, visibility_timeout: visibility.as_secs() })
            .collect();
        self.batch("ChangeMessageVisibilityBatch", entries).await
    }

    /// Sends one message per entry (`SendMessageBatch`, at most ten); the entries SQS did not
    /// store (their `id` is the index in `entries`). A FIFO queue's entries carry their
    /// deduplication id, which is their message group too.
    pub async fn send_batch(&self, entries: &[(&str, Option<&str>)]) -> Result<Vec<Failed>, SqsError> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Entry<'a> {
            id: String,
            message_body: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            message_deduplication_id: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            message_group_id: Option<&'a str>,
        }
        let entries: Vec<Entry> = entries
            .iter()
            .enumerate()
            .map(|(i, (body, dedup))| Entry {
                id: i.to_string(),
                message_body: body,
                message_deduplication_id: *dedup,
                message_group_id: *dedup,
            })
            .collect();
        self.batch("SendMessageBatch", entries).await
    }

    async fn batch<E: Serialize>(&self, action: &str, entries: Vec<E>) -> Result<Vec<Failed>, SqsError> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Request<'a, E> {
            queue_url: &'a str,
            entries: Vec<E>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Response {
            #[serde(default)]
            failed: Vec<Failed>,
        }
        let response: Response = self.call(action, &Request { queue_url: &self.queue_url, entries }, ANSWER_WITHIN).await?;
        Ok(response.failed)
    }

    /// `POST /` with `X-Amz-Target: AmazonSQS.<action>`, signed for `sqs`.
    async fn call<T: DeserializeOwned>(&self, action: &str, request: &impl Serialize, within: Duration) -> Result<T, SqsError> {
        let endpoint = self.endpoint.as_ref().map_err(|e| SqsError::Transport(e.clone().into()))?;
        let client = signed_http::client().map_err(|e| SqsError::Transport(e.into()))?;
        let body = Bytes::from(serde_json::to_vec(request).expect("a request serializes"));
        let mut http = hyper::Request::post(endpoint.clone()).body(Full::new(body.clone())).expect("a valid URI");
        let headers = http.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-amz-json-1.0"));
        headers.insert("x-amz-target", HeaderValue::from_str(&format!("AmazonSQS.{action}")).expect("an action name is a valid header"));
        self.signer.sign(&mut http, &body).await.map_err(|e| SqsError::Transport(e.into()))?;
        let exchange = async {
            let response = client.request(http).await.map_err(|e| SqsError::Transport(e.into()))?;
            let status = response.status().as_u16();
            let body = signed_http::read_body(response.into_body(), MAX_ANSWER).await.map_err(|e| SqsError::Transport(e.into()))?;
            Ok::<_, SqsError>((status, body))
        };
        let (status, body) = tokio::time::timeout(within, exchange).await.map_err(|_| SqsError::Timeout(within))??;
        if !(200..300).contains(&status) {
            return Err(service_error(status, &body));
        }
        serde_json::from_slice(&body).map_err(|e| SqsError::Service { status, code: "UnreadableAnswer".into(), message: e.to_string() })
    }
}

/// SQS's endpoint: `AWS_ENDPOINT_URL_SQS`, else `[aws] endpoint_url`, else the SDK's own
/// resolution for the region, FIPS and dual-stack settings.
fn endpoint(sdk: &SdkConfig) -> Result<String, String> {
    use aws_sdk_sqs::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
    let params = Params::builder()
        .set_region(sdk.region().map(|r| r.to_string()))
        .use_fips(sdk.use_fips().unwrap_or(false))
        .use_dual_stack(sdk.use_dual_stack().unwrap_or(false))
        .set_endpoint(crate::aws::endpoint_override(sdk, "SQS"))
        .build()
        .map_err(|e| e.to_string())?;
    signed_http::resolved_url("SQS", DefaultResolver::new().resolve_endpoint(&params))
}

/// An error answer: the code from `__type` (without its namespace), as the SDK reads it.
fn service_error(status: u16, body: &[u8]) -> SqsError {
    #[derive(Deserialize, Default)]
    struct Body {
        #[serde(rename = "__type")]
        type_: Option<String>,
        #[serde(alias = "Message")]
        message: Option<String>,
    }
    let parsed: Body = serde_json::from_slice(body).unwrap_or_default();
    let code = parsed.type_.as_deref().map(|t| t.rsplit('#').next().unwrap_or(t).to_string()).unwrap_or_else(|| format!("HTTP{status}"));
    let message = parsed.message.unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(1000)]).into_owned());
    SqsError::Service { status, code, message }
}

/// A message as the JSON protocol carries it.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireMessage {
    message_id: Option<String>,
    receipt_handle: Option<String>,
    #[serde(rename = "MD5OfBody")]
    md5_of_body: Option<String>,
    body: Option<String>,
    #[serde(default)]
    attributes: HashMap<String, String>,
    #[serde(rename = "MD5OfMessageAttributes")]
    md5_of_message_attributes: Option<String>,
    #[serde(default)]
    message_attributes: HashMap<String, WireAttribute>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireAttribute {
    data_type: String,
    string_value: Option<String>,
    /// Base64.
    binary_value: Option<String>,
    #[serde(default)]
    string_list_values: Vec<String>,
    #[serde(default)]
    binary_list_values: Vec<String>,
}

impl WireMessage {
    fn into_message(self) -> Message {
        let blob = |b64: &str| Blob::new(base64::engine::general_purpose::STANDARD.decode(b64).unwrap_or_else(|_| b64.as_bytes().to_vec()));
        let attributes = self.attributes.into_iter().map(|(k, v)| (MessageSystemAttributeName::from(k.as_str()), v)).collect();
        let message_attributes = self
            .message_attributes
            .into_iter()
            .map(|(name, a)| {
                let value = MessageAttributeValue::builder()
                    .data_type(a.data_type)
                    .set_string_value(a.string_value)
                    .set_binary_value(a.binary_value.as_deref().map(blob))
                    .set_string_list_values((!a.string_list_values.is_empty()).then_some(a.string_list_values))
                    .set_binary_list_values(
                        (!a.binary_list_values.is_empty()).then(|| a.binary_list_values.iter().map(|b| blob(b)).collect()),
                    )
                    .build()
                    .expect("data_type is set");
                (name, value)
            })
            .collect::<HashMap<_, _>>();
        Message::builder()
            .set_message_id(self.message_id)
            .set_receipt_handle(self.receipt_handle)
            .set_md5_of_body(self.md5_of_body)
            .set_body(self.body)
            .set_attributes(Some(attributes).filter(|a: &HashMap<_, _>| !a.is_empty()))
            .set_md5_of_message_attributes(self.md5_of_message_attributes)
            .set_message_attributes(Some(message_attributes).filter(|a| !a.is_empty()))
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_received_message_reads_as_the_sdk_reads_it() {
        let answer = r#"{"Messages":[{"MessageId":"m1","ReceiptHandle":"r1","MD5OfBody":"d","Body":"{\"a\":1}",
            "Attributes":{"SentTimestamp":"1764633600000","MessageGroupId":"g"},"MD5OfMessageAttributes":"e",
            "MessageAttributes":{"kind":{"DataType":"String","StringValue":"order"},"raw":{"DataType":"Binary","BinaryValue":"//4A"}}}]}"#;
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Response {
            messages: Vec<WireMessage>,
        }
        let parsed: Response = serde_json::from_str(answer).unwrap();
        let m = parsed.messages.into_iter().next().unwrap().into_message();
        assert_eq!((m.message_id(), m.receipt_handle(), m.body(), m.md5_of_body()), (Some("m1"), Some("r1"), Some("{\"a\":1}"), Some("d")));
        assert_eq!(m.attributes().unwrap()[&MessageSystemAttributeName::MessageGroupId], "g");
        assert_eq!(m.attributes().unwrap()[&MessageSystemAttributeName::SentTimestamp], "1764633600000");
        let attrs = m.message_attributes().unwrap();
        assert_eq!(attrs["kind"].string_value(), Some("order"));
        assert_eq!(attrs["raw"].binary_value().unwrap().as_ref(), &[0xff, 0xfe, 0x00]);
        assert_eq!(m.md5_of_message_attributes(), Some("e"));
    }

    #[test]
    fn an_error_answer_names_its_code_without_the_namespace() {
        let e = service_error(400, br#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#);
        assert_eq!(e.to_string(), "QueueDoesNotExist (400): The specified queue does not exist.");
        let e = service_error(503, b"<html>busy</html>");
        assert_eq!(e.to_string(), "HTTP503 (503): <html>busy</html>");
    }
}
