//! `wildcard`: a string with `*` standing for any run of characters, its parsing and matching.

use std::fmt;

/// A `wildcard` value: literal pieces separated by `*`.
#[derive(Clone)]
pub(super) struct Wildcard {
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
    pub(super) fn parse(source: &str) -> Result<Wildcard, String> {
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
        Ok(Wildcard { source: source.to_string(), pieces })
    }

    /// The value as written in the pattern.
    pub(super) fn source(&self) -> &str {
        &self.source
    }

    /// The literal pieces between the stars.
    pub(super) fn pieces(&self) -> &[String] {
        &self.pieces
    }

    /// Matching is greedy and never goes back: each piece is found at its first place after the
    /// one before (the leftmost fit leaves the most room for the rest, so it is never wrong to
    /// take it), and only the last must sit at the end. Every byte of the value is looked at a
    /// bounded number of times whatever the pattern (`str::find` is linear), so no wildcard can
    /// make matching slower than linear in the value.
    pub(super) fn matches(&self, s: &str) -> bool {
        self.walk(s).0
    }

    /// The match, and how many bytes of `s` were looked at (for the tests: each byte at most
    /// once; the counting costs an addition per piece).
    fn walk(&self, s: &str) -> (bool, usize) {
        let (first, rest) = self.pieces.split_first().expect("non-empty");
        if rest.is_empty() {
            return (s == first, first.len().min(s.len()));
        }
        let Some(mut remaining) = s.strip_prefix(first.as_str()) else {
            return (false, first.len().min(s.len()));
        };
        let mut looked = first.len();
        let (last, middle) = rest.split_last().expect("non-empty");
        for piece in middle {
            match remaining.find(piece.as_str()) {
                Some(at) => {
                    looked += at + piece.len();
                    remaining = &remaining[at + piece.len()..];
                }
                None => return (false, looked + remaining.len()),
            }
        }
        (remaining.ends_with(last.as_str()), looked + last.len().min(remaining.len()))
    }

    /// How many bytes of `s` matching it looks at.
    #[cfg(test)]
    pub(super) fn bytes_searched(&self, s: &str) -> usize {
        self.walk(s).1
    }
}
