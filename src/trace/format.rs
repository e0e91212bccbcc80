//! Trace formats: what a format must say about itself ([`TraceFormat`]), the registry of
//! every format tracesynth knows, and [`Format`], a cheap handle on one of them.
//!
//! Each format lives in its own file and implements [`TraceFormat`]: how to recognise
//! its first line, parse a line, write a line, how many tokens a block holds and in which
//! order `merge` joins the parts it writes. Adding a format is one such file and one line
//! in [`REGISTRY`]; nothing else matches on formats.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use super::jsonl::FieldError;
use super::{Request, azure, bailian, mooncake, mooncake_sessions};

/// Every format, in the order they are listed to users. Detection asks all of them and
/// takes the surest answer ([`TraceFormat::detect`]); among equally sure ones, the first.
static REGISTRY: &[&dyn TraceFormat] = &[
    &bailian::Bailian,
    &mooncake::Mooncake,
    &mooncake_sessions::MooncakeSessions,
    &azure::Azure,
];

/// One trace format.
pub trait TraceFormat: Sync {
    /// The name on the command line (`--format NAME`) and in JSON output, lower case.
    fn name(&self) -> &'static str;

    /// Tokens per hash id, `None` for a format without blocks.
    fn block_size(&self) -> Option<u32>;

    /// How surely `line`, the first non-blank line of a file (trimmed, without a byte
    /// order mark), opens a file of this format: 0 not at all, higher is surer. A format
    /// that refines another (more required fields) answers above it.
    fn detect(&self, line: &str) -> u8;

    /// Whether `line` is a header to skip rather than a record (a CSV's column names).
    fn is_header(&self, _line: &str) -> bool {
        false
    }

    /// A parser for the lines of one file.
    fn parser(&self) -> Box<dyn LineParser>;

    /// The name of the time field, for messages about a record's time.
    fn time_field(&self) -> &'static str {
        "timestamp"
    }

    /// A time (seconds from the start) as a file of this format writes it, with its unit.
    fn show_time(&self, seconds: f64) -> String {
        format!("{seconds} s")
    }

    /// The fields a line may carry on request (`--field`), beyond those it always has.
    fn optional_fields(&self) -> &'static [&'static str] {
        &[]
    }

    /// A writer of lines of this format with the requested `fields` (each one of
    /// [`optional_fields`](Self::optional_fields)), `None` for a format tracesynth only
    /// reads.
    fn encoder(&self, _fields: &[String]) -> Option<Box<dyn LineEncoder>> {
        None
    }

    /// Whether written lines carry the records' chat ids (which must then fit 32 bits).
    fn writes_chat_ids(&self) -> bool {
        false
    }

    /// The order of the lines this format writes, for putting ties in order
    /// (`generate`) and for joining the parts of a sharded run (`merge`); `None` for a
    /// format whose parts cannot be merged.
    fn line_order(&self) -> Option<LineOrder> {
        None
    }
}

/// Parses the lines of one file, in order (a format may carry state from line to line,
/// such as the Azure CSV's first time, which later times are relative to).
pub trait LineParser: Send {
    /// Parse one non-blank line that is not a header.
    fn parse(&mut self, line: &str) -> Result<Request, FieldError>;
}

/// Writes records as lines of one format.
pub trait LineEncoder: Send + Sync {
    /// Append the line of `req`, whose blocks are `ids` (already in this format's block
    /// size), newline included, to `out`.
    fn encode(&mut self, req: &Request, ids: &[u64], out: &mut Vec<u8>);

    /// Whether a line depends on its own record only (when records carry their session
    /// fields), so that encoders on several threads write the same bytes as one.
    fn is_stateless(&self) -> bool {
        true
    }
}

/// How the lines a format writes are ordered: by an integer the line opens with, and
/// what to do with lines of equal keys.
#[derive(Debug, Clone, Copy)]
pub struct LineOrder {
    /// The key a written line opens with, read without parsing the line.
    pub key: fn(&[u8]) -> Option<u64>,
    /// The field the key is, for messages.
    pub key_field: &'static str,
    pub ties: Ties,
}

/// What lines of equal keys mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ties {
    /// Keys are unique (an id): two lines of one key are an error.
    Unique,
    /// Keys repeat (a time): lines of one key go in [`super::order::tie_key`] order,
    /// then by their bytes, and identical lines are interchangeable.
    ByContent,
}

/// A trace format: a handle on one of the registered [`TraceFormat`]s, compared, hashed,
/// printed and serialized by its name.
#[derive(Clone, Copy)]
pub struct Format(&'static dyn TraceFormat);

// The names of the formats every version has had, as constants. They keep the spelling
// of the enum they replace, so that `Format::Bailian` still reads as it did.
#[allow(non_upper_case_globals)]
impl Format {
    /// Qwen-Bailian JSONL: sessions, types, 16-token blocks, timestamps in seconds.
    pub const Bailian: Format = Format(&bailian::Bailian);
    /// Mooncake JSONL: 512-token blocks, integer millisecond timestamps, no sessions.
    pub const Mooncake: Format = Format(&mooncake::Mooncake);
    /// Azure LLM inference CSV: absolute timestamps and lengths only.
    pub const Azure: Format = Format(&azure::Azure);
}

impl Format {
    /// Every registered format.
    pub fn all() -> impl Iterator<Item = Format> {
        REGISTRY.iter().map(|&f| Format(f))
    }

    /// The formats tracesynth writes.
    pub fn writable() -> impl Iterator<Item = Format> {
        Format::all().filter(|f| f.0.encoder(&[]).is_some())
    }

    /// The format named `name` (any case).
    pub fn named(name: &str) -> Option<Format> {
        Format::all().find(|f| f.name().eq_ignore_ascii_case(name))
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// Tokens per hash id for the format, `None` when it has no blocks.
    pub fn block_size(self) -> Option<u32> {
        self.0.block_size()
    }

    /// Guess the format from the first non-blank line of a file.
    pub fn detect(first_line: &str) -> Option<Format> {
        let line = first_line.trim_start_matches('\u{feff}').trim();
        let mut best: Option<(u8, Format)> = None;
        for f in Format::all() {
            let score = f.0.detect(line);
            if score > 0 && best.is_none_or(|(b, _)| score > b) {
                best = Some((score, f));
            }
        }
        best.map(|(_, f)| f)
    }

    /// The writable format whose blocks hold `block` tokens, the first registered.
    pub fn native(block: u32) -> Option<Format> {
        Format::writable().find(|f| f.block_size() == Some(block))
    }

    pub fn is_header(self, line: &str) -> bool {
        self.0.is_header(line)
    }

    pub fn parser(self) -> Box<dyn LineParser> {
        self.0.parser()
    }

    pub fn time_field(self) -> &'static str {
        self.0.time_field()
    }

    pub fn show_time(self, seconds: f64) -> String {
        self.0.show_time(seconds)
    }

    pub fn optional_fields(self) -> &'static [&'static str] {
        self.0.optional_fields()
    }

    pub fn encoder(self, fields: &[String]) -> Option<Box<dyn LineEncoder>> {
        self.0.encoder(fields)
    }

    pub fn writes_chat_ids(self) -> bool {
        self.0.writes_chat_ids()
    }

    pub fn line_order(self) -> Option<LineOrder> {
        self.0.line_order()
    }
}

/// `a, b or c`.
fn listed(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

impl PartialEq for Format {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}
impl Eq for Format {}

impl Hash for Format {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name().hash(state);
    }
}

impl fmt::Debug for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::named(s).ok_or_else(|| {
            let names: Vec<&str> = Format::all().map(Format::name).collect();
            format!(
                "unknown format `{}` (expected {})",
                s.to_ascii_lowercase(),
                listed(&names)
            )
        })
    }
}

impl serde::Serialize for Format {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Format {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Format::all()
            .find(|f| f.name() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown format `{name}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_format_from_its_first_line() {
        assert_eq!(
            Format::detect(r#"{"chat_id": 1, "parent_chat_id": -1}"#),
            Some(Format::Bailian)
        );
        assert_eq!(
            Format::detect(r#"{"timestamp": 0, "input_length": 5}"#),
            Some(Format::Mooncake)
        );
        assert_eq!(
            Format::detect("TIMESTAMP,ContextTokens,GeneratedTokens"),
            Some(Format::Azure)
        );
        assert_eq!(
            Format::detect("2023-11-16 18:15:46.6805900,374,44"),
            Some(Format::Azure)
        );
        assert_eq!(Format::detect("\u{0}\u{1}garbage"), None);
    }

    #[test]
    fn names_round_trip_and_are_unique() {
        let names: Vec<&str> = Format::all().map(Format::name).collect();
        for (i, name) in names.iter().enumerate() {
            assert_eq!(name.to_ascii_lowercase(), *name);
            assert!(!names[..i].contains(name), "{name} registered twice");
            let f: Format = name.to_ascii_uppercase().parse().unwrap();
            assert_eq!(f.name(), *name);
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<Format>(&json).unwrap(), f);
        }
        let err = "nope".parse::<Format>().unwrap_err();
        assert!(err.contains("expected bailian, mooncake"), "{err}");
    }

    #[test]
    fn every_writable_format_reads_its_own_lines_back() {
        let req = Request {
            timestamp: 12.5,
            input_length: 40,
            output_length: 7,
            hash_ids: Some(vec![3, 4, 5]),
            session: Some(super::super::Session {
                chat_id: 9,
                parent_chat_id: -1,
                turn: 1,
                req_type: "text".to_string(),
            }),
        };
        for f in Format::writable() {
            let mut out = Vec::new();
            f.encoder(&[]).unwrap().encode(&req, req.ids(), &mut out);
            let line = std::str::from_utf8(&out).unwrap();
            assert_eq!(Format::detect(line), Some(f), "{line}");
            let back = f.parser().parse(line.trim_end()).unwrap();
            assert_eq!(back.timestamp, req.timestamp, "{f}");
            assert_eq!(back.input_length, req.input_length, "{f}");
            assert_eq!(back.ids(), req.ids(), "{f}");
        }
    }
}
