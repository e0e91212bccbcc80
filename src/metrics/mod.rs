//! Every statistic of a trace, computed once: `stats` prints them, `compare` and the
//! generator's tests measure distances with them.
//!
//! Every figure comes from one streaming pass ([`TracePass`]): feed it the records of a
//! file as they are read, or use [`TraceStats::compute`] / [`analyze`] on a trace in
//! memory.

pub mod arrivals;
#[cfg(test)]
mod blocks;
pub mod cache;
pub mod classifier;
pub mod distance;
pub mod histogram;
pub mod ids;
pub mod lru;
pub mod pass;
pub mod recency;
pub mod rowdef;
pub mod samples;
pub mod sessions;
pub mod stack;
pub mod stats;
pub mod summary;
pub mod types;

#[cfg(test)]
mod testing;

pub use arrivals::{ArrivalStats, Dispersion, IDC_WINDOWS, window_counts};
pub use cache::{LRU_PERCENTS, LruPoint};
pub use distance::{
    ks_distance, ks_distance_hist, total_variation, wasserstein1, wasserstein1_hist,
    wasserstein1_log, wasserstein1_log_hist,
};
pub use histogram::Histogram;
pub use pass::TracePass;
pub use samples::{Samples, TypeSamples};
pub use sessions::SessionStats;
pub use stats::{
    Analysis, AnalysisOptions, CacheStats, TraceStats, TypeStats, analyze, analyze_with,
};
pub use summary::{Summary, quantile, sorted, spearman};

/// The figures of `tracesynth stats` for the trace at `path` (`format` detected when
/// `None`), read in one pass and none of its records kept, with the `check` of the
/// records read (for the caller to warn about).
pub fn stats_file(
    path: &str,
    format: Option<crate::trace::Format>,
) -> Result<(TraceStats, crate::check::CheckReport), crate::error::TraceError> {
    let reader = crate::trace::TraceReader::open(path, format)?;
    let mut checker = crate::check::Checker::new(reader.format());
    let mut pass = TracePass::new(reader.format(), reader.block_size());
    let path = reader.path().to_string();
    crate::trace::for_each_record(reader, &|_| {}, &mut |line, req| {
        checker.push_record(line, &req);
        pass.push(&req);
    })?;
    let check = checker.finish(&path);
    Ok((pass.finish(&AnalysisOptions::default()).stats, check))
}
