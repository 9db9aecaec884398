//! What loads but does nothing: a configuration's silent no-ops, which `validate` prints as
//! warnings and `fanin run` logs at start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::ConfigError;
use crate::dlq::settings::DlqSettings;

use super::Config;

impl Config {
    /// Each no-op of this configuration, naming its file and key.
    pub fn warnings(&self) -> Vec<ConfigError> {
        let mut warnings = self.unread_source_files();
        warnings.extend(self.unrouted_targets());
        warnings.extend(self.shared_sink_files());
        warnings
    }

    /// No source file at all, and files in `sources_dir` that are not read because their
    /// name does not end in `.toml` (hidden files and the package's `*.example` files aside).
    fn unread_source_files(&self) -> Vec<ConfigError> {
        let dir = &self.daemon.sources_dir;
        let key = "daemon.sources_dir";
        let Ok(entries) = std::fs::read_dir(dir) else {
            return vec![ConfigError::new(&self.file, key, format!("{} does not exist: no source runs", dir.display()))];
        };
        let mut warnings: Vec<ConfigError> = Vec::new();
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.') && !n.ends_with(".toml") && !n.ends_with(".example"))
            .collect();
        names.sort();
        for name in names {
            warnings.push(ConfigError::new(
                &self.file,
                key,
                format!("{} is not read: only files whose name ends in .toml are sources", dir.join(name).display()),
            ));
        }
        if self.sources.is_empty() {
            warnings.push(ConfigError::new(&self.file, key, format!("no source file (*.toml) in {}: nothing will be read", dir.display())));
        }
        warnings
    }

    /// Targets that no source routes to: only `fanin replay` and `fanin invoke` reach them.
    fn unrouted_targets(&self) -> Vec<ConfigError> {
        let routed: Vec<&str> = self.sources.iter().flat_map(|s| s.routes.iter().map(|r| r.target.as_str())).collect();
        self.targets
            .keys()
            .filter(|name| !routed.contains(&name.as_str()))
            .map(|name| {
                ConfigError::new(
                    &self.file,
                    format!("targets.{name}"),
                    "no source routes to this target: only fanin replay and fanin invoke reach it",
                )
            })
            .collect()
    }

    /// Sinks that write one file: their records interleave, and `fanin dlq` and replay of either
    /// sink see both.
    fn shared_sink_files(&self) -> Vec<ConfigError> {
        let default = self.default_dlq_path();
        let mut by_path: BTreeMap<PathBuf, Vec<&str>> = BTreeMap::new();
        for (name, sink) in &self.dlq {
            if let DlqSettings::File { path } = sink {
                by_path.entry(normal(path.as_deref().unwrap_or(&default))).or_default().push(name);
            }
        }
        by_path
            .into_iter()
            .filter(|(_, names)| names.len() > 1)
            .map(|(path, names)| {
                let keys: Vec<String> = names.iter().map(|n| format!("dlq.{n}")).collect();
                ConfigError::new(&self.file, keys.join(", "), format!("these sinks all write {}: give each its own path", path.display()))
            })
            .collect()
    }
}

/// `path` with `.` and `dir/..` taken out, so two spellings of one file compare equal without
/// the file having to exist.
fn normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
