//! How complex a field's wildcards are, by EventBridge's own measure, so that fanin refuses the
//! patterns EventBridge refuses ("Rule is too complex").
//!
//! The measure is event-ruler's (`MachineComplexityEvaluator.java` in aws/event-ruler, the
//! engine behind EventBridge): over every possible value, the most *wildcard prefixes* that
//! match it at once. A wildcard prefix is the pattern cut after any of its bytes, `*` counted as
//! a byte: `a*bb` has the prefixes `a`, `a*`, `a*b` and `a*bb`, and the value `abb` is matched
//! by three of them. The engine walks a value through all of a field's wildcards at once, one
//! byte at a time, and keeps one state per prefix that still fits: that count is the work per
//! byte, which is why the count is limited. It is computed here on the values as the engine
//! sees them, in their JSON quotes, byte by byte; identical wildcards count once.
//!
//! event-ruler leaves the threshold to its caller, and EventBridge does not publish its own.
//! The cases recorded against EventBridge bracket it: a wildcard of complexity 7
//! (`/Users/*/dir/dir/dir/dir/dir/doc.txt`) and three wildcards of complexity 9 on one field
//! are accepted; `*:*:*:*:*:event-bus/*`, complexity 11, is refused. fanin accepts up to 9,
//! so a pattern it accepts is one EventBridge accepts.
//!
//! One difference, on the safe side: event-ruler keeps the fields of separate `$or` branches in
//! separate machines when the fields before them differ; fanin adds up all of a field's
//! wildcards, so it can only count more.

use std::collections::HashSet;

use super::wildcard::Wildcard;

/// The most simultaneously matching wildcard prefixes a field may have.
pub(super) const MAX_COMPLEXITY: usize = 9;

/// EventBridge's message for a pattern over the limit.
pub(super) const TOO_COMPLEX: &str =
    "Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character";

/// A position in one wildcard: the pattern's index and how many of its tokens are behind.
type State = (u32, u32);

/// The complexity of one field's wildcards, counted up to `cap + 1` (beyond that the exact
/// number does not matter, and the search stops).
pub(super) fn complexity(wildcards: &[&Wildcard], cap: usize) -> usize {
    let mut sources: Vec<&str> = wildcards.iter().map(|w| w.source()).collect();
    sources.sort_unstable();
    sources.dedup();
    // Tokens: `Some(byte)` for a literal byte, `None` for `*`, quotes around the value.
    let patterns: Vec<Vec<Option<u8>>> = sources
        .iter()
        .map(|s| {
            let w = wildcards.iter().find(|w| w.source() == *s).expect("from the list");
            let mut tokens = vec![Some(b'"')];
            for (i, piece) in w.pieces().iter().enumerate() {
                if i > 0 {
                    tokens.push(None);
                }
                tokens.extend(piece.bytes().map(Some));
            }
            tokens.push(Some(b'"'));
            tokens
        })
        .collect();
    // Bytes that can make a difference, and one byte standing for all the others.
    let mut alphabet: Vec<Option<u8>> = patterns.iter().flatten().copied().filter(Option::is_some).collect();
    alphabet.sort_unstable();
    alphabet.dedup();
    alphabet.push(None);

    let token = |(p, i): State| patterns[p as usize].get(i as usize).copied();
    // A `*` may match nothing: being before it is also being after it.
    let close = |mut set: Vec<State>| {
        let mut k = 0;
        while k < set.len() {
            let (p, i) = set[k];
            if token((p, i)) == Some(None) && !set.contains(&(p, i + 1)) {
                set.push((p, i + 1));
            }
            k += 1;
        }
        set.sort_unstable();
        set
    };
    let start = close((0..patterns.len() as u32).map(|p| (p, 0)).collect());
    let mut seen: HashSet<Vec<State>> = HashSet::from([start.clone()]);
    let mut pending = vec![start];
    let mut most = 0;
    while let Some(set) = pending.pop() {
        for byte in &alphabet {
            let mut next = Vec::new();
            for &(p, i) in &set {
                // After a `*`, any byte keeps the state where it is.
                if i > 0 && token((p, i - 1)) == Some(None) {
                    next.push((p, i));
                }
                if let (Some(b), Some(Some(t))) = (byte, token((p, i))) {
                    if *b == t {
                        next.push((p, i + 1));
                    }
                }
            }
            if next.is_empty() {
                continue;
            }
            next.sort_unstable();
            next.dedup();
            let next = close(next);
            most = most.max(next.len());
            if most > cap {
                return most;
            }
            if seen.insert(next.clone()) {
                pending.push(next);
            }
        }
    }
    most
}
