//! Validating a trace against the rules its consumers enforce, in one streaming pass.
//!
//! Every line is checked on its own (does it parse, do its blocks match its length, are
//! its ids small enough) and against what came before it (is the file sorted by time, do
//! parents come first, do turns count up). Only what later lines can refer to is kept:
//! one `(turn, timestamp)` per chat id, so a 100 MB trace needs a few MB.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{RecordProblem, TraceError};
use crate::metrics::ids::IdMap;
use crate::trace::{Format, MAX_HASH_ID, Request, TraceReader, blocks_for};

/// How many occurrences of each kind the report keeps, with their lines and messages.
pub const MAX_EXAMPLES: usize = 5;

/// Every kind of violation `check` looks for, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    /// Not a record: not UTF-8, not JSON, truncated, wrong number of columns.
    Unparsable,
    /// A required field is absent.
    MissingField,
    /// A field with the wrong type or an impossible value.
    InvalidField,
    /// `len(hash_ids) != ceil(input_length / block)`.
    BlockCount,
    /// No `hash_ids` for a non-empty input (trace-replayer panics on it).
    EmptyHashIds,
    /// An id at or above 2^32 (Dynamo's mocker maps ids to u32 tokens).
    IdTooLarge,
    /// A timestamp before the previous record's: consumers replay in file order.
    TimestampDecreasing,
    DuplicateChatId,
    /// The parent does not appear on an earlier line.
    ParentMissing,
    /// The parent appears earlier in the file but with a later timestamp.
    ParentLater,
    /// A root whose turn is not 1, or a follow-up whose turn is not its parent's + 1.
    Turn,
}

impl ViolationKind {
    pub const ALL: [ViolationKind; 11] = [
        ViolationKind::Unparsable,
        ViolationKind::MissingField,
        ViolationKind::InvalidField,
        ViolationKind::BlockCount,
        ViolationKind::EmptyHashIds,
        ViolationKind::IdTooLarge,
        ViolationKind::TimestampDecreasing,
        ViolationKind::DuplicateChatId,
        ViolationKind::ParentMissing,
        ViolationKind::ParentLater,
        ViolationKind::Turn,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            ViolationKind::Unparsable => "unparsable line",
            ViolationKind::MissingField => "missing field",
            ViolationKind::InvalidField => "mistyped or out-of-range field",
            ViolationKind::BlockCount => "len(hash_ids) != ceil(input_length / block size)",
            ViolationKind::EmptyHashIds => "empty hash_ids with input_length > 0",
            ViolationKind::IdTooLarge => "hash id at or above 2^32",
            ViolationKind::TimestampDecreasing => "timestamp before the previous record's",
            ViolationKind::DuplicateChatId => "duplicate chat_id",
            ViolationKind::ParentMissing => "parent not on an earlier line",
            ViolationKind::ParentLater => "parent's timestamp after the child's",
            ViolationKind::Turn => "turn is not 1 for a root or the parent's turn + 1",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One occurrence of a violation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Example {
    /// 1-based line in the (decompressed) file.
    pub line: u64,
    pub message: String,
}

/// All occurrences of one kind of violation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    pub kind: ViolationKind,
    pub description: &'static str,
    pub count: u64,
    /// The first [`MAX_EXAMPLES`] occurrences, in file order.
    pub first: Vec<Example>,
    /// For field errors: how many occurrences name each field.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, u64>,
}

impl Violation {
    /// The lines of the first occurrences.
    pub fn lines(&self) -> Vec<u64> {
        self.first.iter().map(|e| e.line).collect()
    }
}

/// The result of checking one trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    pub path: String,
    pub format: Format,
    /// Tokens per hash id, `None` for formats without blocks (Azure).
    pub block_size: Option<u32>,
    /// Data lines read: records that parsed plus lines that did not.
    pub records: u64,
    pub clean: bool,
    /// The kinds that occurred, in [`ViolationKind::ALL`] order.
    pub violations: Vec<Violation>,
}

impl CheckReport {
    /// How many times `kind` occurred.
    pub fn count(&self, kind: ViolationKind) -> u64 {
        self.get(kind).map_or(0, |v| v.count)
    }

    pub fn get(&self, kind: ViolationKind) -> Option<&Violation> {
        self.violations.iter().find(|v| v.kind == kind)
    }
}

/// What a later line may need to know about an earlier request.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    turn: u32,
    timestamp: f64,
}

/// The streaming checker: feed it every item of a [`TraceReader`] with its line.
pub struct Checker {
    format: Format,
    block_size: Option<u32>,
    records: u64,
    tallies: Vec<Violation>,
    previous_timestamp: Option<f64>,
    /// Chat ids are dense in every trace we know: a vector slot each, not a hash entry.
    sessions: IdMap<Seen>,
}

impl Checker {
    pub fn new(format: Format) -> Self {
        Checker {
            format,
            block_size: format.block_size(),
            records: 0,
            tallies: ViolationKind::ALL
                .iter()
                .map(|&kind| Violation {
                    kind,
                    description: kind.describe(),
                    count: 0,
                    first: Vec::new(),
                    fields: BTreeMap::new(),
                })
                .collect(),
            previous_timestamp: None,
            sessions: IdMap::default(),
        }
    }

    /// Check one item read at `line`. A record error is tallied; an error that ends the
    /// input (I/O, corrupt compression) is returned, since the rest cannot be checked.
    pub fn push(&mut self, line: u64, item: Result<Request, TraceError>) -> Result<(), TraceError> {
        match item {
            Ok(req) => {
                self.push_record(line, &req);
                Ok(())
            }
            Err(TraceError::Record {
                field,
                message,
                problem,
                ..
            }) => {
                self.records += 1;
                let kind = match problem {
                    RecordProblem::Syntax => ViolationKind::Unparsable,
                    RecordProblem::Missing => ViolationKind::MissingField,
                    RecordProblem::Invalid => ViolationKind::InvalidField,
                };
                let text = match &field {
                    Some(f) => format!("field `{f}`: {message}"),
                    None => message,
                };
                let tally = self.note(kind, line, || text);
                if let (Some(f), ViolationKind::MissingField | ViolationKind::InvalidField) =
                    (field, kind)
                {
                    *tally.fields.entry(f).or_default() += 1;
                }
                Ok(())
            }
            Err(fatal) => Err(fatal),
        }
    }

    /// Check one record that was read at `line`.
    pub fn push_record(&mut self, line: u64, req: &Request) {
        self.records += 1;
        self.check_record(line, req);
    }

    fn check_record(&mut self, line: u64, req: &Request) {
        if let (Some(block), Some(ids)) = (self.block_size, req.hash_ids.as_deref()) {
            let want = blocks_for(req.input_length, block);
            if ids.is_empty() && req.input_length > 0 {
                // Also a block-count violation, but reported once, as the sharper kind.
                self.note(ViolationKind::EmptyHashIds, line, || {
                    format!(
                        "no hash_ids for input_length {} ({want} expected)",
                        req.input_length
                    )
                });
            } else if ids.len() as u64 != want {
                self.note(ViolationKind::BlockCount, line, || {
                    format!(
                        "{} hash_ids, expected ceil({} / {block}) = {want}",
                        ids.len(),
                        req.input_length
                    )
                });
            }
            if let Some((i, &id)) = ids.iter().enumerate().find(|(_, id)| **id >= MAX_HASH_ID) {
                self.note(ViolationKind::IdTooLarge, line, || {
                    format!("hash_ids[{i}] = {id} is not below 2^32")
                });
            }
        }

        let t = req.timestamp;
        if let Some(prev) = self.previous_timestamp
            && t < prev
        {
            let (t, prev) = (self.time(t), self.time(prev));
            self.note(ViolationKind::TimestampDecreasing, line, || {
                format!("timestamp {t} is before the previous record's {prev}")
            });
        }
        self.previous_timestamp = Some(t);

        let Some(session) = &req.session else { return };
        if self.sessions.contains(session.chat_id) {
            self.note(ViolationKind::DuplicateChatId, line, || {
                format!("chat_id {} already appeared", session.chat_id)
            });
        }
        match session.parent() {
            None if session.turn != 1 => {
                self.note(ViolationKind::Turn, line, || {
                    format!("a root (parent_chat_id -1) with turn {}", session.turn)
                });
            }
            None => {}
            Some(parent) => match self.sessions.get(parent) {
                None => {
                    self.note(ViolationKind::ParentMissing, line, || {
                        format!("parent_chat_id {parent} is not on an earlier line")
                    });
                }
                Some(seen) => {
                    if seen.timestamp > t {
                        let (pt, t) = (self.time(seen.timestamp), self.time(t));
                        self.note(ViolationKind::ParentLater, line, || {
                            format!("parent {parent} at {pt} is after this request at {t}")
                        });
                    }
                    if u64::from(session.turn) != u64::from(seen.turn) + 1 {
                        self.note(ViolationKind::Turn, line, || {
                            format!(
                                "turn {}, expected {} (parent {parent} has turn {})",
                                session.turn,
                                u64::from(seen.turn) + 1,
                                seen.turn
                            )
                        });
                    }
                }
            },
        }
        // A duplicate keeps the first request's entry: that is the one on earlier lines.
        self.sessions.insert_new(
            session.chat_id,
            Seen {
                turn: session.turn,
                timestamp: t,
            },
        );
    }

    /// A time as the file writes it: Mooncake in milliseconds, the others in seconds.
    fn time(&self, seconds: f64) -> String {
        self.format.show_time(seconds)
    }

    /// Count one occurrence; the message is built only for the first few.
    fn note(
        &mut self,
        kind: ViolationKind,
        line: u64,
        message: impl FnOnce() -> String,
    ) -> &mut Violation {
        let tally = &mut self.tallies[kind.index()];
        tally.count += 1;
        if tally.first.len() < MAX_EXAMPLES {
            tally.first.push(Example {
                line,
                message: message(),
            });
        }
        tally
    }

    /// No violation so far (every kind is found as its record is read, so a checker
    /// that is not clean now will not be at the end).
    pub fn is_clean(&self) -> bool {
        self.tallies.iter().all(|v| v.count == 0)
    }

    pub fn finish(self, path: &str) -> CheckReport {
        let violations: Vec<Violation> = self.tallies.into_iter().filter(|v| v.count > 0).collect();
        CheckReport {
            path: path.to_string(),
            format: self.format,
            block_size: self.block_size,
            records: self.records,
            clean: violations.is_empty(),
            violations,
        }
    }
}

/// Check every record of an open reader.
pub fn check_reader(mut reader: TraceReader) -> Result<CheckReport, TraceError> {
    let mut checker = Checker::new(reader.format());
    while let Some(item) = reader.next() {
        checker.push(reader.line(), item)?;
    }
    Ok(checker.finish(reader.path()))
}

/// Open and check `path` (`-` for stdin), detecting the format unless `format` is given.
pub fn check_file(path: &str, format: Option<Format>) -> Result<CheckReport, TraceError> {
    check_reader(TraceReader::open(path, format)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Session;

    fn bailian(chat_id: u64, parent: i64, turn: u32, t: f64, input: u64, ids: Vec<u64>) -> Request {
        Request {
            timestamp: t,
            input_length: input,
            output_length: 1,
            hash_ids: Some(ids),
            session: Some(Session {
                chat_id,
                parent_chat_id: parent,
                turn,
                req_type: "text".to_string(),
            }),
        }
    }

    fn run(format: Format, reqs: Vec<Request>) -> CheckReport {
        let mut c = Checker::new(format);
        for (i, r) in reqs.into_iter().enumerate() {
            c.push(i as u64 + 1, Ok(r)).unwrap();
        }
        c.finish("t")
    }

    #[test]
    fn a_consistent_session_is_clean() {
        let r = run(
            Format::Bailian,
            vec![
                bailian(1, -1, 1, 0.0, 17, vec![0, 1]),
                bailian(2, 1, 2, 0.0, 32, vec![0, 2]),
                bailian(3, 2, 3, 5.0, 0, vec![]),
            ],
        );
        assert!(r.clean, "{r:?}");
        assert_eq!(r.records, 3);
    }

    #[test]
    fn each_session_rule_is_reported_on_its_line() {
        let r = run(
            Format::Bailian,
            vec![
                bailian(1, -1, 1, 1.0, 16, vec![0]),
                bailian(2, 1, 2, 0.5, 16, vec![0]), // parent later, time goes back
                bailian(2, 9, 2, 2.0, 16, vec![0]), // duplicate, parent missing
                bailian(4, 1, 5, 3.0, 16, vec![0]), // turn not the parent's + 1
                bailian(5, -1, 2, 4.0, 16, vec![0]), // root with turn 2
                bailian(6, -1, 1, 4.0, 33, vec![0]),
                bailian(7, -1, 1, 4.0, 1, vec![]),
                bailian(8, -1, 1, 4.0, 16, vec![1 << 32]),
            ],
        );
        let lines = |k| r.get(k).map(Violation::lines).unwrap_or_default();
        assert_eq!(lines(ViolationKind::Turn), vec![4, 5]);
        assert_eq!(lines(ViolationKind::ParentLater), vec![2]);
        assert_eq!(lines(ViolationKind::TimestampDecreasing), vec![2]);
        assert_eq!(lines(ViolationKind::DuplicateChatId), vec![3]);
        assert_eq!(lines(ViolationKind::ParentMissing), vec![3]);
        assert_eq!(lines(ViolationKind::BlockCount), vec![6]);
        assert_eq!(lines(ViolationKind::EmptyHashIds), vec![7]);
        assert_eq!(lines(ViolationKind::IdTooLarge), vec![8]);
        assert_eq!(r.violations.len(), 8);
    }

    #[test]
    fn keeps_the_count_but_only_the_first_examples() {
        let reqs = (0..12)
            .map(|i| bailian(i, -1, 1, 0.0, 100, vec![0]))
            .collect();
        let r = run(Format::Bailian, reqs);
        let v = r.get(ViolationKind::BlockCount).unwrap();
        assert_eq!(v.count, 12);
        assert_eq!(v.lines(), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn record_errors_are_classified_by_problem_and_field() {
        let mut c = Checker::new(Format::Bailian);
        let err = |problem, field: Option<&str>| TraceError::Record {
            at: crate::error::Location::new("t", Some(1)),
            field: field.map(str::to_string),
            message: "m".to_string(),
            problem,
        };
        c.push(1, Err(err(RecordProblem::Syntax, Some("hash_ids"))))
            .unwrap();
        c.push(2, Err(err(RecordProblem::Missing, Some("turn"))))
            .unwrap();
        c.push(3, Err(err(RecordProblem::Invalid, Some("turn"))))
            .unwrap();
        c.push(4, Err(err(RecordProblem::Invalid, Some("timestamp"))))
            .unwrap();
        let io = TraceError::io("t", std::io::Error::other("disk"));
        assert!(c.push(5, Err(io)).is_err());
        let r = c.finish("t");
        assert_eq!(r.records, 4);
        assert_eq!(r.count(ViolationKind::Unparsable), 1);
        assert!(r.get(ViolationKind::Unparsable).unwrap().fields.is_empty());
        assert_eq!(r.count(ViolationKind::MissingField), 1);
        let invalid = r.get(ViolationKind::InvalidField).unwrap();
        assert_eq!(invalid.count, 2);
        assert_eq!(invalid.fields.get("turn"), Some(&1));
        assert_eq!(invalid.fields.get("timestamp"), Some(&1));
        assert_eq!(invalid.first[0].message, "field `turn`: m");
    }

    #[test]
    fn blocks_follow_the_format_and_azure_has_none() {
        let moon = |input, n: u64| Request {
            timestamp: 0.0,
            input_length: input,
            output_length: 1,
            hash_ids: Some((0..n).collect()),
            session: None,
        };
        assert!(run(Format::Mooncake, vec![moon(513, 2), moon(512, 1)]).clean);
        let r = run(Format::Mooncake, vec![moon(513, 33)]);
        assert_eq!(r.count(ViolationKind::BlockCount), 1);
        let azure = Request {
            hash_ids: None,
            ..moon(5000, 0)
        };
        assert!(run(Format::Azure, vec![azure]).clean);
    }
}
