//! One definition per statistic: its name, group, what it reads from a trace, and how
//! `compare` and `calibrate` judge it. `compare` builds its rows from [`ROWS`] in table
//! order, `--tolerances` accepts their names, `calibrate` measures its targets with the
//! same extractors, and the validation report prints the rows these produce.
//!
//! Adding a statistic is a metrics function (a field of [`TraceStats`] or a sample of
//! the streaming pass) plus one entry here.

use serde::Serialize;

use super::TraceStats;

/// The aspect of a trace a row belongs to, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    Lengths,
    Arrivals,
    Sessions,
    Cache,
    /// The eviction policies of `cachesim`.
    Policies,
}

impl Group {
    pub fn title(self) -> &'static str {
        match self {
            Group::Lengths => "lengths",
            Group::Arrivals => "arrivals",
            Group::Sessions => "sessions",
            Group::Cache => "prefix cache",
            Group::Policies => "cache policies",
        }
    }
}

/// How a row's distance is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Two-sample Kolmogorov-Smirnov statistic.
    Ks,
    /// Wasserstein-1 between `ln(1 + x)` of the samples.
    W1Log,
    /// Total variation between categorical histograms.
    Tv,
    /// |synthetic - real|.
    Abs,
    /// |synthetic - expected| / |expected| (expected = real, or K x real for the rate).
    Rel,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Ks => "KS",
            Metric::W1Log => "W1 log",
            Metric::Tv => "TV",
            Metric::Abs => "abs",
            Metric::Rel => "rel",
        }
    }
}

/// A sample of the streaming pass, compared by its whole distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sample {
    Input,
    Output,
    InterArrival,
    /// Parent -> child gaps.
    ThinkTime,
    /// New tokens per follow-up.
    NewTokens,
    ReuseGap,
}

/// A categorical histogram, compared by total variation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Categorical {
    Turns,
    Children,
    TypeMix,
    TypeTransitions,
}

/// What a row reads from a measured trace.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// One figure of the stats.
    Value(fn(&TraceStats) -> Option<f64>),
    /// One figure per request type (the type is the row's parameter).
    TypeValue(fn(&TraceStats, &str) -> Option<f64>),
    Sample(Sample),
    Categorical(Categorical),
    /// The classifier two-sample test on per-request features.
    Classifier,
    /// A figure of both traces at once (the policies' ranking): what is shown and the
    /// distance, given whether the comparison is under a rate scale.
    Paired(fn(&TraceStats, &TraceStats, bool) -> Option<crate::cachesim::judge::Paired>),
}

/// What the real trace must have for `compare` to show the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    Nothing,
    Sessions,
    /// Block ids.
    Cache,
}

/// What `compare --scale K` (K != 1) does to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scaled {
    /// Compared unchanged (per-request figures; gaps are multiplied by K beforehand).
    Unchanged,
    /// The synthetic value is expected to be K x the real one (the rate).
    Times,
    /// Informational: superposing more sessions changes it.
    Info,
}

/// How `compare` judges a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Compare {
    pub metric: Metric,
    /// Default tolerance; `None`: informational.
    pub tolerance: Option<f64>,
    pub scaled: Scaled,
    /// Also shown per request type, as `NAME[TYPE]`.
    pub per_type: bool,
}

/// How `calibrate` judges a row named in a targets file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// calibrate's figure key (its output and the model file's calibration record): the
    /// targets file's `[table] key`, `cache.lru@P%` for one point of `cache.lru`, or
    /// `types.TYPE`.
    pub key: &'static str,
    /// [`Metric::Rel`] (of the target) or [`Metric::Abs`].
    pub metric: Metric,
    pub tolerance: f64,
    /// Decimals when printed in a report.
    pub decimals: usize,
}

/// One statistic.
#[derive(Debug, Clone, Copy)]
pub struct RowDef {
    /// Stable name: the first column of `compare` and the key of its `--tolerances`
    /// file.
    pub name: &'static str,
    pub group: Group,
    pub description: &'static str,
    pub source: Source,
    pub needs: Needs,
    /// `None`: not a `compare` row (a figure only `calibrate` targets).
    pub compare: Option<Compare>,
    /// `None`: not a `calibrate` target.
    pub target: Option<Target>,
}

impl RowDef {
    const fn new(
        name: &'static str,
        group: Group,
        source: Source,
        description: &'static str,
    ) -> RowDef {
        RowDef {
            name,
            group,
            description,
            source,
            needs: Needs::Nothing,
            compare: None,
            target: None,
        }
    }

    /// A `compare` row.
    const fn compared(mut self, metric: Metric, tolerance: Option<f64>) -> RowDef {
        self.compare = Some(Compare {
            metric,
            tolerance,
            scaled: Scaled::Unchanged,
            per_type: false,
        });
        self
    }

    const fn scaled(mut self, scaled: Scaled) -> RowDef {
        if let Some(c) = &mut self.compare {
            c.scaled = scaled;
        }
        self
    }

    const fn per_type(mut self) -> RowDef {
        if let Some(c) = &mut self.compare {
            c.per_type = true;
        }
        self
    }

    const fn needs(mut self, needs: Needs) -> RowDef {
        self.needs = needs;
        self
    }

    /// A `calibrate` target.
    const fn target(
        mut self,
        key: &'static str,
        metric: Metric,
        tolerance: f64,
        decimals: usize,
    ) -> RowDef {
        self.target = Some(Target {
            key,
            metric,
            tolerance,
            decimals,
        });
        self
    }

    /// The figure of `stats` this row reads, for a scalar row (`None` when the trace
    /// lacks it); `ty` is the parameter of a per-type figure.
    pub fn value(&self, stats: &TraceStats, ty: Option<&str>) -> Option<f64> {
        match (self.source, ty) {
            (Source::Value(f), _) => f(stats),
            (Source::TypeValue(f), Some(t)) => f(stats, t),
            _ => None,
        }
    }
}

/// The row named `name` (fixed rows; per-type rows are their family's).
pub fn row_def(name: &str) -> Option<&'static RowDef> {
    ROWS.iter().find(|r| r.name == name)
}

/// The rows `compare` shows, in table order.
pub fn compare_rows() -> impl Iterator<Item = (&'static RowDef, Compare)> {
    ROWS.iter().filter_map(|r| r.compare.map(|c| (r, c)))
}

/// A summary of a length distribution that `calibrate` targets (within 10 %).
const fn length_target(
    name: &'static str,
    at: fn(&TraceStats) -> Option<f64>,
    description: &'static str,
) -> RowDef {
    RowDef::new(name, Group::Lengths, Source::Value(at), description).target(
        name,
        Metric::Rel,
        0.10,
        0,
    )
}

fn idc(s: &TraceStats, window_s: f64) -> Option<f64> {
    s.arrivals
        .dispersion
        .iter()
        .find(|d| d.window_s == window_s)
        .and_then(|d| d.index)
}

fn lru(s: &TraceStats, percent: f64) -> Option<f64> {
    s.cache.as_ref().and_then(|c| {
        c.lru
            .iter()
            .find(|p| p.percent == percent)
            .and_then(|p| p.hit_ratio)
    })
}

/// One point of the LRU curve: judged alike by `compare` and `calibrate`.
const fn lru_point(
    name: &'static str,
    key: &'static str,
    at: fn(&TraceStats) -> Option<f64>,
    description: &'static str,
) -> RowDef {
    RowDef::new(name, Group::Cache, Source::Value(at), description)
        .compared(Metric::Abs, Some(0.03))
        .needs(Needs::Cache)
        .target(key, Metric::Abs, 0.03, 3)
}

fn sessions(s: &TraceStats) -> Option<&super::SessionStats> {
    s.sessions.as_ref()
}

fn cache(s: &TraceStats) -> Option<&super::CacheStats> {
    s.cache.as_ref()
}

/// The hit ratio of one policy of `cachesim` at one of the LRU rows' sizes (LRU itself
/// is the `lru.*` rows).
macro_rules! policy_point {
    ($policy:literal, $percent:literal, $title:literal) => {
        RowDef::new(
            concat!("policy.", $policy, ".", $percent, "pct"),
            Group::Policies,
            Source::Value(|s| crate::cachesim::judge::hit_ratio(s, $policy, $percent as f64)),
            concat!(
                $title,
                " hit ratio, cache of ",
                $percent,
                " % of unique blocks"
            ),
        )
        .compared(Metric::Abs, Some(0.03))
        .needs(Needs::Cache)
    };
}

/// A policy's row at each of the five sizes.
macro_rules! policy_points {
    ($policy:literal, $title:literal) => {
        [
            policy_point!($policy, 1, $title),
            policy_point!($policy, 5, $title),
            policy_point!($policy, 10, $title),
            policy_point!($policy, 25, $title),
            policy_point!($policy, 50, $title),
        ]
    };
}

/// A lifetime in seconds means something else at K times the rate: informational under
/// a scale.
const fn ttl_points(mut rows: [RowDef; 5]) -> [RowDef; 5] {
    let mut k = 0;
    while k < rows.len() {
        rows[k] = rows[k].scaled(Scaled::Info);
        k += 1;
    }
    rows
}

const POLICY_ROWS: [[RowDef; 5]; 5] = [
    policy_points!("fifo", "FIFO"),
    policy_points!("lfu", "LFU"),
    policy_points!("s3fifo", "S3-FIFO"),
    ttl_points(policy_points!("ttl", "TTL (300 s)")),
    policy_points!("category", "category-aware"),
];

use Group::{Arrivals, Cache, Lengths, Sessions};
use Metric::{Abs, Ks, Rel, Tv, W1Log};

/// Every statistic, in `compare`'s table order. The `compare` limits marked
/// (acceptance) are the fit/generate acceptance limits of the project; the others are set
/// where a faithful generator lands with room for sampling noise on traces of a few
/// thousand requests. `calibrate`'s limits judge a calibrated model against published
/// figures.
pub static ROWS: &[RowDef] = &[
    // Lengths.
    RowDef::new(
        "input.ks",
        Lengths,
        Source::Sample(Sample::Input),
        "input length (acceptance)",
    )
    .compared(Ks, Some(0.03))
    .per_type(),
    RowDef::new(
        "input.w1_log",
        Lengths,
        Source::Sample(Sample::Input),
        "input length, log scale",
    )
    .compared(W1Log, Some(0.10))
    .per_type(),
    RowDef::new(
        "output.ks",
        Lengths,
        Source::Sample(Sample::Output),
        "output length (acceptance)",
    )
    .compared(Ks, Some(0.03))
    .per_type(),
    RowDef::new(
        "output.w1_log",
        Lengths,
        Source::Sample(Sample::Output),
        "output length, log scale",
    )
    .compared(W1Log, Some(0.10))
    .per_type(),
    length_target(
        "input.mean",
        |s| s.input.map(|x| x.mean),
        "mean input length",
    ),
    length_target(
        "input.p50",
        |s| s.input.map(|x| x.p50),
        "median input length",
    ),
    length_target(
        "input.p99",
        |s| s.input.map(|x| x.p99),
        "99th percentile of input length",
    ),
    length_target(
        "output.mean",
        |s| s.output.map(|x| x.mean),
        "mean output length",
    ),
    length_target(
        "output.p50",
        |s| s.output.map(|x| x.p50),
        "median output length",
    ),
    length_target(
        "output.p99",
        |s| s.output.map(|x| x.p99),
        "99th percentile of output length",
    ),
    RowDef::new(
        "input_output.spearman",
        Lengths,
        Source::Value(|s| s.input_output_spearman),
        "Spearman correlation of input and output length",
    )
    .compared(Abs, Some(0.05)),
    RowDef::new(
        "c2st.auc",
        Lengths,
        Source::Classifier,
        "classifier two-sample test: held-out AUC telling real from synthetic requests by \
         lengths, gap, hit share, type, turn and think time (0.5: indistinguishable); \
         distance AUC - 0.5",
    )
    .compared(Abs, Some(0.05))
    .scaled(Scaled::Info),
    // Arrivals.
    RowDef::new(
        "rate",
        Arrivals,
        Source::Value(|s| s.rate),
        "requests per second (expected K x real)",
    )
    .compared(Rel, Some(0.10))
    .scaled(Scaled::Times)
    .target("rate", Rel, 0.05, 2),
    RowDef::new(
        "inter_arrival.ks",
        Arrivals,
        Source::Sample(Sample::InterArrival),
        "gaps between consecutive requests (synthetic x K)",
    )
    .compared(Ks, Some(0.05)),
    RowDef::new(
        "inter_arrival.w1_log",
        Arrivals,
        Source::Sample(Sample::InterArrival),
        "gaps between consecutive requests, log scale",
    )
    .compared(W1Log, None),
    RowDef::new(
        "inter_arrival.cv",
        Arrivals,
        Source::Value(|s| s.arrivals.inter_arrival_cv),
        "inter-arrival CV (acceptance)",
    )
    .compared(Rel, Some(0.10)),
    RowDef::new(
        "idc.1s",
        Arrivals,
        Source::Value(|s| idc(s, 1.0)),
        "index of dispersion of counts, 1 s windows",
    )
    .compared(Rel, None)
    .scaled(Scaled::Info),
    RowDef::new(
        "idc.10s",
        Arrivals,
        Source::Value(|s| idc(s, 10.0)),
        "index of dispersion of counts, 10 s windows (acceptance)",
    )
    .compared(Rel, Some(0.25))
    .scaled(Scaled::Info),
    RowDef::new(
        "idc.60s",
        Arrivals,
        Source::Value(|s| idc(s, 60.0)),
        "index of dispersion of counts, 60 s windows (acceptance)",
    )
    .compared(Rel, Some(0.25))
    .scaled(Scaled::Info),
    // Sessions.
    RowDef::new(
        "root_share",
        Sessions,
        Source::Value(|s| sessions(s).map(|x| 1.0 - x.follow_up_share)),
        "share of requests that are session roots (acceptance)",
    )
    .compared(Abs, Some(0.02))
    .needs(Needs::Sessions),
    RowDef::new(
        "follow_up_share",
        Sessions,
        Source::Value(|s| sessions(s).map(|x| x.follow_up_share)),
        "share of requests that have a parent",
    )
    .needs(Needs::Sessions)
    .target("sessions.follow_up_share", Abs, 0.02, 3),
    RowDef::new(
        "single_request_sessions",
        Sessions,
        Source::Value(|s| sessions(s).and_then(|x| x.single_request_share)),
        "share of sessions of one request",
    )
    .compared(Abs, Some(0.03))
    .needs(Needs::Sessions)
    .target("sessions.single_request_share", Abs, 0.02, 3),
    RowDef::new(
        "turns.tv",
        Sessions,
        Source::Categorical(Categorical::Turns),
        "turn histogram (acceptance)",
    )
    .compared(Tv, Some(0.03))
    .needs(Needs::Sessions),
    RowDef::new(
        "children.tv",
        Sessions,
        Source::Categorical(Categorical::Children),
        "children per request",
    )
    .compared(Tv, Some(0.03))
    .needs(Needs::Sessions),
    RowDef::new(
        "think_time.ks",
        Sessions,
        Source::Sample(Sample::ThinkTime),
        "parent->child gap (acceptance)",
    )
    .compared(Ks, Some(0.05))
    .needs(Needs::Sessions),
    RowDef::new(
        "think_time.w1_log",
        Sessions,
        Source::Sample(Sample::ThinkTime),
        "parent->child gap, log scale",
    )
    .compared(W1Log, None)
    .needs(Needs::Sessions),
    RowDef::new(
        "think_time.p50",
        Sessions,
        Source::Value(|s| sessions(s).and_then(|x| x.parent_child_gap).map(|g| g.p50)),
        "median parent->child gap, seconds",
    )
    .needs(Needs::Sessions)
    .target("sessions.gap_p50", Rel, 0.15, 2),
    RowDef::new(
        "think_time.p90",
        Sessions,
        Source::Value(|s| sessions(s).and_then(|x| x.parent_child_gap).map(|g| g.p90)),
        "90th percentile of the parent->child gap, seconds",
    )
    .needs(Needs::Sessions)
    .target("sessions.gap_p90", Rel, 0.15, 2),
    RowDef::new(
        "new_tokens.ks",
        Sessions,
        Source::Sample(Sample::NewTokens),
        "new tokens per follow-up",
    )
    .compared(Ks, Some(0.05))
    .needs(Needs::Sessions),
    RowDef::new(
        "type_mix.tv",
        Sessions,
        Source::Categorical(Categorical::TypeMix),
        "request type mix (acceptance)",
    )
    .compared(Tv, Some(0.02)),
    RowDef::new(
        "type_share",
        Sessions,
        // A type the trace lacks has a share of 0.
        Source::TypeValue(|s, ty| {
            Some(
                s.types
                    .as_ref()
                    .and_then(|m| m.get(ty))
                    .map_or(0.0, |x| x.share),
            )
        }),
        "share of requests of one type",
    )
    .target("types", Abs, 0.02, 3),
    RowDef::new(
        "type_transitions.tv",
        Sessions,
        Source::Categorical(Categorical::TypeTransitions),
        "parent type -> child type",
    )
    .compared(Tv, Some(0.03))
    .needs(Needs::Sessions),
    // Cache.
    RowDef::new(
        "ideal_hit_ratio",
        Cache,
        Source::Value(|s| cache(s).and_then(|c| c.ideal_hit_ratio)),
        "prefix hit ratio, infinite cache (acceptance)",
    )
    .compared(Abs, Some(0.02))
    .needs(Needs::Cache)
    .target("cache.ideal_hit_ratio", Abs, 0.02, 3),
    lru_point(
        "lru.1pct",
        "cache.lru@1%",
        |s| lru(s, 1.0),
        "LRU hit ratio, cache of 1 % of unique blocks (acceptance)",
    ),
    lru_point(
        "lru.5pct",
        "cache.lru@5%",
        |s| lru(s, 5.0),
        "LRU hit ratio, 5 % of unique blocks (acceptance)",
    ),
    lru_point(
        "lru.10pct",
        "cache.lru@10%",
        |s| lru(s, 10.0),
        "LRU hit ratio, 10 % of unique blocks (acceptance)",
    ),
    lru_point(
        "lru.25pct",
        "cache.lru@25%",
        |s| lru(s, 25.0),
        "LRU hit ratio, 25 % of unique blocks (acceptance)",
    ),
    lru_point(
        "lru.50pct",
        "cache.lru@50%",
        |s| lru(s, 50.0),
        "LRU hit ratio, 50 % of unique blocks",
    ),
    RowDef::new(
        "same_session_hit_share",
        Cache,
        Source::Value(|s| cache(s).and_then(|c| c.same_session_hit_share)),
        "share of hit blocks seen earlier in the same session (the rest: cross-session)",
    )
    .compared(Abs, Some(0.05))
    .needs(Needs::Cache)
    .target("cache.same_session_share", Abs, 0.05, 3),
    RowDef::new(
        "cross_session_hit_share",
        Cache,
        Source::Value(|s| cache(s).and_then(|c| c.cross_session_hit_share)),
        "share of hit blocks seen only in other sessions",
    )
    .needs(Needs::Cache)
    .target("cache.cross_session_share", Abs, 0.05, 3),
    RowDef::new(
        "new_block_reuse_share",
        Cache,
        Source::Value(|s| cache(s).and_then(|c| c.new_block_hit_share)),
        "share of new blocks ever reused",
    )
    .compared(Abs, Some(0.05))
    .needs(Needs::Cache),
    RowDef::new(
        "reuse_gap.ks",
        Cache,
        Source::Sample(Sample::ReuseGap),
        "seconds since a hit block's previous use",
    )
    .compared(Ks, Some(0.05))
    .scaled(Scaled::Info)
    .needs(Needs::Cache),
    RowDef::new(
        "reuse_gap.w1_log",
        Cache,
        Source::Sample(Sample::ReuseGap),
        "reuse gap, log scale",
    )
    .compared(W1Log, None)
    .needs(Needs::Cache),
    // Cache policies.
    POLICY_ROWS[0][0],
    POLICY_ROWS[0][1],
    POLICY_ROWS[0][2],
    POLICY_ROWS[0][3],
    POLICY_ROWS[0][4],
    POLICY_ROWS[1][0],
    POLICY_ROWS[1][1],
    POLICY_ROWS[1][2],
    POLICY_ROWS[1][3],
    POLICY_ROWS[1][4],
    POLICY_ROWS[2][0],
    POLICY_ROWS[2][1],
    POLICY_ROWS[2][2],
    POLICY_ROWS[2][3],
    POLICY_ROWS[2][4],
    POLICY_ROWS[3][0],
    POLICY_ROWS[3][1],
    POLICY_ROWS[3][2],
    POLICY_ROWS[3][3],
    POLICY_ROWS[3][4],
    POLICY_ROWS[4][0],
    POLICY_ROWS[4][1],
    POLICY_ROWS[4][2],
    POLICY_ROWS[4][3],
    POLICY_ROWS[4][4],
    RowDef::new(
        "policy.ranking",
        Group::Policies,
        Source::Paired(crate::cachesim::judge::ranking),
        "pairs of policies the real trace separates by more than 0.01 at one of the five \
         sizes that the synthetic trace orders otherwise (real: pairs separated; synthetic: \
         pairs in the same order)",
    )
    .compared(Abs, Some(0.0))
    .needs(Needs::Cache),
    RowDef::new(
        "policy.best_gain",
        Group::Policies,
        Source::Paired(crate::cachesim::judge::best_gain),
        "how much the best policy beats LRU (hit ratio minus LRU's), at the size where the \
         two traces differ most",
    )
    .compared(Abs, Some(0.02))
    .needs(Needs::Cache),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::LRU_PERCENTS;

    #[test]
    fn names_and_target_keys_are_unique() {
        let mut names: Vec<_> = ROWS.iter().map(|r| r.name).collect();
        let mut keys: Vec<_> = ROWS
            .iter()
            .filter_map(|r| r.target.map(|t| t.key))
            .collect();
        let (n, k) = (names.len(), keys.len());
        names.sort_unstable();
        names.dedup();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!((names.len(), keys.len()), (n, k));
    }

    #[test]
    fn every_lru_point_has_a_row_and_a_target() {
        for p in LRU_PERCENTS {
            let row = row_def(&format!("lru.{p}pct")).expect("a row per LRU point");
            assert_eq!(row.target.unwrap().key, format!("cache.lru@{p}%"));
        }
    }

    #[test]
    fn rows_are_in_group_order_and_each_source_fits_its_metric() {
        assert!(ROWS.windows(2).all(|w| w[0].group <= w[1].group));
        for (r, c) in compare_rows() {
            let fits = match r.source {
                Source::Sample(_) => matches!(c.metric, Ks | W1Log),
                Source::Categorical(_) => c.metric == Tv,
                Source::Value(_) | Source::Classifier => matches!(c.metric, Abs | Rel),
                Source::Paired(_) => c.metric == Abs,
                Source::TypeValue(_) => false,
            };
            assert!(fits, "{}", r.name);
        }
        for r in ROWS.iter().filter(|r| r.target.is_some()) {
            assert!(
                matches!(r.source, Source::Value(_) | Source::TypeValue(_)),
                "{}",
                r.name
            );
            assert!(matches!(r.target.unwrap().metric, Abs | Rel), "{}", r.name);
        }
    }
}
