//! Session starts (roots): a time-varying rate over the span times bursty renewal gaps.
//!
//! Roots are placed in operational time: with `Lambda(t)` the integrated rate, the
//! differences `Lambda(t_{i+1}) - Lambda(t_i)` are unit-mean renewal gaps. The rate profile
//! carries the slow swings, the gap distribution (Gamma, Weibull or empirical, picked by
//! KS distance) the burstiness within them. Follow-ups are not arrivals: they come from
//! the session model.

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma as GammaSampler, Weibull as WeibullSampler};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Gamma, Weibull};
use statrs::function::gamma::gamma as gamma_fn;

use super::clients::{MIN_GAMMA_SHAPE, MIN_WEIBULL_SHAPE};
use super::quantile::Quantile;
use super::{MAX_RATE, ModelError};

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
    /// Bursts finer than the rate bins: every `burst_bin` seconds the rate is multiplied
    /// by an independent mean-1 Gamma draw of variance `burst_var` (0: no bursts). The
    /// profile alone smooths bursts of a minute away, and a renewal process cannot put
    /// them back, so counts per minute would be far less dispersed than real ones.
    #[serde(default)]
    pub burst_bin: f64,
    #[serde(default)]
    pub burst_var: f64,
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
        let (bin_width, counts) = root_counts(root_times, span);
        let rates: Vec<f64> = counts.iter().map(|&c| c as f64 / bin_width).collect();
        let profile = RateProfile::new(bin_width, rates.clone());
        let gaps = RootGaps::fit(root_times, &profile);
        let (burst_bin, burst_var) =
            fit_bursts(root_times, &profile, span, bin_width, gaps.squared_cv);
        ArrivalModel::assemble(bin_width, rates, gaps, burst_bin, burst_var)
    }

    /// The model of a root rate `rates` (per bin of `bin_width`) fitted elsewhere, with
    /// the gap shape of `gaps` and bursts of variance `burst_var`: the renewal gaps keep
    /// only the variability the bursts do not carry.
    pub fn assemble(
        bin_width: f64,
        rates: Vec<f64>,
        gaps: RootGaps,
        burst_bin: f64,
        burst_var: f64,
    ) -> ArrivalModel {
        let RootGaps {
            zero_gap_prob,
            dist,
            fit_ks,
            positive,
            ..
        } = gaps;
        let dist = if burst_var > 0.0 {
            without_bursts(dist, &positive, burst_var)
        } else {
            dist
        };
        ArrivalModel {
            bin_width,
            rates,
            zero_gap_prob,
            gaps: dist,
            gap_fit_ks: fit_ks,
            burst_bin,
            burst_var,
        }
    }

    /// Mean roots per second over the fitted span.
    pub fn mean_rate(&self) -> f64 {
        self.rates.iter().sum::<f64>() / self.rates.len() as f64
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        let what = "arrivals";
        if !(self.bin_width.is_finite()
            && self.bin_width > 0.0
            && self.bin_width <= crate::trace::MAX_SPAN)
        {
            return Err(ModelError::invalid(
                what,
                "bin_width must be > 0 and at most 62 days",
            ));
        }
        if self.rates.is_empty()
            || self
                .rates
                .iter()
                .any(|r| !(r.is_finite() && (0.0..=MAX_RATE).contains(r)))
        {
            return Err(ModelError::invalid(
                what,
                format!("rates must be a non-empty list of values in [0, {MAX_RATE:e}] per second"),
            ));
        }
        if self.rates.iter().all(|&r| r == 0.0) {
            return Err(ModelError::invalid(what, "at least one rate must be > 0"));
        }
        if !(self.burst_var.is_finite() && (0.0..=MAX_BURST_VAR).contains(&self.burst_var)) {
            return Err(ModelError::invalid(
                what,
                format!("burst_var must lie in [0, {MAX_BURST_VAR}]"),
            ));
        }
        if self.burst_var > 0.0 && !(self.burst_bin.is_finite() && self.burst_bin > 0.0) {
            return Err(ModelError::invalid(
                what,
                "burst_bin must be > 0 when burst_var is",
            ));
        }
        if !(0.0..1.0).contains(&self.zero_gap_prob) {
            return Err(ModelError::invalid(
                what,
                "zero_gap_prob must lie in [0, 1)",
            ));
        }
        // Below these shapes nearly every gap is zero and a few are astronomically long:
        // the sampler's arithmetic breaks down (1e-300 wrote 11 GB in 20 s).
        let (shape, min) = match &self.gaps {
            GapDist::Gamma { shape } => (*shape, MIN_GAMMA_SHAPE),
            GapDist::Weibull { shape } => (*shape, MIN_WEIBULL_SHAPE),
            GapDist::Empirical { quantile } => {
                return quantile.validate_times("arrivals.gaps");
            }
        };
        if !(shape.is_finite() && (min..=MAX_GAP_SHAPE).contains(&shape)) {
            return Err(ModelError::invalid(
                what,
                format!("gap shape must lie in [{min}, {MAX_GAP_SHAPE}]"),
            ));
        }
        Ok(())
    }

    /// A sampler of unit-mean operational-time gaps, zeros included.
    pub fn gap_sampler(&self) -> GapSampler {
        self.gaps.sampler(self.zero_gap_prob)
    }
}

/// The roots' gaps in the operational time of a rate profile: their share of zeros,
/// the fitted shape of the rest, and what the burst fit needs of them.
#[derive(Debug, Clone)]
pub struct RootGaps {
    pub zero_gap_prob: f64,
    pub dist: GapDist,
    pub fit_ks: GapFitKs,
    /// Squared CV of all gaps, zeros included.
    pub squared_cv: f64,
    /// The positive gaps, scaled to mean 1 and sorted.
    positive: Vec<f64>,
}

impl RootGaps {
    /// From sorted root times and the profile that turns them into operational time.
    pub fn fit(root_times: &[f64], profile: &RateProfile) -> RootGaps {
        let op: Vec<f64> = root_times.iter().map(|&t| profile.integral(t)).collect();
        let gaps: Vec<f64> = op.windows(2).map(|w| (w[1] - w[0]).max(0.0)).collect();
        let zeros = gaps.iter().filter(|&&g| g == 0.0).count();
        let zero_gap_prob = if gaps.is_empty() {
            0.0
        } else {
            zeros as f64 / gaps.len() as f64
        };
        let squared_cv = squared_cv(&gaps);
        let mut positive: Vec<f64> = gaps.into_iter().filter(|&g| g > 0.0).collect();
        let (dist, fit_ks) = fit_gaps(&mut positive);
        RootGaps {
            zero_gap_prob,
            dist,
            fit_ks,
            squared_cv,
            positive,
        }
    }
}

/// The rate bins of a span (see [`bin_target`]) and the count of `times` in each.
pub fn root_counts(times: &[f64], span: f64) -> (f64, Vec<usize>) {
    let n_bins = ((span / bin_target(span)).round() as usize).max(1);
    let bin_width = span / n_bins as f64;
    let mut counts = vec![0usize; n_bins];
    for &t in times {
        counts[((t / bin_width).max(0.0) as usize).min(n_bins - 1)] += 1;
    }
    (bin_width, counts)
}

impl GapDist {
    /// A sampler of unit-mean gaps: a share `zero_prob` of them exactly zero, the rest
    /// from this distribution scaled so that the overall mean stays 1. The shape must be
    /// valid (see [`ArrivalModel::validate`]).
    pub fn sampler(&self, zero_prob: f64) -> GapSampler {
        let nonzero_mean = 1.0 / (1.0 - zero_prob);
        let kind = match self {
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
            zero_prob,
            nonzero_mean,
        }
    }
}

/// Width of the burst bins: about the length of real bursts.
pub const BURST_BIN: f64 = 60.0;
/// Burst variance is capped below 1, where the gap mixture's variance would diverge.
pub const MAX_BURST_VAR: f64 = 0.9;
/// The largest Gamma or Weibull gap shape a model may hold (near-constant gaps).
pub const MAX_GAP_SHAPE: f64 = 1e3;

/// Squared coefficient of variation of a sample.
pub fn squared_cv(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 1.0;
    }
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (v.len() - 1) as f64;
    if mean > 0.0 { var / (mean * mean) } else { 1.0 }
}

/// The variance of the burst multiplier, from root counts in `BURST_BIN` windows.
///
/// With renewal gaps of squared CV `c` inside a window and a mean-1 Gamma multiplier of
/// variance `v`, a window expecting `e` roots has count variance about `c e + v e^2`,
/// and the observed gaps (a mixture over multipliers, weighted by arrivals) have squared
/// CV `g = (1 + c) / (1 - v) - 1`. Over all windows that gives
/// `v = (Q - g) / (R - g - 1)`, with `Q` the excess variance per expected root and `R`
/// the root-weighted mean of `e`.
fn fit_bursts(
    root_times: &[f64],
    profile: &RateProfile,
    span: f64,
    bin_width: f64,
    g: f64,
) -> (f64, f64) {
    let width = BURST_BIN.min(span / 20.0).max(1.0);
    if width >= bin_width || root_times.len() < 100 {
        return (width, 0.0);
    }
    let n = (span / width).floor() as usize;
    let mut counts = vec![0.0; n];
    for &t in root_times {
        let j = (t / width) as usize;
        if j < n {
            counts[j] += 1.0;
        }
    }
    let (mut excess, mut sum_e, mut sum_e2) = (0.0, 0.0, 0.0);
    for (j, c) in counts.iter().enumerate() {
        let e = profile.integral((j + 1) as f64 * width) - profile.integral(j as f64 * width);
        excess += (c - e) * (c - e);
        sum_e += e;
        sum_e2 += e * e;
    }
    if sum_e <= 0.0 {
        return (width, 0.0);
    }
    let (q, r) = (excess / sum_e, sum_e2 / sum_e);
    let var = if r > g + 1.0 {
        (q - g) / (r - g - 1.0)
    } else {
        0.0
    };
    // Below a few percent the bursts are noise of the estimate, not structure.
    (
        width,
        if var > 0.02 {
            var.min(MAX_BURST_VAR)
        } else {
            0.0
        },
    )
}

/// The gap distribution once bursts carry part of the observed variability: a Gamma or
/// Weibull (whichever fitted better) with the squared CV reduced by what bursts add.
fn without_bursts(fitted: GapDist, positive: &[f64], burst_var: f64) -> GapDist {
    let cv2 = squared_cv(positive);
    // The inverse of g = (1 + c) / (1 - v) - 1 (see `fit_bursts`).
    let inner = ((cv2 + 1.0) * (1.0 - burst_var) - 1.0).max(0.05);
    match fitted {
        GapDist::Weibull { .. } => GapDist::Weibull {
            shape: weibull_shape_for_cv(inner.sqrt()).clamp(MIN_WEIBULL_SHAPE, MAX_GAP_SHAPE),
        },
        _ => GapDist::Gamma {
            shape: (1.0 / inner).clamp(MIN_GAMMA_SHAPE, MAX_GAP_SHAPE),
        },
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
    positive.sort_unstable_by(f64::total_cmp);
    let var =
        positive.iter().map(|g| (g - 1.0) * (g - 1.0)).sum::<f64>() / (positive.len() - 1) as f64;
    let cv = var.sqrt().max(0.05);
    // Within the shapes a model may hold (a CV above about 30 is beyond them).
    let gamma_shape = (1.0 / (cv * cv)).clamp(MIN_GAMMA_SHAPE, MAX_GAP_SHAPE);
    let weibull_shape = weibull_shape_for_cv(cv).clamp(MIN_WEIBULL_SHAPE, MAX_GAP_SHAPE);
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
/// (a daily profile) or holds its last rate (a user's step function); before 0 it holds
/// its first rate, or, for a repeating profile made [`RateProfile::periodic_past`], runs
/// its cycle backwards.
#[derive(Debug, Clone)]
pub struct RateProfile {
    /// Bin edges, `edges[0] == 0`, one more than `rates`.
    edges: Vec<f64>,
    rates: Vec<f64>,
    /// `cumulative[i]` = integral of the rate over bins `0..i`.
    cumulative: Vec<f64>,
    repeat: bool,
    /// Before 0 the cycle goes on (a repeating profile only).
    periodic_past: bool,
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
            periodic_past: false,
        }
    }

    /// The same profile with its cycle also running before 0 (no effect on a step
    /// function, which has no cycle).
    pub fn periodic_past(mut self) -> RateProfile {
        self.periodic_past = self.repeat;
        self
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

    /// The time from which the rate is zero for good, if it ever is.
    pub fn rate_stops_at(&self) -> Option<f64> {
        if self.repeat {
            return (self.total() <= 0.0).then_some(0.0);
        }
        if self.last_rate() > 0.0 {
            return None;
        }
        let last_positive = self
            .rates
            .iter()
            .rposition(|&r| r > 0.0)
            .map_or(0, |i| i + 1);
        Some(self.edges[last_positive])
    }

    /// Integral of the rate from 0 to `t`.
    pub fn integral(&self, t: f64) -> f64 {
        if t < 0.0 && !self.periodic_past {
            // Before the start (a warm-up) the first rate holds: the fit takes the
            // stream before its window to have run at the window's starting level.
            return self.rates[0] * t;
        }
        let (base, rem) = if self.repeat {
            let cycles = (t / self.period()).floor();
            (cycles * self.total(), t - cycles * self.period())
        } else if t >= self.period() {
            return self.total() + self.last_rate() * (t - self.period());
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
        if s < 0.0 && !self.periodic_past {
            return if self.rates[0] > 0.0 {
                s / self.rates[0]
            } else {
                0.0
            };
        }
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

/// Turns the root process's operational time into clock time: the rate profile times,
/// when the model has bursts, a multiplier drawn afresh for every burst bin. Each bin's
/// multiplier depends only on the seed and the bin, so any stretch of time gets the same
/// bursts whatever came before.
pub struct RootClock {
    profile: RateProfile,
    /// `(bin width, Gamma shape)` when there are bursts.
    bursts: Option<(f64, f64)>,
    seed: u64,
    start: f64,
    /// Current bin, operational time at its (clipped) start, its multiplier.
    bin: i64,
    bin_op: f64,
    multiplier: f64,
}

impl RootClock {
    /// Starts at clock time `start` with operational time 0.
    pub fn new(profile: RateProfile, model: &ArrivalModel, seed: u64, start: f64) -> RootClock {
        let bursts = (model.burst_var > 0.0).then(|| (model.burst_bin, 1.0 / model.burst_var));
        let mut clock = RootClock {
            profile,
            bursts,
            seed,
            start,
            bin: 0,
            bin_op: 0.0,
            multiplier: 1.0,
        };
        if let Some((width, _)) = bursts {
            clock.bin = (start / width).floor() as i64;
            clock.multiplier = clock.draw(clock.bin);
        }
        clock
    }

    fn draw(&self, bin: i64) -> f64 {
        let Some((_, shape)) = self.bursts else {
            return 1.0;
        };
        let mut rng =
            ChaCha8Rng::seed_from_u64(self.seed ^ (bin as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        GammaSampler::new(shape, 1.0 / shape)
            .expect("validated burst variance")
            .sample(&mut rng)
    }

    /// The clock time at which operational time reaches `s`. Calls must not go back in
    /// `s`. Infinite when the rate stays zero from some point on.
    pub fn time_at(&mut self, s: f64) -> f64 {
        self.time_at_before(s, f64::INFINITY)
    }

    /// [`Self::time_at`], infinite once the search passes clock time `horizon`: burst bins
    /// are walked one by one, and a near-zero rate would otherwise walk them for ever.
    pub fn time_at_before(&mut self, s: f64, horizon: f64) -> f64 {
        let base = self.profile.integral(self.start);
        let Some((width, _)) = self.bursts else {
            return self.profile.inverse(base + s);
        };
        loop {
            let lo = (self.bin as f64 * width).max(self.start);
            if lo > horizon {
                return f64::INFINITY;
            }
            let hi = (self.bin + 1) as f64 * width;
            let (i_lo, i_hi) = (self.profile.integral(lo), self.profile.integral(hi));
            let segment = self.multiplier * (i_hi - i_lo);
            if self.multiplier > 0.0 && self.bin_op + segment >= s {
                let target = i_lo + (s - self.bin_op) / self.multiplier;
                return self.profile.inverse(target).clamp(lo, hi);
            }
            if self.profile.rate_stops_at().is_some_and(|end| lo >= end) {
                return f64::INFINITY;
            }
            self.bin_op += segment;
            self.bin += 1;
            self.multiplier = self.draw(self.bin);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use rand::SeedableRng;

    #[test]
    fn a_periodic_past_runs_the_cycle_backwards() {
        let p = RateProfile::new(10.0, vec![1.0, 0.0, 3.0]).periodic_past();
        // One cycle (40 roots in 30 s) before 0, then the last bin's 3/s just before it.
        assert_abs_diff_eq!(p.integral(-30.0), -40.0);
        assert_abs_diff_eq!(p.integral(-5.0), -15.0);
        assert_abs_diff_eq!(p.integral(-45.0), -70.0);
        for s in [-77.0, -41.0, -12.0, -0.5] {
            assert_abs_diff_eq!(p.integral(p.inverse(s)), s, epsilon = 1e-9);
        }
        // Without it the first rate holds before 0.
        let q = RateProfile::new(10.0, vec![1.0, 0.0, 3.0]);
        assert_abs_diff_eq!(q.integral(-5.0), -5.0);
        // A step function has no cycle to run.
        let steps = RateProfile::steps(&[(0.0, 2.0), (100.0, 0.5)]).periodic_past();
        assert_abs_diff_eq!(steps.integral(-5.0), -10.0);
    }

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
            burst_bin: 60.0,
            burst_var: 0.0,
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

    /// Round trip with bursts: a minute-scale multiplier of known variance on top of the
    /// profile is recovered, and the gaps inside bursts keep their own shape.
    #[test]
    fn recovers_bursts_and_the_gap_shape_under_them() {
        let truth = ArrivalModel {
            bin_width: 600.0,
            rates: vec![3.0, 5.0, 4.0, 2.0, 3.0, 6.0],
            zero_gap_prob: 0.0,
            gaps: GapDist::Gamma { shape: 2.0 },
            gap_fit_ks: GapFitKs {
                gamma: 0.0,
                weibull: 0.0,
                empirical: 0.0,
            },
            burst_bin: 60.0,
            burst_var: 0.3,
        };
        let span = 6.0 * 3600.0;
        let profile = RateProfile::new(truth.bin_width, truth.rates.clone());
        let mut clock = RootClock::new(profile, &truth, 11, 0.0);
        let sampler = truth.gap_sampler();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let (mut s, mut times) = (0.0, Vec::new());
        loop {
            s += sampler.sample(&mut rng);
            let t = clock.time_at(s);
            if t >= span {
                break;
            }
            times.push(t);
        }
        let fit = ArrivalModel::fit(&times, span);
        assert!(
            (fit.burst_var - 0.3).abs() < 0.1,
            "burst variance {:.3}",
            fit.burst_var
        );
        let shape = match fit.gaps {
            GapDist::Gamma { shape } => shape,
            GapDist::Weibull { shape } => {
                1.0 / (gamma_fn(1.0 + 2.0 / shape) / gamma_fn(1.0 + 1.0 / shape).powi(2) - 1.0)
            }
            GapDist::Empirical { .. } => panic!("bursts imply a parametric gap fit"),
        };
        assert!((shape - 2.0).abs() < 0.6, "gap shape (1/CV^2) {shape:.2}");
        // Without bursts in the source (and a rate the profile can follow), none are
        // fitted.
        let calm = ArrivalModel {
            burst_var: 0.0,
            rates: vec![4.0; 6],
            ..truth
        };
        let profile = RateProfile::new(calm.bin_width, calm.rates.clone());
        let mut clock = RootClock::new(profile, &calm, 11, 0.0);
        let (mut s, mut times) = (0.0, Vec::new());
        while let t @ ..=21_600.0 = clock.time_at({
            s += sampler.sample(&mut rng);
            s
        }) {
            times.push(t);
        }
        assert_eq!(ArrivalModel::fit(&times, span).burst_var, 0.0);
    }
}
