//! The root rate from the total request rate.
//!
//! A trace shows every request, but only the roots are drawn from the rate profile: the
//! rest are follow-ups the session model sends. Counting the requests that look like
//! roots goes wrong twice: a window cut from a running service starts with follow-ups
//! whose parents came before it (inferred lineage cannot tell them from roots, so the
//! "root rate" falls across the span), and the session model then adds follow-ups of its
//! own on top. Here the root rate is the one that, convolved with what a session sends
//! after its root (the session kernel, measured by running the generator's own session
//! model), reproduces the total count in every rate bin; the history before the window
//! is either empty (a cold start) or stationary at the starting level (a warm start,
//! generated with a warm-up).
//!
//! Cold or warm is decided from the counts alone, the same way for every lineage: over
//! the first stretch of the trace, where sessions begun before it still send follow-ups,
//! a root rate that is a straight line in time is fitted under either hypothesis; the
//! hypothesis that explains the counts better wins. A warm window cut from a flat stream
//! has flat totals, which a cold start explains only with a root rate that falls with the
//! exact shape of the session kernel; a cold start has totals that climb, which a warm
//! start explains only with a root rate that climbs the same way. Explicit lineage adds
//! direct evidence: orphans (follow-ups whose parent came before the file) exist exactly
//! when the window is warm.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::generate::{GenerateOptions, Planner};
use crate::model::Model;
use crate::model::arrivals::{
    ArrivalModel, BURST_BIN, GapDist, GapFitKs, MAX_BURST_VAR, RateProfile, RootGaps, root_counts,
};

/// Sessions simulated to measure the kernel.
const KERNEL_SESSIONS: u64 = 20_000;
/// ... and at most this many requests (a near-critical session model stops here).
const KERNEL_REQUESTS: u64 = 2_000_000;
/// Share of the session kernel's follow-up mass the warm-up must cover.
const WARM_UP_MASS: f64 = 0.99;
/// Warm-ups are at most this many spans long.
const MAX_WARM_UP_SPANS: f64 = 4.0;
/// The history matters when it adds this share to the first bin's expected requests.
const MEMORY_SHARE: f64 = 0.05;
/// The start is judged over this many times the lag by which a share `DECISION_MASS`
/// of the follow-ups have come (where a history still shows), on this many bins.
const DECISION_REACH: f64 = 4.0;
const DECISION_MASS: f64 = 0.9;
const DECISION_BINS: usize = 24;
const EM_ITERATIONS: usize = 500;

/// What one session sends after its root: the lags (seconds) of its follow-ups, for
/// sessions started by a Poisson root stream from the generator's session model.
#[derive(Debug, Clone, Default)]
pub struct SessionKernel {
    /// Follow-up lags of session `i` are `lags[starts[i]..starts[i + 1]]`.
    lags: Vec<f64>,
    starts: Vec<usize>,
}

impl SessionKernel {
    /// Run the session model of `model` (its arrivals are replaced by a Poisson stream at
    /// `root_rate`; no warm-up, no time grid) for a few thousand sessions, to the end of
    /// each.
    pub fn simulate(model: &Model, root_rate: f64, seed: u64) -> SessionKernel {
        let mut probe = model.clone();
        probe.warm_up = 0.0;
        probe.time_quantum = None;
        probe.clients = None;
        probe.arrivals = ArrivalModel {
            bin_width: 1.0,
            rates: vec![root_rate.max(1e-6)],
            zero_gap_prob: 0.0,
            gaps: GapDist::Gamma { shape: 1.0 },
            gap_fit_ks: GapFitKs {
                gamma: 0.0,
                weibull: 0.0,
                empirical: 0.0,
            },
            burst_bin: BURST_BIN,
            burst_var: 0.0,
        };
        let options = GenerateOptions {
            seed,
            sessions: Some(KERNEL_SESSIONS),
            requests: Some(KERNEL_REQUESTS),
            ..GenerateOptions::default()
        };
        let mut root_time: Vec<f64> = Vec::new();
        let mut per_session: Vec<Vec<f64>> = Vec::new();
        for planned in Planner::new(&probe, options) {
            let Ok(p) = planned else { break };
            let s = p.session as usize;
            if p.parent_chat_id < 0 {
                if s >= root_time.len() {
                    root_time.resize(s + 1, f64::NAN);
                    per_session.resize(s + 1, Vec::new());
                }
                root_time[s] = p.timestamp;
            } else if let Some(&t0) = root_time.get(s).filter(|t| t.is_finite()) {
                per_session[s].push((p.timestamp - t0).max(0.0));
            }
        }
        let mut kernel = SessionKernel::default();
        for (s, lags) in per_session.into_iter().enumerate() {
            if root_time[s].is_finite() {
                kernel.starts.push(kernel.lags.len());
                kernel.lags.extend(lags);
            }
        }
        kernel.starts.push(kernel.lags.len());
        kernel
    }

    /// The kernel of a session model without follow-ups.
    pub fn roots_only() -> SessionKernel {
        SessionKernel {
            lags: vec![],
            starts: vec![0, 0],
        }
    }

    fn sessions(&self) -> usize {
        self.starts.len().saturating_sub(1).max(1)
    }

    /// Expected requests per session, the root included.
    pub fn mean_size(&self) -> f64 {
        1.0 + self.lags.len() as f64 / self.sessions() as f64
    }

    /// The lag by which a share `q` of all follow-ups have come (0 without any).
    pub fn lag_quantile(&self, q: f64) -> f64 {
        if self.lags.is_empty() {
            return 0.0;
        }
        let mut sorted = self.lags.clone();
        sorted.sort_unstable_by(f64::total_cmp);
        sorted[((q * sorted.len() as f64) as usize).min(sorted.len() - 1)]
    }

    /// Expected requests (the root included) in the bin `d` bins after the root's, for
    /// a root placed uniformly in its bin of `width` seconds; `len` bins.
    pub fn binned(&self, width: f64, len: usize) -> Vec<f64> {
        let n = self.sessions() as f64;
        let mut k = vec![0.0; len.max(1)];
        k[0] = 1.0;
        for &lag in &self.lags {
            let q = (lag / width).floor();
            let r = lag / width - q;
            let q = q as usize;
            if q < len {
                k[q] += (1.0 - r) / n;
            }
            if q + 1 < len {
                k[q + 1] += r / n;
            }
        }
        k
    }

    /// Second moments: the mean over sessions of the squared number of their requests
    /// in the bin `d` bins after the root's, each root at a uniform (seeded) position in
    /// its bin.
    fn second_moments(&self, width: f64, len: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = self.sessions() as f64;
        let mut m2 = vec![0.0; len.max(1)];
        let mut per_bin: Vec<f64> = vec![0.0; len.max(1)];
        for w in self.starts.windows(2) {
            let u = rng.random::<f64>() * width;
            per_bin.iter_mut().for_each(|c| *c = 0.0);
            per_bin[0] = 1.0;
            for &lag in &self.lags[w[0]..w[1]] {
                let d = ((u + lag) / width) as usize;
                if d < len {
                    per_bin[d] += 1.0;
                }
            }
            for (m, c) in m2.iter_mut().zip(&per_bin) {
                *m += c * c / n;
            }
        }
        m2
    }
}

/// The warm-up that brings `model`'s sessions to their steady state: long enough for
/// nearly all follow-ups of the sessions in flight at the start to have begun (at most
/// a few spans). A window judged after it looks like any later window of a long run.
pub fn steady_warm_up(model: &Model, seed: u64) -> f64 {
    let rate = model.arrivals.mean_rate();
    let kernel = SessionKernel::simulate(model, rate, seed);
    kernel
        .lag_quantile(WARM_UP_MASS)
        .min(MAX_WARM_UP_SPANS * model.span)
}

/// How the stream ran before the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Nothing was in flight at the window's start.
    Cold,
    /// Roots had come at the starting rate for long enough to reach a steady state.
    Warm,
}

/// What was seen about the window's start besides the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartEvidence {
    /// Explicit lineage: whether follow-ups of requests before the window were seen.
    Orphans(bool),
    /// Inferred or no lineage: decide from the counts.
    Counts,
}

/// The fitted root process: its rates per bin, how the window started, the warm-up it
/// needs and the burst variance the totals leave to it.
#[derive(Debug, Clone)]
pub struct TotalRateFit {
    pub arrivals: ArrivalModel,
    pub start: Start,
    pub warm_up: f64,
}

/// Fit the root process of a trace: `times` are all request times, `root_times` the
/// sorted times of the requests that look like roots (their gaps give the renewal
/// shape), `span` the window.
pub fn fit(
    times: &[f64],
    root_times: &[f64],
    span: f64,
    kernel: &SessionKernel,
    evidence: StartEvidence,
    seed: u64,
) -> TotalRateFit {
    let span = span.max(1e-3);
    let (bin_width, counts) = root_counts(times, span);
    let totals: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
    let n = totals.len();
    let memory = kernel.lag_quantile(WARM_UP_MASS);
    let warm_up = memory.min(MAX_WARM_UP_SPANS * span);
    let history = (warm_up / bin_width).ceil() as usize;
    let k = kernel.binned(bin_width, n + history + 1);
    let cold = design(&k, n, 0);
    let warm = design(&k, n, history);
    let start = match evidence {
        StartEvidence::Orphans(true) => Start::Warm,
        StartEvidence::Orphans(false) => Start::Cold,
        StartEvidence::Counts => decide(times, span, kernel, warm_up),
    };
    let (a, warm_up) = match start {
        Start::Cold => (&cold, 0.0),
        Start::Warm if warm_up > 0.0 => (&warm, warm_up),
        Start::Warm => (&cold, 0.0),
    };
    // The renewal shape comes from the requests that look like roots, in the operational
    // time of their own profile (the only stream whose gaps are seen).
    let (_, root_bins) = root_counts(root_times, span);
    let own = RateProfile::new(
        bin_width,
        root_bins.iter().map(|&c| c as f64 / bin_width).collect(),
    );
    let gaps = RootGaps::fit(root_times, &own);
    let dispersion = count_dispersion(kernel, bin_width, gaps.squared_cv, seed);
    let (smoothed, kept) = shrink(&totals, a, dispersion);
    let roots = if kernel.lags.is_empty() {
        smoothed
    } else {
        deconvolve(&smoothed, a)
    };
    let mut rates: Vec<f64> = roots.iter().map(|r| r / bin_width).collect();
    if rates.iter().all(|&r| r <= 0.0) {
        rates = totals.iter().map(|c| c.max(1.0) / bin_width).collect();
    }
    let profile = RateProfile::new(bin_width, rates.clone());
    let (burst_bin, burst_var) = fit_bursts(
        times,
        &profile,
        span,
        bin_width,
        gaps.squared_cv,
        kernel,
        warm_up,
        kept,
        seed,
    );
    TotalRateFit {
        arrivals: ArrivalModel::assemble(bin_width, rates, gaps, burst_bin, burst_var),
        start,
        warm_up,
    }
}

/// Variance over mean of a rate bin's count the model gives at a steady root rate without
/// bursts: each root's session spreads over the bins (second moments of the kernel), and
/// renewal gaps of squared CV `c` make root counts `c` times as variable as Poisson ones.
fn count_dispersion(kernel: &SessionKernel, width: f64, c: f64, seed: u64) -> f64 {
    let len = (kernel.lag_quantile(0.999) / width) as usize + 2;
    let k = kernel.binned(width, len);
    let m2 = kernel.second_moments(width, len, seed);
    let var: f64 = (0..len).map(|d| m2[d] + (c - 1.0) * k[d] * k[d]).sum();
    let mean: f64 = k.iter().sum();
    (var / mean).max(1e-6)
}

/// The bin totals with their noise shrunk away: each bin's deviation from what a steady
/// root rate would give (under design `a`) is kept in the share that its spread beyond
/// the model's own count noise (`dispersion` times the mean) supports, as an empirical
/// Bayes estimate does. A flat trace then gets a flat profile instead of its own noise,
/// which generation would add a second time; a real swing is kept. Also returns the mean
/// share kept.
fn shrink(totals: &[f64], a: &[Vec<f64>], dispersion: f64) -> (Vec<f64>, f64) {
    let n = totals.len();
    let reach: Vec<f64> = (0..n).map(|b| a[b][..=b].iter().sum()).collect();
    let level = totals.iter().sum::<f64>() / reach.iter().sum::<f64>().max(1e-12);
    let steady: Vec<f64> = reach.iter().map(|x| level * x).collect();
    let noise: Vec<f64> = steady.iter().map(|e| dispersion * e.max(1.0)).collect();
    let signal = (0..n)
        .map(|b| (totals[b] - steady[b]).powi(2) - noise[b])
        .sum::<f64>()
        / n as f64;
    let signal = signal.max(0.0);
    let mut kept_sum = 0.0;
    let smoothed = (0..n)
        .map(|b| {
            let kept = signal / (signal + noise[b]);
            kept_sum += kept;
            steady[b] + kept * (totals[b] - steady[b])
        })
        .collect();
    (smoothed, kept_sum / n as f64)
}

/// `a[b][j]`: expected requests in bin `b` per root in bin `j`, with `history` bins of
/// roots at the first bin's rate before the window folded into column 0.
fn design(k: &[f64], n: usize, history: usize) -> Vec<Vec<f64>> {
    let mut a = vec![vec![0.0; n]; n];
    for b in 0..n {
        for j in 0..=b {
            a[b][j] = k[b - j];
        }
        a[b][0] += (1..=history)
            .map(|h| k.get(b + h).copied().unwrap_or(0.0))
            .sum::<f64>();
    }
    a
}

/// Non-negative roots per bin whose expected totals match `totals`: the Poisson maximum
/// likelihood, by EM (Richardson-Lucy), which keeps every rate non-negative.
fn deconvolve(totals: &[f64], a: &[Vec<f64>]) -> Vec<f64> {
    let n = totals.len();
    let column: Vec<f64> = (0..n).map(|j| (0..n).map(|b| a[b][j]).sum()).collect();
    let size = column.iter().sum::<f64>() / n as f64;
    let mean = totals.iter().sum::<f64>() / n as f64;
    let mut mu = vec![(mean / size.max(1e-9)).max(1e-9); n];
    let mut expected = vec![0.0; n];
    for _ in 0..EM_ITERATIONS {
        for b in 0..n {
            expected[b] = (0..=b).map(|j| a[b][j] * mu[j]).sum::<f64>();
        }
        for j in 0..n {
            if column[j] <= 0.0 {
                continue;
            }
            let ratio: f64 = (j..n)
                .filter(|&b| expected[b] > 0.0)
                .map(|b| a[b][j] * totals[b] / expected[b])
                .sum();
            mu[j] *= ratio / column[j];
        }
    }
    mu
}

/// Cold or warm, from the counts of the first stretch of the trace (see the module
/// notes), on a grid fine enough to resolve the session kernel: a straight root rate is
/// fitted under each start by weighted least squares; the smaller residual wins, cold on
/// a tie.
fn decide(times: &[f64], span: f64, kernel: &SessionKernel, warm_up: f64) -> Start {
    let reach = kernel.lag_quantile(DECISION_MASS);
    if reach <= 0.0 || warm_up <= 0.0 {
        return Start::Cold;
    }
    let stretch = (DECISION_REACH * reach).min(span);
    let width = (stretch / DECISION_BINS as f64).max(1e-3);
    let bins = ((stretch / width).round() as usize).max(1);
    let mut totals = vec![0.0; bins];
    for &t in times {
        let j = (t / width) as usize;
        if j < bins {
            totals[j] += 1.0;
        }
    }
    let history = (warm_up / width).ceil() as usize;
    let k = kernel.binned(width, bins + history + 1);
    let cold = design(&k, bins, 0);
    let warm = design(&k, bins, history);
    // Without a history that matters, there is nothing to decide.
    if warm[0][0] - cold[0][0] < MEMORY_SHARE * k[0] || bins < 3 {
        return Start::Cold;
    }
    if line_fit_rss(&totals, &warm) < line_fit_rss(&totals, &cold) {
        Start::Warm
    } else {
        Start::Cold
    }
}

/// Residual of the best root rate `alpha + beta * j` (bins `j`) under design `a`,
/// weighted by the Poisson variance of each count.
fn line_fit_rss(totals: &[f64], a: &[Vec<f64>]) -> f64 {
    let m = totals.len();
    let x: Vec<(f64, f64)> = (0..m)
        .map(|b| {
            let one: f64 = (0..=b).map(|j| a[b][j]).sum();
            let slope: f64 = (0..=b).map(|j| a[b][j] * j as f64).sum();
            (one, slope)
        })
        .collect();
    let w: Vec<f64> = totals.iter().map(|t| 1.0 / t.max(1.0)).collect();
    let (mut s11, mut s12, mut s22, mut r1, mut r2) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for b in 0..m {
        let (p, q) = x[b];
        s11 += w[b] * p * p;
        s12 += w[b] * p * q;
        s22 += w[b] * q * q;
        r1 += w[b] * p * totals[b];
        r2 += w[b] * q * totals[b];
    }
    let det = s11 * s22 - s12 * s12;
    let (alpha, beta) = if det.abs() > 1e-12 * s11 * s22 {
        ((r1 * s22 - r2 * s12) / det, (s11 * r2 - s12 * r1) / det)
    } else {
        (r1 / s11.max(1e-12), 0.0)
    };
    (0..m)
        .map(|b| {
            let e = alpha * x[b].0 + beta * x[b].1;
            w[b] * (totals[b] - e) * (totals[b] - e)
        })
        .sum()
}

/// The variance of the burst multiplier, from the total counts in `BURST_BIN` windows.
///
/// Roots in window `j` number `R_j`, of mean `e_j` and variance `c e_j + v e_j^2` (renewal
/// gaps of squared CV `c`, a mean-1 multiplier of variance `v`); each sends `n_d`
/// requests into the window `d` later, of mean `K_d` and second moment `M_d`. The total
/// in window `k` then has variance `sum_j e_j M_{k-j} + (Var R_j - e_j) K_{k-j}^2`. With
/// bursts the gap shape gives back the variability they carry (`c` becomes
/// `(1 + c)(1 - v) - 1`, see [`ArrivalModel::assemble`]), so the variance is
/// `base + v * slope`; `v` is what closes the gap to the observed excess over the
/// profile's expectation (inflated by the share of it the profile fitted away).
#[allow(clippy::too_many_arguments)]
fn fit_bursts(
    times: &[f64],
    profile: &RateProfile,
    span: f64,
    bin_width: f64,
    c: f64,
    kernel: &SessionKernel,
    warm_up: f64,
    kept: f64,
    seed: u64,
) -> (f64, f64) {
    let width = BURST_BIN.min(span / 20.0).max(1.0);
    if width >= bin_width || times.len() < 100 {
        return (width, 0.0);
    }
    let n = (span / width).floor() as usize;
    let mut counts = vec![0.0; n];
    for &t in times {
        let j = (t / width) as usize;
        if j < n {
            counts[j] += 1.0;
        }
    }
    let history = (warm_up / width).ceil() as usize;
    let len = (n + history).min((kernel.lag_quantile(0.999) / width) as usize + 2);
    let k = kernel.binned(width, len);
    let m2 = kernel.second_moments(width, len, seed);
    // Expected roots per window, history first.
    let e: Vec<f64> = (0..history + n)
        .map(|i| {
            let lo = (i as f64 - history as f64) * width;
            profile.integral(lo + width) - profile.integral(lo)
        })
        .collect();
    let (mut excess, mut base, mut slope) = (0.0, 0.0, 0.0);
    for (w, &count) in counts.iter().enumerate() {
        let at = w + history;
        let mut expected = 0.0;
        for d in 0..len.min(at + 1) {
            let ej = e[at - d];
            expected += ej * k[d];
            base += ej * m2[d] + (c - 1.0) * ej * k[d] * k[d];
            slope += (ej * ej - (1.0 + c) * ej) * k[d] * k[d];
        }
        excess += (count - expected) * (count - expected);
    }
    // The profile took up the share `kept` of each bin's deviation from a steady rate,
    // and with it that share of one window's worth of the variance per bin.
    let per_bin = bin_width / width;
    excess *= per_bin / (per_bin - kept);
    let var = if slope > 0.0 {
        (excess - base) / slope
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

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(sessions: &[&[f64]]) -> SessionKernel {
        let mut k = SessionKernel::default();
        for s in sessions {
            k.starts.push(k.lags.len());
            k.lags.extend_from_slice(s);
        }
        k.starts.push(k.lags.len());
        k
    }

    #[test]
    fn binned_kernel_keeps_the_session_mass() {
        let k = kernel(&[&[5.0, 15.0], &[], &[25.0]]);
        let b = k.binned(10.0, 10);
        assert!((b.iter().sum::<f64>() - k.mean_size()).abs() < 1e-12);
        assert!((k.mean_size() - 2.0).abs() < 1e-12);
    }

    /// Counts made exactly by a known root rate and kernel give that rate back, cold
    /// and warm.
    #[test]
    fn deconvolution_recovers_the_roots() {
        let k = kernel(&[&[30.0, 90.0, 150.0], &[45.0], &[]]);
        let n = 12;
        let truth: Vec<f64> = (0..n).map(|b| 50.0 + 10.0 * (b % 3) as f64).collect();
        let kb = k.binned(60.0, n + 5);
        for history in [0, 4] {
            let a = design(&kb, n, history);
            let totals: Vec<f64> = (0..n)
                .map(|b| (0..=b).map(|j| a[b][j] * truth[j]).sum())
                .collect();
            let got = deconvolve(&totals, &a);
            for (g, t) in got.iter().zip(&truth) {
                assert!((g - t).abs() < 0.02 * t, "history {history}: {got:?}");
            }
        }
    }

    /// Flat totals from a warm stream are called warm, climbing totals from a cold
    /// start cold.
    #[test]
    fn the_start_is_told_from_the_counts() {
        let k = kernel(&[&[40.0, 100.0, 160.0, 220.0], &[70.0, 130.0], &[]]);
        let span = 3600.0;
        let warm_up = k.lag_quantile(WARM_UP_MASS);
        // Evenly spaced requests: flat totals at 3 per second.
        let flat: Vec<f64> = (0..(3.0 * span) as usize).map(|i| i as f64 / 3.0).collect();
        assert_eq!(decide(&flat, span, &k, warm_up), Start::Warm);
        // Roots at 1 per second from 0, each followed by its session's lags.
        let mut climbing = Vec::new();
        for (i, w) in (0..span as usize).zip(k.starts.windows(2).cycle()) {
            climbing.push(i as f64);
            climbing.extend(k.lags[w[0]..w[1]].iter().map(|l| i as f64 + l));
        }
        climbing.sort_unstable_by(f64::total_cmp);
        assert_eq!(decide(&climbing, span, &k, warm_up), Start::Cold);
    }
}
