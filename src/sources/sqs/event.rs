//! Lambda's SQS event for one message (the same fields, names and encodings its SQS trigger
//! uses), or the body itself for `shape = "body"`.

use std::collections::HashMap;

use aws_lambda_events::encodings::Base64Data;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::Message;
use bytes::Bytes;

use super::SqsShape;

/// The payload for `message`, or why there can be none (then the raw body is the payload).
pub fn payload(message: &Message, shape: SqsShape, queue_arn: &str, region: &str) -> (Bytes, Option<String>) {
    let body = message.body().unwrap_or_default();
    match shape {
        SqsShape::Body => match serde_json::from_str::<serde::de::IgnoredAny>(body) {
            Ok(_) if nested_deeper_than(body, MAX_DEPTH) => (
                Bytes::copy_from_slice(body.as_bytes()),
                Some(format!(
                    "shape = \"body\": JSON nested deeper than {MAX_DEPTH} levels (what route filters and dead-letter records can read)"
                )),
            ),
            Ok(_) => (Bytes::copy_from_slice(body.as_bytes()), None),
            Err(e) => (Bytes::copy_from_slice(body.as_bytes()), Some(format!("shape = \"body\" needs a JSON body: {e}"))),
        },
        SqsShape::Sqs => {
            let event = SqsEvent { records: vec![record(message, queue_arn, region)], ..Default::default() };
            let json = serde_json::to_vec(&event).expect("an SQS event always serializes");
            // Shrunk to fit: the payload waits in memory, and a grown buffer is up to twice its size.
            (Bytes::from(json.into_boxed_slice()), None)
        }
    }
}

/// The nesting serde_json reads (its recursion limit), and so what route filters, decoders and
/// dead-letter records can take.
const MAX_DEPTH: usize = 128;

/// Whether the JSON text `json` opens more than `limit` arrays and objects inside each other.
/// (Skipping a value, as the shape check does, has no depth limit of its own.)
fn nested_deeper_than(json: &str, limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for b in json.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Lambda's record for one message: the same fields, names and encodings its SQS trigger uses.
fn record(message: &Message, queue_arn: &str, region: &str) -> SqsMessage {
    let attributes = message.attributes().map(|a| a.iter().map(|(k, v)| (k.as_str().to_string(), v.clone())).collect()).unwrap_or_default();
    let message_attributes: HashMap<String, SqsMessageAttribute> = message
        .message_attributes()
        .map(|attrs| {
            attrs
                .iter()
                .map(|(name, v)| {
                    let attr = SqsMessageAttribute {
                        string_value: v.string_value().map(str::to_string),
                        binary_value: v.binary_value().map(|b| Base64Data(b.as_ref().to_vec())),
                        string_list_values: v.string_list_values().to_vec(),
                        binary_list_values: v.binary_list_values().iter().map(|b| Base64Data(b.as_ref().to_vec())).collect(),
                        data_type: Some(v.data_type().to_string()),
                        ..Default::default()
                    };
                    (name.clone(), attr)
                })
                .collect()
        })
        .unwrap_or_default();
    SqsMessage {
        message_id: message.message_id().map(str::to_string),
        receipt_handle: message.receipt_handle().map(str::to_string),
        body: Some(message.body().unwrap_or_default().to_string()),
        md5_of_body: message.md5_of_body().map(str::to_string),
        md5_of_message_attributes: message.md5_of_message_attributes().map(str::to_string),
        attributes,
        message_attributes,
        event_source_arn: Some(queue_arn.to_string()),
        event_source: Some("aws:sqs".into()),
        aws_region: Some(region.to_string()),
        ..Default::default()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn nesting_is_counted_outside_strings_only() {
        assert!(!nested_deeper_than(&format!("{}{}", "[".repeat(128), "]".repeat(128)), 128));
        assert!(nested_deeper_than(&format!("{}{}", "[".repeat(129), "]".repeat(129)), 128));
        assert!(nested_deeper_than(&format!("{}1{}", "{\"a\":".repeat(129), "}".repeat(129)), 128));
        let in_a_string = format!("{{\"s\":\"{}\\\"{}\"}}", "[".repeat(500), "{".repeat(500));
        assert!(!nested_deeper_than(&in_a_string, 128), "{in_a_string}");
    }
    use aws_sdk_sqs::primitives::Blob;
    use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName};

    pub(crate) fn message(body: &str) -> Message {
        Message::builder()
            .message_id("m-1")
            .receipt_handle("r-1")
            .body(body)
            .md5_of_body("abc")
            .attributes(MessageSystemAttributeName::SentTimestamp, "1700000000000")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "1")
            .message_attributes(
                "raw",
                MessageAttributeValue::builder().data_type("Binary").binary_value(Blob::new(vec![0xff, 0xfe, 0x00])).build().unwrap(),
            )
            .message_attributes("kind", MessageAttributeValue::builder().data_type("String").string_value("order").build().unwrap())
            .build()
    }

    #[test]
    fn lambda_sqs_shape() {
        let (payload, invalid) = payload(&message("{\"a\":1}"), SqsShape::Sqs, "arn:aws:sqs:us-east-1:1:q", "us-east-1");
        assert!(invalid.is_none());
        let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        let r = &v["Records"][0];
        assert_eq!(r["messageId"], "m-1");
        assert_eq!(r["receiptHandle"], "r-1");
        assert_eq!(r["body"], "{\"a\":1}");
        assert_eq!(r["eventSource"], "aws:sqs");
        assert_eq!(r["eventSourceARN"], "arn:aws:sqs:us-east-1:1:q");
        assert_eq!(r["awsRegion"], "us-east-1");
        assert_eq!(r["attributes"]["SentTimestamp"], "1700000000000");
        assert_eq!(r["messageAttributes"]["kind"]["stringValue"], "order");
        assert_eq!(r["messageAttributes"]["kind"]["dataType"], "String");
        assert_eq!(r["messageAttributes"]["raw"]["binaryValue"], "//4A", "bytes that are not UTF-8 travel as base64");
    }

    #[test]
    fn body_shape_needs_json() {
        let (p, invalid) = payload(&message("{\"a\":1}"), SqsShape::Body, "arn", "r");
        assert_eq!(&p[..], b"{\"a\":1}");
        assert!(invalid.is_none());
        for bad in ["not json", "", "{\"a\":"] {
            let (p, invalid) = payload(&message(bad), SqsShape::Body, "arn", "r");
            assert_eq!(&p[..], bad.as_bytes());
            assert!(invalid.is_some(), "{bad:?}");
        }
    }
}
