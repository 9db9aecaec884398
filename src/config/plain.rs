//! serde's type errors in the operator's words: `"two" is not a whole number (write it like 4)`
//! rather than `invalid type: string "two", expected usize`.

/// `message` with serde's "invalid type/value: GOT, expected WANT" said plainly; any other
/// message unchanged.
pub fn plain(message: &str) -> String {
    let rest = match message.strip_prefix("invalid type: ").or_else(|| message.strip_prefix("invalid value: ")) {
        Some(rest) => rest,
        None => return message.to_string(),
    };
    let Some((got, want)) = rest.rsplit_once(", expected ") else {
        return message.to_string();
    };
    let got = what_was_written(got);
    let Some((kind, how)) = kind_of(want) else {
        return format!("{got} is not {want}");
    };
    if message.starts_with("invalid value: ") && kind == "a whole number" {
        return format!("{got} is out of range for this key ({})", range_of(want));
    }
    format!("{got} is not {kind} ({how})")
}

/// serde's name for what it found, as it was written in the file.
fn what_was_written(got: &str) -> String {
    for kind in ["string ", "integer ", "boolean ", "floating point "] {
        if let Some(value) = got.strip_prefix(kind) {
            return value.trim_matches('`').to_string();
        }
    }
    match got {
        "sequence" => "a list".into(),
        "map" => "a table".into(),
        other => other.to_string(),
    }
}

/// What serde expected, and how to write one.
fn kind_of(want: &str) -> Option<(&'static str, &'static str)> {
    let want = want.trim_matches('`');
    Some(match want {
        "usize" | "u8" | "u16" | "u32" | "u64" | "isize" | "i8" | "i16" | "i32" | "i64" | "an integer" => {
            ("a whole number", "write it like 4, without quotes")
        }
        "f32" | "f64" | "a float" | "a number" => ("a number", "write it like 1.5, without quotes"),
        "a boolean" => ("true or false", "write it without quotes"),
        "a string" | "a borrowed string" | "text in quotes" => ("text", "write it in quotes"),
        "a sequence" => ("a list", "write it like [\"a\", \"b\"]"),
        "a map" => ("a table", "write it like { key = \"value\" }"),
        w if w.starts_with("struct ") => ("a table", "write it like { key = \"value\" }"),
        _ => return None,
    })
}

/// The whole numbers a Rust integer type holds, for a value outside them.
fn range_of(want: &str) -> String {
    match want {
        "usize" | "u64" => "0 or more".into(),
        "u8" => "0 to 255".into(),
        "u16" => "0 to 65535".into(),
        "u32" => format!("0 to {}", u32::MAX),
        "i32" => format!("{} to {}", i32::MIN, i32::MAX),
        _ => format!("a whole number that fits {want}"),
    }
}

#[cfg(test)]
mod tests {
    use super::plain;

    #[test]
    fn type_errors_say_what_to_write() {
        assert_eq!(
            plain("invalid type: string \"two\", expected usize"),
            "\"two\" is not a whole number (write it like 4, without quotes)"
        );
        assert_eq!(
            plain("invalid type: string \"abc\", expected an integer"),
            "\"abc\" is not a whole number (write it like 4, without quotes)"
        );
        assert_eq!(plain("invalid type: integer `1`, expected a boolean"), "1 is not true or false (write it without quotes)");
        assert_eq!(plain("invalid type: integer `7`, expected a string"), "7 is not text (write it in quotes)");
        assert_eq!(plain("invalid type: string \"x\", expected a sequence"), "\"x\" is not a list (write it like [\"a\", \"b\"])");
        assert_eq!(
            plain("invalid type: integer `3`, expected struct RetrySettings"),
            "3 is not a table (write it like { key = \"value\" })"
        );
    }

    #[test]
    fn values_out_of_range_say_the_range() {
        assert_eq!(plain("invalid value: integer `-1`, expected usize"), "-1 is out of range for this key (0 or more)");
        assert_eq!(
            plain("invalid value: integer `99999999999`, expected u32"),
            "99999999999 is out of range for this key (0 to 4294967295)"
        );
    }

    #[test]
    fn other_messages_are_left_alone() {
        assert_eq!(plain("unknown field `x`, expected one of `a`, `b`"), "unknown field `x`, expected one of `a`, `b`");
        assert_eq!(plain("missing field `queue_url`"), "missing field `queue_url`");
    }
}
