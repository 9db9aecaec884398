//! Where a replayed record goes: `--target`; else, with `--config`, the configured target the
//! record names (`fanin.target`) as it is configured now, so a fixed configuration is followed;
//! else the configured target of the function the record names; else that function as it is.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::item::{DeadLetter, FunctionRef};
use super::ReplayArgs;
use crate::dispatch::settings::{InvocationType, RetrySettings, TargetKind, TargetSettings};
use crate::settings::Config;

/// Where one record is sent.
pub struct Destination {
    /// The configured target's name, else the function as records name it.
    pub name: String,
    pub settings: TargetSettings,
    /// Whether `name` is a configured target.
    pub configured: bool,
}

impl Destination {
    /// `target NAME (function F)` or `function F`, for the dry run.
    pub fn describe(&self) -> String {
        let function = match &self.settings.kind {
            TargetKind::StateMachine(sm) => format!("state machine {sm}"),
            TargetKind::Url { url, .. } => format!("function URL {url}"),
            TargetKind::Function(function) => {
                format!("function {}", FunctionRef { function: function.clone(), qualifier: self.settings.qualifier.clone() }.display())
            }
        };
        if self.configured {
            format!("target {} ({function})", self.name)
        } else {
            function
        }
    }
}

/// What a record names: its target (unless `--target` overrides it) and its function.
type Named = (Option<String>, Option<FunctionRef>);

/// Resolves records to destinations, each built once however many records go to it.
pub struct Destinations<'a> {
    args: &'a ReplayArgs,
    config: Option<&'a Config>,
    known: HashMap<Named, Option<Arc<Destination>>>,
    /// The last record's answer: records of one destination come in runs, and comparing is
    /// cheaper than building a key.
    last: Option<(Named, Option<Arc<Destination>>)>,
}

impl<'a> Destinations<'a> {
    pub fn new(args: &'a ReplayArgs, config: Option<&'a Config>) -> Self {
        Destinations { args, config, known: HashMap::new(), last: None }
    }

    /// Where `letter` goes; `None` when it names no function and `--target` is not given.
    pub fn of(&mut self, letter: &DeadLetter) -> Option<Arc<Destination>> {
        let target = letter.target.as_ref().filter(|_| self.args.target.is_none());
        if let Some(((t, f), dest)) = &self.last {
            if t.as_ref() == target && f.as_ref() == letter.function.as_ref() {
                return dest.clone();
            }
        }
        let key = (target.cloned(), letter.function.clone());
        let dest = match self.known.get(&key) {
            Some(known) => known.clone(),
            None => {
                let dest = self.resolve(key.0.as_deref(), key.1.as_ref()).map(Arc::new);
                self.known.insert(key.clone(), dest.clone());
                dest
            }
        };
        self.last = Some((key, dest.clone()));
        dest
    }

    fn resolve(&self, target: Option<&str>, function: Option<&FunctionRef>) -> Option<Destination> {
        let configured = |name: &str| {
            self.config.and_then(|c| c.targets.get(name)).map(|s| Destination { name: name.into(), settings: s.clone(), configured: true })
        };
        let mut dest = match (&self.args.target, target.and_then(configured), function) {
            (Some(name), _, _) => configured(name).unwrap_or_else(|| self.bare(FunctionRef::parse(name))),
            (None, Some(dest), _) => dest,
            (None, None, Some(f)) => self
                .config
                .and_then(|c| c.targets.iter().find(|(_, t)| t.function() == Some(f.function.as_str()) && t.qualifier == f.qualifier))
                .and_then(|(name, _)| configured(name))
                .unwrap_or_else(|| self.bare(f.clone())),
            (None, None, None) => return None,
        };
        dest.settings.max_concurrency = dest.settings.max_concurrency.min(self.args.concurrency);
        if self.args.rate.is_some() {
            dest.settings.rate = self.args.rate;
        }
        Some(dest)
    }

    /// A function no configuration speaks of: default retries, replay's limits.
    fn bare(&self, f: FunctionRef) -> Destination {
        let settings = TargetSettings {
            kind: TargetKind::Function(f.function.clone()),
            qualifier: f.qualifier.clone(),
            max_concurrency: self.args.concurrency,
            rate: None,
            retry: RetrySettings::default(),
            dlq: None,
            invocation_type: InvocationType::Event,
            log_type: Default::default(),
            on_success: None,
            client_context: None,
            invoke_timeout: Duration::from_secs(10),
            large_payloads: None,
        };
        Destination { name: f.display(), settings, configured: false }
    }
}
