//! What a fitted model does when run past its span, as `fit` found by running it: kept
//! in the model's provenance so a user sees a runaway before generating.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stability {
    /// Spans of the fitted trace planned (ten unless the run ran away or hit the budget).
    pub spans_planned: f64,
    /// Planning stopped because a span held far more requests than the first.
    pub runaway: bool,
    /// Requests per session start over the planned spans.
    pub mean_session_size: f64,
    pub first_span_requests: u64,
    /// Requests in the last complete span planned.
    pub last_span_requests: u64,
    /// `last_span_requests / first_span_requests - 1`.
    pub rate_drift: f64,
    pub requests_per_hour: f64,
    /// Bytes per hour of `generate`'s default output (Bailian lines).
    pub bytes_per_hour: f64,
}
