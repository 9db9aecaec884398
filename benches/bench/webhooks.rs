//! Webhook accept: `n` GitHub-signed requests over `concurrency` keep-alive connections to an
//! `http` source whose buffer queue is the in-process fake SQS; accepted/s and the latency from
//! writing a request to reading its 202. Beside it, in the same run, the bare baseline: the same
//! requests' bodies each sent to the same SQS with one SigV4-signed `SendMessage`, no batching,
//! no listener, at the same concurrency. The load is generated in this process, on the same
//! cores as fanin.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::fake_sqs::FakeSqs;
use crate::lambda_endpoint::LambdaEndpoint;

const SECRET: &str = "It's a Secret to Everybody";
const BODY: &str = r#"{"ref":"refs/heads/main","before":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","after":"59b20b8d5c6ff8d09518216e2c5e8c1a0c2e2b7a","repository":{"id":1296269,"full_name":"octocat/Hello-World"},"pusher":{"name":"octocat"}}"#;

/// What one contender did.
struct Row {
    accepted: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    sqs_calls: usize,
}

impl Row {
    fn per_sec(&self) -> f64 {
        self.accepted as f64 / self.elapsed.as_secs_f64()
    }
    fn percentile(&self, p: f64) -> f64 {
        let mut l = self.latencies.clone();
        l.sort();
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1))).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }
}

pub fn run(n: usize, concurrency: usize) {
    println!("== Webhook accept: {n} GitHub-signed requests, {concurrency} connections, in-process SQS (JSON protocol)");
    println!("{:<40} {:>9} {:>11} {:>8} {:>8} {:>10}", "client", "requests", "accepted/s", "p50 ms", "p99 ms", "SQS calls");
    let baseline = baseline(n, concurrency);
    print_row("bare: one signed SendMessage each", &baseline);
    match fanin(n, concurrency) {
        Ok(row) => {
            print_row("fanin http source (202 once stored)", &row);
            let goal = row.per_sec() >= 5000.0 && row.percentile(0.99) <= 20.0 && row.per_sec() > baseline.per_sec();
            println!(
                "goal (>= 5,000/s, p99 <= 20 ms, more than the bare baseline): {} ({:.2}x the baseline)",
                if goal { "met" } else { "missed" },
                row.per_sec() / baseline.per_sec()
            );
        }
        Err(why) => println!("{:<40} {why}", "fanin http source"),
    }
    println!();
}

fn print_row(label: &str, row: &Row) {
    println!(
        "{:<40} {:>9} {:>11.0} {:>8.2} {:>8.2} {:>10}",
        label,
        row.accepted,
        row.per_sec(),
        row.percentile(0.50),
        row.percentile(0.99),
        row.sqs_calls
    );
}

/// fanin with one `http` source on the fake queue; the requests sent to its listener.
fn fanin(n: usize, concurrency: usize) -> Result<Row, String> {
    let sqs = FakeSqs::start(0, |_| String::new());
    let lambda = LambdaEndpoint::start_counting();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sources")).unwrap();
    std::fs::write(
        dir.path().join("fanin.toml"),
        "[daemon]\nstate_dir = \"state\"\nshutdown_grace = \"5s\"\n[aws]\nregion = \"us-east-1\"\naccount_id = \"123456789012\"\n\
         [metrics]\nlisten = \"127.0.0.1:0\"\n[http]\nlisten = \"127.0.0.1:0\"\n[targets.work]\nfunction = \"work\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("sources/github.toml"),
        format!(
            "type = \"http\"\npath = \"/hooks/github\"\nbuffer_queue = \"{}\"\nsignature = {{ scheme = \"github\", secrets = [{{ env = \"BENCH_SECRET\" }}] }}\n\
             target = \"work\"\npollers = 1\nwait_time = \"1s\"\n",
            sqs.queue_url()
        ),
    )
    .unwrap();
    let log = dir.path().join("fanin.log");
    let mut cmd = Command::new(std::env::var("FANIN_BENCH_FANIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_fanin").into()));
    cmd.args(["run", "--config", dir.path().join("fanin.toml").to_str().unwrap()])
        .env("RUST_LOG", "fanin=info")
        .env("BENCH_SECRET", SECRET)
        .stderr(std::fs::File::create(&log).unwrap())
        .stdout(Stdio::null());
    crate::aws_env(&mut cmd, &sqs, &lambda);
    let mut child = cmd.spawn().map_err(|e| format!("cannot start fanin: {e}"))?;
    let started = Instant::now();
    let addr = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("fanin running") {
            if let Some(a) = text.lines().find(|l| l.contains("webhooks listening")).and_then(|l| l.split("listen=").nth(1)) {
                break a.split_whitespace().next().unwrap_or_default().to_string();
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            return Err(format!("fanin did not listen: {text}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let signature = format!("sha256={}", hex::encode(hmac(SECRET.as_bytes(), BODY.as_bytes())));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let result = rt.block_on(load(&addr, n, concurrency, &signature));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    let (elapsed, latencies, refused) = result?;
    if refused > 0 || sqs.sent() < n {
        return Err(format!("{refused} requests not accepted; {} of {n} stored", sqs.sent()));
    }
    Ok(Row { accepted: n, elapsed, latencies, sqs_calls: sqs.send_calls() })
}

/// `n` requests over `concurrency` keep-alive connections: (wall time, latencies, non-2xx answers).
async fn load(addr: &str, n: usize, concurrency: usize, signature: &str) -> Result<(Duration, Vec<Duration>, usize), String> {
    let next = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let refused = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (addr, signature, next, latencies, refused) =
            (addr.to_string(), signature.to_string(), next.clone(), latencies.clone(), refused.clone());
        workers.push(tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(&addr).await.map_err(|e| e.to_string())?;
            stream.set_nodelay(true).ok();
            let mut buf = vec![0u8; 4096];
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let request = format!(
                    "POST /hooks/github HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nUser-Agent: GitHub-Hookshot/bench\r\n\
                     X-GitHub-Event: push\r\nX-GitHub-Delivery: bench-{i}\r\nX-Hub-Signature-256: {signature}\r\nContent-Length: {}\r\n\r\n{BODY}",
                    BODY.len()
                );
                let t = Instant::now();
                stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
                let status = read_response(&mut stream, &mut buf).await?;
                mine.push(t.elapsed());
                if !(200..300).contains(&status) {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies.lock().unwrap().extend(mine);
            Ok::<_, String>(())
        }));
    }
    for w in workers {
        w.await.map_err(|e| e.to_string())??;
    }
    let elapsed = started.elapsed();
    let latencies = std::mem::take(&mut *latencies.lock().unwrap());
    Ok((elapsed, latencies, refused.load(Ordering::Relaxed)))
}

/// Reads one response (headers and a `Content-Length` body) off a keep-alive connection.
async fn read_response(stream: &mut tokio::net::TcpStream, buf: &mut [u8]) -> Result<u16, String> {
    let mut got = Vec::new();
    loop {
        let k = stream.read(buf).await.map_err(|e| e.to_string())?;
        if k == 0 {
            return Err("connection closed".into());
        }
        got.extend_from_slice(&buf[..k]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")).map(|(_, v)| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            while got.len() < end + 4 + length {
                let k = stream.read(buf).await.map_err(|e| e.to_string())?;
                if k == 0 {
                    return Err("connection closed".into());
                }
                got.extend_from_slice(&buf[..k]);
            }
            return head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| format!("no status: {head}"));
        }
    }
}

/// The baseline: each request's body sent to the fake SQS with one signed `SendMessage`.
fn baseline(n: usize, concurrency: usize) -> Row {
    let sqs = FakeSqs::start(0, |_| String::new());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (elapsed, latencies) = rt.block_on(async {
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.set_nodelay(true);
        let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(http);
        let url: hyper::Uri = sqs.url().parse().unwrap();
        let host = sqs.url().trim_start_matches("http://").trim_end_matches('/').to_string();
        let queue_url = sqs.queue_url();
        let next = Arc::new(AtomicUsize::new(0));
        let latencies = Arc::new(Mutex::new(Vec::with_capacity(n)));
        let started = Instant::now();
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                let (client, url, host, queue_url, next, latencies) =
                    (client.clone(), url.clone(), host.clone(), queue_url.clone(), next.clone(), latencies.clone());
                tokio::spawn(async move {
                    let mut mine = Vec::new();
                    while next.fetch_add(1, Ordering::Relaxed) < n {
                        let t = Instant::now();
                        let body = Bytes::from(serde_json::json!({ "QueueUrl": queue_url, "MessageBody": BODY }).to_string());
                        let (date, authorization) = sign(&host, &body);
                        let request = hyper::Request::post(url.clone())
                            .header("content-type", "application/x-amz-json-1.0")
                            .header("x-amz-target", "AmazonSQS.SendMessage")
                            .header("x-amz-date", date)
                            .header("authorization", authorization)
                            .body(Full::new(body))
                            .unwrap();
                        let response = client.request(request).await.expect("the fake SQS answers");
                        assert_eq!(response.status(), 200, "SendMessage is taken");
                        response.into_body().collect().await.unwrap();
                        mine.push(t.elapsed());
                    }
                    latencies.lock().unwrap().extend(mine);
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
        let elapsed = started.elapsed();
        let latencies = std::mem::take(&mut *latencies.lock().unwrap());
        (elapsed, latencies)
    });
    Row { accepted: n, elapsed, latencies, sqs_calls: sqs.send_calls() }
}

/// SigV4 for one `SendMessage` (the signing key derived per request, as an SDK would per day).
fn sign(host: &str, body: &[u8]) -> (String, String) {
    let now = chrono::Utc::now();
    let (day, date) = (now.format("%Y%m%d").to_string(), now.format("%Y%m%dT%H%M%SZ").to_string());
    let mut key = hmac(b"AWS4test", day.as_bytes());
    for part in ["us-east-1", "sqs", "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signed_headers = "content-type;host;x-amz-date;x-amz-target";
    let canonical = format!(
        "POST\n/\n\ncontent-type:application/x-amz-json-1.0\nhost:{host}\nx-amz-date:{date}\nx-amz-target:AmazonSQS.SendMessage\n\n{signed_headers}\n{}",
        hex::encode(Sha256::digest(body))
    );
    let scope = format!("{day}/us-east-1/sqs/aws4_request");
    let to_sign = format!("AWS4-HMAC-SHA256\n{date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical.as_bytes())));
    let signature = hex::encode(hmac(&key, to_sign.as_bytes()));
    (date, format!("AWS4-HMAC-SHA256 Credential=test/{scope}, SignedHeaders={signed_headers}, Signature={signature}"))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}
