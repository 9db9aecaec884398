//! `numeric`: ranges of numbers and their parsing, the numbers they accept, and the numeric
//! equality of exact numbers.

use serde_json::{Number, Value};

use super::syntax::{index, PatternError};

/// Numbers used by `numeric` (and numeric `anything-but`) must lie within this magnitude.
const NUMERIC_LIMIT: f64 = 5.0e9;

#[derive(Debug, Clone, Copy)]
struct Bound {
    value: f64,
    inclusive: bool,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Range {
    lower: Option<Bound>,
    upper: Option<Bound>,
}

impl Range {
    pub(super) fn contains(&self, x: f64) -> bool {
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

/// A number usable by `numeric` or a numeric `anything-but`.
pub(super) fn checked_number(value: &Value, path: &str) -> Result<f64, PatternError> {
    let x = value.as_f64().ok_or_else(|| PatternError::new(path, "must be a number"))?;
    if !(-NUMERIC_LIMIT..=NUMERIC_LIMIT).contains(&x) {
        return Err(PatternError::new(path, "numbers must be between -5.0e9 and +5.0e9 inclusive"));
    }
    Ok(x)
}

/// `["=", x]`, `[op, x]` with op one of `<`, `<=`, `>`, `>=`, or a lower bound followed by an
/// upper bound: `[">" | ">=", x, "<" | "<=", y]` with x < y.
pub(super) fn parse_numeric(arg: &Value, path: &str) -> Result<Range, PatternError> {
    let terms = arg.as_array().ok_or_else(|| PatternError::new(path, "the value of numeric must be an array"))?;
    let operator = |i: usize| -> Result<&str, PatternError> {
        match terms.get(i) {
            Some(Value::String(s)) => Ok(s.as_str()),
            Some(_) => Err(PatternError::new(index(path, i), "expected a comparison operator (=, <, <=, >, >=)")),
            None => Err(PatternError::new(path, "missing comparison operator")),
        }
    };
    let operand = |i: usize| -> Result<f64, PatternError> {
        match terms.get(i) {
            Some(v) => checked_number(v, &index(path, i)),
            None => Err(PatternError::new(path, "a comparison operator must be followed by a number")),
        }
    };
    let too_many = |n: usize| -> Result<(), PatternError> {
        if terms.len() > n {
            Err(PatternError::new(index(path, n), "too many terms in numeric expression"))
        } else {
            Ok(())
        }
    };
    let bound = |value, inclusive| Some(Bound { value, inclusive });

    let op = operator(0)?;
    let first = match op {
        "=" | "<" | "<=" | ">" | ">=" => operand(1)?,
        other => return Err(PatternError::new(index(path, 0), format!("unknown numeric operator \"{other}\" (expected =, <, <=, >, >=)"))),
    };
    match op {
        "=" => {
            too_many(2)?;
            Ok(Range { lower: bound(first, true), upper: bound(first, true) })
        }
        "<" | "<=" => {
            too_many(2)?;
            Ok(Range { lower: None, upper: bound(first, op == "<=") })
        }
        _ => {
            let lower = bound(first, op == ">=");
            if terms.len() == 2 {
                return Ok(Range { lower, upper: None });
            }
            let op2 = operator(2)?;
            if op2 != "<" && op2 != "<=" {
                return Err(PatternError::new(index(path, 2), format!("a range's upper bound must use < or <=, not \"{op2}\"")));
            }
            let second = operand(3)?;
            too_many(4)?;
            if first >= second {
                return Err(PatternError::new(index(path, 3), "the lower bound of a numeric range must be less than its upper bound"));
            }
            Ok(Range { lower, upper: bound(second, op2 == "<=") })
        }
    }
}

/// Numeric equality of two JSON numbers; integers are compared exactly.
pub(super) fn numbers_equal(a: &Number, b: &Number) -> bool {
    fn as_int(n: &Number) -> Option<i128> {
        n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from))
    }
    match (as_int(a), as_int(b)) {
        (Some(x), Some(y)) => x == y,
        _ => matches!((a.as_f64(), b.as_f64()), (Some(x), Some(y)) if x == y),
    }
}

/// The value of an event number for `numeric` matching, if it is within the supported range.
pub(super) fn numeric_value(value: &Value) -> Option<f64> {
    value.as_f64().filter(|x| (-NUMERIC_LIMIT..=NUMERIC_LIMIT).contains(x))
}
