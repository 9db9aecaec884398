//! `fanin run`: builds sources, dispatcher and sinks from a configuration and runs them until
//! the shutdown token is cancelled (tests inject it; `main` cancels it on SIGINT/SIGTERM).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::config::{Config, DEFAULT_DLQ};
use crate::dispatch::{Dispatcher, Invoker, Target};
use crate::sources::{self, SourceContext};
use crate::telemetry::health::Health;
use crate::telemetry::{events, server, systemd};

/// The process-wide Prometheus recorder (installed on first use).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE.get_or_init(events::install_recorder).clone()
}

/// Time sources get, after the dispatcher has finished, to delete what settled.
const SOURCE_FLUSH: Duration = Duration::from_secs(10);

/// Runs the daemon until `shutdown` is cancelled, then drains within `shutdown_grace`.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let health = Arc::new(Health::new(config.sources.iter().map(|s| s.name.as_str())));
    let listener = TcpListener::bind(config.metrics.listen)
        .await
        .with_context(|| format!("[metrics] listen = \"{}\": cannot listen there", config.metrics.listen))?;
    info!(listen = %listener.local_addr()?, "metrics, /healthz and /readyz listening");
    tokio::spawn(server::serve(listener, metrics_handle(), health.clone(), shutdown.clone()));

    let sdk = crate::aws::load(&config.aws).await;
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
    let sinks = crate::dlq::build_all(&config, &sdk);

    let mut targets = HashMap::new();
    for (name, settings) in &config.targets {
        let invoker = Invoker::new(crate::aws::lambda(&sdk, settings.invoke_timeout), settings);
        let sink = sinks[settings.dlq.as_deref().unwrap_or(DEFAULT_DLQ)].clone();
        targets.insert(name.clone(), Arc::new(Target::new(name, settings, invoker, sink)));
    }
    let routes = config.sources.iter().map(|s| (s.name.clone(), s.routes.clone())).collect();
    let capacity = config.daemon.queue_capacity;
    let dispatcher = Dispatcher::new(targets, routes, config.daemon.max_in_flight, capacity, health.clone());
    let (queue, queue_rx) = crate::queue::bounded(capacity);

    let running = TaskTracker::new();
    for settings in &config.sources {
        let source = sources::build(settings, &sdk);
        let ctx = SourceContext {
            name: settings.name.as_str().into(),
            queue: queue.clone(),
            shutdown: shutdown.clone(),
            state_dir: config.daemon.state_dir.clone(),
            region: region.clone(),
            health: health.clone(),
        };
        let name = settings.name.clone();
        running.spawn(async move {
            if let Err(e) = source.run(ctx).await {
                error!(source = %name, error = %e, "source stopped with an error");
            }
        });
    }
    drop(queue);
    running.close();
    info!(sources = config.sources.len(), targets = config.targets.len(), "fanin running");
    systemd::ready();

    dispatcher.run(queue_rx, shutdown.clone(), config.daemon.shutdown_grace).await;
    info!("dispatcher stopped; settling sources");
    if tokio::time::timeout(SOURCE_FLUSH, running.wait()).await.is_err() {
        warn!("sources did not finish deleting in time; undeleted messages will be delivered again");
    }
    Ok(())
}
