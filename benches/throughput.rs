//! Benchmark, run by `scripts/bench` (not a test). In one run, over in-process SQS (JSON
//! protocol) and Lambda endpoints that answer in microseconds, so each client's own cost is
//! what is measured:
//!
//! 1. SQS → Lambda throughput, CPU per event and peak RSS of fanin beside the limit (a bare
//!    signed-request client), a hand-written AWS SDK for Rust consumer, a boto3 loop and
//!    Node's `sqs-consumer`, at the same concurrency, printed as ratios to the limit;
//! 2. fanin's peak RSS draining a 100,000 and a 1,000,000 message backlog;
//! 3. 1,000 every-second cron schedules for 30 s: lateness, misses and CPU per fire, beside
//!    `tokio-cron-scheduler`;
//! 4. `fanin replay` and `fanin dlq stats` of 100,000 and 1,000,000 dead-letter records, from a
//!    file and from SQS (FANIN_BENCH_REPLAY_SIZES, a comma list);
//! 5. one source with 1, 10 and 100 filtered routes: CPU per event (`routes`);
//! 6. a throttle storm: a function with reserved concurrency 8 behind a target allowed 64,
//!    against the function's capacity;
//! 7. webhook accept: signed requests to an `http` source, accepted/s and p50/p99 latency,
//!    beside one signed `SendMessage` per request.
//!
//! Every contender runs as a child process measured from outside (`wait4`).
//! Knobs: FANIN_BENCH_MESSAGES (50000), FANIN_BENCH_PEER_MESSAGES (10000, for the Python and
//! Node peers), FANIN_BENCH_BACKLOG (1000000), FANIN_BENCH_CRON_SECONDS (30),
//! FANIN_BENCH_THROTTLE_MESSAGES (2000), FANIN_BENCH_WEBHOOKS (20000), FANIN_BENCH_ONLY (a comma
//! list of throughput, memory, cron, replay, routes, throttles, webhooks).

#[path = "bench/bare_client.rs"]
mod bare_client;
#[path = "bench/cron_scale.rs"]
mod cron_scale;
#[path = "../tests/support/fake_sqs.rs"]
mod fake_sqs;
#[path = "../tests/support/lambda_endpoint.rs"]
mod lambda_endpoint;
#[path = "bench/measure.rs"]
mod measure;
#[path = "bench/replay_speed.rs"]
mod replay_speed;
#[path = "bench/sdk_consumer.rs"]
mod sdk_consumer;
#[path = "../tests/support/serve.rs"]
mod serve;
#[path = "bench/throttle_storm.rs"]
mod throttle_storm;
#[path = "bench/webhooks.rs"]
mod webhooks;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use fake_sqs::FakeSqs;
use lambda_endpoint::LambdaEndpoint;
use measure::{Done, Usage};

/// Invokes in flight at once, for every contender.
const CONCURRENCY: usize = 64;
/// fanin's receive loops on the one queue.
const POLLERS: usize = 4;
const LIMIT: Duration = Duration::from_secs(900);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("bare-client") => return bare_client::run(&args[2], args[3].parse().unwrap(), CONCURRENCY, sample_event()),
        Some("sdk-consumer") => return sdk_consumer::run(&args[2], CONCURRENCY),
        _ => {}
    }
    if !args.iter().any(|a| a == "--bench") {
        // `cargo test --all-targets` builds and runs benches too; the benchmark itself is for `cargo bench`.
        println!("throughput benchmark: run it with scripts/bench");
        return;
    }
    let knob = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(default);
    let only = std::env::var("FANIN_BENCH_ONLY").unwrap_or_default();
    let wanted = |section: &str| only.is_empty() || only.split(',').any(|s| s.trim() == section);
    println!("machine: {} cores, {}, {}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), cpu_model(), kernel());
    println!();
    if wanted("throughput") {
        throughput(knob("FANIN_BENCH_MESSAGES", 50_000), knob("FANIN_BENCH_PEER_MESSAGES", 10_000));
    }
    if wanted("memory") {
        memory(knob("FANIN_BENCH_BACKLOG", 1_000_000));
    }
    if wanted("cron") {
        cron_scale::run(1000, Duration::from_secs(knob("FANIN_BENCH_CRON_SECONDS", 30) as u64));
    }
    if wanted("replay") {
        let sizes = std::env::var("FANIN_BENCH_REPLAY_SIZES").unwrap_or_else(|_| "100000,1000000".into());
        let sizes: Vec<usize> = sizes.split(',').filter_map(|s| s.trim().replace('_', "").parse().ok()).collect();
        replay_speed::run(&sizes, CONCURRENCY);
    }
    if wanted("routes") {
        routes(knob("FANIN_BENCH_MESSAGES", 50_000));
    }
    if wanted("throttles") {
        throttle_storm::run(knob("FANIN_BENCH_THROTTLE_MESSAGES", 2_000));
    }
    if wanted("webhooks") {
        webhooks::run(knob("FANIN_BENCH_WEBHOOKS", 20_000), CONCURRENCY);
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into())
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| format!("Linux {}", s.trim())).unwrap_or_default()
}

/// The body of message `i`.
fn body(i: usize) -> String {
    format!("{{\"order\":{i},\"item\":\"book\",\"quantity\":1}}")
}

/// Lambda's SQS event for one message as fanin builds it: what the bare client sends.
fn sample_event() -> bytes::Bytes {
    let event = serde_json::json!({"Records": [{
        "messageId": "00000000-0000-0000-0000-000000000000", "receiptHandle": "AQEB0000000000000000000000000000000000000000000000000000000000000000",
        "body": body(0), "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1764633600000",
        "SenderId": "AIDAIENQZJOLO23YVJ4VO", "ApproximateFirstReceiveTimestamp": "1764633600000"},
        "messageAttributes": {}, "md5OfMessageAttributes": null, "md5OfBody": "00000000000000000000000000000000",
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench", "awsRegion": "us-east-1"
    }]});
    bytes::Bytes::from(serde_json::to_vec(&event).unwrap())
}

#[derive(Clone, Copy, PartialEq)]
enum Contender {
    Bare,
    Fanin,
    /// fanin on a runtime of one worker thread (`TOKIO_WORKER_THREADS=1`).
    FaninOneWorker,
    Sdk,
    Boto3,
    SqsConsumer,
}

impl Contender {
    fn label(self) -> &'static str {
        match self {
            Contender::Bare => "bare client (the limit)",
            Contender::Fanin => "fanin",
            Contender::FaninOneWorker => "fanin, TOKIO_WORKER_THREADS=1",
            Contender::Sdk => "hand-written Rust SDK consumer",
            Contender::Boto3 => "boto3 loop",
            Contender::SqsConsumer => "Node sqs-consumer",
        }
    }

    /// The peers outside this binary, from `scripts/bench`: a command line, or why not.
    fn peer_command(self) -> Option<Result<Vec<String>, String>> {
        let var = match self {
            Contender::Boto3 => "FANIN_BENCH_BOTO3",
            Contender::SqsConsumer => "FANIN_BENCH_SQS_CONSUMER",
            _ => return None,
        };
        Some(match std::env::var(var) {
            Ok(cmd) if !cmd.trim().is_empty() => Ok(cmd.split_whitespace().map(str::to_string).collect()),
            _ => Err(format!("skipped: {var} not set (scripts/bench sets it when the peer is installed)")),
        })
    }
}

struct Row {
    events: usize,
    usage: Usage,
    /// SQS receive / delete / visibility requests per 1,000 events.
    sqs_calls: String,
}

impl Row {
    fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.usage.elapsed.as_secs_f64()
    }
    fn cpu_us_per_event(&self) -> f64 {
        self.usage.cpu.as_secs_f64() * 1e6 / self.events as f64
    }
}

fn throughput(messages: usize, peer_messages: usize) {
    println!("== SQS -> Lambda: {CONCURRENCY} invokes in flight, in-process SQS (JSON protocol) and Lambda endpoints");
    println!(
        "{:<32} {:>8} {:>10} {:>7} {:>12} {:>7} {:>9} {:>16}",
        "client", "events", "events/s", "x bare", "CPU us/event", "x bare", "RSS MiB", "SQS calls/1000"
    );
    let mut bare: Option<(f64, f64)> = None;
    for contender in
        [Contender::Bare, Contender::Fanin, Contender::FaninOneWorker, Contender::Sdk, Contender::Boto3, Contender::SqsConsumer]
    {
        let n = if matches!(contender, Contender::Boto3 | Contender::SqsConsumer) { peer_messages } else { messages };
        match run_contender(contender, n) {
            Ok(row) => {
                let (eps, cpu) = (row.events_per_sec(), row.cpu_us_per_event());
                let (eps_ratio, cpu_ratio) = match bare {
                    Some((b_eps, b_cpu)) => (format!("{:.2}", eps / b_eps), format!("{:.2}", cpu / b_cpu)),
                    None => ("1.00".into(), "1.00".into()),
                };
                if contender == Contender::Bare {
                    bare = Some((eps, cpu));
                }
                println!(
                    "{:<32} {:>8} {:>10.0} {:>7} {:>12.1} {:>7} {:>9.1} {:>16}",
                    contender.label(),
                    n,
                    eps,
                    eps_ratio,
                    cpu,
                    cpu_ratio,
                    row.usage.max_rss_mib,
                    row.sqs_calls
                );
            }
            Err(why) => println!("{:<32} {why}", contender.label()),
        }
    }
    println!("(SQS calls: receive/delete/visibility; the bare client makes none)");
    println!();
}

fn run_contender(contender: Contender, messages: usize) -> Result<Row, String> {
    let peer = match contender.peer_command() {
        Some(Err(why)) => return Err(why),
        Some(Ok(cmd)) => Some(cmd),
        None => None,
    };
    let sqs = FakeSqs::start(if contender == Contender::Bare { 0 } else { messages }, body);
    let lambda = LambdaEndpoint::start_counting();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = match contender {
        Contender::Bare => {
            let mut c = Command::new(std::env::current_exe().unwrap());
            c.args(["bare-client", &lambda.url(), &messages.to_string()]);
            c
        }
        Contender::Fanin => fanin_command(dir.path(), &sqs, CONCURRENCY),
        Contender::FaninOneWorker => {
            let mut c = fanin_command(dir.path(), &sqs, CONCURRENCY);
            c.env("TOKIO_WORKER_THREADS", "1");
            c
        }
        Contender::Sdk => {
            let mut c = Command::new(std::env::current_exe().unwrap());
            c.args(["sdk-consumer", &sqs.queue_url()]);
            c
        }
        Contender::Boto3 | Contender::SqsConsumer => {
            let peer = peer.expect("a peer has a command");
            let mut c = Command::new(&peer[0]);
            c.args(&peer[1..]).args([sqs.queue_url(), "work".into(), CONCURRENCY.to_string()]);
            c
        }
    };
    aws_env(&mut cmd, &sqs, &lambda);
    let usage = if contender == Contender::Bare {
        measure::run(cmd, Done::Exits, LIMIT)?
    } else {
        measure::run(cmd, Done::When(&|| sqs.deleted() >= messages), LIMIT)?
    };
    if lambda.accepted_count() < messages {
        return Err(format!("only {} of {messages} invokes arrived", lambda.accepted_count()));
    }
    let per_1000 = |n: usize| n as f64 / messages as f64 * 1000.0;
    Ok(Row {
        events: messages,
        usage,
        sqs_calls: if contender == Contender::Bare {
            "-".into()
        } else {
            format!("{:.0}/{:.0}/{:.0}", per_1000(sqs.receive_calls()), per_1000(sqs.delete_calls()), per_1000(sqs.visibility_calls()))
        },
    })
}

/// fanin reading the fake queue into the `work` target with `max_concurrency`,
/// `queue_capacity = 10000`; configuration written under `dir`.
fn fanin_command(dir: &Path, sqs: &FakeSqs, max_concurrency: usize) -> Command {
    fanin_command_routing(dir, sqs, max_concurrency, "target = \"work\"\n")
}

/// [`fanin_command`], with the source's routes written as `routes`.
fn fanin_command_routing(dir: &Path, sqs: &FakeSqs, max_concurrency: usize, routes: &str) -> Command {
    std::fs::create_dir_all(dir.join("sources")).unwrap();
    std::fs::write(
        dir.join("fanin.toml"),
        format!(
            "[daemon]\nstate_dir = \"state\"\nqueue_capacity = 10000\nmax_in_flight = 256\nshutdown_grace = \"5s\"\n\
             [aws]\nregion = \"us-east-1\"\naccount_id = \"123456789012\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
             [targets.work]\nfunction = \"work\"\nmax_concurrency = {max_concurrency}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("sources/bench.toml"),
        format!("type = \"sqs\"\nqueue_url = \"{}\"\npollers = {POLLERS}\nwait_time = \"1s\"\n{routes}", sqs.queue_url()),
    )
    .unwrap();
    // FANIN_BENCH_FANIN: another build of fanin to measure (an older one, say), same harness.
    let mut c = Command::new(std::env::var("FANIN_BENCH_FANIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_fanin").into()));
    c.args(["run", "--config", dir.join("fanin.toml").to_str().unwrap()]).env("RUST_LOG", "warn");
    c
}

fn aws_env(cmd: &mut Command, sqs: &FakeSqs, lambda: &LambdaEndpoint) {
    cmd.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL_SQS", sqs.url())
        .env("AWS_ENDPOINT_URL_LAMBDA", lambda.url());
}

/// fanin's peak RSS draining a backlog of a tenth of `large`, then of `large`.
fn memory(large: usize) {
    println!("== Memory: fanin draining a backlog, queue_capacity = 10000, max_concurrency = {CONCURRENCY}");
    println!("{:<12} {:>10} {:>12} {:>12}", "backlog", "events/s", "CPU us/event", "peak RSS MiB");
    let mut peaks = Vec::new();
    for backlog in [large / 10, large] {
        let sqs = FakeSqs::start(backlog, body);
        let lambda = LambdaEndpoint::start_counting();
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = fanin_command(dir.path(), &sqs, CONCURRENCY);
        aws_env(&mut cmd, &sqs, &lambda);
        match measure::run(cmd, Done::When(&|| sqs.deleted() >= backlog), LIMIT) {
            Ok(u) => {
                let row = Row { events: backlog, usage: u, sqs_calls: String::new() };
                println!("{:<12} {:>10.0} {:>12.1} {:>12.1}", backlog, row.events_per_sec(), row.cpu_us_per_event(), row.usage.max_rss_mib);
                peaks.push(row.usage.max_rss_mib);
            }
            Err(why) => println!("{backlog:<12} {why}"),
        }
    }
    if let [small, big] = peaks[..] {
        println!("peak RSS grows {:+.1} % from the smaller backlog to the ten times larger one", (big / small - 1.0) * 100.0);
    }
    println!();
}

/// CPU per event with 1, 10 and 100 filtered routes on one source, each event passing the
/// last route's filter only: every filter is matched, one delivery is made.
fn routes(messages: usize) {
    println!("== Routes: one source, N filtered routes (each event matches the last), {messages} events");
    println!("{:<12} {:>10} {:>12} {:>9} {:>10}", "routes", "events/s", "CPU us/event", "x 1 route", "RSS MiB");
    let mut one = None;
    for n in [1, 10, 100] {
        let mut text = String::new();
        for i in 0..n {
            let region = if i + 1 == n { "us-east-1".to_string() } else { format!("nowhere-{i}") };
            text.push_str(&format!("[[routes]]\ntarget = \"work\"\nfilter = {{ Records = {{ awsRegion = [\"{region}\"] }} }}\n"));
        }
        let sqs = FakeSqs::start(messages, body);
        let lambda = LambdaEndpoint::start_counting();
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = fanin_command_routing(dir.path(), &sqs, CONCURRENCY, &text);
        aws_env(&mut cmd, &sqs, &lambda);
        match measure::run(cmd, Done::When(&|| sqs.deleted() >= messages), LIMIT) {
            Ok(u) if lambda.accepted_count() >= messages => {
                let row = Row { events: messages, usage: u, sqs_calls: String::new() };
                let cpu = row.cpu_us_per_event();
                let base = *one.get_or_insert(cpu);
                println!("{:<12} {:>10.0} {:>12.1} {:>9.2} {:>10.1}", n, row.events_per_sec(), cpu, cpu / base, row.usage.max_rss_mib);
            }
            Ok(_) => println!("{n:<12} only {} of {messages} invokes arrived", lambda.accepted_count()),
            Err(why) => println!("{n:<12} {why}"),
        }
    }
    println!();
}
