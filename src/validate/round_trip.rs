//! Scenario 4, the round trip: a trace generated from a known model, fitted again, set
//! parameter by parameter beside the model it came from.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::synthesize;
use crate::generate::GenerateOptions;
use crate::model::Model;
use crate::model::blocks::IdsExhausted;
use crate::model::lengths::TypeLengths;
use crate::model::quantile::Quantile;
use crate::model::sessions::TypeSessions;
use crate::trace::Trace;

/// How a parameter's recovery is judged: relative error for magnitudes, absolute
/// difference for probabilities and correlations (a relative error of a share near 0
/// says nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Relative,
    Absolute,
}

#[derive(Debug, Clone)]
pub struct ParamRow {
    /// The component: arrivals, sessions[text], lengths[search], ...
    pub group: String,
    pub name: String,
    pub truth: f64,
    pub recovered: f64,
    pub kind: ErrorKind,
}

impl ParamRow {
    /// |recovered - truth| / |truth|, `None` when the truth is 0.
    pub fn relative_error(&self) -> Option<f64> {
        (self.truth != 0.0).then(|| (self.recovered - self.truth) / self.truth.abs())
    }

    pub fn difference(&self) -> f64 {
        self.recovered - self.truth
    }

    /// The error in the row's own kind, as a magnitude.
    pub fn error(&self) -> Option<f64> {
        match self.kind {
            ErrorKind::Relative => self.relative_error().map(f64::abs),
            ErrorKind::Absolute => Some(self.difference().abs()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RoundTrip {
    pub hours: f64,
    pub seed: u64,
    pub requests: usize,
    pub truth_gaps: String,
    pub recovered_gaps: String,
    pub rows: Vec<ParamRow>,
}

/// Generate `hours` from `truth` (shaped like `like`, the trace it was fitted on), refit,
/// and list recovered against true parameters.
pub fn round_trip(
    truth: &Model,
    like: &Trace,
    hours: f64,
    seed: u64,
) -> Result<RoundTrip, IdsExhausted> {
    let options = GenerateOptions {
        seed,
        duration: Some(hours * 3600.0),
        ..Default::default()
    };
    let synth = synthesize(truth, options, like)?;
    let requests = synth.requests.len();
    let fitted = super::fit(&synth, "round-trip");
    Ok(RoundTrip {
        hours,
        seed,
        requests,
        truth_gaps: gap_kind(truth),
        recovered_gaps: gap_kind(&fitted),
        rows: parameters(truth, &fitted),
    })
}

fn gap_kind(m: &Model) -> String {
    use crate::model::arrivals::GapDist;
    match &m.arrivals.gaps {
        GapDist::Gamma { shape } => format!("Gamma, shape {shape:.3}"),
        GapDist::Weibull { shape } => format!("Weibull, shape {shape:.3}"),
        GapDist::Empirical { quantile } => {
            format!("empirical ({} knots)", quantile.knots.len())
        }
    }
}

/// Coefficient of variation of the root gaps in operational time, zeros included, from
/// draws of the model's own sampler (one fixed seed for every model, so both sides see
/// the same draws of their distributions).
fn gap_cv(m: &Model) -> f64 {
    let sampler = m.arrivals.gap_sampler();
    let mut rng = ChaCha8Rng::seed_from_u64(0x6761_7073);
    let n = 200_000;
    let draws: Vec<f64> = (0..n).map(|_| sampler.sample(&mut rng)).collect();
    let mean = draws.iter().sum::<f64>() / n as f64;
    let var = draws.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    var.sqrt() / mean
}

/// Points spread over a quantile function, to average a conditional parameter over the
/// true model's distribution of its condition.
fn grid(q: &Quantile, n: usize) -> Vec<f64> {
    (0..n).map(|i| q.at((i as f64 + 0.5) / n as f64)).collect()
}

/// The probability of at least one follow-up at `turn`, averaged over `inputs`.
fn child_prob(s: &TypeSessions, turn: u32, inputs: &[f64]) -> f64 {
    inputs
        .iter()
        .map(|&x| s.child_prob(turn, x.max(0.0) as u64))
        .sum::<f64>()
        / inputs.len() as f64
}

/// The `q` quantile of the think time mixed over the given parent outputs.
fn think_quantile(s: &TypeSessions, outputs: &[f64], q: f64) -> f64 {
    let per = 301;
    let mut v: Vec<f64> = outputs
        .iter()
        .flat_map(|&out| {
            (0..per).map(move |j| s.think_time.at(out as u64, (j as f64 + 0.5) / per as f64))
        })
        .collect();
    v.sort_unstable_by(f64::total_cmp);
    v[((q * v.len() as f64) as usize).min(v.len() - 1)]
}

fn mean_children(s: &TypeSessions) -> f64 {
    let total: f64 = s.children_count.iter().sum();
    s.children_count
        .iter()
        .enumerate()
        .map(|(i, w)| (i + 1) as f64 * w)
        .sum::<f64>()
        / total.max(1e-300)
}

/// Every parameter worth recovering, true beside fitted. Types are matched by name (a
/// refit numbers types in order of first appearance, which may differ).
pub fn parameters(t: &Model, f: &Model) -> Vec<ParamRow> {
    use ErrorKind::*;
    let mut rows = Vec::new();
    let mut push = |group: &str, name: &str, truth: f64, recovered: f64, kind| {
        // `+ 0.0` turns the -0.0 of an empty sum into 0.
        rows.push(ParamRow {
            group: group.to_string(),
            name: name.to_string(),
            truth: truth + 0.0,
            recovered: recovered + 0.0,
            kind,
        });
    };
    push(
        "arrivals",
        "mean root rate (roots/s)",
        t.arrivals.mean_rate(),
        f.arrivals.mean_rate(),
        Relative,
    );
    push(
        "arrivals",
        "root gap CV (operational time)",
        gap_cv(t),
        gap_cv(f),
        Relative,
    );
    push(
        "arrivals",
        "zero-gap probability",
        t.arrivals.zero_gap_prob,
        f.arrivals.zero_gap_prob,
        Absolute,
    );
    push(
        "blocks",
        "persistent shared prefixes",
        t.blocks.prefixes.len() as f64,
        f.blocks.prefixes.len() as f64,
        Relative,
    );
    push(
        "blocks",
        "blocks of the most used persistent prefix",
        top_prefix_blocks(t),
        top_prefix_blocks(f),
        Relative,
    );
    for (ti, name) in t.types.iter().enumerate() {
        let Some(fi) = f.types.iter().position(|n| n == name) else {
            continue;
        };
        let g = |c: &str| format!("{c}[{name}]");
        push(
            &g("sessions"),
            "root type share",
            t.sessions.root_type_mix[ti] / t.sessions.root_type_mix.iter().sum::<f64>(),
            f.sessions.root_type_mix[fi] / f.sessions.root_type_mix.iter().sum::<f64>(),
            Absolute,
        );
        let (ts, fs) = (&t.sessions.per_type[ti], &f.sessions.per_type[fi]);
        let (tl, fl) = (&t.lengths.per_type[ti], &f.lengths.per_type[fi]);
        let root_inputs = grid(&tl.root.own_input, 200);
        let followup_inputs = grid(&tl.followup.input, 200);
        push(
            &g("sessions"),
            "P(follow-up | turn 1)",
            child_prob(ts, 1, &root_inputs),
            child_prob(fs, 1, &root_inputs),
            Absolute,
        );
        push(
            &g("sessions"),
            "P(follow-up | turn 2)",
            child_prob(ts, 2, &followup_inputs),
            child_prob(fs, 2, &followup_inputs),
            Absolute,
        );
        push(
            &g("sessions"),
            "follow-ups per parent, given any",
            mean_children(ts),
            mean_children(fs),
            Relative,
        );
        let outputs = grid(&tl.root.output, 200);
        push(
            &g("sessions"),
            "think time median (s)",
            think_quantile(ts, &outputs, 0.5),
            think_quantile(fs, &outputs, 0.5),
            Relative,
        );
        push(
            &g("sessions"),
            "think time p90 (s)",
            think_quantile(ts, &outputs, 0.9),
            think_quantile(fs, &outputs, 0.9),
            Relative,
        );
        type Get = fn(&TypeLengths) -> f64;
        let lengths: [(&str, Get, ErrorKind); 7] = [
            (
                "root own input median",
                |l| l.root.own_input.median(),
                Relative,
            ),
            ("root output median", |l| l.root.output.median(), Relative),
            ("root copula rho", |l| l.root.dependence.rho, Absolute),
            (
                "follow-up new tokens median",
                |l| l.followup.new_tokens.median(),
                Relative,
            ),
            (
                "follow-up output median",
                |l| l.followup.output.median(),
                Relative,
            ),
            (
                "follow-up copula rho",
                |l| l.followup.dependence.rho,
                Absolute,
            ),
            (
                "carried share of parent output",
                |l| l.followup.carried_output,
                Absolute,
            ),
        ];
        for (name, get, kind) in lengths {
            push(&g("lengths"), name, get(tl), get(fl), kind);
        }
        let (tc, fc) = (&t.blocks.root_choice[ti], &f.blocks.root_choice[fi]);
        let share = |c: &crate::model::blocks::RootChoice, w: f64| w / c.total().max(1e-300);
        let births = |c: &crate::model::blocks::RootChoice| c.birth.iter().map(|e| e.1).sum();
        let persistent =
            |c: &crate::model::blocks::RootChoice| c.persistent.iter().map(|e| e.1).sum();
        push(
            &g("blocks"),
            "prefix births per root",
            share(tc, births(tc)),
            share(fc, births(fc)),
            Relative,
        );
        push(
            &g("blocks"),
            "persistent-prefix roots share",
            share(tc, persistent(tc)),
            share(fc, persistent(fc)),
            Absolute,
        );
        push(
            &g("blocks"),
            "unshared roots share",
            share(tc, tc.none),
            share(fc, fc.none),
            Absolute,
        );
        push(
            &g("blocks"),
            "roots reusing a live ephemeral prefix",
            tc.reuse_share,
            fc.reuse_share,
            Absolute,
        );
        push(
            &g("blocks"),
            "shared tail probability, roots",
            t.blocks.tails.root_prob[ti],
            f.blocks.tails.root_prob[fi],
            Absolute,
        );
        push(
            &g("blocks"),
            "shared tail probability, follow-ups",
            t.blocks.tails.followup_prob[ti],
            f.blocks.tails.followup_prob[fi],
            Absolute,
        );
    }
    rows
}

fn top_prefix_blocks(m: &Model) -> f64 {
    m.blocks
        .prefixes
        .iter()
        .max_by_key(|p| p.uses)
        .map_or(0.0, |p| f64::from(p.blocks))
}
