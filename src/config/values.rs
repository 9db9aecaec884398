//! The values configuration writes as text: durations (`"30s"`), rates (`"100/s"`) and S3
//! locations (`s3://BUCKET/PREFIX/`), with the serde readers the settings structs name.

use std::fmt;
use std::time::Duration;

use serde::Deserializer;

/// Reads a duration written as text (`deserialize_with`).
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = d.deserialize_any(Text)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}

/// A value meant to be written as text, taken as text whatever TOML made of it: `30` where
/// `"30s"` was meant should be told how to write a duration, not that a string was expected.
struct Text;

impl serde::de::Visitor<'_> for Text {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("text in quotes")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
}

/// Reads an optional duration written as text (`deserialize_with`, with `default`).
pub fn optional_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

/// Reads an optional rate written as text (`deserialize_with`, with `default`).
pub fn optional_rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Rate>, D::Error> {
    let s = d.deserialize_any(Text)?;
    s.parse().map(Some).map_err(serde::de::Error::custom)
}

/// Parses `"30s"`, `"6h"`, `"1h 30m"`, `"250ms"`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("`{s}` is not a duration ({e}); write it like \"30s\", \"5m\" or \"6h\""))
}

/// The highest rate a target or `fanin replay --rate` may ask for, per second.
pub const MAX_RATE_PER_SECOND: u128 = 1_000_000;

/// A rate: `count` per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl std::str::FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a rate: write N/s or N/m, like \"100/s\"");
        let (n, unit) = s.split_once('/').ok_or_else(bad)?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            _ => return Err(bad()),
        };
        if count == 0 {
            return Err(format!("`{s}`: the rate must be at least 1"));
        }
        // The limiter spaces calls `per / count` apart in whole nanoseconds: past a billion a
        // second that is 0 and the limiter cannot be built. A million a second (one call per
        // microsecond) is far beyond what one host sends to Lambda.
        if Duration::from_secs(1).as_nanos() * u128::from(count) > MAX_RATE_PER_SECOND * per.as_nanos() {
            let per_minute = MAX_RATE_PER_SECOND * 60;
            return Err(format!("`{s}`: the rate must be at most {MAX_RATE_PER_SECOND}/s (or {per_minute}/m)"));
        }
        Ok(Rate { count, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = if self.per == Duration::from_secs(60) { "m" } else { "s" };
        write!(f, "{}/{unit}", self.count)
    }
}

/// `s3://BUCKET/PREFIX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Empty, or ending in `/`.
    pub prefix: String,
}

impl std::str::FromStr for S3Location {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s.strip_prefix("s3://").ok_or_else(|| format!("`{s}` is not an S3 location: write s3://BUCKET/PREFIX/"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("`{s}` names no bucket: write s3://BUCKET/PREFIX/"));
        }
        let prefix = if prefix.is_empty() || prefix.ends_with('/') { prefix.to_string() } else { format!("{prefix}/") };
        Ok(S3Location { bucket: bucket.to_string(), prefix })
    }
}

/// Reads an optional S3 location written as text (`deserialize_with`, with `default`).
pub fn optional_s3_location<'de, D: Deserializer<'de>>(d: D) -> Result<Option<S3Location>, D::Error> {
    let s = d.deserialize_any(Text)?;
    s.parse().map(Some).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!("100/s".parse::<Rate>().unwrap(), Rate { count: 100, per: Duration::from_secs(1) });
        assert_eq!("6/m".parse::<Rate>().unwrap().per, Duration::from_secs(60));
        assert!("0/s".parse::<Rate>().is_err());
        assert!("10".parse::<Rate>().is_err());
    }

    #[test]
    fn rates_past_a_million_a_second_are_refused() {
        assert!("1000000/s".parse::<Rate>().is_ok());
        assert!("60000000/m".parse::<Rate>().is_ok());
        for too_fast in ["1000001/s", "1000000001/s", "4294967295/s", "60000001/m", "4294967295/m"] {
            let e = too_fast.parse::<Rate>().unwrap_err();
            assert!(e.ends_with("the rate must be at most 1000000/s (or 60000000/m)"), "{too_fast}: {e}");
        }
        assert!("4294967296/s".parse::<Rate>().is_err());
        assert!("-1/s".parse::<Rate>().is_err());
    }

    #[test]
    fn durations_past_what_a_duration_holds_are_refused_not_wrapped() {
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("18446744073709551616s").is_err());
        assert!(parse_duration("").is_err());
        // Huge but representable: the settings' own ranges refuse these.
        assert!(parse_duration("99999999999999999s").is_ok());
        assert!(parse_duration("1000000000y").is_ok());
    }
}
