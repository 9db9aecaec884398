//! EventBridge event-pattern matching: compile a pattern written in Amazon EventBridge's
//! content-filtering language once, then test JSON events against it.
//!
//! Supported (as documented in the EventBridge User Guide, "Event patterns" and
//! "Content filtering in Amazon EventBridge event patterns"):
//!
//! * nested objects (every field of a pattern object must match: AND), leaf values that are
//!   always arrays (any entry may match: OR), and `"$or": [ {..}, {..} ]` at any object level;
//! * exact strings (including `""`), numbers, `true`, `false` and `null`;
//! * `prefix`, `suffix` (each optionally wrapped in `equals-ignore-case`), `equals-ignore-case`,
//!   `wildcard`, `numeric`, `cidr`, `exists`, and `anything-but` with a value, a list of
//!   strings or numbers, or a `prefix`, `suffix`, `equals-ignore-case` or `wildcard` (one
//!   string or a list of strings).
//!
//! Matching rules worth knowing:
//!
//! * A pattern field absent from the event does not match, except through `{"exists": false}`.
//!   `exists` looks at leaf values only: a field whose value is an object (or an empty array)
//!   does not "exist" for `exists: true`, and does satisfy `exists: false`.
//! * When the event holds an array, the field matches if any element matches. Fields of a
//!   pattern object that sits on an array of objects must all match within the *same* element
//!   (EventBridge's "array-consistent" matching). An `exists: false` on such an object is judged
//!   within the element chosen by the other conditions; when nothing else picks an element, the
//!   field must be absent from every element.
//! * Exact numbers compare numerically (`300` matches `300.0` and `3.0e2`), as the event-ruler
//!   engine behind EventBridge does. `numeric` only applies to JSON numbers between -5.0e9 and
//!   +5.0e9 inclusive; pattern operands outside that range are refused.
//! * `anything-but` needs the field to be present; it matches any value (of any type) that is
//!   not excluded, so `{"anything-but": "a"}` matches `5`, `null` and `["a", "b"]`.
//! * If a pattern object repeats a key, the last occurrence wins (that is how `serde_json`
//!   builds the object, and what EventBridge documents).

mod anything_but;
mod cidr;
mod complexity;
mod explain;
mod fold;
mod matcher;
mod numeric;
mod parse;
mod syntax;
mod wildcard;

use std::str::FromStr;

use serde_json::Value;

pub use explain::{Explanation, FieldReason};
use matcher::{eval_node, Node, Outcome};
use parse::{expand, parse_object, wildcards_by_field};
pub use syntax::PatternError;

/// A compiled event pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The pattern with every `$or` expanded: the event matches if any branch matches.
    branches: Vec<Node>,
}

impl Pattern {
    /// Compiles a pattern given as a JSON value.
    pub fn parse(pattern: &Value) -> Result<Pattern, PatternError> {
        let obj = pattern.as_object().ok_or_else(|| PatternError::new("", "an event pattern must be a JSON object"))?;
        let tree = parse_object(obj, "", false)?;
        for (field, wildcards) in wildcards_by_field(&tree) {
            if complexity::complexity(&wildcards, complexity::MAX_COMPLEXITY) > complexity::MAX_COMPLEXITY {
                return Err(PatternError::new(field, complexity::TOO_COMPLEX));
            }
        }
        let branches = expand(&tree)?;
        Ok(Pattern { branches })
    }

    /// Compiles a pattern given as JSON text. Invalid JSON is reported with an empty path.
    pub fn parse_str(json: &str) -> Result<Pattern, PatternError> {
        let value: Value = serde_json::from_str(json).map_err(|e| PatternError::new("", format!("invalid JSON: {e}")))?;
        Pattern::parse(&value)
    }

    /// Does `event` match this pattern?
    pub fn matches(&self, event: &Value) -> bool {
        self.branches.iter().any(|branch| eval_node(branch, Some(event)) != Outcome::No)
    }
}

impl FromStr for Pattern {
    type Err = PatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Pattern::parse_str(s)
    }
}

#[cfg(test)]
mod corpus;
#[cfg(test)]
mod tests;
