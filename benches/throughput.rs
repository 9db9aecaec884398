//! Benchmark, run by `scripts/bench` (not a test): SQS → Lambda throughput and CPU time of the
//! `fanin` binary against a hand-written SQS consumer, both driving the same in-process SQS and
//! Lambda endpoints in the same run; and cron fire lateness of fanin's scheduler against
//! `tokio-cron-scheduler`.

#[path = "../tests/support/serve.rs"]
mod serve;
#[path = "../tests/support/fake_sqs.rs"]
mod fake_sqs;
#[path = "../tests/support/lambda_endpoint.rs"]
mod lambda_endpoint;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use fake_sqs::FakeSqs;
use lambda_endpoint::LambdaEndpoint;

const POLLERS: usize = 4;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("baseline-consumer") {
        return baseline_consumer(&args[2], &args[3]);
    }
    if !args.iter().any(|a| a == "--bench") {
        // `cargo test --all-targets` builds and runs benches too; the benchmark itself is for `cargo bench`.
        println!("throughput benchmark: run it with scripts/bench");
        return;
    }
    let messages: usize = std::env::var("FANIN_BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    println!("machine: {} cores, {}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), cpu_model());
    println!();
    println!("SQS -> Lambda, {messages} messages, {POLLERS} pollers, in-process SQS and Lambda endpoints");
    println!(
        "{:<28} {:>12} {:>18} {:>12} {:>22}",
        "consumer", "events/s", "CPU ms/1000 events", "max RSS MB", "SQS calls/1000 events"
    );
    for (name, contender) in [("fanin", Contender::Fanin), ("hand-written consumer", Contender::Baseline)] {
        let r = run_contender(contender, messages);
        println!(
            "{name:<28} {:>12.0} {:>18.1} {:>12.1} {:>22}",
            r.events_per_sec, r.cpu_ms_per_1000, r.max_rss_mb, r.sqs_calls
        );
    }
    println!();
    cron_lateness();
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into())
}

#[derive(Clone, Copy)]
enum Contender {
    Fanin,
    Baseline,
}

struct Result {
    events_per_sec: f64,
    cpu_ms_per_1000: f64,
    max_rss_mb: f64,
    /// Receive / delete / visibility requests per 1,000 events.
    sqs_calls: String,
}

fn run_contender(contender: Contender, messages: usize) -> Result {
    let sqs = FakeSqs::start(messages, |i| format!("{{\"order\":{i},\"item\":\"book\",\"quantity\":1}}"));
    let lambda = LambdaEndpoint::start();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = match contender {
        Contender::Fanin => {
            std::fs::create_dir_all(dir.path().join("sources")).unwrap();
            std::fs::write(
                dir.path().join("fanin.toml"),
                "[daemon]\nstate_dir = \"state\"\nmax_in_flight = 256\nshutdown_grace = \"5s\"\n[aws]\nregion = \"us-east-1\"\naccount_id = \"123456789012\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
                 [targets.work]\nfunction = \"work\"\nmax_concurrency = 256\n",
            )
            .unwrap();
            std::fs::write(
                dir.path().join("sources/bench.toml"),
                format!("type = \"sqs\"\nqueue_url = \"{}\"\ntarget = \"work\"\npollers = {POLLERS}\nwait_time = \"1s\"\n", sqs.queue_url()),
            )
            .unwrap();
            let mut c = Command::new(env!("CARGO_BIN_EXE_fanin"));
            c.args(["run", "--config", dir.path().join("fanin.toml").to_str().unwrap()]).env("RUST_LOG", "warn");
            c
        }
        Contender::Baseline => {
            let mut c = Command::new(std::env::current_exe().unwrap());
            c.args(["baseline-consumer", &sqs.queue_url(), &lambda.url()]);
            c
        }
    };
    cmd.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL_SQS", sqs.url())
        .env("AWS_ENDPOINT_URL_LAMBDA", lambda.url());
    let start = Instant::now();
    // Reaped below with wait4, which also gives the child's CPU time and peak RSS.
    #[allow(clippy::zombie_processes)]
    let child = cmd.spawn().expect("spawn contender");
    let pid = child.id() as i32;
    assert!(sqs.wait_for_deleted(messages, Duration::from_secs(600)), "not every message was deleted");
    let elapsed = start.elapsed();
    assert!(lambda.accepted_count() >= messages, "fewer invokes than messages");
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let cpu = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    Result {
        events_per_sec: messages as f64 / elapsed.as_secs_f64(),
        cpu_ms_per_1000: (cpu(usage.ru_utime) + cpu(usage.ru_stime)) / messages as f64 * 1000.0,
        max_rss_mb: usage.ru_maxrss as f64 / 1024.0,
        sqs_calls: {
            let per_1000 = |n: usize| n as f64 / messages as f64 * 1000.0;
            format!("{:.0}/{:.0}/{:.0}", per_1000(sqs.receive_calls()), per_1000(sqs.delete_calls()), per_1000(sqs.visibility_calls()))
        },
    }
}

/// The consumer people write by hand: each poller receives 10, invokes them all at once,
/// waits for every answer, deletes the batch, and goes again. It builds the same Lambda SQS
/// event as fanin (attributes included), without heartbeats, limits, retries or metrics.
fn baseline_consumer(queue_url: &str, _lambda_url: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let lambda = aws_sdk_lambda::Client::new(&sdk);
        let pollers: Vec<_> = (0..POLLERS)
            .map(|_| {
                let (sqs, lambda, url) = (sqs.clone(), lambda.clone(), queue_url.to_string());
                tokio::spawn(async move {
                    loop {
                        // The same work as fanin's: all attributes asked for and carried into Lambda's SQS event.
                        let out = sqs
                            .receive_message()
                            .queue_url(&url)
                            .max_number_of_messages(10)
                            .wait_time_seconds(1)
                            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                            .message_attribute_names("All")
                            .send()
                            .await
                            .unwrap();
                        let messages = out.messages.unwrap_or_default();
                        let mut calls = Vec::new();
                        for m in &messages {
                            let attributes: serde_json::Map<String, serde_json::Value> = m
                                .attributes()
                                .map(|a| a.iter().map(|(k, v)| (k.as_str().to_string(), serde_json::Value::from(v.as_str()))).collect())
                                .unwrap_or_default();
                            let event = serde_json::json!({"Records": [{
                                "messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
                                "attributes": attributes, "messageAttributes": {}, "md5OfBody": m.md5_of_body(),
                                "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench", "awsRegion": "us-east-1"
                            }]});
                            let call = lambda
                                .invoke()
                                .function_name("work")
                                .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
                                .payload(aws_sdk_lambda::primitives::Blob::new(serde_json::to_vec(&event).unwrap()))
                                .send();
                            calls.push(tokio::spawn(call));
                        }
                        for call in calls {
                            call.await.unwrap().unwrap();
                        }
                        if messages.is_empty() {
                            continue;
                        }
                        let entries = messages
                            .iter()
                            .enumerate()
                            .map(|(i, m)| {
                                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                                    .id(i.to_string())
                                    .receipt_handle(m.receipt_handle().unwrap())
                                    .build()
                                    .unwrap()
                            })
                            .collect();
                        sqs.delete_message_batch().queue_url(&url).set_entries(Some(entries)).send().await.unwrap();
                    }
                })
            })
            .collect();
        for p in pollers {
            let _ = p.await;
        }
    });
}

/// Fire lateness of 20 every-second schedules over 10 s: fanin's cron source against
/// tokio-cron-scheduler, both in this process.
fn cron_lateness() {
    const SCHEDULES: usize = 20;
    const RUN: Duration = Duration::from_secs(10);
    let rt = tokio::runtime::Runtime::new().unwrap();

    let fanin = rt.block_on(async {
        let state = tempfile::tempdir().unwrap();
        let (queue, mut rx) = fanin::queue::bounded(1024);
        let shutdown = tokio_util::sync::CancellationToken::new();
        for i in 0..SCHEDULES {
            let settings = fanin::config::CronSettings {
                schedule: "* * * * * *".into(),
                timezone: "UTC".into(),
                catch_up: None,
                payload: None,
                parsed: None,
            };
            let source = Box::new(fanin::sources::cron::CronSource::new(settings, None));
            let ctx = fanin::sources::SourceContext {
                name: format!("s{i}").into(),
                queue: queue.clone(),
                shutdown: shutdown.clone(),
                state_dir: state.path().to_path_buf(),
                region: "us-east-1".into(),
                account: "123456789012".into(),
                health: std::sync::Arc::new(fanin::telemetry::health::Health::new([])),
            };
            tokio::spawn(fanin::sources::Source::run(source, ctx));
        }
        drop(queue);
        let mut late = Vec::new();
        let deadline = tokio::time::Instant::now() + RUN;
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            late.push(SystemTime::now().duration_since(event.born).unwrap_or_default());
        }
        shutdown.cancel();
        late
    });

    let baseline = rt.block_on(async {
        use tokio_cron_scheduler::{Job, JobScheduler};
        let late = Arc::new(Mutex::new(Vec::new()));
        let scheduler = JobScheduler::new().await.unwrap();
        for _ in 0..SCHEDULES {
            let late = late.clone();
            let job = Job::new("* * * * * *", move |_, _| {
                // An every-second schedule's instant is the whole second just passed.
                let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap();
                late.lock().unwrap().push(Duration::from_nanos(now.subsec_nanos() as u64));
            })
            .unwrap();
            scheduler.add(job).await.unwrap();
        }
        scheduler.start().await.unwrap();
        tokio::time::sleep(RUN).await;
        let mut s = scheduler;
        s.shutdown().await.unwrap();
        let v = late.lock().unwrap().clone();
        v
    });

    println!("cron fire lateness, {SCHEDULES} every-second schedules for {}s", RUN.as_secs());
    println!("{:<28} {:>8} {:>12} {:>12}", "scheduler", "fires", "p50 ms", "p99 ms");
    for (name, mut v) in [("fanin (croner + sleep_until)", fanin), ("tokio-cron-scheduler 0.15", baseline)] {
        v.sort();
        let pct = |p: usize| v.get(v.len().saturating_sub(1).min(v.len() * p / 100)).copied().unwrap_or_default();
        println!("{name:<28} {:>8} {:>12.3} {:>12.3}", v.len(), pct(50).as_secs_f64() * 1e3, pct(99).as_secs_f64() * 1e3);
    }
}
