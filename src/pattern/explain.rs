//! Why a pattern matched an event or did not: the fields that decided it, for
//! `fanin test-pattern --explain`. Off the hot path: it evaluates again, field by field.

use std::fmt;

use serde_json::Value;

use super::matcher::{eval_leaf, eval_node, undot, Node, Outcome};
use super::syntax::join;
use super::Pattern;

/// The answer and the fields behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub matched: bool,
    /// On a match, every field of the alternative that matched (`$or` expanded), each with how
    /// it held. On no match, for each alternative, the first field that failed.
    pub fields: Vec<FieldReason>,
}

/// One field of the pattern and what the event had there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldReason {
    /// The field's dotted path, e.g. `detail.state`.
    pub path: String,
    pub held: bool,
    /// What the event had there: a value, `absent`, or `no element matches` for an array of
    /// objects.
    pub found: String,
}

impl fmt::Display for FieldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.held { "matches" } else { "does not match" };
        write!(f, "{}: {} ({verdict})", self.path, self.found)
    }
}

impl Pattern {
    /// Like [`Pattern::matches`], with the fields that decided the answer.
    pub fn explain(&self, event: &Value) -> Explanation {
        if let Some(branch) = self.branches.iter().find(|b| eval_node(b, Some(event)) != Outcome::No) {
            let mut fields = Vec::new();
            walk(branch, Some(event), "", &mut fields);
            return Explanation { matched: true, fields };
        }
        let mut fields: Vec<FieldReason> = Vec::new();
        for branch in &self.branches {
            let mut reasons = Vec::new();
            walk(branch, Some(event), "", &mut reasons);
            if let Some(first) = reasons.into_iter().find(|r| !r.held) {
                if !fields.contains(&first) {
                    fields.push(first);
                }
            }
        }
        Explanation { matched: false, fields }
    }
}

/// Records every field of `node` over `value`, in pattern order: leaves, then nested objects.
fn walk(node: &Node, value: Option<&Value>, path: &str, out: &mut Vec<FieldReason>) {
    let map = match value {
        // Dotted keys name nested fields, as in matching.
        Some(Value::Object(map)) if map.keys().any(|k| k.contains('.')) => {
            let nested = Value::Object(undot(map));
            return walk(node, Some(&nested), path, out);
        }
        Some(Value::Object(map)) => Some(map),
        _ => None,
    };
    let field = |key: &str| map.and_then(|m| m.get(key));
    for (key, matchers) in &node.leaves {
        let at = field(key);
        out.push(FieldReason { path: join(path, key), held: eval_leaf(matchers, at) != Outcome::No, found: describe(at) });
    }
    for (key, child) in &node.children {
        let at = field(key);
        let here = join(path, key);
        match at {
            // Within an array of objects the element decides; name the array, not a field.
            Some(Value::Array(_)) => {
                let held = eval_node(child, at) != Outcome::No;
                let found = if held { "an element matches" } else { "no element matches" };
                out.push(FieldReason { path: here, held, found: found.into() });
            }
            _ => walk(child, at, &here, out),
        }
    }
}

fn describe(value: Option<&Value>) -> String {
    match value {
        None => "absent".into(),
        Some(Value::Object(_)) => "an object, not a value".into(),
        Some(v) => {
            let text = v.to_string();
            if text.chars().count() > 80 {
                format!("{}…", text.chars().take(80).collect::<String>())
            } else {
                text
            }
        }
    }
}
