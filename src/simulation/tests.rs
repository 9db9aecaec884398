//! The seeded runs: 500 seeds on every `cargo test`, as many as `FANIN_SIM_SEEDS` says (or the
//! one `FANIN_SIM_SEED` names, verbosely) through `scripts/simulate`.

use std::collections::BTreeMap;
use std::time::Instant;

use super::{run, DuplicateCause, Plan, Rules, Tally};

/// Nothing lost, no duplicate that only fanin could have caused.
pub fn rules() -> Rules {
    Rules { max_unexplained_duplicate_rate: 0.0 }
}

/// What a sweep of seeds found.
#[derive(Default)]
struct Summary {
    seeds: u64,
    tally: Tally,
    duplicates: BTreeMap<DuplicateCause, u64>,
    /// Seed → its violations.
    failures: BTreeMap<u64, Vec<String>>,
}

impl Summary {
    fn print(&self, took: std::time::Duration) {
        let t = &self.tally;
        println!(
            "simulation: {} seeds in {:.1}s; {} messages, {} hand-outs ({} again while in flight), {} accepted invokes, {} dead letters {:?}",
            self.seeds,
            took.as_secs_f64(),
            t.messages,
            t.hand_outs,
            t.sqs_hand_outs_in_flight,
            t.accepted,
            t.dead_letters,
            t.dead_letters_by_condition
        );
        let duplicates: u64 = self.duplicates.values().sum();
        println!(
            "  duplicates: {duplicates} ({:.2}% of messages) by cause {:?}",
            100.0 * duplicates as f64 / t.messages.max(1) as f64,
            self.duplicates
        );
        println!(
            "  faults: {} outages, {} crashes, {} reloads; Lambda: {} throttled, {} 5xx, {} function errors, {} not found, {} stalls; sinks: {} refused",
            t.faults, t.crashes, t.reloads, t.throttled, t.server_errors, t.function_errors, t.not_found, t.stalls, t.sink_failures
        );
        println!(
            "  SQS: {} deletes ({} entries failed), {} visibility changes ({} entries failed, {} not in flight), {} stale receipts, {} calls and {} receives failed",
            t.deletes, t.delete_entry_failures, t.visibility_changes, t.visibility_entry_failures, t.not_in_flight, t.stale_receipts, t.call_errors, t.receive_errors
        );
        for (seed, violations) in &self.failures {
            println!("seed {seed} FAILED ({} violations):", violations.len());
            for v in violations.iter().take(10) {
                println!("    {v}");
            }
            println!("  replay: scripts/simulate --seed {seed}");
        }
    }
}

/// Runs `seeds` on `threads` threads (each run has a runtime of its own).
fn sweep(seeds: std::ops::Range<u64>, threads: usize) -> Summary {
    let next = std::sync::atomic::AtomicU64::new(seeds.start);
    let summary = std::sync::Mutex::new(Summary::default());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if seed >= seeds.end {
                    return;
                }
                let result = run(Plan::from_seed(seed));
                let verdict = result.check(&rules());
                let mut s = summary.lock().unwrap();
                s.seeds += 1;
                s.tally.add(&result.ledger.tally);
                for (cause, n) in &verdict.duplicates {
                    *s.duplicates.entry(*cause).or_default() += n;
                }
                if !verdict.violations.is_empty() {
                    s.failures.insert(seed, verdict.violations);
                }
            });
        }
    });
    summary.into_inner().unwrap()
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(4)
}

#[test]
fn five_hundred_seeds_lose_nothing() {
    let started = Instant::now();
    let summary = sweep(0..500, threads());
    summary.print(started.elapsed());
    assert!(
        summary.failures.is_empty(),
        "seeds {:?} failed; replay one with scripts/simulate --seed N",
        summary.failures.keys().collect::<Vec<_>>()
    );
}

/// `scripts/simulate [SEEDS] [--seed N]`: `FANIN_SIM_SEEDS` seeds (10,000 unless set), or the
/// one seed `FANIN_SIM_SEED`, told in full.
#[test]
#[ignore = "long: run through scripts/simulate"]
fn seeds_from_the_environment() {
    if let Some(seed) = std::env::var("FANIN_SIM_SEED").ok().and_then(|s| s.parse::<u64>().ok()) {
        let result = run(Plan::from_seed(seed));
        println!("seed {seed}: {:#?}", result.plan);
        let verdict = result.check(&rules());
        println!("virtual time {:?}; {:#?}", result.took, result.ledger.tally);
        println!("duplicates by cause {:?} (unexplained rate {:.4})", verdict.duplicates, verdict.unexplained_rate);
        for v in &verdict.violations {
            println!("  {v}");
        }
        assert!(verdict.violations.is_empty(), "seed {seed} failed");
        return;
    }
    let seeds = std::env::var("FANIN_SIM_SEEDS").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(10_000);
    let started = Instant::now();
    let summary = sweep(0..seeds, std::thread::available_parallelism().map_or(1, |n| n.get()));
    summary.print(started.elapsed());
    assert!(summary.failures.is_empty(), "seeds {:?} failed", summary.failures.keys().collect::<Vec<_>>());
}

#[test]
fn a_seed_gives_the_same_plan() {
    let (a, b) = (Plan::from_seed(42), Plan::from_seed(42));
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}

/// One seed, run twice in one process, leaves the same ledger: every entry, in the same order.
#[test]
fn a_seed_replays_the_same_run() {
    for seed in [3, 52, 93, 400, 429] {
        let (a, b) = (run(Plan::from_seed(seed)), run(Plan::from_seed(seed)));
        assert_eq!(format!("{:?}", a.ledger), format!("{:?}", b.ledger), "seed {seed} did not replay");
    }
}
