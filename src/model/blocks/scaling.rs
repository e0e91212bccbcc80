//! Shared prefixes at another number of users (`--rate-scale K`), from the content
//! population of a type ([`ContentPopulation`]).
//!
//! The generated service has `K` times the fitted users, each behaving as a fitted one,
//! so it is the fitted users plus `K - 1` more (or, below 1, a `K` sample of them), and
//! the law says what the difference does:
//! - **K < 1** is thinning, exactly: each use of a fitted prefix is kept with
//!   probability `K`, a prefix stays shared when two or more uses are kept, and one
//!   left with a single use is a root whose content nobody shares. No law is needed.
//! - **K > 1**: a fitted prefix used `c` times has popularity `mu` with posterior
//!   `Gamma(c - sigma, 1 + beta)` and `Poisson((K - 1) mu)` more uses. A root whose
//!   content nobody shared gets more uses with the probability the law gives its part
//!   of the singletons (unique content never does), and items nobody used at the fitted
//!   scale appear as the law's unseen mass says.
//! - **K = 1** changes nothing (not even the random stream).
//!
//! A prefix's length, depths and lags come from a fitted prefix (the one replayed, or the
//! fitted one with the nearest number of reuses), thinned at random or given the missing
//! reuses at lags interpolated between its own.

use rand::{Rng, RngExt};
use rand_distr::{Distribution, Gamma, Poisson};

use super::PrefixTemplate;
use super::population::ContentPopulation;

/// Draws before a rejection sampler gives up and takes its last draw.
const MAX_TRIES: usize = 10_000;

/// One type's shared prefixes at `users` times the fitted users.
#[derive(Debug)]
pub(super) struct Scaling {
    users: f64,
    discount: f64,
    cutoff: f64,
    /// Weights of a newborn's source: a fitted prefix, a fitted single use that more
    /// users share, content unseen at the fitted scale.
    sources: [f64; 3],
    /// Cumulative weights of the unseen items' use counts 2, 3, ...
    unseen: Vec<f64>,
    /// `(reuses, template index)`, by reuses.
    by_reuses: Vec<(usize, usize)>,
    /// Factors on the fitted root choices: content nobody else has, a new shared prefix.
    pub once: f64,
    pub birth: f64,
}

impl Scaling {
    /// `None` when nothing changes: the fitted scale, or no law or templates.
    pub fn new(
        pop: &ContentPopulation,
        templates: &[PrefixTemplate],
        users: f64,
    ) -> Option<Scaling> {
        if users == 1.0 || templates.is_empty() || !users.is_finite() || users <= 0.0 {
            return None;
        }
        let single = pop
            .observed
            .iter()
            .find(|e| e.0 == 1)
            .map_or(0.0, |e| f64::from(e.1));
        let shared: Vec<(u32, f64)> = pop
            .observed
            .iter()
            .filter(|e| e.0 >= 2)
            .map(|e| (e.0, f64::from(e.1)))
            .collect();
        let fitted: f64 = shared.iter().map(|e| e.1).sum();
        if fitted == 0.0 {
            return None;
        }
        let mut by_reuses: Vec<(usize, usize)> = templates
            .iter()
            .enumerate()
            .map(|(i, t)| (t.reuses.len(), i))
            .collect();
        by_reuses.sort_unstable();
        let (once, birth, sources, unseen) = if users < 1.0 {
            let (mut to_one, mut to_shared) = (0.0, 0.0);
            for &(c, n) in &shared {
                let none = (1.0 - users).powi(c as i32);
                let one = f64::from(c) * users * (1.0 - users).powi(c as i32 - 1);
                to_one += n * one;
                to_shared += n * (1.0 - none - one);
            }
            let once = if single > 0.0 {
                (users * single + to_one) / (users * single)
            } else {
                1.0
            };
            (once, to_shared / (users * fitted), [1.0, 0.0, 0.0], vec![])
        } else {
            let again = pop.once_shared(users).clamp(0.0, single);
            let unseen_shared = pop.unseen_shared(users).max(0.0);
            let new_once = pop.unseen_with(1, users) + pop.unique * (users - 1.0);
            let once = if single > 0.0 {
                (single - again + new_once) / (users * single)
            } else {
                1.0
            };
            let birth = (fitted + again + unseen_shared) / (users * fitted);
            (
                once,
                birth,
                [fitted, again, unseen_shared],
                pop.unseen_counts(users),
            )
        };
        let finite = |x: f64| if x.is_finite() && x >= 0.0 { x } else { 1.0 };
        Some(Scaling {
            users,
            discount: pop.discount,
            cutoff: pop.cutoff,
            sources,
            unseen,
            by_reuses,
            once: finite(once),
            birth: finite(birth),
        })
    }

    /// A template and the `(lag, share)` of each reuse of a newborn prefix.
    pub fn draw<'t, R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        templates: &'t [PrefixTemplate],
    ) -> (&'t PrefixTemplate, Vec<(f64, f64)>) {
        if self.users < 1.0 {
            return self.thinned(rng, templates);
        }
        let total: f64 = self.sources.iter().sum();
        let x = rng.random::<f64>() * total;
        let reuses = if x < self.sources[0] {
            let t = &templates[rng.random_range(0..templates.len())];
            let c = t.reuses.len() + 1;
            let more = self.more_uses(rng, c as f64 - self.discount, false);
            return (t, extend(rng, t, t.reuses.len() + more));
        } else if x < self.sources[0] + self.sources[1] {
            self.more_uses(rng, 1.0 - self.discount, true)
        } else {
            let total = self.unseen.last().copied().unwrap_or(0.0);
            let y = rng.random::<f64>() * total;
            1 + self
                .unseen
                .partition_point(|&c| c <= y)
                .min(self.unseen.len().saturating_sub(1))
        };
        let t = self.nearest(rng, templates, reuses);
        (t, extend(rng, t, reuses))
    }

    /// Uses by the `users - 1` more users of an item whose popularity has posterior
    /// `Gamma(shape, 1 + beta)`; `at_least_one` conditions on one or more.
    fn more_uses<R: Rng + ?Sized>(&self, rng: &mut R, shape: f64, at_least_one: bool) -> usize {
        let Ok(gamma) = Gamma::new(shape.max(1e-6), 1.0 / (1.0 + self.cutoff)) else {
            return usize::from(at_least_one);
        };
        let more = self.users - 1.0;
        let mut last = usize::from(at_least_one);
        for _ in 0..MAX_TRIES {
            let mean = gamma.sample(rng) * more;
            let n = match Poisson::new(mean) {
                Ok(p) => p.sample(rng) as usize,
                Err(_) => 0,
            };
            if n >= 1 || !at_least_one {
                return n;
            }
            last = 1;
        }
        last
    }

    /// A fitted prefix kept by a `users` sample, given it stays shared: a template drawn
    /// as often as two or more of its uses survive, and the survivors among its reuses.
    fn thinned<'t, R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        templates: &'t [PrefixTemplate],
    ) -> (&'t PrefixTemplate, Vec<(f64, f64)>) {
        let mut pick = &templates[0];
        let mut kept = Vec::new();
        for _ in 0..MAX_TRIES {
            pick = &templates[rng.random_range(0..templates.len())];
            // The first use (the birth) and the reuses, each kept with probability K.
            let birth = rng.random::<f64>() < self.users;
            kept = pick
                .reuses
                .iter()
                .copied()
                .filter(|_| rng.random::<f64>() < self.users)
                .collect();
            let uses = kept.len() + usize::from(birth);
            if uses >= 2 {
                if !birth {
                    // The first kept reuse is the birth now: lags from it.
                    let first = kept.remove(0);
                    for r in &mut kept {
                        r.0 = (r.0 - first.0).max(0.0);
                    }
                }
                return (pick, kept);
            }
        }
        (pick, kept)
    }

    /// A template with the number of reuses nearest `want` (ties to the larger), drawn
    /// among those with that number.
    fn nearest<'t, R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        templates: &'t [PrefixTemplate],
        want: usize,
    ) -> &'t PrefixTemplate {
        let at = self.by_reuses.partition_point(|e| e.0 < want);
        let count = match (at.checked_sub(1), self.by_reuses.get(at)) {
            (_, Some(&(c, _))) if c == want => c,
            (Some(b), Some(&(above, _))) => {
                let below = self.by_reuses[b].0;
                if want - below < above - want {
                    below
                } else {
                    above
                }
            }
            (Some(b), None) => self.by_reuses[b].0,
            (None, Some(&(above, _))) => above,
            (None, None) => return &templates[0],
        };
        let lo = self.by_reuses.partition_point(|e| e.0 < count);
        let hi = self.by_reuses.partition_point(|e| e.0 <= count);
        &templates[self.by_reuses[rng.random_range(lo..hi)].1]
    }
}

/// `want` reuses from a template: a random subset of its own when it has more, its own
/// and more at lags drawn between its own (linearly interpolated, from the birth on)
/// with the depths of its own when it has fewer.
fn extend<R: Rng + ?Sized>(rng: &mut R, template: &PrefixTemplate, want: usize) -> Vec<(f64, f64)> {
    let mut reuses = template.reuses.clone();
    if reuses.len() > want {
        for i in 0..want {
            let j = rng.random_range(i..reuses.len());
            reuses.swap(i, j);
        }
        reuses.truncate(want);
        reuses.sort_by(|a, b| a.0.total_cmp(&b.0));
        return reuses;
    }
    if reuses.is_empty() {
        return reuses;
    }
    let mut lags: Vec<f64> = std::iter::once(0.0)
        .chain(template.reuses.iter().map(|r| r.0))
        .collect();
    lags.sort_unstable_by(f64::total_cmp);
    let m = lags.len() - 1;
    while reuses.len() < want {
        let pos = rng.random::<f64>() * m as f64;
        let i = (pos as usize).min(m - 1);
        let lag = lags[i] + (pos - i as f64).min(1.0) * (lags[i + 1] - lags[i]);
        let share = template.reuses[rng.random_range(0..template.reuses.len())].1;
        reuses.push((lag, share));
    }
    reuses
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn template(reuses: usize) -> PrefixTemplate {
        PrefixTemplate {
            blocks: 4,
            reuses: (0..reuses).map(|i| (10.0 * (i + 1) as f64, 1.0)).collect(),
            birth_tokens: None,
        }
    }

    fn pop(observed: Vec<(u32, u32)>) -> ContentPopulation {
        ContentPopulation {
            mass: 50.0,
            discount: 0.3,
            cutoff: 0.05,
            unique: 100.0,
            observed,
            growth: vec![],
        }
    }

    #[test]
    fn the_fitted_scale_changes_nothing() {
        let p = pop(vec![(1, 300), (2, 40)]);
        assert!(Scaling::new(&p, &[template(1)], 1.0).is_none());
    }

    #[test]
    fn a_quarter_of_the_users_thins_each_prefix() {
        // Every fitted prefix has 4 uses; at K = 1/4 the kept ones have 2 or more.
        let templates: Vec<PrefixTemplate> = (0..10).map(|_| template(3)).collect();
        let p = pop(vec![(1, 300), (4, 10)]);
        let s = Scaling::new(&p, &templates, 0.25).unwrap();
        // P(>= 2 of 4 kept) = 1 - 0.75^4 - 4 * 0.25 * 0.75^3 = 0.2617, over K = 0.25.
        assert!((s.birth - 0.2617 / 0.25).abs() < 1e-3, "{}", s.birth);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut reuses = 0;
        for _ in 0..2000 {
            let (_, r) = s.draw(&mut rng, &templates);
            assert!(!r.is_empty() && r.len() <= 3);
            assert!(r.iter().all(|u| u.0 >= 0.0));
            reuses += r.len();
        }
        // E[kept - 1 | kept >= 2] for Binomial(4, 1/4) = 2.209 - 1.
        let mean = reuses as f64 / 2000.0;
        assert!((mean - 1.209).abs() < 0.05, "{mean}");
    }

    #[test]
    fn four_times_the_users_add_reuses_and_new_shared_prefixes() {
        let templates: Vec<PrefixTemplate> = (1..6).map(template).collect();
        let p = pop(vec![(1, 300), (2, 10), (3, 5), (4, 3), (5, 2), (6, 1)]);
        let s = Scaling::new(&p, &templates, 4.0).unwrap();
        assert!(s.sources[1] > 0.0 && s.sources[2] > 0.0);
        assert!(s.once < 1.0, "{}", s.once);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let mean: f64 = (0..2000)
            .map(|_| s.draw(&mut rng, &templates).1.len() as f64)
            .sum::<f64>()
            / 2000.0;
        let fitted: f64 = templates.iter().map(|t| t.reuses.len() as f64).sum::<f64>() / 5.0;
        assert!(mean > fitted, "{mean} vs {fitted}");
    }
}
