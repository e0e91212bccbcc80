//! A Gaussian copula: the dependence between two quantities (input and output length,
//! new tokens and output) without fixing their marginals.
//!
//! Peers either draw the two independently or from one uniform (comonotone); real traces
//! sit in between, so the fitted rank correlation is kept.

use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use statrs::function::erf::{erf_inv, erfc};

use super::ModelError;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GaussianCopula {
    /// Correlation of the underlying normals.
    pub rho: f64,
    /// Spearman rank correlation it was fitted from, for the reader of the model file.
    pub spearman: f64,
}

impl GaussianCopula {
    pub fn independent() -> Self {
        GaussianCopula {
            rho: 0.0,
            spearman: 0.0,
        }
    }

    /// Fit from paired samples through Spearman's rho (`rho = 2 sin(pi rho_s / 6)`, exact
    /// for the Gaussian copula).
    pub fn fit(xs: &[f64], ys: &[f64]) -> Self {
        GaussianCopula::from_spearman(spearman(xs, ys))
    }

    /// The copula with this Spearman rank correlation (where only the target rank
    /// correlation is known, not paired samples).
    pub fn from_spearman(rs: f64) -> Self {
        let rho = (2.0 * (std::f64::consts::PI * rs / 6.0).sin()).clamp(-0.999, 0.999);
        GaussianCopula { rho, spearman: rs }
    }

    /// Two uniforms with the fitted dependence.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> (f64, f64) {
        let z1: f64 = StandardNormal.sample(rng);
        let e: f64 = StandardNormal.sample(rng);
        let z2 = self.rho * z1 + (1.0 - self.rho * self.rho).sqrt() * e;
        (normal_cdf(z1), normal_cdf(z2))
    }

    /// A second uniform given the first (`u1`, the rank of a value already drawn).
    pub fn conditional<R: Rng + ?Sized>(&self, rng: &mut R, u1: f64) -> f64 {
        let z1 = normal_quantile(u1);
        let e: f64 = StandardNormal.sample(rng);
        normal_cdf(self.rho * z1 + (1.0 - self.rho * self.rho).sqrt() * e)
    }

    pub fn validate(&self, what: &str) -> Result<(), ModelError> {
        if !self.rho.is_finite() || self.rho.abs() >= 1.0 {
            return Err(ModelError::invalid(what, "copula rho must lie in (-1, 1)"));
        }
        Ok(())
    }
}

/// Cells per side of a [`GridCopula`]: about four pairs per cell on average, at most
/// [`GRID_MAX`] (finer grids cost model size for structure a few thousand pairs cannot
/// show).
const GRID_PAIRS_PER_CELL: usize = 4;
const GRID_MIN: usize = 4;
pub const GRID_MAX: usize = 64;

/// A checkerboard copula: the empirical copula of the fitted pairs on a grid of rank
/// cells, uniform inside a cell. Where the Gaussian copula keeps one rank correlation, this
/// keeps the local structure real lengths have: a templated prompt of one exact length
/// whose answers are short, next to long documents whose answers are long, in a trace
/// whose overall correlation is near zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridCopula {
    /// Cells per side.
    pub cells: u32,
    /// One entry per cell of the first variable's rank: `[column, pairs]` of its
    /// non-empty cells, columns increasing. Written as one `"column:pairs ..."` string
    /// per row, so a 64 x 64 grid is 64 lines of the model file, not thousands.
    #[serde(with = "grid_rows")]
    pub rows: Vec<Vec<[u32; 2]>>,
}

mod grid_rows {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(rows: &[Vec<[u32; 2]>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(rows.iter().map(|row| {
            row.iter()
                .map(|c| format!("{}:{}", c[0], c[1]))
                .collect::<Vec<_>>()
                .join(" ")
        }))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<[u32; 2]>>, D::Error> {
        let text: Vec<String> = Vec::deserialize(d)?;
        text.iter()
            .map(|row| {
                row.split_whitespace()
                    .map(|cell| {
                        let (col, n) = cell
                            .split_once(':')
                            .ok_or_else(|| D::Error::custom(format!("grid cell `{cell}`")))?;
                        let parse = |v: &str| {
                            v.parse::<u32>()
                                .map_err(|_| D::Error::custom(format!("grid cell `{cell}`")))
                        };
                        Ok([parse(col)?, parse(n)?])
                    })
                    .collect()
            })
            .collect()
    }
}

impl GridCopula {
    /// Fit from paired samples. Ties are ranked in sample order, so a value many pairs
    /// repeat (an atom) spreads over the cells its share of the ranks covers, as the
    /// quantile function that maps those ranks back spreads it. `None` below
    /// `GRID_PAIRS_PER_CELL * GRID_MIN^2` pairs.
    pub fn fit(xs: &[f64], ys: &[f64]) -> Option<GridCopula> {
        let n = xs.len().min(ys.len());
        let cells = ((n / GRID_PAIRS_PER_CELL) as f64).sqrt().floor() as usize;
        if cells < GRID_MIN {
            return None;
        }
        let cells = cells.min(GRID_MAX);
        let cell_of = |v: &[f64]| -> Vec<usize> {
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&a, &b| v[a].total_cmp(&v[b]).then(a.cmp(&b)));
            let mut cell = vec![0; n];
            for (rank, &i) in order.iter().enumerate() {
                cell[i] = rank * cells / n;
            }
            cell
        };
        let (cx, cy) = (cell_of(xs), cell_of(ys));
        let mut counts = vec![vec![0u32; cells]; cells];
        for i in 0..n {
            counts[cx[i]][cy[i]] += 1;
        }
        let rows = counts
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .enumerate()
                    .filter(|&(_, c)| c > 0)
                    .map(|(col, c)| [col as u32, c])
                    .collect()
            })
            .collect();
        Some(GridCopula {
            cells: cells as u32,
            rows,
        })
    }

    /// Two uniforms with the fitted dependence.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> (f64, f64) {
        let u1: f64 = rng.random();
        (u1, self.conditional(rng, u1))
    }

    /// A second uniform given the first: a column of `u1`'s row drawn by its pairs,
    /// then a uniform position inside it.
    pub fn conditional<R: Rng + ?Sized>(&self, rng: &mut R, u1: f64) -> f64 {
        let m = self.cells as usize;
        let row = &self.rows[((u1.clamp(0.0, 1.0) * m as f64) as usize).min(m - 1)];
        let total: u64 = row.iter().map(|c| u64::from(c[1])).sum();
        let mut pick = rng.random_range(0..total.max(1));
        let mut col = row.last().map_or(0, |c| c[0]);
        for c in row {
            if pick < u64::from(c[1]) {
                col = c[0];
                break;
            }
            pick -= u64::from(c[1]);
        }
        (f64::from(col) + rng.random::<f64>()) / m as f64
    }

    pub fn validate(&self, what: &str) -> Result<(), ModelError> {
        let m = self.cells as usize;
        if !(1..=GRID_MAX).contains(&m) || self.rows.len() != m {
            return Err(ModelError::invalid(
                what,
                "grid copula needs 1..=64 cells and one row per cell",
            ));
        }
        for row in &self.rows {
            if row.is_empty() || row.iter().any(|c| c[0] as usize >= m || c[1] == 0) {
                return Err(ModelError::invalid(
                    what,
                    "every grid row needs cells with a column below `cells` and pairs > 0",
                ));
            }
            if row.windows(2).any(|w| w[0][0] >= w[1][0]) {
                return Err(ModelError::invalid(what, "grid columns must increase"));
            }
        }
        Ok(())
    }
}

fn normal_quantile(u: f64) -> f64 {
    std::f64::consts::SQRT_2 * erf_inv(2.0 * u.clamp(1e-12, 1.0 - 1e-12) - 1.0)
}

fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Spearman's rank correlation (the metrics module's), 0 where it is undefined (fewer
/// than two pairs, a constant side): no dependence is then the safe fit.
pub fn spearman(xs: &[f64], ys: &[f64]) -> f64 {
    crate::metrics::summary::spearman(xs, ys).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use rand::SeedableRng;

    #[test]
    fn spearman_of_monotone_and_reversed_samples() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert_abs_diff_eq!(spearman(&x, &[10.0, 20.0, 30.0, 40.0]), 1.0);
        assert_abs_diff_eq!(spearman(&x, &[4.0, 3.0, 2.0, 1.0]), -1.0);
        // Ties share their average rank: ranks of y are 0.5, 0.5, 2, 3.
        assert!(spearman(&x, &[1.0, 1.0, 2.0, 3.0]) > 0.9);
    }

    #[test]
    fn conditional_draws_keep_the_rank_correlation() {
        let c = GaussianCopula {
            rho: 0.6,
            spearman: 0.0,
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let xs: Vec<f64> = (0..20_000).map(|i| (i as f64 + 0.5) / 20_000.0).collect();
        let ys: Vec<f64> = xs.iter().map(|&u| c.conditional(&mut rng, u)).collect();
        let want = 6.0 / std::f64::consts::PI * (0.6_f64 / 2.0).asin();
        assert_abs_diff_eq!(spearman(&xs, &ys), want, epsilon = 0.02);
    }

    #[test]
    fn the_grid_keeps_local_structure_a_rank_correlation_cannot() {
        // Two clusters with opposite slopes: short inputs get outputs that fall as the
        // input grows, long inputs outputs that rise. The overall Spearman is near 0,
        // yet output is nearly a function of input.
        let n = 8000;
        let xs: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let ys: Vec<f64> = xs
            .iter()
            .map(|&x| if x < 4000.0 { 4000.0 - x } else { x - 4000.0 })
            .collect();
        let grid = GridCopula::fit(&xs, &ys).unwrap();
        assert_eq!(grid.cells, 44);
        grid.validate("grid").unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let (mut close, mut total) = (0, 0);
        for _ in 0..4000 {
            let (u1, u2) = grid.sample(&mut rng);
            // Ranks of x and y: y's rank is |2 u1 - 1| up to a cell.
            total += 1;
            if (u2 - (2.0 * u1 - 1.0).abs()).abs() < 2.5 / 44.0 {
                close += 1;
            }
        }
        assert!(close as f64 / total as f64 > 0.95, "{close}/{total}");
        // The Gaussian copula of the same pairs is near independence.
        assert!(GaussianCopula::fit(&xs, &ys).rho.abs() < 0.05);
        // Too few pairs for a grid.
        assert!(GridCopula::fit(&xs[..50], &ys[..50]).is_none());
    }

    #[test]
    fn the_grid_keeps_the_rank_correlation() {
        let c = GaussianCopula::from_spearman(0.5);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let (xs, ys): (Vec<f64>, Vec<f64>) = (0..20_000).map(|_| c.sample(&mut rng)).unzip();
        let grid = GridCopula::fit(&xs, &ys).unwrap();
        let (a, b): (Vec<f64>, Vec<f64>) = (0..20_000).map(|_| grid.sample(&mut rng)).unzip();
        assert_abs_diff_eq!(spearman(&a, &b), 0.5, epsilon = 0.03);
        let mut broken = grid.clone();
        broken.rows[0].clear();
        assert!(broken.validate("grid").is_err());
        let json = serde_json::to_string(&grid).unwrap();
        assert_eq!(serde_json::from_str::<GridCopula>(&json).unwrap(), grid);
        assert!(serde_json::from_str::<GridCopula>(r#"{"cells":1,"rows":["0:x"]}"#).is_err());
    }

    #[test]
    fn sampled_pairs_keep_the_fitted_rank_correlation() {
        let c = GaussianCopula {
            rho: 2.0 * (std::f64::consts::PI * 0.4 / 6.0).sin(),
            spearman: 0.4,
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let (xs, ys): (Vec<f64>, Vec<f64>) = (0..20_000).map(|_| c.sample(&mut rng)).unzip();
        assert_abs_diff_eq!(spearman(&xs, &ys), 0.4, epsilon = 0.02);
        let refit = GaussianCopula::fit(&xs, &ys);
        assert_abs_diff_eq!(refit.rho, c.rho, epsilon = 0.03);
    }
}
