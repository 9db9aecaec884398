//! Hostile input at the edges: 1 MiB of garbage, JSON nested 100,000 deep and S3 keys with
//! every reserved character reach each source type; each gets an `InvalidEvent` record or is
//! delivered, and the daemon stays up. (Configuration: `config_errors.rs`; dead-letter files
//! torn or not UTF-8: `replay.rs` and `dead_letters.rs`.)

use std::time::Duration;

use aws_sdk_s3::types::{Event as S3Event, NotificationConfiguration, QueueConfiguration};

use crate::support::harness::{eventually, http_get, unique, Daemon, Moto, Setup};
use crate::support::lambda_endpoint::LambdaEndpoint;
use crate::support::PATIENCE;

/// 1 MiB of printable bytes that are no JSON, from a fixed seed.
fn garbage() -> String {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    (0..1024 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (b' ' + (x % 95) as u8) as char
        })
        .map(|c| if c == '[' || c == '{' { '#' } else { c })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_deep_nesting_are_dead_lettered_as_invalid_at_every_source_type_and_the_daemon_stays_up() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let nested_arrays = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let nested_objects = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    let bodies = [garbage(), nested_arrays, nested_objects];
    let setup = Setup::new("", "[targets.work]\nfunction = \"work\"\n");
    let kinds = [
        ("body", "type = \"sqs\"\nshape = \"body\""),
        ("s3", "type = \"s3\""),
        ("sns", "type = \"sns\""),
        ("bus", "type = \"eventbridge\""),
        ("alarms", "type = \"cloudwatch_alarm\""),
    ];
    let mut queues = Vec::new();
    for (name, kind) in kinds {
        let queue = moto.queue(&unique(name)).await;
        // One at a time: a batch may not be over 1 MiB.
        for body in &bodies {
            moto.send_all(&queue, std::slice::from_ref(body)).await;
        }
        setup.source(name, &format!("{kind}\nqueue_url = \"{queue}\"\nwait_time = \"1s\"\ntarget = \"work\"\n"));
        queues.push(queue);
    }
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "every queue to be empty", || async {
        for q in &queues {
            if moto.depth(q).await != (0, 0) {
                return false;
            }
        }
        true
    })
    .await;
    let (status, _) = http_get(&daemon.metrics_addr().await, "/healthz");
    assert_eq!(status, 200, "the daemon is healthy after all that");
    assert!(daemon.running());
    assert!(daemon.terminate(Duration::from_secs(30)).success());

    let invoked: Vec<String> = lambda.invocations().iter().map(|i| i.payload_str().chars().take(300).collect()).collect();
    assert!(invoked.is_empty(), "nothing of this is a payload: {invoked:?}");
    let records = setup.dead_letters();
    assert_eq!(records.len(), kinds.len() * bodies.len(), "one InvalidEvent record per message");
    for r in &records {
        assert_eq!(r["requestContext"]["condition"], "InvalidEvent", "{}", r["fanin"]);
        assert!(r["responseContext"]["errorMessage"].as_str().is_some_and(|m| !m.is_empty() && m.len() < 2000), "{}", r["responseContext"]);
    }
    // The raw input is kept whole, for whoever looks at it.
    let kept: Vec<usize> = records.iter().map(|r| r["requestPayload"].as_str().map_or(0, str::len)).collect();
    assert_eq!(kept.iter().filter(|&&n| n == 1024 * 1024).count(), kinds.len(), "{kept:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_key_with_every_reserved_character_arrives_as_s3_sent_it_and_filters_on_its_decoded_form() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let s3 = moto.s3();
    let bucket = unique("keys");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let queue = moto.queue(&unique("keys-events")).await;
    let config = NotificationConfiguration::builder()
        .queue_configurations(
            QueueConfiguration::builder().queue_arn(moto.queue_arn(&queue)).events(S3Event::from("s3:ObjectCreated:*")).build().unwrap(),
        )
        .build();
    s3.put_bucket_notification_configuration().bucket(&bucket).notification_configuration(config).send().await.unwrap();
    // RFC 3986's reserved and unsafe characters, a space, a plus, a percent, and beyond ASCII.
    let key = "odd/ !\"#$%&'()*+,:;<=>?@[\\]^`{|}~ ünï 日本.txt";
    s3.put_object().bucket(&bucket).key(key).body(b"x".to_vec().into()).send().await.unwrap();

    let setup = Setup::new("", "[targets.exact]\nfunction = \"exact\"\n[targets.all]\nfunction = \"all\"\n");
    let filter = serde_json::json!({ "Records": { "s3": { "object": { "key": [key] } } } });
    setup.source(
        "keys",
        &format!(
            "type = \"s3\"\nqueue_url = \"{queue}\"\nwait_time = \"1s\"\n[[routes]]\ntarget = \"all\"\n[[routes]]\ntarget = \"exact\"\nfilter = {}\n",
            toml_inline(&filter)
        ),
    );
    let mut daemon = Daemon::start(&setup, &moto, &lambda.url());
    eventually(PATIENCE, "the queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());
    assert!(setup.dead_letters().is_empty(), "{:?}", setup.dead_letters());

    // The route matching the decoded key exactly got it: the key decodes back to what was put.
    let exact = lambda.accepted_payloads("exact");
    assert_eq!(exact.len(), 1, "the filter on the decoded key did not match");
    let all = lambda.accepted_payloads("all");
    assert_eq!(all, exact, "both routes got the same payload");
    // The payload carries the key form-encoded, as S3 sends it: nothing reserved left bare.
    let sent = exact[0]["Records"][0]["s3"]["object"]["key"].as_str().unwrap().to_string();
    assert!(sent.contains('+') && !sent.contains(' ') && !sent.contains('#') && !sent.contains('?') && sent.contains('%'), "{sent}");
}

/// A JSON value as a TOML inline value.
fn toml_inline(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(m) => {
            format!(
                "{{ {} }}",
                m.iter()
                    .map(|(k, v)| format!("{} = {}", serde_json::Value::from(k.as_str()), toml_inline(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        serde_json::Value::Array(a) => format!("[{}]", a.iter().map(toml_inline).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}
