//! P(at least one follow-up) by turn and input bucket, estimated so that the trace's end
//! neither biases it down nor lets it saturate.
//!
//! A request whose first follow-up would arrive `g` seconds later, with `g` drawn from the
//! think-time distribution, shows a follow-up in the trace only if `g` is shorter than the
//! time left, `tau`. So a request with an observed follow-up contributes `log p` to the
//! likelihood of its cell and one without contributes `log(1 - p F(tau))`, `F` the
//! de-censored CDF of the first follow-up's delay. Near the end `F(tau)` is small, so
//! such a request says little; the ratio estimator this replaces (hits over summed
//! `F(tau)`) could exceed 1 and sat at its clamp wherever `F` was small.
//!
//! Each cell's `p` is then the maximum a posteriori estimate under a Beta prior centred on
//! a smooth curve, a logistic in log turn and log input with its own level for first
//! turns (a session's opening request continues in another way than a later one: about
//! 0.5 against 0.8 in the ATC'25 study of Bailian traces), fitted by the same censored
//! likelihood over all cells (with the weakly informative coefficient priors of Gelman
//! et al. 2008, "A weakly informative default prior distribution for logistic
//! regression"). The prior's strength is chosen by marginal likelihood (empirical Bayes)
//! over all cells: cells that scatter widely around the curve keep their own data,
//! cells that agree lean on it. The prior holds `1 + mu s` and `1 + (1 - mu) s`
//! pseudo-counts, at least one on each side, so the posterior mode is strictly inside
//! (0, 1) whatever the data: a cell of turns that all continued cannot reach 1.

use statrs::function::gamma::ln_gamma;

/// Resolution of `F(tau)` when the requests of a cell are pooled: 1/256 moves no
/// probability by more than a fraction of a percent of a request.
const F_BINS: usize = 256;
/// Prior standard deviations of the curve's coefficients, after Gelman et al. (2008):
/// 10 for the intercept, 2.5 for a centred binary input (the first-turn level) and 2.5
/// per half standard deviation, so 1.25 per standard deviation, for log turn and log
/// input.
const PRIOR_SD: [f64; COEFS] = [10.0, 2.5, 1.25, 1.25];
/// Intercept, first turn, log turn, log input.
const COEFS: usize = 4;
/// Covariates of a cell: first turn (0 or 1), log turn, log input.
pub(super) type Covariates = [f64; COEFS - 1];
/// Smallest prior strength tried: the two pseudo-observations that keep every estimate
/// off 0 and 1 (Laplace's rule of succession).
const MIN_STRENGTH: f64 = 2.0;
/// Prior strengths tried grow by this factor up to `MAX_STRENGTH` (a cell then follows
/// the curve unless it holds hundreds of thousands of requests).
const STRENGTH_STEP: f64 = 1.5;
const MAX_STRENGTH: f64 = 1e6;

/// The requests of one (turn, input) cell, as the likelihood sees them.
#[derive(Debug, Clone, Default)]
pub(super) struct Cell {
    /// Requests with an observed follow-up.
    pub hits: f64,
    /// Requests without one: (F(tau), count), tau being the time they had left.
    pub misses: Vec<(f64, f64)>,
}

/// Collects the requests of one cell.
#[derive(Debug, Clone)]
pub(super) struct CellBuilder {
    hits: f64,
    bins: Vec<f64>,
}

impl Default for CellBuilder {
    fn default() -> Self {
        CellBuilder {
            hits: 0.0,
            bins: vec![0.0; F_BINS + 1],
        }
    }
}

impl CellBuilder {
    /// A request that had a follow-up in the trace, or one that did not although it would
    /// have shown one with probability `f` had it got one.
    pub fn add(&mut self, hit: bool, f: f64) {
        if hit {
            self.hits += 1.0;
        } else {
            self.bins[(f.clamp(0.0, 1.0) * F_BINS as f64).round() as usize] += 1.0;
        }
    }

    pub fn build(self) -> Cell {
        let misses = self
            .bins
            .iter()
            .enumerate()
            // A request with no time left says nothing about p.
            .filter(|&(b, &n)| b > 0 && n > 0.0)
            .map(|(b, &n)| (b as f64 / F_BINS as f64, n))
            .collect();
        Cell {
            hits: self.hits,
            misses,
        }
    }
}

impl Cell {
    fn is_empty(&self) -> bool {
        self.hits == 0.0 && self.misses.is_empty()
    }

    /// Log-likelihood at `p`, given `p` and `1 - p` (passed apart to keep precision near 1).
    fn log_lik(&self, p: f64, q: f64) -> f64 {
        let mut l = if self.hits > 0.0 {
            self.hits * p.ln()
        } else {
            0.0
        };
        for &(f, n) in &self.misses {
            // 1 - p F = q + p (1 - F), exact near p = 1.
            l += n * (q + p * (1.0 - f)).ln();
        }
        l
    }

    /// First and second derivatives of the log-likelihood in the logit of p.
    fn logit_derivatives(&self, p: f64, q: f64) -> (f64, f64) {
        let pq = p * q;
        let mut d1 = self.hits * q;
        let mut d2 = -self.hits * pq;
        for &(f, n) in &self.misses {
            let one_minus = q + p * (1.0 - f);
            d1 -= n * f * pq / one_minus;
            d2 -= n * f * pq * (1.0 - 2.0 * p + p * p * f) / (one_minus * one_minus);
        }
        (d1, d2)
    }

    /// The log-posterior, up to the prior's normaliser, under a Beta prior holding `a`
    /// extra successes and `b` extra failures; its derivative and second derivative in p.
    fn posterior(&self, p: f64, q: f64, a: f64, b: f64) -> (f64, f64, f64) {
        let mut value = self.log_lik(p, q) + a * p.ln() + b * q.ln();
        let succ = self.hits + a;
        let mut d1 = succ / p - b / q;
        let mut d2 = -succ / (p * p) - b / (q * q);
        for &(f, n) in &self.misses {
            let one_minus = q + p * (1.0 - f);
            d1 -= n * f / one_minus;
            d2 -= n * f * f / (one_minus * one_minus);
        }
        if !value.is_finite() {
            value = f64::NEG_INFINITY;
        }
        (value, d1, d2)
    }

    /// The posterior mode under a prior of `a` extra successes and `b` extra failures
    /// (both > 0): the root of the strictly decreasing derivative, found in logit space
    /// so that modes near 0 or 1 keep their precision. Returns (p, 1 - p).
    fn mode(&self, a: f64, b: f64) -> (f64, f64) {
        let (mut lo, mut hi) = (-40.0_f64, 40.0_f64);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            let (p, q) = (sigmoid(mid), sigmoid(-mid));
            if self.posterior(p, q, a, b).1 > 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
            if hi - lo < 1e-12 {
                break;
            }
        }
        let mid = 0.5 * (lo + hi);
        (sigmoid(mid), sigmoid(-mid))
    }

    /// Laplace approximation of the log marginal likelihood under the prior
    /// Beta(1 + a, 1 + b).
    fn log_marginal(&self, a: f64, b: f64) -> f64 {
        if self.is_empty() {
            return 0.0;
        }
        let (p, q) = self.mode(a, b);
        let (value, _, d2) = self.posterior(p, q, a, b);
        let ln_beta = ln_gamma(1.0 + a) + ln_gamma(1.0 + b) - ln_gamma(2.0 + a + b);
        value - ln_beta + 0.5 * (2.0 * std::f64::consts::PI).ln() - 0.5 * (-d2).max(1e-300).ln()
    }
}

/// A smooth curve of P(follow-up) over (log turn, log input): logistic, with the
/// covariates standardised over the requests.
#[derive(Debug, Clone)]
struct Curve {
    beta: [f64; COEFS],
}

impl Curve {
    fn eta(&self, z: &[f64; COEFS]) -> f64 {
        let eta: f64 = self.beta.iter().zip(z).map(|(b, z)| b * z).sum();
        eta.clamp(-30.0, 30.0)
    }
}

type Hessian = [[f64; COEFS]; COEFS];

/// Penalised censored log-likelihood of the curve over the cells, with its gradient and
/// Hessian in the coefficients.
fn curve_objective(
    cells: &[(Cell, [f64; COEFS])],
    beta: &[f64; COEFS],
) -> (f64, [f64; COEFS], Hessian) {
    let curve = Curve { beta: *beta };
    let mut value = 0.0;
    let mut grad = [0.0; COEFS];
    let mut hess = [[0.0; COEFS]; COEFS];
    for (cell, z) in cells {
        let eta = curve.eta(z);
        let (p, q) = (sigmoid(eta), sigmoid(-eta));
        value += cell.log_lik(p, q);
        let (d1, d2) = cell.logit_derivatives(p, q);
        for i in 0..COEFS {
            grad[i] += d1 * z[i];
            for j in 0..COEFS {
                hess[i][j] += d2 * z[i] * z[j];
            }
        }
    }
    for i in 0..COEFS {
        let precision = 1.0 / (PRIOR_SD[i] * PRIOR_SD[i]);
        value -= 0.5 * precision * beta[i] * beta[i];
        grad[i] -= precision * beta[i];
        hess[i][i] -= precision;
    }
    (value, grad, hess)
}

/// Maximise the penalised likelihood by damped Newton steps (Levenberg-Marquardt): the
/// censored likelihood is not concave everywhere, so a step is kept only if it climbs.
fn fit_curve(cells: &[(Cell, [f64; COEFS])], start: f64, active: [bool; COEFS]) -> Curve {
    let mut beta = [0.0; COEFS];
    beta[0] = start;
    let (mut value, mut grad, mut hess) = curve_objective(cells, &beta);
    let mut damping = 1e-3;
    for _ in 0..200 {
        let mut a = [[0.0; COEFS]; COEFS];
        let mut g = [0.0; COEFS];
        for i in 0..COEFS {
            if !active[i] {
                a[i][i] = 1.0;
                continue;
            }
            g[i] = grad[i];
            for j in 0..COEFS {
                if active[j] {
                    a[i][j] = -hess[i][j];
                }
            }
            a[i][i] += damping * (1.0 + a[i][i].abs());
        }
        let Some(step) = solve(a, g) else {
            damping *= 10.0;
            continue;
        };
        let mut next = beta;
        next.iter_mut().zip(&step).for_each(|(b, s)| *b += s);
        let (v, gr, h) = curve_objective(cells, &next);
        if v.is_finite() && v >= value {
            let gain = v - value;
            beta = next;
            (value, grad, hess) = (v, gr, h);
            damping = (damping / 3.0).max(1e-9);
            if gain < 1e-10 * (1.0 + value.abs()) && step.iter().all(|s| s.abs() < 1e-7) {
                break;
            }
        } else {
            damping *= 4.0;
            if damping > 1e12 {
                break;
            }
        }
    }
    Curve { beta }
}

/// The estimate of p for each cell, in the cells' order; `x` holds each cell's
/// covariates (log turn, log input), standardised over the requests for the curve.
pub(super) fn estimate(cells: &[Cell], x: &[Covariates]) -> Vec<f64> {
    let hits: f64 = cells.iter().map(|c| c.hits).sum();
    if hits == 0.0 {
        // Never seen to continue: nothing to shrink toward.
        return vec![0.0; cells.len()];
    }
    let count = |c: &Cell| c.hits + c.misses.iter().map(|m| m.1).sum::<f64>();
    let total: f64 = cells.iter().map(count).sum();
    let mut active = [true; COEFS];
    let mut shift = [0.0; COEFS - 1];
    let mut scale = [1.0; COEFS - 1];
    for k in 0..COEFS - 1 {
        let mean = cells
            .iter()
            .zip(x)
            .map(|(c, x)| count(c) * x[k])
            .sum::<f64>()
            / total;
        let var = cells
            .iter()
            .zip(x)
            .map(|(c, x)| count(c) * (x[k] - mean).powi(2))
            .sum::<f64>()
            / total;
        shift[k] = mean;
        // The first-turn indicator is centred only (its prior is per unit of range).
        if k > 0 && var > 1e-12 {
            scale[k] = var.sqrt();
        }
        active[k + 1] = var > 1e-12;
    }
    let z_of: Vec<[f64; COEFS]> = x
        .iter()
        .map(|xi| {
            let mut z = [1.0; COEFS];
            for k in 0..COEFS - 1 {
                z[k + 1] = if active[k + 1] {
                    (xi[k] - shift[k]) / scale[k]
                } else {
                    0.0
                };
            }
            z
        })
        .collect();
    let exposure: f64 = cells
        .iter()
        .map(|c| c.hits + c.misses.iter().map(|m| m.0 * m.1).sum::<f64>())
        .sum();
    let raw = (hits / exposure.max(1e-9)).clamp(1e-3, 1.0 - 1e-3);
    let paired: Vec<(Cell, [f64; COEFS])> =
        cells.iter().cloned().zip(z_of.iter().copied()).collect();
    let curve = fit_curve(&paired, logit(raw), active);
    let means: Vec<(f64, f64)> = z_of
        .iter()
        .map(|z| {
            let eta = curve.eta(z);
            (sigmoid(eta), sigmoid(-eta))
        })
        .collect();
    let strength = best_strength(cells, &means);
    cells
        .iter()
        .zip(&means)
        .map(|(cell, &(mu, nu))| {
            if cell.is_empty() {
                mu
            } else {
                cell.mode(mu * strength, nu * strength).0
            }
        })
        .collect()
}

/// The prior strength of largest marginal likelihood over all cells.
fn best_strength(cells: &[Cell], means: &[(f64, f64)]) -> f64 {
    let mut best = (f64::NEG_INFINITY, MIN_STRENGTH);
    let mut s = MIN_STRENGTH;
    while s <= MAX_STRENGTH {
        let total: f64 = cells
            .iter()
            .zip(means)
            .map(|(c, &(mu, nu))| c.log_marginal(mu * s, nu * s))
            .sum();
        if total > best.0 {
            best = (total, s);
        }
        s *= STRENGTH_STEP;
    }
    best.1
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

/// Solve `a x = b` by Gaussian elimination with partial pivoting.
fn solve<const N: usize>(mut a: [[f64; N]; N], mut b: [f64; N]) -> Option<[f64; N]> {
    for col in 0..N {
        let pivot = (col..N).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let top = a[col];
        for row in col + 1..N {
            let k = a[row][col] / top[col];
            for (x, t) in a[row][col..].iter_mut().zip(&top[col..]) {
                *x -= k * t;
            }
            b[row] -= k * b[col];
        }
    }
    let mut x = [0.0; N];
    for row in (0..N).rev() {
        let s: f64 = (row + 1..N).map(|c| a[row][c] * x[c]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(hits: usize, misses: &[(f64, usize)]) -> Cell {
        let mut b = CellBuilder::default();
        for _ in 0..hits {
            b.add(true, 1.0);
        }
        for &(f, n) in misses {
            for _ in 0..n {
                b.add(false, f);
            }
        }
        b.build()
    }

    #[test]
    fn uncensored_cells_get_the_smoothed_share() {
        let c = cell(30, &[(1.0, 70)]);
        let (p, _) = c.mode(0.0 + 1e-12, 1e-12);
        assert!((p - 0.3).abs() < 1e-6, "{p}");
    }

    #[test]
    fn requests_without_time_left_do_not_pull_p_down() {
        // 90 of 100 fully exposed requests continued; 100 more came too late to show it.
        let with_late = cell(90, &[(1.0, 10), (0.02, 100)]);
        let without = cell(90, &[(1.0, 10)]);
        let a = with_late.mode(1e-9, 1e-9).0;
        let b = without.mode(1e-9, 1e-9).0;
        assert!((a - b).abs() < 0.02, "{a} vs {b}");
    }

    #[test]
    fn a_cell_that_always_continued_stays_below_one() {
        // The likelihood alone peaks at p = 1: every request that had time continued.
        let always = cell(500, &[(0.05, 40)]);
        let (p, q) = always.mode(MIN_STRENGTH * 0.5, MIN_STRENGTH * 0.5);
        assert!(p < 1.0 && q > 0.0 && p > 0.99, "{p}");
        let cells = vec![always, cell(400, &[(1.0, 100)])];
        let p = estimate(&cells, &[[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
        assert!(p[0] < 1.0 && p[0] > 0.99, "{p:?}");
        assert!((p[1] - 0.8).abs() < 0.02, "{p:?}");
    }
}
