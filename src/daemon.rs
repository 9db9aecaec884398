//! `fanin run`: builds sources, dispatcher and sinks from a configuration and runs them until
//! the shutdown token is cancelled (tests inject it; `main` cancels it on SIGINT/SIGTERM),
//! re-reading the configuration on each message from `reloads` (SIGHUP).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use aws_config::SdkConfig;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::dispatch::claim_check::ClaimCheck;
use crate::dispatch::route::Route;
use crate::dispatch::settings::TargetSettings;
use crate::dispatch::{Call, Dispatcher, Routes, Target};
use crate::dlq::settings::DEFAULT_DLQ;
use crate::dlq::DeadLetterSink;
use crate::queue::{QueueSender, Retired};
use crate::settings::Config;
use crate::sources::SourceSettings;
use crate::sources::{self, SourceContext};
use crate::telemetry::events::{self, ConfigReloaded};
use crate::telemetry::health::Health;
use crate::telemetry::{server, systemd};

/// The process-wide Prometheus recorder (installed on first use).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE.get_or_init(events::install_recorder).clone()
}

/// Time sources get, after the dispatcher has finished, to delete what settled.
const SOURCE_FLUSH: Duration = Duration::from_secs(10);
/// How often a target that failed its start-up check is checked again.
const TARGET_RECHECK: Duration = Duration::from_secs(60);

/// Runs the daemon until `shutdown` is cancelled, then drains within `shutdown_grace`.
pub async fn run(config: Config, shutdown: CancellationToken, mut reloads: mpsc::Receiver<()>) -> anyhow::Result<()> {
    let instance = crate::instance::Instance::claim(&config)?;
    let health = Arc::new(Health::new(config.sources.iter().map(|s| s.name.as_str())));
    let listener = TcpListener::bind(config.metrics.listen)
        .await
        .with_context(|| format!("[metrics] listen = \"{}\": cannot listen there", config.metrics.listen))?;
    info!(listen = %listener.local_addr()?, "metrics, /healthz and /readyz listening");
    tokio::spawn(server::serve(listener, metrics_handle(), health.clone(), shutdown.clone()));
    tokio::spawn(events::upkeep(metrics_handle(), shutdown.clone()));

    log_warnings(&config);
    // Before the sources start: each registers its path on this listener.
    let http = sources::http::server::Server::start(&config.http, shutdown.clone()).await?;
    let sdk = crate::aws::load(&config.aws).await;
    match crate::aws::check_ready(&sdk, &config.aws).await {
        // A source of credentials that fails now (STS unreachable at boot, a role not yet
        // trusted) may work in a minute: the SDK asks again on every call, so run and say so.
        Err(crate::aws::SetupError::Credentials(why)) => {
            tracing::error!("credentials cannot be had yet; every AWS call asks again: {why}")
        }
        ready => ready?,
    }
    let account = crate::aws::account_id(&sdk, &config.aws).await?;
    info!(account, instance = %instance.id, "identity");
    let capacity = config.daemon.queue_capacity;
    let (queue, queue_rx) = crate::queue::bounded(capacity);
    let mut running = Running {
        region: crate::aws::region(&sdk),
        account,
        instance: instance.id.clone(),
        sdk,
        config: config.clone(),
        targets: HashMap::new(),
        routes: Arc::default(),
        sources: HashMap::new(),
        tasks: TaskTracker::new(),
        queue,
        health: health.clone(),
        shutdown: shutdown.clone(),
        http,
    };
    running.apply(config);
    let dispatcher = Dispatcher::new(running.routes.clone(), running.config.daemon.max_in_flight, health);
    let dispatching = tokio::spawn(dispatcher.run(queue_rx, shutdown.clone(), running.config.daemon.shutdown_grace));
    info!(sources = running.sources.len(), targets = running.targets.len(), "fanin running");
    systemd::ready();

    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(()) = reloads.recv() => running.reload(),
        }
    }
    dispatching.await?;
    info!("dispatcher stopped; settling sources");
    running.tasks.close();
    if tokio::time::timeout(SOURCE_FLUSH, running.tasks.wait()).await.is_err() {
        warn!("sources did not finish deleting in time; undeleted messages will be delivered again");
    }
    info!("{}", events::run_summary(&metrics_handle().render()));
    Ok(())
}

/// One warning line per no-op of the configuration, as `validate` lists them.
fn log_warnings(config: &Config) {
    for w in config.warnings() {
        warn!(file = %w.file.display(), key = %w.key, "{}", w.message);
    }
}

/// A source task and what it was started with.
struct RunningSource {
    settings: SourceSettings,
    stop: CancellationToken,
    /// Releases its events still in the queue once it is removed or changed.
    retired: Retired,
}

/// What runs now, and what a reload changes.
struct Running {
    sdk: SdkConfig,
    region: String,
    /// The account ARNs and events are filled with.
    account: String,
    /// This instance's id, the owner of its fleet claims.
    instance: String,
    config: Config,
    targets: HashMap<String, (TargetSettings, Arc<Target>)>,
    routes: Arc<Routes>,
    sources: HashMap<String, RunningSource>,
    tasks: TaskTracker,
    queue: QueueSender,
    health: Arc<Health>,
    shutdown: CancellationToken,
    /// The webhook listener of `http` sources (`[http] listen`).
    http: Option<Arc<sources::http::server::Server>>,
}

impl Running {
    /// (region, account): what completes a function given by name into its ARN.
    fn scope(&self) -> (&str, &str) {
        (&self.region, &self.account)
    }

    /// Re-reads the configuration file; a configuration that does not load is refused and
    /// the one running stays.
    fn reload(&mut self) {
        systemd::reloading();
        match Config::load(&self.config.file) {
            Ok(config) => {
                for (what, old, new) in [
                    ("daemon.queue_capacity", self.config.daemon.queue_capacity, config.daemon.queue_capacity),
                    ("daemon.max_in_flight", self.config.daemon.max_in_flight, config.daemon.max_in_flight),
                ] {
                    if old != new {
                        warn!(key = what, "changed; takes effect at the next restart");
                    }
                }
                if self.config.daemon.state_dir != config.daemon.state_dir
                    || self.config.metrics.listen != config.metrics.listen
                    || self.config.aws.region != config.aws.region
                    || self.config.fleet != config.fleet
                    || self.config.http != config.http
                {
                    warn!("state_dir, [metrics], [aws], [fleet] and [http] changes take effect at the next restart");
                }
                // The same files, perhaps renewed: a certificate is replaced without a restart.
                if let Some(http) = &self.http {
                    http.reload_tls();
                }
                log_warnings(&config);
                self.apply(config);
                ConfigReloaded { ok: true }.emit();
                info!(sources = self.sources.len(), targets = self.targets.len(), "configuration reloaded");
            }
            Err(e) => {
                ConfigReloaded { ok: false }.emit();
                error!(error = %e, "configuration reload refused; the running configuration stays");
            }
        }
        systemd::ready();
    }

    /// Brings targets, routes and sources in line with `config`: unchanged ones keep running
    /// (and keep their adaptive limits), changed ones are replaced, removed sources stop
    /// pulling and finish what they handed out.
    fn apply(&mut self, config: Config) {
        crate::telemetry::log_limit::set_log_payloads(config.daemon.log_payloads);
        crate::telemetry::xray::set_start_traces(config.tracing.start_traces);
        let sinks = crate::dlq::build_all(&config.dlq, &config.default_dlq_path(), &self.sdk);
        let mut targets = HashMap::new();
        for (name, settings) in &config.targets {
            let unchanged = self.targets.get(name).filter(|(old, _)| {
                let sink = |c: &Config, name: &Option<String>| name.as_ref().and_then(|n| c.dlq.get(n)).cloned();
                old == settings
                    && config.dlq_of(settings) == self.config.dlq_of(settings)
                    && sink(&config, &settings.on_success) == sink(&self.config, &settings.on_success)
            });
            let target = match unchanged {
                Some((_, target)) => target.clone(),
                None => {
                    let target = build_target(&self.sdk, self.scope(), name, settings, &sinks);
                    self.check_target(name, &target, &config);
                    target
                }
            };
            targets.insert(name.clone(), (settings.clone(), target));
        }
        for gone in self.targets.keys().filter(|name| !config.targets.contains_key(*name)) {
            self.health.target_cleared(gone);
        }
        let resolved: HashMap<String, Arc<Target>> = targets.iter().map(|(n, (_, t))| (n.clone(), t.clone())).collect();
        let routes: HashMap<String, Vec<Route>> = config.sources.iter().map(|s| (s.name.clone(), s.routes.clone())).collect();

        // Retired before the routes change: the events a removed or changed source handed on
        // and the dispatcher has not taken yet are released and stay upstream, instead of
        // meeting routes that are no longer theirs (none at all: "unrouted", and deleted).
        let wanted: BTreeMap<&str, &SourceSettings> = config.sources.iter().map(|s| (s.name.as_str(), s)).collect();
        self.sources.retain(|name, running| {
            let keep = wanted.get(name.as_str()).is_some_and(|s| **s == running.settings);
            if !keep {
                info!(source = %name, "stopping source (removed or changed); what it handed on and was not dispatched yet stays upstream");
                running.retired.retire();
                running.stop.cancel();
                self.health.source_removed(name);
            }
            keep
        });
        self.routes.set(&resolved, &routes);
        self.targets = targets;
        let new: Vec<SourceSettings> = config.sources.iter().filter(|s| !self.sources.contains_key(&s.name)).cloned().collect();
        for settings in new {
            self.start(settings, &config);
        }
        self.config = config;
    }

    /// Checks a new or changed target the way `validate` does, in the background so that a slow
    /// AWS does not hold start-up: a target that fails makes `/readyz` not ready with the reason
    /// and logs one error, and is checked again every [`TARGET_RECHECK`] until it passes (a
    /// function created after the start). A target replaced or removed meanwhile stops its check.
    fn check_target(&self, name: &str, target: &Arc<Target>, config: &Config) {
        let this = Arc::downgrade(target);
        let (name, config, sdk, health, shutdown) =
            (name.to_string(), config.clone(), self.sdk.clone(), self.health.clone(), self.shutdown.clone());
        health.target_cleared(&name);
        tokio::spawn(async move {
            let mut said = false;
            loop {
                let problem = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    problem = crate::validate::target_problem(&config, &sdk, &name) => problem,
                };
                if this.strong_count() == 0 {
                    return;
                }
                match problem {
                    None => {
                        health.target_cleared(&name);
                        if said {
                            info!(target_name = %name, "target passes its check now");
                        }
                        return;
                    }
                    Some(why) => {
                        if !said {
                            error!(target_name = %name, "target fails its check: {why}");
                            said = true;
                        }
                        health.target_failed(&name, why);
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(TARGET_RECHECK) => {}
                }
            }
        });
    }

    fn start(&mut self, settings: SourceSettings, config: &Config) {
        let stop = self.shutdown.child_token();
        let source = sources::build(&settings, &self.sdk, &config.fleet, &self.instance);
        self.health.source_starting(&settings.name);
        let (queue, retired) = self.queue.for_source();
        let ctx = SourceContext {
            name: settings.name.as_str().into(),
            queue,
            shutdown: stop.clone(),
            state_dir: config.daemon.state_dir.clone(),
            region: self.region.clone(),
            account: self.account.clone(),
            health: self.health.clone(),
        };
        let name = settings.name.clone();
        self.tasks.spawn(async move {
            if let Err(e) = source.run(ctx).await {
                error!(source = %name, error = %e, "source stopped with an error");
            }
        });
        self.sources.insert(settings.name.clone(), RunningSource { settings, stop, retired });
    }
}

fn build_target(
    sdk: &SdkConfig,
    scope: (&str, &str),
    name: &str,
    settings: &TargetSettings,
    sinks: &BTreeMap<String, Arc<dyn DeadLetterSink>>,
) -> Arc<Target> {
    let call = Call::of(sdk, settings, name, Some(scope));
    let dlq = sinks[settings.dlq.as_deref().unwrap_or(DEFAULT_DLQ)].clone();
    let on_success = settings.on_success.as_ref().map(|s| sinks[s].clone());
    let target = Target::new(name, settings, call, dlq).with_claim_check(ClaimCheck::of(settings, sdk)).with_on_success(on_success);
    Arc::new(target)
}
