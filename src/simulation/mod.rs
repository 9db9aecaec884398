//! A seeded, in-process simulation of fanin's core: the bounded queue, the dispatcher with its
//! targets, limits and retries, acknowledgements, the SQS reader, dead-letter sinks, reloads
//! and crashes, against a simulated SQS (`sqs.rs`), Lambda (`lambda.rs`) and sinks (`sink.rs`).
//!
//! One run follows one [`Plan`] (`schedule.rs`), drawn from a seed, on tokio's paused clock:
//! minutes of virtual time pass in milliseconds. The world writes what it saw into the
//! [`Ledger`] (`ledger.rs`), and after the run the ledger's checks say whether anything was
//! lost, deleted early, or delivered twice without a cause.

mod config;
mod directed;
mod instance;
mod jitter;
mod lambda;
mod ledger;
mod schedule;
mod sink;
mod sqs;
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::time::Instant;

pub(crate) use jitter::draw as jitter;
pub use ledger::{DuplicateCause, Ledger, Rules, Tally, Verdict};
pub use schedule::{Plan, Step};

use instance::Instance;
use lambda::SimFunction;
use sink::SimSink;
use sqs::SimQueue;

/// Where the simulated clock starts: 2025-01-01T00:00:00Z.
const EPOCH_SECS: u64 = 1_735_689_600;

/// The simulated outside world: it survives crashes and reloads.
pub struct World {
    pub queues: Vec<Arc<SimQueue>>,
    pub functions: BTreeMap<String, Arc<SimFunction>>,
    pub sinks: Vec<Arc<SimSink>>,
    pub ledger: Arc<Mutex<Ledger>>,
    pub capacity: usize,
    pub max_in_flight: usize,
}

impl World {
    fn new(plan: &Plan) -> Arc<World> {
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        // The world's own draws (which entry fails, which call throttles) come from the seed
        // too, apart from the plan's, so the plan stays the same whatever the run does.
        let rng = Arc::new(Mutex::new(StdRng::seed_from_u64(plan.seed ^ 0x005e_ed0f_7e57)));
        Arc::new(World {
            queues: plan.queues.iter().enumerate().map(|(i, fifo)| SimQueue::new(i, *fifo, ledger.clone(), rng.clone())).collect(),
            functions: plan
                .functions
                .iter()
                .map(|(name, spec)| (name.clone(), SimFunction::new(name, spec.clone(), ledger.clone(), rng.clone())))
                .collect(),
            sinks: (0..plan.sinks).map(|i| SimSink::new(i, ledger.clone())).collect(),
            ledger,
            capacity: plan.capacity,
            max_in_flight: plan.max_in_flight,
        })
    }

    /// Ends `instance` at once, noting what was in flight.
    fn crash(&self, instance: Instance) {
        let in_flight: Vec<String> = self.queues.iter().flat_map(|q| q.in_flight()).collect();
        self.ledger.lock().unwrap().crashed(&in_flight);
        instance.crash();
    }

    /// Every fault off, every sink up.
    fn heal(&self) {
        for q in &self.queues {
            q.set_faults(Default::default());
        }
        for f in self.functions.values() {
            f.set_faults(Default::default());
        }
        for s in &self.sinks {
            s.set_down(false);
        }
    }
}

/// What one run left: the ledger, and how far the drain got.
pub struct Run {
    pub plan: Plan,
    pub ledger: Ledger,
    /// Virtual time the run took.
    pub took: Duration,
}

impl Run {
    pub fn check(&self, rules: &Rules) -> Verdict {
        self.ledger.check(rules)
    }
}

/// Runs `plan` on a fresh current-thread runtime with paused time, the simulated clock and the
/// seeded backoff jitter on this thread.
pub fn run(plan: Plan) -> Run {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().expect("a runtime");
    jitter::seed(plan.seed);
    let world = World::new(&plan);
    let took = runtime.block_on(async {
        crate::clock::simulated::set(SystemTime::UNIX_EPOCH + Duration::from_secs(EPOCH_SECS));
        let started = Instant::now();
        drive(&plan, &world).await;
        let took = started.elapsed();
        crate::clock::simulated::clear();
        took
    });
    // Whatever the crashed instances left waiting is dropped with the runtime.
    drop(runtime);
    jitter::clear();
    let ledger = std::mem::take(&mut *world.ledger.lock().unwrap());
    Run { ledger, plan, took }
}

/// The run: messages sent on their schedule, the steps taken at their times, then every fault
/// healed and the settled configuration loaded, and the daemon given time to drain.
async fn drive(plan: &Plan, world: &Arc<World>) {
    let start = Instant::now();
    let publisher = {
        let (world, messages) = (world.clone(), plan.messages.clone());
        tokio::spawn(async move {
            for m in messages {
                tokio::time::sleep_until(start + m.at).await;
                world.queues[m.queue].send(m.group);
            }
        })
    };
    let mut current = plan.initial.clone();
    let mut instance = Some(Instance::start(world, &current));
    for (at, step) in &plan.steps {
        tokio::time::sleep_until(start + *at).await;
        take(world, &mut instance, &mut current, step).await;
    }
    tokio::time::sleep_until(start + plan.faults_end).await;
    world.heal();
    take(world, &mut instance, &mut current, &Step::Reload(plan.settled.clone())).await;
    publisher.await.expect("the publisher does not panic");
    let deadline = Instant::now() + plan.drain_limit;
    while !world.ledger.lock().unwrap().all_deleted() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    tokio::time::sleep(plan.linger).await;
    if let Some(instance) = instance.take() {
        instance.crash();
    }
}

async fn take(world: &Arc<World>, instance: &mut Option<Instance>, current: &mut crate::simulation::config::SimConfig, step: &Step) {
    let ledger = || world.ledger.lock().unwrap();
    match step {
        Step::Reload(config) => {
            ledger().tally.reloads += 1;
            *current = config.clone();
            if let Some(running) = instance {
                running.apply(current);
            }
        }
        Step::Crash { down_for } => {
            if let Some(running) = instance.take() {
                world.crash(running);
            }
            tokio::time::sleep(*down_for).await;
            *instance = Some(Instance::start(world, current));
        }
        Step::Sink { sink, down } => {
            ledger().tally.faults += u64::from(*down);
            world.sinks[*sink].set_down(*down);
        }
        Step::Function { function, faults } => {
            ledger().tally.faults += u64::from(*faults != Default::default());
            world.functions[function].set_faults(faults.clone());
        }
        Step::Queue { queue, faults } => {
            ledger().tally.faults += u64::from(*faults != Default::default());
            world.queues[*queue].set_faults(faults.clone());
        }
    }
}
