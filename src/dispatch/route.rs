//! Where a source's events go: `target = "…"` or `[[routes]]` with EventBridge pattern filters.

use std::path::Path;

use serde::Deserialize;

use crate::config::{deserialize_at, ConfigError};
use crate::pattern::Pattern;

/// One `[[routes]]` entry of a source file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSettings {
    /// The target's name.
    target: String,
    /// An EventBridge event pattern over the delivered event; without one, every event.
    filter: Option<serde_json::Value>,
}

/// Where a source's events go: a target, for the events its filter matches.
#[derive(Debug, Clone)]
pub struct Route {
    /// The target's name.
    pub target: String,
    /// The compiled pattern, if the route has one.
    pub filter: Option<Pattern>,
    /// The pattern as written, to tell a changed route on reload.
    filter_source: Option<serde_json::Value>,
}

impl Route {
    /// A route taking every event to `target`.
    pub fn to(target: &str) -> Route {
        Route { target: target.to_string(), filter: None, filter_source: None }
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Self) -> bool {
        (&self.target, &self.filter_source) == (&other.target, &other.filter_source)
    }
}

impl Route {
    /// The routes of the source file `path`: its `target`, or its `[[routes]]`, taken out of `table`.
    pub fn take_all(path: &Path, table: &mut toml::Table) -> Result<Vec<Route>, ConfigError> {
        match (table.remove("target"), table.remove("routes")) {
            (Some(_), Some(_)) => Err(ConfigError::new(path, "routes", "give either `target` or `[[routes]]`, not both")),
            (Some(t), None) => Ok(vec![Route::to(&deserialize_at::<String>(path, "target", t)?)]),
            (None, Some(r)) => {
                let r: Vec<RouteSettings> = deserialize_at(path, "routes", r)?;
                // A source without a route would settle every event it reads as delivered nowhere.
                if r.is_empty() {
                    return Err(ConfigError::new(path, "routes", "give at least one route (or `target`)"));
                }
                let mut routes = Vec::new();
                for (i, r) in r.into_iter().enumerate() {
                    let filter = r.filter.as_ref().map(Pattern::parse).transpose().map_err(|e| {
                        let at = if e.path.is_empty() { String::new() } else { format!(".{}", e.path) };
                        ConfigError::new(path, format!("routes[{i}].filter{at}"), e.message)
                    })?;
                    routes.push(Route { target: r.target, filter, filter_source: r.filter });
                }
                Ok(routes)
            }
            (None, None) => Err(ConfigError::new(path, "target", "missing: name the target events go to")),
        }
    }
}
