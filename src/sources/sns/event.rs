//! SNS deliveries (enveloped, or raw with the SQS message standing in) into Lambda's SNS event.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use crate::sources::decode::sns_envelope::{classify_sns, Envelope, SnsNotification};
use crate::sources::decode::{percent_decode, single, Decoded, Meta};

/// What the SQS message and the source configuration tell about an SNS delivery
/// (needed for raw message delivery, where the body carries no envelope).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SnsContext {
    /// Topic ARN from the source configuration (required for raw delivery).
    pub topic_arn: Option<String>,
    /// Subscription ARN from the source configuration.
    pub subscription_arn: Option<String>,
    /// SQS message id: the `MessageId` of a raw delivery.
    pub message_id: String,
    /// SQS `SentTimestamp`: the `Timestamp` of a raw delivery (now if absent).
    pub sent_timestamp: Option<DateTime<Utc>>,
    /// SQS message attributes as `(name, type, value)`: the `MessageAttributes`
    /// of a raw delivery.
    pub message_attributes: Vec<(String, String, String)>,
}

/// The `SubscriptionArn` query parameter of an SNS `UnsubscribeURL`.
fn subscription_from_unsubscribe_url(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "SubscriptionArn")
        .map(|(_, v)| percent_decode(v, false))
        .filter(|v| !v.is_empty())
}

fn lambda_sns_event(n: &SnsNotification, subscription_arn: &str) -> Value {
    let attributes: Map<String, Value> =
        n.attributes.iter().map(|(name, (t, v))| (name.clone(), json!({ "Type": t, "Value": v }))).collect();
    json!({
        "Records": [{
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": subscription_arn,
            "Sns": {
                "Type": "Notification",
                "MessageId": n.message_id,
                "TopicArn": n.topic_arn,
                "Subject": n.subject,
                "Message": n.message,
                "Timestamp": n.timestamp,
                "SignatureVersion": n.signature_version,
                "Signature": n.signature,
                "SigningCertUrl": n.signing_cert_url,
                "UnsubscribeUrl": n.unsubscribe_url,
                "MessageAttributes": attributes,
            }
        }]
    })
}

/// Decodes an SNS delivery into Lambda's SNS event.
///
/// A JSON object with `"Type":"Notification"`, `TopicArn` and `Message` is an
/// envelope (missing `MessageId`, `Timestamp`… → Invalid); an SNS
/// (un)subscription confirmation is skipped; anything else, JSON or not, is a raw
/// message delivery and is rebuilt from `ctx` (which then needs `topic_arn`).
pub fn decode(body: &str, ctx: &SnsContext) -> Decoded {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        match classify_sns(&v) {
            Envelope::Notification(n) => {
                let subscription = ctx
                    .subscription_arn
                    .clone()
                    .or_else(|| subscription_from_unsubscribe_url(&n.unsubscribe_url))
                    .unwrap_or_else(|| format!("{}:fanin", n.topic_arn));
                let payload = lambda_sns_event(&n, &subscription);
                return single(n.message_id.clone(), payload, None, Meta::default());
            }
            Envelope::Confirmation(answer) => return answer,
            Envelope::Malformed(reason) => return Decoded::Invalid(reason),
            Envelope::Not => {}
        }
    }
    let Some(topic_arn) = ctx.topic_arn.clone() else {
        return Decoded::Invalid("raw SNS message (no SNS envelope) and no topic_arn configured for the source".into());
    };
    let subscription = ctx.subscription_arn.clone().unwrap_or_else(|| format!("{topic_arn}:fanin"));
    // SNS's endpoint in the topic's region: where the unsubscribe link and the certificate live.
    let sns_endpoint =
        format!("https://sns.{}.amazonaws.com", topic_arn.split(':').nth(3).filter(|r| !r.is_empty()).unwrap_or("us-east-1"));
    let n = SnsNotification {
        message_id: ctx.message_id.clone(),
        subject: None,
        message: body.to_string(),
        timestamp: ctx.sent_timestamp.unwrap_or_else(Utc::now).to_rfc3339_opts(SecondsFormat::Millis, true),
        signature_version: String::new(),
        signature: String::new(),
        signing_cert_url: format!("{sns_endpoint}/SimpleNotificationService.pem"),
        unsubscribe_url: format!("{sns_endpoint}/?Action=Unsubscribe&SubscriptionArn={subscription}"),
        topic_arn,
        attributes: ctx.message_attributes.iter().map(|(name, t, v)| (name.clone(), (t.clone(), v.clone()))).collect(),
    };
    let payload = lambda_sns_event(&n, &subscription);
    single(n.message_id, payload, None, Meta::default())
}

#[cfg(test)]
mod tests;
