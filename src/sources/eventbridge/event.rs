//! EventBridge events, handed on as they are.

use crate::event::fingerprint;
use crate::sources::decode::{is_eventbridge, parse_body, single, str_at, Decoded, Meta};

/// Passes an EventBridge event (a JSON object with string `source` and
/// `detail-type`) through as is; id = its `id` (else a hash of the body).
pub fn decode(body: &str) -> Decoded {
    let v = match parse_body(body) {
        Ok(v) => v,
        Err(r) => return Decoded::Invalid(r),
    };
    let Some(obj) = v.as_object() else {
        return Decoded::Invalid("not an EventBridge event (not a JSON object)".into());
    };
    if !is_eventbridge(obj) {
        return Decoded::Invalid("not an EventBridge event (no string `source` and `detail-type`)".into());
    }
    let id = str_at(&v, &["id"]).map_or_else(|| fingerprint(v.to_string().as_bytes()), str::to_string);
    let meta = Meta { event_name: str_at(&v, &["detail-type"]).map(str::to_string), ..Meta::default() };
    single(id, v, None, meta)
}

#[cfg(test)]
mod tests;
