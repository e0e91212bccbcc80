//! The request type shared by every format, and the readers and writers.
//!
//! Every format is read into [`Request`]. Fields a format does not have stay absent
//! (`None`): a Mooncake record has no session, an Azure record has no blocks.

mod azure;
mod bailian;
mod format;
pub(crate) mod input;
mod jsonl;
pub mod merge;
pub mod mooncake;
mod mooncake_sessions;
pub mod order;
mod reader;
pub mod reblock;
mod writer;

pub use format::{Format, LineEncoder, LineOrder, LineParser, Ties, TraceFormat};
pub use input::{open_input, read_text};
pub use jsonl::FieldError;
pub use reader::{
    TraceReader, for_each_item, for_each_record, read_all, read_trace, read_trace_with,
};
pub use writer::{
    FormatterError, LineFormatter, LineWriter, OutputFile, TraceWriter, remove_temp_files,
    temp_files, write_whole, writer_for,
};

/// Tokens per block in Bailian traces (one hash id per 16 input tokens).
pub const BAILIAN_BLOCK: u32 = 16;
/// Tokens per block in Mooncake traces.
pub const MOONCAKE_BLOCK: u32 = 512;
/// Consumers (Dynamo's mocker) map ids to u32 tokens: ids must stay below this.
pub const MAX_HASH_ID: u64 = 1 << 32;
/// Lengths above this are rejected as corrupt: no model serves a context this large, and
/// accepting them would let one bad line allocate gigabytes downstream.
pub const MAX_TOKENS: u64 = 100_000_000;
/// Timestamps (seconds from the trace's start) above this are rejected as corrupt: 1e11 s
/// is over 3,000 years, and an absurd time such as 1e30 would otherwise size the per-second
/// series that `stats`, `fit` and `compare` build from the span.
pub const MAX_TIMESTAMP: f64 = 1e11;
/// The longest span a trace may cover, first to last record: 62 days. The published traces
/// span hours to weeks; every series derived from the span (bins, windows, histograms)
/// stays bounded by it.
pub const MAX_SPAN: f64 = 62.0 * 86_400.0;

/// The session fields of a Bailian record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub chat_id: u64,
    /// -1 for a session's first request.
    pub parent_chat_id: i64,
    /// 1 for roots, parent's + 1.
    pub turn: u32,
    /// Open set of strings: text, search, image, file, api, ...
    pub req_type: String,
}

impl Session {
    pub fn is_root(&self) -> bool {
        self.parent_chat_id < 0
    }

    /// The parent's chat id, or `None` for a root.
    pub fn parent(&self) -> Option<u64> {
        u64::try_from(self.parent_chat_id).ok()
    }
}

/// One request, whatever format it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Seconds from the trace start (Mooncake milliseconds and Azure absolute times are
    /// converted on reading).
    pub timestamp: f64,
    pub input_length: u64,
    pub output_length: u64,
    /// Block hash ids, one per `block_size` input tokens. `None` when the format has no
    /// blocks (Azure).
    pub hash_ids: Option<Vec<u64>>,
    /// Session fields. `None` when the format has no sessions (Mooncake, Azure).
    pub session: Option<Session>,
}

impl Request {
    pub fn ids(&self) -> &[u64] {
        self.hash_ids.as_deref().unwrap_or(&[])
    }

    pub fn req_type(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.req_type.as_str())
    }
}

/// Number of blocks an input of `tokens` tokens occupies.
pub fn blocks_for(tokens: u64, block_size: u32) -> u64 {
    tokens.div_ceil(u64::from(block_size))
}

/// A whole trace in memory: its requests in file order, and what the format says about
/// blocks.
#[derive(Debug, Clone)]
pub struct Trace {
    pub format: Format,
    /// Tokens per hash id, `None` for formats without blocks.
    pub block_size: Option<u32>,
    pub requests: Vec<Request>,
}

impl Trace {
    /// Time from the first to the last request, in seconds.
    pub fn span(&self) -> f64 {
        match (self.requests.first(), self.requests.last()) {
            (Some(a), Some(b)) => (b.timestamp - a.timestamp).max(0.0),
            _ => 0.0,
        }
    }

    pub fn has_sessions(&self) -> bool {
        self.requests.iter().any(|r| r.session.is_some())
    }
}
