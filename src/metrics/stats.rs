//! [`TraceStats`]: every figure of one trace, as `stats` prints it and `compare` reads it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::arrivals::ArrivalStats;
use super::cache::{self, LRU_PERCENTS, LruPoint};
use super::classifier::{FeatureSample, Features};
use super::histogram::Tally;
use super::pass::TracePass;
use super::samples::{Samples, TypeSamples};
use super::sessions::{SessionStats, ratio};
use super::summary::{Summary, spearman_counts};
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
    /// The hit ratios of `cachesim`'s policies at the LRU sizes: measured for `compare`
    /// ([`crate::cachesim::judge`]), `None` from `stats`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<crate::cachesim::Curves>,
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

/// Figures and samples from the same pass, and what a comparison adds to them.
pub struct Analysis {
    pub stats: TraceStats,
    pub samples: Samples,
    /// Every request's timestamp, in file order (the rate over time, the clock).
    pub times: Vec<f64>,
    features: FeatureSample,
    /// The type names when the trace has sessions.
    type_names: Option<Vec<String>>,
    blocks: bool,
}

impl Analysis {
    /// The classifier test's features of the kept requests, gaps multiplied by
    /// `gap_scale`.
    pub fn features(&self, gap_scale: f64) -> Features {
        self.features.features(
            &self.times,
            self.type_names.as_deref(),
            self.blocks,
            gap_scale,
        )
    }
}

impl TraceStats {
    pub fn compute(trace: &Trace) -> TraceStats {
        analyze(trace).stats
    }
}

/// What [`analyze_with`] measures beyond the fixed figures.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisOptions {
    /// LRU cache sizes, as percentages of the distinct blocks (all read off the one
    /// stack-distance pass).
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
    let mut pass = TracePass::new(trace.format, trace.block_size);
    for req in &trace.requests {
        pass.push(req);
    }
    pass.finish(options)
}

impl TracePass {
    /// The figures and samples of every record pushed.
    pub fn finish(self, options: &AnalysisOptions) -> Analysis {
        let requests = self.times.len() as u64;
        let duration_s = match (self.times.first(), self.times.last()) {
            (Some(a), Some(b)) => (b - a).max(0.0),
            _ => 0.0,
        };
        let has_sessions = self.sessions.with_session > 0;
        let cache = &self.cache;
        let has_blocks = cache.any_blocks;
        let (reuse_per_type, reuse_all, reuse_summary) = cache.reuse_gaps(&self.times);
        let type_names = self.types.names.clone();
        let mut by_type = BTreeMap::new();
        let mut types = BTreeMap::new();
        for (k, lengths) in self.by_type.into_iter().enumerate() {
            let n = lengths.count;
            let [(input, input_summary), (output, output_summary)] = lengths.finish();
            let reuse = has_blocks.then(|| reuse_per_type[k].clone());
            let stats = TypeStats {
                requests: n,
                share: ratio(n, requests).unwrap_or(0.0),
                input: input_summary,
                output: output_summary,
                ideal_hit_ratio: has_blocks
                    .then(|| ratio(cache.hits[k], cache.blocks[k]))
                    .flatten(),
                reuse_gap_p50: reuse.as_ref().and_then(|g| g.quantile(0.5)),
                new_blocks: has_blocks.then(|| cache.new_blocks[k]),
                new_block_hit_share: has_blocks
                    .then(|| ratio(cache.new_blocks_hit[k], cache.new_blocks[k]))
                    .flatten(),
            };
            types.insert(type_names[k].clone(), stats);
            by_type.insert(
                type_names[k].clone(),
                TypeSamples {
                    input_lengths: input,
                    output_lengths: output,
                    reuse_gaps: reuse,
                },
            );
        }
        let cache_stats = has_blocks.then(|| {
            let hits = cache.total_hits();
            let unique = cache.unique();
            let (same, cross) = cache.session_split();
            let split = |part: u64| {
                if has_sessions {
                    ratio(part, same + cross)
                } else {
                    None
                }
            };
            CacheStats {
                total_blocks: cache.total_blocks(),
                unique_blocks: unique as u64,
                ideal_hit_ratio: ratio(hits, cache.total_blocks()),
                lru: cache::points(&cache.stack, unique, &options.lru_percents),
                lru_curve: cache::points(&cache.stack, unique, &cache::lru_curve_percents()),
                same_session_hit_share: split(same),
                cross_session_hit_share: split(cross),
                new_block_hit_share: ratio(
                    cache.new_blocks_hit.iter().sum(),
                    cache.new_blocks.iter().sum(),
                ),
                reuse_gap: reuse_summary,
            }
        });
        let (sessions, gaps, new_tokens) = if has_sessions {
            let (s, g, n) = self.sessions.finish(&type_names);
            (Some(s), Some(g), Some(n))
        } else {
            (None, None, None)
        };
        let [(input, input_summary), (output, output_summary)] = self.lengths.finish();
        let mut inter_arrival = Tally::default();
        for w in self.times.windows(2) {
            inter_arrival.add(w[1] - w[0]);
        }
        let inter_arrival = inter_arrival.finish();
        let stats = TraceStats {
            format: self.format,
            block_size: self.block_size,
            requests,
            duration_s,
            rate: (duration_s > 0.0).then(|| requests as f64 / duration_s),
            input: input_summary,
            output: output_summary,
            input_output_spearman: spearman_counts(&self.pairs),
            types: has_sessions.then_some(types),
            sessions,
            arrivals: ArrivalStats::of_times(&self.times),
            cache: cache_stats,
            policies: None,
        };
        let samples = Samples {
            input_lengths: input,
            output_lengths: output,
            inter_arrival,
            parent_child_gaps: gaps,
            new_tokens,
            reuse_gaps: has_blocks.then_some(reuse_all),
            by_type: if has_sessions {
                by_type
            } else {
                BTreeMap::new()
            },
        };
        Analysis {
            stats,
            samples,
            times: self.times,
            features: self.features,
            type_names: has_sessions.then_some(type_names),
            blocks: has_blocks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::histogram::Histogram;
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
        assert_eq!(a.samples.inter_arrival.expand(), [1.0, 2.0, 3.0, 6.0]);
        assert_eq!(
            a.samples.parent_child_gaps.as_ref().map(Histogram::expand),
            Some(vec![5.0, 7.0])
        );
        assert_eq!(a.samples.reuse_gaps.as_ref().unwrap().total(), 9);
        let same = crate::metrics::ks_distance_hist(
            &a.samples.input_lengths,
            &analyze(&trace).samples.input_lengths,
        );
        assert_eq!(same, Some(0.0));
    }
}
