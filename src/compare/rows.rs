//! One comparison row per figure of the fidelity brief: the real and synthetic value, a
//! distance, the tolerance, and the verdict. Which rows exist, in which order, and how
//! each is judged comes from [`crate::metrics::rowdef::ROWS`]; this module pairs the two
//! traces' figures up.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Measured;
use super::tolerance::{PER_TYPE_MIN, Tolerances, per_type_ks_tolerance, split_per_type};
use crate::metrics::classifier::{C2ST_MIN, C2stOptions, c2st};
use crate::metrics::rowdef::{
    Categorical, Compare, Needs, RowDef, Sample, Scaled, Source, compare_rows,
};
pub use crate::metrics::rowdef::{Group, Metric};
use crate::metrics::{
    Histogram, TraceStats, ks_distance_hist, total_variation, wasserstein1_log_hist,
};

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

/// One row about to be pushed: its definition, or a per-type or per-feature row built
/// from one.
struct Spec {
    group: Group,
    name: String,
    metric: Metric,
    /// Set for rows that are informational whatever the file says (IDC under scale).
    force_info: bool,
    default: Option<f64>,
    description: String,
}

impl Spec {
    fn of(def: &RowDef, c: Compare, scaled: bool) -> Spec {
        Spec {
            group: def.group,
            name: def.name.to_string(),
            metric: c.metric,
            force_info: scaled && c.scaled == Scaled::Info,
            default: c.tolerance,
            description: def.description.to_string(),
        }
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
            self.tolerances.resolve(&spec.name, spec.default)
        };
        let verdict = match (tolerance, distance) {
            (None, _) => Verdict::Info,
            // A tiny slack so a distance computed as 0.030000000000000002 is not a fail
            // at 0.03.
            (Some(t), Some(d)) if d <= t + 1e-12 => Verdict::Pass,
            (Some(_), _) => Verdict::Fail,
        };
        self.rows.push(Row {
            name: spec.name,
            group: spec.group,
            description: spec.description,
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

/// One trace's sample of kind `s`.
fn sample(m: &Measured, s: Sample) -> Option<&Histogram> {
    match s {
        Sample::Input => Some(&m.input),
        Sample::Output => Some(&m.output),
        Sample::InterArrival => Some(&m.inter_arrival),
        Sample::ThinkTime => m.think_time.as_ref(),
        Sample::NewTokens => m.new_tokens.as_ref(),
        Sample::ReuseGap => m.reuse_gaps.as_ref(),
    }
}

/// A categorical row: the TV distance of the two histograms, shown by a mean or by the
/// share of the real trace's most common key.
fn categorical(b: &mut Builder, spec: Spec, kind: Categorical, rs: &TraceStats, ss: &TraceStats) {
    let sessions = ss.sessions.as_ref();
    match kind {
        Categorical::Turns => {
            let Some(r) = &rs.sessions else { return };
            let turns = sessions.map(|s| &s.turns);
            let shown = (
                "mean",
                histogram_mean(&r.turns),
                turns.and_then(histogram_mean),
            );
            b.categorical(spec, Some(&r.turns), turns, shown);
        }
        Categorical::Children => {
            let Some(r) = &rs.sessions else { return };
            let shown = (
                "mean",
                Some(r.children_mean),
                sessions.map(|s| s.children_mean),
            );
            b.categorical(
                spec,
                Some(&r.children),
                sessions.map(|s| &s.children),
                shown,
            );
        }
        Categorical::TypeMix => {
            let mix = |s: &TraceStats| {
                s.types.as_ref().map(|t| {
                    t.iter()
                        .map(|(k, v)| (k.clone(), v.requests))
                        .collect::<BTreeMap<String, u64>>()
                })
            };
            let Some(r_mix) = mix(rs) else { return };
            let s_mix = mix(ss);
            let top = top_key(&r_mix).unwrap_or("").to_string();
            let shown = (
                format!("share of {top}"),
                share(&r_mix, &top),
                s_mix.as_ref().and_then(|s| share(s, &top)),
            );
            b.categorical(
                spec,
                Some(&r_mix),
                s_mix.as_ref(),
                (&shown.0, shown.1, shown.2),
            );
        }
        Categorical::TypeTransitions => {
            let Some(r) = &rs.sessions else { return };
            let s = sessions.map(|s| &s.type_transitions);
            let top = top_key(&r.type_transitions).unwrap_or("").to_string();
            let shown = (
                format!("share of {top}"),
                share(&r.type_transitions, &top),
                s.and_then(|s| share(s, &top)),
            );
            b.categorical(
                spec,
                Some(&r.type_transitions),
                s,
                (&shown.0, shown.1, shown.2),
            );
        }
    }
}

/// The classifier two-sample test: its AUC as a toleranced row (distance: how far above
/// chance), and each feature's own AUC as information, so a failing trace shows what
/// gives it away. Informational under scale: hit shares and gaps move with the rate.
fn joint(b: &mut Builder, spec: Spec, real: &Measured, synth: &Measured, notes: &mut Vec<String>) {
    let Some(test) = c2st(&real.features, &synth.features, &C2stOptions::default()) else {
        notes.push(format!(
            "no classifier test (fewer than {C2ST_MIN} requests in one of the traces)"
        ));
        return;
    };
    let (group, metric, family) = (spec.group, spec.metric, spec.name.clone());
    b.push(
        spec,
        "AUC",
        (Some(0.5), Some(test.auc)),
        Some((test.auc - 0.5).max(0.0)),
    );
    for f in &test.features {
        let spec = Spec {
            group,
            name: format!("{family}.{}", f.name),
            metric,
            force_info: true,
            default: None,
            description: format!(
                "classifier AUC from {} alone (gain share {:.2})",
                f.name, f.importance
            ),
        };
        b.push(
            spec,
            "AUC",
            (Some(0.5), Some(f.auc)),
            Some((f.auc - 0.5).max(0.0)),
        );
    }
}

/// The per-type rows (`input.ks[TYPE]` and so on) of every type with at least
/// [`PER_TYPE_MIN`] requests in both traces, most common type first.
fn per_type(b: &mut Builder, real: &Measured, synth: &Measured, notes: &mut Vec<String>) {
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
        for (def, c) in compare_rows().filter(|(_, c)| c.per_type) {
            let name = format!("{}[{ty}]", def.name);
            let default = match c.metric {
                Metric::Ks => Some(per_type_ks_tolerance(n, m)),
                _ => None,
            };
            let (what, r, s) = match def.source {
                Source::Sample(Sample::Input) => ("input", r_in, s_in),
                Source::Sample(Sample::Output) => ("output", r_out, s_out),
                other => unreachable!("{other:?} has no per-type sample"),
            };
            debug_assert!(split_per_type(&name).is_some());
            let spec = Spec {
                group: def.group,
                name,
                metric: c.metric,
                force_info: false,
                default,
                description: format!(
                    "{what} length of type {ty}{}",
                    if c.metric == Metric::W1Log {
                        ", log scale"
                    } else {
                        ""
                    }
                ),
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

    // The per-type rows follow their families.
    let mut after_per_type = false;
    for (def, c) in compare_rows() {
        if after_per_type && !c.per_type {
            per_type(&mut b, real, synth, &mut notes);
        }
        after_per_type = c.per_type;
        let present = match def.needs {
            Needs::Nothing => true,
            Needs::Sessions => rs.sessions.is_some(),
            Needs::Cache => rs.cache.is_some(),
        };
        if !present {
            continue;
        }
        let spec = Spec::of(def, c, scaled);
        match def.source {
            Source::Sample(s) => b.distribution(spec, sample(real, s), sample(synth, s)),
            Source::Value(f) => {
                let factor = if c.scaled == Scaled::Times {
                    scale
                } else {
                    1.0
                };
                b.scalar(spec, f(rs), f(ss), factor);
            }
            Source::Categorical(kind) => categorical(&mut b, spec, kind, rs, ss),
            Source::Classifier => joint(&mut b, spec, real, synth, &mut notes),
            Source::Paired(f) => {
                if let Some(p) = f(rs, ss, scaled) {
                    let mut spec = spec;
                    spec.description = format!("{}; {}", spec.description, p.detail);
                    b.push(spec, &p.shown, (Some(p.real), p.synth), p.distance);
                }
            }
            Source::TypeValue(_) => unreachable!("{} is not a compare row", def.name),
        }
    }
    if after_per_type {
        per_type(&mut b, real, synth, &mut notes);
    }

    if rs.arrivals.dispersion.iter().any(|d| d.index.is_none()) {
        notes
            .push("IDC rows need two whole windows in the real trace; shorter windows only".into());
    }
    match (&rs.sessions, &ss.sessions) {
        (None, _) => notes.push("the real trace has no sessions: no session rows".into()),
        (Some(_), None) => {
            notes.push("the synthetic trace has no sessions: session rows fail".into())
        }
        (Some(_), Some(_)) => {}
    }
    match (&rs.cache, &ss.cache) {
        (None, _) => notes.push("the real trace has no block ids: no cache rows".into()),
        (Some(_), s) => {
            notes.push(
                "LRU capacities are percentages of each trace's own unique blocks, so the LRU \
                 rows compare curve shapes rather than equal cache sizes"
                    .into(),
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
