//! A function whose reserved concurrency is below the target's `max_concurrency`: beyond
//! `RESERVED` invokes in flight it answers 429 `ReservedFunctionConcurrentInvocationLimitExceeded`,
//! and each call takes `CALL`. fanin with `max_concurrency = 64` (too high, as it often is)
//! beside fanin told the function's true limit (`max_concurrency = 8`), against what the
//! function can take: delivered, dead-lettered, throttled answers per delivery, and
//! throughput as a share of the function's capacity (`RESERVED / CALL`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fake_sqs::FakeSqs;
use crate::lambda_endpoint::{Behavior, LambdaEndpoint, Reply};
use crate::measure::{self, Done};

const RESERVED: usize = 8;
const CALL: Duration = Duration::from_millis(50);

pub fn run(messages: usize) {
    let capacity = RESERVED as f64 / CALL.as_secs_f64();
    println!(
        "== Throttle storm: reserved concurrency {RESERVED}, {} ms a call (capacity {capacity:.0} events/s), {messages} messages",
        CALL.as_millis()
    );
    println!(
        "{:<28} {:>9} {:>14} {:>18} {:>10} {:>12}",
        "client", "delivered", "dead-lettered", "429s per delivery", "events/s", "of capacity"
    );
    for max_concurrency in [64, RESERVED] {
        let sqs = FakeSqs::start(messages, crate::body);
        let lambda = LambdaEndpoint::start_counting();
        let throttles = Arc::new(AtomicUsize::new(0));
        lambda.set_behavior("work", reserved_concurrency(throttles.clone()));
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = crate::fanin_command(dir.path(), &sqs, max_concurrency);
        crate::aws_env(&mut cmd, &sqs, &lambda);
        let label = format!("fanin, max_concurrency = {max_concurrency}");
        match measure::run(cmd, Done::When(&|| sqs.deleted() >= messages), crate::LIMIT) {
            Ok(usage) => {
                let dead = std::fs::read_to_string(dir.path().join("state/dlq.jsonl")).map(|t| t.lines().count()).unwrap_or(0);
                let delivered = lambda.accepted_count();
                let per_sec = delivered as f64 / usage.elapsed.as_secs_f64();
                println!(
                    "{label:<28} {delivered:>9} {dead:>14} {:>18.3} {per_sec:>10.1} {:>11.0} %",
                    throttles.load(Ordering::Relaxed) as f64 / delivered.max(1) as f64,
                    per_sec / capacity * 100.0
                );
            }
            Err(why) => println!("{label:<28} {why}"),
        }
    }
    println!("(fanin's elapsed time includes its start and its last poll: a few hundred ms)");
    println!();
}

/// Accepts while fewer than `RESERVED` accepted calls are still running, else throttles.
fn reserved_concurrency(throttles: Arc<AtomicUsize>) -> Behavior {
    let running: Mutex<Vec<Instant>> = Mutex::new(Vec::new());
    Behavior::from_fn(move |_, _| {
        let now = Instant::now();
        let mut running = running.lock().unwrap();
        running.retain(|end| *end > now);
        if running.len() >= RESERVED {
            throttles.fetch_add(1, Ordering::Relaxed);
            return Reply::throttle("ReservedFunctionConcurrentInvocationLimitExceeded", None);
        }
        running.push(now + CALL);
        Reply::slow(CALL, Reply::Accept)
    })
}
