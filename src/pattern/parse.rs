//! Parsing a pattern into its compiled form: objects, leaves and match operators, and the
//! expansion of `$or` clauses into `$or`-free alternatives.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::anything_but::AnythingBut;

use super::anything_but::parse_anything_but;
use super::cidr::Cidr;
use super::fold::Folded;
use super::matcher::{Matcher, Node};
use super::numeric::parse_numeric;
use super::syntax::{expect_string, index, join, single_entry, PatternError};
use super::wildcard::Wildcard;

/// Upper bound on the number of alternatives the `$or` clauses of one pattern expand into.
const MAX_BRANCHES: usize = 1024;

/// Operator names that cannot be used as field names inside an `$or` entry.
const RESERVED_IN_OR: &[&str] = &[
    "exactly",
    "equals-ignore-case",
    "prefix",
    "suffix",
    "anything-but",
    "exists",
    "wildcard",
    "numeric",
    "cidr",
    "=",
    "<",
    "<=",
    ">",
    ">=",
];

/// A pattern object as written, `$or` clauses still in place.
pub(super) struct RawNode {
    /// Where this object sits in the pattern (for errors).
    path: String,
    leaves: Vec<(String, Vec<Matcher>)>,
    children: Vec<(String, RawNode)>,
    /// Each `$or` clause: its path (for errors) and its entries.
    ors: Vec<(String, Vec<RawNode>)>,
}

pub(super) fn parse_object(obj: &Map<String, Value>, path: &str, in_or: bool) -> Result<RawNode, PatternError> {
    if obj.is_empty() {
        return Err(PatternError::new(path, "empty objects are not allowed"));
    }
    let mut node = RawNode { path: path.to_string(), leaves: Vec::new(), children: Vec::new(), ors: Vec::new() };
    for (key, value) in obj {
        let here = join(path, key);
        if key == "$or" {
            let entries = value.as_array().ok_or_else(|| PatternError::new(&here, "$or must be an array of pattern objects"))?;
            if entries.len() < 2 {
                return Err(PatternError::new(&here, "$or must contain at least 2 pattern objects"));
            }
            let mut parsed = Vec::with_capacity(entries.len());
            for (i, entry) in entries.iter().enumerate() {
                let at = index(&here, i);
                let entry = entry.as_object().ok_or_else(|| PatternError::new(&at, "each entry of $or must be a pattern object"))?;
                parsed.push(parse_object(entry, &at, true)?);
            }
            node.ors.push((here, parsed));
            continue;
        }
        if in_or && RESERVED_IN_OR.contains(&key.as_str()) {
            return Err(PatternError::new(&here, format!("\"{key}\" is a reserved keyword and cannot be a field name inside $or")));
        }
        // EventBridge reads a pattern as dotted paths, so `"a.b": [..]` and `"a": {"b": [..]}` are
        // one field: a dotted key becomes the nested objects it names.
        if let Some((head, rest)) = key.split_once('.') {
            let inner = Map::from_iter([(rest.to_string(), value.clone())]);
            node.children.push((head.to_string(), parse_object(&inner, &join(path, head), in_or)?));
            continue;
        }
        match value {
            Value::Object(inner) => node.children.push((key.clone(), parse_object(inner, &here, in_or)?)),
            Value::Array(values) => node.leaves.push((key.clone(), parse_leaf(values, &here)?)),
            _ => return Err(PatternError::new(&here, "must be an object or an array (values to match are always given in an array)")),
        }
    }
    Ok(node)
}

fn parse_leaf(values: &[Value], path: &str) -> Result<Vec<Matcher>, PatternError> {
    if values.is_empty() {
        return Err(PatternError::new(path, "empty arrays are not allowed"));
    }
    values
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let at = index(path, i);
            Ok(match value {
                Value::String(s) => Matcher::ExactString { value: s.clone(), ip: s.parse().ok() },
                Value::Number(n) => Matcher::ExactNumber(n.clone()),
                Value::Bool(b) => Matcher::ExactBool(*b),
                Value::Null => Matcher::ExactNull,
                Value::Object(op) => parse_operator(op, &at)?,
                Value::Array(_) => {
                    return Err(PatternError::new(&at, "a match value must be a string, number, true, false, null or an operator object"))
                }
            })
        })
        .collect()
}

fn parse_operator(obj: &Map<String, Value>, path: &str) -> Result<Matcher, PatternError> {
    let (op, arg) = single_entry(obj, path, "a match expression")?;
    let here = join(path, op);
    Ok(match op.as_str() {
        "prefix" | "suffix" => {
            let (value, ignore_case) = match arg {
                Value::String(s) => (s.clone(), false),
                Value::Object(inner) => {
                    let (inner_op, inner_arg) = single_entry(inner, &here, "a match expression")?;
                    let inner_path = join(&here, inner_op);
                    if inner_op != "equals-ignore-case" {
                        return Err(PatternError::new(
                            &inner_path,
                            format!("unsupported {op} operator \"{inner_op}\" (only equals-ignore-case)"),
                        ));
                    }
                    (expect_string(inner_arg, &inner_path, inner_op)?, true)
                }
                _ => {
                    return Err(PatternError::new(
                        &here,
                        format!("the value of {op} must be a string or {{\"equals-ignore-case\": string}}"),
                    ))
                }
            };
            match (op == "prefix", ignore_case) {
                (true, false) => Matcher::Prefix(value),
                (false, false) => Matcher::Suffix(value),
                (true, true) => Matcher::PrefixIgnoreCase(Folded::new(&value)),
                (false, true) => Matcher::SuffixIgnoreCase(Folded::new(&value)),
            }
        }
        "equals-ignore-case" => Matcher::EqualsIgnoreCase(Folded::new(&expect_string(arg, &here, op)?)),
        "wildcard" => {
            let s = expect_string(arg, &here, op)?;
            Matcher::Wildcard(Wildcard::parse(&s).map_err(|m| PatternError::new(&here, m))?)
        }
        "exists" => Matcher::Exists(arg.as_bool().ok_or_else(|| PatternError::new(&here, "the value of exists must be true or false"))?),
        "cidr" => {
            let s = expect_string(arg, &here, op)?;
            Matcher::Cidr(Cidr::parse(&s).map_err(|m| PatternError::new(&here, m))?)
        }
        "numeric" => Matcher::Numeric(parse_numeric(arg, &here)?),
        "anything-but" => Matcher::AnythingBut(parse_anything_but(arg, &here)?),
        _ => return Err(PatternError::new(path, format!("unknown match operator \"{op}\""))),
    })
}

/// Expands the `$or` clauses of a pattern object into `$or`-free alternatives.
pub(super) fn expand(raw: &RawNode) -> Result<Vec<Node>, PatternError> {
    let mut acc = vec![Node { leaves: raw.leaves.clone(), children: Vec::new() }];
    for (key, child) in &raw.children {
        let alternatives = expand(child)?;
        acc = product(acc, &alternatives, |base, alt| base.add_child(key.clone(), alt)).ok_or_else(|| too_many_branches(&child.path))?;
    }
    for (path, entries) in &raw.ors {
        let mut alternatives = Vec::new();
        for entry in entries {
            alternatives.extend(expand(entry)?);
        }
        acc = product(acc, &alternatives, Node::merge).ok_or_else(|| too_many_branches(path))?;
    }
    Ok(acc)
}

fn too_many_branches(path: &str) -> PatternError {
    PatternError::new(path, format!("the $or clauses of this pattern expand to more than {MAX_BRANCHES} combinations"))
}

fn product(acc: Vec<Node>, alternatives: &[Node], combine: impl Fn(&mut Node, Node)) -> Option<Vec<Node>> {
    if acc.len().saturating_mul(alternatives.len()) > MAX_BRANCHES {
        return None;
    }
    let mut out = Vec::with_capacity(acc.len() * alternatives.len());
    for base in &acc {
        for alt in alternatives {
            let mut combined = base.clone();
            combine(&mut combined, alt.clone());
            out.push(combined);
        }
    }
    Some(out)
}

/// Every `wildcard` of the pattern (`anything-but` ones too), gathered by the field it tests:
/// the dotted path, `$or` branches included, since EventBridge builds one matching machine per
/// field and a value is run through all of that field's wildcards at once.
pub(super) fn wildcards_by_field(raw: &RawNode) -> BTreeMap<String, Vec<&Wildcard>> {
    fn walk<'a>(raw: &'a RawNode, path: &str, out: &mut BTreeMap<String, Vec<&'a Wildcard>>) {
        for (key, matchers) in &raw.leaves {
            for m in matchers {
                let found: &[Wildcard] = match m {
                    Matcher::Wildcard(w) => std::slice::from_ref(w),
                    Matcher::AnythingBut(AnythingBut::Wildcards(ws)) => ws,
                    _ => &[],
                };
                if !found.is_empty() {
                    out.entry(join(path, key)).or_default().extend(found);
                }
            }
        }
        for (key, child) in &raw.children {
            walk(child, &join(path, key), out);
        }
        for (_, entries) in &raw.ors {
            for entry in entries {
                walk(entry, path, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(raw, "", &mut out);
    out
}
