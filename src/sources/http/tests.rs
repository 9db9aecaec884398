use super::*;

fn load(text: &str) -> Result<SourceKind, ConfigError> {
    settings(Path::new("/etc/fanin/sources/hook.toml"), toml::from_str(text).unwrap())
}

const MINIMAL: &str = "buffer_queue = \"https://sqs.us-east-1.amazonaws.com/123456789012/hooks\"\npath = \"/hooks/github\"\n";

#[test]
fn an_http_source_reads_its_own_keys_and_its_buffer_queue() {
    let kind = load(&format!("{MINIMAL}signature = {{ scheme = \"github\", secrets = [{{ env = \"GH\" }}] }}\npollers = 4")).unwrap();
    let SourceKind::Sqs(q) = kind else { panic!("a queue-fed source") };
    assert_eq!((q.queue_url.as_str(), q.pollers), ("https://sqs.us-east-1.amazonaws.com/123456789012/hooks", 4));
    let Some(Origin::Http(o)) = q.origin else { panic!("an http origin") };
    assert_eq!((o.methods.clone(), o.status, o.max_body, o.shape), (vec!["POST".to_string()], 202, 1024 * 1024, HttpShape::Http));
    assert_eq!(o.dir, Path::new("/etc/fanin/sources"));
}

#[test]
fn an_http_source_refuses_what_cannot_work_naming_the_key() {
    let key = |text: &str| load(text).unwrap_err().key;
    let none = "signature = { scheme = \"none\" }\n";
    assert_eq!(key(&format!("path = \"/a\"\n{none}")), "buffer_queue");
    assert_eq!(key(MINIMAL), "signature");
    assert_eq!(key(&format!("{MINIMAL}{none}methods = [\"TRACE\"]")), "methods");
    assert_eq!(key(&format!("{MINIMAL}{none}status = 200\nmax_body = 0")), "max_body");
    assert_eq!(key(&format!("{MINIMAL}{none}status = 404")), "status");
    assert_eq!(key(&format!("{MINIMAL}{none}shape = \"sqs\"")), "shape");
    assert_eq!(key(&format!("{MINIMAL}{none}queue_url = \"https://x/1/q\"")), "queue_url");
    assert_eq!(key(&format!("{MINIMAL}{none}colour = 1")), "colour");
    assert_eq!(key(&format!("buffer_queue = \"arn:aws:sqs:us-east-1:1:q\"\npath = \"/a\"\n{none}")), "buffer_queue");
    assert_eq!(key(&format!("buffer_queue = \"https://x/1/q\"\npath = \"a\"\n{none}")), "path");
}

#[test]
fn a_stored_event_reads_back_with_its_id() {
    let stored = accept::envelope("evt_1", r#"{"version":"2.0"}"#);
    let Decoded::Events(events) = decode(&stored) else { panic!("an event") };
    assert_eq!((events[0].id.as_str(), &events[0].payload), ("evt_1", &serde_json::json!({"version": "2.0"})));
    assert!(matches!(decode("{}"), Decoded::Invalid(_)));
}
