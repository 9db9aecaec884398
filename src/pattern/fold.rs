//! Case-insensitive comparison as EventBridge does it, for `equals-ignore-case`, its `prefix`
//! and `suffix` forms, and `anything-but` `equals-ignore-case`.
//!
//! EventBridge's engine (aws/event-ruler, `input/EqualsIgnoreCaseParser.java`) does not fold the
//! event's value. It turns each character of the *pattern* into two spellings, its lower case
//! and its upper case (each taken on the character alone, so `ΰ` gives `ΰ` and `Ϋ́`, and `ß`
//! gives `ß` and `SS`), and the value matches if it is a run of those spellings, one per
//! pattern character. Spellings can differ in byte length, which is why comparing the
//! lower-cased (or upper-cased) strings is not the same thing. The engine works on Java
//! `char`s, UTF-16 units: a character outside the Basic Multilingual Plane is a surrogate pair,
//! and each half has no case, so such characters only match themselves.

/// A pattern string compiled for case-insensitive comparison.
#[derive(Debug, Clone)]
pub(super) struct Folded {
    source: String,
    /// Per pattern character: its spellings (one or two), as byte ranges into `spellings`.
    chars: Vec<(std::ops::Range<usize>, Option<std::ops::Range<usize>>)>,
    spellings: String,
    /// Every character is ASCII: a byte-wise ASCII comparison says the same, without the walk.
    ascii: bool,
    /// Some character has one spelling that begins (or ends) the other, so at one position of
    /// the value both may fit and the walk must try both; otherwise the walk never branches.
    ambiguous: bool,
}

impl Folded {
    pub(super) fn new(source: &str) -> Folded {
        let mut spellings = String::new();
        let mut chars = Vec::new();
        let mut ambiguous = false;
        for c in source.chars() {
            let (lower, upper) = if c.len_utf16() == 1 {
                (c.to_lowercase().collect::<String>(), c.to_uppercase().collect::<String>())
            } else {
                (c.to_string(), c.to_string())
            };
            let start = spellings.len();
            spellings.push_str(&lower);
            let first = start..spellings.len();
            let second = (upper != lower).then(|| {
                let at = spellings.len();
                spellings.push_str(&upper);
                at..spellings.len()
            });
            if second.is_some()
                && (upper.starts_with(&lower) || lower.starts_with(&upper) || upper.ends_with(&lower) || lower.ends_with(&upper))
            {
                ambiguous = true;
            }
            chars.push((first, second));
        }
        Folded { source: source.to_string(), chars, spellings, ascii: source.is_ascii(), ambiguous }
    }

    fn spellings_of(&self, i: usize) -> impl Iterator<Item = &str> {
        let (first, second) = &self.chars[i];
        std::iter::once(&self.spellings[first.clone()]).chain(second.as_ref().map(|r| &self.spellings[r.clone()]))
    }

    /// Is `value` the pattern, in any case?
    pub(super) fn equals(&self, value: &str) -> bool {
        if self.ascii {
            return value.eq_ignore_ascii_case(&self.source);
        }
        self.ends_forward(value).any(|end| end == value.len())
    }

    /// Does `value` begin with the pattern, in any case?
    pub(super) fn is_prefix_of(&self, value: &str) -> bool {
        if self.ascii {
            let n = self.source.len();
            return value.len() >= n && value.as_bytes()[..n].eq_ignore_ascii_case(self.source.as_bytes());
        }
        self.ends_forward(value).next().is_some()
    }

    /// Does `value` end with the pattern, in any case?
    pub(super) fn is_suffix_of(&self, value: &str) -> bool {
        if self.ascii {
            let n = self.source.len();
            return value.len() >= n && value.as_bytes()[value.len() - n..].eq_ignore_ascii_case(self.source.as_bytes());
        }
        // Walk the pattern backwards from the end of the value.
        let mut starts = vec![value.len()];
        for i in (0..self.chars.len()).rev() {
            let mut next = Vec::new();
            for &end in &starts {
                for s in self.spellings_of(i) {
                    if value[..end].ends_with(s) && !next.contains(&(end - s.len())) {
                        next.push(end - s.len());
                    }
                }
                if !self.ambiguous && !next.is_empty() {
                    break;
                }
            }
            if next.is_empty() {
                return false;
            }
            starts = next;
        }
        true
    }

    /// The byte offsets of `value` at which a run of spellings of the whole pattern can end,
    /// starting at 0.
    fn ends_forward<'a>(&'a self, value: &'a str) -> impl Iterator<Item = usize> + 'a {
        let mut ends = vec![0];
        for i in 0..self.chars.len() {
            let mut next = Vec::new();
            for &at in &ends {
                for s in self.spellings_of(i) {
                    if value[at..].starts_with(s) && !next.contains(&(at + s.len())) {
                        next.push(at + s.len());
                    }
                }
                if !self.ambiguous && !next.is_empty() {
                    break;
                }
            }
            ends = next;
            if ends.is_empty() {
                break;
            }
        }
        ends.into_iter()
    }
}
