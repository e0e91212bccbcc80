//! Session starts (roots): a time-varying rate over the span times bursty renewal gaps.
//!
//! Roots are placed in operational time: with `Lambda(t)` the integrated rate, the
//! differences `Lambda(t_{i+1}) - Lambda(t_i)` are unit-mean renewal gaps. The rate profile
//! carries the slow swings, the gap distribution (Gamma, Weibull or empirical, picked by
//! KS distance) the burstiness within them. Follow-ups are not arrivals: they come from
//! the session model.

use rand::{Rng, RngExt};
use rand_distr::{Distribution, Gamma as GammaSampler, Weibull as WeibullSampler};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Gamma, Weibull};
use statrs::function::gamma::gamma as gamma_fn;

use super::ModelError;
use super::quantile::Quantile;

/// A parametric fit is kept unless the empirical one beats it by more than this KS.
const PARAMETRIC_SLACK: f64 = 0.01;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArrivalModel {
    /// Width of one rate bin, seconds.
    pub bin_width: f64,
    /// Roots per second in each bin over the fitted span.
    pub rates: Vec<f64>,
    /// Probability that a gap is exactly zero (ties in the source).
    pub zero_gap_prob: f64,
    /// Distribution of the non-zero gaps in operational time, scaled to mean 1.
    pub gaps: GapDist,
    /// KS distance of each candidate to the fitted gaps, for the reader of the model.
    pub gap_fit_ks: GapFitKs,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum GapDist {
    /// Gamma with this shape and mean 1 (CV = 1/sqrt(shape)).
    Gamma {
        shape: f64,
    },
    /// Weibull with this shape and mean 1.
    Weibull {
        shape: f64,
    },
    Empirical {
        quantile: Quantile,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GapFitKs {
    pub gamma: f64,
    pub weibull: f64,
    pub empirical: f64,
}

impl ArrivalModel {
    /// Fit from the sorted root times (seconds from the trace start) over `span` seconds.
    pub fn fit(root_times: &[f64], span: f64) -> ArrivalModel {
        let span = span.max(1e-3);
        let n_bins = ((span / bin_target(span)).round() as usize).max(1);
        let bin_width = span / n_bins as f64;
        let mut counts = vec![0usize; n_bins];
        for &t in root_times {
            counts[((t / bin_width) as usize).min(n_bins - 1)] += 1;
        }
        let rates: Vec<f64> = counts.iter().map(|&c| c as f64 / bin_width).collect();
        let profile = RateProfile::new(bin_width, rates.clone());
        let op: Vec<f64> = root_times.iter().map(|&t| profile.integral(t)).collect();
        let gaps: Vec<f64> = op.windows(2).map(|w| (w[1] - w[0]).max(0.0)).collect();
        let zeros = gaps.iter().filter(|&&g| g == 0.0).count();
        let zero_gap_prob = if gaps.is_empty() {
            0.0
        } else {
            zeros as f64 / gaps.len() as f64
        };
        let mut positive: Vec<f64> = gaps.into_iter().filter(|&g| g > 0.0).collect();
        let (gaps, gap_fit_ks) = fit_gaps(&mut positive);
        ArrivalModel {
            bin_width,
            rates,
            zero_gap_prob,
            gaps,
            gap_fit_ks,
        }
    }

    /// Mean roots per second over the fitted span.
    pub fn mean_rate(&self) -> f64 {
        self.rates.iter().sum::<f64>() / self.rates.len() as f64
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        let what = "arrivals";
        if !(self.bin_width.is_finite() && self.bin_width > 0.0) {
            return Err(ModelError::invalid(what, "bin_width must be > 0"));
        }
        if self.rates.is_empty() || self.rates.iter().any(|r| !r.is_finite() || *r < 0.0) {
            return Err(ModelError::invalid(
                what,
                "rates must be a non-empty list of finite values >= 0",
            ));
        }
        if self.rates.iter().all(|&r| r == 0.0) {
            return Err(ModelError::invalid(what, "at least one rate must be > 0"));
        }
        if !(0.0..1.0).contains(&self.zero_gap_prob) {
            return Err(ModelError::invalid(
                what,
                "zero_gap_prob must lie in [0, 1)",
            ));
        }
        match &self.gaps {
            GapDist::Gamma { shape } | GapDist::Weibull { shape }
                if !(shape.is_finite() && *shape > 0.0) =>
            {
                Err(ModelError::invalid(what, "gap shape must be > 0"))
            }
            GapDist::Empirical { quantile } => quantile.validate("arrivals.gaps"),
            _ => Ok(()),
        }
    }

    /// A sampler of unit-mean operational-time gaps, zeros included.
    pub fn gap_sampler(&self) -> GapSampler {
        let nonzero_mean = 1.0 / (1.0 - self.zero_gap_prob);
        let kind = match &self.gaps {
            GapDist::Gamma { shape } => {
                GapKind::Gamma(GammaSampler::new(*shape, 1.0 / shape).expect("validated shape"))
            }
            GapDist::Weibull { shape } => GapKind::Weibull(
                WeibullSampler::new(1.0 / gamma_fn(1.0 + 1.0 / shape), *shape)
                    .expect("validated shape"),
            ),
            GapDist::Empirical { quantile } => GapKind::Empirical(quantile.clone()),
        };
        GapSampler {
            kind,
            zero_prob: self.zero_gap_prob,
            nonzero_mean,
        }
    }
}

/// Bins long enough to hold a few hundred roots at typical rates, short enough to follow
/// a daily swing: 1/24 of the span, between one minute and one hour.
fn bin_target(span: f64) -> f64 {
    (span / 24.0).clamp(60.0, 3600.0)
}

fn fit_gaps(positive: &mut [f64]) -> (GapDist, GapFitKs) {
    if positive.len() < 2 {
        return (
            GapDist::Gamma { shape: 1.0 },
            GapFitKs {
                gamma: 0.0,
                weibull: 0.0,
                empirical: 0.0,
            },
        );
    }
    let mean = positive.iter().sum::<f64>() / positive.len() as f64;
    for g in positive.iter_mut() {
        *g /= mean;
    }
    positive.sort_by(f64::total_cmp);
    let var =
        positive.iter().map(|g| (g - 1.0) * (g - 1.0)).sum::<f64>() / (positive.len() - 1) as f64;
    let cv = var.sqrt().max(0.05);
    let gamma_shape = 1.0 / (cv * cv);
    let weibull_shape = weibull_shape_for_cv(cv);
    let ks_gamma = Gamma::new(gamma_shape, gamma_shape)
        .map(|d| ks_sorted(positive, |x| d.cdf(x)))
        .unwrap_or(1.0);
    let ks_weibull = Weibull::new(weibull_shape, 1.0 / gamma_fn(1.0 + 1.0 / weibull_shape))
        .map(|d| ks_sorted(positive, |x| d.cdf(x)))
        .unwrap_or(1.0);
    let quantile = Quantile::fit(positive).expect("non-empty");
    let ks_emp = ks_sorted(positive, |x| quantile_cdf(&quantile, x));
    let ks = GapFitKs {
        gamma: ks_gamma,
        weibull: ks_weibull,
        empirical: ks_emp,
    };
    let dist = if ks_gamma.min(ks_weibull) <= ks_emp + PARAMETRIC_SLACK {
        if ks_gamma <= ks_weibull {
            GapDist::Gamma { shape: gamma_shape }
        } else {
            GapDist::Weibull {
                shape: weibull_shape,
            }
        }
    } else {
        GapDist::Empirical { quantile }
    };
    (dist, ks)
}

/// KS distance between a sorted sample and a CDF.
fn ks_sorted(sorted: &[f64], cdf: impl Fn(f64) -> f64) -> f64 {
    let n = sorted.len() as f64;
    sorted
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = cdf(x);
            (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
        })
        .fold(0.0, f64::max)
}

/// CDF of a quantile function, by bisection on probability.
fn quantile_cdf(q: &Quantile, x: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, 1.0 - 1e-12);
    for _ in 0..50 {
        let mid = 0.5 * (lo + hi);
        if q.at(mid) <= x { lo = mid } else { hi = mid }
    }
    lo
}

/// The Weibull shape whose coefficient of variation is `cv` (bisection; CV falls as the
/// shape grows).
pub fn weibull_shape_for_cv(cv: f64) -> f64 {
    let cv_of = |k: f64| {
        let g1 = gamma_fn(1.0 + 1.0 / k);
        (gamma_fn(1.0 + 2.0 / k) / (g1 * g1) - 1.0).max(0.0).sqrt()
    };
    let (mut lo, mut hi) = (0.05_f64, 50.0_f64);
    for _ in 0..100 {
        let mid = (lo * hi).sqrt();
        if cv_of(mid) > cv { lo = mid } else { hi = mid }
    }
    (lo * hi).sqrt()
}

enum GapKind {
    Gamma(GammaSampler<f64>),
    Weibull(WeibullSampler<f64>),
    Empirical(Quantile),
}

/// Draws unit-mean operational-time gaps.
pub struct GapSampler {
    kind: GapKind,
    zero_prob: f64,
    nonzero_mean: f64,
}

impl GapSampler {
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        if self.zero_prob > 0.0 && rng.random::<f64>() < self.zero_prob {
            return 0.0;
        }
        let g = match &self.kind {
            GapKind::Gamma(d) => d.sample(rng),
            GapKind::Weibull(d) => d.sample(rng),
            GapKind::Empirical(q) => q.at(rng.random()),
        };
        g.max(0.0) * self.nonzero_mean
    }
}

/// A piecewise-constant rate and its integral. Beyond its last bin it either repeats
/// (a daily profile) or holds its last rate (a user's step function).
#[derive(Debug, Clone)]
pub struct RateProfile {
    /// Bin edges, `edges[0] == 0`, one more than `rates`.
    edges: Vec<f64>,
    rates: Vec<f64>,
    /// `cumulative[i]` = integral of the rate over bins `0..i`.
    cumulative: Vec<f64>,
    repeat: bool,
}

impl RateProfile {
    /// Equal bins of `bin_width` seconds, repeated.
    pub fn new(bin_width: f64, rates: Vec<f64>) -> RateProfile {
        let edges = (0..=rates.len()).map(|i| i as f64 * bin_width).collect();
        RateProfile::build(edges, rates, true)
    }

    /// A constant rate.
    pub fn flat(rate: f64) -> RateProfile {
        RateProfile::new(1.0, vec![rate])
    }

    /// Steps `(start second, rate)` sorted by start; the first rate also covers the time
    /// before its start and the last one holds forever.
    pub fn steps(steps: &[(f64, f64)]) -> RateProfile {
        let mut edges = vec![0.0];
        let mut rates = Vec::new();
        for (i, &(start, rate)) in steps.iter().enumerate() {
            if i > 0 && start > *edges.last().expect("never empty") {
                edges.push(start);
            } else if i > 0 {
                rates.pop();
            }
            rates.push(rate);
        }
        edges.push(edges.last().expect("never empty") + 1.0);
        RateProfile::build(edges, rates, false)
    }

    fn build(edges: Vec<f64>, rates: Vec<f64>, repeat: bool) -> RateProfile {
        let mut cumulative = Vec::with_capacity(rates.len() + 1);
        let mut acc = 0.0;
        cumulative.push(0.0);
        for (i, r) in rates.iter().enumerate() {
            acc += r * (edges[i + 1] - edges[i]);
            cumulative.push(acc);
        }
        RateProfile {
            edges,
            rates,
            cumulative,
            repeat,
        }
    }

    fn period(&self) -> f64 {
        *self.edges.last().expect("never empty")
    }

    fn total(&self) -> f64 {
        *self.cumulative.last().expect("never empty")
    }

    fn last_rate(&self) -> f64 {
        *self.rates.last().expect("never empty")
    }

    /// Integral of the rate from 0 to `t`.
    pub fn integral(&self, t: f64) -> f64 {
        let (base, rem) = if self.repeat {
            let cycles = (t / self.period()).floor();
            (cycles * self.total(), t - cycles * self.period())
        } else if t >= self.period() {
            return self.total() + self.last_rate() * (t - self.period());
        } else if t < 0.0 {
            // The first rate also holds before the start.
            return self.rates[0] * t;
        } else {
            (0.0, t)
        };
        let i = self.edges[1..]
            .partition_point(|&e| e <= rem)
            .min(self.rates.len() - 1);
        base + self.cumulative[i] + self.rates[i] * (rem - self.edges[i])
    }

    /// The time at which the integral reaches `s` (the inverse of [`Self::integral`]);
    /// infinite when the rate never gets there.
    pub fn inverse(&self, s: f64) -> f64 {
        let total = self.total();
        let (base, rem) = if self.repeat {
            if total <= 0.0 {
                return f64::INFINITY;
            }
            let cycles = (s / total).floor();
            (cycles * self.period(), s - cycles * total)
        } else if s >= total {
            let r = self.last_rate();
            return if r > 0.0 {
                self.period() + (s - total) / r
            } else {
                f64::INFINITY
            };
        } else {
            (0.0, s)
        };
        // First bin whose cumulative end exceeds `rem`; zero-rate bins are skipped.
        let i = self.cumulative[1..]
            .partition_point(|&c| c <= rem)
            .min(self.rates.len() - 1);
        let width = self.edges[i + 1] - self.edges[i];
        let within = if self.rates[i] > 0.0 {
            (rem - self.cumulative[i]) / self.rates[i]
        } else {
            0.0
        };
        base + self.edges[i] + within.clamp(0.0, width)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use rand::SeedableRng;

    #[test]
    fn rate_profile_inverts_its_integral() {
        let p = RateProfile::new(10.0, vec![1.0, 0.0, 3.0]);
        assert_abs_diff_eq!(p.integral(10.0), 10.0);
        assert_abs_diff_eq!(p.integral(25.0), 25.0);
        assert_abs_diff_eq!(p.integral(30.0 + 5.0), 45.0);
        for s in [0.5, 9.0, 12.0, 39.9, 41.0, 77.0] {
            assert_abs_diff_eq!(p.integral(p.inverse(s)), s, epsilon = 1e-9);
        }
        // Nothing arrives in the zero-rate bin.
        assert!(p.inverse(10.0 + 1e-9) >= 20.0);
    }

    #[test]
    fn steps_hold_their_last_rate() {
        let p = RateProfile::steps(&[(0.0, 2.0), (100.0, 0.5)]);
        assert_abs_diff_eq!(p.integral(100.0), 200.0);
        assert_abs_diff_eq!(p.integral(1100.0), 700.0);
        assert_abs_diff_eq!(p.inverse(700.0), 1100.0, epsilon = 1e-9);
        assert_abs_diff_eq!(p.inverse(150.0), 75.0, epsilon = 1e-9);
    }

    #[test]
    fn weibull_shape_matches_the_cv() {
        // Shape 1 is the exponential: CV 1.
        assert_abs_diff_eq!(weibull_shape_for_cv(1.0), 1.0, epsilon = 1e-6);
        assert!(weibull_shape_for_cv(1.5) < 1.0);
    }

    /// Round trip: roots drawn from a known rate profile and Gamma gaps give back the
    /// shape and the rates.
    #[test]
    fn recovers_gamma_gaps_and_rates() {
        let truth = ArrivalModel {
            bin_width: 300.0,
            rates: vec![2.0, 4.0, 3.0, 1.0, 2.0, 5.0, 2.0, 3.0, 4.0, 2.0, 3.0, 1.5],
            zero_gap_prob: 0.0,
            gaps: GapDist::Gamma { shape: 0.5 },
            gap_fit_ks: GapFitKs {
                gamma: 0.0,
                weibull: 0.0,
                empirical: 0.0,
            },
        };
        let profile = RateProfile::new(truth.bin_width, truth.rates.clone());
        let sampler = truth.gap_sampler();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let span = 3600.0;
        let mut s = 0.0;
        let mut times = Vec::new();
        loop {
            s += sampler.sample(&mut rng);
            let t = profile.inverse(s);
            if t >= span {
                break;
            }
            times.push(t);
        }
        let fit = ArrivalModel::fit(&times, span);
        match fit.gaps {
            GapDist::Gamma { shape } => assert_abs_diff_eq!(shape, 0.5, epsilon = 0.06),
            other => panic!("expected a Gamma fit, got {other:?}"),
        }
        assert_abs_diff_eq!(
            fit.mean_rate(),
            profile.integral(span) / span,
            epsilon = 0.1
        );
    }
}
