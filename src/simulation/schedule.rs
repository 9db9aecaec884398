//! The seeded plan of one run: the world (queues, functions, sinks), the configuration, the
//! messages and when they are sent, and the fault schedule (outages, reloads, crashes).
//!
//! The whole plan is drawn from the seed before the run starts, so one seed always gives the
//! same plan, whatever the run's own interleavings do.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::config::{SimConfig, SourceSpec, TargetSpec};
use super::lambda::{FnFaults, FunctionSpec};
use super::sqs::SqsFaults;
use crate::dispatch::settings::RetrySettings;

/// One message to send.
#[derive(Debug, Clone)]
pub struct Publish {
    pub at: Duration,
    pub queue: usize,
    pub group: Option<String>,
}

/// Something that happens to the world or the daemon at a moment of the run.
#[derive(Debug, Clone)]
pub enum Step {
    /// The daemon reloads this configuration.
    Reload(SimConfig),
    /// The daemon crashes and is started again after `down_for`.
    Crash {
        down_for: Duration,
    },
    Sink {
        sink: usize,
        down: bool,
    },
    Function {
        function: String,
        faults: FnFaults,
    },
    Queue {
        queue: usize,
        faults: SqsFaults,
    },
}

/// One run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub seed: u64,
    /// Whether each queue is FIFO.
    pub queues: Vec<bool>,
    pub functions: BTreeMap<String, FunctionSpec>,
    pub sinks: usize,
    pub capacity: usize,
    pub max_in_flight: usize,
    pub initial: SimConfig,
    /// What runs once the faults are over: every queue read again.
    pub settled: SimConfig,
    pub messages: Vec<Publish>,
    /// In time order.
    pub steps: Vec<(Duration, Step)>,
    /// When every fault ends and `settled` is loaded.
    pub faults_end: Duration,
    /// How long the healthy daemon gets, after that, to delete everything.
    pub drain_limit: Duration,
    /// How long the run goes on once everything is deleted, for late duplicates to show.
    pub linger: Duration,
}

fn ms(rng: &mut StdRng, from: u64, to: u64) -> Duration {
    Duration::from_millis(rng.random_range(from..=to))
}

/// A chance of `p` that a fault is on, and then how likely it is per call.
fn some(rng: &mut StdRng, p: f64, from: f64, to: f64) -> f64 {
    if rng.random_bool(p) {
        rng.random_range(from..to)
    } else {
        0.0
    }
}

impl Plan {
    /// The plan seed `seed` draws: small (tens of messages, up to three queues, sources and
    /// targets), faults during the first three minutes, then a healthy drain.
    pub fn from_seed(seed: u64) -> Plan {
        let mut rng = StdRng::seed_from_u64(seed);
        let rng = &mut rng;
        let queues: Vec<bool> = (0..rng.random_range(1..=3)).map(|_| rng.random_bool(0.4)).collect();
        let functions: BTreeMap<String, FunctionSpec> = (0..rng.random_range(2..=4))
            .map(|i| {
                let spec = FunctionSpec { latency: ms(rng, 5, 800), reserved: rng.random_bool(0.4).then(|| rng.random_range(2..=12)) };
                (format!("f{i}"), spec)
            })
            .collect();
        let sinks = rng.random_range(1..=2);
        let mut targets = BTreeMap::new();
        for i in 0..rng.random_range(1..=3) {
            let spec = TargetSpec {
                function: format!("f{}", rng.random_range(0..functions.len())),
                max_concurrency: rng.random_range(1..=16),
                retry: RetrySettings {
                    max_attempts: rng.random_range(2..=6),
                    base_delay: ms(rng, 50, 1000),
                    max_delay: ms(rng, 2000, 30_000),
                    ..RetrySettings::default()
                },
                sink: rng.random_range(0..sinks),
                invoke_timeout: ms(rng, 1000, 10_000),
            };
            targets.insert(format!("t{i}"), spec);
        }
        let names: Vec<String> = targets.keys().cloned().collect();
        let mut sources = BTreeMap::new();
        for queue in 0..queues.len() {
            let n = rng.random_range(1..=names.len().min(2));
            let mut routes = names.clone();
            while routes.len() > n {
                routes.remove(rng.random_range(0..routes.len()));
            }
            let spec = SourceSpec {
                queue,
                pollers: rng.random_range(1..=3),
                batch_size: rng.random_range(1..=10),
                wait_time: Duration::from_secs(rng.random_range(1..=20)),
                visibility_timeout: Duration::from_secs(rng.random_range(5..=60)),
                routes,
            };
            sources.insert(format!("s{queue}"), spec);
        }
        let initial = SimConfig { sources, targets };

        let groups: Vec<usize> = queues.iter().map(|_| rng.random_range(1..=3)).collect();
        let mut messages: Vec<Publish> = (0..rng.random_range(10..=60))
            .map(|_| {
                let queue = rng.random_range(0..queues.len());
                let group = queues[queue].then(|| format!("g{}", rng.random_range(0..groups[queue])));
                Publish { at: ms(rng, 0, 120_000), queue, group }
            })
            .collect();
        messages.sort_by_key(|m| m.at);

        let faults_end = Duration::from_secs(180);
        let mut steps = Vec::new();
        for _ in 0..rng.random_range(0..=8) {
            let at = ms(rng, 0, 150_000);
            let until = (at + ms(rng, 5_000, 60_000)).min(faults_end);
            match rng.random_range(0..6) {
                0 => {
                    let sink = rng.random_range(0..sinks);
                    steps.push((at, Step::Sink { sink, down: true }));
                    steps.push((until, Step::Sink { sink, down: false }));
                }
                1 => {
                    let function = format!("f{}", rng.random_range(0..functions.len()));
                    let faults = FnFaults {
                        throttle: some(rng, 0.5, 0.05, 0.5),
                        retry_after: rng.random_bool(0.5).then(|| ms(rng, 200, 3000)),
                        server_error: some(rng, 0.5, 0.05, 0.5),
                        function_error: some(rng, 0.3, 0.05, 0.6),
                        not_found: some(rng, 0.2, 0.05, 0.5),
                        stall: some(rng, 0.3, 0.02, 0.2),
                    };
                    steps.push((at, Step::Function { function: function.clone(), faults }));
                    steps.push((until, Step::Function { function, faults: FnFaults::default() }));
                }
                2 => {
                    let queue = rng.random_range(0..queues.len());
                    let faults = SqsFaults {
                        receive_error: some(rng, 0.5, 0.1, 0.8),
                        call_error: some(rng, 0.3, 0.05, 0.3),
                        entry_failure: some(rng, 0.5, 0.05, 0.3),
                        hand_out_again: some(rng, 0.5, 0.05, 0.3),
                    };
                    steps.push((at, Step::Queue { queue, faults }));
                    steps.push((until, Step::Queue { queue, faults: SqsFaults::default() }));
                }
                3 => steps.push((at, Step::Crash { down_for: ms(rng, 0, 20_000) })),
                _ => {
                    let config = mutate(rng, &initial, functions.len());
                    steps.push((at, Step::Reload(config)));
                }
            }
        }
        steps.sort_by_key(|(at, _)| *at);
        Plan {
            seed,
            queues,
            functions,
            sinks,
            capacity: rng.random_range(5..=50),
            max_in_flight: rng.random_range(8..=64),
            settled: initial.clone(),
            initial,
            messages,
            steps,
            faults_end,
            drain_limit: Duration::from_secs(30 * 60),
            linger: Duration::from_secs(60),
        }
    }
}

/// `config` with one or two changes a reload makes: a source removed together with the
/// targets only it used; a source changed (visibility, batch, pollers, routes); a target's
/// function changed; a target's limit changed.
fn mutate(rng: &mut StdRng, config: &SimConfig, functions: usize) -> SimConfig {
    let mut config = config.clone();
    for _ in 0..rng.random_range(1..=2) {
        let sources: Vec<String> = config.sources.keys().cloned().collect();
        let targets: Vec<String> = config.targets.keys().cloned().collect();
        match rng.random_range(0..4) {
            0 if !sources.is_empty() => {
                let name = &sources[rng.random_range(0..sources.len())];
                let removed = config.sources.remove(name).expect("listed");
                for target in removed.routes {
                    if !config.sources.values().any(|s| s.routes.contains(&target)) {
                        config.targets.remove(&target);
                    }
                }
            }
            1 if !sources.is_empty() => {
                let name = &sources[rng.random_range(0..sources.len())];
                let source = config.sources.get_mut(name).expect("listed");
                match rng.random_range(0..4) {
                    0 => source.visibility_timeout = Duration::from_secs(rng.random_range(5..=60)),
                    1 => source.batch_size = rng.random_range(1..=10),
                    2 => source.pollers = rng.random_range(1..=3),
                    _ => match targets.get(rng.random_range(0..targets.len().max(1))) {
                        Some(other) if !source.routes.contains(other) => source.routes.push(other.clone()),
                        Some(other) if source.routes.len() > 1 => source.routes.retain(|t| t != other),
                        _ => {}
                    },
                }
            }
            2 if !targets.is_empty() => {
                let name = &targets[rng.random_range(0..targets.len())];
                config.targets.get_mut(name).expect("listed").function = format!("f{}", rng.random_range(0..functions));
            }
            3 if !targets.is_empty() => {
                let name = &targets[rng.random_range(0..targets.len())];
                config.targets.get_mut(name).expect("listed").max_concurrency = rng.random_range(1..=16);
            }
            _ => {}
        }
    }
    config
}
