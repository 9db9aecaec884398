//! The targets over SQS message bodies: the SQS reader's intake for every source type, and each
//! AWS type's decoder.

use super::*;

/// What the events of the fuzzed sources are labelled with.
fn labels() -> intake::Labels {
    intake::Labels {
        source: "fuzz".into(),
        queue_arn: "arn:aws:sqs:us-east-1:123456789012:fuzz".into(),
        region: "us-east-1".into(),
        account: ACCOUNT.into(),
    }
}

/// The settings of one source of each type and shape, read from source files by
/// [`Config::load`] as the daemon reads them.
fn sqs_settings() -> &'static [SqsSettings] {
    static SETTINGS: OnceLock<Vec<SqsSettings>> = OnceLock::new();
    SETTINGS.get_or_init(|| {
        let q = "queue_url = \"https://sqs.us-east-1.amazonaws.com/123456789012/fuzz\"\ntarget = \"t\"\n";
        let sources = [
            ("a-sqs", "type = \"sqs\"\nshape = \"sqs\"\n".to_string()),
            ("b-body", "type = \"sqs\"\nshape = \"body\"\n".to_string()),
            ("c-s3", "type = \"s3\"\n".to_string()),
            (
                "d-s3-filtered",
                "type = \"s3\"\nshape = \"eventbridge\"\nbucket = \"example-bucket\"\nprefix = \"test/\"\nsuffix = \"key\"\nevents = [\"ObjectCreated:*\", \"s3:ObjectRemoved:Delete\"]\n".to_string(),
            ),
            (
                "e-sns",
                "type = \"sns\"\ntopic_arn = \"arn:aws:sns:us-east-1:123456789012:sns-lambda\"\nsubscription_arn = \"arn:aws:sns:us-east-1:123456789012:sns-lambda:fuzz\"\nsetup = { topic_arn = \"arn:aws:sns:us-west-2:123456789012:MyTopic\" }\n".to_string(),
            ),
            ("f-sns-bare", "type = \"sns\"\n".to_string()),
            ("g-eventbridge", "type = \"eventbridge\"\n".to_string()),
            ("h-alarm", "type = \"cloudwatch_alarm\"\n".to_string()),
            ("i-alarm-filtered", "type = \"cloudwatch_alarm\"\nalarm_name_prefix = \"Server\"\nstates = [\"ALARM\", \"OK\"]\n".to_string()),
        ];
        let dir = Scratch::new("settings");
        dir.write("fanin.toml", b"[targets.t]\nfunction = \"t\"\n");
        for (name, body) in &sources {
            dir.write(&format!("sources/{name}.toml"), format!("{body}{q}").as_bytes());
        }
        let config = Config::load(&dir.path.join("fanin.toml")).expect("the fuzzing sources are valid");
        config
            .sources
            .into_iter()
            .map(|s| match s.kind {
                SourceKind::Sqs(settings) => settings,
                other => panic!("{}: not a queue source: {other:?}", s.name),
            })
            .collect()
    })
}

/// The message SQS would hand fanin: `body`, with the attributes given (else the ones SQS
/// always sets).
fn sqs_message_from(body: &str, attributes: Option<&[u8]>) -> Message {
    let mut m = Message::builder().message_id("0e5a3a9e-4c3b-4b8e-9d3e-1c2b3a4d5e6f").receipt_handle("r-1").body(body).md5_of_body("0");
    let Some(attributes) = attributes else {
        return m
            .attributes(MessageSystemAttributeName::SentTimestamp, "1700000000000")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "1")
            .build();
    };
    for (k, v) in key_values(attributes) {
        if let Some(name) = k.strip_prefix("msg.") {
            let (data_type, value) = v.split_once(':').unwrap_or(("String", &v));
            let a = MessageAttributeValue::builder().data_type(data_type);
            let a = if data_type.starts_with("Binary") { a.binary_value(Blob::new(value.as_bytes())) } else { a.string_value(value) };
            m = m.message_attributes(name, a.build().expect("data type set"));
        } else if k == "id" {
            m = m.message_id(v);
        } else {
            m = m.attributes(MessageSystemAttributeName::from(k.as_str()), v);
        }
    }
    m.build()
}

/// An SQS message through the SQS source's intake, for every source type; then what the
/// dispatcher does with each event (route filters over its filter view, else its payload).
pub fn sqs_message(data: &[u8]) {
    let parts = parts(data);
    let body = text(parts[0]);
    let message = sqs_message_from(&body, parts.get(1).copied());
    std::hint::black_box((intake::sent_at(&message), intake::group(&message)));
    let labels = labels();
    for settings in sqs_settings() {
        match intake::intake(&message, settings, &labels) {
            Intake::Events(events) => {
                for part in events {
                    let view = part.filter_view.or_else(|| serde_json::from_slice(&part.payload).ok());
                    if let Some(view) = view {
                        match_probes(&view);
                    }
                    std::hint::black_box((part.id, part.invalid));
                }
            }
            Intake::Skip(reason) => {
                std::hint::black_box(reason);
            }
            Intake::Confirm { topic_arn, token } => {
                std::hint::black_box((topic_arn, token));
            }
        }
    }
}

/// An S3 notification (direct, through SNS, through EventBridge), converted and passed through.
pub fn s3_notification(data: &[u8]) {
    let body = text(data);
    use_decoded(s3::decode(&body, false, "fanin"));
    use_decoded(s3::decode(&body, true, "fanin"));
}

/// An SNS delivery, enveloped or raw, with and without the source's topic configured.
pub fn sns_message(data: &[u8]) {
    let body = text(data);
    let sent = DateTime::from_timestamp_millis(1_546_433_107_000);
    let contexts = [
        SnsContext {
            topic_arn: Some("arn:aws:sns:us-east-1:123456789012:sns-lambda".into()),
            subscription_arn: None,
            message_id: "sqs-5fea7756-0ea4-451a-a703-a558b933e274".into(),
            sent_timestamp: sent,
            message_attributes: vec![("kind".into(), "String".into(), "order".into()), ("n".into(), "Number".into(), "3".into())],
        },
        SnsContext {
            topic_arn: Some("arn:aws:sns:us-east-1:123456789012:sns-lambda".into()),
            subscription_arn: Some("arn:aws:sns:us-east-1:123456789012:sns-lambda:fuzz".into()),
            message_id: "m-2".into(),
            sent_timestamp: sent,
            message_attributes: vec![],
        },
        SnsContext { message_id: "m-3".into(), sent_timestamp: sent, ..SnsContext::default() },
    ];
    for ctx in &contexts {
        use_decoded(sns::decode(&body, ctx));
    }
}

/// An EventBridge event from a rule's queue target.
pub fn eventbridge_event(data: &[u8]) {
    use_decoded(eventbridge::decode(&text(data)));
}

/// A CloudWatch alarm state change: from EventBridge, an SNS alarm notification (enveloped or
/// raw), or an alarm-action event; and a JSON object as the poller hands it over.
pub fn alarm_message(data: &[u8]) {
    let body = text(data);
    use_decoded(cloudwatch_alarm::decode(&body, ACCOUNT));
    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&body) {
        if let Ok(event) = cloudwatch_alarm::alarm_action(&map, ACCOUNT) {
            use_decoded(Decoded::Events(vec![event]));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// DescribeAlarms
