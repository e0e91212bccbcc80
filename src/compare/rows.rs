//! One comparison row per figure of the fidelity brief: the real and synthetic value, a
//! distance, the tolerance, and the verdict.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Measured;
use super::tolerance::{
    Metric, PER_TYPE_MIN, ROWS, Tolerances, per_type_ks_tolerance, split_per_type,
};
use crate::metrics::classifier::{C2ST_MIN, C2stOptions, c2st};
use crate::metrics::{Histogram, ks_distance_hist, total_variation, wasserstein1_log_hist};

/// The aspect of a trace a row belongs to, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    Lengths,
    Arrivals,
    Sessions,
    Cache,
}

impl Group {
    pub fn title(self) -> &'static str {
        match self {
            Group::Lengths => "lengths",
            Group::Arrivals => "arrivals",
            Group::Sessions => "sessions",
            Group::Cache => "prefix cache",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// No tolerance: shown for information, never fails the comparison.
    Info,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Info => "info",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Stable name, the key of the `--tolerances` file.
    pub name: String,
    pub group: Group,
    pub description: String,
    /// What `real` and `synth` hold: "value" for scalars, "p50" for distributions,
    /// "mean" or "share of X" for histograms.
    pub shown: String,
    pub real: Option<f64>,
    pub synth: Option<f64>,
    pub metric: Metric,
    /// `None` when the synthetic trace lacks the figure (a failure if toleranced).
    pub distance: Option<f64>,
    pub tolerance: Option<f64>,
    pub verdict: Verdict,
}

/// Appends rows, resolving each tolerance once.
struct Builder<'a> {
    rows: Vec<Row>,
    tolerances: &'a Tolerances,
}

struct Spec<'s> {
    group: Group,
    name: &'s str,
    metric: Metric,
    /// Set for rows that are informational whatever the file says (IDC under scale).
    force_info: bool,
    /// Default tolerance when not one of [`ROWS`] (per-type rows).
    default: Option<f64>,
    description: Option<String>,
}

impl<'s> Spec<'s> {
    fn new(group: Group, name: &'s str, metric: Metric) -> Self {
        Spec {
            group,
            name,
            metric,
            force_info: false,
            default: ROWS.iter().find(|r| r.0 == name).and_then(|r| r.2),
            description: None,
        }
    }

    fn info_if(mut self, yes: bool) -> Self {
        self.force_info = yes;
        self
    }
}

impl Builder<'_> {
    fn push(
        &mut self,
        spec: Spec,
        shown: &str,
        (real, synth): (Option<f64>, Option<f64>),
        distance: Option<f64>,
    ) {
        let tolerance = if spec.force_info {
            None
        } else {
            self.tolerances.resolve(spec.name, spec.default)
        };
        let verdict = match (tolerance, distance) {
            (None, _) => Verdict::Info,
            // A tiny slack so a distance computed as 0.030000000000000002 is not a fail
            // at 0.03.
            (Some(t), Some(d)) if d <= t + 1e-12 => Verdict::Pass,
            (Some(_), _) => Verdict::Fail,
        };
        let description = spec.description.unwrap_or_else(|| {
            ROWS.iter()
                .find(|r| r.0 == spec.name)
                .map_or_else(String::new, |r| r.3.to_string())
        });
        self.rows.push(Row {
            name: spec.name.to_string(),
            group: spec.group,
            description,
            shown: shown.to_string(),
            real,
            synth,
            metric: spec.metric,
            distance,
            tolerance,
            verdict,
        });
    }

    /// KS or log-W1 of two samples. Skipped when the real trace has no such sample:
    /// there is nothing to match.
    fn distribution(&mut self, spec: Spec, real: Option<&Histogram>, synth: Option<&Histogram>) {
        let Some(real) = real.filter(|r| !r.is_empty()) else {
            return;
        };
        let empty = Histogram::default();
        let synth = synth.unwrap_or(&empty);
        let distance = match spec.metric {
            Metric::Ks => ks_distance_hist(real, synth),
            Metric::W1Log => wasserstein1_log_hist(real, synth),
            other => unreachable!("{other:?} is not a distribution distance"),
        };
        let p50 = (real.quantile(0.5), synth.quantile(0.5));
        self.push(spec, "p50", p50, distance);
    }

    /// A scalar compared by absolute or relative error against `factor` x real.
    fn scalar(&mut self, spec: Spec, real: Option<f64>, synth: Option<f64>, factor: f64) {
        let Some(r) = real else { return };
        let expected = r * factor;
        let distance = synth.map(|s| match spec.metric {
            Metric::Abs => (s - expected).abs(),
            Metric::Rel if expected == 0.0 && s == 0.0 => 0.0,
            Metric::Rel if expected == 0.0 => f64::INFINITY,
            Metric::Rel => (s - expected).abs() / expected.abs(),
            other => unreachable!("{other:?} is not a scalar error"),
        });
        self.push(spec, "value", (Some(r), synth), distance);
    }

    fn categorical<K: Ord>(
        &mut self,
        spec: Spec,
        real: Option<&BTreeMap<K, u64>>,
        synth: Option<&BTreeMap<K, u64>>,
        shown: (&str, Option<f64>, Option<f64>),
    ) {
        let Some(real) = real.filter(|r| r.values().any(|&n| n > 0)) else {
            return;
        };
        let distance = synth.and_then(|s| total_variation(real, s));
        self.push(spec, shown.0, (shown.1, shown.2), distance);
    }
}

/// Mean of a histogram with integer keys.
fn histogram_mean(h: &BTreeMap<u32, u64>) -> Option<f64> {
    let n: u64 = h.values().sum();
    (n > 0).then(|| {
        h.iter()
            .map(|(&k, &c)| f64::from(k) * c as f64)
            .sum::<f64>()
            / n as f64
    })
}

fn share(h: &BTreeMap<String, u64>, key: &str) -> Option<f64> {
    let n: u64 = h.values().sum();
    (n > 0).then(|| h.get(key).copied().unwrap_or(0) as f64 / n as f64)
}

fn top_key(h: &BTreeMap<String, u64>) -> Option<&str> {
    h.iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(k, _)| k.as_str())
}

/// The classifier two-sample test: its AUC as a toleranced row (distance: how far above
/// chance), and each feature's own AUC as information, so a failing trace shows what
/// gives it away. Informational under scale: hit shares and gaps move with the rate.
fn joint(
    b: &mut Builder,
    real: &Measured,
    synth: &Measured,
    scaled: bool,
    notes: &mut Vec<String>,
) {
    let Some(test) = c2st(&real.features, &synth.features, &C2stOptions::default()) else {
        notes.push(format!(
            "no classifier test (fewer than {C2ST_MIN} requests in one of the traces)"
        ));
        return;
    };
    b.push(
        Spec::new(Group::Lengths, "c2st.auc", Metric::Abs).info_if(scaled),
        "AUC",
        (Some(0.5), Some(test.auc)),
        Some((test.auc - 0.5).max(0.0)),
    );
    for f in &test.features {
        let name = format!("c2st.auc.{}", f.name);
        let spec = Spec {
            description: Some(format!(
                "classifier AUC from {} alone (gain share {:.2})",
                f.name, f.importance
            )),
            ..Spec::new(Group::Lengths, &name, Metric::Abs).info_if(true)
        };
        b.push(
            spec,
            "AUC",
            (Some(0.5), Some(f.auc)),
            Some((f.auc - 0.5).max(0.0)),
        );
    }
}

/// Every row, in table order, and the notes explaining what was left out or adjusted.
pub(super) fn build(
    real: &Measured,
    synth: &Measured,
    scale: f64,
    tolerances: &Tolerances,
) -> (Vec<Row>, Vec<String>) {
    let mut b = Builder {
        rows: Vec::new(),
        tolerances,
    };
    let mut notes = Vec::new();
    let (rs, ss) = (&real.analysis.stats, &synth.analysis.stats);
    let scaled = scale != 1.0;

    // Lengths.
    use Group::*;
    use Metric::*;
    b.distribution(
        Spec::new(Lengths, "input.ks", Ks),
        Some(&real.input),
        Some(&synth.input),
    );
    b.distribution(
        Spec::new(Lengths, "input.w1_log", W1Log),
        Some(&real.input),
        Some(&synth.input),
    );
    b.distribution(
        Spec::new(Lengths, "output.ks", Ks),
        Some(&real.output),
        Some(&synth.output),
    );
    b.distribution(
        Spec::new(Lengths, "output.w1_log", W1Log),
        Some(&real.output),
        Some(&synth.output),
    );
    let mut types: Vec<_> = real.by_type.iter().collect();
    types.sort_by(|a, b| b.1.0.total().cmp(&a.1.0.total()).then(a.0.cmp(b.0)));
    let mut small = Vec::new();
    // With a single type the per-type rows would repeat the overall ones.
    if types.len() < 2 {
        types.clear();
    }
    for (ty, (r_in, r_out)) in types {
        let Some((s_in, s_out)) = synth.by_type.get(ty) else {
            small.push(ty.clone());
            continue;
        };
        let (n, m) = (r_in.total(), s_in.total());
        if n < PER_TYPE_MIN || m < PER_TYPE_MIN {
            small.push(ty.clone());
            continue;
        }
        for family in ["input.ks", "input.w1_log", "output.ks", "output.w1_log"] {
            let name = format!("{family}[{ty}]");
            let (metric, default) = if family.ends_with("ks") {
                (Ks, Some(per_type_ks_tolerance(n, m)))
            } else {
                (W1Log, None)
            };
            let (r, s) = if family.starts_with("input") {
                (r_in, s_in)
            } else {
                (r_out, s_out)
            };
            debug_assert!(split_per_type(&name).is_some());
            let what = if family.starts_with("input") {
                "input"
            } else {
                "output"
            };
            let spec = Spec {
                default,
                description: Some(format!(
                    "{what} length of type {ty}{}",
                    if metric == W1Log { ", log scale" } else { "" }
                )),
                ..Spec::new(Lengths, &name, metric)
            };
            b.distribution(spec, Some(r), Some(s));
        }
    }
    if !small.is_empty() {
        notes.push(format!(
            "no per-type length rows for {} (fewer than {PER_TYPE_MIN} requests in one of the traces)",
            small.join(", ")
        ));
    }
    b.scalar(
        Spec::new(Lengths, "input_output.spearman", Abs),
        rs.input_output_spearman,
        ss.input_output_spearman,
        1.0,
    );
    joint(&mut b, real, synth, scaled, &mut notes);

    // Arrivals.
    b.scalar(Spec::new(Arrivals, "rate", Rel), rs.rate, ss.rate, scale);
    b.distribution(
        Spec::new(Arrivals, "inter_arrival.ks", Ks),
        Some(&real.inter_arrival),
        Some(&synth.inter_arrival),
    );
    b.distribution(
        Spec::new(Arrivals, "inter_arrival.w1_log", W1Log),
        Some(&real.inter_arrival),
        Some(&synth.inter_arrival),
    );
    b.scalar(
        Spec::new(Arrivals, "inter_arrival.cv", Rel),
        rs.arrivals.inter_arrival_cv,
        ss.arrivals.inter_arrival_cv,
        1.0,
    );
    for (name, window) in [("idc.1s", 1.0), ("idc.10s", 10.0), ("idc.60s", 60.0)] {
        let idc = |s: &crate::metrics::TraceStats| {
            s.arrivals
                .dispersion
                .iter()
                .find(|d| d.window_s == window)
                .and_then(|d| d.index)
        };
        b.scalar(
            Spec::new(Arrivals, name, Rel).info_if(scaled),
            idc(rs),
            idc(ss),
            1.0,
        );
    }
    if rs.arrivals.dispersion.iter().any(|d| d.index.is_none()) {
        notes
            .push("IDC rows need two whole windows in the real trace; shorter windows only".into());
    }

    // Sessions.
    match (&rs.sessions, &ss.sessions) {
        (None, _) => notes.push("the real trace has no sessions: no session rows".into()),
        (Some(r), s) => {
            b.scalar(
                Spec::new(Sessions, "root_share", Abs),
                Some(1.0 - r.follow_up_share),
                s.as_ref().map(|s| 1.0 - s.follow_up_share),
                1.0,
            );
            b.scalar(
                Spec::new(Sessions, "single_request_sessions", Abs),
                r.single_request_share,
                s.as_ref().and_then(|s| s.single_request_share),
                1.0,
            );
            let turns = s.as_ref().map(|s| &s.turns);
            b.categorical(
                Spec::new(Sessions, "turns.tv", Tv),
                Some(&r.turns),
                turns,
                (
                    "mean",
                    histogram_mean(&r.turns),
                    turns.and_then(histogram_mean),
                ),
            );
            b.categorical(
                Spec::new(Sessions, "children.tv", Tv),
                Some(&r.children),
                s.as_ref().map(|s| &s.children),
                (
                    "mean",
                    Some(r.children_mean),
                    s.as_ref().map(|s| s.children_mean),
                ),
            );
            b.distribution(
                Spec::new(Sessions, "think_time.ks", Ks),
                real.think_time.as_ref(),
                synth.think_time.as_ref(),
            );
            b.distribution(
                Spec::new(Sessions, "think_time.w1_log", W1Log),
                real.think_time.as_ref(),
                synth.think_time.as_ref(),
            );
            b.distribution(
                Spec::new(Sessions, "new_tokens.ks", Ks),
                real.new_tokens.as_ref(),
                synth.new_tokens.as_ref(),
            );
            if s.is_none() {
                notes.push("the synthetic trace has no sessions: session rows fail".into());
            }
        }
    }
    let mix = |s: &crate::metrics::TraceStats| {
        s.types.as_ref().map(|t| {
            t.iter()
                .map(|(k, v)| (k.clone(), v.requests))
                .collect::<BTreeMap<String, u64>>()
        })
    };
    if let Some(r_mix) = mix(rs) {
        let s_mix = mix(ss);
        let top = top_key(&r_mix).unwrap_or("").to_string();
        b.categorical(
            Spec::new(Sessions, "type_mix.tv", Tv),
            Some(&r_mix),
            s_mix.as_ref(),
            (
                &format!("share of {top}"),
                share(&r_mix, &top),
                s_mix.as_ref().and_then(|s| share(s, &top)),
            ),
        );
    }
    if let Some(r) = &rs.sessions {
        let s = ss.sessions.as_ref().map(|s| &s.type_transitions);
        let top = top_key(&r.type_transitions).unwrap_or("").to_string();
        b.categorical(
            Spec::new(Sessions, "type_transitions.tv", Tv),
            Some(&r.type_transitions),
            s,
            (
                &format!("share of {top}"),
                share(&r.type_transitions, &top),
                s.and_then(|s| share(s, &top)),
            ),
        );
    }

    // Cache.
    match (&rs.cache, &ss.cache) {
        (None, _) => notes.push("the real trace has no block ids: no cache rows".into()),
        (Some(r), s) => {
            b.scalar(
                Spec::new(Cache, "ideal_hit_ratio", Abs),
                r.ideal_hit_ratio,
                s.as_ref().and_then(|s| s.ideal_hit_ratio),
                1.0,
            );
            for percent in crate::metrics::LRU_PERCENTS {
                let at = |c: &crate::metrics::CacheStats| {
                    c.lru
                        .iter()
                        .find(|p| p.percent == percent)
                        .and_then(|p| p.hit_ratio)
                };
                let name = format!("lru.{percent}pct");
                b.scalar(
                    Spec::new(Cache, &name, Abs),
                    at(r),
                    s.as_ref().and_then(at),
                    1.0,
                );
            }
            notes.push(
                "LRU capacities are percentages of each trace's own unique blocks, so the LRU \
                 rows compare curve shapes rather than equal cache sizes"
                    .into(),
            );
            b.scalar(
                Spec::new(Cache, "same_session_hit_share", Abs),
                r.same_session_hit_share,
                s.as_ref().and_then(|s| s.same_session_hit_share),
                1.0,
            );
            b.scalar(
                Spec::new(Cache, "new_block_reuse_share", Abs),
                r.new_block_hit_share,
                s.as_ref().and_then(|s| s.new_block_hit_share),
                1.0,
            );
            b.distribution(
                Spec::new(Cache, "reuse_gap.ks", Ks).info_if(scaled),
                real.reuse_gaps.as_ref(),
                synth.reuse_gaps.as_ref(),
            );
            b.distribution(
                Spec::new(Cache, "reuse_gap.w1_log", W1Log),
                real.reuse_gaps.as_ref(),
                synth.reuse_gaps.as_ref(),
            );
            if s.is_none() {
                notes.push("the synthetic trace has no block ids: cache rows fail".into());
            }
        }
    }
    if scaled {
        notes.push(format!(
            "scale {scale}: rate expected {scale} x real; synthetic inter-arrival gaps \
             multiplied by {scale} before comparing; IDC and reuse-gap rows informational \
             (superposing more sessions changes burstiness and shortens reuse); per-request \
             figures compared unchanged"
        ));
    }
    (b.rows, notes)
}

#[cfg(test)]
mod tests {
    use crate::compare::{CompareOptions, Verdict, compare};
    use crate::trace::{Format, Request, Session, Trace};

    /// `counts` requests per type, lengths varying with the index, one session each.
    fn typed(counts: &[(&str, u64)], output_factor: u64) -> Trace {
        let mut requests = Vec::new();
        for (ty, n) in counts {
            for i in 0..*n {
                let id = requests.len() as u64;
                requests.push(Request {
                    timestamp: id as f64,
                    input_length: 16 * (1 + i % 37),
                    output_length: (1 + i % 11) * output_factor,
                    hash_ids: Some((0..1 + i % 37).map(|b| id * 100 + b).collect()),
                    session: Some(Session {
                        chat_id: id,
                        parent_chat_id: -1,
                        turn: 1,
                        req_type: ty.to_string(),
                    }),
                });
            }
        }
        Trace {
            format: Format::Bailian,
            block_size: Some(16),
            requests,
        }
    }

    #[test]
    fn per_type_rows_only_for_types_large_enough_in_both() {
        let real = typed(&[("text", 300), ("search", 250), ("file", 50)], 1);
        let c = compare(&real, &real, &CompareOptions::default());
        for name in ["input.ks[text]", "output.w1_log[search]"] {
            assert!(c.row(name).is_some(), "{name}");
        }
        assert!(c.row("input.ks[file]").is_none());
        assert!(c.notes.iter().any(|n| n.contains("file")));
        // 300 vs 300: the sample-size tolerance 1.63 sqrt(600 / 90000) = 0.133.
        let t = c.row("input.ks[text]").unwrap().tolerance.unwrap();
        assert!((t - 0.1331).abs() < 1e-3, "{t}");

        // Outputs of `search` only tripled in the synthetic trace: its output rows and
        // the overall output row fail, text's rows pass.
        let mut synth = typed(&[("text", 300), ("search", 250), ("file", 50)], 1);
        for r in &mut synth.requests {
            if r.req_type() == Some("search") {
                r.output_length *= 3;
            }
        }
        let c = compare(&real, &synth, &CompareOptions::default());
        assert_eq!(c.row("output.ks[search]").unwrap().verdict, Verdict::Fail);
        assert_eq!(c.row("output.ks[text]").unwrap().verdict, Verdict::Pass);
        assert_eq!(c.row("output.ks").unwrap().verdict, Verdict::Fail);
        assert_eq!(c.row("input.ks[search]").unwrap().verdict, Verdict::Pass);
    }
}
