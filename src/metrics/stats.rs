//! [`TraceStats`]: every figure of one trace, as `stats` prints it and `compare` reads it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::arrivals::ArrivalStats;
use super::cache::{self, IdealPass, LRU_PERCENTS, LruPoint};
use super::samples::{Prepared, Samples};
use super::sessions::{SessionStats, ratio};
use super::stack::StackDistances;
use super::summary::{Summary, quantile, spearman};
use crate::trace::{Format, Trace};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceStats {
    pub format: Format,
    /// Tokens per block id; `None` for formats without blocks.
    pub block_size: Option<u32>,
    pub requests: u64,
    /// Last minus first timestamp, seconds.
    pub duration_s: f64,
    /// Requests per second over the duration; `None` for a zero-length trace.
    pub rate: Option<f64>,
    pub input: Option<Summary>,
    pub output: Option<Summary>,
    /// Spearman rank correlation of input and output length over all requests: the
    /// dependence a generator must keep (neither independent nor comonotone).
    #[serde(default)]
    pub input_output_spearman: Option<f64>,
    /// Per request type; `None` when the format has no types.
    pub types: Option<BTreeMap<String, TypeStats>>,
    /// `None` when the format has no sessions.
    pub sessions: Option<SessionStats>,
    pub arrivals: ArrivalStats,
    /// `None` when the format has no blocks.
    pub cache: Option<CacheStats>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeStats {
    pub requests: u64,
    /// Share of all requests.
    pub share: f64,
    pub input: Option<Summary>,
    pub output: Option<Summary>,
    pub ideal_hit_ratio: Option<f64>,
    /// Median seconds since the previous use, over blocks hit by requests of this type.
    pub reuse_gap_p50: Option<f64>,
    /// Distinct blocks first brought in by this type, and the share of them ever hit.
    pub new_blocks: Option<u64>,
    pub new_block_hit_share: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheStats {
    pub total_blocks: u64,
    pub unique_blocks: u64,
    /// Hit blocks / all blocks with an infinite cache.
    pub ideal_hit_ratio: Option<f64>,
    /// Finite LRU caches at [`AnalysisOptions::lru_percents`] of the distinct blocks
    /// (1/5/10/25/50 % by default).
    pub lru: Vec<LruPoint>,
    /// The whole LRU curve: 32 log-spaced sizes from 1 % to 100 % of the distinct blocks
    /// (exact at each, from the same stack-distance pass).
    #[serde(default)]
    pub lru_curve: Vec<LruPoint>,
    /// Of the ideal cache's hit blocks: share seen earlier in the same session, and share
    /// seen only in other sessions. `None` without sessions.
    pub same_session_hit_share: Option<f64>,
    pub cross_session_hit_share: Option<f64>,
    /// Share of distinct blocks that some later request hits.
    pub new_block_hit_share: Option<f64>,
    /// Seconds since the previous use of each hit block.
    pub reuse_gap: Option<Summary>,
}

/// Figures and samples from the same passes.
pub struct Analysis {
    pub stats: TraceStats,
    pub samples: Samples,
}

impl TraceStats {
    pub fn compute(trace: &Trace) -> TraceStats {
        analyze(trace).stats
    }
}

/// What [`analyze_with`] measures beyond the fixed figures.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisOptions {
    /// LRU cache sizes, as percentages of the distinct blocks. One pass of the trace per
    /// size, so a caller wanting a finer curve asks for it here rather than running the
    /// default sizes and then its own.
    pub lru_percents: Vec<f64>,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        AnalysisOptions {
            lru_percents: LRU_PERCENTS.to_vec(),
        }
    }
}

pub fn analyze(trace: &Trace) -> Analysis {
    analyze_with(trace, &AnalysisOptions::default())
}

pub fn analyze_with(trace: &Trace, options: &AnalysisOptions) -> Analysis {
    let prepared = Prepared::new(trace);
    let samples = Samples::from_prepared(trace, &prepared);
    let requests = trace.requests.len() as u64;
    let duration_s = trace.span();
    let types = prepared.types.as_ref().map(|types| {
        let ideal = prepared.ideal.as_ref();
        types
            .names
            .iter()
            .enumerate()
            .map(|(k, name)| {
                let s = &samples.by_type[name];
                let n = s.input_lengths.len() as u64;
                let stats = TypeStats {
                    requests: n,
                    share: ratio(n, requests).unwrap_or(0.0),
                    input: Summary::of(&s.input_lengths),
                    output: Summary::of(&s.output_lengths),
                    ideal_hit_ratio: ideal.and_then(|p| ratio(p.hits[k], p.blocks[k])),
                    reuse_gap_p50: s.reuse_gaps.as_deref().and_then(|g| quantile(g, 0.5)),
                    new_blocks: ideal.map(|p| p.new_blocks[k]),
                    new_block_hit_share: ideal
                        .and_then(|p| ratio(p.new_blocks_hit[k], p.new_blocks[k])),
                };
                (name.clone(), stats)
            })
            .collect()
    });
    let cache = match (&prepared.blocks, &prepared.ideal) {
        (Some(blocks), Some(ideal)) => {
            Some(cache_stats(ideal, blocks, &samples, &options.lru_percents))
        }
        _ => None,
    };
    let stats = TraceStats {
        format: trace.format,
        block_size: trace.block_size,
        requests,
        duration_s,
        rate: (duration_s > 0.0).then(|| requests as f64 / duration_s),
        input: Summary::of(&samples.input_lengths),
        output: Summary::of(&samples.output_lengths),
        input_output_spearman: spearman(&samples.input_lengths, &samples.output_lengths),
        types,
        sessions: prepared
            .sessions
            .as_ref()
            .map(|index| SessionStats::compute(trace, index)),
        arrivals: ArrivalStats::compute(trace),
        cache,
    };
    Analysis { stats, samples }
}

fn cache_stats(
    ideal: &IdealPass,
    blocks: &super::blocks::BlockTable,
    samples: &Samples,
    lru_percents: &[f64],
) -> CacheStats {
    let hits = ideal.total_hits();
    let stack = StackDistances::compute(blocks);
    let split = |part: Option<u64>| {
        part.zip(ideal.same_session_hits.zip(ideal.cross_session_hits))
            .and_then(|(part, (same, cross))| ratio(part, same + cross))
    };
    CacheStats {
        total_blocks: ideal.total_blocks(),
        unique_blocks: blocks.unique() as u64,
        ideal_hit_ratio: ratio(hits, ideal.total_blocks()),
        lru: cache::points(&stack, blocks.unique(), lru_percents),
        lru_curve: cache::points(&stack, blocks.unique(), &cache::lru_curve_percents()),
        same_session_hit_share: split(ideal.same_session_hits),
        cross_session_hit_share: split(ideal.cross_session_hits),
        new_block_hit_share: ratio(
            ideal.new_blocks_hit.iter().sum(),
            ideal.new_blocks.iter().sum(),
        ),
        reuse_gap: samples.reuse_gaps.as_deref().and_then(Summary::of),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::testing::{hand_trace, mooncake};
    use approx::assert_relative_eq;

    #[test]
    fn every_figure_of_the_hand_trace() {
        // Expected values are derived in testing::hand_trace.
        let s = TraceStats::compute(&hand_trace());
        assert_eq!(s.requests, 5);
        assert_relative_eq!(s.duration_s, 12.0);
        assert_relative_eq!(s.rate.unwrap(), 5.0 / 12.0);
        // Inputs 20 30 40 70 80: mean 48, p50 40.
        assert_relative_eq!(s.input.unwrap().mean, 48.0);
        assert_relative_eq!(s.input.unwrap().p50, 40.0);

        let types = s.types.as_ref().unwrap();
        assert_relative_eq!(types["text"].share, 0.6);
        assert_relative_eq!(types["search"].share, 0.4);
        assert_relative_eq!(types["text"].ideal_hit_ratio.unwrap(), 0.3);
        assert_relative_eq!(types["search"].ideal_hit_ratio.unwrap(), 0.75);
        assert_relative_eq!(types["text"].reuse_gap_p50.unwrap(), 3.0);
        assert_relative_eq!(types["search"].reuse_gap_p50.unwrap(), 6.5);
        assert_relative_eq!(types["text"].new_block_hit_share.unwrap(), 4.0 / 6.0);
        assert_relative_eq!(types["search"].new_block_hit_share.unwrap(), 0.5);
        // Text inputs 20 40 70: p50 40; search outputs 4 5: p50 4.5.
        assert_relative_eq!(types["text"].input.unwrap().p50, 40.0);
        assert_relative_eq!(types["search"].output.unwrap().p50, 4.5);

        let c = s.cache.as_ref().unwrap();
        assert_eq!((c.total_blocks, c.unique_blocks), (18, 8));
        assert_relative_eq!(c.ideal_hit_ratio.unwrap(), 0.5);
        assert_relative_eq!(c.same_session_hit_share.unwrap(), 2.0 / 3.0);
        assert_relative_eq!(c.cross_session_hit_share.unwrap(), 1.0 / 3.0);
        assert_relative_eq!(c.new_block_hit_share.unwrap(), 5.0 / 8.0);
        assert_relative_eq!(c.reuse_gap.unwrap().p50, 5.0);
        assert_relative_eq!(c.reuse_gap.unwrap().p90, 7.6);

        assert_relative_eq!(s.arrivals.inter_arrival_cv.unwrap(), 3.5f64.sqrt() / 3.0);
        let idc: Vec<Option<f64>> = s.arrivals.dispersion.iter().map(|d| d.index).collect();
        assert_relative_eq!(idc[0].unwrap(), 2.0 / 3.0, epsilon = 1e-12);
        assert_eq!(idc[1..], [None, None]);
        assert_eq!(s.sessions.as_ref().unwrap().sessions, 3);
    }

    #[test]
    fn json_round_trips() {
        let s = TraceStats::compute(&hand_trace());
        let json = serde_json::to_string(&s).unwrap();
        let back: TraceStats = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn figures_a_format_lacks_are_absent() {
        let s = TraceStats::compute(&mooncake(&[(0.0, &[1]), (0.0, &[1])]));
        assert!(s.types.is_none() && s.sessions.is_none());
        assert_eq!(s.rate, None, "a zero-length trace has no rate");
        let c = s.cache.unwrap();
        assert!(c.same_session_hit_share.is_none());
        assert_relative_eq!(c.ideal_hit_ratio.unwrap(), 0.5);
        // CV of tied gaps is undefined rather than 0/0.
        assert!(s.arrivals.inter_arrival_cv.is_none());
    }

    #[test]
    fn samples_feed_the_distances() {
        let trace = hand_trace();
        let a = analyze(&trace);
        assert_eq!(a.samples.inter_arrival, [2.0, 3.0, 1.0, 6.0]);
        assert_eq!(
            a.samples.parent_child_gaps.as_deref(),
            Some(&[5.0, 7.0][..])
        );
        assert_eq!(
            a.samples.root_inter_arrival.as_deref(),
            Some(&[2.0, 4.0][..])
        );
        assert_eq!(a.samples.by_type["search"].parent_child_gaps, [7.0]);
        assert_eq!(a.samples.reuse_gaps.as_ref().unwrap().len(), 9);
        let same = crate::metrics::ks_distance(
            &a.samples.input_lengths,
            &Samples::collect(&trace).input_lengths,
        );
        assert_eq!(same, Some(0.0));
    }
}
