//! Records too large for an SQS message: the record goes to S3 and the message points at it,
//! in the format of AWS's SQS Extended Client libraries (Java `amazon-sqs-java-extended-client-lib`,
//! Python `sqs-extended-client`), so their consumers read such dead letters as they are, and so
//! does `fanin replay`.

use aws_sdk_sqs::operation::send_message::builders::SendMessageFluentBuilder;
use aws_sdk_sqs::types::MessageAttributeValue;
use serde_json::{json, Value};

/// The largest SQS message body fanin sends (SQS's limit: 1 MiB, attributes included).
pub const SQS_MAX_BODY: usize = 1024 * 1024;

/// The class name the extended clients tag their pointers with.
const POINTER_CLASS: &str = "software.amazon.payloadoffloading.PayloadS3Pointer";

/// The message attribute the extended clients mark a pointer message with: the record's size.
const SIZE_ATTRIBUTE: &str = "ExtendedPayloadSize";

/// The message body pointing at `s3://bucket/key`.
fn pointer_body(bucket: &str, key: &str) -> String {
    json!([POINTER_CLASS, { "s3BucketName": bucket, "s3Key": key }]).to_string()
}

/// `send` made into the message pointing at `s3://bucket/key`, where a record of `size` bytes is.
pub fn point_at(send: SendMessageFluentBuilder, bucket: &str, key: &str, size: usize) -> SendMessageFluentBuilder {
    let attribute = MessageAttributeValue::builder().data_type("Number").string_value(size.to_string()).build().expect("type set");
    send.message_body(pointer_body(bucket, key)).message_attributes(SIZE_ATTRIBUTE, attribute)
}

/// The bucket and key a pointer message body names; `None` for any other body.
pub fn parse_pointer(body: &str) -> Option<(String, String)> {
    let value: Value = serde_json::from_str(body).ok()?;
    let [class, location] = value.as_array()?.as_slice() else { return None };
    if class.as_str() != Some(POINTER_CLASS) {
        return None;
    }
    Some((location["s3BucketName"].as_str()?.to_string(), location["s3Key"].as_str()?.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_round_trip_and_nothing_else_is_one() {
        let body = pointer_body("ops", "fanin/dlq/large/2026/11/27/06/e.t.json");
        assert!(body.starts_with("[\"software.amazon.payloadoffloading.PayloadS3Pointer\",{"));
        assert_eq!(parse_pointer(&body), Some(("ops".into(), "fanin/dlq/large/2026/11/27/06/e.t.json".into())));
        assert_eq!(parse_pointer("{\"requestContext\":{}}"), None);
        assert_eq!(parse_pointer("[\"other.Class\",{\"s3BucketName\":\"b\",\"s3Key\":\"k\"}]"), None);
        assert_eq!(parse_pointer("not json"), None);
    }
}
