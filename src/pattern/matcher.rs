//! The compiled form of a pattern and its evaluation against an event: which fields, which
//! alternatives per leaf, and how objects, arrays and absent fields are judged.

use std::net::IpAddr;

use serde_json::{Map, Number, Value};

use super::anything_but::AnythingBut;
use super::cidr::Cidr;
use super::fold::Folded;
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
    Prefix(String),
    Suffix(String),
    PrefixIgnoreCase(Folded),
    SuffixIgnoreCase(Folded),
    EqualsIgnoreCase(Folded),
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
        // EventBridge reads an event as dotted paths, so `{"a.b": 1}` is `{"a": {"b": 1}}`. An
        // object with a dotted key is rebuilt nested (allocating); one without, the usual case,
        // is used as it is.
        Some(Value::Object(map)) if map.keys().any(|k| k.contains('.')) => eval_fields(node, Some(&undot(map))),
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

/// `map` with each dotted key turned into the nested objects it names, merged with what is
/// already there. Where two values meet at one path and are not both objects, they become an
/// array of both, as EventBridge sees two values of one field.
pub(super) fn undot(map: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in map {
        let mut segments = key.split('.');
        let head = segments.next().expect("split yields at least one piece");
        let mut nested: Vec<&str> = segments.collect();
        let mut value = value.clone();
        while let Some(segment) = nested.pop() {
            value = Value::Object(Map::from_iter([(segment.to_string(), value)]));
        }
        insert_merged(&mut out, head, value);
    }
    out
}

fn insert_merged(map: &mut Map<String, Value>, key: &str, value: Value) {
    let merged = match map.remove(key) {
        None => value,
        Some(Value::Object(mut old)) if value.is_object() => {
            if let Value::Object(new) = value {
                for (k, v) in new {
                    insert_merged(&mut old, &k, v);
                }
            }
            Value::Object(old)
        }
        Some(Value::Array(mut old)) => {
            match value {
                Value::Array(new) => old.extend(new),
                other => old.push(other),
            }
            Value::Array(old)
        }
        Some(old) => match value {
            Value::Array(mut new) => {
                new.insert(0, old);
                Value::Array(new)
            }
            other => Value::Array(vec![old, other]),
        },
    };
    map.insert(key.to_string(), merged);
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

pub(super) fn eval_leaf(matchers: &[Matcher], value: Option<&Value>) -> Outcome {
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
            Matcher::Prefix(prefix) => value.as_str().is_some_and(|s| s.starts_with(prefix.as_str())),
            Matcher::Suffix(suffix) => value.as_str().is_some_and(|s| s.ends_with(suffix.as_str())),
            Matcher::PrefixIgnoreCase(f) => value.as_str().is_some_and(|s| f.is_prefix_of(s)),
            Matcher::SuffixIgnoreCase(f) => value.as_str().is_some_and(|s| f.is_suffix_of(s)),
            Matcher::EqualsIgnoreCase(f) => value.as_str().is_some_and(|s| f.equals(s)),
            Matcher::Wildcard(w) => value.as_str().is_some_and(|s| w.matches(s)),
            Matcher::Numeric(range) => numeric_value(value).is_some_and(|x| range.contains(x)),
            Matcher::Cidr(cidr) => value.as_str().and_then(|s| s.parse::<IpAddr>().ok()).is_some_and(|ip| cidr.contains(ip)),
            // Any leaf value means the field exists; absence is handled by `eval_leaf`.
            Matcher::Exists(exists) => *exists,
            Matcher::AnythingBut(but) => !but.excludes(value),
        }
    }
}
