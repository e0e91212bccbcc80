//! The population of shared content of one request type, and how it grows with users.
//!
//! An *item* is a piece of content a root can start with: a shared document (an ephemeral
//! prefix of the fitted trace, used by `1 + reuses` roots) or a root's own content that no
//! other root shares (an item used once). `--rate-scale K` means K times the users of the
//! same service, so each item is used K times as often and items used once in the fit
//! start being shared. What that does to the counts depends on how popularity is spread
//! over the items, including the items too rare to be seen at all.
//!
//! **The law.** Each item has a mean number of uses `mu` at the fitted scale, and its uses
//! at scale `K` are Poisson with mean `K * mu` (independent users, each as likely to reach
//! it). The items' `mu` form a generalised gamma (Lévy) intensity
//! `rho(mu) = A mu^(-1-sigma) e^(-beta mu)`, the continuous-time form of the Pitman-Yor
//! process: `sigma` is its discount (the power-law tail of popularity and the growth of
//! distinct items, about `K^sigma` while `K << beta`), `beta` the cut-off beyond which an
//! item cannot be more popular (it keeps the mean uses finite), `A` the mass. Integrating
//! the Poisson probability against it gives the expected number of items used exactly `k`
//! times at scale `K` in closed form,
//! `n_k(K) = A c_k (K + beta)^sigma (K / (K + beta))^k`, `c_1 = 1`,
//! `c_k = c_(k-1) (k - 1 - sigma) / k`, and the distinct items
//! `D(K) = A ((K + beta)^sigma - beta^sigma) / sigma` (`A ln(1 + K / beta)` at
//! `sigma = 0`). A negative discount is allowed too: a finite population (the items'
//! popularity then gamma distributed), whose distinct count saturates with users. A Good-Turing or plain Pitman-Yor fit gives the unseen mass at one scale;
//! this law gives the whole curve, and it is closed under thinning: a `s` share of the
//! users is the same law at `K = s`. Content that is nobody else's at any scale (a user's
//! own question) is a separate term `u K` of items used once, linear in K.
//!
//! **The fit.** The frequency of frequencies of the fitted trace is thinned to 25, 50 and
//! 100 % of its sessions (in expectation: binomial thinning of each item's uses, exactly
//! what keeping each session with probability `s` does), and `(A, sigma, beta, u)` are
//! fitted to all three curves at once by weighted least squares over a grid of
//! `(sigma, beta)` with `(A, u)` solved in closed form. Fitting the growth, not one
//! curve, is what lets the law tell rare-but-shareable content from unique content.
//! [`ContentPopulation::growth`] keeps the observed and fitted distinct counts side by
//! side, so the reader can see the law reproduces the thinning curve.

use serde::{Deserialize, Serialize};

/// Shares of the sessions the growth curve is fitted on.
pub const GROWTH_SHARES: [f64; 3] = [0.25, 0.5, 1.0];
/// Frequencies fitted one by one; higher ones are one bucket.
const MAX_K: usize = 30;
/// Fewer items than this and a type's growth is not worth a law of its own.
pub const MIN_ITEMS: usize = 50;
/// The most negative discount tried: a finite population whose popularity is gamma
/// distributed with shape 2 (a negative discount `-a` is a gamma shape `a`).
const MAX_NEGATIVE_DISCOUNT: f64 = 2.0;
/// Longest table of use counts the sampler builds.
const MAX_TABLE: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentPopulation {
    /// `A`: the mass of the intensity, in items.
    pub mass: f64,
    /// `sigma` in `[-2, 1)`: the discount. Positive: infinitely many ever rarer items, a
    /// power-law popularity, distinct items growing without bound. Negative: a finite
    /// population of `A Gamma(-sigma) beta^sigma` items (gamma-distributed popularity)
    /// that larger scales exhaust.
    pub discount: f64,
    /// `beta > 0`: the popularity cut-off (1 / the uses of the most popular items).
    pub cutoff: f64,
    /// `u`: items used once at the fitted scale that stay unshared at any scale.
    pub unique: f64,
    /// Frequency of frequencies at the fitted scale: `(uses, items)`.
    pub observed: Vec<(u32, u32)>,
    /// `(share of sessions, distinct items expected under thinning, fitted)`.
    pub growth: Vec<(f64, f64, f64)>,
}

impl ContentPopulation {
    /// Fit the law to the use counts of the items (`uses[i] >= 1`). `None` when there is
    /// nothing shared to learn from.
    pub fn fit(uses: &[u32]) -> Option<ContentPopulation> {
        if uses.len() < 2 || uses.iter().all(|&u| u <= 1) {
            return None;
        }
        let max = *uses.iter().max()? as usize;
        let mut freq = vec![0.0; max + 1];
        for &u in uses {
            if u >= 1 {
                freq[u as usize] += 1.0;
            }
        }
        let targets: Vec<Vec<f64>> = GROWTH_SHARES
            .iter()
            .map(|&s| bucket(&thin_expected(&freq, s)))
            .collect();
        let mut best: Option<(f64, ContentPopulation)> = None;
        for si in -40..20 {
            let sigma = f64::from(si) * 0.05;
            for bi in 0..=32 {
                // Cut-offs from 1e-5 (items used up to ~1e5 times) to 1e3.
                let beta = 10f64.powf(-5.0 + f64::from(bi) * 0.25);
                let Some((err, mass, unique)) = solve(&targets, sigma, beta) else {
                    continue;
                };
                if best.as_ref().is_none_or(|b| err < b.0) {
                    best = Some((
                        err,
                        ContentPopulation {
                            mass,
                            discount: sigma,
                            cutoff: beta,
                            unique,
                            observed: vec![],
                            growth: vec![],
                        },
                    ));
                }
            }
        }
        let (_, mut pop) = best?;
        pop.observed = freq
            .iter()
            .enumerate()
            .filter(|&(k, &n)| k >= 1 && n > 0.0)
            .map(|(k, &n)| (k as u32, n as u32))
            .collect();
        pop.growth = GROWTH_SHARES
            .iter()
            .zip(&targets)
            .map(|(&s, t)| (s, t.iter().sum(), pop.distinct(s)))
            .collect();
        Some(pop)
    }

    pub fn valid(&self) -> bool {
        self.mass.is_finite()
            && self.mass > 0.0
            && (-MAX_NEGATIVE_DISCOUNT..1.0).contains(&self.discount)
            && self.cutoff.is_finite()
            && self.cutoff > 0.0
            && self.unique.is_finite()
            && self.unique >= 0.0
    }

    /// Expected items used exactly `k >= 1` times at scale `users`.
    pub fn items_with(&self, k: usize, users: f64) -> f64 {
        let shared = self.mass * shape(k, users, self.discount, self.cutoff);
        if k == 1 {
            shared + self.unique * users
        } else {
            shared
        }
    }

    /// Expected distinct items used at scale `users`.
    pub fn distinct(&self, users: f64) -> f64 {
        self.mass * distinct_shape(users, self.discount, self.cutoff) + self.unique * users
    }

    /// Expected items used twice or more at scale `users`.
    pub fn shared(&self, users: f64) -> f64 {
        self.distinct(users) - self.items_with(1, users)
    }

    /// Items unseen at the fitted scale that `users - 1` more users (`users > 1`) use
    /// exactly `k` times: the law's intensity times `e^(-mu)`, which is the same law with
    /// cut-off `beta + 1` at scale `users - 1`.
    pub fn unseen_with(&self, k: usize, users: f64) -> f64 {
        self.mass * shape(k, users - 1.0, self.discount, self.cutoff + 1.0)
    }

    /// Items unseen at the fitted scale that `users - 1` more users use twice or more.
    pub fn unseen_shared(&self, users: f64) -> f64 {
        let more = users - 1.0;
        let beta = self.cutoff + 1.0;
        self.mass
            * (distinct_shape(more, self.discount, beta) - shape(1, more, self.discount, beta))
    }

    /// Items of the law used once at the fitted scale that `users - 1` more users use
    /// again (`n_1(1) - n_1(K) / K` of the shared part; unique content never is).
    pub fn once_shared(&self, users: f64) -> f64 {
        let (sigma, beta) = (self.discount, self.cutoff);
        self.mass * (shape(1, 1.0, sigma, beta) - shape(1, users, sigma, beta) / users)
    }

    /// Cumulative weights of the use counts `2, 3, ...` (entry `i` is count `i + 2`) of
    /// the items unseen at the fitted scale that `users - 1` more users share, long
    /// enough to hold all but a negligible share.
    pub fn unseen_counts(&self, users: f64) -> Vec<f64> {
        let total = self.unseen_shared(users);
        let mut out = Vec::new();
        let mut sum = 0.0;
        for k in 2..MAX_TABLE + 2 {
            sum += self.unseen_with(k, users);
            out.push(sum);
            if sum >= total * (1.0 - 1e-9) {
                break;
            }
        }
        out
    }
}

/// `n_k / A` at scale `s`.
fn shape(k: usize, s: f64, sigma: f64, beta: f64) -> f64 {
    let mut c = 1.0;
    for j in 2..=k {
        c *= (j as f64 - 1.0 - sigma) / j as f64;
    }
    let x = s / (s + beta);
    c * (s + beta).powf(sigma) * x.powi(k as i32)
}

fn distinct_shape(s: f64, sigma: f64, beta: f64) -> f64 {
    if sigma == 0.0 {
        (s / beta).ln_1p()
    } else {
        ((s + beta).powf(sigma) - beta.powf(sigma)) / sigma
    }
}

/// Expected frequency of frequencies after keeping each use with probability `s`.
fn thin_expected(freq: &[f64], s: f64) -> Vec<f64> {
    let mut out = vec![0.0; freq.len()];
    if s >= 1.0 {
        out.copy_from_slice(freq);
        out[0] = 0.0;
        return out;
    }
    let odds = s / (1.0 - s);
    for (j, &n) in freq.iter().enumerate() {
        if n == 0.0 {
            continue;
        }
        // Binomial(j, s) probabilities by the recurrence from k = 0.
        let mut p = (1.0 - s).powi(j as i32);
        for (k, slot) in out.iter_mut().enumerate().take(j + 1).skip(1) {
            p *= (j - k + 1) as f64 / k as f64 * odds;
            *slot += n * p;
        }
    }
    out
}

/// Frequencies `1..=MAX_K` one by one, then the rest as one bucket (index `MAX_K`).
fn bucket(freq: &[f64]) -> Vec<f64> {
    let mut b = vec![0.0; MAX_K + 1];
    for (k, &n) in freq.iter().enumerate().skip(1) {
        b[(k - 1).min(MAX_K)] += n;
    }
    b
}

/// Best `(A, u) >= 0` for a `(sigma, beta)` by weighted least squares over the buckets of
/// every share (weights `1 / max(observed, 1)`, a Pearson chi-square), and its error.
fn solve(targets: &[Vec<f64>], sigma: f64, beta: f64) -> Option<(f64, f64, f64)> {
    // Rows: (observed, feature of A, feature of u, weight).
    let mut rows = Vec::new();
    for (&s, t) in GROWTH_SHARES.iter().zip(targets) {
        let mut head = 0.0;
        for (b, &obs) in t.iter().enumerate() {
            let w = 1.0 / obs.max(1.0);
            if b < MAX_K {
                let f = shape(b + 1, s, sigma, beta);
                head += f;
                rows.push((obs, f, if b == 0 { s } else { 0.0 }, w));
            } else {
                let f = (distinct_shape(s, sigma, beta) - head).max(0.0);
                rows.push((obs, f, 0.0, w));
            }
        }
    }
    let (mut saa, mut sau, mut suu, mut say, mut suy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(y, fa, fu, w) in &rows {
        saa += w * fa * fa;
        sau += w * fa * fu;
        suu += w * fu * fu;
        say += w * fa * y;
        suy += w * fu * y;
    }
    let det = saa * suu - sau * sau;
    let (mut a, mut u) = if det > 1e-12 * saa * suu {
        ((say * suu - suy * sau) / det, (suy * saa - say * sau) / det)
    } else {
        (say / saa, 0.0)
    };
    if u < 0.0 {
        u = 0.0;
        a = say / saa;
    }
    if a <= 0.0 {
        a = 0.0;
        u = if suu > 0.0 { (suy / suu).max(0.0) } else { 0.0 };
    }
    if !(a > 0.0 && a.is_finite() && u.is_finite()) {
        return None;
    }
    let err = rows
        .iter()
        .map(|&(y, fa, fu, w)| w * (y - a * fa - u * fu).powi(2))
        .sum();
    Some((err, a, u))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_distr::{Distribution, Gamma, Poisson};

    /// Draw a population from the law itself (a gamma-tail approximation: items with
    /// `mu` from a heavy-tailed mixture), observe it at scale 1, fit, and predict scale 4.
    fn uses_at(mus: &[f64], k: f64, seed: u64) -> Vec<u32> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        mus.iter()
            .filter_map(|&m| {
                let n = Poisson::new(m * k).unwrap().sample(&mut rng) as u32;
                (n > 0).then_some(n)
            })
            .collect()
    }

    /// Popularities from the law itself: a power law of index `sigma` above `eps` (below
    /// it items are too rare to matter at the scales tested), tempered by `e^(-beta mu)`.
    fn law_mus(n: usize, sigma: f64, beta: f64, eps: f64, seed: u64) -> Vec<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let mu = eps * rng.random::<f64>().max(1e-300).powf(-1.0 / sigma);
            if rng.random::<f64>() < (-beta * mu).exp() {
                out.push(mu);
            }
        }
        out
    }

    /// Log-normal popularities: not of the law's family.
    fn lognormal_mus(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let normal = rand_distr::Normal::<f64>::new(-3.0, 2.0).unwrap();
        (0..n).map(|_| normal.sample(&mut rng).exp()).collect()
    }

    /// `once_tolerance` bounds the error on items used once, the part a law of another
    /// family extrapolates worst.
    fn check_growth(mus: &[f64], tolerance: f64, shared_tolerance: f64, once_tolerance: f64) {
        let fitted = uses_at(mus, 1.0, 5);
        let pop = ContentPopulation::fit(&fitted).unwrap();
        assert!(pop.valid(), "{pop:?}");
        // The thinning curve is reproduced...
        for &(s, obs, fit) in &pop.growth {
            assert!((fit / obs - 1.0).abs() < 0.03, "share {s}: {obs} vs {fit}");
        }
        // ... and the law extrapolates, up and down: the truth at 4x and 1/4 the users.
        for users in [4.0, 0.25] {
            let truth = uses_at(mus, users, 6);
            let distinct = truth.len() as f64;
            let once = truth.iter().filter(|&&u| u == 1).count() as f64;
            let (d, n1) = (pop.distinct(users), pop.items_with(1, users));
            let shared = distinct - once;
            assert!(
                (pop.shared(users) / shared - 1.0).abs() < shared_tolerance,
                "x{users} shared {} vs {shared} ({pop:?})",
                pop.shared(users)
            );
            assert!(
                (d / distinct - 1.0).abs() < tolerance,
                "x{users} distinct {d} vs {distinct} ({pop:?})"
            );
            assert!(
                (n1 / once - 1.0).abs() < once_tolerance,
                "x{users} used once {n1} vs {once}"
            );
        }
    }

    #[test]
    fn a_fit_at_one_scale_predicts_the_growth_of_its_own_law() {
        check_growth(&law_mus(400_000, 0.5, 0.01, 1e-4, 3), 0.05, 0.05, 0.05);
    }

    /// Out of the family the law is an approximation: at 4x it put 13 % too few shared
    /// items and 36 % too many used once when this was written (distinct within 10 %).
    #[test]
    fn a_fit_at_one_scale_predicts_the_growth_of_log_normal_popularity() {
        check_growth(&lognormal_mus(100_000, 4), 0.1, 0.15, 0.4);
    }

    #[test]
    fn thinning_in_expectation_matches_the_binomial() {
        // 10 items used twice, thinned to a half: 5 used once, 2.5 twice (in expectation).
        let mut freq = vec![0.0; 3];
        freq[2] = 10.0;
        let t = thin_expected(&freq, 0.5);
        assert!(
            (t[1] - 5.0).abs() < 1e-9 && (t[2] - 2.5).abs() < 1e-9,
            "{t:?}"
        );
        assert_eq!(thin_expected(&freq, 1.0)[2], 10.0);
    }

    #[test]
    fn more_users_add_up_to_the_law_at_the_larger_scale() {
        // Superposition: the items shared at 4x are those shared at 1x, those used once
        // at 1x and again by the 3x more users, and those unseen at 1x that the 3x more
        // use twice or more.
        let pop = ContentPopulation {
            mass: 100.0,
            discount: 0.4,
            cutoff: 0.01,
            unique: 0.0,
            observed: vec![],
            growth: vec![],
        };
        let parts = pop.shared(1.0) + pop.once_shared(4.0) + pop.unseen_shared(4.0);
        assert!((parts / pop.shared(4.0) - 1.0).abs() < 1e-6, "{parts}");
        let table = pop.unseen_counts(4.0);
        assert!((table.last().unwrap() / pop.unseen_shared(4.0) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn the_closed_form_sums_to_the_distinct_count() {
        let pop = ContentPopulation {
            mass: 100.0,
            discount: 0.4,
            cutoff: 0.01,
            unique: 5.0,
            observed: vec![],
            growth: vec![],
        };
        for users in [0.25, 1.0, 4.0] {
            let sum: f64 = (1..20_000).map(|k| pop.items_with(k, users)).sum();
            assert!((sum / pop.distinct(users) - 1.0).abs() < 1e-4, "{users}");
        }
    }

    #[test]
    fn unique_content_stays_unique() {
        // Items used once whatever the scale, beside a shared population: the unique term
        // takes them, so their share does not shrink as a power law would make it.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let gamma = Gamma::new(0.5, 4.0).unwrap();
        let shared: Vec<f64> = (0..2000).map(|_| gamma.sample(&mut rng)).collect();
        let mut fitted = uses_at(&shared, 1.0, 1);
        fitted.extend(std::iter::repeat_n(1, 3000));
        let pop = ContentPopulation::fit(&fitted).unwrap();
        assert!(pop.unique > 1500.0, "{pop:?}");
        let mut truth = uses_at(&shared, 4.0, 2);
        truth.extend(std::iter::repeat_n(1, 12_000));
        let distinct = truth.len() as f64;
        assert!(
            (pop.distinct(4.0) / distinct - 1.0).abs() < 0.1,
            "{} vs {distinct}",
            pop.distinct(4.0)
        );
    }
}
