//! Compare a synthetic trace with the real trace it imitates: one row per figure of the
//! fidelity brief (marginals, arrivals, sessions, cache), each with a distance, a
//! tolerance and a verdict, plus the curves the HTML report draws.
//!
//! ```no_run
//! use tracesynth::compare::{CompareOptions, compare};
//! use tracesynth::trace::read_trace;
//! let real = read_trace("real.jsonl", None).unwrap();
//! let synth = read_trace("synth.jsonl", None).unwrap();
//! let c = compare(&real, &synth, &CompareOptions::default());
//! for row in c.rows.iter().filter(|r| r.verdict == tracesynth::compare::Verdict::Fail) {
//!     println!("{} {:?} > {:?}", row.name, row.distance, row.tolerance);
//! }
//! assert!(c.all_pass());
//! ```
//!
//! Every statistic comes from [`crate::metrics`]; this module only pairs them up. Each
//! trace is analysed by one streaming pass (both at the same time), whose exact
//! histograms serve all of a sample's distances and its plotted CDF.

pub mod plot;
pub mod report;
pub mod rows;
pub mod tolerance;

use std::collections::BTreeMap;

use serde::Serialize;

pub use rows::{Group, Row, Verdict};
pub use tolerance::{Metric, ToleranceError, Tolerances};

use crate::cachesim::Stream;
use crate::error::TraceError;
use crate::metrics::classifier::Features;
use crate::metrics::{
    Analysis, AnalysisOptions, Histogram, TracePass, TraceStats, analyze_with, window_counts,
};
use crate::trace::{Format, Trace, TraceReader};

/// Cache sizes (percent of unique blocks) of the LRU points a comparison's stats carry:
/// the table's [`crate::metrics::LRU_PERCENTS`] and a few between. The report plots the
/// finer `lru_curve` that every stats pass also has.
pub const CURVE_PERCENTS: [f64; 11] = [
    1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 25.0, 35.0, 50.0, 75.0, 100.0,
];

/// Window of the rate-over-time series, seconds.
pub const RATE_WINDOW_S: f64 = 60.0;

#[derive(Debug, Clone, PartialEq)]
pub struct CompareOptions {
    /// The synthetic trace was generated at `scale` times the real rate.
    pub scale: f64,
    pub tolerances: Tolerances,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            scale: 1.0,
            tolerances: Tolerances::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub scale: f64,
    pub real: Side,
    pub synth: Side,
    pub rows: Vec<Row>,
    /// What was skipped or adjusted, in words.
    pub notes: Vec<String>,
}

/// One trace's figures and curves.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub stats: TraceStats,
    #[serde(skip)]
    pub plots: Plots,
}

/// What the report draws for one trace.
#[derive(Debug, Clone, Default)]
pub struct Plots {
    /// Empirical CDFs, thinned to at most [`plot::CDF_POINTS`] points, by sample name:
    /// `input`, `output`, `inter_arrival`, `think_time`, `reuse_gap`.
    pub cdfs: BTreeMap<&'static str, Vec<(f64, f64)>>,
    /// Requests per [`RATE_WINDOW_S`] window.
    pub rate: Vec<f64>,
}

impl Comparison {
    /// No row failed (informational rows never fail).
    pub fn all_pass(&self) -> bool {
        self.rows.iter().all(|r| r.verdict != Verdict::Fail)
    }

    pub fn row(&self, name: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.name == name)
    }

    pub fn failures(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.verdict == Verdict::Fail)
    }

    /// Rows that passed, failed, and were informational.
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |v| self.rows.iter().filter(|r| r.verdict == v).count();
        (n(Verdict::Pass), n(Verdict::Fail), n(Verdict::Info))
    }
}

/// Compare `synth` with `real`.
pub fn compare(real: &Trace, synth: &Trace, options: &CompareOptions) -> Comparison {
    let measure = |trace: &Trace| {
        let mut analysis = analyze_with(trace, &analysis_options());
        let mut stream = Stream::default();
        for r in &trace.requests {
            stream.push(r);
        }
        add_policies(&mut analysis, &stream);
        analysis
    };
    let (real, synth) = std::thread::scope(|scope| {
        let s = scope.spawn(|| measure(synth));
        let r = measure(real);
        (r, s.join().expect("measuring the synthetic trace panicked"))
    });
    compare_analyses(real, synth, options)
}

/// What [`compare_analyses`] needs each trace's pass to measure.
pub fn analysis_options() -> AnalysisOptions {
    AnalysisOptions {
        lru_percents: CURVE_PERCENTS.to_vec(),
    }
}

/// Replay `stream` (the blocks of the trace `analysis` measured) through the policies of
/// `cachesim` for the policy rows (nothing for a trace without blocks).
pub fn add_policies(analysis: &mut Analysis, stream: &Stream) {
    if let Some(cache) = &analysis.stats.cache {
        analysis.stats.policies = Some(crate::cachesim::judge::compare_curves(
            stream,
            &cache.lru,
            crate::cachesim::ttl::DEFAULT_TTL_S,
        ));
    }
}

/// Compare two traces already measured (each by one pass with [`analysis_options`],
/// which is how `compare` reads two files at once without holding either).
pub fn compare_analyses(real: Analysis, synth: Analysis, options: &CompareOptions) -> Comparison {
    let real = Measured::new(real, 1.0);
    let synth = Measured::new(synth, options.scale);
    let (rows, mut notes) = rows::build(&real, &synth, options.scale, &options.tolerances);
    notes.splice(
        0..0,
        mismatch_hints(&real.analysis.stats, &synth.analysis.stats, options.scale),
    );
    Comparison {
        scale: options.scale,
        real: real.into_side(),
        synth: synth.into_side(),
        rows,
        notes,
    }
}

/// Rates further apart than this factor (after `scale`) suggest a missing `--scale`.
const RATE_HINT_FACTOR: f64 = 2.0;

/// What about the pair itself makes rows misleading: a synthetic trace at a different
/// rate judged without its scale, traces cut into different block sizes (hit ratios then
/// measure different granularities), or a trace too small to have a distribution.
fn mismatch_hints(real: &TraceStats, synth: &TraceStats, scale: f64) -> Vec<String> {
    let mut hints = Vec::new();
    if let (Some(r), Some(s)) = (real.rate, synth.rate)
        && r > 0.0
        && s > 0.0
    {
        let ratio = s / (r * scale);
        if !(1.0 / RATE_HINT_FACTOR..=RATE_HINT_FACTOR).contains(&ratio) {
            let implied = s / r;
            hints.push(format!(
                "the synthetic trace runs at {ratio:.2} x the rate expected at scale {scale} \
                 ({s:.3}/s against {r:.3}/s); if it was generated with --rate-scale \
                 {implied:.3}, pass --scale {implied:.3}"
            ));
        }
    }
    if let (Some(r), Some(s)) = (real.block_size, synth.block_size)
        && r != s
    {
        hints.push(format!(
            "block sizes differ ({r} tokens in the real trace, {s} in the synthetic one): \
             hit ratios and reuse rows measure different granularities{}",
            match r {
                crate::trace::MOONCAKE_BLOCK => "; generate with --format mooncake to match",
                crate::trace::BAILIAN_BLOCK => "; generate with --format bailian to match",
                _ => "",
            }
        ));
    }
    for (side, stats) in [("real", real), ("synthetic", synth)] {
        if stats.requests < MIN_RECORDS {
            hints.push(format!(
                "the {side} trace has {} record{}: too few for any distribution row to judge",
                stats.requests,
                if stats.requests == 1 { "" } else { "s" }
            ));
        }
    }
    hints
}

/// Below this many records a trace has no distribution to compare.
pub const MIN_RECORDS: u64 = 2;

/// Read both files (at the same time, each in one streaming pass) and compare them.
pub fn compare_files(
    real: &str,
    synth: &str,
    format: Option<Format>,
    options: &CompareOptions,
) -> Result<Comparison, TraceError> {
    let measure = |path: &str| -> Result<Analysis, TraceError> {
        let mut reader = TraceReader::open(path, format)?;
        let mut pass = TracePass::new(reader.format(), reader.block_size());
        let mut stream = Stream::default();
        for item in reader.by_ref() {
            let req = item?;
            pass.push(&req);
            stream.push(&req);
        }
        let mut analysis = pass.finish(&analysis_options());
        add_policies(&mut analysis, &stream);
        Ok(analysis)
    };
    let (r, s) = std::thread::scope(|scope| {
        let s = scope.spawn(|| measure(synth));
        (measure(real), s.join().expect("reading panicked"))
    });
    Ok(compare_analyses(r?, s?, options))
}

/// One trace analysed, with its samples (exact histograms) ready for every distance
/// and CDF.
pub(crate) struct Measured {
    pub(crate) analysis: Analysis,
    pub(crate) input: Histogram,
    pub(crate) output: Histogram,
    /// Multiplied by the scale for the synthetic side, so gaps of a trace at K times the
    /// rate line up with the real ones.
    pub(crate) inter_arrival: Histogram,
    pub(crate) think_time: Option<Histogram>,
    pub(crate) new_tokens: Option<Histogram>,
    pub(crate) reuse_gaps: Option<Histogram>,
    /// Type -> (input, output) lengths.
    pub(crate) by_type: BTreeMap<String, (Histogram, Histogram)>,
    /// Per-request features of the classifier two-sample test.
    pub(crate) features: Features,
    rate: Vec<f64>,
}

impl Measured {
    fn new(mut analysis: Analysis, gap_scale: f64) -> Measured {
        let samples = std::mem::take(&mut analysis.samples);
        let mut inter_arrival = samples.inter_arrival;
        if gap_scale != 1.0 {
            inter_arrival = inter_arrival.map_monotone(|g| g * gap_scale);
        }
        let features = analysis.features(gap_scale);
        let times = std::mem::take(&mut analysis.times);
        Measured {
            input: samples.input_lengths,
            output: samples.output_lengths,
            inter_arrival,
            think_time: samples.parent_child_gaps,
            new_tokens: samples.new_tokens,
            reuse_gaps: samples.reuse_gaps,
            by_type: samples
                .by_type
                .into_iter()
                .map(|(k, t)| (k, (t.input_lengths, t.output_lengths)))
                .collect(),
            rate: window_counts(&times, RATE_WINDOW_S),
            features,
            analysis,
        }
    }
    fn into_side(self) -> Side {
        let mut cdfs = BTreeMap::new();
        cdfs.insert("input", plot::thin_cdf(&self.input));
        cdfs.insert("output", plot::thin_cdf(&self.output));
        cdfs.insert("inter_arrival", plot::thin_cdf(&self.inter_arrival));
        if let Some(v) = &self.think_time {
            cdfs.insert("think_time", plot::thin_cdf(v));
        }
        if let Some(v) = &self.reuse_gaps {
            cdfs.insert("reuse_gap", plot::thin_cdf(v));
        }
        Side {
            stats: self.analysis.stats,
            plots: Plots {
                cdfs,
                rate: self.rate,
            },
        }
    }
}
