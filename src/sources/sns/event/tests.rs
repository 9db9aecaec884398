//! Enveloped and raw SNS deliveries against Lambda's own SNS event, and what is skipped or refused.

use chrono::TimeZone;
use serde_json::{json, Value};

use super::*;
use crate::sources::decode::testing::*;

// ----- SNS ---------------------------------------------------------------

/// Lambda Developer Guide, "Using AWS Lambda with Amazon SNS", example event.
fn lambda_sns_sample() -> Value {
    json!({
      "Records": [{
        "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:sns-lambda:21be56ed-a058-49f5-8c98-aedd2564c486",
        "EventSource": "aws:sns",
        "Sns": {
          "SignatureVersion": "1",
          "Timestamp": "2019-01-02T12:45:07.000Z",
          "Signature": "tcc6faL2yUC6dgZdmrwh1Y4cGa/ebXEkAi6RibDsvpi+tE/1+82j...65r==",
          "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-ac565b8b1a6c5d002d285f9598aa1d9b.pem",
          "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
          "Message": "Hello from SNS!",
          "MessageAttributes": {
            "Test": { "Type": "String", "Value": "TestString" },
            "TestBinary": { "Type": "Binary", "Value": "TestBinary" }
          },
          "Type": "Notification",
          "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:123456789012:test-lambda:21be56ed-a058-49f5-8c98-aedd2564c486",
          "TopicArn": "arn:aws:sns:us-east-1:123456789012:sns-lambda",
          "Subject": "TestInvoke"
        }
      }]
    })
}

fn ctx() -> SnsContext {
    SnsContext {
        topic_arn: Some("arn:aws:sns:us-east-1:123456789012:sns-lambda".into()),
        subscription_arn: None,
        message_id: "sqs-5fea7756-0ea4-451a-a703-a558b933e274".into(),
        sent_timestamp: Some(Utc.timestamp_millis_opt(1_546_433_107_000).unwrap()),
        message_attributes: vec![],
    }
}

#[test]
fn sns_envelope_gives_the_lambda_sample_field_by_field() {
    // The same notification as the Lambda sample, as SNS writes it to SQS.
    let s = &lambda_sns_sample()["Records"][0]["Sns"];
    let body = json!({
        "Type": "Notification", "MessageId": s["MessageId"], "TopicArn": s["TopicArn"],
        "Subject": s["Subject"], "Message": s["Message"], "Timestamp": s["Timestamp"],
        "SignatureVersion": "1", "Signature": s["Signature"],
        "SigningCertURL": s["SigningCertUrl"], "UnsubscribeURL": s["UnsubscribeUrl"],
        "MessageAttributes": s["MessageAttributes"]
    });
    let c = SnsContext {
        subscription_arn: Some("arn:aws:sns:us-east-1:123456789012:sns-lambda:21be56ed-a058-49f5-8c98-aedd2564c486".into()),
        ..ctx()
    };
    let e = one(decode(&body.to_string(), &c));
    assert_eq!(e.payload, lambda_sns_sample());
    assert_eq!(e.id, "95df01b4-ee98-5cb9-9903-4c221d41eb5e");
    assert_eq!(e.filter_view, None);
    let typed: aws_lambda_events::sns::SnsEvent = serde_json::from_value(e.payload).unwrap();
    assert_eq!(typed.records[0].sns.message_attributes["Test"].value, "TestString");
}

#[test]
fn sns_sqs_sample_envelope_without_subject_or_attributes() {
    // SNS Developer Guide, fanout to SQS: the message as the queue receives it.
    let mut body: Value = serde_json::from_str(&envelope("Hello world!")).unwrap();
    body.as_object_mut().unwrap().remove("Subject");
    let e = one(decode(&body.to_string(), &ctx()));
    let rec = &e.payload["Records"][0];
    assert_eq!(rec["EventSource"], "aws:sns");
    assert_eq!(rec["EventVersion"], "1.0");
    assert_eq!(
        rec["EventSubscriptionArn"], "arn:aws:sns:us-west-2:123456789012:MyTopic:c7fe3a54-ab0e-4ec2-88e0-db410a0f2bee",
        "taken from UnsubscribeURL"
    );
    let s = &rec["Sns"];
    assert_eq!(s["Subject"], Value::Null);
    assert_eq!(s["MessageAttributes"], json!({}));
    assert_eq!(s["Message"], "Hello world!");
    assert_eq!(s["SigningCertUrl"], body["SigningCertURL"]);
    assert_eq!(s["UnsubscribeUrl"], body["UnsubscribeURL"]);
    assert!(s.get("SigningCertURL").is_none() && s.get("UnsubscribeURL").is_none());
    assert_eq!(s.as_object().unwrap().len(), 11);
}

#[test]
fn sns_subscription_arn_fallbacks() {
    let mut body: Value = serde_json::from_str(&envelope("m")).unwrap();
    body["UnsubscribeURL"] = "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe".into();
    let e = one(decode(&body.to_string(), &ctx()));
    assert_eq!(e.payload["Records"][0]["EventSubscriptionArn"], "arn:aws:sns:us-west-2:123456789012:MyTopic:fanin");
    let c = SnsContext { subscription_arn: Some("arn:configured".into()), ..ctx() };
    let e = one(decode(&envelope("m"), &c));
    assert_eq!(e.payload["Records"][0]["EventSubscriptionArn"], "arn:configured");
}

#[test]
fn sns_raw_delivery_is_rebuilt_from_context() {
    let c = SnsContext {
        message_attributes: vec![("Test".into(), "String".into(), "TestString".into()), ("Count".into(), "Number".into(), "3".into())],
        ..ctx()
    };
    let e = one(decode("Hello from SNS!", &c));
    let expected = json!({ "Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:sns-lambda:fanin",
        "Sns": {
            "Type": "Notification",
            "MessageId": "sqs-5fea7756-0ea4-451a-a703-a558b933e274",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:sns-lambda",
            "Subject": null,
            "Message": "Hello from SNS!",
            "Timestamp": "2019-01-02T12:45:07.000Z",
            "SignatureVersion": "",
            "Signature": "",
            "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService.pem",
            "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:123456789012:sns-lambda:fanin",
            "MessageAttributes": {
                "Test": { "Type": "String", "Value": "TestString" },
                "Count": { "Type": "Number", "Value": "3" }
            }
        }
    }]});
    assert_eq!(e.payload, expected);
    assert_eq!(e.id, "sqs-5fea7756-0ea4-451a-a703-a558b933e274");
    let typed: aws_lambda_events::sns::SnsEvent = serde_json::from_value(e.payload).unwrap();
    assert_eq!(typed.records[0].sns.message, "Hello from SNS!");
}

#[test]
fn sns_raw_json_that_is_not_an_envelope_is_the_message() {
    for body in [
        r#"{"order":42,"Type":"Notification"}"#,
        r#"{"Type":"Notification","Message":"no topic"}"#,
        "[1,2,3]",
        r#"{"Type":"Notification","TopicArn":"arn:x","Mess"#,
        "",
    ] {
        let e = one(decode(body, &ctx()));
        assert_eq!(e.payload["Records"][0]["Sns"]["Message"], body);
        assert_eq!(e.payload["Records"][0]["Sns"]["TopicArn"], "arn:aws:sns:us-east-1:123456789012:sns-lambda");
    }
    let r = invalid(decode("plain text", &SnsContext { topic_arn: None, ..ctx() }));
    assert!(r.contains("topic_arn"), "{r}");
}

#[test]
fn sns_envelope_missing_required_fields_is_invalid() {
    for (field, reason) in [("MessageId", "SNS envelope has no `MessageId`"), ("Timestamp", "SNS envelope has no `Timestamp`")] {
        let mut body: Value = serde_json::from_str(&envelope("m")).unwrap();
        body.as_object_mut().unwrap().remove(field);
        assert_eq!(invalid(decode(&body.to_string(), &ctx())), reason);
    }
    let mut body: Value = serde_json::from_str(&envelope("m")).unwrap();
    body["Message"] = json!({"not": "a string"});
    assert!(invalid(decode(&body.to_string(), &ctx())).contains("`Message` is not a string"));
    body["Message"] = "m".into();
    body["MessageAttributes"] = json!({"a": {"Type": "String"}});
    assert!(invalid(decode(&body.to_string(), &ctx())).contains("attribute `a`"));
}

#[test]
fn sns_subscription_confirmation_is_the_same_answer_from_every_decoder() {
    let body = json!({
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e2425dacbbffff",
        "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
        "Message": "You have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:MyTopic.",
        "SubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription",
        "Timestamp": "2012-04-26T20:45:04.751Z",
        "SignatureVersion": "1", "Signature": "EXAMPLE", "SigningCertURL": "EXAMPLE"
    })
    .to_string();
    // Every decoder gives the same answer: the reader decides whether it is the source's to confirm.
    let confirmation = Decoded::Confirmation {
        topic_arn: "arn:aws:sns:us-west-2:123456789012:MyTopic".into(),
        token: "2336412f37fb687f5d51e6e2425dacbbffff".into(),
    };
    assert_eq!(decode(&body, &ctx()), confirmation);
    assert_eq!(crate::sources::s3::decode(&body, false, "fanin-uploads"), confirmation);
    assert_eq!(crate::sources::cloudwatch_alarm::decode(&body, "123456789012"), confirmation);
}
