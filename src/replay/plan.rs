//! `fanin replay --dry-run`: what would be sent where, counted as the store is read (groups,
//! not records, are held), printed at the end.

use std::collections::BTreeMap;

use super::destination::Destination;
use super::item::DeadLetter;

/// Records shown whole (their payload cut short) at the end of the plan.
const SHOWN: usize = 5;

#[derive(Default)]
pub struct Plan {
    selected: usize,
    by_function: BTreeMap<String, usize>,
    by_condition: BTreeMap<String, usize>,
    /// (what the record names, where it goes) → records.
    groups: BTreeMap<(String, String), usize>,
    first: Vec<String>,
}

impl Plan {
    pub fn add(&mut self, letter: &DeadLetter, dest: &Destination) {
        self.selected += 1;
        let function = super::item::FunctionRef {
            function: dest.settings.function().unwrap_or_default().to_string(),
            qualifier: dest.settings.qualifier.clone(),
        };
        *self.by_function.entry(function.display()).or_default() += 1;
        *self.by_condition.entry(letter.condition.clone()).or_default() += 1;
        let named = match (&letter.target, &letter.function) {
            (Some(t), Some(f)) => format!("target {t} (function {})", f.display()),
            (Some(t), None) => format!("target {t}"),
            (None, Some(f)) => format!("function {}", f.display()),
            (None, None) => "no function (legacy messages)".to_string(),
        };
        *self.groups.entry((named, dest.describe())).or_default() += 1;
        if self.first.len() < SHOWN {
            let mut payload = String::from_utf8_lossy(&letter.payload).into_owned();
            if payload.len() > 200 {
                payload.truncate(payload.floor_char_boundary(200));
                payload.push('…');
            }
            self.first.push(format!("  {} -> {} ({}): {payload}", letter.event_id, dest.name, letter.condition));
        }
    }

    pub fn selected(&self) -> usize {
        self.selected
    }

    pub fn print(&self) {
        println!("dry run: nothing sent, nothing changed");
        println!("would send {} events", self.selected);
        println!("where they go (what the records name -> where they would be sent):");
        for ((named, to), n) in &self.groups {
            println!("  {named} -> {to}: {n}");
        }
        println!("by function:");
        for (f, n) in &self.by_function {
            println!("  {f}: {n}");
        }
        println!("by condition:");
        for (c, n) in &self.by_condition {
            println!("  {c}: {n}");
        }
        println!("first records:");
        for line in &self.first {
            println!("{line}");
        }
    }
}
