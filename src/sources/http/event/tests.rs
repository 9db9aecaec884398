use super::*;

fn request<'a>(headers: &'a HeaderMap, body: &'a [u8], query: Option<&'a str>) -> Request<'a> {
    Request {
        method: "POST",
        path: "/hooks/github",
        query,
        headers,
        body,
        source_ip: "203.0.113.7".parse().unwrap(),
        protocol: "HTTP/1.1",
        received: UNIX_EPOCH + std::time::Duration::from_millis(1_764_633_600_123),
    }
}

const LABELS: Labels = Labels { source: "github", account: "123456789012" };

#[test]
fn the_event_is_payload_format_two_with_every_field_a_function_reads() {
    let mut headers = HeaderMap::new();
    headers.insert("host", "hooks.example.com".parse().unwrap());
    headers.insert("user-agent", "GitHub-Hookshot/abc".parse().unwrap());
    headers.append("x-many", "one".parse().unwrap());
    headers.append("x-many", "two".parse().unwrap());
    headers.append("cookie", "a=1; b=2".parse().unwrap());
    let body = br#"{"zen":"Keep it logically awesome."}"#;
    let event = function_url_event(&request(&headers, body, Some("x=1&x=2&y=a%20b")), &LABELS, "req-1");
    assert_eq!(
        event,
        json!({
            "version": "2.0", "routeKey": "$default", "rawPath": "/hooks/github", "rawQueryString": "x=1&x=2&y=a%20b",
            "cookies": ["a=1", "b=2"],
            "headers": {"host": "hooks.example.com", "user-agent": "GitHub-Hookshot/abc", "x-many": "one,two"},
            "queryStringParameters": {"x": "1,2", "y": "a b"},
            "requestContext": {
                "accountId": "123456789012", "apiId": "github", "domainName": "hooks.example.com", "domainPrefix": "hooks",
                "http": {"method": "POST", "path": "/hooks/github", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "GitHub-Hookshot/abc"},
                "requestId": "req-1", "routeKey": "$default", "stage": "$default",
                "time": "02/Dec/2025:00:00:00 +0000", "timeEpoch": 1_764_633_600_123_i64
            },
            "body": "{\"zen\":\"Keep it logically awesome.\"}",
            "isBase64Encoded": false
        })
    );
}

#[test]
fn a_body_that_is_not_utf8_travels_as_base64_and_invalid_header_bytes_do_not_break_the_event() {
    let mut headers = HeaderMap::new();
    headers.insert("x-odd", hyper::header::HeaderValue::from_bytes(b"caf\xe9").unwrap());
    let event = function_url_event(&request(&headers, &[0xff, 0x00, 0xfe], None), &LABELS, "r");
    assert_eq!(event["isBase64Encoded"], json!(true));
    assert_eq!(event["body"], json!("/wD+"));
    assert_eq!(event["headers"]["x-odd"], json!("caf\u{fffd}"));
    assert!(event.get("cookies").is_none() && event.get("queryStringParameters").is_none());
    assert_eq!(event["requestContext"]["http"]["userAgent"], json!(""));
}

#[test]
fn shape_body_is_the_json_body_and_refuses_what_is_not_json() {
    let headers = HeaderMap::new();
    assert_eq!(build(&request(&headers, br#"{"a": 1}"#, None), HttpShape::Body, &LABELS, "r").unwrap(), r#"{"a": 1}"#);
    assert!(matches!(build(&request(&headers, b"a=1", None), HttpShape::Body, &LABELS, "r"), Err(BuildError::NotJson(_))));
    // Invalid UTF-8 inside a JSON string (found by fuzzing: serde_json skips over it).
    assert!(matches!(build(&request(&headers, b"{\"a\":\"\xff\"}", None), HttpShape::Body, &LABELS, "r"), Err(BuildError::NotJson(_))));
}

#[test]
fn the_delivery_id_is_the_senders_own() {
    let mut h = HeaderMap::new();
    h.insert("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958".parse().unwrap());
    h.insert("webhook-id", "msg_1".parse().unwrap());
    assert_eq!(delivery_id(Scheme::Github, &h, b"{}").as_deref(), Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
    assert_eq!(delivery_id(Scheme::Standard, &h, b"{}").as_deref(), Some("msg_1"));
    assert_eq!(delivery_id(Scheme::Stripe, &h, br#"{"id":"evt_1","object":"event"}"#).as_deref(), Some("evt_1"));
    assert_eq!(delivery_id(Scheme::Stripe, &h, b"not json"), None);
    // Slack: a retry (X-Slack-Retry-Num) carries the same body, so the same id.
    assert_eq!(delivery_id(Scheme::Slack, &h, br#"{"event_id":"Ev1"}"#).as_deref(), Some("Ev1"));
    assert_eq!(delivery_id(Scheme::Slack, &h, b"payload=x"), delivery_id(Scheme::Slack, &HeaderMap::new(), b"payload=x"));
}

#[test]
fn deduplication_ids_are_what_sqs_takes() {
    assert_eq!(deduplication_id("evt_1"), "evt_1");
    assert_eq!(deduplication_id(&"x".repeat(129)).len(), 64);
    assert_eq!(deduplication_id("with space").len(), 64);
    assert_ne!(deduplication_id("with space"), deduplication_id("with  space"));
    let uuid = new_uuid();
    assert_eq!((uuid.len(), &uuid[14..15]), (36, "4"));
}
