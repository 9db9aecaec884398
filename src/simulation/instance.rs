//! One daemon instance: queue, dispatcher, routes, targets and SQS readers, built and reloaded
//! as `daemon.rs` builds and reloads them, against the simulated world. A crash ends it at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::config::{SimConfig, SourceSpec, TargetSpec};
use super::sink::SinkHandle;
use super::sqs::SimWire;
use super::World;
use crate::dispatch::route::Route;
use crate::dispatch::settings::{InvocationType, TargetKind, TargetSettings};
use crate::dispatch::{Dispatcher, Routes, Target};
use crate::queue::{QueueSender, Retired};
use crate::sources::sqs::SqsShape;
use crate::sources::sqs_reader::{SqsReader, SqsSettings};
use crate::sources::{Source, SourceContext};
use crate::telemetry::health::Health;

/// The dispatcher's shutdown grace (used only when the run ends).
const GRACE: Duration = Duration::from_secs(5);

struct RunningSource {
    spec: SourceSpec,
    stop: CancellationToken,
    retired: Retired,
}

pub struct Instance {
    world: Arc<World>,
    /// False once crashed: every call it still makes then never reaches the world.
    alive: Arc<AtomicBool>,
    shutdown: CancellationToken,
    queue: QueueSender,
    routes: Arc<Routes>,
    health: Arc<Health>,
    targets: HashMap<String, (TargetSpec, Arc<Target>)>,
    sources: HashMap<String, RunningSource>,
}

impl Instance {
    /// Starts an instance running `config`: sources first, then the dispatcher, as `daemon::run`.
    pub fn start(world: &Arc<World>, config: &SimConfig) -> Instance {
        let (queue, queue_rx) = crate::queue::bounded(world.capacity);
        let health = Arc::new(Health::new(config.sources.keys().map(String::as_str)));
        let mut instance = Instance {
            world: world.clone(),
            alive: Arc::new(AtomicBool::new(true)),
            shutdown: CancellationToken::new(),
            queue,
            routes: Arc::default(),
            health: health.clone(),
            targets: HashMap::new(),
            sources: HashMap::new(),
        };
        instance.apply(config);
        let dispatcher = Dispatcher::new(instance.routes.clone(), world.max_in_flight, health);
        tokio::spawn(dispatcher.run(queue_rx, instance.shutdown.clone(), GRACE));
        instance
    }

    /// `Running::apply`: unchanged targets kept (with their adaptive limits), removed or changed
    /// sources retired, then stopped, then the routes replaced, then new sources started.
    pub fn apply(&mut self, config: &SimConfig) {
        assert!(config.is_valid(), "a configuration whose routes name missing targets would be refused");
        let mut targets = HashMap::new();
        for (name, spec) in &config.targets {
            let target = match self.targets.get(name).filter(|(old, _)| old == spec) {
                Some((_, target)) => target.clone(),
                None => self.build_target(name, spec),
            };
            targets.insert(name.clone(), (spec.clone(), target));
        }
        let resolved: HashMap<String, Arc<Target>> = targets.iter().map(|(n, (_, t))| (n.clone(), t.clone())).collect();
        let routes: HashMap<String, Vec<Route>> =
            config.sources.iter().map(|(n, s)| (n.clone(), s.routes.iter().map(|t| Route::to(t)).collect())).collect();
        self.sources.retain(|name, running| {
            let keep = config.sources.get(name) == Some(&running.spec);
            if !keep {
                running.retired.retire();
                running.stop.cancel();
            }
            keep
        });
        self.routes.set(&resolved, &routes);
        self.targets = targets;
        for (name, spec) in &config.sources {
            if !self.sources.contains_key(name) {
                self.start_source(name, spec);
            }
        }
    }

    fn build_target(&self, name: &str, spec: &TargetSpec) -> Arc<Target> {
        let settings = TargetSettings {
            kind: TargetKind::Function(spec.function.clone()),
            qualifier: None,
            max_concurrency: spec.max_concurrency,
            rate: None,
            retry: spec.retry.clone(),
            dlq: None,
            invocation_type: InvocationType::Event,
            log_type: Default::default(),
            on_success: None,
            client_context: None,
            invoke_timeout: spec.invoke_timeout,
            large_payloads: None,
        };
        let call = self.world.functions[&spec.function].call(name, self.alive.clone(), spec.invoke_timeout);
        let sink = Arc::new(SinkHandle { sink: self.world.sinks[spec.sink].clone(), alive: self.alive.clone() });
        Arc::new(Target::new(name, &settings, call, sink))
    }

    fn start_source(&mut self, name: &str, spec: &SourceSpec) {
        let queue = &self.world.queues[spec.queue];
        let settings = SqsSettings {
            queue_url: queue.url(),
            shape: SqsShape::Body,
            pollers: spec.pollers,
            batch_size: spec.batch_size,
            wait_time: spec.wait_time,
            visibility_timeout: spec.visibility_timeout,
            task_token: None,
            heartbeat: None,
            origin: None,
        };
        let wire = SimWire { queue: queue.clone(), routes: spec.routes.clone(), alive: self.alive.clone() };
        let reader: Box<dyn Source> = Box::new(SqsReader::with_wire(settings, Box::new(wire)));
        let stop = self.shutdown.child_token();
        let (queue, retired) = self.queue.for_source();
        let ctx = SourceContext {
            name: name.into(),
            queue,
            shutdown: stop.clone(),
            state_dir: std::env::temp_dir(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            health: self.health.clone(),
        };
        tokio::spawn(async move {
            let _ = reader.run(ctx).await;
        });
        self.sources.insert(name.to_string(), RunningSource { spec: spec.clone(), stop, retired });
    }

    /// Drops everything at once: from now on nothing it does reaches SQS, Lambda or a sink
    /// (its calls in progress never return), and its tasks are told to stop so they do not
    /// keep the simulated clock busy. Nothing is settled, nothing drained.
    pub fn crash(self) {
        self.alive.store(false, Ordering::SeqCst);
        self.shutdown.cancel();
    }
}
