//! Mooncake JSONL with sessions, as AIPerf's `mooncake_trace` loader reads multi-turn
//! traces: every row carries a `session_id`; a session's first row carries its
//! `timestamp` (milliseconds from the trace start), each later row a `delay` instead.
//!
//! ```text
//! {"session_id": "159", "timestamp": 61114, "input_length": 521, "output_length": 132, "hash_ids": [...]}
//! {"session_id": "159", "delay": 1386, "input_length": 900, "output_length": 80, "hash_ids": [...]}
//! ```
//!
//! **What `delay` means.** AIPerf (0.13, `FixedScheduleStrategy.handle_credit_return`)
//! sends a session's first row at its `timestamp` and every later row `delay`
//! milliseconds after the response to the session's previous row has come back: a
//! closed loop, so that a slower server pushes the follow-ups later instead of piling
//! them up. Rows of one session are taken in file order.
//!
//! **How it is derived.** A row's `delay` is its arrival time minus the arrival time of
//! the session's previous row in the file, in whole milliseconds (both rounded to the
//! millisecond first, so that adding the delays up gives back the rounded arrival
//! times). In a generated trace that gap is the model's think time: a follow-up is
//! booked at its parent's arrival plus a think time drawn from the fitted distribution,
//! which was measured arrival to arrival in the source trace (the response time is not
//! in a Bailian trace). So the gap includes the time the source server took to answer
//! the previous turn, and a closed-loop replay adds the replaying server's response time
//! on top: sessions run longer than in the source by about one response time per turn.
//! For branching sessions (two follow-ups of one parent), the previous row is the
//! session's latest, not necessarily the parent.
//!
//! A session is a root and every request that descends from it; its id is the root's
//! chat id. A request whose parent is not in the output (it fell before the start)
//! starts a session of its own. Records without sessions (Mooncake or Azure input) are
//! sessions of one row each, numbered in order.
//!
//! On request (`--field`), rows also carry `turn` (the request's turn in its session,
//! 1 for a root) and `type` (its request type). AIPerf keeps unknown fields but reserves
//! `type` for the dataset type, so a file with `type` does not load there.
//!
//! Read back, the delays are added up again into arrival times; sessions become chat
//! ids in order of appearance, each row the child of its session's previous row.

use rustc_hash::FxHashMap;
use serde::Deserialize;

use super::bailian::push_ids;
use super::format::{LineEncoder, LineParser, TraceFormat};
use super::jsonl::{FieldError, parse_raw, require_length, require_timestamp};
use super::{MOONCAKE_BLOCK, Request, Session};

/// The Mooncake-with-sessions format.
pub struct MooncakeSessions;

const FIELDS: &[&str] = &["turn", "type"];

impl TraceFormat for MooncakeSessions {
    fn name(&self) -> &'static str {
        "mooncake-sessions"
    }

    fn block_size(&self) -> Option<u32> {
        Some(MOONCAKE_BLOCK)
    }

    /// A JSON record with a `session_id`: a refinement of Mooncake's any-object.
    fn detect(&self, line: &str) -> u8 {
        if line.starts_with('{') && line.contains("\"session_id\"") {
            2
        } else {
            0
        }
    }

    fn parser(&self) -> Box<dyn LineParser> {
        Box::new(Parser::default())
    }

    fn show_time(&self, seconds: f64) -> String {
        format!("{} ms", (seconds * 1000.0).round())
    }

    fn optional_fields(&self) -> &'static [&'static str] {
        FIELDS
    }

    fn encoder(&self, fields: &[String]) -> Option<Box<dyn LineEncoder>> {
        Some(Box::new(Encoder {
            turn: fields.iter().any(|f| f == "turn"),
            req_type: fields.iter().any(|f| f == "type"),
            ..Encoder::default()
        }))
    }
}

#[derive(Debug, Default)]
struct Encoder {
    turn: bool,
    req_type: bool,
    /// The session (root chat id) of every chat id written.
    session_of: FxHashMap<u64, u64>,
    /// The arrival of each session's latest row, in ms.
    last_ms: FxHashMap<u64, u64>,
    /// Sessions of records without session fields.
    next_single: u64,
}

impl LineEncoder for Encoder {
    fn encode(&mut self, req: &Request, ids: &[u64], out: &mut Vec<u8>) {
        let mut ints = itoa::Buffer::new();
        let ms = (req.timestamp * 1000.0).round() as u64;
        let (session, previous) = match &req.session {
            Some(s) => {
                let parent = s.parent().and_then(|p| self.session_of.get(&p).copied());
                let session = parent.unwrap_or(s.chat_id);
                self.session_of.insert(s.chat_id, session);
                (
                    session,
                    parent.and_then(|root| self.last_ms.get(&root).copied()),
                )
            }
            None => {
                self.next_single += 1;
                (self.next_single - 1, None)
            }
        };
        if req.session.is_some() {
            self.last_ms.insert(session, ms);
        }
        out.extend_from_slice(b"{\"session_id\": \"");
        out.extend_from_slice(ints.format(session).as_bytes());
        match previous {
            None => {
                out.extend_from_slice(b"\", \"timestamp\": ");
                out.extend_from_slice(ints.format(ms).as_bytes());
            }
            Some(before) => {
                out.extend_from_slice(b"\", \"delay\": ");
                out.extend_from_slice(ints.format(ms.saturating_sub(before)).as_bytes());
            }
        }
        out.extend_from_slice(b", \"input_length\": ");
        out.extend_from_slice(ints.format(req.input_length).as_bytes());
        out.extend_from_slice(b", \"output_length\": ");
        out.extend_from_slice(ints.format(req.output_length).as_bytes());
        if self.turn {
            out.extend_from_slice(b", \"turn\": ");
            let turn = req.session.as_ref().map_or(1, |s| s.turn);
            out.extend_from_slice(ints.format(turn).as_bytes());
        }
        if self.req_type {
            out.extend_from_slice(b", \"type\": ");
            let ty = req.req_type().unwrap_or("text");
            out.extend_from_slice(
                serde_json::to_string(ty)
                    .expect("a string always serializes")
                    .as_bytes(),
            );
        }
        out.extend_from_slice(b", \"hash_ids\": [");
        push_ids(out, ids);
        out.extend_from_slice(b"]}\n");
    }

    fn is_stateless(&self) -> bool {
        false
    }
}

/// The fields of a row.
#[derive(Deserialize)]
struct Row {
    session_id: Option<String>,
    timestamp: Option<f64>,
    delay: Option<f64>,
    input_length: Option<u64>,
    output_length: Option<u64>,
    turn: Option<u32>,
    #[serde(rename = "type")]
    req_type: Option<String>,
    hash_ids: Option<Vec<u64>>,
}

/// What the parser knows of a session: its latest row.
struct Latest {
    chat_id: u64,
    /// Its arrival in the file's milliseconds (converted to seconds the same way for a
    /// timestamp and for a sum of delays, so that equal times read equal).
    ms: f64,
    turn: u32,
    /// The latest chat id at each turn (1, 2, ...): with a `turn` field, a row's parent
    /// is the latest row of the turn before, which restores branching sessions.
    by_turn: Vec<u64>,
}

#[derive(Default)]
struct Parser {
    sessions: FxHashMap<String, Latest>,
    next_chat_id: u64,
}

impl LineParser for Parser {
    fn parse(&mut self, line: &str) -> Result<Request, FieldError> {
        let row: Row = serde_json::from_str(line).map_err(|e| match parse_raw(line) {
            Err(diagnosed) => diagnosed,
            Ok(_) => FieldError::field(
                if line.contains("\"session_id\": \"") {
                    "delay"
                } else {
                    "session_id"
                },
                format!("expected a string session_id and a number delay: {e}"),
            ),
        })?;
        let session_id = row
            .session_id
            .ok_or_else(|| FieldError::missing("session_id"))?;
        let hash_ids = row
            .hash_ids
            .ok_or_else(|| FieldError::missing("hash_ids"))?;
        let input_length = require_length(row.input_length, "input_length")?;
        let output_length = require_length(row.output_length, "output_length")?;
        let previous = self.sessions.get(&session_id);
        // A timestamp wins over a delay, as in AIPerf.
        let ms = match (row.timestamp, row.delay, previous) {
            (Some(t), _, _) => {
                require_timestamp(Some(t), 1000.0)?;
                t
            }
            (None, Some(d), Some(p)) => {
                require_timestamp(Some(p.ms + d), 1000.0)
                    .and_then(|_| require_timestamp(Some(d), 1000.0))
                    .map_err(|e| FieldError {
                        field: Some("delay".to_string()),
                        ..e
                    })?;
                p.ms + d
            }
            (None, Some(_), None) => {
                return Err(FieldError::field(
                    "delay",
                    format!("session {session_id:?} starts here: its first row needs a timestamp"),
                ));
            }
            (None, None, _) => return Err(FieldError::missing("timestamp")),
        };
        let chat_id = self.next_chat_id;
        self.next_chat_id += 1;
        let (parent_chat_id, turn, mut by_turn) = match self.sessions.remove(&session_id) {
            Some(p) => {
                let turn = row.turn.unwrap_or(p.turn + 1);
                // With a turn field, the latest row of the turn before; else the previous.
                let parent = match row.turn {
                    Some(t) if t >= 2 => p.by_turn.get(t as usize - 2).copied(),
                    _ => None,
                }
                .unwrap_or(p.chat_id);
                (parent as i64, turn, p.by_turn)
            }
            None => (-1, row.turn.unwrap_or(1), Vec::new()),
        };
        let depth = turn.max(1) as usize - 1;
        if depth < by_turn.len() {
            by_turn[depth] = chat_id;
            by_turn.truncate(depth + 1);
        } else if depth == by_turn.len() {
            by_turn.push(chat_id);
        }
        self.sessions.insert(
            session_id,
            Latest {
                chat_id,
                ms,
                turn,
                by_turn,
            },
        );
        Ok(Request {
            timestamp: ms / 1000.0,
            input_length,
            output_length,
            hash_ids: Some(hash_ids),
            session: Some(Session {
                chat_id,
                parent_chat_id,
                turn,
                req_type: row.req_type.unwrap_or_else(|| "text".to_string()),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(chat_id: u64, parent: i64, t: f64, turn: u32) -> Request {
        Request {
            timestamp: t,
            input_length: 600,
            output_length: 20,
            hash_ids: Some(vec![chat_id, 7]),
            session: Some(Session {
                chat_id,
                parent_chat_id: parent,
                turn,
                req_type: if turn == 1 { "text" } else { "search" }.to_string(),
            }),
        }
    }

    fn write(fields: &[&str], reqs: &[Request]) -> String {
        let fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        let mut e = MooncakeSessions.encoder(&fields).unwrap();
        let mut out = Vec::new();
        for r in reqs {
            e.encode(r, r.ids(), &mut out);
        }
        String::from_utf8(out).unwrap()
    }

    /// Two sessions interleaved, one branching (11 and 12 both follow 10), one row whose
    /// parent was never written.
    fn trace() -> Vec<Request> {
        vec![
            req(10, -1, 1.0, 1),
            req(20, -1, 1.5, 1),
            req(11, 10, 3.25, 2),
            req(12, 10, 4.0, 2),
            req(21, 20, 4.0004, 2),
            req(31, 30, 5.0, 3),
        ]
    }

    #[test]
    fn follow_ups_carry_the_delay_after_the_sessions_previous_row() {
        let text = write(&[], &trace());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                r#"{"session_id": "10", "timestamp": 1000, "input_length": 600, "output_length": 20, "hash_ids": [10, 7]}"#,
                r#"{"session_id": "20", "timestamp": 1500, "input_length": 600, "output_length": 20, "hash_ids": [20, 7]}"#,
                r#"{"session_id": "10", "delay": 2250, "input_length": 600, "output_length": 20, "hash_ids": [11, 7]}"#,
                // After 11, the session's latest row, not after its parent 10.
                r#"{"session_id": "10", "delay": 750, "input_length": 600, "output_length": 20, "hash_ids": [12, 7]}"#,
                r#"{"session_id": "20", "delay": 2500, "input_length": 600, "output_length": 20, "hash_ids": [21, 7]}"#,
                r#"{"session_id": "31", "timestamp": 5000, "input_length": 600, "output_length": 20, "hash_ids": [31, 7]}"#,
            ]
        );
        let with = write(&["turn", "type"], &trace()[2..3]);
        assert!(
            with.contains(r#""output_length": 20, "turn": 2, "type": "search", "hash_ids""#),
            "{with}"
        );
    }

    /// (chat id, parent, turn) of each row read back from `text`, and the times.
    fn read(text: &str) -> (Vec<(u64, i64, u32)>, Vec<f64>) {
        let mut p = MooncakeSessions.parser();
        let back: Vec<Request> = text.lines().map(|l| p.parse(l).unwrap()).collect();
        let tree = back
            .iter()
            .map(|r| {
                let s = r.session.as_ref().unwrap();
                (s.chat_id, s.parent_chat_id, s.turn)
            })
            .collect();
        (tree, back.iter().map(|r| r.timestamp).collect())
    }

    #[test]
    fn reads_back_the_arrival_times_and_sessions() {
        // With turns, 12 is a second child of 10 again (chat ids 0 and 3).
        let (tree, times) = read(&write(&["turn"], &trace()));
        assert_eq!(times, [1.0, 1.5, 3.25, 4.0, 4.0, 5.0]);
        assert_eq!(
            tree,
            [
                (0, -1, 1),
                (1, -1, 1),
                (2, 0, 2),
                (3, 0, 2),
                (4, 1, 2),
                (5, -1, 3)
            ]
        );
        // Without, a session is a chain in file order.
        let (tree, _) = read(&write(&[], &trace()));
        assert_eq!(
            tree,
            [
                (0, -1, 1),
                (1, -1, 1),
                (2, 0, 2),
                (3, 2, 3),
                (4, 1, 2),
                (5, -1, 1)
            ]
        );
    }

    #[test]
    fn records_without_sessions_are_sessions_of_one_row() {
        let mut r = req(5, -1, 2.0, 1);
        r.session = None;
        let text = write(&[], &[r.clone(), r]);
        assert!(text.starts_with(r#"{"session_id": "0", "timestamp": 2000"#));
        assert!(text.contains("\n{\"session_id\": \"1\", \"timestamp\": 2000"));
    }

    #[test]
    fn a_session_must_start_with_a_timestamp() {
        let mut p = MooncakeSessions.parser();
        let e = p
            .parse(r#"{"session_id": "a", "delay": 5, "input_length": 1, "output_length": 1, "hash_ids": []}"#)
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("delay"));
        let e = p
            .parse(r#"{"session_id": 3, "timestamp": 5, "input_length": 1, "output_length": 1, "hash_ids": []}"#)
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("session_id"), "{}", e.message);
    }
}
