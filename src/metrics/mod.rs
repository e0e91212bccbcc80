//! Every statistic of a trace, computed once: `stats` prints them, `compare` and the
//! generator's tests measure distances with them.
//!
//! Start from [`TraceStats::compute`] for the figures, [`Samples::collect`] for the raw
//! samples, or [`analyze`] for both from the same passes.

pub mod arrivals;
pub mod blocks;
pub mod cache;
pub mod classifier;
pub mod distance;
pub mod lru;
pub mod samples;
pub mod sessions;
pub mod stack;
pub mod stats;
pub mod summary;
pub mod types;

#[cfg(test)]
mod testing;

pub use arrivals::{ArrivalStats, Dispersion, IDC_WINDOWS, window_counts};
pub use cache::{LRU_PERCENTS, LruPoint, lru_curve_at, lru_hit_ratio};
pub use distance::{
    ks_distance, ks_distance_sorted, total_variation, wasserstein1, wasserstein1_log,
    wasserstein1_log_sorted, wasserstein1_sorted,
};
pub use samples::{Samples, TypeSamples};
pub use sessions::SessionStats;
pub use stats::{
    Analysis, AnalysisOptions, CacheStats, TraceStats, TypeStats, analyze, analyze_with,
};
pub use summary::{Summary, quantile, sorted, spearman};
