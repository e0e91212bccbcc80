//! Typed errors of the library. The binary turns them into messages and exit codes.

use std::path::PathBuf;

/// Where in an input a problem sits: the file, and the 1-based line when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: String,
    pub line: Option<u64>,
}

impl Location {
    pub fn new(path: &str, line: Option<u64>) -> Self {
        Location {
            path: path.to_string(),
            line,
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}", self.path, line),
            None => write!(f, "{}", self.path),
        }
    }
}

/// What is wrong with one record, so that tools such as `check` can count problems by
/// kind without parsing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordProblem {
    /// The line is not a record: not UTF-8, not JSON, truncated, wrong number of columns.
    Syntax,
    /// A required field is absent (or null).
    Missing,
    /// A field has the wrong type or an impossible value.
    Invalid,
}

/// An error while reading or parsing a trace.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// One record could not be parsed. `field` names the offending field when known.
    #[error("{at}: {}{message}", field.as_ref().map(|f| format!("field `{f}`: ")).unwrap_or_default())]
    Record {
        at: Location,
        field: Option<String>,
        message: String,
        problem: RecordProblem,
    },
    #[error("{path}: {message}")]
    Format { path: String, message: String },
}

impl TraceError {
    pub fn io(path: &str, source: std::io::Error) -> Self {
        TraceError::Io {
            path: path.to_string(),
            source,
        }
    }

    /// The 1-based line of a record error, if any.
    pub fn line(&self) -> Option<u64> {
        match self {
            TraceError::Record { at, .. } => at.line,
            _ => None,
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            TraceError::Record { field, .. } => field.as_deref(),
            _ => None,
        }
    }

    /// The kind of a record error; `None` for errors that concern the whole input.
    pub fn problem(&self) -> Option<RecordProblem> {
        match self {
            TraceError::Record { problem, .. } => Some(*problem),
            _ => None,
        }
    }
}

/// An error while writing an output file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}
