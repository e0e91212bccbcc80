//! Hand-made traces for the unit tests.

use crate::trace::{Format, Request, Session, Trace};

/// A Bailian request: `(timestamp, chat_id, parent, type, turn, input, output, ids)`.
#[allow(clippy::too_many_arguments)]
pub fn req(
    timestamp: f64,
    chat_id: u64,
    parent: i64,
    req_type: &str,
    turn: u32,
    input: u64,
    output: u64,
    ids: &[u64],
) -> Request {
    Request {
        timestamp,
        input_length: input,
        output_length: output,
        hash_ids: Some(ids.to_vec()),
        session: Some(Session {
            chat_id,
            parent_chat_id: parent,
            turn,
            req_type: req_type.to_string(),
        }),
    }
}

pub fn bailian(requests: Vec<Request>) -> Trace {
    Trace {
        format: Format::Bailian,
        block_size: Some(16),
        requests,
    }
}

/// A sessionless (Mooncake-like) trace of `(timestamp, ids)`.
pub fn mooncake(rows: &[(f64, &[u64])]) -> Trace {
    Trace {
        format: Format::Mooncake,
        block_size: Some(512),
        requests: rows
            .iter()
            .map(|(t, ids)| Request {
                timestamp: *t,
                input_length: ids.len() as u64 * 512,
                output_length: 1,
                hash_ids: Some(ids.to_vec()),
                session: None,
            })
            .collect(),
    }
}

/// Five requests, three sessions, two types. Every figure the tests check is worked out
/// here once:
///
/// ```text
/// i  t   chat parent type   turn in  out ids
/// r0 0   1    -1     text   1    40  10  [1,2,3]
/// r1 2   2    -1     search 1    30  5   [1,2,4]
/// r2 5   3    1      text   2    70  20  [1,2,3,5,6]
/// r3 6   4    -1     text   1    20  8   [7,2]
/// r4 12  5    3      search 3    80  4   [1,2,4,6,8]
/// ```
/// Sessions: {r0,r2,r4}, {r1}, {r3}; follow-ups 2/5; single-request sessions 2/3;
/// turns {1:3, 2:1, 3:1}; children {0:3, 1:2}, mean 0.4; parent->child gaps 5, 7;
/// new tokens 70-40-10 = 20 and 80-70-20 = -10; transitions text->text, text->search.
///
/// Infinite cache (hits / blocks, reuse gaps = now - previous use, same/cross session):
/// r0 0/3. r1 [1,2] hit, gaps 2,2, both seen only in r0's session: cross 2.
/// r2 [1,2,3] hit, gaps 3,3,5, all in its session's r0: same 3.
/// r3 7 misses first: 0/2. r4 [1,2,4,6] hit: 1 last used by r2 (5), 2 by r3 (6), 4 by r1
/// (2), 6 by r2 (5): gaps 7,6,10,7; 1,2,6 seen in r0/r2 (same 3), 4 only in r1 (cross 1).
/// Ideal 9/18 = 0.5; text 3/10, search 6/8; same 6/9, cross 3/9.
/// Reuse gaps: text {3,3,5} median 3; search {2,2,6,7,7,10} median 6.5; all sorted
/// 2,2,3,3,5,6,7,7,10: p50 5, p90 at position 7.2 = 7 + 0.2*3 = 7.6.
/// New blocks: text brought 1,2,3,5,6,7 (6), of which 1,2,3,6 are hit later: 4/6;
/// search brought 4 (hit) and 8 (not): 1/2; overall 5/8.
/// Arrivals: gaps 2,3,1,6: mean 3, population variance 14/4, CV sqrt(3.5)/3. Twelve
/// whole 1 s windows (t=12 falls in the dropped 13th) hold counts 1 at 0, 2, 5, 6: mean
/// 1/3, variance 1/3 - 1/9 = 2/9, IDC 2/3. Only one whole 10 s window: no IDC.
pub fn hand_trace() -> Trace {
    bailian(vec![
        req(0.0, 1, -1, "text", 1, 40, 10, &[1, 2, 3]),
        req(2.0, 2, -1, "search", 1, 30, 5, &[1, 2, 4]),
        req(5.0, 3, 1, "text", 2, 70, 20, &[1, 2, 3, 5, 6]),
        req(6.0, 4, -1, "text", 1, 20, 8, &[7, 2]),
        req(12.0, 5, 3, "search", 3, 80, 4, &[1, 2, 4, 6, 8]),
    ])
}
