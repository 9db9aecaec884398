//! The range checks settings use for the values they accept: a number or a duration between
//! two bounds, a text that must not be empty, an endpoint that must be a URL.
//!
//! Every key whose value reaches arithmetic, a cast, a semaphore or an AWS call is held to a
//! range here, so an extreme value is refused at load, naming the file and the key, instead
//! of panicking or failing forever at run time. The bounds themselves live with the settings
//! that use them, beside the reason for each.

use std::path::Path;
use std::time::Duration;

use super::ConfigError;

/// `value` of `key` in `file` is at most `max` (a value under the minimum is checked apart,
/// with the message it always had).
pub fn at_most(file: &Path, key: impl Into<String>, value: u64, max: u64) -> Result<(), ConfigError> {
    if value > max {
        return Err(ConfigError::new(file, key, format!("must be at most {max} (it is {value})")));
    }
    Ok(())
}

/// `value` of `key` in `file` is between `min` and `max`, both included.
pub fn between(file: &Path, key: impl Into<String>, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if !(min..=max).contains(&value) {
        return Err(ConfigError::new(file, key, format!("must be between {min} and {max} (it is {value})")));
    }
    Ok(())
}

/// The duration `value` of `key` in `file` is between `min` and `max`, both included.
pub fn duration_between(file: &Path, key: impl Into<String>, value: Duration, min: Duration, max: Duration) -> Result<(), ConfigError> {
    if !(min..=max).contains(&value) {
        let message = format!("must be between {} and {} (it is {})", human(min), human(max), human(value));
        return Err(ConfigError::new(file, key, message));
    }
    Ok(())
}

/// The text `value` of `key` in `file` is not empty (an empty value is usually a variable
/// that expanded to nothing, and every use of these keys would fail on it).
pub fn not_empty(file: &Path, key: impl Into<String>, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        return Err(ConfigError::new(file, key, "must not be empty"));
    }
    Ok(())
}

/// `value` of `key` in `file` is an `http://` or `https://` URL with a host, as the SDK and
/// fanin's own HTTP client need (the SDK panics on some others).
pub fn http_url(file: &Path, key: impl Into<String>, value: &str, what: &str) -> Result<(), ConfigError> {
    let ok = value
        .parse::<hyper::Uri>()
        .ok()
        .is_some_and(|u| matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some_and(|h| !h.is_empty()));
    if !ok {
        return Err(ConfigError::new(file, key, format!("must be {what}, an http:// or https:// URL (it is \"{value}\")")));
    }
    Ok(())
}

/// A duration as people write it in configuration, in units that do not vary (`"31d"`,
/// `"12h 1s"`, `"100ms"`, `"0s"`): the text parses back to the same duration.
pub fn human(d: Duration) -> String {
    let secs = d.as_secs();
    let parts = [
        (secs / 86_400, "d"),
        (secs / 3600 % 24, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
        (u64::from(d.subsec_millis()), "ms"),
        (u64::from(d.subsec_nanos() % 1_000_000), "ns"),
    ];
    let text: Vec<String> = parts.iter().filter(|(n, _)| *n > 0).map(|(n, unit)| format!("{n}{unit}")).collect();
    if text.is_empty() {
        "0s".into()
    } else {
        text.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(r: Result<(), ConfigError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn bounds_are_inclusive_and_the_message_gives_the_range() {
        let f = Path::new("fanin.toml");
        assert!(between(f, "k", 1, 1, 10).is_ok() && between(f, "k", 10, 1, 10).is_ok());
        assert_eq!(message(between(f, "daemon.k", 11, 1, 10)), "fanin.toml: daemon.k: must be between 1 and 10 (it is 11)");
        assert_eq!(message(at_most(f, "k", 5, 4)), "fanin.toml: k: must be at most 4 (it is 5)");
        let (s, h) = (Duration::from_secs(1), Duration::from_secs(3600));
        assert!(duration_between(f, "k", h, s, h).is_ok());
        assert_eq!(message(duration_between(f, "k", Duration::ZERO, s, h)), "fanin.toml: k: must be between 1s and 1h (it is 0s)");
        assert_eq!(
            message(duration_between(f, "k", Duration::from_secs(3601), s, h)),
            "fanin.toml: k: must be between 1s and 1h (it is 1h 1s)"
        );
    }

    #[test]
    fn durations_read_back_as_written() {
        for d in [Duration::ZERO, Duration::from_nanos(1), Duration::from_millis(100), Duration::from_secs(31 * 86_400 + 1), Duration::MAX]
        {
            assert_eq!(crate::config::parse_duration(&human(d)).unwrap(), d, "{}", human(d));
        }
        assert_eq!(human(Duration::from_secs(14 * 86_400)), "14d");
    }

    #[test]
    fn urls_need_a_scheme_fanin_speaks_and_a_host() {
        let f = Path::new("f");
        for good in ["http://127.0.0.1:4566", "https://sqs.us-east-1.amazonaws.com/123456789012/q", "http://q"] {
            assert!(http_url(f, "k", good, "a URL").is_ok(), "{good}");
        }
        for bad in ["", " ", "not a url", "ftp://host/", "http://", "sqs.us-east-1.amazonaws.com/1/q"] {
            assert!(http_url(f, "k", bad, "a URL").is_err(), "{bad:?}");
        }
        assert!(not_empty(f, "k", " ").is_err() && not_empty(f, "k", "x").is_ok());
    }
}
