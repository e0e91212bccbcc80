//! An empirical quantile function with an exponential upper tail.
//!
//! Empirical quantiles reproduce a marginal best (KS distance stays at the knot spacing),
//! but a pure empirical sampler can never exceed the observed maximum. Above
//! `TAIL_PROB` the top of the distribution is replaced by an exponential tail whose scale
//! is the mean excess over the `TAIL_PROB` quantile, so long or large traces produce
//! extremes beyond the fitted sample at about the rate the data suggests.

use serde::{Deserialize, Serialize};

use super::ModelError;
use crate::metrics::summary::quantile_sorted;

/// Knots of the empirical part, evenly spaced in probability on `[0, TAIL_PROB]`.
const KNOTS: usize = 513;
/// Probability above which the exponential tail takes over.
pub const TAIL_PROB: f64 = 0.995;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantile {
    /// Values at probabilities `TAIL_PROB * i / (len - 1)`; non-decreasing.
    pub knots: Vec<f64>,
    /// Mean excess over the last knot: scale of the exponential tail (0: no tail).
    pub tail_scale: f64,
}

impl Quantile {
    /// Fit from a sample. `None` for an empty sample.
    pub fn fit(values: &[f64]) -> Option<Quantile> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_unstable_by(f64::total_cmp);
        let n = sorted.len();
        let k = KNOTS.min(n.max(2));
        let knots: Vec<f64> = (0..k)
            .map(|i| {
                quantile_sorted(&sorted, TAIL_PROB * i as f64 / (k - 1) as f64).expect("non-empty")
            })
            .collect();
        let top = *knots.last().expect("k >= 2");
        let excess: Vec<f64> = sorted
            .iter()
            .filter(|&&v| v > top)
            .map(|v| v - top)
            .collect();
        let tail_scale = if excess.is_empty() {
            0.0
        } else {
            excess.iter().sum::<f64>() / excess.len() as f64
        };
        Some(Quantile { knots, tail_scale })
    }

    /// Fit from a sample whose values carry weights (e.g. inverse probabilities of being
    /// observed). `None` for an empty sample or zero total weight.
    pub fn fit_weighted(values: &[f64], weights: &[f64]) -> Option<Quantile> {
        let mut pairs: Vec<(f64, f64)> = values
            .iter()
            .zip(weights)
            .filter(|(v, w)| v.is_finite() && w.is_finite() && **w > 0.0)
            .map(|(&v, &w)| (v, w))
            .collect();
        if pairs.is_empty() {
            return None;
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total: f64 = pairs.iter().map(|p| p.1).sum();
        // Each value sits at the middle of its weight's share of [0, 1].
        let mut positions = Vec::with_capacity(pairs.len());
        let mut acc = 0.0;
        for p in &pairs {
            positions.push((acc + p.1 / 2.0) / total);
            acc += p.1;
        }
        let at = |prob: f64| -> f64 {
            let i = positions.partition_point(|&c| c < prob);
            if i == 0 {
                return pairs[0].0;
            }
            if i == pairs.len() {
                return pairs[i - 1].0;
            }
            let (c0, c1) = (positions[i - 1], positions[i]);
            let f = if c1 > c0 {
                (prob - c0) / (c1 - c0)
            } else {
                0.0
            };
            pairs[i - 1].0 + (pairs[i].0 - pairs[i - 1].0) * f
        };
        let k = KNOTS.min(pairs.len().max(2));
        let knots: Vec<f64> = (0..k)
            .map(|i| at(TAIL_PROB * i as f64 / (k - 1) as f64))
            .collect();
        let top = *knots.last().expect("k >= 2");
        let (mut excess, mut weight) = (0.0, 0.0);
        for &(v, w) in pairs.iter().filter(|p| p.0 > top) {
            excess += (v - top) * w;
            weight += w;
        }
        let tail_scale = if weight > 0.0 { excess / weight } else { 0.0 };
        Some(Quantile { knots, tail_scale })
    }

    /// A distribution concentrated on one value.
    pub fn constant(v: f64) -> Quantile {
        Quantile {
            knots: vec![v, v],
            tail_scale: 0.0,
        }
    }

    /// The value at probability `u` in `[0, 1)`.
    pub fn at(&self, u: f64) -> f64 {
        let u = u.clamp(0.0, 1.0);
        let last = self.knots.len() - 1;
        if u >= TAIL_PROB {
            let top = self.knots[last];
            // Inverse of the exponential survival function past the last knot.
            let rel = ((1.0 - TAIL_PROB) / (1.0 - u).max(1e-300)).ln();
            return top + self.tail_scale * rel;
        }
        let x = u / TAIL_PROB * last as f64;
        let i = (x.floor() as usize).min(last - 1);
        let frac = x - i as f64;
        self.knots[i] + (self.knots[i + 1] - self.knots[i]) * frac
    }

    /// The probability at which the function reaches `x` (its inverse): the middle of
    /// the range of probabilities that give `x` when `x` is an atom.
    pub fn cdf(&self, x: f64) -> f64 {
        let last = self.knots.len() - 1;
        let top = self.knots[last];
        if x >= top {
            if self.tail_scale > 0.0 && x > top {
                return 1.0 - (1.0 - TAIL_PROB) * (-(x - top) / self.tail_scale).exp();
            }
            // At the top knot itself (or no tail): the upper end of the knots.
            let first_top = self.knots.partition_point(|&k| k < top);
            let lo = TAIL_PROB * first_top as f64 / last as f64;
            return 0.5
                * (lo
                    + if self.tail_scale > 0.0 {
                        TAIL_PROB
                    } else {
                        1.0
                    });
        }
        let below = self.knots.partition_point(|&k| k < x);
        let upto = self.knots.partition_point(|&k| k <= x);
        let step = TAIL_PROB / last as f64;
        if upto > below {
            // An atom: the knots below..upto all equal x.
            return step * 0.5 * (below + upto - 1) as f64;
        }
        if below == 0 {
            return 0.0;
        }
        let (a, b) = (self.knots[below - 1], self.knots[below]);
        step * ((below - 1) as f64 + (x - a) / (b - a))
    }

    /// The median of the empirical part.
    pub fn median(&self) -> f64 {
        self.at(0.5)
    }

    pub fn validate(&self, what: &str) -> Result<(), ModelError> {
        if self.knots.len() < 2 {
            return Err(ModelError::invalid(
                what,
                "a quantile function needs at least 2 knots",
            ));
        }
        if self.knots.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::invalid(what, "quantile knots must be finite"));
        }
        if self.knots.windows(2).any(|w| w[1] < w[0]) {
            return Err(ModelError::invalid(
                what,
                "quantile knots must be non-decreasing",
            ));
        }
        if !self.tail_scale.is_finite() || self.tail_scale < 0.0 {
            return Err(ModelError::invalid(
                what,
                "tail_scale must be finite and >= 0",
            ));
        }
        Ok(())
    }

    /// [`validate`](Self::validate) for a distribution of token counts: no knot, nor the
    /// tail's scale, beyond the [`MAX_TOKENS`](crate::trace::MAX_TOKENS) a trace line may
    /// carry. Knots may be negative (new tokens of a follow-up whose client trimmed its
    /// history), but not by more than that either. Without this bound a model with knots
    /// scaled by 1e6 loaded and made every line of a run gigabytes of block ids.
    pub fn validate_tokens(&self, what: &str) -> Result<(), ModelError> {
        self.validate(what)?;
        let max = crate::trace::MAX_TOKENS as f64;
        let (lo, hi) = (self.knots[0], self.knots[self.knots.len() - 1]);
        if lo < -max || hi > max || self.tail_scale > max {
            return Err(ModelError::invalid(
                what,
                format!("knots and tail_scale must lie within +-{max} tokens"),
            ));
        }
        Ok(())
    }

    /// [`validate`](Self::validate) for a distribution of durations in seconds: no knot
    /// below 0 (a negative think time puts a child before its parent) and none, nor the
    /// tail's scale, above the 62 days a trace may span.
    pub fn validate_times(&self, what: &str) -> Result<(), ModelError> {
        self.validate(what)?;
        let max = crate::trace::MAX_SPAN;
        if self.knots[0] < 0.0 {
            return Err(ModelError::invalid(
                what,
                format!("{} s: a duration cannot be negative", self.knots[0]),
            ));
        }
        if self.knots[self.knots.len() - 1] > max || self.tail_scale > max {
            return Err(ModelError::invalid(
                what,
                format!("knots and tail_scale must be at most {max} s (62 days)"),
            ));
        }
        Ok(())
    }
}

/// Inverse probability that a lag of `lag` seconds between two events is seen inside a
/// window of `window` seconds (the first event must fall at least `lag` before the
/// end), capped so that a few lags near the window's length cannot dominate.
pub fn inverse_window_weight(lag: f64, window: f64) -> f64 {
    (window / (window - lag).max(window / 20.0)).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    #[test]
    fn reproduces_the_sample_quantiles() {
        let sample: Vec<f64> = (1..=1000).map(f64::from).collect();
        let q = Quantile::fit(&sample).unwrap();
        assert_abs_diff_eq!(q.at(0.0), 1.0);
        assert_abs_diff_eq!(q.median(), 500.5, epsilon = 1.0);
        assert_abs_diff_eq!(q.at(0.9), 900.1, epsilon = 1.0);
    }

    #[test]
    fn the_tail_goes_beyond_the_maximum() {
        let sample: Vec<f64> = (1..=1000).map(f64::from).collect();
        let q = Quantile::fit(&sample).unwrap();
        assert!(q.tail_scale > 0.0);
        assert!(q.at(0.99999) > 1000.0);
        assert!(q.at(0.996) < 1000.0);
    }

    #[test]
    fn keeps_atoms() {
        let mut sample = vec![3.0; 600];
        sample.extend((0..400).map(|i| 100.0 + f64::from(i)));
        let q = Quantile::fit(&sample).unwrap();
        assert_abs_diff_eq!(q.at(0.1), 3.0);
        assert_abs_diff_eq!(q.at(0.55), 3.0);
        assert!(q.at(0.7) > 100.0);
    }

    #[test]
    fn weights_shift_the_quantiles() {
        let values: Vec<f64> = (1..=1000).map(f64::from).collect();
        let even = Quantile::fit_weighted(&values, &vec![1.0; 1000]).unwrap();
        assert_abs_diff_eq!(even.median(), 500.5, epsilon = 1.0);
        // Tripling the weight of the upper half puts the median at its 1/3 point.
        let weights: Vec<f64> = (1..=1000)
            .map(|i| if i > 500 { 3.0 } else { 1.0 })
            .collect();
        let heavy = Quantile::fit_weighted(&values, &weights).unwrap();
        assert_abs_diff_eq!(heavy.median(), 667.0, epsilon = 2.0);
    }

    #[test]
    fn cdf_inverts_the_quantile_function() {
        let sample: Vec<f64> = (1..=1000).map(|i| f64::from(i).powf(1.5)).collect();
        let q = Quantile::fit(&sample).unwrap();
        for u in [0.01, 0.2, 0.5, 0.9, 0.99, 0.999] {
            assert_abs_diff_eq!(q.cdf(q.at(u)), u, epsilon = 1e-6);
        }
        let atoms = Quantile::fit(&[1.0, 1.0, 1.0, 2.0]).unwrap();
        assert!(atoms.cdf(1.0) > 0.2 && atoms.cdf(1.0) < 0.6);
    }

    #[test]
    fn rejects_decreasing_knots() {
        let q = Quantile {
            knots: vec![2.0, 1.0],
            tail_scale: 0.0,
        };
        assert!(q.validate("x").is_err());
        assert!(Quantile::fit(&[]).is_none());
    }
}
