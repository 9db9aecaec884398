//! Every target over its seeds (`fuzz/seeds/<target>/`), its regressions
//! (`fuzz/regressions/<target>/`, crashes fuzzing found) and a few thousand cheap
//! deterministic mutations of the seeds: the test suite's short fuzzing run.

use super::*;
use std::time::{Duration, Instant};

/// Mutations of each seed: hundreds, fewer where one run costs milliseconds in a debug
/// build (a schedule walked from five instants, files written and loaded), so that the whole
/// test takes a few seconds.
fn mutations_per_seed(target: &str) -> usize {
    match target {
        "cron_schedule" => 50,
        "config_file" => 250,
        _ => 400,
    }
}

/// A tiny deterministic PRNG (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Tokens worth inserting into JSON, TOML and cron text.
const TOKENS: &[&[u8]] = &[
    b"null",
    b"true",
    b"[]",
    b"{}",
    b"\"\"",
    b"-1",
    b"0",
    b"1e999",
    b"-0.0",
    b"18446744073709551616",
    b"4294967295",
    b"\\u0000",
    b"\\ud800",
    "\u{10FFFF}".as_bytes(),
    b"%%",
    b"\n%%\n",
    b"\"Records\"",
    b"\"Type\":\"Notification\"",
    b"\"source\"",
    b"[[",
    b"]]",
    b"*",
    b"*/0",
    b"L",
    b"W",
    b"#5",
    b"MON-FRI",
    b"UTC",
    b"America/New_York",
    b"=",
    b"\"\"\"",
    b"'''",
    b"[[routes]]",
    b"\n",
];

fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(8) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = b"\0\xff\"{}[]:,\\0-9\n% "[rng.below(16)];
            }
            2 => v.insert(at, rng.next() as u8),
            3 => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                v.drain(at.min(end)..end);
            }
            4 => v.truncate(at),
            5 => {
                let from = rng.below(other.len() + 1);
                v.truncate(at);
                v.extend_from_slice(&other[from..]);
            }
            6 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                v.splice(at..at, token.iter().copied());
            }
            _ => {
                let start = rng.below(v.len() + 1);
                let end = (start + 1 + rng.below(32)).min(v.len());
                let chunk = v[start..end].to_vec();
                let to = rng.below(v.len() + 1);
                v.splice(to..to, chunk);
            }
        }
    }
    v
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).expect("readable")))
        .collect();
    out.sort();
    out
}

/// Runs `f` on `input`; on a panic, saves the input and fails naming it.
fn run(target: &str, what: &str, f: Target, input: &[u8]) {
    if std::panic::catch_unwind(|| f(input)).is_err() {
        let saved = std::env::temp_dir().join(format!("fanin-fuzzing-{target}-{}", crate::event::fingerprint(input)));
        let _ = std::fs::write(&saved, input);
        panic!("{target} panicked on {what}; the input is saved as {}", saved.display());
    }
}

fn exercise(target: &str, f: Target) -> usize {
    let started = Instant::now();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let seeds = files(&root.join("seeds").join(target));
    assert!(!seeds.is_empty(), "no seeds in fuzz/seeds/{target}/");
    for (name, input) in files(&root.join("regressions").join(target)) {
        run(target, &format!("regression {name}"), f, &input);
    }
    for (name, input) in &seeds {
        run(target, &format!("seed {name}"), f, input);
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ target.len() as u64);
    let mutations = mutations_per_seed(target) * seeds.len();
    for i in 0..mutations {
        let (name, seed) = &seeds[i % seeds.len()];
        let other = &seeds[rng.below(seeds.len())].1;
        let input = mutate(&mut rng, seed, other);
        run(target, &format!("mutation {i} of seed {name}"), f, &input);
    }
    eprintln!("{target}: {} seeds, {mutations} mutations, {:?}", seeds.len(), started.elapsed());
    seeds.len()
}

#[test]
fn every_target_survives_its_seeds_regressions_and_mutations() {
    let started = Instant::now();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for kind in ["seeds", "regressions"] {
        for dir in std::fs::read_dir(root.join(kind)).into_iter().flatten().flatten() {
            let name = dir.file_name().to_string_lossy().into_owned();
            assert!(TARGETS.iter().any(|(t, _)| *t == name), "fuzz/{kind}/{name} is no target's");
        }
    }
    std::thread::scope(|s| {
        let runs: Vec<_> = TARGETS
            .iter()
            .map(|&(target, f)| {
                // The stack a tokio worker has, where sources decode in the daemon.
                let thread = std::thread::Builder::new().name(target.into()).stack_size(2 << 20);
                (target, thread.spawn_scoped(s, move || exercise(target, f)).expect("a thread"))
            })
            .collect();
        for (target, run) in runs {
            let seeds = run.join().unwrap_or_else(|_| panic!("{target} failed (see above)"));
            assert!(seeds >= 5, "{target}: only {seeds} seeds");
        }
    });
    let took = started.elapsed();
    assert!(took < Duration::from_secs(30), "the seed run took {took:?}");
}
