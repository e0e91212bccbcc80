//! The samples behind the figures, for distances between two traces (KS, Wasserstein)
//! where a summary would hide the shape. Each is an exact [`Histogram`]: the sorted
//! sample it stands for, in the memory of its distinct values.

use std::collections::BTreeMap;

use super::histogram::Histogram;

/// Samples of one trace. A field is `None` when the format lacks what it measures.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    pub input_lengths: Histogram,
    pub output_lengths: Histogram,
    /// Gaps between consecutive requests (seconds).
    pub inter_arrival: Histogram,
    /// Parent -> child arrival gaps (seconds).
    pub parent_child_gaps: Option<Histogram>,
    /// Child input - parent input - parent output, per follow-up.
    pub new_tokens: Option<Histogram>,
    /// Seconds since the previous use of each hit block (infinite cache).
    pub reuse_gaps: Option<Histogram>,
    /// The same, per request type (the reusing request's type for reuse gaps). Empty
    /// without types.
    pub by_type: BTreeMap<String, TypeSamples>,
}

#[derive(Debug, Clone, Default)]
pub struct TypeSamples {
    pub input_lengths: Histogram,
    pub output_lengths: Histogram,
    pub reuse_gaps: Option<Histogram>,
}
