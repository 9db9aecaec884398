//! The `dead_letter` target: a stored dead letter, read and rebuilt as replay does.

use super::*;

/// What replay does with a dead letter it read: match `--filter` against the record, name the
/// function, serialize the event to send it again.
fn use_letter(letter: item::DeadLetter) {
    if let Some(record) = &letter.record {
        match_probes(record);
    }
    let function = letter.function.as_ref().map(item::FunctionRef::display);
    // Sent as stored: it must be JSON of its own, by JSON's grammar (which allows a lone
    // surrogate escape such as "\ud800", though no Rust string can hold it decoded).
    let payload: serde::de::IgnoredAny = serde_json::from_slice(&letter.payload).expect("a payload is the JSON it was stored as");
    std::hint::black_box((
        function,
        payload,
        letter.target,
        letter.error_type,
        letter.event_id,
        letter.condition,
        letter.timestamp,
        letter.replay_count,
        letter.source,
    ));
}

/// A dead letter in every format replay reads: fanin's record, Lambda's destination record, a
/// legacy Lambda DLQ message (with its attributes), an SQS Extended Client pointer; as one
/// message (SQS, S3) and as the lines of a dead-letter file.
pub fn dead_letter(data: &[u8]) {
    let parts = parts(data);
    let body = text(parts[0]);
    let mut legacy = LegacyAttributes { request_id: Some("r-1".into()), error_code: Some("200".into()) };
    if let Some(attributes) = parts.get(1) {
        legacy = LegacyAttributes::default();
        for (k, v) in key_values(attributes) {
            match k.as_str() {
                "RequestID" => legacy.request_id = Some(v),
                "ErrorCode" => legacy.error_code = Some(v),
                _ => {}
            }
        }
    }
    // The SQS store reads a pointer's record from S3 instead; here there is nothing to fetch.
    std::hint::black_box(crate::dlq::offload::parse_pointer(&body));
    for attributes in [None, Some(&legacy)] {
        if let Ok(letter) = item::parse(&body, || "fuzz:1".into(), attributes, true) {
            use_letter(letter);
        }
    }
    if body.contains('\n') {
        for (n, line) in body.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            if let Ok(letter) = item::parse(line, || format!("fuzz:{}", n + 1), None, true) {
                use_letter(letter);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Route filters
