//! The whole configuration: the daemon file and the directory of source files, each part's
//! settings read by [`crate::config`] into the structs that live with the part, then checked
//! across parts (routes name targets, targets name sinks).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::aws::AwsSettings;
use crate::config::limits::{at_most, duration_between, not_empty};
use crate::config::{deserialize_at, read_daemon_file, read_table, ConfigError};
use crate::dispatch::route::Route;
use crate::dispatch::settings::TargetSettings;
use crate::dlq::settings::DlqSettings;
use crate::sources::cron::claim::FleetSettings;
use crate::sources::http::HttpServerSettings;
use crate::sources::{SourceKind, SourceSettings};
use crate::telemetry::server::MetricsSettings;
use crate::telemetry::xray::TracingSettings;

/// The whole configuration: the daemon file plus every source file, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The daemon file this was loaded from.
    pub file: PathBuf,
    pub daemon: DaemonSettings,
    pub aws: AwsSettings,
    pub metrics: MetricsSettings,
    pub fleet: FleetSettings,
    /// `[http]`: the listener of the `http` sources.
    pub http: HttpServerSettings,
    /// `[tracing]`: what fanin does about X-Ray traces.
    pub tracing: TracingSettings,
    /// Dead-letter sinks by name (from the daemon file and source files).
    pub dlq: BTreeMap<String, DlqSettings>,
    /// Lambda targets by name (from the daemon file and source files).
    pub targets: BTreeMap<String, TargetSettings>,
    /// One entry per file in `sources_dir`, sorted by name.
    pub sources: Vec<SourceSettings>,
}

/// `[daemon]`: where things live and the global limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonSettings {
    /// Directory of source files, one source per `*.toml`; relative to the daemon file.
    pub sources_dir: PathBuf,
    /// Cron state and the default dead-letter file; relative to the daemon file.
    pub state_dir: PathBuf,
    /// Events that may wait between the sources and the dispatcher.
    pub queue_capacity: usize,
    /// Invocations in flight across all targets.
    pub max_in_flight: usize,
    /// How long SIGTERM waits for in-flight invokes and dead-letter writes.
    #[serde(deserialize_with = "crate::config::duration")]
    pub shutdown_grace: Duration,
    /// Put event payloads in log lines about failures (off: payloads may hold personal data).
    pub log_payloads: bool,
}

/// The most events `queue_capacity` may let wait: each holds its payload (up to 1 MB) in
/// memory, and the queue's semaphore cannot count past `Semaphore::MAX_PERMITS` anyway.
pub const MAX_QUEUE_CAPACITY: u64 = 1_000_000;
/// The most invocations `max_in_flight` may allow at once: each is an open connection, and
/// Lambda's own concurrency quotas are in the tens of thousands.
pub const MAX_IN_FLIGHT: u64 = 100_000;
/// The longest `shutdown_grace`: systemd and the operator wait this long on SIGTERM.
pub const MAX_SHUTDOWN_GRACE: Duration = Duration::from_secs(3600);

impl DaemonSettings {
    /// Refuses limits the daemon cannot hold or paths that name nothing, naming the key of
    /// the daemon file `file`.
    pub fn check(&self, file: &Path) -> Result<(), ConfigError> {
        not_empty(file, "daemon.sources_dir", &self.sources_dir.to_string_lossy())?;
        not_empty(file, "daemon.state_dir", &self.state_dir.to_string_lossy())?;
        if self.queue_capacity == 0 {
            return Err(ConfigError::new(file, "daemon.queue_capacity", "must be at least 1"));
        }
        at_most(file, "daemon.queue_capacity", self.queue_capacity as u64, MAX_QUEUE_CAPACITY)?;
        if self.max_in_flight == 0 {
            return Err(ConfigError::new(file, "daemon.max_in_flight", "must be at least 1"));
        }
        at_most(file, "daemon.max_in_flight", self.max_in_flight as u64, MAX_IN_FLIGHT)?;
        duration_between(file, "daemon.shutdown_grace", self.shutdown_grace, Duration::ZERO, MAX_SHUTDOWN_GRACE)
    }
}

impl Default for DaemonSettings {
    fn default() -> Self {
        DaemonSettings {
            sources_dir: PathBuf::from("sources"),
            state_dir: PathBuf::from("/var/lib/fanin"),
            queue_capacity: 10_000,
            max_in_flight: 256,
            shutdown_grace: Duration::from_secs(30),
            log_payloads: false,
        }
    }
}

/// The daemon file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DaemonFile {
    /// `[daemon]`: where things live and the global limits.
    #[serde(default)]
    daemon: DaemonSettings,
    /// `[aws]`: region, profile, role, endpoint, account.
    #[serde(default)]
    aws: AwsSettings,
    /// `[metrics]`: where the operator's endpoints listen.
    #[serde(default)]
    metrics: MetricsSettings,
    /// `[fleet]`: where cron fires are claimed when several hosts run this configuration.
    #[serde(default)]
    fleet: FleetSettings,
    /// `[http]`: where the webhooks of `http` sources are received.
    #[serde(default)]
    http: HttpServerSettings,
    /// `[tracing]`: what fanin does about X-Ray traces.
    #[serde(default)]
    tracing: TracingSettings,
    /// `[dlq.NAME]`: dead-letter sinks.
    #[serde(default)]
    dlq: BTreeMap<String, DlqSettings>,
    /// `[targets.NAME]`: what events are sent to.
    #[serde(default)]
    targets: BTreeMap<String, TargetSettings>,
}

impl Config {
    /// Loads the daemon file (with `FANIN__SECTION__KEY` overrides) and every source file.
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        Self::load_unblamed(file).map_err(|e| if e.file == file { e.blaming_variable() } else { e })
    }

    fn load_unblamed(file: &Path) -> Result<Config, ConfigError> {
        let parsed: DaemonFile = read_daemon_file(file)?;
        // Before the sources are read: an empty `sources_dir` would read this very file as one.
        parsed.daemon.check(file)?;
        parsed.aws.check(file)?;
        parsed.fleet.check(file)?;
        parsed.http.check(file)?;

        let base = file.parent().unwrap_or(Path::new(".")).to_path_buf();
        let mut daemon = parsed.daemon;
        daemon.sources_dir = base.join(&daemon.sources_dir);
        daemon.state_dir = base.join(&daemon.state_dir);
        let mut http = parsed.http;
        http.resolve(&base);
        let mut dlq = parsed.dlq;
        for sink in dlq.values_mut() {
            if let DlqSettings::File { path: Some(p) } = sink {
                *p = base.join(&*p);
            }
        }

        let mut config = Config {
            file: file.to_path_buf(),
            daemon,
            aws: parsed.aws,
            metrics: parsed.metrics,
            fleet: parsed.fleet,
            http,
            tracing: parsed.tracing,
            dlq,
            targets: parsed.targets,
            sources: Vec::new(),
        };
        let mut defined_in: BTreeMap<String, PathBuf> = BTreeMap::new();
        for name in config.targets.keys() {
            defined_in.insert(format!("targets.{name}"), file.to_path_buf());
        }
        for name in config.dlq.keys() {
            defined_in.insert(format!("dlq.{name}"), file.to_path_buf());
        }
        config.load_sources(&mut defined_in)?;
        config.validate(&defined_in)?;
        Ok(config)
    }

    fn load_sources(&mut self, defined_in: &mut BTreeMap<String, PathBuf>) -> Result<(), ConfigError> {
        let dir = self.daemon.sources_dir.clone();
        let entries = match std::fs::read_dir(&dir) {
            // No directory is no source, as an empty one is: a warning (`Config::warnings`).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            other => {
                other.map_err(|e| ConfigError::new(&self.file, "daemon.sources_dir", format!("cannot read {}: {e}", dir.display())))?
            }
        };
        // The daemon file's own directory would make it a source file too.
        let own = self.file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if dir.canonicalize().ok().is_some_and(|d| Some(d) == own.canonicalize().ok()) && self.file.extension().is_some_and(|x| x == "toml")
        {
            return Err(ConfigError::new(
                &self.file,
                "daemon.sources_dir",
                format!("{} holds this daemon file: give the source files a directory of their own", dir.display()),
            ));
        }
        let mut files: Vec<PathBuf> =
            entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "toml")).collect();
        files.sort();
        for path in files {
            let source = self.load_source(&path, defined_in)?;
            self.sources.push(source);
        }
        Ok(())
    }

    fn load_source(&mut self, path: &Path, defined_in: &mut BTreeMap<String, PathBuf>) -> Result<SourceSettings, ConfigError> {
        let name = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        let mut table = read_table(path)?;

        // Targets and sinks may stand in a source file; they join the global namespace.
        for (section, is_target) in [("targets", true), ("dlq", false)] {
            let Some(value) = table.remove(section) else { continue };
            let entries: BTreeMap<String, toml::Value> = deserialize_at(path, section, value)?;
            for (entry, value) in entries {
                let key = format!("{section}.{entry}");
                if let Some(first) = defined_in.get(&key) {
                    return Err(ConfigError::new(path, key, format!("defined twice (also in {})", first.display())));
                }
                defined_in.insert(key.clone(), path.to_path_buf());
                if is_target {
                    self.targets.insert(entry, deserialize_at(path, &key, value)?);
                } else {
                    let mut sink: DlqSettings = deserialize_at(path, &key, value)?;
                    if let DlqSettings::File { path: Some(p) } = &mut sink {
                        *p = path.parent().unwrap_or(Path::new(".")).join(&*p);
                    }
                    self.dlq.insert(entry, sink);
                }
            }
        }
        let routes = Route::take_all(path, &mut table)?;
        let kind = SourceKind::from_table(path, table)?;
        Ok(SourceSettings { name, file: path.to_path_buf(), routes, kind })
    }

    fn validate(&mut self, defined_in: &BTreeMap<String, PathBuf>) -> Result<(), ConfigError> {
        let file = self.file.clone();
        for (name, sink) in &self.dlq {
            let at = defined_in.get(&format!("dlq.{name}")).unwrap_or(&file);
            sink.check(name, at)?;
        }
        for (name, target) in &self.targets {
            let at = defined_in.get(&format!("targets.{name}")).unwrap_or(&file);
            target.check(name, at, &self.dlq)?;
        }
        for source in &mut self.sources {
            for (i, Route { target, .. }) in source.routes.iter().enumerate() {
                if !self.targets.contains_key(target) {
                    let key = if source.routes.len() == 1 { "target".to_string() } else { format!("routes[{i}].target") };
                    let known: Vec<&str> = self.targets.keys().map(String::as_str).collect();
                    return Err(ConfigError::new(
                        &source.file,
                        key,
                        format!("no target named \"{target}\" (defined: {})", known.join(", ")),
                    ));
                }
            }
            source.kind.check(&source.file)?;
        }
        crate::sources::http::check_all(&self.sources, &self.http)
    }

    /// The settings of the sink `target` dead-letters to (`None`: the default file).
    pub fn dlq_of(&self, target: &TargetSettings) -> Option<&DlqSettings> {
        target.dlq.as_ref().and_then(|name| self.dlq.get(name))
    }

    /// The dead-letter file used by targets that name no sink.
    pub fn default_dlq_path(&self) -> PathBuf {
        self.daemon.state_dir.join("dlq.jsonl")
    }
}

mod warnings;

#[cfg(test)]
mod tests;
