//! Session structure: which requests get follow-ups, how many, of which type, and after
//! what think time.

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use super::ModelError;
use super::copula::spearman;
use super::quantile::Quantile;
use crate::fit::prepared::Prepared;

/// Turns at and beyond this share one follow-up probability.
const TURN_BUCKETS: usize = 10;
/// Weight (in exposed requests) of the type-wide probability when smoothing a turn's.
const SMOOTHING: f64 = 20.0;
/// Think times are split by parent output only with at least this many pairs.
const MIN_SPLIT_PAIRS: usize = 300;
/// ... and a rank correlation at least this strong.
const MIN_SPLIT_CORRELATION: f64 = 0.1;
const MIN_THINK_SAMPLES: usize = 30;
const MAX_CHILDREN: usize = 16;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionModel {
    /// Type distribution of session roots, indexed like the model's `types`.
    pub root_type_mix: Vec<f64>,
    /// Follow-up behaviour by the parent's type.
    pub per_type: Vec<TypeSessions>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeSessions {
    /// Probability that a request gets at least one follow-up, by its turn (index 0 is
    /// turn 1; the last entry holds for all later turns). Corrected for the trace end
    /// cutting off follow-ups that would have come after it.
    pub child_prob_by_turn: Vec<f64>,
    /// Distribution of the number of follow-ups given at least one (index 0: one).
    pub children_count: Vec<f64>,
    /// Type of a follow-up, indexed like the model's `types`.
    pub child_type: Vec<f64>,
    pub think_time: ThinkTime,
}

/// Seconds from a parent's arrival to its follow-up's, by bucket of parent output length
/// (a longer answer takes longer to generate and to read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThinkTime {
    /// Upper bounds of the output-length buckets; the last bucket is open.
    pub output_bounds: Vec<f64>,
    pub buckets: Vec<Quantile>,
    /// Rank correlation of parent output and think time in the data.
    pub spearman: f64,
}

impl ThinkTime {
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R, parent_output: u64) -> f64 {
        let out = parent_output as f64;
        let b = self
            .output_bounds
            .iter()
            .position(|&ub| out <= ub)
            .unwrap_or(self.buckets.len() - 1);
        self.buckets[b.min(self.buckets.len() - 1)]
            .at(rng.random())
            .max(0.0)
    }

    fn fit(pairs: &[(f64, f64)]) -> Option<ThinkTime> {
        let outs: Vec<f64> = pairs.iter().map(|p| p.0).collect();
        let gaps: Vec<f64> = pairs.iter().map(|p| p.1).collect();
        let rho = spearman(&outs, &gaps);
        if pairs.len() < MIN_SPLIT_PAIRS || rho.abs() < MIN_SPLIT_CORRELATION {
            return Some(ThinkTime {
                output_bounds: vec![],
                buckets: vec![Quantile::fit(&gaps)?],
                spearman: rho,
            });
        }
        let mut sorted = outs.clone();
        sorted.sort_by(f64::total_cmp);
        let bounds = vec![sorted[sorted.len() / 3], sorted[2 * sorted.len() / 3]];
        let mut buckets = Vec::new();
        for b in 0..=bounds.len() {
            let lo = if b == 0 {
                f64::NEG_INFINITY
            } else {
                bounds[b - 1]
            };
            let hi = bounds.get(b).copied().unwrap_or(f64::INFINITY);
            let g: Vec<f64> = pairs
                .iter()
                .filter(|p| p.0 > lo && p.0 <= hi)
                .map(|p| p.1)
                .collect();
            buckets.push(Quantile::fit(&g).or_else(|| Quantile::fit(&gaps))?);
        }
        Some(ThinkTime {
            output_bounds: bounds,
            buckets,
            spearman: rho,
        })
    }
}

impl TypeSessions {
    pub fn child_prob(&self, turn: u32) -> f64 {
        let i = (turn.max(1) as usize - 1).min(self.child_prob_by_turn.len() - 1);
        self.child_prob_by_turn[i]
    }

    /// Number of follow-ups of a request at `turn` (usually 0).
    pub fn sample_children<R: Rng + ?Sized>(&self, rng: &mut R, turn: u32) -> usize {
        if rng.random::<f64>() >= self.child_prob(turn) {
            return 0;
        }
        1 + sample_index(rng, &self.children_count)
    }
}

/// Index drawn with probability proportional to `weights`.
pub fn sample_index<R: Rng + ?Sized>(rng: &mut R, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.iter().rposition(|&w| w > 0.0).unwrap_or(0)
}

impl SessionModel {
    pub fn fit(p: &Prepared) -> SessionModel {
        let n_types = p.types.len();
        let mut root_counts = vec![0.0; n_types];
        for r in p.roots() {
            root_counts[r.ty] += 1.0;
        }
        // (parent output, think time) pairs by parent type.
        let mut pairs: Vec<Vec<(f64, f64)>> = vec![Vec::new(); n_types];
        let mut transitions = vec![vec![0.0; n_types]; n_types];
        for r in &p.requests {
            if let Some(pi) = r.parent {
                let parent = &p.requests[pi];
                pairs[parent.ty].push((parent.output as f64, (r.t - parent.t).max(0.0)));
                transitions[parent.ty][r.ty] += 1.0;
            }
        }
        let all_pairs: Vec<(f64, f64)> = pairs.iter().flatten().copied().collect();
        let pooled_think = ThinkTime::fit(&all_pairs).unwrap_or(ThinkTime {
            output_bounds: vec![],
            buckets: vec![Quantile::constant(0.0)],
            spearman: 0.0,
        });
        let end = p.requests.iter().map(|r| r.t).fold(0.0, f64::max);
        let per_type = (0..n_types)
            .map(|ty| {
                let think_time = if pairs[ty].len() >= MIN_THINK_SAMPLES {
                    ThinkTime::fit(&pairs[ty]).unwrap_or_else(|| pooled_think.clone())
                } else {
                    pooled_think.clone()
                };
                let mut gaps: Vec<f64> = if pairs[ty].len() >= MIN_THINK_SAMPLES {
                    &pairs[ty]
                } else {
                    &all_pairs
                }
                .iter()
                .map(|p| p.1)
                .collect();
                gaps.sort_by(f64::total_cmp);
                let child_prob_by_turn = child_probabilities(p, ty, &gaps, end);
                let mut children_count = vec![0.0; MAX_CHILDREN];
                for r in p.requests.iter().filter(|r| r.ty == ty && r.children > 0) {
                    children_count[(r.children as usize).min(MAX_CHILDREN) - 1] += 1.0;
                }
                trim_zeros(&mut children_count);
                let mut child_type = transitions[ty].clone();
                if child_type.iter().sum::<f64>() == 0.0 {
                    child_type[ty] = 1.0;
                }
                TypeSessions {
                    child_prob_by_turn,
                    children_count: normalise(children_count),
                    child_type: normalise(child_type),
                    think_time,
                }
            })
            .collect();
        SessionModel {
            root_type_mix: normalise(root_counts),
            per_type,
        }
    }

    pub fn validate(&self, n_types: usize) -> Result<(), ModelError> {
        check_distribution("sessions.root_type_mix", &self.root_type_mix, n_types)?;
        if self.per_type.len() != n_types {
            return Err(ModelError::invalid(
                "sessions.per_type",
                "must have one entry per type",
            ));
        }
        for (i, t) in self.per_type.iter().enumerate() {
            let at = |part: &str| format!("sessions.per_type[{i}].{part}");
            if t.child_prob_by_turn.is_empty()
                || t.child_prob_by_turn.iter().any(|p| !(0.0..1.0).contains(p))
            {
                return Err(ModelError::invalid(
                    &at("child_prob_by_turn"),
                    "probabilities in [0, 1), at least one",
                ));
            }
            check_distribution(
                &at("children_count"),
                &t.children_count,
                t.children_count.len().max(1),
            )?;
            check_distribution(&at("child_type"), &t.child_type, n_types)?;
            let tt = &t.think_time;
            if tt.buckets.is_empty() || tt.output_bounds.len() + 1 != tt.buckets.len() {
                return Err(ModelError::invalid(
                    &at("think_time"),
                    "needs one bucket more than bounds",
                ));
            }
            for (b, q) in tt.buckets.iter().enumerate() {
                q.validate(&at(&format!("think_time.buckets[{b}]")))?;
            }
        }
        Ok(())
    }
}

/// P(at least one follow-up | type, turn), with each request's exposure weighted by the
/// chance its follow-up would still fall inside the trace (the think-time CDF at the
/// time left), so a trace's end does not bias the probability down.
fn child_probabilities(p: &Prepared, ty: usize, sorted_gaps: &[f64], end: f64) -> Vec<f64> {
    let cdf = |x: f64| {
        if sorted_gaps.is_empty() {
            1.0
        } else {
            sorted_gaps.partition_point(|&g| g <= x) as f64 / sorted_gaps.len() as f64
        }
    };
    let mut with_child = [0.0; TURN_BUCKETS];
    let mut exposure = [0.0; TURN_BUCKETS];
    for r in p.requests.iter().filter(|r| r.ty == ty) {
        let b = (r.turn as usize - 1).min(TURN_BUCKETS - 1);
        exposure[b] += cdf(end - r.t).max(0.05);
        if r.children > 0 {
            with_child[b] += 1.0;
        }
    }
    let overall =
        (with_child.iter().sum::<f64>() / exposure.iter().sum::<f64>().max(1e-9)).min(0.999);
    (0..TURN_BUCKETS)
        .map(|b| {
            ((with_child[b] + SMOOTHING * overall) / (exposure[b] + SMOOTHING)).clamp(0.0, 0.999)
        })
        .collect()
}

fn trim_zeros(v: &mut Vec<f64>) {
    while v.len() > 1 && v.last() == Some(&0.0) {
        v.pop();
    }
    if v.iter().all(|&x| x == 0.0) {
        v[0] = 1.0;
    }
}

pub fn normalise(v: Vec<f64>) -> Vec<f64> {
    let total: f64 = v.iter().sum();
    if total <= 0.0 {
        let n = v.len().max(1) as f64;
        return v.iter().map(|_| 1.0 / n).collect();
    }
    v.into_iter().map(|x| x / total).collect()
}

pub fn check_distribution(what: &str, v: &[f64], len: usize) -> Result<(), ModelError> {
    if v.len() != len || v.is_empty() {
        return Err(ModelError::invalid(
            what,
            format!("expected {len} probabilities, found {}", v.len()),
        ));
    }
    if v.iter().any(|x| !x.is_finite() || *x < 0.0) {
        return Err(ModelError::invalid(
            what,
            "probabilities must be finite and >= 0",
        ));
    }
    if (v.iter().sum::<f64>() - 1.0).abs() > 1e-6 {
        return Err(ModelError::invalid(what, "probabilities must sum to 1"));
    }
    Ok(())
}
