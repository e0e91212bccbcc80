//! Bailian JSONL: one request per line with all eight fields, in the upstream style.

use super::format::{LineEncoder, LineOrder, LineParser, Ties, TraceFormat};
use super::jsonl::{FieldError, parse_raw, require_length, require_timestamp};
use super::order::leading_int;
use super::{BAILIAN_BLOCK, Request, Session};

/// The Bailian format.
pub struct Bailian;

impl TraceFormat for Bailian {
    fn name(&self) -> &'static str {
        "bailian"
    }

    fn block_size(&self) -> Option<u32> {
        Some(BAILIAN_BLOCK)
    }

    /// A JSON record with a `chat_id`: Mooncake records never have one.
    fn detect(&self, line: &str) -> u8 {
        if line.starts_with('{') && line.contains("\"chat_id\"") {
            2
        } else {
            0
        }
    }

    fn parser(&self) -> Box<dyn LineParser> {
        Box::new(Bailian)
    }

    fn encoder(&self, _fields: &[String]) -> Option<Box<dyn LineEncoder>> {
        Some(Box::new(Encoder { next_chat_id: 0 }))
    }

    fn writes_chat_ids(&self) -> bool {
        true
    }

    /// By chat id, unique in a run.
    fn line_order(&self) -> Option<LineOrder> {
        Some(LineOrder {
            key: |line| leading_int(line, b"{\"chat_id\": "),
            key_field: "chat_id",
            ties: Ties::Unique,
        })
    }
}

impl LineParser for Bailian {
    fn parse(&mut self, line: &str) -> Result<Request, FieldError> {
        parse_line(line)
    }
}

/// Writes Bailian lines; requests without session fields (from Mooncake or Azure input)
/// become single-request sessions of type `text`, numbered in order.
struct Encoder {
    next_chat_id: u64,
}

impl LineEncoder for Encoder {
    fn encode(&mut self, req: &Request, ids: &[u64], out: &mut Vec<u8>) {
        let invented;
        let session = match &req.session {
            Some(s) => s,
            None => {
                invented = Session {
                    chat_id: self.next_chat_id,
                    parent_chat_id: -1,
                    turn: 1,
                    req_type: "text".to_string(),
                };
                &invented
            }
        };
        self.next_chat_id += 1;
        write_line(out, req, session, ids);
    }
}

/// Parse one Bailian line. All eight fields are required.
pub fn parse_line(line: &str) -> Result<Request, FieldError> {
    let raw = parse_raw(line)?;
    let chat_id = raw.chat_id.ok_or_else(|| FieldError::missing("chat_id"))?;
    let parent_chat_id = raw
        .parent_chat_id
        .ok_or_else(|| FieldError::missing("parent_chat_id"))?;
    if parent_chat_id < -1 {
        return Err(FieldError::field(
            "parent_chat_id",
            format!("{parent_chat_id} is neither -1 nor a chat id"),
        ));
    }
    let turn = raw.turn.ok_or_else(|| FieldError::missing("turn"))?;
    let req_type = raw.req_type.ok_or_else(|| FieldError::missing("type"))?;
    let hash_ids = raw
        .hash_ids
        .ok_or_else(|| FieldError::missing("hash_ids"))?;
    Ok(Request {
        timestamp: require_timestamp(raw.timestamp, 1.0)?,
        input_length: require_length(raw.input_length, "input_length")?,
        output_length: require_length(raw.output_length, "output_length")?,
        hash_ids: Some(hash_ids),
        session: Some(Session {
            chat_id,
            parent_chat_id,
            turn,
            req_type,
        }),
    })
}

/// Append one record in the upstream style (field order, `": "` and `", "` spacing,
/// millisecond timestamps printed as Python prints a float) to `out`, with a newline.
/// `session` supplies the session fields for requests that have none, `ids` the blocks.
pub fn write_line(out: &mut Vec<u8>, req: &Request, session: &Session, ids: &[u64]) {
    let mut ints = itoa::Buffer::new();
    out.extend_from_slice(b"{\"chat_id\": ");
    out.extend_from_slice(ints.format(session.chat_id).as_bytes());
    out.extend_from_slice(b", \"parent_chat_id\": ");
    out.extend_from_slice(ints.format(session.parent_chat_id).as_bytes());
    out.extend_from_slice(b", \"timestamp\": ");
    push_seconds(out, req.timestamp);
    out.extend_from_slice(b", \"input_length\": ");
    out.extend_from_slice(ints.format(req.input_length).as_bytes());
    out.extend_from_slice(b", \"output_length\": ");
    out.extend_from_slice(ints.format(req.output_length).as_bytes());
    out.extend_from_slice(b", \"type\": ");
    push_json_string(out, &session.req_type);
    out.extend_from_slice(b", \"turn\": ");
    out.extend_from_slice(ints.format(session.turn).as_bytes());
    out.extend_from_slice(b", \"hash_ids\": [");
    push_ids(out, ids);
    out.extend_from_slice(b"]}\n");
}

/// Comma-separated ids, as `json.dumps` prints a list of ints.
///
/// The hot loop of writing a trace. Generated and remapped ids come mostly in runs of
/// consecutive values, so an id one above the previous one is printed by incrementing
/// the previous one's digits instead of formatting it afresh. Each id is appended as one
/// fixed-size copy (inlined, unlike a copy of its exact length) and the excess trimmed.
/// The last digit lives in a register and is patched into the output after the copy:
/// incrementing it inside the copied array would stall every copy on store forwarding
/// (a byte store followed by a wide load of the same bytes).
pub fn push_ids(out: &mut Vec<u8>, ids: &[u64]) {
    /// `", "` and at most 20 digits, rounded up.
    const SLOT: usize = 24;
    let Some((&first, rest)) = ids.split_first() else {
        return;
    };
    out.reserve(ids.len() * (SLOT - 2) + SLOT);
    let mut ints = itoa::Buffer::new();
    // `", "` then the current id's digits, the last one stale (it is `last`).
    let mut item = [b'0'; SLOT];
    item[0] = b',';
    item[1] = b' ';
    let set = |item: &mut [u8; SLOT], digits: &str| {
        let d = digits.as_bytes();
        item[2..2 + d.len()].copy_from_slice(d);
        (d.len(), d[d.len() - 1])
    };
    let (mut len, mut last) = set(&mut item, ints.format(first));
    out.extend_from_slice(&item[2..]);
    out.truncate(out.len() - (SLOT - 2 - len));
    let mut prev = first;
    for &id in rest {
        if prev.checked_add(1) == Some(id) {
            if last != b'9' {
                last += 1;
            } else {
                // Carry into the digits before the last; all nines grow by one digit.
                last = b'0';
                let mut i = 1 + len;
                loop {
                    if i == 2 {
                        item[1 + len] = b'0';
                        item[2] = b'1';
                        len += 1;
                        break;
                    }
                    i -= 1;
                    if item[i] != b'9' {
                        item[i] += 1;
                        break;
                    }
                    item[i] = b'0';
                }
            }
        } else {
            (len, last) = set(&mut item, ints.format(id));
        }
        out.extend_from_slice(&item);
        let end = out.len() - (SLOT - 2 - len);
        out[end - 1] = last;
        out.truncate(end);
        prev = id;
    }
}

/// Seconds rounded to the millisecond, printed as Python's `repr(float)`: shortest
/// round-trip digits, at least one decimal (`74.42`, `12.0`).
pub fn push_seconds(out: &mut Vec<u8>, seconds: f64) {
    let ms = (seconds * 1000.0).round();
    // Integral values print through itoa: ryu would switch to exponent notation for
    // large ones, which Python does not do below 1e16.
    if ms % 1000.0 == 0.0 && ms.abs() < 1e15 {
        out.extend_from_slice(itoa::Buffer::new().format(ms as i64 / 1000).as_bytes());
        out.extend_from_slice(b".0");
        return;
    }
    let mut floats = ryu::Buffer::new();
    out.extend_from_slice(floats.format(ms / 1000.0).as_bytes());
}

fn push_json_string(out: &mut Vec<u8>, s: &str) {
    if s.bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x7f)
    {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Rare: let serde_json escape it. Python's json.dumps escapes non-ASCII too.
        let escaped = serde_json::to_string(s).expect("a string always serializes");
        out.extend_from_slice(escaped.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"chat_id": 201, "parent_chat_id": 166, "timestamp": 74.42, "input_length": 805, "output_length": 190, "type": "text", "turn": 2, "hash_ids": [0, 1, 13375, 15580, 1086]}"#;

    #[test]
    fn round_trips_a_line_byte_for_byte() {
        let req = parse_line(LINE).unwrap();
        let session = req.session.clone().unwrap();
        assert_eq!(session.chat_id, 201);
        assert_eq!(session.parent(), Some(166));
        let mut out = Vec::new();
        write_line(&mut out, &req, &session, req.ids());
        assert_eq!(String::from_utf8(out).unwrap(), format!("{LINE}\n"));
    }

    #[test]
    fn prints_ids_like_python() {
        let cases: Vec<Vec<u64>> = vec![
            vec![],
            vec![0],
            vec![7, 8, 9, 10, 11, 99, 100, 101, 5, 999, 1000, 1001],
            vec![0, 1, 2, 3, 3, 2, 1, 0],
            vec![u64::MAX - 1, u64::MAX, 0, 1],
            vec![
                9_999_999,
                10_000_000,
                10_000_001,
                4_294_967_295,
                4_294_967_296,
            ],
            (1_234_560..1_234_700).collect(),
        ];
        for ids in cases {
            let mut out = b"[".to_vec();
            push_ids(&mut out, &ids);
            out.push(b']');
            let want = format!("{ids:?}");
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }

    proptest::proptest! {
        #![proptest_config(crate::proptest_seed::config(256))]

        #[test]
        fn prints_runs_of_ids_like_python(
            runs in proptest::collection::vec((0u64..=u64::MAX, 0usize..40), 0..12),
            small in proptest::collection::vec((0u64..2000, 0usize..1100), 0..4),
        ) {
            let ids: Vec<u64> = runs
                .into_iter()
                .chain(small)
                .flat_map(|(start, n)| (0..n as u64).map_while(move |k| start.checked_add(k)))
                .collect();
            let mut out = b"[".to_vec();
            push_ids(&mut out, &ids);
            out.push(b']');
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), format!("{ids:?}"));
        }
    }

    #[test]
    fn prints_seconds_like_python() {
        for (t, want) in [
            (74.42, "74.42"),
            (12.0, "12.0"),
            (27.1244, "27.124"),
            (0.0005, "0.001"),
            (3599.9996, "3600.0"),
        ] {
            let mut out = Vec::new();
            push_seconds(&mut out, t);
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }

    #[test]
    fn requires_every_field() {
        let e = parse_line(r#"{"chat_id": 1, "parent_chat_id": -1, "timestamp": 1.0, "input_length": 1, "output_length": 1, "type": "text", "hash_ids": [1]}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("turn"));
    }
}
