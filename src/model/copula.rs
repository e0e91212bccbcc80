//! A Gaussian copula: the dependence between two quantities (input and output length,
//! new tokens and output) without fixing their marginals.
//!
//! Peers either draw the two independently or from one uniform (comonotone); real traces
//! sit in between, so the fitted rank correlation is kept.

use rand::Rng;
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

    /// The copula density at `(u, v)`.
    pub fn density(&self, u: f64, v: f64) -> f64 {
        let (x, y) = (normal_quantile(u), normal_quantile(v));
        let r = self.rho;
        let q = 1.0 - r * r;
        (-(r * r * (x * x + y * y) - 2.0 * r * x * y) / (2.0 * q)).exp() / q.sqrt()
    }

    pub fn validate(&self, what: &str) -> Result<(), ModelError> {
        if !self.rho.is_finite() || self.rho.abs() >= 1.0 {
            return Err(ModelError::invalid(what, "copula rho must lie in (-1, 1)"));
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
