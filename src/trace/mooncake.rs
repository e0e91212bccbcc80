//! Mooncake JSONL: integer millisecond timestamps, 512-token blocks, no sessions.

use super::bailian::push_ids;
use super::format::{LineEncoder, LineOrder, LineParser, Ties, TraceFormat};
use super::jsonl::{FieldError, parse_raw, require_length, require_timestamp};
use super::order::leading_int;
use super::{MOONCAKE_BLOCK, Request};

/// The Mooncake format.
pub struct Mooncake;

impl TraceFormat for Mooncake {
    fn name(&self) -> &'static str {
        "mooncake"
    }

    fn block_size(&self) -> Option<u32> {
        Some(MOONCAKE_BLOCK)
    }

    /// Any JSON object: the format of the fewest required fields.
    fn detect(&self, line: &str) -> u8 {
        u8::from(line.starts_with('{'))
    }

    fn parser(&self) -> Box<dyn LineParser> {
        Box::new(Mooncake)
    }

    fn show_time(&self, seconds: f64) -> String {
        format!("{} ms", (seconds * 1000.0).round())
    }

    fn encoder(&self, _fields: &[String]) -> Option<Box<dyn LineEncoder>> {
        Some(Box::new(Mooncake))
    }

    /// By timestamp; a millisecond repeats, so ties go by content.
    fn line_order(&self) -> Option<LineOrder> {
        Some(LineOrder {
            key: line_timestamp,
            key_field: "timestamp",
            ties: Ties::ByContent,
        })
    }
}

impl LineParser for Mooncake {
    fn parse(&mut self, line: &str) -> Result<Request, FieldError> {
        parse_line(line)
    }
}

impl LineEncoder for Mooncake {
    fn encode(&mut self, req: &Request, ids: &[u64], out: &mut Vec<u8>) {
        write_line(out, req, ids);
    }
}

/// Parse one Mooncake line; the timestamp is converted from milliseconds to seconds.
pub fn parse_line(line: &str) -> Result<Request, FieldError> {
    let raw = parse_raw(line)?;
    let hash_ids = raw
        .hash_ids
        .ok_or_else(|| FieldError::missing("hash_ids"))?;
    Ok(Request {
        timestamp: require_timestamp(raw.timestamp, 1000.0)?,
        input_length: require_length(raw.input_length, "input_length")?,
        output_length: require_length(raw.output_length, "output_length")?,
        hash_ids: Some(hash_ids),
        session: None,
    })
}

/// Append one record (`{"timestamp": ms, "input_length", "output_length", "hash_ids"}`)
/// with `ids` as its blocks.
pub fn write_line(out: &mut Vec<u8>, req: &Request, ids: &[u64]) {
    let mut ints = itoa::Buffer::new();
    let ms = (req.timestamp * 1000.0).round() as u64;
    out.extend_from_slice(b"{\"timestamp\": ");
    out.extend_from_slice(ints.format(ms).as_bytes());
    out.extend_from_slice(b", \"input_length\": ");
    out.extend_from_slice(ints.format(req.input_length).as_bytes());
    out.extend_from_slice(b", \"output_length\": ");
    out.extend_from_slice(ints.format(req.output_length).as_bytes());
    out.extend_from_slice(b", \"hash_ids\": [");
    push_ids(out, ids);
    out.extend_from_slice(b"]}\n");
}

/// The millisecond timestamp of a Mooncake line as this crate writes it, if it starts
/// like one.
pub fn line_timestamp(line: &[u8]) -> Option<u64> {
    leading_int(line, b"{\"timestamp\": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_a_line_byte_for_byte() {
        let line = r#"{"timestamp": 3536999, "input_length": 20774, "output_length": 508, "hash_ids": [0, 182750, 182751]}"#;
        let req = parse_line(line).unwrap();
        assert!((req.timestamp - 3536.999).abs() < 1e-9);
        assert!(req.session.is_none());
        let mut out = Vec::new();
        write_line(&mut out, &req, req.ids());
        assert_eq!(String::from_utf8(out).unwrap(), format!("{line}\n"));
    }
}
