//! The compiled form of a pattern and its evaluation against an event: which fields, which
//! alternatives per leaf, and how objects, arrays and absent fields are judged.

use std::net::IpAddr;

use serde_json::{Map, Number, Value};

use super::anything_but::AnythingBut;
use super::cidr::Cidr;
use super::numeric::{numbers_equal, numeric_value, Range};
use super::wildcard::Wildcard;

/// One `$or`-free alternative of a pattern object: every leaf and child must match.
#[derive(Debug, Clone, Default)]
pub(super) struct Node {
    /// Field name and its alternatives (the pattern array). A name may repeat when an `$or`
    /// entry constrains a field its parent also constrains; both must then hold.
    pub(super) leaves: Vec<(String, Vec<Matcher>)>,
    /// Nested pattern objects, one per field name.
    pub(super) children: Vec<(String, Node)>,
}

impl Node {
    pub(super) fn merge(&mut self, other: Node) {
        self.leaves.extend(other.leaves);
        for (key, child) in other.children {
            self.add_child(key, child);
        }
    }

    pub(super) fn add_child(&mut self, key: String, child: Node) {
        match self.children.iter_mut().find(|(k, _)| *k == key) {
            Some((_, existing)) => existing.merge(child),
            None => self.children.push((key, child)),
        }
    }
}

/// One entry of a pattern array.
#[derive(Debug, Clone)]
pub(super) enum Matcher {
    /// An exact string; `ip` is set when the string is an IP address, so that equivalent
    /// spellings of one address (IPv6 especially) compare equal.
    ExactString {
        value: String,
        ip: Option<IpAddr>,
    },
    ExactNumber(Number),
    ExactBool(bool),
    ExactNull,
    Prefix {
        value: String,
        ignore_case: bool,
    },
    Suffix {
        value: String,
        ignore_case: bool,
    },
    EqualsIgnoreCase(String),
    Wildcard(Wildcard),
    Numeric(Range),
    Cidr(Cidr),
    Exists(bool),
    AnythingBut(AnythingBut),
}

/// How a pattern object (or leaf) was satisfied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Outcome {
    /// Not satisfied.
    No,
    /// Satisfied by absence alone (`exists: false`), without using any value of the event.
    Absent,
    /// Satisfied using at least one value of the event.
    Used,
}

pub(super) fn eval_node(node: &Node, value: Option<&Value>) -> Outcome {
    match value {
        Some(Value::Object(map)) => eval_fields(node, Some(map)),
        Some(Value::Array(items)) => eval_array(node, items),
        _ => eval_fields(node, None),
    }
}

fn eval_fields(node: &Node, map: Option<&Map<String, Value>>) -> Outcome {
    let field = |key: &str| map.and_then(|m| m.get(key));
    let mut outcome = Outcome::Absent;
    for (key, matchers) in &node.leaves {
        match eval_leaf(matchers, field(key)) {
            Outcome::No => return Outcome::No,
            o => outcome = outcome.max(o),
        }
    }
    for (key, child) in &node.children {
        match eval_node(child, field(key)) {
            Outcome::No => return Outcome::No,
            o => outcome = outcome.max(o),
        }
    }
    outcome
}

/// A pattern object applied to an array: one element must satisfy all of it. If no element
/// does so using its values, the object can still hold by absence, but only if it holds by
/// absence in every element.
fn eval_array(node: &Node, items: &[Value]) -> Outcome {
    let mut elements = Vec::new();
    flatten(items, &mut elements);
    let mut all_absent = true;
    for element in elements {
        match eval_node(node, Some(element)) {
            Outcome::Used => return Outcome::Used,
            Outcome::Absent => {}
            Outcome::No => all_absent = false,
        }
    }
    if all_absent && eval_fields(node, None) != Outcome::No {
        Outcome::Absent
    } else {
        Outcome::No
    }
}

fn flatten<'a>(items: &'a [Value], out: &mut Vec<&'a Value>) {
    for item in items {
        match item {
            Value::Array(inner) => flatten(inner, out),
            other => out.push(other),
        }
    }
}

/// The leaf values found at a field: the value itself, or the non-object members of an array
/// (nested arrays flattened). Objects are not leaves.
fn leaf_values<'a>(value: Option<&'a Value>, out: &mut Vec<&'a Value>) {
    match value {
        None | Some(Value::Object(_)) => {}
        Some(Value::Array(items)) => {
            for item in items {
                leaf_values(Some(item), out);
            }
        }
        Some(scalar) => out.push(scalar),
    }
}

fn eval_leaf(matchers: &[Matcher], value: Option<&Value>) -> Outcome {
    let mut values = Vec::new();
    leaf_values(value, &mut values);
    if values.iter().any(|v| matchers.iter().any(|m| m.matches(v))) {
        Outcome::Used
    } else if values.is_empty() && matchers.iter().any(|m| matches!(m, Matcher::Exists(false))) {
        Outcome::Absent
    } else {
        Outcome::No
    }
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

pub(super) fn eq_ignore_case(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase() || a.to_uppercase() == b.to_uppercase()
}

impl Matcher {
    /// Does this matcher accept one leaf value of the event?
    fn matches(&self, value: &Value) -> bool {
        match self {
            Matcher::ExactString { value: want, ip } => match value.as_str() {
                Some(s) if s == want => true,
                Some(s) => ip.is_some() && s.parse::<IpAddr>().ok() == *ip,
                None => false,
            },
            Matcher::ExactNumber(want) => {
                matches!(value, Value::Number(n) if numbers_equal(n, want))
            }
            Matcher::ExactBool(want) => value.as_bool() == Some(*want),
            Matcher::ExactNull => value.is_null(),
            Matcher::Prefix {
                value: prefix,
                ignore_case,
            } => value.as_str().is_some_and(|s| {
                if *ignore_case {
                    lower(s).starts_with(&lower(prefix))
                } else {
                    s.starts_with(prefix.as_str())
                }
            }),
            Matcher::Suffix {
                value: suffix,
                ignore_case,
            } => value.as_str().is_some_and(|s| {
                if *ignore_case {
                    lower(s).ends_with(&lower(suffix))
                } else {
                    s.ends_with(suffix.as_str())
                }
            }),
            Matcher::EqualsIgnoreCase(want) => {
                value.as_str().is_some_and(|s| eq_ignore_case(s, want))
            }
            Matcher::Wildcard(w) => value.as_str().is_some_and(|s| w.matches(s)),
            Matcher::Numeric(range) => numeric_value(value).is_some_and(|x| range.contains(x)),
            Matcher::Cidr(cidr) => value
                .as_str()
                .and_then(|s| s.parse::<IpAddr>().ok())
                .is_some_and(|ip| cidr.contains(ip)),
            // Any leaf value means the field exists; absence is handled by `eval_leaf`.
            Matcher::Exists(exists) => *exists,
            Matcher::AnythingBut(but) => !but.excludes(value),
        }
    }
}
