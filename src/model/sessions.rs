//! Session structure: which requests get follow-ups, how many, of which type, and after
//! what think time.

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use super::ModelError;
use super::copula::spearman;
use super::quantile::{Quantile, inverse_window_weight};
use crate::fit::prepared::{FitRequest, Prepared};
use beyond::Beyond;

mod beyond;
mod branching;
mod follow_up;

pub use branching::{Branching, ObservedSessions, spectral_radius};

/// Turns at and beyond this share one follow-up probability.
const TURN_BUCKETS: usize = 8;
/// Follow-up probabilities are split into this many input-length buckets...
const INPUT_BUCKETS: usize = 6;
/// ... when a type has at least this many requests.
const MIN_INPUT_SPLIT: usize = 400;
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
    /// Where sessions were inferred from block inheritance, a root with one block or
    /// less of its own beyond the prefix it shares with other sessions gets no
    /// follow-ups: the context such a follow-up inherits is a prefix several sessions
    /// hold (a system prompt, a popular document), which lineage inference reads as a
    /// shared prefix, so the fit counted the follow-up as a root reusing it. Giving such
    /// roots follow-ups again counted them twice and put the follow-ups of the roots
    /// with content of their own at the diluted rate (a heavy-sharing trace: 44 % of
    /// the generated follow-ups could not be seen as such).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub parents_need_own_block: bool,
    /// What the fit found wrong with the session process it first estimated (a
    /// supercritical tail, sessions far larger than the trace's) and how it fell back;
    /// `fit` prints them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fit_warnings: Vec<String>,
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
    /// Share of the type's requests at each `child_prob` row's turns that fall in each
    /// input bucket in the fitted trace (rows may sum to less than 1: requests too short
    /// to have follow-ups, see [`SessionModel::min_parent_blocks`]). Weighs the buckets
    /// when the implied branching process is computed; empty: equal shares.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_mix: Vec<Vec<f64>>,
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
    /// Think times past the window (`beyond`) are added to every bucket in the same
    /// share.
    fn fit(pairs: &[(f64, f64)], window: f64, beyond: Option<&Beyond>) -> Option<ThinkTime> {
        let outs: Vec<f64> = pairs.iter().map(|p| p.0).collect();
        let gaps: Vec<f64> = pairs.iter().map(|p| p.1).collect();
        let weights: Vec<f64> = gaps
            .iter()
            .map(|&g| inverse_window_weight(g, window))
            .collect();
        let quantile = |g: &[f64], w: &[f64]| match beyond {
            Some(b) => {
                let (g, w) = b.extend(g, w);
                Quantile::fit_weighted(&g, &w)
            }
            None => Quantile::fit_weighted(g, w),
        };
        let rho = spearman(&outs, &gaps);
        if pairs.len() < MIN_SPLIT_PAIRS || rho.abs() < MIN_SPLIT_CORRELATION {
            return Some(ThinkTime {
                output_bounds: vec![],
                buckets: vec![quantile(&gaps, &weights)?],
                spearman: rho,
            });
        }
        let mut sorted = outs.clone();
        sorted.sort_unstable_by(f64::total_cmp);
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
            buckets.push(quantile(&g, &w).or_else(|| quantile(&gaps, &weights))?);
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
                        input_mix: vec![],
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
            parents_need_own_block: false,
            fit_warnings: vec![],
        }
    }

    /// Fit the session structure of a trace. The follow-up process is checked against
    /// the trace's own (see [`ObservedSessions`]); a supercritical fit, or one implying
    /// far larger sessions than the trace holds, falls back to the trace's turn
    /// continuation and says so in [`SessionModel::fit_warnings`].
    /// `shared_tokens`: per request, the tokens of its prefix that other sessions had
    /// sent before it (the blocks fit's; empty: none).
    pub fn fit(p: &Prepared, shared_tokens: &[u64]) -> SessionModel {
        let inferred = p.lineage == crate::fit::prepared::Lineage::InferredFromBlocks;
        let min_parent_blocks = if inferred { 3 } else { 0 };
        let eligible = Eligible {
            min_blocks: min_parent_blocks,
            own_block: inferred.then(|| {
                (
                    u64::from(p.block_size.unwrap_or(crate::trace::BAILIAN_BLOCK)),
                    shared_tokens,
                )
            }),
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
                    let context = (parent.blocks as usize).saturating_sub(1).max(1) as f64;
                    kept[parent.ty].push((f64::from(k) / context).min(1.0));
                }
            }
        }
        let all_pairs: Vec<(f64, f64)> = pairs.iter().flatten().copied().collect();
        let end = p.requests.iter().map(|r| r.t).fold(0.0, f64::max);
        let weighted: Vec<(f64, f64)> = all_pairs
            .iter()
            .map(|&(_, g)| (g, inverse_window_weight(g, end)))
            .collect();
        let orphans = p.requests.iter().filter(|r| r.orphan).count();
        let beyond = Beyond::estimate(&weighted, end, orphans, all_pairs.len());
        let beyond = beyond.as_ref();
        let pooled_think = ThinkTime::fit(&all_pairs, end, beyond).unwrap_or(ThinkTime {
            output_bounds: vec![],
            buckets: vec![Quantile::constant(0.0)],
            spearman: 0.0,
        });
        let per_type = (0..n_types)
            .map(|ty| {
                let think_time = if pairs[ty].len() >= MIN_THINK_SAMPLES {
                    ThinkTime::fit(&pairs[ty], end, beyond).unwrap_or_else(|| pooled_think.clone())
                } else {
                    pooled_think.clone()
                };
                let own = if pairs[ty].len() >= MIN_THINK_SAMPLES {
                    &pairs[ty]
                } else {
                    &all_pairs
                };
                let gaps: Vec<f64> = own.iter().map(|p| p.1).collect();
                let cdf = WeightedCdf::new(&gaps, end, beyond);
                let mut children_count = vec![0.0; MAX_CHILDREN];
                for r in p.requests.iter().filter(|r| r.ty == ty && r.children > 0) {
                    children_count[(r.children as usize).min(MAX_CHILDREN) - 1] += 1.0;
                }
                trim_zeros(&mut children_count);
                let children_count = normalise(children_count);
                let (input_bounds, child_prob, input_mix) =
                    child_probabilities(p, ty, &cdf, &children_count, end, &eligible);
                let mut child_type = transitions[ty].clone();
                if child_type.iter().sum::<f64>() == 0.0 {
                    child_type[ty] = 1.0;
                }
                let children = pairs[ty].len();
                TypeSessions {
                    input_bounds,
                    child_prob,
                    input_mix,
                    children_count,
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
        let mut model = SessionModel {
            root_type_mix: normalise(root_counts),
            per_type,
            min_parent_blocks,
            parents_need_own_block: eligible.own_block.is_some(),
            fit_warnings: vec![],
        };
        model.fit_warnings = branching::stabilise(&mut model, &ObservedSessions::of(p));
        model
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
            let bad_mix = |row: &Vec<f64>| {
                row.len() != columns
                    || row.iter().any(|w| !(0.0..=1.0).contains(w))
                    || row.iter().sum::<f64>() > 1.0 + 1e-6
            };
            if !t.input_mix.is_empty()
                && (t.input_mix.len() != t.child_prob.len() || t.input_mix.iter().any(bad_mix))
            {
                return Err(ModelError::invalid(
                    &at("input_mix"),
                    "one row of shares (summing to at most 1) per child_prob row and bucket",
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
                q.validate_times(&at(&format!("think_time.buckets[{b}]")))?;
            }
        }
        self.check_subcritical()
    }

    /// A model whose last turn row gives a request one follow-up or more on average
    /// makes sessions that never end: generation would grow without bound.
    fn check_subcritical(&self) -> Result<(), ModelError> {
        let b = self.branching();
        if b.worst_tail_radius < 1.0 {
            return Ok(());
        }
        let (i, t) = self
            .per_type
            .iter()
            .enumerate()
            .max_by(|a, b| {
                a.1.worst_tail_offspring()
                    .total_cmp(&b.1.worst_tail_offspring())
            })
            .expect("validated: one entry per type");
        Err(ModelError::invalid(
            &format!("sessions.per_type[{i}].child_prob"),
            format!(
                "the last row (turns >= {}) times the mean of children_count ({:.3}) gives \
                 {:.3} follow-ups per request in its largest bucket (spectral radius over \
                 types {:.3}): it must stay below 1, or sessions never end",
                t.child_prob.len(),
                t.mean_children(),
                t.worst_tail_offspring(),
                b.worst_tail_radius
            ),
        ))
    }
}

/// P(at least one follow-up | type, turn, input bucket) by the censoring-aware estimator
/// of [`follow_up`], and the trace's mix of input buckets per turn row.
///
/// A request with `tau` seconds left would show at least one of its `n` follow-ups with
/// probability `1 - (1 - F(tau))^n`, averaged over the fitted number of follow-ups.
/// Orphans (follow-ups whose parent came before the trace) count at the turn their
/// record gives: their own follow-ups are seen like anyone's.
/// Which requests of the fitted trace could have shown a follow-up
/// ([`SessionModel::min_parent_blocks`], [`SessionModel::parents_need_own_block`]).
struct Eligible<'a> {
    min_blocks: u32,
    /// Block size and each request's shared-prefix tokens, where a root needs more than
    /// one block of its own.
    own_block: Option<(u64, &'a [u64])>,
}

impl Eligible<'_> {
    fn may_continue(&self, i: usize, r: &FitRequest) -> bool {
        r.blocks >= self.min_blocks
            && self.own_block.is_none_or(|(block, shared)| {
                !r.is_root() || r.input.saturating_sub(shared.get(i).copied().unwrap_or(0)) > block
            })
    }
}

fn child_probabilities(
    p: &Prepared,
    ty: usize,
    cdf: &WeightedCdf,
    children_count: &[f64],
    end: f64,
    eligible: &Eligible,
) -> (Vec<f64>, Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let of_type: Vec<(usize, &FitRequest)> = p
        .requests
        .iter()
        .enumerate()
        .filter(|(_, r)| r.ty == ty)
        .collect();
    let eligible = |&(i, r): &(usize, &FitRequest)| eligible.may_continue(i, r);
    let mut inputs: Vec<f64> = of_type
        .iter()
        .filter(|e| eligible(e))
        .map(|e| e.1.input as f64)
        .collect();
    inputs.sort_unstable_by(f64::total_cmp);
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
    let seen_by = |tau: f64| {
        let f = cdf.at(tau);
        children_count
            .iter()
            .enumerate()
            .map(|(i, w)| w * (1.0 - (1.0 - f).powi(i as i32 + 1)))
            .sum::<f64>()
    };
    let mut cells = vec![follow_up::CellBuilder::default(); TURN_BUCKETS * cols];
    let mut in_row = [0.0; TURN_BUCKETS];
    let mut in_cell = vec![0.0; TURN_BUCKETS * cols];
    let mut log_turn = [0.0; TURN_BUCKETS];
    let mut log_input = vec![0.0; cols];
    let mut in_col = vec![0.0; cols];
    for e in &of_type {
        let r = e.1;
        let row = (r.turn as usize - 1).min(TURN_BUCKETS - 1);
        in_row[row] += 1.0;
        if !eligible(e) {
            continue;
        }
        let col = col_of(r.input);
        in_cell[row * cols + col] += 1.0;
        log_turn[row] += f64::from(r.turn).ln();
        log_input[col] += (r.input as f64 + 1.0).ln();
        in_col[col] += 1.0;
        cells[row * cols + col].add(r.children > 0, seen_by(end - r.t));
    }
    // Covariates of the curve: whether the row is the first turn, its mean log turn (the
    // last row pools later turns), a column's mean log input; rows and columns without
    // requests get their nominal ones.
    let x: Vec<follow_up::Covariates> = (0..TURN_BUCKETS * cols)
        .map(|i| {
            let (row, col) = (i / cols, i % cols);
            let n_row: f64 = in_cell[row * cols..(row + 1) * cols].iter().sum();
            let lt = if n_row > 0.0 {
                log_turn[row] / n_row
            } else {
                ((row + 1) as f64).ln()
            };
            let li = if in_col[col] > 0.0 {
                log_input[col] / in_col[col]
            } else {
                let total: f64 = in_col.iter().sum();
                if total > 0.0 {
                    log_input.iter().sum::<f64>() / total
                } else {
                    0.0
                }
            };
            [f64::from(u8::from(row == 0)), lt, li]
        })
        .collect();
    let cells: Vec<follow_up::Cell> = cells.into_iter().map(|c| c.build()).collect();
    let estimate = follow_up::estimate(&cells, &x);
    let table = estimate.chunks(cols).map(<[f64]>::to_vec).collect();
    let overall: Vec<f64> = (0..cols)
        .map(|c| (0..TURN_BUCKETS).map(|r| in_cell[r * cols + c]).sum())
        .collect();
    let all: f64 = in_row.iter().sum();
    let mix = (0..TURN_BUCKETS)
        .map(|row| {
            if in_row[row] > 0.0 {
                (0..cols)
                    .map(|c| in_cell[row * cols + c] / in_row[row])
                    .collect()
            } else if all > 0.0 {
                overall.iter().map(|n| n / all).collect()
            } else {
                vec![1.0 / cols as f64; cols]
            }
        })
        .collect();
    (bounds, table, mix)
}

/// The think-time CDF corrected for the window's end, as [`ThinkTime::fit`] does.
struct WeightedCdf {
    /// (gap, cumulative share of weight up to and including it), sorted by gap.
    points: Vec<(f64, f64)>,
}

impl WeightedCdf {
    fn new(gaps: &[f64], window: f64, beyond: Option<&Beyond>) -> WeightedCdf {
        let weights: Vec<f64> = gaps
            .iter()
            .map(|&g| inverse_window_weight(g, window))
            .collect();
        let (gaps, weights) = match beyond {
            Some(b) => b.extend(gaps, &weights),
            None => (gaps.to_vec(), weights),
        };
        let mut pairs: Vec<(f64, f64)> = gaps.into_iter().zip(weights).collect();
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
