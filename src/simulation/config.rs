//! The daemon configuration the simulation runs and reloads: sources reading simulated queues,
//! targets calling simulated functions, each target dead-lettering into a simulated sink.
//! Compared whole on reload, as `Running::apply` compares source and target settings.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::dispatch::settings::RetrySettings;

/// A source: which queue it reads, how, and where its events go.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSpec {
    pub queue: usize,
    pub pollers: usize,
    pub batch_size: i32,
    pub wait_time: Duration,
    pub visibility_timeout: Duration,
    /// Target names.
    pub routes: Vec<String>,
}

/// A target: which function it calls, under which limits, dead-lettering where.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetSpec {
    pub function: String,
    pub max_concurrency: usize,
    pub retry: RetrySettings,
    pub sink: usize,
    pub invoke_timeout: Duration,
}

/// Sources and targets by name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SimConfig {
    pub sources: BTreeMap<String, SourceSpec>,
    pub targets: BTreeMap<String, TargetSpec>,
}

impl SimConfig {
    /// Whether every route names a target there is (what the settings check refuses otherwise).
    pub fn is_valid(&self) -> bool {
        self.sources.values().all(|s| s.routes.iter().all(|t| self.targets.contains_key(t)))
    }
}
