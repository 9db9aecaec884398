//! SNS's envelope, which every queue-fed decoder may meet: an SNS source's own deliveries, and
//! S3 notifications or alarms that reach their queue through a topic. Reading it is shared
//! decoding, not any one source type's.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{str_at, Decoded};

/// Skip reason for an SNS `SubscriptionConfirmation` message.
pub const SKIP_SNS_SUBSCRIPTION_CONFIRMATION: &str = "sns:SubscriptionConfirmation";
/// Skip reason for an SNS `UnsubscribeConfirmation` message.
pub const SKIP_SNS_UNSUBSCRIBE_CONFIRMATION: &str = "sns:UnsubscribeConfirmation";

/// An SNS notification, from an envelope or rebuilt from a raw delivery.
pub(crate) struct SnsNotification {
    pub(crate) message_id: String,
    pub(crate) topic_arn: String,
    pub(crate) subject: Option<String>,
    pub(crate) message: String,
    pub(crate) timestamp: String,
    pub(crate) signature_version: String,
    pub(crate) signature: String,
    pub(crate) signing_cert_url: String,
    pub(crate) unsubscribe_url: String,
    pub(crate) attributes: BTreeMap<String, (String, String)>,
}

pub(crate) enum Envelope {
    /// Not an SNS envelope.
    Not,
    /// `"Type":"Notification"` with everything Lambda's event needs.
    Notification(Box<SnsNotification>),
    /// A subscription or unsubscription confirmation, never delivered to Lambda: what every
    /// decoder answers for it ([`Decoded::Confirmation`] or a skip).
    Confirmation(Decoded),
    /// Looks like an envelope (`Type`, `TopicArn`, `Message`) but is broken.
    Malformed(String),
}

pub(crate) fn classify_sns(v: &Value) -> Envelope {
    let Some(obj) = v.as_object() else {
        return Envelope::Not;
    };
    let has = |k: &str| obj.contains_key(k);
    match obj.get("Type").and_then(Value::as_str) {
        Some("Notification") if has("TopicArn") && has("Message") => match parse_notification(obj) {
            Ok(n) => Envelope::Notification(Box::new(n)),
            Err(r) => Envelope::Malformed(r),
        },
        Some("SubscriptionConfirmation") => match (obj.get("TopicArn").and_then(Value::as_str), obj.get("Token").and_then(Value::as_str)) {
            (Some(topic_arn), Some(token)) => {
                Envelope::Confirmation(Decoded::Confirmation { topic_arn: topic_arn.to_string(), token: token.to_string() })
            }
            _ => Envelope::Not,
        },
        Some("UnsubscribeConfirmation") if has("TopicArn") && has("Token") => {
            Envelope::Confirmation(Decoded::Skip(SKIP_SNS_UNSUBSCRIBE_CONFIRMATION))
        }
        _ => Envelope::Not,
    }
}

fn parse_notification(obj: &Map<String, Value>) -> Result<SnsNotification, String> {
    let required = |k: &str| match obj.get(k) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("SNS envelope field `{k}` is not a string")),
        None => Err(format!("SNS envelope has no `{k}`")),
    };
    // Absent or null → None; Lambda's spelling accepted as well as SQS's.
    let optional = |keys: &[&str]| -> Result<Option<String>, String> {
        match keys.iter().find_map(|k| obj.get(*k).filter(|v| !v.is_null())) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("SNS envelope field `{}` is not a string", keys[0])),
        }
    };
    let mut attributes = BTreeMap::new();
    match obj.get("MessageAttributes") {
        None | Some(Value::Null) => {}
        Some(Value::Object(attrs)) => {
            for (name, attr) in attrs {
                match (str_at(attr, &["Type"]), str_at(attr, &["Value"])) {
                    (Some(t), Some(v)) => {
                        attributes.insert(name.clone(), (t.to_string(), v.to_string()));
                    }
                    _ => return Err(format!("SNS envelope message attribute `{name}` has no string `Type` and `Value`")),
                }
            }
        }
        Some(_) => return Err("SNS envelope field `MessageAttributes` is not an object".into()),
    }
    Ok(SnsNotification {
        message_id: required("MessageId")?,
        topic_arn: required("TopicArn")?,
        subject: optional(&["Subject"])?,
        message: required("Message")?,
        timestamp: required("Timestamp")?,
        signature_version: optional(&["SignatureVersion"])?.unwrap_or_default(),
        signature: optional(&["Signature"])?.unwrap_or_default(),
        signing_cert_url: optional(&["SigningCertURL", "SigningCertUrl"])?.unwrap_or_default(),
        unsubscribe_url: optional(&["UnsubscribeURL", "UnsubscribeUrl"])?.unwrap_or_default(),
        attributes,
    })
}
