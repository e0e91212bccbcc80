//! A checkerboard copula: the dependence between two quantities as the share of pairs in
//! each cell of a grid over their ranks.
//!
//! A Gaussian copula keeps one number, the rank correlation. Real length pairs are often
//! mixtures (short questions with long answers beside long documents with short ones, a
//! template's fixed prompt with any answer), whose rank correlation is near zero while the
//! pairs are far from independent: a classifier tells such pairs from Gaussian-copula draws
//! at once. The grid keeps where the pairs are, at a resolution the sample supports, and
//! any marginal can be put back on it.
//!
//! A grid fitted to few pairs is mostly noise, and a smooth rank correlation is then the
//! better model. So draws come from a mixture: the grid with a weight that held-out pairs
//! choose (each half of the sample scores the other half's grid against its Gaussian
//! copula), the Gaussian copula otherwise. Large samples with structure give the grid
//! nearly all the weight. Where the held-out pairs do not favour the mixture over the
//! Gaussian copula alone by a clear margin ([`MIN_GAIN_NATS`]), no grid is kept at all:
//! a grid the data cannot tell from noise only adds noise (and random draws) to the
//! output.

use rand::seq::SliceRandom;
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::ModelError;
use super::copula::GaussianCopula;

/// Pairs per cell, on average, that the grid's resolution is chosen for: fewer cells than
/// this makes the cell shares noise.
const PAIRS_PER_CELL: f64 = 25.0;
/// The coarsest grid fitted: a 2 x 2 or 3 x 3 checkerboard says less than the Gaussian
/// copula's one smooth number, and its few cells' noise then only hurts.
pub const MIN_CELLS: usize = 4;
/// The finest grid kept (a model file stays small; finer structure is the marginals').
pub const MAX_CELLS: usize = 24;
/// Pseudo-pairs per cell spread evenly (a prior of independence), so an empty cell of a
/// small sample is unlikely, not impossible.
const PRIOR_PER_CELL: f64 = 0.5;

/// Bisection steps for the mixture weight (the likelihood is concave in it; 64 halvings
/// reach the resolution of an `f64` in `[0, 1]`).
const WEIGHT_STEPS: usize = 64;

/// The held-out log-likelihood gain (nats, over all pairs) the mixture must show over the
/// Gaussian copula alone for a grid to be kept: 3 nats is a likelihood ratio of 20, "strong"
/// evidence on the Kass-Raftery scale (2 ln B > 6). The grids are scored on pairs they did
/// not see, so the only fitted number the gain flatters is the weight, worth about half a
/// nat when the grid adds nothing.
pub const MIN_GAIN_NATS: f64 = 3.0;

/// The fitted grid as stored: counts per cell, row-major, rows the first quantity's ranks,
/// and the share of draws that come from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridCounts {
    pub cells: usize,
    pub weight: f64,
    pub counts: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "GridCounts", into = "GridCounts")]
pub struct GridCopula {
    cells: usize,
    /// Share of draws from the grid; the rest come from the Gaussian copula beside it.
    weight: f64,
    counts: Vec<u64>,
    /// Cumulative cell probabilities (with the prior), row-major: built once on load.
    cumulative: Vec<f64>,
}

impl From<GridCounts> for GridCopula {
    fn from(g: GridCounts) -> Self {
        GridCopula::from_counts(g.cells, g.weight, g.counts)
    }
}

impl From<GridCopula> for GridCounts {
    fn from(g: GridCopula) -> Self {
        GridCounts {
            cells: g.cells,
            weight: g.weight,
            counts: g.counts,
        }
    }
}

impl GridCopula {
    /// Fit from paired samples, beside the Gaussian copula `smooth` fitted to the same
    /// pairs; `None` when there are too few pairs for a [`MIN_CELLS`]-square grid, or when
    /// held-out pairs do not prefer the grid by [`MIN_GAIN_NATS`]. Ties are broken at
    /// random (seeded, so a fit is reproducible): within a run of equal values the other
    /// quantity carries no order, and the ranks stay uniform.
    pub fn fit(xs: &[f64], ys: &[f64], smooth: &GaussianCopula) -> Option<GridCopula> {
        assert_eq!(xs.len(), ys.len(), "paired samples");
        let n = xs.len();
        let cells = ((n as f64 / PAIRS_PER_CELL).sqrt().floor() as usize).min(MAX_CELLS);
        if cells < MIN_CELLS {
            return None;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(TIE_SEED);
        let rx = ranks(xs, &mut rng);
        let ry = ranks(ys, &mut rng);
        let cell_of = |i: usize| (rx[i] * cells / n) * cells + ry[i] * cells / n;
        let count = |keep: &dyn Fn(usize) -> bool| {
            let mut counts = vec![0u64; cells * cells];
            for i in (0..n).filter(|&i| keep(i)) {
                counts[cell_of(i)] += 1;
            }
            counts
        };
        // Each half's grid, scored on the other half: the grid's density there against
        // the Gaussian copula's. Halves at random, not by position, which a source's
        // order may carry structure in.
        let half: Vec<usize> = (0..n).map(|_| usize::from(rng.random::<bool>())).collect();
        let halves = [
            GridCopula::from_counts(cells, 1.0, count(&|i| half[i] == 0)),
            GridCopula::from_counts(cells, 1.0, count(&|i| half[i] == 1)),
        ];
        let scored: Vec<(f64, f64)> = (0..n)
            .map(|i| {
                let other = &halves[1 - half[i]];
                let u = (rx[i] as f64 + 0.5) / n as f64;
                let v = (ry[i] as f64 + 0.5) / n as f64;
                (other.density(cell_of(i)), smooth.density(u, v))
            })
            .collect();
        let weight = mixture_weight(&scored);
        if held_out_gain(&scored, weight) < MIN_GAIN_NATS {
            return None;
        }
        Some(GridCopula::from_counts(cells, weight, count(&|_| true)))
    }

    /// The grid's density in `cell` (cells have area `1 / cells^2`).
    fn density(&self, cell: usize) -> f64 {
        let below = if cell == 0 {
            0.0
        } else {
            self.cumulative[cell - 1]
        };
        (self.cumulative[cell] - below) * (self.cells * self.cells) as f64
    }

    pub fn weight(&self) -> f64 {
        self.weight
    }

    fn from_counts(cells: usize, weight: f64, counts: Vec<u64>) -> GridCopula {
        let total: f64 = counts.iter().sum::<u64>() as f64 + PRIOR_PER_CELL * counts.len() as f64;
        let mut acc = 0.0;
        let cumulative = counts
            .iter()
            .map(|&c| {
                acc += (c as f64 + PRIOR_PER_CELL) / total;
                acc
            })
            .collect();
        GridCopula {
            cells,
            weight,
            counts,
            cumulative,
        }
    }

    pub fn cells(&self) -> usize {
        self.cells
    }

    /// Two uniforms with the fitted dependence.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> (f64, f64) {
        let u: f64 = rng.random();
        let cell = self
            .cumulative
            .partition_point(|&c| c <= u)
            .min(self.counts.len() - 1);
        let (row, col) = (cell / self.cells, cell % self.cells);
        let g = self.cells as f64;
        (
            (row as f64 + rng.random::<f64>()) / g,
            (col as f64 + rng.random::<f64>()) / g,
        )
    }

    pub fn validate(&self, what: &str) -> Result<(), ModelError> {
        if !(MIN_CELLS..=MAX_CELLS).contains(&self.cells) {
            return Err(ModelError::invalid(
                what,
                format!("grid copula cells must lie in {MIN_CELLS}..={MAX_CELLS}"),
            ));
        }
        if !(0.0..=1.0).contains(&self.weight) {
            return Err(ModelError::invalid(
                what,
                "grid copula weight must lie in [0, 1]",
            ));
        }
        if self.counts.len() != self.cells * self.cells {
            return Err(ModelError::invalid(
                what,
                "grid copula counts must have cells * cells entries",
            ));
        }
        Ok(())
    }
}

/// A fixed seed for tie-breaking: a fit depends on nothing but its input.
const TIE_SEED: u64 = 0x0c0b_01a7;

/// The weight `w` maximising the likelihood of `w * a + (1 - w) * b` over pairs of
/// component densities `(a, b)`. The log-likelihood is concave in `w`, so its slope falls
/// and the maximum is where the slope crosses zero, or an end of `[0, 1]`: bisection finds
/// it exactly. (EM, tried first, creeps toward a maximum at `w = 0` only like `1 / steps`,
/// and left weights of 0.1 to 0.2 on grids that lost to the Gaussian copula.)
fn mixture_weight(densities: &[(f64, f64)]) -> f64 {
    let slope = |w: f64| -> f64 {
        densities
            .iter()
            .map(|&(a, b)| (a - b) / (w * a + (1.0 - w) * b))
            .sum()
    };
    if slope(0.0) <= 0.0 {
        return 0.0;
    }
    if slope(1.0) >= 0.0 {
        return 1.0;
    }
    let (mut lo, mut hi) = (0.0, 1.0);
    for _ in 0..WEIGHT_STEPS {
        let mid = 0.5 * (lo + hi);
        if slope(mid) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Log-likelihood of the mixture with grid weight `w` less that of `b` alone, in nats.
fn held_out_gain(densities: &[(f64, f64)], w: f64) -> f64 {
    densities
        .iter()
        .map(|&(a, b)| ((w * a + (1.0 - w) * b) / b).ln())
        .sum()
}

/// Ordinal ranks `0..n`, ties in random order.
fn ranks(values: &[f64], rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.shuffle(rng);
    // A stable sort of a shuffled order: equal values keep their random order.
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut rank = vec![0; values.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r;
    }
    rank
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    /// A mixture whose rank correlation is near zero though the pairs are far from
    /// independent: half the pairs on the rising diagonal, half on the falling one.
    fn cross(n: usize, rng: &mut ChaCha8Rng) -> (Vec<f64>, Vec<f64>) {
        (0..n)
            .map(|i| {
                let x: f64 = rng.random();
                let y = if i % 2 == 0 { x } else { 1.0 - x };
                (x, (y + 0.01 * rng.random::<f64>()).min(1.0))
            })
            .unzip()
    }

    #[test]
    fn a_cross_shaped_dependence_survives_where_a_rank_correlation_sees_none() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (xs, ys) = cross(20_000, &mut rng);
        let grid = GridCopula::fit(&xs, &ys, &GaussianCopula::fit(&xs, &ys)).unwrap();
        assert_eq!(grid.cells(), MAX_CELLS);
        let (a, b): (Vec<f64>, Vec<f64>) = (0..20_000).map(|_| grid.sample(&mut rng)).unzip();
        // Near either diagonal, as the source: |a - b| or |a + b - 1| small.
        let on_a_diagonal = a
            .iter()
            .zip(&b)
            .filter(|&(x, y)| (x - y).abs() < 0.1 || (x + y - 1.0).abs() < 0.1)
            .count() as f64
            / a.len() as f64;
        assert!(on_a_diagonal > 0.9, "{on_a_diagonal}");
        // Independent uniforms would land there about 36 % of the time.
    }

    #[test]
    fn both_margins_stay_uniform() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let (xs, ys) = cross(10_000, &mut rng);
        let grid = GridCopula::fit(&xs, &ys, &GaussianCopula::fit(&xs, &ys)).unwrap();
        let (a, b): (Vec<f64>, Vec<f64>) = (0..40_000).map(|_| grid.sample(&mut rng)).unzip();
        for side in [a, b] {
            let below = side.iter().filter(|&&u| u < 0.3).count() as f64 / side.len() as f64;
            assert_abs_diff_eq!(below, 0.3, epsilon = 0.015);
        }
    }

    #[test]
    fn ties_spread_over_the_rows_an_atom_covers() {
        // 40 % of x is one value: its pairs must fill the bottom 40 % of the rows, not one.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let xs: Vec<f64> = (0..10_000)
            .map(|i| {
                if i % 5 < 2 {
                    1.0
                } else {
                    1.0 + rng.random::<f64>()
                }
            })
            .collect();
        // The atom's partners are uniform; the rest lie on a cross, structure enough for
        // the grid to be kept.
        let ys: Vec<f64> = xs
            .iter()
            .enumerate()
            .map(|(i, &x)| match (x == 1.0, i % 2) {
                (true, _) => rng.random(),
                (false, 0) => x - 1.0,
                (false, _) => 2.0 - x,
            })
            .collect();
        let grid = GridCopula::fit(&xs, &ys, &GaussianCopula::fit(&xs, &ys)).unwrap();
        let g = grid.cells();
        let rows: Vec<u64> = (0..g)
            .map(|r| grid.counts[r * g..(r + 1) * g].iter().sum())
            .collect();
        let (lo, hi) = (*rows.iter().min().unwrap(), *rows.iter().max().unwrap());
        assert!(hi - lo <= 1, "rows {rows:?}");
    }

    #[test]
    fn held_out_pairs_weigh_the_grid_by_what_it_adds() {
        // Structure a rank correlation misses: nearly all the weight on the grid.
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let (xs, ys) = cross(20_000, &mut rng);
        let grid = GridCopula::fit(&xs, &ys, &GaussianCopula::fit(&xs, &ys)).unwrap();
        assert!(grid.weight() > 0.9, "{}", grid.weight());
        // Gaussian pairs: the grid adds only noise, and is not kept, at any sample size
        // and on every seed tried.
        let smooth = GaussianCopula::from_spearman(0.5);
        for (seed, n) in [(7, 2_000), (8, 10_000), (9, 20_000), (10, 5_000)] {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let (xs, ys): (Vec<f64>, Vec<f64>) = (0..n).map(|_| smooth.sample(&mut rng)).unzip();
            let grid = GridCopula::fit(&xs, &ys, &GaussianCopula::fit(&xs, &ys));
            assert!(grid.is_none(), "n {n}: {grid:?}");
        }
    }

    #[test]
    fn the_weight_is_the_likelihood_maximum_ends_included() {
        // The second density wins everywhere: the maximum is at 0 exactly (EM would
        // still be near 0.01 after 100 steps from 0.5).
        let losing: Vec<(f64, f64)> = (0..100).map(|i| (0.5 + 0.001 * i as f64, 1.0)).collect();
        assert_eq!(mixture_weight(&losing), 0.0);
        assert_eq!(held_out_gain(&losing, 0.0), 0.0);
        let winning: Vec<(f64, f64)> = losing.iter().map(|&(a, b)| (b, a)).collect();
        assert_eq!(mixture_weight(&winning), 1.0);
        // Half the pairs favour each side 2:1 and 1:2: by symmetry the maximum is 1/2.
        let even: Vec<(f64, f64)> = (0..100)
            .map(|i| if i % 2 == 0 { (2.0, 1.0) } else { (1.0, 2.0) })
            .collect();
        assert_abs_diff_eq!(mixture_weight(&even), 0.5, epsilon = 1e-12);
        // An interior maximum: the slope of the log-likelihood is zero there.
        let mixed: Vec<(f64, f64)> = (0..90)
            .map(|i| if i % 3 == 0 { (4.0, 1.0) } else { (0.5, 1.0) })
            .collect();
        let w = mixture_weight(&mixed);
        let slope: f64 = mixed
            .iter()
            .map(|&(a, b)| (a - b) / (w * a + (1.0 - w) * b))
            .sum();
        assert!(
            w > 0.0 && w < 1.0 && slope.abs() < 1e-9,
            "w {w}, slope {slope}"
        );
        assert!(held_out_gain(&mixed, w) > held_out_gain(&mixed, w + 0.01));
        assert!(held_out_gain(&mixed, w) > held_out_gain(&mixed, w - 0.01));
    }

    #[test]
    fn too_few_pairs_fit_no_grid_and_a_model_file_round_trips() {
        assert!(GridCopula::fit(&[1.0; 50], &[2.0; 50], &GaussianCopula::independent()).is_none());
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (xs, ys) = cross(1_000, &mut rng);
        let grid = GridCopula::fit(&xs, &ys, &GaussianCopula::fit(&xs, &ys)).unwrap();
        let json = serde_json::to_string(&grid).unwrap();
        let back: GridCopula = serde_json::from_str(&json).unwrap();
        assert_eq!(back, grid);
        assert!(back.validate("g").is_ok());
        let bad: GridCopula =
            serde_json::from_str(r#"{"cells":4,"weight":0.5,"counts":[1,2]}"#).unwrap();
        assert!(bad.validate("g").is_err());
    }
}
