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

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde_json::{Map, Number, Value};

/// Numbers used by `numeric` (and numeric `anything-but`) must lie within this magnitude.
const NUMERIC_LIMIT: f64 = 5.0e9;

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

/// A compiled event pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The pattern with every `$or` expanded: the event matches if any branch matches.
    branches: Vec<Node>,
}

/// Why a pattern was refused. `path` names the offending part of the pattern, e.g.
/// `detail.state` or `Records.s3.object.key[0]`; it is empty for the pattern as a whole.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PatternError {
    pub path: String,
    pub message: String,
}

impl PatternError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        PatternError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl Pattern {
    /// Compiles a pattern given as a JSON value.
    pub fn parse(pattern: &Value) -> Result<Pattern, PatternError> {
        let obj = pattern
            .as_object()
            .ok_or_else(|| PatternError::new("", "an event pattern must be a JSON object"))?;
        let tree = parse_object(obj, "", false)?;
        let branches = expand(&tree)?;
        Ok(Pattern { branches })
    }

    /// Compiles a pattern given as JSON text. Invalid JSON is reported with an empty path.
    pub fn parse_str(json: &str) -> Result<Pattern, PatternError> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| PatternError::new("", format!("invalid JSON: {e}")))?;
        Pattern::parse(&value)
    }

    /// Does `event` match this pattern?
    pub fn matches(&self, event: &Value) -> bool {
        self.branches
            .iter()
            .any(|branch| eval_node(branch, Some(event)) != Outcome::No)
    }
}

impl FromStr for Pattern {
    type Err = PatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Pattern::parse_str(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Compiled form

/// One `$or`-free alternative of a pattern object: every leaf and child must match.
#[derive(Debug, Clone, Default)]
struct Node {
    /// Field name and its alternatives (the pattern array). A name may repeat when an `$or`
    /// entry constrains a field its parent also constrains; both must then hold.
    leaves: Vec<(String, Vec<Matcher>)>,
    /// Nested pattern objects, one per field name.
    children: Vec<(String, Node)>,
}

impl Node {
    fn merge(&mut self, other: Node) {
        self.leaves.extend(other.leaves);
        for (key, child) in other.children {
            self.add_child(key, child);
        }
    }

    fn add_child(&mut self, key: String, child: Node) {
        match self.children.iter_mut().find(|(k, _)| *k == key) {
            Some((_, existing)) => existing.merge(child),
            None => self.children.push((key, child)),
        }
    }
}

/// One entry of a pattern array.
#[derive(Debug, Clone)]
enum Matcher {
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

#[derive(Debug, Clone)]
enum AnythingBut {
    Strings(HashSet<String>),
    Numbers(Vec<f64>),
    Prefixes(Vec<String>),
    Suffixes(Vec<String>),
    IgnoreCase(Vec<String>),
    Wildcards(Vec<Wildcard>),
}

#[derive(Debug, Clone, Copy)]
struct Bound {
    value: f64,
    inclusive: bool,
}

#[derive(Debug, Clone, Copy)]
struct Range {
    lower: Option<Bound>,
    upper: Option<Bound>,
}

impl Range {
    fn contains(&self, x: f64) -> bool {
        let above = match self.lower {
            Some(b) if b.inclusive => x >= b.value,
            Some(b) => x > b.value,
            None => true,
        };
        let below = match self.upper {
            Some(b) if b.inclusive => x <= b.value,
            Some(b) => x < b.value,
            None => true,
        };
        above && below
    }
}

/// A `wildcard` value: literal pieces separated by `*`.
#[derive(Clone)]
struct Wildcard {
    source: String,
    pieces: Vec<String>,
}

impl fmt::Debug for Wildcard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Wildcard({:?})", self.source)
    }
}

impl Wildcard {
    /// `*` matches any run of characters (including none); `\*` is a literal star and `\\` a
    /// literal backslash. Consecutive stars and any other escape are refused, as EventBridge does.
    fn parse(source: &str) -> Result<Wildcard, String> {
        let mut pieces = vec![String::new()];
        let mut chars = source.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => {
                    if chars.peek() == Some(&'*') {
                        return Err("consecutive wildcard characters are not allowed".into());
                    }
                    pieces.push(String::new());
                }
                '\\' => match chars.next() {
                    Some(e @ ('*' | '\\')) => pieces.last_mut().expect("non-empty").push(e),
                    _ => return Err("a backslash may only escape '*' or '\\' in a wildcard".into()),
                },
                other => pieces.last_mut().expect("non-empty").push(other),
            }
        }
        Ok(Wildcard {
            source: source.to_string(),
            pieces,
        })
    }

    fn matches(&self, s: &str) -> bool {
        let (first, rest) = self.pieces.split_first().expect("non-empty");
        if rest.is_empty() {
            return s == first;
        }
        let Some(mut remaining) = s.strip_prefix(first.as_str()) else {
            return false;
        };
        let (last, middle) = rest.split_last().expect("non-empty");
        for piece in middle {
            match remaining.find(piece.as_str()) {
                Some(at) => remaining = &remaining[at + piece.len()..],
                None => return false,
            }
        }
        remaining.ends_with(last.as_str())
    }
}

#[derive(Debug, Clone, Copy)]
struct Cidr {
    network: IpAddr,
    prefix_len: u8,
}

impl Cidr {
    fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, len) = s.split_once('/').ok_or_else(|| {
            format!("\"{s}\" is not a CIDR block (expected address/prefix-length)")
        })?;
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("\"{addr}\" is not an IPv4 or IPv6 address"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix_len: u8 = len
            .parse()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| format!("\"{len}\" is not a prefix length between 0 and {max}"))?;
        Ok(Cidr {
            network,
            prefix_len,
        })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bits: u128, width: u32, len: u8) -> u128 {
            if len == 0 {
                0
            } else {
                bits >> (width - u32::from(len))
            }
        }
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), 32, self.prefix_len)
                    == masked(u32::from(ip).into(), 32, self.prefix_len)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128, self.prefix_len)
                    == masked(u128::from(ip), 128, self.prefix_len)
            }
            _ => false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// A pattern object as written, `$or` clauses still in place.
struct RawNode {
    /// Where this object sits in the pattern (for errors).
    path: String,
    leaves: Vec<(String, Vec<Matcher>)>,
    children: Vec<(String, RawNode)>,
    /// Each `$or` clause: its path (for errors) and its entries.
    ors: Vec<(String, Vec<RawNode>)>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

fn parse_object(
    obj: &Map<String, Value>,
    path: &str,
    in_or: bool,
) -> Result<RawNode, PatternError> {
    if obj.is_empty() {
        return Err(PatternError::new(path, "empty objects are not allowed"));
    }
    let mut node = RawNode {
        path: path.to_string(),
        leaves: Vec::new(),
        children: Vec::new(),
        ors: Vec::new(),
    };
    for (key, value) in obj {
        let here = join(path, key);
        if key == "$or" {
            let entries = value.as_array().ok_or_else(|| {
                PatternError::new(&here, "$or must be an array of pattern objects")
            })?;
            if entries.len() < 2 {
                return Err(PatternError::new(
                    &here,
                    "$or must contain at least 2 pattern objects",
                ));
            }
            let mut parsed = Vec::with_capacity(entries.len());
            for (i, entry) in entries.iter().enumerate() {
                let at = index(&here, i);
                let entry = entry.as_object().ok_or_else(|| {
                    PatternError::new(&at, "each entry of $or must be a pattern object")
                })?;
                parsed.push(parse_object(entry, &at, true)?);
            }
            node.ors.push((here, parsed));
            continue;
        }
        if in_or && RESERVED_IN_OR.contains(&key.as_str()) {
            return Err(PatternError::new(
                &here,
                format!("\"{key}\" is a reserved keyword and cannot be a field name inside $or"),
            ));
        }
        match value {
            Value::Object(inner) => node
                .children
                .push((key.clone(), parse_object(inner, &here, in_or)?)),
            Value::Array(values) => node.leaves.push((key.clone(), parse_leaf(values, &here)?)),
            _ => {
                return Err(PatternError::new(
                    &here,
                    "must be an object or an array (values to match are always given in an array)",
                ))
            }
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
                Value::String(s) => Matcher::ExactString {
                    value: s.clone(),
                    ip: s.parse().ok(),
                },
                Value::Number(n) => Matcher::ExactNumber(n.clone()),
                Value::Bool(b) => Matcher::ExactBool(*b),
                Value::Null => Matcher::ExactNull,
                Value::Object(op) => parse_operator(op, &at)?,
                Value::Array(_) => {
                    return Err(PatternError::new(
                        &at,
                        "a match value must be a string, number, true, false, null or an operator object",
                    ))
                }
            })
        })
        .collect()
}

fn single_entry<'a>(
    obj: &'a Map<String, Value>,
    path: &str,
    what: &str,
) -> Result<(&'a String, &'a Value), PatternError> {
    let mut entries = obj.iter();
    match (entries.next(), entries.next()) {
        (Some(entry), None) => Ok(entry),
        (None, _) => Err(PatternError::new(path, format!("empty {what}"))),
        (Some(_), Some(_)) => Err(PatternError::new(
            path,
            format!("only one key is allowed in {what}"),
        )),
    }
}

fn expect_string(value: &Value, path: &str, op: &str) -> Result<String, PatternError> {
    value
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| PatternError::new(path, format!("the value of {op} must be a string")))
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
                        format!(
                        "the value of {op} must be a string or {{\"equals-ignore-case\": string}}"
                    ),
                    ))
                }
            };
            if op == "prefix" {
                Matcher::Prefix { value, ignore_case }
            } else {
                Matcher::Suffix { value, ignore_case }
            }
        }
        "equals-ignore-case" => Matcher::EqualsIgnoreCase(expect_string(arg, &here, op)?),
        "wildcard" => {
            let s = expect_string(arg, &here, op)?;
            Matcher::Wildcard(Wildcard::parse(&s).map_err(|m| PatternError::new(&here, m))?)
        }
        "exists" => Matcher::Exists(arg.as_bool().ok_or_else(|| {
            PatternError::new(&here, "the value of exists must be true or false")
        })?),
        "cidr" => {
            let s = expect_string(arg, &here, op)?;
            Matcher::Cidr(Cidr::parse(&s).map_err(|m| PatternError::new(&here, m))?)
        }
        "numeric" => Matcher::Numeric(parse_numeric(arg, &here)?),
        "anything-but" => Matcher::AnythingBut(parse_anything_but(arg, &here)?),
        _ => {
            return Err(PatternError::new(
                path,
                format!("unknown match operator \"{op}\""),
            ))
        }
    })
}

/// A number usable by `numeric` or a numeric `anything-but`.
fn checked_number(value: &Value, path: &str) -> Result<f64, PatternError> {
    let x = value
        .as_f64()
        .ok_or_else(|| PatternError::new(path, "must be a number"))?;
    if !(-NUMERIC_LIMIT..=NUMERIC_LIMIT).contains(&x) {
        return Err(PatternError::new(
            path,
            "numbers must be between -5.0e9 and +5.0e9 inclusive",
        ));
    }
    Ok(x)
}

/// `["=", x]`, `[op, x]` with op one of `<`, `<=`, `>`, `>=`, or a lower bound followed by an
/// upper bound: `[">" | ">=", x, "<" | "<=", y]` with x < y.
fn parse_numeric(arg: &Value, path: &str) -> Result<Range, PatternError> {
    let terms = arg
        .as_array()
        .ok_or_else(|| PatternError::new(path, "the value of numeric must be an array"))?;
    let operator = |i: usize| -> Result<&str, PatternError> {
        match terms.get(i) {
            Some(Value::String(s)) => Ok(s.as_str()),
            Some(_) => Err(PatternError::new(
                index(path, i),
                "expected a comparison operator (=, <, <=, >, >=)",
            )),
            None => Err(PatternError::new(path, "missing comparison operator")),
        }
    };
    let operand = |i: usize| -> Result<f64, PatternError> {
        match terms.get(i) {
            Some(v) => checked_number(v, &index(path, i)),
            None => Err(PatternError::new(
                path,
                "a comparison operator must be followed by a number",
            )),
        }
    };
    let too_many = |n: usize| -> Result<(), PatternError> {
        if terms.len() > n {
            Err(PatternError::new(
                index(path, n),
                "too many terms in numeric expression",
            ))
        } else {
            Ok(())
        }
    };
    let bound = |value, inclusive| Some(Bound { value, inclusive });

    let op = operator(0)?;
    let first = match op {
        "=" | "<" | "<=" | ">" | ">=" => operand(1)?,
        other => {
            return Err(PatternError::new(
                index(path, 0),
                format!("unknown numeric operator \"{other}\" (expected =, <, <=, >, >=)"),
            ))
        }
    };
    match op {
        "=" => {
            too_many(2)?;
            Ok(Range {
                lower: bound(first, true),
                upper: bound(first, true),
            })
        }
        "<" | "<=" => {
            too_many(2)?;
            Ok(Range {
                lower: None,
                upper: bound(first, op == "<="),
            })
        }
        _ => {
            let lower = bound(first, op == ">=");
            if terms.len() == 2 {
                return Ok(Range { lower, upper: None });
            }
            let op2 = operator(2)?;
            if op2 != "<" && op2 != "<=" {
                return Err(PatternError::new(
                    index(path, 2),
                    format!("a range's upper bound must use < or <=, not \"{op2}\""),
                ));
            }
            let second = operand(3)?;
            too_many(4)?;
            if first >= second {
                return Err(PatternError::new(
                    index(path, 3),
                    "the lower bound of a numeric range must be less than its upper bound",
                ));
            }
            Ok(Range {
                lower,
                upper: bound(second, op2 == "<="),
            })
        }
    }
}

fn parse_anything_but(arg: &Value, path: &str) -> Result<AnythingBut, PatternError> {
    match arg {
        Value::String(s) => Ok(AnythingBut::Strings(HashSet::from([s.clone()]))),
        Value::Number(_) => Ok(AnythingBut::Numbers(vec![checked_number(arg, path)?])),
        Value::Array(values) => {
            if values.is_empty() {
                return Err(PatternError::new(path, "the anything-but list is empty"));
            }
            if values.iter().all(Value::is_string) {
                Ok(AnythingBut::Strings(
                    values
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect(),
                ))
            } else if values.iter().all(Value::is_number) {
                values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| checked_number(v, &index(path, i)))
                    .collect::<Result<_, _>>()
                    .map(AnythingBut::Numbers)
            } else {
                Err(PatternError::new(
                    path,
                    "an anything-but list must hold only strings or only numbers",
                ))
            }
        }
        Value::Object(obj) => {
            let (op, inner) = single_entry(obj, path, "an anything-but expression")?;
            let here = join(path, op);
            let strings: Vec<String> = match inner {
                Value::String(s) => vec![s.clone()],
                Value::Array(values) if !values.is_empty() => values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| expect_string(v, &index(&here, i), op))
                    .collect::<Result<_, _>>()?,
                _ => {
                    return Err(PatternError::new(
                        &here,
                        format!(
                            "the value of {op} must be a string or a non-empty list of strings"
                        ),
                    ))
                }
            };
            match op.as_str() {
                "prefix" | "suffix" => {
                    if strings.iter().any(String::is_empty) {
                        return Err(PatternError::new(
                            &here,
                            format!("an empty {op} is not allowed in anything-but"),
                        ));
                    }
                    Ok(if op == "prefix" {
                        AnythingBut::Prefixes(strings)
                    } else {
                        AnythingBut::Suffixes(strings)
                    })
                }
                "equals-ignore-case" => Ok(AnythingBut::IgnoreCase(strings)),
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
        Value::Bool(_) | Value::Null => Err(PatternError::new(
            path,
            "the value of anything-but must be a string, a number, a list or an operator object",
        )),
    }
}

/// Expands the `$or` clauses of a pattern object into `$or`-free alternatives.
fn expand(raw: &RawNode) -> Result<Vec<Node>, PatternError> {
    let mut acc = vec![Node {
        leaves: raw.leaves.clone(),
        children: Vec::new(),
    }];
    for (key, child) in &raw.children {
        let alternatives = expand(child)?;
        acc = product(acc, &alternatives, |base, alt| {
            base.add_child(key.clone(), alt)
        })
        .ok_or_else(|| too_many_branches(&child.path))?;
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
    PatternError::new(
        path,
        format!("the $or clauses of this pattern expand to more than {MAX_BRANCHES} combinations"),
    )
}

fn product(
    acc: Vec<Node>,
    alternatives: &[Node],
    combine: impl Fn(&mut Node, Node),
) -> Option<Vec<Node>> {
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

// ---------------------------------------------------------------------------------------------
// Matching

/// How a pattern object (or leaf) was satisfied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// Not satisfied.
    No,
    /// Satisfied by absence alone (`exists: false`), without using any value of the event.
    Absent,
    /// Satisfied using at least one value of the event.
    Used,
}

fn eval_node(node: &Node, value: Option<&Value>) -> Outcome {
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

fn eq_ignore_case(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase() || a.to_uppercase() == b.to_uppercase()
}

/// Numeric equality of two JSON numbers; integers are compared exactly.
fn numbers_equal(a: &Number, b: &Number) -> bool {
    fn as_int(n: &Number) -> Option<i128> {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    }
    match (as_int(a), as_int(b)) {
        (Some(x), Some(y)) => x == y,
        _ => matches!((a.as_f64(), b.as_f64()), (Some(x), Some(y)) if x == y),
    }
}

/// The value of an event number for `numeric` matching, if it is within the supported range.
fn numeric_value(value: &Value) -> Option<f64> {
    value
        .as_f64()
        .filter(|x| (-NUMERIC_LIMIT..=NUMERIC_LIMIT).contains(x))
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

impl AnythingBut {
    fn excludes(&self, value: &Value) -> bool {
        match self {
            AnythingBut::Numbers(numbers) => {
                numeric_value(value).is_some_and(|x| numbers.contains(&x))
            }
            _ => {
                let Some(s) = value.as_str() else {
                    return false;
                };
                match self {
                    AnythingBut::Strings(set) => set.contains(s),
                    AnythingBut::Prefixes(prefixes) => {
                        prefixes.iter().any(|p| s.starts_with(p.as_str()))
                    }
                    AnythingBut::Suffixes(suffixes) => {
                        suffixes.iter().any(|p| s.ends_with(p.as_str()))
                    }
                    AnythingBut::IgnoreCase(values) => values.iter().any(|v| eq_ignore_case(s, v)),
                    AnythingBut::Wildcards(wildcards) => wildcards.iter().any(|w| w.matches(s)),
                    AnythingBut::Numbers(_) => unreachable!("handled above"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pat(v: Value) -> Pattern {
        Pattern::parse(&v).unwrap_or_else(|e| panic!("pattern refused: {e}"))
    }

    fn err(v: Value) -> PatternError {
        match Pattern::parse(&v) {
            Ok(p) => panic!("pattern accepted: {p:?}"),
            Err(e) => e,
        }
    }

    /// The EC2 state-change event from the "Event patterns" page.
    fn ec2_event() -> Value {
        json!({
            "version": "0",
            "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": "EC2 Instance State-change Notification",
            "source": "aws.ec2",
            "account": "111122223333",
            "time": "2017-12-22T18:43:48Z",
            "region": "us-west-1",
            "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
            "detail": {"instance-id": "i-1234567890abcdef0", "state": "terminated"}
        })
    }

    /// The sample event from the event-ruler README, used by the content-filtering examples.
    fn ruler_event() -> Value {
        json!({
            "version": "0",
            "id": "ddddd4-aaaa-7777-4444-345dd43cc333",
            "detail-type": "EC2 Instance State-change Notification",
            "source": "aws.ec2",
            "account": "012345679012",
            "time": "2017-10-02T16:24:49Z",
            "region": "us-east-1",
            "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
            "detail": {
                "c-count": 5,
                "d-count": 3,
                "x-limit": 301.8,
                "source-ip": "10.0.0.33",
                "instance-id": "i-000000aaaaaa00000",
                "state": "running"
            }
        })
    }

    /// An S3 "Object Created" event as delivered to EventBridge.
    fn s3_object_created(key: &str) -> Value {
        json!({
            "version": "0",
            "id": "17793124-05d4-b198-2fde-7ededc63b103",
            "detail-type": "Object Created",
            "source": "aws.s3",
            "account": "123456789012",
            "time": "2021-11-12T00:00:00Z",
            "region": "ca-central-1",
            "resources": ["arn:aws:s3:::example-bucket"],
            "detail": {
                "version": "0",
                "bucket": {"name": "example-bucket"},
                "object": {
                    "key": key,
                    "size": 5,
                    "etag": "b1946ac92492d2347c6235b4d2611184",
                    "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
                    "sequencer": "617f08299329d189"
                },
                "request-id": "N4N7GDK58NMKJ12R",
                "requester": "123456789012",
                "source-ip-address": "1.2.3.4",
                "reason": "PutObject"
            }
        })
    }

    fn with_detail(detail: Value) -> Value {
        json!({"source": "test", "detail": detail})
    }

    #[test]
    fn ec2_termination_example() {
        let p = pat(json!({
            "source": ["aws.ec2"],
            "detail-type": ["EC2 Instance State-change Notification"],
            "detail": {"state": ["terminated"]}
        }));
        assert!(p.matches(&ec2_event()));
        let mut running = ec2_event();
        running["detail"]["state"] = json!("running");
        assert!(!p.matches(&running));
        let mut other_source = ec2_event();
        other_source["source"] = json!("aws.fargate");
        assert!(!p.matches(&other_source));
    }

    #[test]
    fn array_of_values_is_or() {
        let p = pat(json!({"source": ["aws.ec2", "aws.fargate"]}));
        assert!(p.matches(&json!({"source": "aws.ec2"})));
        assert!(p.matches(&json!({"source": "aws.fargate"})));
        assert!(!p.matches(&json!({"source": "aws.s3"})));
    }

    #[test]
    fn pattern_field_missing_from_event_does_not_match() {
        let p = pat(json!({"source": ["aws.ec2"], "detail": {"state": ["terminated"]}}));
        assert!(!p.matches(&json!({"source": "aws.ec2"})));
        assert!(!p.matches(&json!({"source": "aws.ec2", "detail": {}})));
        // Same name but wrong nesting.
        assert!(!p.matches(&json!({"source": "aws.ec2", "state": "terminated"})));
    }

    #[test]
    fn macie_nested_numbers_example() {
        let p = pat(json!({
            "source": ["aws.macie"],
            "detail-type": ["Macie Alert"],
            "detail": {"risk-score": [80], "trigger": {"risk": [8]}}
        }));
        let event = json!({
            "source": "aws.macie",
            "detail-type": "Macie Alert",
            "detail": {
                "notification-type": "ALERT_CREATED",
                "tags": ["Custom_Alert", "Insider"],
                "risk-score": 80,
                "trigger": {"alert-type": "basic", "risk": 8}
            }
        });
        assert!(p.matches(&event));
        let mut lower_risk = event.clone();
        lower_risk["detail"]["trigger"]["risk"] = json!(7);
        assert!(!p.matches(&lower_risk));
        let mut string_score = event;
        string_score["detail"]["risk-score"] = json!("80");
        assert!(!p.matches(&string_score));
    }

    #[test]
    fn null_and_empty_string_example() {
        let event = json!({
            "source": "aws.autoscaling",
            "detail-type": "EC2 Instance Launch Successful",
            "resources": [],
            "detail": {"eventVersion": "", "responseElements": null}
        });
        assert!(pat(json!({"detail": {"eventVersion": [""]}})).matches(&event));
        assert!(pat(json!({"detail": {"responseElements": [null]}})).matches(&event));
        // Null and the empty string are not interchangeable.
        assert!(!pat(json!({"detail": {"eventVersion": [null]}})).matches(&event));
        assert!(!pat(json!({"detail": {"responseElements": [""]}})).matches(&event));
    }

    #[test]
    fn null_versus_missing_versus_exists() {
        let null_event = with_detail(json!({"x": null}));
        let missing_event = with_detail(json!({}));
        let null_p = pat(json!({"detail": {"x": [null]}}));
        assert!(null_p.matches(&null_event));
        assert!(!null_p.matches(&missing_event));
        let exists = pat(json!({"detail": {"x": [{"exists": true}]}}));
        assert!(exists.matches(&null_event));
        assert!(!exists.matches(&missing_event));
        let absent = pat(json!({"detail": {"x": [{"exists": false}]}}));
        assert!(!absent.matches(&null_event));
        assert!(absent.matches(&missing_event));
    }

    #[test]
    fn booleans_match_exactly() {
        let p = pat(json!({"detail": {"enabled": [true]}}));
        assert!(p.matches(&with_detail(json!({"enabled": true}))));
        assert!(!p.matches(&with_detail(json!({"enabled": false}))));
        assert!(!p.matches(&with_detail(json!({"enabled": "true"}))));
    }

    #[test]
    fn strings_are_case_sensitive_and_not_numbers() {
        let p = pat(json!({"detail": {"state": ["Running"]}}));
        assert!(!p.matches(&with_detail(json!({"state": "running"}))));
        let p = pat(json!({"detail": {"code": ["5"]}}));
        assert!(!p.matches(&with_detail(json!({"code": 5}))));
    }

    #[test]
    fn numbers_compare_numerically() {
        let five = pat(json!({"detail": {"n": [5]}}));
        assert!(five.matches(&with_detail(json!({"n": 5}))));
        assert!(five.matches(&with_detail(json!({"n": 5.0}))));
        assert!(!five.matches(&with_detail(json!({"n": 5.5}))));
        let p = pat(json!({"detail": {"n": [300.0]}}));
        assert!(p.matches(&serde_json::from_str(r#"{"detail": {"n": 3.0e2}}"#).unwrap()));
        assert!(p.matches(&with_detail(json!({"n": 300}))));
        // Large integers (account numbers) compare exactly.
        let p = pat(json!({"detail": {"n": [123456789012345678u64]}}));
        assert!(p.matches(&with_detail(json!({"n": 123456789012345678u64}))));
        assert!(!p.matches(&with_detail(json!({"n": 123456789012345679u64}))));
    }

    #[test]
    fn event_arrays_match_if_any_element_matches() {
        // The "Arrays in event patterns" example.
        let p = pat(json!({"resources": [
            "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
            "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f",
            "arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f"
        ]}));
        let event = json!({"resources": [
            "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:autoScalingGroupName/ASGTerminate",
            "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"
        ]});
        assert!(p.matches(&event));
        assert!(!p.matches(
            &json!({"resources": ["arn:aws:ec2:us-east-1:999999999999:instance/i-b188560f"]})
        ));
        assert!(!p.matches(&json!({"resources": []})));
        // Nested arrays are flattened.
        let p = pat(json!({"tags": ["b"]}));
        assert!(p.matches(&json!({"tags": [["a"], ["b", "c"]]})));
    }

    #[test]
    fn arrays_of_objects_match_within_one_element() {
        let event = json!({"employees": [
            {"firstName": "John", "lastName": "Doe"},
            {"firstName": "Anna", "lastName": "Smith"},
            {"firstName": "Peter", "lastName": "Jones"}
        ]});
        assert!(pat(json!({"employees": {"firstName": ["Anna"]}})).matches(&event));
        assert!(
            pat(json!({"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}}))
                .matches(&event)
        );
        assert!(
            !pat(json!({"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}))
                .matches(&event)
        );
        // Multi-level arrays.
        let nested = json!({"employees": [
            [{"firstName": "John", "lastName": "Doe"}, {"firstName": "Anna", "lastName": "Smith"}],
            [{"firstName": "Peter", "lastName": "Jones"}]
        ]});
        assert!(pat(json!({"employees": {"firstName": ["Peter"]}})).matches(&nested));
        assert!(
            !pat(json!({"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}))
                .matches(&nested)
        );
    }

    #[test]
    fn s3_object_created_prefix_and_suffix() {
        let p = pat(json!({
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {
                "bucket": {"name": ["example-bucket"]},
                "object": {"key": [{"prefix": "uploads/"}]}
            }
        }));
        assert!(p.matches(&s3_object_created("uploads/cat.png")));
        assert!(!p.matches(&s3_object_created("other/cat.png")));

        let png = pat(json!({
            "source": ["aws.s3"],
            "detail": {"object": {"key": [{"suffix": ".png"}]}}
        }));
        assert!(png.matches(&s3_object_created("uploads/cat.png")));
        assert!(!png.matches(&s3_object_created("uploads/cat.PNG")));
        assert!(!png.matches(&s3_object_created("uploads/cat.png.txt")));

        let both = pat(json!({"detail": {"object": {
            "key": [{"wildcard": "uploads/*.png"}],
            "size": [{"numeric": [">", 0]}]
        }}}));
        assert!(both.matches(&s3_object_created("uploads/a/b.png")));
        assert!(!both.matches(&s3_object_created("downloads/b.png")));
    }

    #[test]
    fn prefix_matching() {
        let p = pat(json!({"time": [{"prefix": "2017-10-02"}]}));
        assert!(p.matches(&ruler_event()));
        assert!(p.matches(&json!({"time": "2017-10-02T18:43:48Z"})));
        assert!(!p.matches(&json!({"time": "2017-10-03T18:43:48Z"})));
        // Prefix applies to strings only.
        let p = pat(json!({"n": [{"prefix": "12"}]}));
        assert!(!p.matches(&json!({"n": 123})));
    }

    #[test]
    fn prefix_ignore_case() {
        let p = pat(json!({"detail": {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}}));
        for service in ["EventBridge", "eventbridge", "EVENTBRIDGE", "eVeNtB"] {
            assert!(
                p.matches(&with_detail(json!({"service": service}))),
                "{service}"
            );
        }
        assert!(!p.matches(&with_detail(json!({"service": "Event Bridge"}))));
    }

    #[test]
    fn suffix_matching_and_ignore_case() {
        let p = pat(json!({"source": [{"suffix": "ec2"}]}));
        assert!(p.matches(&ruler_event()));
        assert!(!p.matches(&json!({"source": "aws.EC2"})));
        let p = pat(json!({"detail": {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}}));
        assert!(p.matches(&with_detail(json!({"FileName": "photo.png"}))));
        assert!(p.matches(&with_detail(json!({"FileName": "photo.PNG"}))));
        assert!(p.matches(&with_detail(json!({"FileName": "photo.Png"}))));
        assert!(!p.matches(&with_detail(json!({"FileName": "photo.jpg"}))));
    }

    #[test]
    fn equals_ignore_case() {
        let p = pat(json!({"source": [{"equals-ignore-case": "AWS.EC2"}]}));
        assert!(p.matches(&ruler_event()));
        let p = pat(json!({"Name": [{"equals-ignore-case": "alice"}]}));
        assert!(p.matches(&json!({"Name": "Alice"})));
        assert!(p.matches(&json!({"Name": "ALICE"})));
        assert!(!p.matches(&json!({"Name": "Alicia"})));
    }

    #[test]
    fn wildcard_matching() {
        let p = pat(json!({"source": [{"wildcard": "Simple*Service"}]}));
        assert!(p.matches(&json!({"source": "SimpleQueueService"})));
        assert!(p.matches(&json!({"source": "SimpleService"})));
        assert!(!p.matches(&json!({"source": "SimpleServiceX"})));
        let p =
            pat(json!({"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}));
        assert!(p.matches(
            &json!({"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/default"})
        ));
        assert!(!p.matches(
            &json!({"EventBusArn": "arn:aws:events:us-west-2:123456789012:event-bus/default"})
        ));
        let p = pat(json!({"key": [{"wildcard": "dir/*.png"}]}));
        assert!(p.matches(&json!({"key": "dir/a.png"})));
        assert!(p.matches(&json!({"key": "dir/a/b.png"})));
        assert!(!p.matches(&json!({"key": "dir/a.jpg"})));
        // "*.png" then "a*a" with overlapping pieces.
        let p = pat(json!({"k": [{"wildcard": "a*a"}]}));
        assert!(p.matches(&json!({"k": "aa"})));
        assert!(!p.matches(&json!({"k": "a"})));
    }

    #[test]
    fn wildcard_escapes() {
        // JSON "a\\*b" is the pattern text a\*b: a literal star.
        let p = Pattern::parse_str(r#"{"k": [{"wildcard": "a\\*b"}]}"#).unwrap();
        assert!(p.matches(&json!({"k": "a*b"})));
        assert!(!p.matches(&json!({"k": "axb"})));
        let p = Pattern::parse_str(r#"{"k": [{"wildcard": "c:\\\\*"}]}"#).unwrap();
        assert!(p.matches(&json!({"k": "c:\\temp"})));
        assert!(!p.matches(&json!({"k": "c:/temp"})));
    }

    #[test]
    fn anything_but_string_and_number() {
        let p = pat(json!({"detail": {"state": [{"anything-but": "initializing"}]}}));
        assert!(p.matches(&ruler_event()));
        assert!(!p.matches(&with_detail(json!({"state": "initializing"}))));
        // The field must be present.
        assert!(!p.matches(&with_detail(json!({}))));
        // Other types are not excluded.
        assert!(p.matches(&with_detail(json!({"state": 5}))));
        let p = pat(json!({"detail": {"x-limit": [{"anything-but": 123}]}}));
        assert!(p.matches(&ruler_event()));
        assert!(!p.matches(&with_detail(json!({"x-limit": 123}))));
        assert!(!p.matches(&with_detail(json!({"x-limit": 123.0}))));
        assert!(p.matches(&with_detail(json!({"x-limit": "123"}))));
    }

    #[test]
    fn anything_but_lists() {
        let p = pat(json!({"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}));
        assert!(p.matches(&ruler_event()));
        assert!(!p.matches(&with_detail(json!({"state": "stopped"}))));
        assert!(!p.matches(&with_detail(json!({"state": "overloaded"}))));
        let p = pat(json!({"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}));
        assert!(p.matches(&ruler_event()));
        assert!(!p.matches(&with_detail(json!({"x-limit": 200}))));
        assert!(!p.matches(&with_detail(json!({"x-limit": 3.0e2}))));
        // An event array matches if any element is not excluded.
        let p = pat(json!({"tags": [{"anything-but": "a"}]}));
        assert!(p.matches(&json!({"tags": ["a", "b"]})));
        assert!(!p.matches(&json!({"tags": ["a", "a"]})));
    }

    #[test]
    fn anything_but_prefix_and_suffix() {
        let p = pat(json!({"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}));
        assert!(p.matches(&ruler_event()));
        assert!(!p.matches(&with_detail(json!({"state": "initializing"}))));
        let p = pat(json!({"Region": [{"anything-but": {"prefix": "us-"}}]}));
        assert!(p.matches(&json!({"Region": "eu-west-1"})));
        assert!(!p.matches(&json!({"Region": "us-east-1"})));
        let p = pat(json!({"FileName": [{"anything-but": {"suffix": ".png"}}]}));
        assert!(p.matches(&json!({"FileName": "photo.jpg"})));
        assert!(!p.matches(&json!({"FileName": "photo.png"})));
        let p = pat(json!({"Region": [{"anything-but": {"prefix": ["us-", "eu-"]}}]}));
        assert!(p.matches(&json!({"Region": "ap-south-1"})));
        assert!(!p.matches(&json!({"Region": "eu-west-1"})));
    }

    #[test]
    fn anything_but_ignore_case() {
        let p = pat(
            json!({"detail": {"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]}}),
        );
        assert!(p.matches(&with_detail(json!({"state": "running"}))));
        assert!(!p.matches(&with_detail(json!({"state": "INITIALIZING"}))));
        assert!(!p.matches(&with_detail(json!({"state": "Initializing"}))));
        let p = pat(
            json!({"state": [{"anything-but": {"equals-ignore-case": ["stopped", "overloaded"]}}]}),
        );
        assert!(!p.matches(&json!({"state": "Stopped"})));
        assert!(!p.matches(&json!({"state": "OVERLOADED"})));
        assert!(p.matches(&json!({"state": "running"})));
    }

    #[test]
    fn anything_but_wildcard() {
        let p = pat(json!({"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}));
        assert!(p.matches(&json!({"FilePath": "/usr/bin/env"})));
        assert!(!p.matches(&json!({"FilePath": "/usr/lib/libc.so"})));
        let p = pat(json!({"FilePath": [{"anything-but": {"wildcard": ["*/lib/*", "*/bin/*"]}}]}));
        assert!(!p.matches(&json!({"FilePath": "/usr/bin/env"})));
        assert!(p.matches(&json!({"FilePath": "/home/me/notes.txt"})));
    }

    #[test]
    fn numeric_matching_example() {
        let p = pat(json!({"detail": {
            "c-count": [{"numeric": [">", 0, "<=", 5]}],
            "d-count": [{"numeric": ["<", 10]}],
            "x-limit": [{"numeric": ["=", 3.018e2]}]
        }}));
        assert!(p.matches(&ruler_event()));
        let check = |c: Value, d: Value, x: Value| {
            p.matches(&with_detail(
                json!({"c-count": c, "d-count": d, "x-limit": x}),
            ))
        };
        assert!(check(json!(1), json!(9.99), json!(301.8)));
        assert!(
            !check(json!(0), json!(3), json!(301.8)),
            "lower bound is exclusive"
        );
        assert!(!check(json!(6), json!(3), json!(301.8)));
        assert!(
            !check(json!(5), json!(10), json!(301.8)),
            "< 10 excludes 10"
        );
        assert!(!check(json!(5), json!(3), json!(301.9)));
        assert!(
            !check(json!("5"), json!(3), json!(301.8)),
            "only numbers match"
        );
    }

    #[test]
    fn numeric_operators() {
        let m = |range: Value, n: Value| {
            pat(json!({"n": [{"numeric": range}]})).matches(&json!({"n": n}))
        };
        assert!(m(json!([">=", 5]), json!(5)));
        assert!(!m(json!([">", 5]), json!(5)));
        assert!(m(json!(["<=", 5]), json!(5.0)));
        assert!(!m(json!(["<", 5]), json!(5)));
        assert!(m(json!(["=", 5]), json!(5.0)));
        assert!(m(json!([">=", -1.5, "<", 0]), json!(-1.5)));
        // Values outside the documented range never match numerically.
        assert!(!m(json!([">", 0]), json!(6.0e9)));
        assert!(!m(json!([">", 0]), json!(null)));
        assert!(!m(json!([">", 0]), json!(true)));
    }

    #[test]
    fn cidr_matching() {
        let p = pat(json!({"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}));
        assert!(p.matches(&with_detail(json!({"sourceIPAddress": "10.0.0.0"}))));
        assert!(p.matches(&with_detail(json!({"sourceIPAddress": "10.0.0.255"}))));
        assert!(!p.matches(&with_detail(json!({"sourceIPAddress": "10.0.1.0"}))));
        assert!(!p.matches(&with_detail(json!({"sourceIPAddress": "not an ip"}))));
        let p = pat(json!({"detail": {"source-ip": [{"cidr": "10.0.0.0/8"}]}}));
        assert!(p.matches(&ruler_event()));
        let p = pat(json!({"ip": [{"cidr": "2001:db8::/32"}]}));
        assert!(p.matches(&json!({"ip": "2001:db8:1::5"})));
        assert!(!p.matches(&json!({"ip": "2001:db9::5"})));
        assert!(!p.matches(&json!({"ip": "10.0.0.1"})));
        // An exact IP string matches other spellings of the same address.
        let p = pat(json!({"ip": ["2001:db8::1"]}));
        assert!(p.matches(&json!({"ip": "2001:0db8:0:0:0:0:0:1"})));
    }

    #[test]
    fn exists_true_example() {
        let p = pat(json!({"detail": {"state": [{"exists": true}]}}));
        let matching = json!({
            "version": "0",
            "id": "7bf73129-1428-4cd3-a780-95db273d1602",
            "detail-type": "EC2 Instance State-change Notification",
            "source": "aws.ec2",
            "account": "123456789012",
            "time": "2015-11-11T21:29:54Z",
            "region": "us-east-1",
            "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
            "detail": {"instance-id": "i-abcd1111", "state": "pending"}
        });
        assert!(p.matches(&matching));
        let not_matching = json!({
            "detail-type": ["EC2 Instance State-change Notification"],
            "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-02ebd4584a2ebd341"],
            "detail": {"c-count": {"c1": 100}}
        });
        assert!(!p.matches(&not_matching));
    }

    #[test]
    fn exists_false_example_and_leaf_only() {
        let p = pat(json!({"detail": {"c-count": [{"exists": false}]}}));
        let without = json!({
            "detail-type": ["EC2 Instance State-change Notification"],
            "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-02ebd4584a2ebd341"],
            "detail": {"state": ["initializing", "running"]}
        });
        assert!(p.matches(&without));
        // c-count is not a leaf here, so it does not "exist".
        let object_valued = json!({
            "detail": {"state": ["initializing", "running"], "c-count": {"c1": 100}}
        });
        assert!(p.matches(&object_valued));
        assert!(!pat(json!({"detail": {"c-count": [{"exists": true}]}})).matches(&object_valued));
        assert!(!p.matches(&ruler_event()));
        // A missing parent means the field is missing too.
        assert!(p.matches(&json!({"source": "x"})));
        assert!(p.matches(&json!({"detail": "a string"})));
    }

    #[test]
    fn exists_with_arrays() {
        let absent = pat(json!({"tags": [{"exists": false}]}));
        let present = pat(json!({"tags": [{"exists": true}]}));
        assert!(present.matches(&json!({"tags": ["a"]})));
        assert!(!absent.matches(&json!({"tags": ["a"]})));
        // An empty array holds no values.
        assert!(absent.matches(&json!({"tags": []})));
        assert!(!present.matches(&json!({"tags": []})));
        // In an array of objects, exists:false with nothing else picking an element needs
        // the field to be absent from every element...
        let p = pat(json!({"items": {"sku": [{"exists": false}]}}));
        assert!(p.matches(&json!({"items": [{"name": "a"}, {"name": "b"}]})));
        assert!(!p.matches(&json!({"items": [{"name": "a"}, {"name": "b", "sku": "x"}]})));
        // ...but is judged within the element the other conditions picked.
        let p = pat(json!({"items": {"name": ["b"], "sku": [{"exists": false}]}}));
        assert!(p.matches(&json!({"items": [{"name": "a", "sku": "x"}, {"name": "b"}]})));
        assert!(!p.matches(&json!({"items": [{"name": "a"}, {"name": "b", "sku": "x"}]})));
    }

    #[test]
    fn absent_or_value_in_one_leaf() {
        let p = pat(json!({"detail": {"state": [{"exists": false}, "running"]}}));
        assert!(p.matches(&with_detail(json!({}))));
        assert!(p.matches(&with_detail(json!({"state": "running"}))));
        assert!(!p.matches(&with_detail(json!({"state": "stopped"}))));
    }

    #[test]
    fn complex_example() {
        let p = pat(json!({
            "time": [{"prefix": "2017-10-02"}],
            "detail": {
                "state": [{"anything-but": "initializing"}],
                "c-count": [{"numeric": [">", 0, "<=", 5]}],
                "d-count": [{"numeric": ["<", 10]}],
                "x-limit": [{"anything-but": [100, 200, 300]}],
                "source-ip": [{"cidr": "10.0.0.0/8"}]
            }
        }));
        assert!(p.matches(&ruler_event()));
        let mut e = ruler_event();
        e["detail"]["x-limit"] = json!(200);
        assert!(!p.matches(&e));
        let mut e = ruler_event();
        e["detail"]["source-ip"] = json!("192.168.0.1");
        assert!(!p.matches(&e));
    }

    #[test]
    fn or_examples() {
        // "source" && ("metricName" || "namespace")
        let p = pat(json!({
            "source": ["aws.cloudwatch"],
            "$or": [
                {"metricName": ["CPUUtilization", "ReadLatency"]},
                {"namespace": ["AWS/EC2", "AWS/ES"]}
            ]
        }));
        assert!(p.matches(&json!({"source": "aws.cloudwatch", "metricName": "ReadLatency"})));
        assert!(p.matches(&json!({"source": "aws.cloudwatch", "namespace": "AWS/ES"})));
        assert!(!p.matches(&json!({"source": "aws.cloudwatch", "namespace": "AWS/S3"})));
        assert!(!p.matches(&json!({"source": "aws.ec2", "metricName": "ReadLatency"})));
    }

    #[test]
    fn or_nested_and_parallel() {
        // ("source" && ("metricName" || ("metricType" && "namespace" && ("metricId" || "spaceId")) || "scope"))
        let p = pat(json!({
            "source": ["aws.cloudwatch"],
            "$or": [
                {"metricName": ["CPUUtilization", "ReadLatency"]},
                {
                    "metricType": ["MetricType"],
                    "namespace": ["AWS/EC2", "AWS/ES"],
                    "$or": [{"metricId": [1234]}, {"spaceId": [1000]}]
                },
                {"scope": ["Service"]}
            ]
        }));
        let base = |extra: Value| {
            let mut e = json!({"source": "aws.cloudwatch"});
            for (k, v) in extra.as_object().unwrap() {
                e[k] = v.clone();
            }
            e
        };
        assert!(p.matches(&base(json!({"scope": "Service"}))));
        assert!(p.matches(&base(
            json!({"metricType": "MetricType", "namespace": "AWS/EC2", "spaceId": 1000})
        )));
        assert!(!p.matches(&base(
            json!({"metricType": "MetricType", "namespace": "AWS/EC2"})
        )));
        assert!(!p.matches(&base(json!({"metricType": "MetricType", "spaceId": 1000}))));

        // Parallel $or at two levels.
        let p = pat(json!({
            "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}],
            "detail": {"$or": [{"source": ["aws.cloudwatch"]}, {"detail-type": ["CloudWatch Alarm State Change"]}]}
        }));
        assert!(p.matches(&json!({"namespace": "AWS/EC2", "detail": {"detail-type": "CloudWatch Alarm State Change"}})));
        assert!(!p.matches(&json!({"namespace": "AWS/EC2", "detail": {"source": "aws.ec2"}})));
        assert!(!p.matches(&json!({"detail": {"source": "aws.cloudwatch"}})));
    }

    #[test]
    fn or_with_exists_false() {
        let p = pat(json!({"detail": {"$or": [
            {"state": [{"exists": false}]},
            {"state": ["running"]}
        ]}}));
        assert!(p.matches(&with_detail(json!({}))));
        assert!(p.matches(&with_detail(json!({"state": "running"}))));
        assert!(!p.matches(&with_detail(json!({"state": "stopped"}))));
    }

    #[test]
    fn or_entries_share_array_elements_with_parent() {
        let p = pat(json!({"items": {
            "kind": ["book"],
            "$or": [{"price": [{"numeric": ["<", 10]}]}, {"sale": [true]}]
        }}));
        assert!(p.matches(
            &json!({"items": [{"kind": "cd", "price": 5}, {"kind": "book", "sale": true}]})
        ));
        assert!(!p.matches(
            &json!({"items": [{"kind": "cd", "price": 5}, {"kind": "book", "price": 20}]})
        ));
    }

    #[test]
    fn repeated_key_last_one_wins() {
        let p = Pattern::parse_str(
            r#"{"detail": {"location": [{"prefix": "us-"}], "location": [{"anything-but": "us-east"}]}}"#,
        )
        .unwrap();
        assert!(p.matches(&with_detail(json!({"location": "eu-west"}))));
        assert!(!p.matches(&with_detail(json!({"location": "us-east"}))));
    }

    #[test]
    fn parse_str_and_from_str() {
        let p: Pattern = r#"{"source": ["aws.ec2"]}"#.parse().unwrap();
        assert!(p.matches(&ec2_event()));
        let e = Pattern::parse_str("{not json").unwrap_err();
        assert_eq!(e.path, "");
        assert!(e.message.starts_with("invalid JSON"), "{}", e.message);
        let e = "[1]".parse::<Pattern>().unwrap_err();
        assert_eq!(e.path, "");
    }

    #[test]
    fn errors_name_the_bad_leaf() {
        let e = err(json!({"detail": {"state": "running"}}));
        assert_eq!(e.path, "detail.state");
        assert!(e.message.contains("array"), "{}", e.message);
        assert_eq!(e.to_string(), format!("detail.state: {}", e.message));
        let e = err(json!({"Records": {"s3": {"object": {"key": [{"prefixx": "a"}]}}}}));
        assert_eq!(e.path, "Records.s3.object.key[0]");
        assert!(e.message.contains("prefixx"), "{}", e.message);
        let e = err(json!({"detail": {"state": []}}));
        assert_eq!(e.path, "detail.state");
        let e = err(json!({"detail": {}}));
        assert_eq!(e.path, "detail");
        let e = err(json!({}));
        assert_eq!(e.path, "");
        let e = err(json!({"a": [["nested"]]}));
        assert_eq!(e.path, "a[0]");
        let e = err(json!({"a": ["ok", {"prefix": "x", "suffix": "y"}]}));
        assert_eq!(e.path, "a[1]");
        let e = err(json!({"a": [{"exists": "yes"}]}));
        assert_eq!(e.path, "a[0].exists");
        let e = err(json!({"a": [{"prefix": 5}]}));
        assert_eq!(e.path, "a[0].prefix");
        let e = err(json!({"a": [{"prefix": {"equals-ignore-cas": "x"}}]}));
        assert_eq!(e.path, "a[0].prefix.equals-ignore-cas");
    }

    #[test]
    fn numeric_errors() {
        let e = err(json!({"n": [{"numeric": ["!=", 5]}]}));
        assert_eq!(e.path, "n[0].numeric[0]");
        let e = err(json!({"n": [{"numeric": [">", "5"]}]}));
        assert_eq!(e.path, "n[0].numeric[1]");
        let e = err(json!({"n": [{"numeric": [">", 5, ">", 6]}]}));
        assert_eq!(e.path, "n[0].numeric[2]");
        let e = err(json!({"n": [{"numeric": [">", 5, "<", 1]}]}));
        assert_eq!(e.path, "n[0].numeric[3]");
        let e = err(json!({"n": [{"numeric": ["=", 5, "<", 10]}]}));
        assert_eq!(e.path, "n[0].numeric[2]");
        let e = err(json!({"n": [{"numeric": [">"]}]}));
        assert_eq!(e.path, "n[0].numeric");
        let e = err(json!({"n": [{"numeric": 5}]}));
        assert_eq!(e.path, "n[0].numeric");
        let e = err(json!({"n": [{"numeric": ["<", 6.0e9]}]}));
        assert_eq!(e.path, "n[0].numeric[1]");
    }

    #[test]
    fn anything_but_and_operator_errors() {
        let e = err(json!({"s": [{"anything-but": ["a", 1]}]}));
        assert_eq!(e.path, "s[0].anything-but");
        let e = err(json!({"s": [{"anything-but": null}]}));
        assert_eq!(e.path, "s[0].anything-but");
        let e = err(json!({"s": [{"anything-but": {"exists": true}}]}));
        assert_eq!(e.path, "s[0].anything-but.exists");
        let e = err(json!({"s": [{"anything-but": {"prefix": ""}}]}));
        assert_eq!(e.path, "s[0].anything-but.prefix");
        let e = err(json!({"s": [{"anything-but": {"suffix": ["a", 1]}}]}));
        assert_eq!(e.path, "s[0].anything-but.suffix[1]");
        let e = err(json!({"s": [{"wildcard": "a**b"}]}));
        assert_eq!(e.path, "s[0].wildcard");
        let e = Pattern::parse_str(r#"{"s": [{"wildcard": "a\\b"}]}"#).unwrap_err();
        assert_eq!(e.path, "s[0].wildcard");
        let e = err(json!({"s": [{"cidr": "10.0.0.0"}]}));
        assert_eq!(e.path, "s[0].cidr");
        let e = err(json!({"s": [{"cidr": "10.0.0.0/33"}]}));
        assert_eq!(e.path, "s[0].cidr");
        let e = err(json!({"s": [{"equals-ignore-case": ["a"]}]}));
        assert_eq!(e.path, "s[0].equals-ignore-case");
    }

    #[test]
    fn or_errors() {
        let e = err(json!({"$or": [{"a": ["x"]}]}));
        assert_eq!(e.path, "$or");
        let e = err(json!({"detail": {"$or": {"a": ["x"]}}}));
        assert_eq!(e.path, "detail.$or");
        let e = err(json!({"detail": {"$or": [{"a": ["x"]}, "b"]}}));
        assert_eq!(e.path, "detail.$or[1]");
        let e = err(json!({"$or": [{"a": ["x"]}, {"b": {"c": "y"}}]}));
        assert_eq!(e.path, "$or[1].b.c");
        let e = err(json!({"$or": [{"numeric": [1]}, {"prefix": ["abc"]}]}));
        assert_eq!(e.path, "$or[0].numeric");
        let e = err(json!({"$or": [{"a": ["x"]}, {}]}));
        assert_eq!(e.path, "$or[1]");
    }

    #[test]
    fn or_expansion_is_bounded() {
        let or = json!([{"a": ["1"]}, {"b": ["2"]}, {"c": ["3"]}, {"d": ["4"]}]);
        // 4^6 = 4096 combinations.
        let p = json!({
            "k1": {"$or": or.clone()}, "k2": {"$or": or.clone()}, "k3": {"$or": or.clone()},
            "k4": {"$or": or.clone()}, "k5": {"$or": or.clone()}, "k6": {"$or": or}
        });
        let e = err(p);
        assert!(e.message.contains("combinations"), "{}", e.message);
    }
}
