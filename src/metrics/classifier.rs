//! Classifier two-sample test (C2ST): can a small gradient-boosted classifier tell the
//! requests of one trace from another's by their per-request features? The
//! cross-validated AUC is 0.5 when it cannot. It judges the joint law of the features
//! (input against output, hit share against input, turn against think time), which
//! per-row marginal distances cannot see.
//!
//! The learner is boosted depth-2 trees on the logistic loss, over features quantised
//! to at most [`BINS`] quantile bins of the pooled sample, so each round is a few
//! histogram passes. Subsamples, folds and ties are all decided by a seeded ChaCha RNG
//! and fixed orders: the same two traces and options give the same figures.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::arrivals::time_quantum;

/// Quantile bins per feature: fine enough that an atom (an exact length many requests
/// repeat) of a fraction of a percent gets a bin of its own.
pub const BINS: usize = 255;

/// `ln` of a think time for requests without a parent in the file: far below any real
/// `ln(gap)`, so a tree separates roots from follow-ups with one split.
const NO_PARENT: f64 = -30.0;

/// Seconds added before taking logs of gaps, so zero gaps (ties) stay finite.
const GAP_FLOOR: f64 = 1e-3;

/// The finest clock timestamps are compared on: every format we write (and Bailian and
/// Mooncake themselves) has millisecond timestamps, so sub-millisecond gaps of a finer
/// source (Azure's 100 ns) are not something a synthetic trace can or should reproduce.
const FINEST_CLOCK: f64 = 1e-3;

/// The clock a trace's timestamps are compared on: its timestamp grid where it has one
/// (the source's jitter around the grid, such as Mooncake's 2999/3001 ms, is not a
/// property of the service), otherwise milliseconds.
fn clock_of(times: &[f64]) -> f64 {
    time_quantum(times)
        .unwrap_or(FINEST_CLOCK)
        .max(FINEST_CLOCK)
}

/// Requests kept for the test: all of a trace up to this many, a uniform sample of
/// this many beyond (the test itself draws at most [`C2stOptions::cap`] of them).
pub const RESERVOIR: usize = 1 << 17;

/// What one request's features are made of, before the trace's clock is known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureRow {
    pub time: f64,
    /// The previous request's time (its own for the first request).
    pub previous: f64,
    /// The parent's time, when the parent is in the file.
    pub parent: Option<f64>,
    pub input: u64,
    pub output: u64,
    /// Share of its blocks an infinite prefix cache serves (0 without blocks).
    pub hit_share: f64,
    pub type_code: u16,
    pub turn: u32,
}

/// A bounded, seeded reservoir of [`FeatureRow`]s (Vitter's algorithm R): the same
/// trace always keeps the same requests, and a trace of up to [`RESERVOIR`] requests
/// keeps them all, in file order.
#[derive(Debug, Clone)]
pub struct FeatureSample {
    rows: Vec<FeatureRow>,
    seen: u64,
    rng: ChaCha8Rng,
}

impl Default for FeatureSample {
    fn default() -> Self {
        FeatureSample {
            rows: Vec::new(),
            seen: 0,
            rng: ChaCha8Rng::seed_from_u64(0x5eed_c25f),
        }
    }
}

impl FeatureSample {
    pub fn push(&mut self, row: FeatureRow) {
        if self.rows.len() < RESERVOIR {
            self.rows.push(row);
        } else {
            let j = self.rng.random_range(0..=self.seen);
            if (j as usize) < RESERVOIR {
                self.rows[j as usize] = row;
            }
        }
        self.seen += 1;
    }

    /// The features of the kept requests: `times` are all of the trace's timestamps
    /// (for its clock), `types` its type names; inter-arrival gaps are multiplied by
    /// `gap_scale` (the rate scale of a synthetic trace, so gaps line up with the real
    /// ones). `hit_share` needs blocks; `type`, `turn` and `think_time` need sessions.
    pub fn features(
        &self,
        times: &[f64],
        types: Option<&[String]>,
        blocks: bool,
        gap_scale: f64,
    ) -> Features {
        let clock = clock_of(times);
        let on = |t: f64| (t / clock).round() * clock;
        let rows = &self.rows;
        let log_len = |x: u64| (1.0 + x as f64).ln();
        let mut columns = vec![
            numeric("input", rows.iter().map(|r| log_len(r.input))),
            numeric("output", rows.iter().map(|r| log_len(r.output))),
            numeric(
                "gap",
                rows.iter()
                    .map(|r| ((on(r.time) - on(r.previous)).max(0.0) * gap_scale + GAP_FLOOR).ln()),
            ),
        ];
        if blocks {
            columns.push(numeric("hit_share", rows.iter().map(|r| r.hit_share)));
        }
        if let Some(names) = types {
            columns.push(Column {
                name: "type",
                values: ColumnValues::Categorical {
                    names: names.to_vec(),
                    codes: rows.iter().map(|r| u32::from(r.type_code)).collect(),
                },
            });
            columns.push(numeric("turn", rows.iter().map(|r| f64::from(r.turn))));
            columns.push(numeric(
                "think_time",
                rows.iter().map(|r| match r.parent {
                    Some(p) => ((on(r.time) - on(p)).max(0.0) + GAP_FLOOR).ln(),
                    None => NO_PARENT,
                }),
            ));
        }
        Features { columns }
    }
}

/// Per-request features of one trace, by column. A column is present only when the
/// trace carries what it measures: `hit_share` needs blocks, `type`, `turn` and
/// `think_time` need sessions.
#[derive(Debug, Clone, Default)]
pub struct Features {
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: &'static str,
    pub values: ColumnValues,
}

#[derive(Debug, Clone)]
pub enum ColumnValues {
    Numeric(Vec<f64>),
    /// Category names, coded per trace; [`c2st`] maps both traces to one code book.
    Categorical {
        names: Vec<String>,
        codes: Vec<u32>,
    },
}

impl ColumnValues {
    fn len(&self) -> usize {
        match self {
            ColumnValues::Numeric(v) => v.len(),
            ColumnValues::Categorical { codes, .. } => codes.len(),
        }
    }
}

impl Features {
    pub fn len(&self) -> usize {
        self.columns.first().map_or(0, |c| c.values.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn column(&self, name: &str) -> Option<&ColumnValues> {
        self.columns
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.values)
    }
}

fn numeric(name: &'static str, values: impl Iterator<Item = f64>) -> Column {
    Column {
        name,
        values: ColumnValues::Numeric(values.collect()),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct C2stOptions {
    /// Requests drawn from each trace (fewer when a trace is smaller; both sides get the
    /// same number).
    pub cap: usize,
    pub folds: usize,
    pub rounds: usize,
    pub learning_rate: f64,
    pub seed: u64,
}

impl Default for C2stOptions {
    fn default() -> Self {
        C2stOptions {
            cap: 20_000,
            folds: 5,
            rounds: 100,
            learning_rate: 0.15,
            seed: 0x00c2_57ee,
        }
    }
}

/// What the test found.
#[derive(Debug, Clone, PartialEq)]
pub struct C2st {
    /// Mean held-out AUC over the folds, all features.
    pub auc: f64,
    /// Requests per side.
    pub per_side: usize,
    /// One entry per feature both traces have, in column order.
    pub features: Vec<FeatureScore>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FeatureScore {
    pub name: &'static str,
    /// Held-out AUC of the same learner on that feature alone.
    pub auc: f64,
    /// Share of the boosted trees' total split gain.
    pub importance: f64,
}

/// Fewest requests per side for a meaningful AUC: below this the AUC's own sampling
/// noise (sd about `sqrt(1 / 6n)`) is comparable to the 0.05 of a visible difference.
pub const C2ST_MIN: usize = 200;

/// Run the test on the features both traces share. `None` when either trace has fewer
/// than [`C2ST_MIN`] requests.
pub fn c2st(a: &Features, b: &Features, options: &C2stOptions) -> Option<C2st> {
    let n = a.len().min(b.len()).min(options.cap);
    let folds = options.folds.max(2);
    if n < C2ST_MIN.max(folds) {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let pick_a = sample_indices(a.len(), n, &mut rng);
    let pick_b = sample_indices(b.len(), n, &mut rng);
    let mut names = Vec::new();
    let mut binned: Vec<Vec<u8>> = Vec::new();
    for col in &a.columns {
        let Some(other) = b.column(col.name) else {
            continue;
        };
        let mut pooled: Vec<f64> = Vec::with_capacity(2 * n);
        match (&col.values, other) {
            (ColumnValues::Numeric(x), ColumnValues::Numeric(y)) => {
                pooled.extend(pick_a.iter().map(|&i| x[i]));
                pooled.extend(pick_b.iter().map(|&i| y[i]));
            }
            (
                ColumnValues::Categorical {
                    names: na,
                    codes: ca,
                },
                ColumnValues::Categorical {
                    names: nb,
                    codes: cb,
                },
            ) => {
                // One code book, sorted by name, so neither trace's order of first
                // appearance matters.
                let mut book: Vec<&str> = na.iter().chain(nb).map(String::as_str).collect();
                book.sort_unstable();
                book.dedup();
                let code = |names: &[String], c: u32| {
                    book.binary_search(&names[c as usize].as_str()).unwrap_or(0) as f64
                };
                pooled.extend(pick_a.iter().map(|&i| code(na, ca[i])));
                pooled.extend(pick_b.iter().map(|&i| code(nb, cb[i])));
            }
            _ => continue,
        }
        names.push(col.name);
        binned.push(quantise(&pooled));
    }
    if names.is_empty() {
        return None;
    }
    // Labels: the first n rows are `a` (0), the rest `b` (1). Folds are assigned per
    // side so each fold is balanced.
    let labels: Vec<bool> = (0..2 * n).map(|i| i >= n).collect();
    let mut fold_of = vec![0usize; 2 * n];
    for side in 0..2 {
        let mut order: Vec<usize> = (side * n..(side + 1) * n).collect();
        shuffle(&mut order, &mut rng);
        for (k, &i) in order.iter().enumerate() {
            fold_of[i] = k % folds;
        }
    }
    let mut auc_sum = 0.0;
    let mut gains = vec![0.0; names.len()];
    let mut single = vec![0.0; names.len()];
    for fold in 0..folds {
        let train: Vec<usize> = (0..2 * n).filter(|&i| fold_of[i] != fold).collect();
        let test: Vec<usize> = (0..2 * n).filter(|&i| fold_of[i] == fold).collect();
        let model = Booster::train(&binned, &labels, &train, options, &mut gains);
        let scores: Vec<f64> = test.iter().map(|&i| model.score(&binned, i)).collect();
        auc_sum += auc(
            &scores,
            &test.iter().map(|&i| labels[i]).collect::<Vec<_>>(),
        );
        let mut unused = [0.0];
        // One feature needs fewer trees to reach its best: a third of the rounds.
        let one = C2stOptions {
            rounds: options.rounds.div_ceil(3),
            ..options.clone()
        };
        for (f, total) in single.iter_mut().enumerate() {
            let x = &binned[f..f + 1];
            let model = Booster::train(x, &labels, &train, &one, &mut unused);
            let scores: Vec<f64> = test.iter().map(|&i| model.score(x, i)).collect();
            *total += auc(
                &scores,
                &test.iter().map(|&i| labels[i]).collect::<Vec<_>>(),
            );
        }
    }
    let total_gain: f64 = gains.iter().sum();
    let features = names
        .iter()
        .enumerate()
        .map(|(f, &name)| FeatureScore {
            name,
            auc: single[f] / folds as f64,
            importance: if total_gain > 0.0 {
                gains[f] / total_gain
            } else {
                0.0
            },
        })
        .collect();
    Some(C2st {
        auc: auc_sum / folds as f64,
        per_side: n,
        features,
    })
}

/// `m` distinct indices of `0..n`, in increasing order (a partial Fisher-Yates).
fn sample_indices(n: usize, m: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut all: Vec<usize> = (0..n).collect();
    for i in 0..m {
        let j = rng.random_range(i..n);
        all.swap(i, j);
    }
    all.truncate(m);
    all.sort_unstable();
    all
}

fn shuffle(v: &mut [usize], rng: &mut ChaCha8Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
}

/// Bin index of each value: bins split at up to [`BINS`] - 1 distinct quantiles of the
/// values themselves, so each bin holds about the same number and a repeated value is
/// never split across two bins.
fn quantise(values: &[f64]) -> Vec<u8> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_unstable_by(f64::total_cmp);
    let mut edges: Vec<f64> = Vec::with_capacity(BINS);
    if !sorted.is_empty() {
        for k in 1..BINS {
            let v = sorted[(k * sorted.len() / BINS).min(sorted.len() - 1)];
            if edges.last() != Some(&v) {
                edges.push(v);
            }
        }
    }
    // Value v goes to the number of edges strictly below or equal to it, so each
    // distinct edge value opens a bin of its own.
    values
        .iter()
        .map(|&v| {
            let v = if v.is_finite() { v } else { f64::MIN };
            edges.partition_point(|&e| e <= v) as u8
        })
        .collect()
}

/// Mann-Whitney AUC of `scores` for label `true` over `false`, ties counted half.
pub fn auc(scores: &[f64], labels: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&i, &j| scores[i].total_cmp(&scores[j]));
    let (mut rank_sum, mut positives) = (0.0, 0usize);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            j += 1;
        }
        // Ranks i+1..=j share their mean.
        let mean_rank = (i + 1 + j) as f64 / 2.0;
        for &k in &order[i..j] {
            if labels[k] {
                rank_sum += mean_rank;
                positives += 1;
            }
        }
        i = j;
    }
    let negatives = scores.len() - positives;
    if positives == 0 || negatives == 0 {
        return 0.5;
    }
    let p = positives as f64;
    (rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64)
}

/// A depth-2 tree: a root split, one split per side, four leaves. A split sends bins
/// `<= threshold` left.
#[derive(Debug, Clone, Copy)]
struct Tree {
    root: (usize, u8),
    children: [Option<(usize, u8)>; 2],
    leaves: [[f64; 2]; 2],
}

impl Tree {
    fn value(&self, x: &[Vec<u8>], i: usize) -> f64 {
        let side = (x[self.root.0][i] > self.root.1) as usize;
        let leaf = self.children[side].map_or(0, |(f, t)| (x[f][i] > t) as usize);
        self.leaves[side][leaf]
    }
}

struct Booster {
    base: f64,
    trees: Vec<Tree>,
}

/// Newton step regulariser and smallest child (rows): keep leaves from fitting a
/// handful of requests.
const LAMBDA: f64 = 1.0;
const MIN_CHILD: usize = 20;

/// Gradient and hessian sums per bin, per feature.
type Histogram = Vec<[f64; 2]>;

impl Booster {
    fn train(
        x: &[Vec<u8>],
        labels: &[bool],
        rows: &[usize],
        options: &C2stOptions,
        gains: &mut [f64],
    ) -> Booster {
        let positives = rows.iter().filter(|&&i| labels[i]).count() as f64;
        let p0 = (positives / rows.len() as f64).clamp(1e-6, 1.0 - 1e-6);
        let base = (p0 / (1.0 - p0)).ln();
        let mut raw = vec![base; rows.len()];
        let mut grad = vec![[0.0; 2]; rows.len()];
        let mut trees = Vec::with_capacity(options.rounds);
        let positions: Vec<usize> = (0..rows.len()).collect();
        // The training rows' bins laid out contiguously, so each histogram pass reads
        // memory in order.
        let xs: Vec<Vec<u8>> = x
            .iter()
            .map(|column| rows.iter().map(|&i| column[i]).collect())
            .collect();
        for _ in 0..options.rounds {
            for (k, &i) in rows.iter().enumerate() {
                let p = 1.0 / (1.0 + (-raw[k]).exp());
                grad[k] = [
                    p - f64::from(u8::from(labels[i])),
                    (p * (1.0 - p)).max(1e-12),
                ];
            }
            let Some((root, gain)) = best_split(&xs, &positions, &grad) else {
                break;
            };
            gains[root.0] += gain;
            let (left, right): (Vec<usize>, Vec<usize>) =
                positions.iter().partition(|&&k| xs[root.0][k] <= root.1);
            let mut tree = Tree {
                root,
                children: [None, None],
                leaves: [[0.0; 2]; 2],
            };
            for (side, part) in [left, right].into_iter().enumerate() {
                let child = best_split(&xs, &part, &grad);
                if let Some((split, gain)) = child {
                    gains[split.0] += gain;
                }
                tree.children[side] = child.map(|c| c.0);
                let mut sums = [[0.0; 2]; 2];
                for &k in &part {
                    let leaf = child.map_or(0, |((f, t), _)| (xs[f][k] > t) as usize);
                    sums[leaf][0] += grad[k][0];
                    sums[leaf][1] += grad[k][1];
                }
                for (value, sum) in tree.leaves[side].iter_mut().zip(sums) {
                    *value = -options.learning_rate * sum[0] / (sum[1] + LAMBDA);
                }
            }
            for (k, r) in raw.iter_mut().enumerate() {
                *r += tree.value(&xs, k);
            }
            trees.push(tree);
        }
        Booster { base, trees }
    }

    fn score(&self, x: &[Vec<u8>], i: usize) -> f64 {
        self.base + self.trees.iter().map(|t| t.value(x, i)).sum::<f64>()
    }
}

/// The split of the training rows at `positions` (indices into `x`'s columns) with the largest loss reduction, over every
/// feature and bin; `None` when no split leaves [`MIN_CHILD`] rows on both sides or
/// improves the loss. Ties keep the first (lowest feature, lowest bin).
fn best_split(x: &[Vec<u8>], positions: &[usize], grad: &[[f64; 2]]) -> Option<((usize, u8), f64)> {
    if positions.len() < 2 * MIN_CHILD {
        return None;
    }
    let (mut g, mut h) = (0.0, 0.0);
    for &k in positions {
        g += grad[k][0];
        h += grad[k][1];
    }
    let parent = g * g / (h + LAMBDA);
    let mut best: Option<((usize, u8), f64)> = None;
    let mut hist: Histogram = vec![[0.0; 2]; BINS];
    let mut count = vec![0usize; BINS];
    for (f, column) in x.iter().enumerate() {
        hist.iter_mut().for_each(|b| *b = [0.0; 2]);
        count.iter_mut().for_each(|c| *c = 0);
        for &k in positions {
            let bin = column[k] as usize;
            hist[bin][0] += grad[k][0];
            hist[bin][1] += grad[k][1];
            count[bin] += 1;
        }
        let (mut gl, mut hl, mut nl) = (0.0, 0.0, 0usize);
        for bin in 0..BINS - 1 {
            gl += hist[bin][0];
            hl += hist[bin][1];
            nl += count[bin];
            let nr = positions.len() - nl;
            if nl < MIN_CHILD {
                continue;
            }
            if nr < MIN_CHILD {
                break;
            }
            let (gr, hr) = (g - gl, h - hl);
            let gain = gl * gl / (hl + LAMBDA) + gr * gr / (hr + LAMBDA) - parent;
            if gain > 1e-9 && best.is_none_or(|(_, b)| gain > b) {
                best = Some(((f, bin as u8), gain));
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, LogNormal};

    fn numeric_features(columns: Vec<(&'static str, Vec<f64>)>) -> Features {
        Features {
            columns: columns
                .into_iter()
                .map(|(name, v)| Column {
                    name,
                    values: ColumnValues::Numeric(v),
                })
                .collect(),
        }
    }

    /// `n` requests with log-normal input and an output correlated with it by `rho`.
    fn draws(n: usize, seed: u64, input_mu: f64, rho: f64) -> Features {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let normal = LogNormal::<f64>::new(0.0, 1.0).unwrap();
        let (mut input, mut output) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let z1 = normal.sample(&mut rng).ln();
            let z2 = normal.sample(&mut rng).ln();
            input.push(input_mu + z1);
            output.push(4.0 + rho * z1 + (1.0 - rho * rho).sqrt() * z2);
        }
        numeric_features(vec![("input", input), ("output", output)])
    }

    fn quick() -> C2stOptions {
        C2stOptions {
            rounds: 60,
            ..C2stOptions::default()
        }
    }

    #[test]
    fn identical_distributions_are_indistinguishable() {
        let a = draws(3000, 1, 7.0, 0.3);
        let b = draws(3000, 2, 7.0, 0.3);
        let r = c2st(&a, &b, &quick()).unwrap();
        // Null sd of a fold's AUC at 600 + 600 is about 0.017; the fold mean's is less.
        assert!((r.auc - 0.5).abs() < 0.03, "{r:?}");
        for f in &r.features {
            assert!((f.auc - 0.5).abs() < 0.03, "{f:?}");
        }
    }

    #[test]
    fn a_shifted_marginal_is_found_and_named() {
        let a = draws(3000, 1, 7.0, 0.3);
        let b = draws(3000, 2, 7.3, 0.3);
        let r = c2st(&a, &b, &quick()).unwrap();
        // A 0.3 sd shift: the best AUC is Phi(0.3 / sqrt 2) = 0.584.
        assert!(r.auc > 0.55, "{r:?}");
        assert!(r.features[0].auc > 0.55, "{r:?}");
        assert!((r.features[1].auc - 0.5).abs() < 0.03, "{r:?}");
        assert!(r.features[0].importance > r.features[1].importance);
    }

    #[test]
    fn a_changed_dependence_with_equal_marginals_is_found() {
        // Same marginals, correlation 0.6 against -0.6: no single feature tells them
        // apart, the pair does.
        let a = draws(3000, 1, 7.0, 0.6);
        let b = draws(3000, 2, 7.0, -0.6);
        let r = c2st(&a, &b, &quick()).unwrap();
        assert!(r.auc > 0.6, "{r:?}");
        for f in &r.features {
            assert!((f.auc - 0.5).abs() < 0.03, "{f:?}");
        }
    }

    #[test]
    fn a_smeared_atom_is_found() {
        // 20 % of inputs at exactly ln(1001) in one trace, spread by +-1 % in the other.
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut make = |smear: bool| {
            let v: Vec<f64> = (0..3000)
                .map(|i| {
                    if i % 5 == 0 {
                        let jitter = if smear {
                            rng.random_range(-0.01..0.01)
                        } else {
                            0.0
                        };
                        1001f64.ln() + jitter
                    } else {
                        rng.random_range(5.0..9.0)
                    }
                })
                .collect();
            numeric_features(vec![("input", v)])
        };
        let (a, b) = (make(false), make(true));
        let r = c2st(&a, &b, &quick()).unwrap();
        assert!(r.auc > 0.54, "{r:?}");
    }

    #[test]
    fn deterministic_and_seeded() {
        let a = draws(1000, 1, 7.0, 0.3);
        let b = draws(1200, 2, 7.1, 0.3);
        let r1 = c2st(&a, &b, &quick()).unwrap();
        let r2 = c2st(&a, &b, &quick()).unwrap();
        assert_eq!(r1, r2);
        assert_eq!(r1.per_side, 1000);
        let other = C2stOptions { seed: 7, ..quick() };
        assert_ne!(c2st(&a, &b, &other).unwrap().auc, r1.auc);
    }

    #[test]
    fn small_traces_and_missing_columns() {
        let a = draws(100, 1, 7.0, 0.3);
        assert!(c2st(&a, &a, &quick()).is_none());
        // Only the shared column is used.
        let a = draws(500, 1, 7.0, 0.3);
        let b = numeric_features(vec![("output", vec![1.0; 500])]);
        let r = c2st(&a, &b, &quick()).unwrap();
        assert_eq!(r.features.len(), 1);
        assert_eq!(r.features[0].name, "output");
    }

    #[test]
    fn auc_by_hand() {
        assert_eq!(auc(&[0.1, 0.2, 0.3, 0.4], &[false, false, true, true]), 1.0);
        assert_eq!(auc(&[0.4, 0.3, 0.2, 0.1], &[false, false, true, true]), 0.0);
        // All tied: 0.5.
        assert_eq!(auc(&[1.0; 4], &[false, true, false, true]), 0.5);
        // One positive above one of two negatives: 0.5; tie counts half.
        assert_eq!(auc(&[0.1, 0.2, 0.3], &[false, true, false]), 0.5);
        assert_eq!(auc(&[0.2, 0.2, 0.1], &[false, true, false]), 0.75);
    }

    #[test]
    fn trace_features_by_hand() {
        use crate::metrics::testing::hand_trace;
        let trace = hand_trace();
        let a = crate::metrics::analyze(&trace);
        let f = a.features(1.0);
        let names: Vec<&str> = f.columns.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "input",
                "output",
                "gap",
                "hit_share",
                "type",
                "turn",
                "think_time"
            ]
        );
        let ColumnValues::Numeric(hits) = f.column("hit_share").unwrap() else {
            panic!("hit share is numeric");
        };
        // The hand trace's per-request hits (testing.rs): 0/3, 2/3, 3/5, 0/2, 4/5.
        let expected = [0.0, 2.0 / 3.0, 0.6, 0.0, 0.8];
        for (h, e) in hits.iter().zip(expected) {
            assert!((h - e).abs() < 1e-12, "{hits:?}");
        }
        let ColumnValues::Numeric(think) = f.column("think_time").unwrap() else {
            panic!("think time is numeric");
        };
        assert_eq!(think[0], NO_PARENT);
        // r2 follows r0 by 5 s, r4 follows r2 by 7 s.
        assert!((think[2] - (5.0 + GAP_FLOOR).ln()).abs() < 1e-12);
        assert!((think[4] - (7.0 + GAP_FLOOR).ln()).abs() < 1e-12);
        let without = crate::metrics::analyze(&crate::metrics::testing::mooncake(&[
            (0.0, &[]),
            (1.0, &[]),
        ]))
        .features(1.0);
        assert_eq!(without.columns.len(), 4, "blocks but no sessions");
    }
}
