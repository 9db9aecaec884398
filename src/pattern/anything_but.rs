//! `anything-but`: what it excludes (strings, numbers, prefixes, suffixes, strings in any case
//! or wildcards), read from the pattern and tested against the event's values.

use std::collections::HashSet;

use serde_json::Value;

use super::fold::Folded;
use super::numeric::{checked_number, numeric_value};
use super::syntax::{expect_string, index, join, single_entry, PatternError};
use super::wildcard::Wildcard;

#[derive(Debug, Clone)]
pub(super) enum AnythingBut {
    Strings(HashSet<String>),
    Numbers(Vec<f64>),
    Prefixes(Vec<String>),
    Suffixes(Vec<String>),
    IgnoreCase(Vec<Folded>),
    Wildcards(Vec<Wildcard>),
}

pub(super) fn parse_anything_but(arg: &Value, path: &str) -> Result<AnythingBut, PatternError> {
    match arg {
        Value::String(s) => Ok(AnythingBut::Strings(HashSet::from([s.clone()]))),
        Value::Number(_) => Ok(AnythingBut::Numbers(vec![checked_number(arg, path)?])),
        Value::Array(values) => {
            if values.is_empty() {
                return Err(PatternError::new(path, "the anything-but list is empty"));
            }
            if values.iter().all(Value::is_string) {
                Ok(AnythingBut::Strings(values.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()))
            } else if values.iter().all(Value::is_number) {
                values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| checked_number(v, &index(path, i)))
                    .collect::<Result<_, _>>()
                    .map(AnythingBut::Numbers)
            } else {
                Err(PatternError::new(path, "an anything-but list must hold only strings or only numbers"))
            }
        }
        Value::Object(obj) => {
            let (op, inner) = single_entry(obj, path, "an anything-but expression")?;
            let here = join(path, op);
            let strings: Vec<String> = match inner {
                Value::String(s) => vec![s.clone()],
                Value::Array(values) if !values.is_empty() => {
                    values.iter().enumerate().map(|(i, v)| expect_string(v, &index(&here, i), op)).collect::<Result<_, _>>()?
                }
                _ => return Err(PatternError::new(&here, format!("the value of {op} must be a string or a non-empty list of strings"))),
            };
            match op.as_str() {
                "prefix" | "suffix" => {
                    if strings.iter().any(String::is_empty) {
                        return Err(PatternError::new(&here, format!("an empty {op} is not allowed in anything-but")));
                    }
                    Ok(if op == "prefix" { AnythingBut::Prefixes(strings) } else { AnythingBut::Suffixes(strings) })
                }
                "equals-ignore-case" => Ok(AnythingBut::IgnoreCase(strings.iter().map(|s| Folded::new(s)).collect())),
                "wildcard" => strings
                    .iter()
                    .map(|s| Wildcard::parse(s).map_err(|m| PatternError::new(&here, m)))
                    .collect::<Result<_, _>>()
                    .map(AnythingBut::Wildcards),
                other => Err(PatternError::new(
                    &here,
                    format!("unsupported anything-but operator \"{other}\" (expected prefix, suffix, equals-ignore-case or wildcard)"),
                )),
            }
        }
        Value::Bool(_) | Value::Null => {
            Err(PatternError::new(path, "the value of anything-but must be a string, a number, a list or an operator object"))
        }
    }
}

impl AnythingBut {
    pub(super) fn excludes(&self, value: &Value) -> bool {
        match self {
            AnythingBut::Numbers(numbers) => numeric_value(value).is_some_and(|x| numbers.contains(&x)),
            _ => {
                let Some(s) = value.as_str() else {
                    return false;
                };
                match self {
                    AnythingBut::Strings(set) => set.contains(s),
                    AnythingBut::Prefixes(prefixes) => prefixes.iter().any(|p| s.starts_with(p.as_str())),
                    AnythingBut::Suffixes(suffixes) => suffixes.iter().any(|p| s.ends_with(p.as_str())),
                    AnythingBut::IgnoreCase(values) => values.iter().any(|v| v.equals(s)),
                    AnythingBut::Wildcards(wildcards) => wildcards.iter().any(|w| w.matches(s)),
                    AnythingBut::Numbers(_) => unreachable!("handled above"),
                }
            }
        }
    }
}
