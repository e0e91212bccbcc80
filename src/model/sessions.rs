//! Session structure: which requests get follow-ups, how many, of which type, and after
//! what think time.

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use super::ModelError;
use super::copula::spearman;
use super::quantile::{Quantile, inverse_window_weight};
use crate::fit::prepared::{FitRequest, Prepared};

/// Turns at and beyond this share one follow-up probability.
const TURN_BUCKETS: usize = 8;
/// Follow-up probabilities are split into this many input-length buckets...
const INPUT_BUCKETS: usize = 6;
/// ... when a type has at least this many requests.
const MIN_INPUT_SPLIT: usize = 400;
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
    /// Requests with fewer blocks get no follow-ups. Where sessions were inferred from
    /// block inheritance, a follow-up is only visible when its parent's ids minus the
    /// last block are at least two blocks long; children of shorter parents were
    /// counted as roots by the fit, so giving them children again would count them
    /// twice.
    #[serde(default)]
    pub min_parent_blocks: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeSessions {
    /// Upper bounds (tokens) of the buckets of a request's input length that
    /// `child_prob` is split by; the last bucket is open.
    pub input_bounds: Vec<f64>,
    /// Probability that a request gets at least one follow-up, by its turn (row 0 is
    /// turn 1; the last row holds for all later turns) and input bucket (column): later
    /// turns continue more often, long contexts less often. Corrected for the trace end
    /// cutting off follow-ups that would have come after it.
    pub child_prob: Vec<Vec<f64>>,
    /// Distribution of the number of follow-ups given at least one (index 0: one).
    pub children_count: Vec<f64>,
    /// Type of a follow-up, indexed like the model's `types`.
    pub child_type: Vec<f64>,
    pub think_time: ThinkTime,
    /// Share of follow-ups that keep only the start of the parent's context (a client
    /// that truncated the history) ...
    #[serde(default)]
    pub truncated_share: f64,
    /// ... and the share of the parent's context (its blocks but the last) they keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated_keep: Option<Quantile>,
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
        self.at(parent_output, rng.random())
    }

    /// The think time at probability `u` after a parent that wrote `parent_output`
    /// tokens.
    pub fn at(&self, parent_output: u64, u: f64) -> f64 {
        let out = parent_output as f64;
        let b = self
            .output_bounds
            .iter()
            .position(|&ub| out <= ub)
            .unwrap_or(self.buckets.len() - 1);
        self.buckets[b.min(self.buckets.len() - 1)].at(u).max(0.0)
    }

    /// Fit from (parent output, think time) pairs seen in a window of `window` seconds.
    /// A pair is only seen when the parent came at least its think time before the
    /// window's end, so long think times are under-represented by `(window - gap) /
    /// window`; each pair is weighted by the inverse, or generation (which cuts at its
    /// end too) would shorten them twice.
    fn fit(pairs: &[(f64, f64)], window: f64) -> Option<ThinkTime> {
        let outs: Vec<f64> = pairs.iter().map(|p| p.0).collect();
        let gaps: Vec<f64> = pairs.iter().map(|p| p.1).collect();
        let weights: Vec<f64> = gaps
            .iter()
            .map(|&g| inverse_window_weight(g, window))
            .collect();
        let rho = spearman(&outs, &gaps);
        if pairs.len() < MIN_SPLIT_PAIRS || rho.abs() < MIN_SPLIT_CORRELATION {
            return Some(ThinkTime {
                output_bounds: vec![],
                buckets: vec![Quantile::fit_weighted(&gaps, &weights)?],
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
            let inside: Vec<usize> = (0..pairs.len())
                .filter(|&i| pairs[i].0 > lo && pairs[i].0 <= hi)
                .collect();
            let g: Vec<f64> = inside.iter().map(|&i| gaps[i]).collect();
            let w: Vec<f64> = inside.iter().map(|&i| weights[i]).collect();
            buckets.push(
                Quantile::fit_weighted(&g, &w)
                    .or_else(|| Quantile::fit_weighted(&gaps, &weights))?,
            );
        }
        Some(ThinkTime {
            output_bounds: bounds,
            buckets,
            spearman: rho,
        })
    }
}

impl TypeSessions {
    pub fn child_prob(&self, turn: u32, input: u64) -> f64 {
        let row = &self.child_prob[(turn.max(1) as usize - 1).min(self.child_prob.len() - 1)];
        let col = self
            .input_bounds
            .iter()
            .position(|&ub| input as f64 <= ub)
            .unwrap_or(row.len() - 1);
        row[col.min(row.len() - 1)]
    }

    /// Number of follow-ups of a request at `turn` with `input` tokens (usually 0).
    pub fn sample_children<R: Rng + ?Sized>(&self, rng: &mut R, turn: u32, input: u64) -> usize {
        if rng.random::<f64>() >= self.child_prob(turn, input) {
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
    /// Sessions of one request each (no follow-ups), roots of the types in proportion to
    /// `type_weights`: what a source without session data supports.
    pub fn roots_only(type_weights: Vec<f64>) -> SessionModel {
        let n_types = type_weights.len();
        SessionModel {
            root_type_mix: normalise(type_weights),
            per_type: (0..n_types)
                .map(|ty| {
                    let mut child_type = vec![0.0; n_types];
                    child_type[ty] = 1.0;
                    TypeSessions {
                        input_bounds: vec![],
                        child_prob: vec![vec![0.0]],
                        children_count: vec![1.0],
                        child_type,
                        think_time: ThinkTime {
                            output_bounds: vec![],
                            buckets: vec![Quantile::constant(0.0)],
                            spearman: 0.0,
                        },
                        truncated_share: 0.0,
                        truncated_keep: None,
                    }
                })
                .collect(),
            min_parent_blocks: 0,
        }
    }

    pub fn fit(p: &Prepared) -> SessionModel {
        let min_parent_blocks = match p.lineage {
            crate::fit::prepared::Lineage::InferredFromBlocks => 3,
            _ => 0,
        };
        let n_types = p.types.len();
        let mut root_counts = vec![0.0; n_types];
        for r in p.roots() {
            root_counts[r.ty] += 1.0;
        }
        // (parent output, think time) pairs by parent type.
        let mut pairs: Vec<Vec<(f64, f64)>> = vec![Vec::new(); n_types];
        let mut transitions = vec![vec![0.0; n_types]; n_types];
        // Kept share of the parent's context, for truncated follow-ups, by parent type.
        let mut kept: Vec<Vec<f64>> = vec![Vec::new(); n_types];
        for r in &p.requests {
            if let Some(pi) = r.parent {
                let parent = &p.requests[pi];
                pairs[parent.ty].push((parent.output as f64, (r.t - parent.t).max(0.0)));
                transitions[parent.ty][r.ty] += 1.0;
                if let Some(k) = r.kept_blocks {
                    let context = parent.ids.len().saturating_sub(1).max(1) as f64;
                    kept[parent.ty].push((f64::from(k) / context).min(1.0));
                }
            }
        }
        let all_pairs: Vec<(f64, f64)> = pairs.iter().flatten().copied().collect();
        let end = p.requests.iter().map(|r| r.t).fold(0.0, f64::max);
        let pooled_think = ThinkTime::fit(&all_pairs, end).unwrap_or(ThinkTime {
            output_bounds: vec![],
            buckets: vec![Quantile::constant(0.0)],
            spearman: 0.0,
        });
        let per_type = (0..n_types)
            .map(|ty| {
                let think_time = if pairs[ty].len() >= MIN_THINK_SAMPLES {
                    ThinkTime::fit(&pairs[ty], end).unwrap_or_else(|| pooled_think.clone())
                } else {
                    pooled_think.clone()
                };
                let own = if pairs[ty].len() >= MIN_THINK_SAMPLES {
                    &pairs[ty]
                } else {
                    &all_pairs
                };
                let gaps: Vec<f64> = own.iter().map(|p| p.1).collect();
                let cdf = WeightedCdf::new(&gaps, end);
                let (input_bounds, child_prob) =
                    child_probabilities(p, ty, &cdf, end, min_parent_blocks);
                let mut children_count = vec![0.0; MAX_CHILDREN];
                for r in p.requests.iter().filter(|r| r.ty == ty && r.children > 0) {
                    children_count[(r.children as usize).min(MAX_CHILDREN) - 1] += 1.0;
                }
                trim_zeros(&mut children_count);
                let mut child_type = transitions[ty].clone();
                if child_type.iter().sum::<f64>() == 0.0 {
                    child_type[ty] = 1.0;
                }
                let children = pairs[ty].len();
                TypeSessions {
                    input_bounds,
                    child_prob,
                    children_count: normalise(children_count),
                    child_type: normalise(child_type),
                    think_time,
                    truncated_share: if children > 0 {
                        kept[ty].len() as f64 / children as f64
                    } else {
                        0.0
                    },
                    truncated_keep: Quantile::fit(&kept[ty]),
                }
            })
            .collect();
        SessionModel {
            root_type_mix: normalise(root_counts),
            per_type,
            min_parent_blocks,
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
            let columns = t.input_bounds.len() + 1;
            let bad_prob = |p: &f64| !(0.0..1.0).contains(p);
            if t.child_prob.is_empty()
                || t.child_prob
                    .iter()
                    .any(|row| row.len() != columns || row.iter().any(bad_prob))
            {
                return Err(ModelError::invalid(
                    &at("child_prob"),
                    "rows of one probability in [0, 1) per input bucket",
                ));
            }
            check_distribution(
                &at("children_count"),
                &t.children_count,
                t.children_count.len().max(1),
            )?;
            check_distribution(&at("child_type"), &t.child_type, n_types)?;
            if !(0.0..=1.0).contains(&t.truncated_share) {
                return Err(ModelError::invalid(
                    &at("truncated_share"),
                    "must lie in [0, 1]",
                ));
            }
            match &t.truncated_keep {
                Some(q) => q.validate(&at("truncated_keep"))?,
                None if t.truncated_share > 0.0 => {
                    return Err(ModelError::invalid(
                        &at("truncated_keep"),
                        "needed when truncated_share > 0",
                    ));
                }
                None => {}
            }
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

/// P(at least one follow-up | type, turn, input bucket), with each request's exposure
/// weighted by the chance its follow-up would still fall inside the trace (the
/// think-time CDF at the time left), so a trace's end does not bias the probability
/// down. Sparse cells lean on the product of the turn and input margins.
fn child_probabilities(
    p: &Prepared,
    ty: usize,
    cdf: &WeightedCdf,
    end: f64,
    min_parent_blocks: u32,
) -> (Vec<f64>, Vec<Vec<f64>>) {
    let eligible: Vec<&FitRequest> = p
        .requests
        .iter()
        .filter(|r| r.ty == ty && r.ids.len() >= min_parent_blocks as usize)
        .collect();
    let mut inputs: Vec<f64> = eligible.iter().map(|r| r.input as f64).collect();
    inputs.sort_by(f64::total_cmp);
    let bounds: Vec<f64> = if inputs.len() >= MIN_INPUT_SPLIT {
        let mut b: Vec<f64> = (1..INPUT_BUCKETS)
            .map(|k| inputs[k * inputs.len() / INPUT_BUCKETS])
            .collect();
        b.dedup();
        b
    } else {
        vec![]
    };
    let cols = bounds.len() + 1;
    let col_of = |input: u64| {
        bounds
            .iter()
            .position(|&ub| input as f64 <= ub)
            .unwrap_or(cols - 1)
    };
    let mut hits = vec![vec![0.0; cols]; TURN_BUCKETS];
    let mut exposure = vec![vec![0.0; cols]; TURN_BUCKETS];
    for r in &eligible {
        let (row, col) = ((r.turn as usize - 1).min(TURN_BUCKETS - 1), col_of(r.input));
        exposure[row][col] += cdf.at(end - r.t).max(0.05);
        if r.children > 0 {
            hits[row][col] += 1.0;
        }
    }
    let total = |m: &[Vec<f64>]| m.iter().flatten().sum::<f64>();
    let overall = (total(&hits) / total(&exposure).max(1e-9)).min(0.999);
    let ratio = |h: f64, e: f64| (h + SMOOTHING * overall) / (e + SMOOTHING);
    let row_p: Vec<f64> = (0..TURN_BUCKETS)
        .map(|r| ratio(hits[r].iter().sum(), exposure[r].iter().sum()))
        .collect();
    let col_p: Vec<f64> = (0..cols)
        .map(|c| {
            ratio(
                hits.iter().map(|h| h[c]).sum(),
                exposure.iter().map(|e| e[c]).sum(),
            )
        })
        .collect();
    let table = (0..TURN_BUCKETS)
        .map(|r| {
            (0..cols)
                .map(|c| {
                    let prior = if overall > 0.0 {
                        (row_p[r] * col_p[c] / overall).min(0.999)
                    } else {
                        0.0
                    };
                    ((hits[r][c] + SMOOTHING * prior) / (exposure[r][c] + SMOOTHING))
                        .clamp(0.0, 0.999)
                })
                .collect()
        })
        .collect();
    (bounds, table)
}

/// The think-time CDF corrected for the window's end, as [`ThinkTime::fit`] does.
struct WeightedCdf {
    /// (gap, cumulative share of weight up to and including it), sorted by gap.
    points: Vec<(f64, f64)>,
}

impl WeightedCdf {
    fn new(gaps: &[f64], window: f64) -> WeightedCdf {
        let mut pairs: Vec<(f64, f64)> = gaps
            .iter()
            .map(|&g| (g, inverse_window_weight(g, window)))
            .collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total: f64 = pairs.iter().map(|p| p.1).sum();
        let mut acc = 0.0;
        let points = pairs
            .into_iter()
            .map(|(g, w)| {
                acc += w;
                (g, acc / total)
            })
            .collect();
        WeightedCdf { points }
    }

    fn at(&self, x: f64) -> f64 {
        let i = self.points.partition_point(|p| p.0 <= x);
        if self.points.is_empty() {
            1.0
        } else if i == 0 {
            0.0
        } else {
            self.points[i - 1].1
        }
    }
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
