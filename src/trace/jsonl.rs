//! Parsing one JSON line into its raw fields, and explaining precisely what is wrong with
//! a line that does not parse.

use serde::Deserialize;
use serde_json::Value;

use super::MAX_TOKENS;
use crate::error::RecordProblem;

/// What is wrong with one line: the field when known, a message, and the kind of problem.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub field: Option<String>,
    pub message: String,
    pub problem: RecordProblem,
}

impl FieldError {
    /// A field with a wrong type or an impossible value.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        FieldError {
            field: Some(field.to_string()),
            message: message.into(),
            problem: RecordProblem::Invalid,
        }
    }
    /// A required field that is absent.
    pub fn missing(field: &str) -> Self {
        FieldError {
            field: Some(field.to_string()),
            message: "missing".to_string(),
            problem: RecordProblem::Missing,
        }
    }
    /// A line that is not a record at all.
    pub fn line(message: impl Into<String>) -> Self {
        FieldError {
            field: None,
            message: message.into(),
            problem: RecordProblem::Syntax,
        }
    }
}

/// Every field either JSON format may carry. Unknown fields are ignored.
#[derive(Debug, Deserialize)]
pub struct RawRecord {
    pub chat_id: Option<u64>,
    pub parent_chat_id: Option<i64>,
    pub timestamp: Option<f64>,
    pub input_length: Option<u64>,
    pub output_length: Option<u64>,
    #[serde(rename = "type")]
    pub req_type: Option<String>,
    pub turn: Option<u32>,
    pub hash_ids: Option<Vec<u64>>,
}

/// The expected JSON type of each known field, for diagnosing a line that failed the
/// typed fast path.
const FIELD_KINDS: &[(&str, Kind)] = &[
    ("chat_id", Kind::UInt),
    ("parent_chat_id", Kind::Int),
    ("timestamp", Kind::Number),
    ("input_length", Kind::UInt),
    ("output_length", Kind::UInt),
    ("type", Kind::Str),
    ("turn", Kind::U32),
    ("hash_ids", Kind::UIntArray),
];

#[derive(Clone, Copy)]
enum Kind {
    UInt,
    U32,
    Int,
    Number,
    Str,
    UIntArray,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::UInt => "a non-negative integer",
            Kind::U32 => "a non-negative integer below 2^32",
            Kind::Int => "an integer",
            Kind::Number => "a number",
            Kind::Str => "a string",
            Kind::UIntArray => "an array of non-negative integers",
        }
    }
}

fn describe_value(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("{n}"),
        Value::String(s) => format!("string {:?}", truncate(s, 40)),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n).collect::<String>() + "..."
    }
}

/// Parse a line into its raw fields; on failure, say which field is wrong and why.
pub fn parse_raw(line: &str) -> Result<RawRecord, FieldError> {
    match serde_json::from_str::<RawRecord>(line) {
        Ok(raw) => Ok(raw),
        Err(err) => Err(diagnose(line, &err)),
    }
}

fn diagnose(line: &str, err: &serde_json::Error) -> FieldError {
    let value: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(syntax) => {
            let field = field_before_column(line, syntax.column());
            let message = if syntax.is_eof() {
                format!("truncated line: {}", without_serde_line(&syntax))
            } else if let Some(word) = non_finite_at(line, syntax.column()) {
                format!(
                    "invalid JSON: {word} at column {} is not a JSON number",
                    syntax.column()
                )
            } else {
                format!("invalid JSON: {}", without_serde_line(&syntax))
            };
            return FieldError {
                field,
                message,
                problem: RecordProblem::Syntax,
            };
        }
    };
    let Value::Object(map) = value else {
        return FieldError::line(format!(
            "expected a JSON object, found {}",
            describe_value(&value)
        ));
    };
    for &(name, kind) in FIELD_KINDS {
        let Some(v) = map.get(name) else { continue };
        let ok = match kind {
            Kind::UInt => v.is_u64() || v.is_null(),
            Kind::U32 => v.as_u64().is_some_and(|x| x <= u64::from(u32::MAX)) || v.is_null(),
            Kind::Int => v.is_i64() || v.is_null(),
            Kind::Number => v.is_number() || v.is_null(),
            Kind::Str => v.is_string() || v.is_null(),
            Kind::UIntArray => match v {
                Value::Array(items) => {
                    if let Some((i, bad)) = items.iter().enumerate().find(|(_, x)| !x.is_u64()) {
                        return FieldError::field(
                            name,
                            format!(
                                "element {i} is {}, expected a non-negative integer",
                                describe_value(bad)
                            ),
                        );
                    }
                    true
                }
                Value::Null => true,
                _ => false,
            },
        };
        if !ok {
            let found = describe_value(v);
            let hint = match (kind, v) {
                (Kind::UInt | Kind::U32, Value::Number(n)) if n.as_i64().is_some_and(|x| x < 0) => {
                    " (negative)"
                }
                // JSON reads a whole number past 2^64 as a float: it is too large, not
                // fractional.
                (Kind::UInt | Kind::U32 | Kind::Int, Value::Number(n))
                    if n.as_f64().is_some_and(|x| {
                        x.fract() == 0.0 && x.abs() >= 18_446_744_073_709_551_616.0
                    }) =>
                {
                    " (too large: integers here must be below 2^64)"
                }
                (Kind::UInt | Kind::U32 | Kind::Int, Value::Number(n)) if n.is_f64() => {
                    " (not an integer)"
                }
                (Kind::U32, Value::Number(n)) if n.is_u64() => " (too large)",
                _ => "",
            };
            return FieldError::field(
                name,
                format!("expected {}, found {found}{hint}", kind.describe()),
            );
        }
    }
    FieldError::line(without_serde_line(err))
}

/// `NaN` or `Infinity` near the error column (1-based): Python's `json.dumps` writes them
/// for non-finite floats, and serde's "expected value" does not say what was wrong.
fn non_finite_at(line: &str, column: usize) -> Option<&'static str> {
    let start = line
        .char_indices()
        .nth(column.saturating_sub(2))
        .map_or(line.len(), |(i, _)| i);
    let near = &line[start..];
    ["NaN", "-Infinity", "Infinity"]
        .into_iter()
        .find(|word| near.get(..word.len() + 1).is_some_and(|s| s.contains(word)))
}

/// serde's message with its "at line 1 column N" turned into "at column N": serde sees one
/// line at a time, so its line number is always 1 and contradicts the file line we report.
fn without_serde_line(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    match text.strip_suffix(&suffix) {
        Some(head) if err.column() > 0 => format!("{head} at column {}", err.column()),
        Some(head) => head.to_string(),
        None => text,
    }
}

/// The name of the last `"key":` that starts before `column` (1-based), to point a syntax
/// error such as `"timestamp": NaN` at its field.
fn field_before_column(line: &str, column: usize) -> Option<String> {
    let end = line
        .char_indices()
        .nth(column.saturating_sub(1))
        .map(|(i, _)| i)
        .unwrap_or(line.len());
    let head = &line[..end];
    let colon = head.rfind("\":")?;
    let start = head[..colon].rfind('"')?;
    let name = &head[start + 1..colon];
    (!name.is_empty() && name.len() < 40).then(|| name.to_string())
}

/// A length field must be present and plausible.
pub fn require_length(value: Option<u64>, name: &str) -> Result<u64, FieldError> {
    let v = value.ok_or_else(|| FieldError::missing(name))?;
    if v > MAX_TOKENS {
        return Err(FieldError::field(
            name,
            format!("{v} exceeds the limit of {MAX_TOKENS} tokens"),
        ));
    }
    Ok(v)
}

/// A timestamp must be present, finite, not negative and at most
/// [`MAX_TIMESTAMP`](super::MAX_TIMESTAMP) seconds; `per_second` is the file's unit (1 for
/// seconds, 1000 for milliseconds). Returns seconds.
pub fn require_timestamp(value: Option<f64>, per_second: f64) -> Result<f64, FieldError> {
    let t = value.ok_or_else(|| FieldError::missing("timestamp"))?;
    if !t.is_finite() || t < 0.0 {
        return Err(FieldError::field(
            "timestamp",
            format!("{t} is not a finite, non-negative time"),
        ));
    }
    let seconds = t / per_second;
    if seconds > super::MAX_TIMESTAMP {
        return Err(FieldError::field(
            "timestamp",
            format!(
                "{t} is out of range: {seconds:e} s exceeds the limit of {:e} s",
                super::MAX_TIMESTAMP
            ),
        ));
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_mistyped_field() {
        let e = parse_raw(r#"{"timestamp": 1.0, "input_length": "abc"}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("input_length"));
        assert!(e.message.contains("string"), "{}", e.message);
    }

    #[test]
    fn names_a_negative_length() {
        let e = parse_raw(r#"{"timestamp": 1.0, "output_length": -5}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("output_length"));
        assert!(e.message.contains("negative"), "{}", e.message);
    }

    #[test]
    fn points_a_nan_at_its_field() {
        let e = parse_raw(r#"{"input_length": 5, "timestamp": NaN}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("timestamp"));
    }

    #[test]
    fn says_nan_and_infinity_are_not_json_numbers() {
        for (word, line) in [
            ("NaN", r#"{"input_length": 5, "timestamp": NaN}"#),
            ("NaN", r#"{"timestamp":NaN, "input_length": 5}"#),
            ("Infinity", r#"{"input_length": 5, "timestamp": Infinity}"#),
            (
                "-Infinity",
                r#"{"input_length": 5, "timestamp": -Infinity}"#,
            ),
        ] {
            let e = parse_raw(line).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("timestamp"), "{line}");
            assert!(
                e.message.contains(&format!("{word} at column")),
                "{line}: {}",
                e.message
            );
        }
    }

    #[test]
    fn reports_a_truncated_line() {
        let e = parse_raw(r#"{"input_length": 5, "hash_ids": [1, 2"#).unwrap_err();
        assert!(e.message.starts_with("truncated"), "{}", e.message);
        assert_eq!(e.problem, RecordProblem::Syntax);
    }

    #[test]
    fn names_a_bad_hash_id() {
        let e = parse_raw(r#"{"hash_ids": [1, -2]}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("hash_ids"));
        assert!(e.message.contains("element 1"), "{}", e.message);
    }

    #[test]
    fn names_a_turn_beyond_u32() {
        let e = parse_raw(r#"{"turn": 5000000000}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("turn"));
        assert_eq!(e.problem, RecordProblem::Invalid);
        assert!(e.message.contains("too large"), "{}", e.message);
    }

    #[test]
    fn reports_the_column_without_serdes_line_one() {
        let e = parse_raw(r#"{"input_length": 5} x"#).unwrap_err();
        assert_eq!(e.problem, RecordProblem::Syntax);
        assert!(e.message.ends_with("at column 21"), "{}", e.message);
        assert!(!e.message.contains("line"), "{}", e.message);
    }

    #[test]
    fn classifies_missing_fields_apart_from_invalid_ones() {
        let missing = require_length(None, "input_length").unwrap_err();
        assert_eq!(missing.problem, RecordProblem::Missing);
        let invalid = parse_raw(r#"{"input_length": "abc"}"#).unwrap_err();
        assert_eq!(invalid.problem, RecordProblem::Invalid);
    }

    #[test]
    fn rejects_absurd_lengths() {
        let e = require_length(Some(20_000_000_000), "input_length").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("input_length"));
    }
}
