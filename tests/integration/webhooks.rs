//! Webhooks in, Lambda out: the `http` source. Signed requests of every scheme answered 202
//! only once stored in the buffer queue and delivered in the function URL shape; bad
//! signatures 401 with nothing delivered; oversized, slow and hostile requests refused without
//! a 2xx or a crash; the source's rate answered 429; SQS refusing answered 503; a daemon killed
//! after its 2xx loses nothing; a FIFO buffer queue drops a sender's retry.
//!
//! The signatures here are made with the `hmac` crate directly, not with fanin's code.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::harness::{eventually, unique, Daemon, Moto, Setup};
use crate::support::lambda_endpoint::{Behavior, LambdaEndpoint, Reply};
use crate::support::PATIENCE;

pub(crate) const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const STRIPE_SECRET: &str = "whsec_stripe_test";
const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn mac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// The headers GitHub sends with `body`.
pub(crate) fn github(body: &str, delivery: &str) -> Vec<(String, String)> {
    vec![
        ("X-Hub-Signature-256".into(), format!("sha256={}", hex::encode(mac(GITHUB_SECRET.as_bytes(), &[body.as_bytes()])))),
        ("X-GitHub-Delivery".into(), delivery.into()),
        ("X-GitHub-Event".into(), "push".into()),
        ("User-Agent".into(), "GitHub-Hookshot/test".into()),
        ("Content-Type".into(), "application/json".into()),
    ]
}

fn stripe(body: &str, t: u64) -> Vec<(String, String)> {
    let sig = hex::encode(mac(STRIPE_SECRET.as_bytes(), &[t.to_string().as_bytes(), b".", body.as_bytes()]));
    vec![("Stripe-Signature".into(), format!("t={t},v1={},v1={sig}", "0".repeat(64)))]
}

fn slack(body: &str, t: u64) -> Vec<(String, String)> {
    let sig = hex::encode(mac(SLACK_SECRET.as_bytes(), &[b"v0:", t.to_string().as_bytes(), b":", body.as_bytes()]));
    vec![("X-Slack-Request-Timestamp".into(), t.to_string()), ("X-Slack-Signature".into(), format!("v0={sig}"))]
}

fn standard(body: &str, id: &str, t: u64) -> Vec<(String, String)> {
    let key = base64::engine::general_purpose::STANDARD.decode(STANDARD_SECRET.trim_start_matches("whsec_")).unwrap();
    let sig = base64::engine::general_purpose::STANDARD
        .encode(mac(&key, &[id.as_bytes(), b".", t.to_string().as_bytes(), b".", body.as_bytes()]));
    vec![("webhook-id".into(), id.into()), ("webhook-timestamp".into(), t.to_string()), ("webhook-signature".into(), format!("v1,{sig}"))]
}

/// An answer: status (0: the connection closed without one), headers (lower-cased), body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
    }
}

fn request(method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: hooks.example.com\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        raw.push_str(&format!("{k}: {v}\r\n"));
    }
    raw.push_str("\r\n");
    let mut raw = raw.into_bytes();
    raw.extend_from_slice(body);
    raw
}

/// Sends `raw` on a new connection and reads the answer until the server closes it.
async fn exchange(addr: &str, raw: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may answer (413) and close before it read everything: not a failure.
    let _ = stream.write_all(raw).await;
    read_answer(&mut stream).await
}

async fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Answer { status, head: head.to_string(), body: body.to_string() }
}

pub(crate) async fn post(addr: &str, path: &str, headers: &[(String, String)], body: &str) -> Answer {
    exchange(addr, &request("POST", path, headers, body.as_bytes())).await
}

/// The address the webhook listener took (configured with port 0), from the log.
pub(crate) async fn webhook_addr(daemon: &Daemon) -> String {
    let mut addr = String::new();
    eventually(Duration::from_secs(60), "the webhook listener to listen", || {
        if let Some(a) = daemon
            .log()
            .lines()
            .find(|l| l.contains("webhooks listening"))
            .and_then(|l| l.split("listen=").nth(1))
            .map(|a| a.split_whitespace().next().unwrap_or_default().to_string())
        {
            addr = a;
        }
        let done = !addr.is_empty();
        async move { done }
    })
    .await;
    // The sources register their paths once they run.
    eventually(Duration::from_secs(60), "the sources to run", || async { daemon.log().contains("fanin running") }).await;
    addr
}

fn secrets_env() -> Vec<(&'static str, &'static str)> {
    vec![("GH_SECRET", GITHUB_SECRET), ("STRIPE_SECRET", STRIPE_SECRET), ("SLACK_SECRET", SLACK_SECRET), ("STD_SECRET", STANDARD_SECRET)]
}

fn start(setup: &Setup, moto: &Moto, lambda: &LambdaEndpoint) -> Daemon {
    Daemon::spawn(&["run", "--config", setup.config().to_str().unwrap()], moto, &lambda.url(), &secrets_env())
}

const DAEMON: &str = "[http]\nlisten = \"127.0.0.1:0\"\n\n[targets.hooks]\nfunction = \"hooks\"\n";

fn http_source(queue: &str, path: &str, signature: &str, extra: &str) -> String {
    format!("type = \"http\"\nbuffer_queue = \"{queue}\"\npath = \"{path}\"\nsignature = {signature}\ntarget = \"hooks\"\npollers = 1\n{extra}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_webhooks_of_every_scheme_are_delivered_in_the_function_url_shape_and_bad_ones_refused() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let setup = Setup::new("", DAEMON);
    let queue = moto.queue(&unique("hooks")).await;
    for (name, scheme, env) in [
        ("github", "github", "GH_SECRET"),
        ("stripe", "stripe", "STRIPE_SECRET"),
        ("slack", "slack", "SLACK_SECRET"),
        ("std", "standard", "STD_SECRET"),
    ] {
        let signature = format!("{{ scheme = \"{scheme}\", secrets = [{{ env = \"{env}\" }}] }}");
        setup.source(name, &http_source(&queue, &format!("/hooks/{name}"), &signature, ""));
    }
    let mut daemon = start(&setup, &moto, &lambda);
    let addr = webhook_addr(&daemon).await;

    // Refused: a bad signature, one over other bytes, none at all, a replayed timestamp.
    let body = r#"{"ref":"refs/heads/main"}"#;
    let mut bad = github(body, "d-bad");
    bad[0].1 = format!("sha256={}", "0".repeat(64));
    assert_eq!(post(&addr, "/hooks/github", &bad, body).await.status, 401);
    assert_eq!(post(&addr, "/hooks/github", &github(body, "d-other"), r#"{"ref":"refs/heads/evil"}"#).await.status, 401);
    assert_eq!(post(&addr, "/hooks/github", &[], body).await.status, 401);
    let refused = post(&addr, "/hooks/stripe", &stripe(r#"{"id":"evt_old"}"#, now() - 600), r#"{"id":"evt_old"}"#).await;
    assert_eq!(refused.status, 401);
    assert!(!refused.body.contains("evt_old"), "the body is never echoed: {}", refused.body);
    assert_eq!(post(&addr, "/hooks/slack", &slack("a=1", now() - 600), "a=1").await.status, 401);
    assert_eq!(post(&addr, "/hooks/nowhere", &github(body, "d"), body).await.status, 404);
    let get = exchange(&addr, &request("GET", "/hooks/github", &github("", "d-get"), b"")).await;
    assert_eq!((get.status, get.header("allow")), (405, Some("POST")));

    // Accepted: one of each scheme.
    let stripe_body = r#"{"id":"evt_1","object":"event","type":"charge.succeeded"}"#;
    let slack_body = r#"{"type":"event_callback","event_id":"Ev1"}"#;
    let std_body = r#"{"type":"user.created"}"#;
    let answers = [
        post(&addr, "/hooks/github?x=1&x=2", &github(body, "72d3162e-cc78-11e3-81ab-4c9367dc0958"), body).await,
        post(&addr, "/hooks/stripe", &stripe(stripe_body, now()), stripe_body).await,
        post(&addr, "/hooks/slack", &slack(slack_body, now()), slack_body).await,
        post(&addr, "/hooks/std", &standard(std_body, "msg_1", now()), std_body).await,
    ];
    for (answer, id) in answers.iter().zip(["72d3162e-cc78-11e3-81ab-4c9367dc0958", "evt_1", "Ev1", "msg_1"]) {
        assert_eq!(answer.status, 202, "{answer:?}");
        assert_eq!(serde_json::from_str::<Value>(&answer.body).unwrap()["id"], json!(id), "the event id is the sender's delivery id");
    }

    assert!(lambda.wait_for_accepted(4, PATIENCE), "four deliveries");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let payloads = lambda.accepted_payloads("hooks");
    assert_eq!(payloads.len(), 4, "only the signed requests are delivered: {payloads:?}");
    let gh = payloads.iter().find(|p| p["rawPath"] == "/hooks/github").expect("the github event");
    assert_eq!(gh["version"], "2.0");
    assert_eq!(gh["routeKey"], "$default");
    assert_eq!(gh["rawQueryString"], "x=1&x=2");
    assert_eq!(gh["queryStringParameters"], json!({"x": "1,2"}));
    assert_eq!(gh["body"], body);
    assert_eq!(gh["isBase64Encoded"], false);
    assert_eq!(gh["headers"]["x-github-event"], "push");
    assert_eq!(gh["requestContext"]["http"]["method"], "POST");
    assert_eq!(gh["requestContext"]["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(gh["requestContext"]["http"]["userAgent"], "GitHub-Hookshot/test");
    assert_eq!(gh["requestContext"]["domainName"], "hooks.example.com");
    assert!(gh["requestContext"]["timeEpoch"].as_i64().is_some_and(|t| t > 1_700_000_000_000));
    eventually(PATIENCE, "the buffer queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;

    // Conformance: Powertools' own models take every delivered event.
    if let Ok(python) = std::env::var("FANIN_TEST_POWERTOOLS_PYTHON") {
        let cases: serde_json::Map<String, Value> =
            payloads.iter().enumerate().map(|(i, p)| (format!("http_{i}"), json!({"kind": "http", "event": p}))).collect();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), serde_json::to_vec(&cases).unwrap()).unwrap();
        let checker = format!("{}/tests/conformance/powertools_check.py", env!("CARGO_MANIFEST_DIR"));
        let out = std::process::Command::new(python).arg(checker).arg(file.path()).output().unwrap();
        assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }

    let metrics = crate::support::harness::http_get(&daemon.metrics_addr().await, "/metrics").1;
    assert!(metrics.contains("fanin_http_signature_failures_total{source=\"github\"} 3"), "{metrics}");
    assert!(metrics.contains("fanin_http_requests_total{source=\"github\",code=\"202\"} 1"), "{metrics}");
    assert!(daemon.terminate(Duration::from_secs(30)).success());
    assert!(!daemon.log().contains("refs/heads/evil"), "a refused body is never logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_slow_and_hostile_requests_get_no_2xx_and_the_daemon_goes_on() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let daemon_file = "[http]\nlisten = \"127.0.0.1:0\"\nheader_timeout = \"2s\"\n\n[targets.hooks]\nfunction = \"hooks\"\n";
    let setup = Setup::new("", daemon_file);
    let queue = moto.queue(&unique("hostile")).await;
    let signature = "{ scheme = \"github\", secrets = [{ env = \"GH_SECRET\" }] }";
    setup.source("github", &http_source(&queue, "/hooks/github", signature, "max_body = 65536\nbody_timeout = \"2s\""));
    let mut daemon = start(&setup, &moto, &lambda);
    let addr = webhook_addr(&daemon).await;

    // 10 MB: refused by its Content-Length, and sent chunked without one.
    let big = "x".repeat(10 * 1024 * 1024);
    assert_eq!(post(&addr, "/hooks/github", &github(&big, "d-big"), &big).await.status, 413);
    let mut chunked = b"POST /hooks/github HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..160 {
        chunked.extend_from_slice(format!("{:x}\r\n{}\r\n", 65536, "y".repeat(65536)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(exchange(&addr, &chunked).await.status, 413);

    // 100,000 headers: 431, or the connection closed; never a 2xx.
    let many: Vec<(String, String)> = (0..100_000).map(|i| (format!("x-h{i}"), "v".to_string())).collect();
    let answer = post(&addr, "/hooks/github", &many, "{}").await;
    assert!(answer.status == 431 || answer.status == 0, "{}", answer.status);

    // Invalid UTF-8 in the path and in a header.
    let mut odd = b"POST /hooks/\xff\xfe HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}".to_vec();
    let status = exchange(&addr, &odd).await.status;
    assert!(!(200..300).contains(&status), "{status}");
    odd = b"POST /hooks/github HTTP/1.1\r\nHost: h\r\nX-Odd: caf\xe9\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}".to_vec();
    let status = exchange(&addr, &odd).await.status;
    assert!(status == 401 || status == 400, "{status}");

    // A slow sender, one byte a second: headers cut off after header_timeout; a body after body_timeout.
    let started = Instant::now();
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    for b in b"POST /hooks/github HTTP/1.1\r\nHost: h\r\n" {
        if slow.write_all(&[*b]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        if started.elapsed() > Duration::from_secs(6) {
            break;
        }
    }
    let answer = read_answer(&mut slow).await;
    assert!(!(200..300).contains(&answer.status), "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(20), "the slow sender was cut off: {:?}", started.elapsed());
    let started = Instant::now();
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    let headers = request("POST", "/hooks/github", &github("{}", "d-slow"), b"");
    let head = String::from_utf8(headers).unwrap().replace("Content-Length: 0", "Content-Length: 100");
    slow.write_all(head.as_bytes()).await.unwrap();
    for _ in 0..4 {
        if slow.write_all(b"x").await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let answer = read_answer(&mut slow).await;
    assert_eq!(answer.status, 408, "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(20));

    // 1,000 connections at once, each with half a request.
    let mut open = Vec::new();
    for _ in 0..1000 {
        if let Ok(mut s) = TcpStream::connect(&addr).await {
            let _ = s.write_all(b"POST /hooks/github HTTP/1.1\r\nHost: h\r\n").await;
            open.push(s);
        }
    }
    let body = r#"{"zen":"still here"}"#;
    let answer = post(&addr, "/hooks/github", &github(body, "d-after"), body).await;
    assert_eq!(answer.status, 202, "{answer:?}");
    drop(open);

    assert!(lambda.wait_for_accepted(1, PATIENCE));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(lambda.accepted_payloads("hooks").len(), 1, "only the one signed request is delivered");
    assert!(daemon.running(), "{}", daemon.log());
    assert!(daemon.terminate(Duration::from_secs(30)).success());
    assert!(!daemon.log().contains("panicked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_its_rate_429_and_when_sqs_refuses_503_each_with_retry_after() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let setup = Setup::new("", DAEMON);
    let queue = moto.queue(&unique("rated")).await;
    let none = "{ scheme = \"none\" }";
    setup.source("rated", &http_source(&queue, "/rated", none, "rate = \"2/m\""));
    let missing = format!("{}/123456789012/{}", moto.url, unique("no-such-queue"));
    setup.source("missing", &http_source(&missing, "/missing", none, ""));
    let mut daemon = start(&setup, &moto, &lambda);
    let addr = webhook_addr(&daemon).await;

    assert_eq!(post(&addr, "/rated", &[], "{}").await.status, 202);
    assert_eq!(post(&addr, "/rated", &[], "{}").await.status, 202);
    let limited = post(&addr, "/rated", &[], "{}").await;
    assert_eq!(limited.status, 429);
    assert!(limited.header("retry-after").and_then(|s| s.parse::<u64>().ok()).is_some_and(|s| (1..=60).contains(&s)), "{limited:?}");

    let refused = post(&addr, "/missing", &[], "{}").await;
    assert_eq!(refused.status, 503, "{refused:?}");
    assert!(refused.header("retry-after").is_some());

    assert!(lambda.wait_for_accepted(2, PATIENCE));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(lambda.accepted_count(), 2);
    assert!(daemon.terminate(Duration::from_secs(30)).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_after_its_2xx_loses_nothing() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    // Lambda fails everything until the restart: nothing is delivered before the kill.
    lambda.set_default_behavior(Behavior::always(Reply::service_error()));
    let setup = Setup::new("", DAEMON);
    let queue = moto.queue(&unique("durable")).await;
    let signature = "{ scheme = \"github\", secrets = [{ env = \"GH_SECRET\" }] }";
    setup.source("github", &http_source(&queue, "/hooks/github", signature, "visibility_timeout = \"3s\""));
    let mut daemon = start(&setup, &moto, &lambda);
    let addr = webhook_addr(&daemon).await;
    let mut sent = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (addr, body, delivery) = (addr.clone(), format!("{{\"n\":{i}}}"), format!("delivery-{i}"));
        sent.push(delivery.clone());
        // As a sender does: a 429 or 503 (SQS slow to take the batch on a loaded machine) is
        // sent again; what counts is that every 2xx is kept.
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                match post(&addr, "/hooks/github", &github(&body, &delivery), &body).await.status {
                    429 | 503 => tokio::time::sleep(Duration::from_millis(250)).await,
                    status => return status,
                }
            }
            0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 202);
    }
    daemon.kill9();

    lambda.set_default_behavior(Behavior::accept());
    let mut daemon = start(&setup, &moto, &lambda);
    eventually(PATIENCE, "every accepted webhook delivered", || async {
        let mut ns: Vec<i64> = lambda
            .accepted_payloads("hooks")
            .iter()
            .filter_map(|p| serde_json::from_str::<Value>(p["body"].as_str()?).ok()?["n"].as_i64())
            .collect();
        ns.sort();
        ns.dedup();
        ns.len() == 50
    })
    .await;
    eventually(PATIENCE, "the buffer queue to be empty", || async { moto.depth(&queue).await == (0, 0) }).await;
    assert!(daemon.terminate(Duration::from_secs(30)).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_buffer_queue_delivers_a_senders_retry_once() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let setup = Setup::new("", DAEMON);
    let name = format!("{}.fifo", unique("dedup"));
    let queue = moto
        .sqs()
        .create_queue()
        .queue_name(&name)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let signature = "{ scheme = \"github\", secrets = [{ env = \"GH_SECRET\" }] }";
    setup.source("github", &http_source(&queue, "/hooks/github", signature, ""));
    let mut daemon = start(&setup, &moto, &lambda);
    let addr = webhook_addr(&daemon).await;
    let body = r#"{"zen":"once"}"#;
    // GitHub's "Redeliver": the same delivery id, sent again.
    assert_eq!(post(&addr, "/hooks/github", &github(body, "retried-delivery"), body).await.status, 202);
    assert_eq!(post(&addr, "/hooks/github", &github(body, "retried-delivery"), body).await.status, 202);
    assert_eq!(post(&addr, "/hooks/github", &github(body, "another-delivery"), body).await.status, 202);
    assert!(lambda.wait_for_accepted(2, PATIENCE));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(lambda.accepted_count(), 2, "the retry within SQS's deduplication window is not delivered again");
    assert!(daemon.terminate(Duration::from_secs(30)).success());
}

/// A self-signed certificate for 127.0.0.1 and its key, as PEM files `NAME.crt` and `NAME.key` in `dir`.
fn self_signed(dir: &std::path::Path, name: &str) {
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=fanin-test",
        ])
        // A leaf, not a CA: webpki refuses a CA certificate as the server's own.
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "keyUsage=critical,digitalSignature", "-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(dir.join(format!("{name}.key")))
        .arg("-out")
        .arg(dir.join(format!("{name}.crt")))
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// POSTs over TLS, trusting only the certificate `ca` (PEM): the status, or why the handshake failed.
async fn post_tls(addr: &str, ca: &std::path::Path, headers: &[(String, String)], body: &str) -> Result<u16, String> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut tls = connector.connect(ServerName::try_from("127.0.0.1").unwrap().to_owned(), tcp).await.map_err(|e| e.to_string())?;
    tls.write_all(&request("POST", "/hooks/github", headers, body.as_bytes())).await.map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), tls.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| format!("no answer: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_the_configured_certificate_and_a_sighup_swaps_in_a_renewed_one() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    let certs = tempfile::tempdir().unwrap();
    self_signed(certs.path(), "old");
    self_signed(certs.path(), "new");
    std::fs::copy(certs.path().join("old.crt"), certs.path().join("live.crt")).unwrap();
    std::fs::copy(certs.path().join("old.key"), certs.path().join("live.key")).unwrap();
    let daemon_file = format!(
        "[http]\nlisten = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n\n[targets.hooks]\nfunction = \"hooks\"\n",
        certs.path().join("live.crt").display(),
        certs.path().join("live.key").display()
    );
    let setup = Setup::new("", &daemon_file);
    let queue = moto.queue(&unique("tls")).await;
    setup.source("github", &http_source(&queue, "/hooks/github", "{ scheme = \"github\", secrets = [{ env = \"GH_SECRET\" }] }", ""));
    let mut daemon = start(&setup, &moto, &lambda);
    let addr = webhook_addr(&daemon).await;
    let body = r#"{"zen":"over TLS"}"#;

    assert_eq!(post_tls(&addr, &certs.path().join("old.crt"), &github(body, "tls-1"), body).await, Ok(202));
    assert!(
        post_tls(&addr, &certs.path().join("new.crt"), &github(body, "tls-2"), body).await.is_err(),
        "the new certificate is not served yet"
    );
    // Plain HTTP to a TLS listener: no answer, no 2xx.
    assert!(!(200..300).contains(&post(&addr, "/hooks/github", &github(body, "plain"), body).await.status));

    // The certificate renewed in place, then SIGHUP.
    std::fs::copy(certs.path().join("new.crt"), certs.path().join("live.crt")).unwrap();
    std::fs::copy(certs.path().join("new.key"), certs.path().join("live.key")).unwrap();
    unsafe { libc::kill(daemon.pid(), libc::SIGHUP) };
    eventually(Duration::from_secs(30), "the renewed certificate to be served", || {
        let (addr, ca) = (addr.clone(), certs.path().join("new.crt"));
        async move { post_tls(&addr, &ca, &github(body, "tls-3"), body).await == Ok(202) }
    })
    .await;
    assert!(lambda.wait_for_accepted(2, PATIENCE));
    assert!(daemon.terminate(Duration::from_secs(30)).success());
}
