//! What ships in `contrib/`: the Grafana dashboard (`contrib/grafana/fanin.json`) and the
//! Prometheus alerts (`contrib/prometheus/alerts.yml`) name only metrics the daemon exports,
//! group only by labels it sets, use each metric as its type allows (counters through `rate` or
//! `increase`, histograms through `_bucket` and `histogram_quantile`, gauges as they are), and
//! the dashboard shows every metric there is.
//!
//! The exported metrics come from the real daemon: the exporter writes a metric on `/metrics`
//! (its `# TYPE` line and samples) only once it has been recorded, so the test runs fanin through
//! something of everything (a throttle, a retry, a dead letter, a dead-letter and an on-success
//! sink that are missing, an unrouted event, an S3 test event, a cron fire, a reload, a message
//! handed out twice) and scrapes it. Every metric `describe_*!`d anywhere in `src/` must show up there.
//!
//! `promtool check rules` and `promtool test rules` are `scripts/check-contrib`'s.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::fake_sqs::FakeSqs;
use crate::support::harness::{eventually, http_get, unique, Daemon, Moto, Setup};
use crate::support::lambda_endpoint::{Behavior, LambdaEndpoint, Reply};
use crate::support::{numbered, PATIENCE};

/// Labels fanin puts on its metrics.
const FANIN_LABELS: [&str; 6] = ["source", "target", "condition", "reason", "result", "code"];
/// Labels Prometheus adds at scrape time (and `le`, a histogram bucket's bound).
const SCRAPE_LABELS: [&str; 2] = ["job", "instance"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// The exported metrics, from a `/metrics` page.

/// Metric name → (type, labels seen on its samples; a histogram's `le` left out).
#[derive(Default, Debug)]
struct Exported {
    types: BTreeMap<String, String>,
    labels: BTreeMap<String, BTreeSet<String>>,
}

impl Exported {
    fn add_page(&mut self, page: &str) {
        for line in page.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split_whitespace();
                if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                    self.types.insert(name.to_string(), kind.to_string());
                    self.labels.entry(name.to_string()).or_default();
                }
                continue;
            }
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (series, _value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("a sample line without a value: {line:?}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, label_names(rest.strip_suffix('}').unwrap_or(rest))),
                None => (series, Vec::new()),
            };
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|b| self.types.get(*b).map(String::as_str) == Some("histogram")))
                .unwrap_or(name);
            self.labels.entry(base.to_string()).or_default().extend(labels.into_iter().filter(|l| l != "le"));
        }
    }

    fn is_exported(&self, name: &str) -> bool {
        self.types.contains_key(name)
    }

    /// The exported metric a name in an expression refers to: itself, or the histogram whose
    /// `_bucket`, `_sum` or `_count` it is. `Err` says what is wrong.
    fn resolve<'a>(&self, name: &'a str) -> Result<(&'a str, &str, &'a str), String> {
        if let Some(kind) = self.types.get(name) {
            if kind == "histogram" {
                return Err(format!("`{name}` is a histogram: use `{name}_bucket` (with histogram_quantile), `_sum` or `_count`"));
            }
            return Ok((name, kind, ""));
        }
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix) {
                if self.types.get(base).map(String::as_str) == Some("histogram") {
                    return Ok((base, "histogram", suffix));
                }
            }
        }
        Err(format!(
            "`{name}` is not a metric the daemon exports (it exports {})",
            self.types.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    }
}

/// `a="x",b="y"` → `[a, b]` (values may hold commas, braces and escaped quotes).
fn label_names(s: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let name: String = std::iter::from_fn(|| chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_')).collect();
        if name.is_empty() {
            break;
        }
        names.push(name);
        // `="value"` (or `=~`, `!=`, `!~` in a selector), then the quoted value.
        while chars.peek().is_some_and(|c| *c != '"' && *c != '\'' && *c != '`') {
            chars.next();
        }
        if let Some(q) = chars.next() {
            let mut escaped = false;
            for c in chars.by_ref() {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    break;
                }
            }
        }
    }
    names
}

/// Every metric name `describe_counter!`, `describe_gauge!` or `describe_histogram!` names in `src/`.
fn described_in_src() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for kind in ["describe_counter!(", "describe_gauge!(", "describe_histogram!("] {
                    for (at, _) in text.match_indices(kind) {
                        let rest = text[at + kind.len()..].trim_start();
                        if let Some(rest) = rest.strip_prefix('"') {
                            out.insert(rest.split('"').next().unwrap().to_string());
                        }
                    }
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&root().join("src"), &mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// PromQL, as far as this test needs it: metric references, what encloses them, their label
// matchers, and the label lists of by/without/on/ignoring.

#[derive(Debug)]
struct MetricRef {
    name: String,
    at: usize,
    /// Enclosing function calls (and aggregations), outermost first.
    within: Vec<String>,
    /// Label names in its `{…}` selector.
    matchers: Vec<String>,
}

#[derive(Debug)]
struct Grouping {
    keyword: String,
    labels: Vec<String>,
    /// For `by`/`without`: the byte range of the aggregated expression that follows.
    scope: Option<(usize, usize)>,
}

const KEYWORDS: [&str; 9] = ["and", "or", "unless", "offset", "bool", "group_left", "group_right", "inf", "nan"];
const GROUPING: [&str; 4] = ["by", "without", "on", "ignoring"];

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

/// The index just past the quoted string starting at `i`.
fn skip_string(s: &[u8], i: usize) -> usize {
    let q = s[i];
    let mut j = i + 1;
    while j < s.len() && s[j] != q {
        if s[j] == b'\\' {
            j += 1;
        }
        j += 1;
    }
    j + 1
}

/// The index of the `)` matching the `(` at `open`.
fn matching_paren(s: &[u8], open: usize) -> usize {
    let mut depth = 0;
    let mut i = open;
    while i < s.len() {
        match s[i] {
            b'"' | b'\'' | b'`' => {
                i = skip_string(s, i);
                continue;
            }
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
        i += 1;
    }
    panic!("unbalanced parentheses in {:?}", String::from_utf8_lossy(s));
}

fn skip_space(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && s[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn scan_promql(expr: &str) -> (Vec<MetricRef>, Vec<Grouping>) {
    let s = expr.as_bytes();
    let (mut refs, mut groupings) = (Vec::<MetricRef>::new(), Vec::new());
    let mut stack: Vec<String> = Vec::new();
    // A function or aggregation name waiting for its `(` (an aggregation's may come after by/without).
    let mut pending: Option<String> = None;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        match b {
            b'"' | b'\'' | b'`' => i = skip_string(s, i),
            b'[' => i = expr[i..].find(']').map(|j| i + j + 1).expect("an unclosed ["),
            b'{' => {
                let end = i + expr[i..].find('}').expect("an unclosed {");
                let last = refs.last_mut().filter(|r| skip_space(s, r.at + r.name.len()) == i);
                let names = label_names(&expr[i + 1..end]);
                match last {
                    Some(r) => r.matchers = names,
                    None => panic!("a selector without a metric name in {expr:?}: name the metric"),
                }
                i = end + 1;
            }
            b'(' => {
                stack.push(pending.take().unwrap_or_default());
                i += 1;
            }
            b')' => {
                stack.pop();
                i += 1;
            }
            b'0'..=b'9' | b'.' => {
                while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'.') {
                    i += 1;
                }
            }
            _ if is_ident_start(b) => {
                let start = i;
                while i < s.len() && is_ident(s[i]) {
                    i += 1;
                }
                let word = &expr[start..i];
                let next = skip_space(s, i);
                if GROUPING.contains(&word) {
                    assert!(next < s.len() && s[next] == b'(', "`{word}` without a label list in {expr:?}");
                    let close = matching_paren(s, next);
                    let labels = expr[next + 1..close].split(',').map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
                    i = close + 1;
                    let scope = if word == "by" || word == "without" {
                        let open = skip_space(s, i);
                        assert!(
                            open < s.len() && s[open] == b'(',
                            "write `sum by (…) (expr)`, the grouping before the expression, in {expr:?}"
                        );
                        Some((open, matching_paren(s, open)))
                    } else {
                        None
                    };
                    groupings.push(Grouping { keyword: word.to_string(), labels, scope });
                } else if next < s.len() && s[next] == b'(' {
                    pending = Some(word.to_string());
                } else if KEYWORDS.contains(&word) {
                } else if matches!(
                    word,
                    "sum"
                        | "min"
                        | "max"
                        | "avg"
                        | "count"
                        | "group"
                        | "stddev"
                        | "stdvar"
                        | "topk"
                        | "bottomk"
                        | "quantile"
                        | "count_values"
                ) {
                    pending = Some(word.to_string());
                } else {
                    refs.push(MetricRef { name: word.to_string(), at: start, within: stack.clone(), matchers: Vec::new() });
                }
            }
            _ => i += 1,
        }
    }
    (refs, groupings)
}

/// Checks one expression against what the daemon exports; pushes what is wrong to `problems`.
/// `strict_counters`: every counter (and histogram series) is read through rate/increase (the
/// dashboard; the alerts may also look at a counter as it is, to see a series appear).
fn check_expr(
    whence: &str,
    expr: &str,
    exported: &Exported,
    strict_counters: bool,
    used: &mut BTreeSet<String>,
    problems: &mut Vec<String>,
) {
    let (refs, groupings) = scan_promql(expr);
    for r in &refs {
        if !r.name.starts_with("fanin_") {
            continue;
        }
        let (base, kind, suffix) = match exported.resolve(&r.name) {
            Ok(found) => found,
            Err(e) => {
                problems.push(format!("{whence}: {e}\n    in {expr}"));
                continue;
            }
        };
        used.insert(base.to_string());
        let innermost = r.within.iter().rev().find(|f| !f.is_empty()).map(String::as_str).unwrap_or("");
        let rated = matches!(innermost, "rate" | "increase" | "irate");
        let counts = kind == "counter" || kind == "histogram";
        if counts && strict_counters && !rated {
            problems.push(format!("{whence}: {} is a {kind}: read it through rate() or increase()\n    in {expr}", r.name));
        }
        if kind == "gauge" && r.within.iter().any(|f| matches!(f.as_str(), "rate" | "increase" | "irate")) {
            problems.push(format!("{whence}: {} is a gauge: rate() or increase() of it means nothing\n    in {expr}", r.name));
        }
        if suffix == "_bucket" && !r.within.iter().any(|f| f == "histogram_quantile") {
            problems.push(format!("{whence}: {} is read outside histogram_quantile()\n    in {expr}", r.name));
        }
        let carried = &exported.labels[base];
        for m in &r.matchers {
            if !carried.contains(m) && !SCRAPE_LABELS.contains(&m.as_str()) {
                problems.push(format!("{whence}: {} has no label `{m}` (it has: {carried:?})\n    in {expr}", r.name));
            }
        }
    }
    for g in &groupings {
        for l in &g.labels {
            let known = FANIN_LABELS.contains(&l.as_str()) || SCRAPE_LABELS.contains(&l.as_str()) || l == "le";
            if !known {
                problems.push(format!(
                    "{whence}: `{} ({l})`: fanin sets only {FANIN_LABELS:?} (and Prometheus adds {SCRAPE_LABELS:?})\n    in {expr}",
                    g.keyword
                ));
                continue;
            }
            let Some((from, to)) = g.scope else { continue };
            for r in refs.iter().filter(|r| r.at > from && r.at < to && r.name.starts_with("fanin_")) {
                let Ok((base, _, suffix)) = exported.resolve(&r.name) else { continue };
                let carries =
                    if l == "le" { suffix == "_bucket" } else { SCRAPE_LABELS.contains(&l.as_str()) || exported.labels[base].contains(l) };
                if !carries {
                    problems.push(format!(
                        "{whence}: `{} ({l})` over {}, which has no label `{l}` (it has: {:?})\n    in {expr}",
                        g.keyword, r.name, exported.labels[base]
                    ));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The dashboard.

fn dashboard() -> Value {
    serde_json::from_str(&read("contrib/grafana/fanin.json")).unwrap_or_else(|e| panic!("contrib/grafana/fanin.json is not JSON: {e}"))
}

/// Every panel, rows' nested panels included.
fn panels(dash: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for p in list.as_array().into_iter().flatten() {
            out.push(p);
            if let Some(inner) = p.get("panels") {
                walk(inner, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dash["panels"], &mut out);
    out
}

/// (where, PromQL) for every panel query and every template variable's query.
fn dashboard_queries(dash: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in panels(dash) {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((
                format!("panel {:?} query {}", p["title"].as_str().unwrap_or(""), t["refId"].as_str().unwrap_or("?")),
                t["expr"].as_str().unwrap_or("").to_string(),
            ));
        }
    }
    out
}

/// (variable, metric, label) for every `label_values(metric, label)` variable.
fn label_values_variables(dash: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for v in dash["templating"]["list"].as_array().into_iter().flatten() {
        if v["type"] != "query" {
            continue;
        }
        let q = v["query"]["query"].as_str().or(v["query"].as_str()).or(v["definition"].as_str()).unwrap_or("");
        let args = q
            .strip_prefix("label_values(")
            .and_then(|r| r.strip_suffix(')'))
            .unwrap_or_else(|| panic!("variable {}: not label_values(metric, label): {q:?}", v["name"]));
        let (metric, label) =
            args.rsplit_once(',').unwrap_or_else(|| panic!("variable {}: label_values needs a metric and a label: {q:?}", v["name"]));
        out.push((v["name"].as_str().unwrap().to_string(), metric.trim().to_string(), label.trim().to_string()));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The rules, read by a small YAML reader: block mappings and sequences, plain and quoted
// scalars, `|` and `>` block scalars; enough for a Prometheus rule file written in block style.

struct Yaml {
    lines: Vec<String>,
    at: usize,
}

impl Yaml {
    fn parse(text: &str) -> Value {
        let mut y = Yaml { lines: text.lines().map(String::from).collect(), at: 0 };
        y.skip_blank();
        let indent = y.indent();
        let v = y.node(indent);
        y.skip_blank();
        assert!(y.at >= y.lines.len(), "YAML this test cannot read at line {}: {:?}", y.at + 1, y.lines[y.at]);
        v
    }

    fn skip_blank(&mut self) {
        while self.at < self.lines.len() && {
            let t = self.lines[self.at].trim_start();
            t.is_empty() || t.starts_with('#')
        } {
            self.at += 1;
        }
    }

    fn indent(&self) -> usize {
        let l = &self.lines[self.at];
        l.len() - l.trim_start_matches(' ').len()
    }

    fn done(&self) -> bool {
        self.at >= self.lines.len()
    }

    fn node(&mut self, indent: usize) -> Value {
        if self.lines[self.at].trim_start().starts_with("- ") || self.lines[self.at].trim() == "-" {
            self.seq(indent)
        } else {
            self.map(indent)
        }
    }

    fn seq(&mut self, indent: usize) -> Value {
        let mut items = Vec::new();
        loop {
            self.skip_blank();
            if self.done() || self.indent() != indent || !self.lines[self.at].trim_start().starts_with('-') {
                break;
            }
            let line = self.lines[self.at].clone();
            let rest = line[indent + 1..].trim_start();
            if rest.is_empty() {
                self.at += 1;
                self.skip_blank();
                let inner = self.indent();
                items.push(self.node(inner));
            } else {
                // `- key: value` → the item is a mapping whose first line is `  key: value`.
                let inner = line.len() - rest.len();
                self.lines[self.at] = format!("{}{rest}", " ".repeat(inner));
                if rest.contains(": ") || rest.ends_with(':') {
                    items.push(self.node(inner));
                } else {
                    self.at += 1;
                    items.push(Value::String(scalar(rest)));
                }
            }
        }
        Value::Array(items)
    }

    fn map(&mut self, indent: usize) -> Value {
        let mut map = serde_json::Map::new();
        loop {
            self.skip_blank();
            if self.done() || self.indent() < indent {
                break;
            }
            assert_eq!(self.indent(), indent, "YAML indentation this test cannot read at line {}: {:?}", self.at + 1, self.lines[self.at]);
            let line = self.lines[self.at].trim_start().to_string();
            if line.starts_with("- ") {
                break;
            }
            let (key, rest) = match line.split_once(": ") {
                Some((k, r)) => (k, r.trim()),
                None => (line.strip_suffix(':').unwrap_or_else(|| panic!("not `key: value` at line {}: {line:?}", self.at + 1)), ""),
            };
            self.at += 1;
            let value = if rest.is_empty() {
                self.skip_blank();
                if !self.done()
                    && (self.indent() > indent || (self.indent() == indent && self.lines[self.at].trim_start().starts_with("- ")))
                {
                    let inner = self.indent();
                    self.node(inner)
                } else {
                    Value::Null
                }
            } else if rest.starts_with('|') || rest.starts_with('>') {
                self.block(indent, rest)
            } else {
                assert!(
                    !rest.starts_with('{') && !rest.starts_with('['),
                    "flow-style YAML this test cannot read at line {}: {line:?}",
                    self.at
                );
                Value::String(scalar(rest))
            };
            map.insert(key.trim_matches(|c| c == '"' || c == '\'').to_string(), value);
        }
        Value::Object(map)
    }

    /// A `|` or `>` block scalar under a key at `indent`.
    fn block(&mut self, indent: usize, header: &str) -> Value {
        let folded = header.starts_with('>');
        let strip = header.contains('-');
        let mut body: Vec<String> = Vec::new();
        let mut content_indent = None;
        while !self.done() {
            let l = &self.lines[self.at];
            let this = l.len() - l.trim_start_matches(' ').len();
            if !l.trim().is_empty() && this <= indent {
                break;
            }
            let ci = *content_indent.get_or_insert(this);
            body.push(if l.trim().is_empty() { String::new() } else { l[ci.min(this)..].to_string() });
            self.at += 1;
        }
        while body.last().is_some_and(|l| l.is_empty()) {
            body.pop();
        }
        let mut text = if folded {
            let mut t = String::new();
            for (i, l) in body.iter().enumerate() {
                if i > 0 {
                    t.push(if l.is_empty() || body[i - 1].is_empty() { '\n' } else { ' ' });
                }
                t.push_str(l);
            }
            t
        } else {
            body.join("\n")
        };
        if !strip {
            text.push('\n');
        }
        Value::String(text)
    }
}

fn scalar(s: &str) -> String {
    if let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        inner.replace("\\\"", "\"").replace("\\\\", "\\")
    } else if let Some(inner) = s.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        inner.replace("''", "'")
    } else {
        s.split(" #").next().unwrap().trim().to_string()
    }
}

fn rules() -> Vec<Value> {
    let doc = Yaml::parse(&read("contrib/prometheus/alerts.yml"));
    let groups = doc["groups"].as_array().expect("alerts.yml: `groups:` is a list");
    assert!(!groups.is_empty(), "alerts.yml: no groups");
    groups
        .iter()
        .flat_map(|g| {
            assert!(g["name"].as_str().is_some_and(|n| !n.is_empty()), "alerts.yml: a group without a name");
            g["rules"].as_array().expect("alerts.yml: a group's `rules:` is a list").clone()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The tests.

/// Every panel has a query, every rule says what it is, how bad, and what to do.
#[test]
fn contrib_every_panel_has_a_query_and_every_rule_says_what_to_do() {
    let dash = dashboard();
    let mut problems = Vec::new();
    assert!(dash["schemaVersion"].as_u64().is_some_and(|v| v >= 36), "schemaVersion 36 or later");
    assert!(dash["uid"].as_str().is_some_and(|u| !u.is_empty()) && dash["title"].as_str().is_some(), "a uid and a title");
    assert!(dash["id"].is_null(), "no `id`: Grafana gives one at import");
    let inputs = dash["__inputs"].as_array().expect("__inputs, for Grafana's import to ask for the data source");
    assert!(
        inputs.iter().any(|i| i["name"] == "DS_PROMETHEUS" && i["type"] == "datasource" && i["pluginId"] == "prometheus"),
        "{inputs:?}"
    );
    let vars = dash["templating"]["list"].as_array().expect("templating.list");
    assert!(
        vars.iter().any(|v| v["name"] == "DS_PROMETHEUS" && v["type"] == "datasource" && v["query"] == "prometheus"),
        "a DS_PROMETHEUS data-source variable (so the file also works provisioned, where __inputs are not filled in)"
    );
    let label_vars = label_values_variables(&dash);
    for want in ["source", "target"] {
        assert!(
            label_vars.iter().any(|(name, _, label)| name == want && label == want),
            "a `{want}` variable from label_values(…, {want}): {label_vars:?}"
        );
    }

    let mut ids = BTreeSet::new();
    for p in panels(&dash) {
        let title = p["title"].as_str().unwrap_or("");
        let id = p["id"].as_u64().unwrap_or_else(|| panic!("panel {title:?} has no numeric id"));
        if !ids.insert(id) {
            problems.push(format!("panel {title:?}: id {id} is used twice"));
        }
        if title.trim().is_empty() {
            problems.push(format!("panel {id} has no title"));
        }
        let g = &p["gridPos"];
        if !(g["w"].as_u64().is_some_and(|w| w >= 1 && g["x"].as_u64().unwrap_or(99) + w <= 24)
            && g["h"].as_u64().is_some()
            && g["y"].as_u64().is_some())
        {
            problems.push(format!("panel {title:?}: gridPos {g} does not fit 24 columns"));
        }
        if p["type"] == "row" {
            continue;
        }
        if p["datasource"]["uid"] != "${DS_PROMETHEUS}" {
            problems.push(format!("panel {title:?}: datasource {} is not ${{DS_PROMETHEUS}}", p["datasource"]));
        }
        let targets = p["targets"].as_array().map(Vec::as_slice).unwrap_or_default();
        if targets.is_empty() {
            problems.push(format!("panel {title:?} has no query"));
        }
        for t in targets {
            if t["expr"].as_str().is_none_or(|e| e.trim().is_empty()) {
                problems.push(format!("panel {title:?} query {} has an empty expr", t["refId"]));
            }
            if t["datasource"]["uid"] != "${DS_PROMETHEUS}" {
                problems.push(format!("panel {title:?} query {}: datasource {} is not ${{DS_PROMETHEUS}}", t["refId"], t["datasource"]));
            }
        }
    }

    let rules = rules();
    assert!(!rules.is_empty(), "alerts.yml has no rules");
    let mut names = BTreeSet::new();
    for r in &rules {
        let name = r["alert"].as_str().unwrap_or("");
        if name.is_empty() {
            problems.push(format!("a rule without `alert:` (recording rules belong elsewhere): {r}"));
            continue;
        }
        if !names.insert(name.to_string()) {
            problems.push(format!("{name}: defined twice"));
        }
        if r["expr"].as_str().is_none_or(|e| e.trim().is_empty()) {
            problems.push(format!("{name}: no `expr`"));
        }
        if !r["for"].as_str().is_some_and(|f| !f.is_empty() && f.trim_end_matches(|c: char| c.is_ascii_alphabetic()).parse::<u64>().is_ok())
        {
            problems.push(format!("{name}: `for:` missing or not a duration: {}", r["for"]));
        }
        if !r["labels"]["severity"].as_str().is_some_and(|s| ["critical", "warning", "info"].contains(&s)) {
            problems.push(format!("{name}: labels.severity missing or not critical/warning/info: {}", r["labels"]["severity"]));
        }
        for a in ["summary", "description"] {
            if r["annotations"][a].as_str().is_none_or(|s| s.trim().is_empty()) {
                problems.push(format!("{name}: annotations.{a} missing"));
            }
        }
        let description = r["annotations"]["description"].as_str().unwrap_or("");
        if !["`fanin ", "`systemctl ", "`journalctl ", "`curl "].iter().any(|c| description.contains(c)) {
            problems.push(format!("{name}: the description names no command to run (`fanin …`, `systemctl …`)"));
        }
    }
    for want in [
        "FaninDeadLettersRising",
        "FaninDeadLetterSinkFailing",
        "FaninEventsGettingOld",
        "FaninNoInvokeWhileEventsWait",
        "FaninThrottled",
        "FaninNotReady",
    ] {
        if !names.contains(want) {
            problems.push(format!("alerts.yml has no {want}"));
        }
    }
    let exprs: String = rules.iter().filter_map(|r| r["expr"].as_str()).collect();
    for want in ["up{job=\"fanin\"} == 0", "probe_success{job=\"fanin-readyz\"} == 0"] {
        if !exprs.contains(want) {
            problems.push(format!("readiness: no rule has `{want}`"));
        }
    }
    // Every alert has a promtool unit test.
    let unit_tests = read("contrib/prometheus/alerts_test.yml");
    for name in &names {
        if !unit_tests.contains(&format!("alertname: {name}\n")) {
            problems.push(format!("{name}: no case in contrib/prometheus/alerts_test.yml"));
        }
    }
    assert!(problems.is_empty(), "contrib/ problems:\n  {}", problems.join("\n  "));
}

/// Scrapes `/metrics` until `want` are all there or `patience` runs out.
async fn scrape_until(addrs: &[String], want: &BTreeSet<String>, patience: Duration) -> Exported {
    let deadline = Instant::now() + patience;
    loop {
        let mut exported = Exported::default();
        for addr in addrs {
            let (status, page) = http_get(addr, "/metrics");
            assert_eq!(status, 200, "{page}");
            exported.add_page(&page);
        }
        if want.iter().all(|m| exported.is_exported(m)) || Instant::now() > deadline {
            return exported;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The names and labels the dashboard and the rules use are all the daemon's, and the
/// dashboard shows every metric it exports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contrib_dashboard_and_alerts_use_only_what_the_daemon_exports() {
    let moto = Moto::from_env();
    let lambda = LambdaEndpoint::start();
    lambda.set_behavior("busy", Behavior::fail_first(1, Reply::throttle("CallerRateLimitExceeded", None)));
    lambda.set_behavior("ghost", Behavior::not_found());
    // The slow function keeps each first copy in flight while the fake SQS hands it out again.
    lambda.set_behavior("slow", Behavior::always(Reply::slow(Duration::from_millis(1500), Reply::Accept)));

    // Daemon 1, against moto: throughput, throttles and retries, a dead letter, a dead-letter
    // sink and an on-success sink that do not exist, an unrouted event, an S3 test event, a
    // cron schedule, a reload, a task token whose task the dead letter fails.
    let orders = moto.queue(&unique("orders")).await;
    let lost = moto.queue(&unique("lost")).await;
    let stuck = moto.queue(&unique("stuck")).await;
    let recorded = moto.queue(&unique("recorded")).await;
    let routed = moto.queue(&unique("routed")).await;
    let uploads = moto.queue(&unique("uploads")).await;
    let asks = moto.queue(&unique("asks")).await;
    let hooks = moto.queue(&unique("hooks")).await;
    // moto without executions takes any token's callback.
    moto.send_all(&asks, &[r#"{"TaskToken":"token-1"}"#.to_string()]).await;
    moto.send_all(&orders, &numbered(3)).await;
    moto.send_all(&lost, &numbered(1)).await;
    moto.send_all(&stuck, &numbered(1)).await;
    moto.send_all(&recorded, &numbered(1)).await;
    moto.send_all(&routed, &[r#"{"kind":"refund"}"#.to_string()]).await;
    let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-01-01T00:00:00.000Z","Bucket":"uploads","RequestId":"R","HostId":"H"}"#;
    moto.send_all(&uploads, &[test_event.to_string()]).await;
    let missing_sink = format!("{}/123456789012/{}", moto.url, unique("missing-dlq"));
    let setup = Setup::new(
        "",
        &format!(
            "[http]\nlisten = \"127.0.0.1:0\"\n[dlq.missing]\ntype = \"sqs\"\nqueue_url = \"{missing_sink}\"\n\
             [targets.busy]\nfunction = \"busy\"\nretry = {{ max_attempts = 3, base_delay = \"10ms\", max_delay = \"20ms\", max_event_age = \"1h\" }}\n\
             [targets.ghost]\nfunction = \"ghost\"\n\
             [targets.unsinkable]\nfunction = \"ghost\"\ndlq = \"missing\"\n\
             [targets.unrecordable]\nfunction = \"tick\"\non_success = \"missing\"\n\
             [targets.tick]\nfunction = \"tick\"\n"
        ),
    );
    let sqs = |q: &str, target: &str| format!("type = \"sqs\"\nqueue_url = \"{q}\"\ntarget = \"{target}\"\nwait_time = \"1s\"\n");
    setup.source("orders", &sqs(&orders, "busy"));
    setup.source("lost", &sqs(&lost, "ghost"));
    setup.source("stuck", &format!("{}visibility_timeout = \"3s\"\n", sqs(&stuck, "unsinkable")));
    setup.source("recorded", &format!("{}visibility_timeout = \"3s\"\n", sqs(&recorded, "unrecordable")));
    setup.source(
        "routed",
        &format!("type = \"sqs\"\nqueue_url = \"{routed}\"\nshape = \"body\"\nwait_time = \"1s\"\n[[routes]]\ntarget = \"busy\"\nfilter = {{ kind = [\"order\"] }}\n"),
    );
    setup.source("uploads", &format!("type = \"s3\"\nqueue_url = \"{uploads}\"\ntarget = \"busy\"\nwait_time = \"1s\"\n"));
    setup.source("asks", &format!("{}task_token = \"$.TaskToken\"\n", sqs(&asks, "ghost")));
    setup.source("tick", "type = \"cron\"\nschedule = \"* * * * * *\"\ntarget = \"tick\"\n");
    setup.source(
        "hooks",
        &format!(
            "type = \"http\"\npath = \"/hooks\"\nbuffer_queue = \"{hooks}\"\nsignature = {{ scheme = \"github\", secrets = [{{ env = \"GH_SECRET\" }}] }}\ntarget = \"tick\"\nwait_time = \"1s\"\n"
        ),
    );
    let mut daemon = Daemon::spawn(
        &["run", "--config", setup.config().to_str().unwrap()],
        &moto,
        &lambda.url(),
        &[("GH_SECRET", crate::webhooks::GITHUB_SECRET)],
    );

    // Daemon 2, against a fake SQS that hands every message out a second time.
    let twice = FakeSqs::start_handing_out_twice(6, |i| format!(r#"{{"n":{i}}}"#));
    let setup2 = Setup::new("", "[targets.slow]\nfunction = \"slow\"\nmax_concurrency = 16\n");
    setup2.source(
        "twice",
        &format!("type = \"sqs\"\nqueue_url = \"{}\"\ntarget = \"slow\"\npollers = 2\nwait_time = \"1s\"\n", twice.queue_url()),
    );
    let config2 = setup2.config();
    let mut daemon2 =
        Daemon::spawn(&["run", "--config", config2.to_str().unwrap()], &moto, &lambda.url(), &[("AWS_ENDPOINT_URL_SQS", &twice.url())]);

    let addr = daemon.metrics_addr().await;
    let addr2 = daemon2.metrics_addr().await;
    eventually(PATIENCE, "fanin to run", || async { daemon.log().contains("fanin running") }).await;
    // A webhook taken and one refused for its signature.
    let webhooks = crate::webhooks::webhook_addr(&daemon).await;
    let body = r#"{"zen":"Design for failure."}"#;
    assert_eq!(crate::webhooks::post(&webhooks, "/hooks", &crate::webhooks::github(body, "d-1"), body).await.status, 202);
    let forged = crate::webhooks::github("{}", "d-2");
    assert_eq!(crate::webhooks::post(&webhooks, "/hooks", &forged, body).await.status, 401);
    unsafe { libc::kill(daemon.pid(), libc::SIGHUP) };
    eventually(PATIENCE, "the reload", || async { daemon.log().contains("configuration reloaded") }).await;
    eventually(PATIENCE, "a second copy of every message", || async { twice.handed_out_again() == twice.total() }).await;

    let described = described_in_src();
    assert!(described.len() >= 10, "found only {described:?} described in src/");
    let exported = scrape_until(&[addr, addr2], &described, PATIENCE).await;
    daemon.terminate(Duration::from_secs(30));
    daemon2.terminate(Duration::from_secs(30));

    let mut problems = Vec::new();
    for m in &described {
        if !exported.is_exported(m) {
            problems.push(format!(
                "{m} is described in src/ but the exercise here never made the daemon export it: make this test do what records it (and show it on the dashboard)"
            ));
        }
    }
    for (name, kind) in &exported.types {
        if name.starts_with("fanin_") && !described.contains(name) {
            problems.push(format!("{name} ({kind}) is exported without a describe_*! (no # HELP)"));
        }
    }

    let dash = dashboard();
    let mut on_dashboard = BTreeSet::new();
    for (whence, expr) in dashboard_queries(&dash) {
        check_expr(&whence, &expr, &exported, true, &mut on_dashboard, &mut problems);
    }
    for (var, metric, label) in label_values_variables(&dash) {
        match exported.resolve(&metric) {
            Ok((base, _, _)) if exported.labels[base].contains(&label) || SCRAPE_LABELS.contains(&label.as_str()) => {}
            Ok((base, _, _)) => {
                problems.push(format!("variable {var}: {metric} has no label `{label}` (it has {:?})", exported.labels[base]))
            }
            Err(e) => problems.push(format!("variable {var}: {e}")),
        }
    }
    let mut in_rules = BTreeSet::new();
    for r in rules() {
        let whence = format!("alert {}", r["alert"].as_str().unwrap_or("?"));
        check_expr(&whence, r["expr"].as_str().unwrap_or(""), &exported, false, &mut in_rules, &mut problems);
    }
    for m in exported.types.keys().filter(|m| m.starts_with("fanin_")) {
        if !on_dashboard.contains(m) {
            problems.push(format!("the dashboard shows nothing of {m}"));
        }
    }
    for m in [
        "fanin_events_dead_lettered_total",
        "fanin_dead_letter_failures_total",
        "fanin_success_record_failures_total",
        "fanin_oldest_event_age_seconds",
        "fanin_queue_depth",
        "fanin_events_dispatched_total",
        "fanin_invoke_throttles_total",
    ] {
        if !in_rules.contains(m) {
            problems.push(format!("no alert uses {m}"));
        }
    }
    assert!(problems.is_empty(), "contrib/ does not match what fanin exports:\n  {}\n\nexported: {:#?}", problems.join("\n  "), exported);
}

/// The PromQL reader finds what it should (so the checks above check something).
#[test]
fn contrib_promql_reader_finds_metrics_labels_and_groupings() {
    let (refs, groupings) = scan_promql(
        r#"histogram_quantile(0.99, sum by (target, le) (rate(fanin_invoke_duration_seconds_bucket{target=~"$target", instance=~"a,b"}[$__rate_interval]))) or max by (job) (fanin_queue_depth offset 15m) > 0 unless on (job, instance) up{job="fanin"} == 0"#,
    );
    let names: Vec<&str> = refs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["fanin_invoke_duration_seconds_bucket", "fanin_queue_depth", "up"]);
    assert_eq!(refs[0].within, ["histogram_quantile", "sum", "rate"]);
    assert_eq!(refs[0].matchers, ["target", "instance"]);
    assert_eq!(refs[1].within, ["max"]);
    assert_eq!(refs[2].matchers, ["job"]);
    let g: Vec<(&str, Vec<String>)> = groupings.iter().map(|g| (g.keyword.as_str(), g.labels.clone())).collect();
    assert_eq!(g[0], ("by", vec!["target".to_string(), "le".to_string()]));
    assert_eq!(g[1], ("by", vec!["job".to_string()]));
    assert_eq!(g[2], ("on", vec!["job".to_string(), "instance".to_string()]));

    let mut exported = Exported::default();
    exported.add_page(
        "# TYPE fanin_queue_depth gauge\nfanin_queue_depth 0\n\n# TYPE fanin_x_total counter\nfanin_x_total{source=\"a,}b\",target=\"t\"} 1\n\
         # TYPE fanin_h_seconds histogram\nfanin_h_seconds_bucket{target=\"t\",le=\"0.5\"} 1\nfanin_h_seconds_sum{target=\"t\"} 1\nfanin_h_seconds_count{target=\"t\"} 1\n",
    );
    assert_eq!(exported.labels["fanin_x_total"], BTreeSet::from(["source".to_string(), "target".to_string()]));
    assert_eq!(exported.labels["fanin_h_seconds"], BTreeSet::from(["target".to_string()]));
    let check = |expr: &str| {
        let mut problems = Vec::new();
        check_expr("t", expr, &exported, true, &mut BTreeSet::new(), &mut problems);
        problems
    };
    assert!(check(r#"sum by (source) (rate(fanin_x_total{target="t"}[5m]))"#).is_empty());
    assert!(check(r#"histogram_quantile(0.9, sum by (target, le) (rate(fanin_h_seconds_bucket[5m])))"#).is_empty());
    assert_eq!(check("sum by (source) (rate(fanin_made_up_total[5m]))").len(), 1, "a made-up metric");
    assert_eq!(check("sum by (condition) (rate(fanin_x_total[5m]))").len(), 1, "a label the metric does not carry");
    assert_eq!(check("sum by (event_id) (rate(fanin_x_total[5m]))").len(), 1, "a label fanin never sets");
    assert_eq!(check("fanin_x_total").len(), 1, "a counter read as it is");
    assert_eq!(check("rate(fanin_queue_depth[5m])").len(), 1, "rate of a gauge");
    assert_eq!(check("rate(fanin_h_seconds[5m])").len(), 1, "a histogram without a suffix");
    assert_eq!(
        check(r#"sum(rate(fanin_h_seconds_bucket{source="x"}[5m]))"#).len(),
        2,
        "a bucket outside histogram_quantile, and a label it lacks"
    );
}
