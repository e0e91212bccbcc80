//! Think times longer than the window, from the follow-ups whose parents came before it.
//!
//! A pair (parent, follow-up) is only seen when both fall in the window, so a window of
//! `W` seconds shows no think time above `W`, and the inverse-window weights that undo
//! the bias below `W` cannot create mass above it. Real think times run far longer
//! (minutes to hours between the turns of a chat), and without that mass a fit
//! underestimates how often a request continues (every request near the start of the
//! window looks as if it had all the time it needed) and the warm-up sends too few
//! follow-ups into the window.
//!
//! A window cut from a running stream shows that mass directly: a follow-up arriving `t`
//! seconds into the window is an orphan exactly when its think time exceeds `t`. With
//! follow-ups arriving at a steady rate and `S` the survival function of think times, the
//! orphans' share of all follow-ups in the window is the mean of `S` over `[0, W]`.
//! Below `W`, `S(t) = 1 - (1 - m) G(t)` with `G` the de-censored distribution of the seen
//! think times and `m = S(W)`, so that share is `1 - (1 - m) mean(G)` and gives `m`.
//! Past `W` the mass is spread as a Pareto tail through `S(W / 2)` and `S(W)` (the
//! window's own decay, continued), up to the longest warm-up a model runs.

/// Fewest orphans the estimate is made from.
const MIN_ORPHANS: usize = 30;
/// The most of the think-time mass that may lie past the window.
const MAX_MASS: f64 = 0.9;
/// The Pareto exponent is kept in this range (a near-flat or a near-sudden decay).
const ALPHA_RANGE: (f64, f64) = (0.25, 4.0);
/// Pseudo-observations that carry the mass past the window.
const POINTS: usize = 64;
/// The tail reaches this many windows: the longest warm-up (see
/// `fit::total_rate::MAX_WARM_UP_SPANS`) could not send anything later into the window.
pub(super) const REACH_WINDOWS: f64 = 4.0;

/// The think-time mass past the window and where it lies.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Beyond {
    /// Share of all think times longer than the window.
    pub mass: f64,
    /// Think times spread over that share, evenly in probability.
    pub points: Vec<f64>,
}

impl Beyond {
    /// From the seen think times (each with its inverse-window weight), the window's
    /// length, and the numbers of follow-ups whose parents came before the window
    /// (`orphans`) and inside it (`seen`). `None` without enough orphans, or where the
    /// seen think times already account for them.
    pub fn estimate(
        gaps: &[(f64, f64)],
        window: f64,
        orphans: usize,
        seen: usize,
    ) -> Option<Beyond> {
        if orphans < MIN_ORPHANS || seen == 0 || window <= 0.0 {
            return None;
        }
        let total: f64 = gaps.iter().map(|g| g.1).sum();
        if total <= 0.0 {
            return None;
        }
        let share = orphans as f64 / (orphans + seen) as f64;
        // mean(G) over [0, W] is 1 - E_G[D] / W.
        let mean_delay = gaps.iter().map(|(d, w)| d.min(window) * w).sum::<f64>() / total;
        let mean_g = 1.0 - mean_delay / window;
        if mean_g <= 0.0 {
            return None;
        }
        let mass = (1.0 - (1.0 - share) / mean_g).min(MAX_MASS);
        if mass <= 0.0 {
            return None;
        }
        let half = window / 2.0;
        let g_half = gaps
            .iter()
            .filter(|g| g.0 <= half)
            .map(|g| g.1)
            .sum::<f64>()
            / total;
        let s_half = 1.0 - (1.0 - mass) * g_half;
        let alpha =
            ((s_half / mass).ln() / std::f64::consts::LN_2).clamp(ALPHA_RANGE.0, ALPHA_RANGE.1);
        // Quantiles of the Pareto from W, conditioned on staying below the reach.
        let cut = 1.0 - REACH_WINDOWS.powf(-alpha);
        let points = (0..POINTS)
            .map(|i| {
                let u = (i as f64 + 0.5) / POINTS as f64 * cut;
                window * (1.0 - u).powf(-1.0 / alpha)
            })
            .collect();
        Some(Beyond { mass, points })
    }

    /// The think times `gaps` with their weights, plus the pseudo-observations that give
    /// the mass past the window its share of their total weight.
    pub fn extend(&self, gaps: &[f64], weights: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let total: f64 = weights.iter().sum();
        let each = total * self.mass / (1.0 - self.mass) / self.points.len() as f64;
        let mut g = gaps.to_vec();
        let mut w = weights.to_vec();
        g.extend_from_slice(&self.points);
        w.extend(std::iter::repeat_n(each, self.points.len()));
        (g, w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A steady stream of parents with exponential think times of mean `mu`, seen
    /// through a window: the mass past the window comes out as `exp(-W / mu)`.
    #[test]
    fn recovers_the_mass_past_the_window() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (window, mu) = (900.0, 600.0);
        let mut gaps = Vec::new();
        let (mut orphans, mut seen) = (0, 0);
        // Parents from 10 windows before the window to its end, one follow-up each.
        for _ in 0..200_000 {
            let parent = rng.random::<f64>() * 11.0 * window - 10.0 * window;
            let d = -mu * (1.0 - rng.random::<f64>()).ln();
            let child = parent + d;
            if !(0.0..window).contains(&child) {
                continue;
            }
            if parent < 0.0 {
                orphans += 1;
            } else {
                seen += 1;
                gaps.push((d, crate::model::quantile::inverse_window_weight(d, window)));
            }
        }
        let b = Beyond::estimate(&gaps, window, orphans, seen).expect("orphans seen");
        let truth = (-window / mu).exp();
        assert!(
            (b.mass - truth).abs() < 0.03,
            "mass {} against {truth}",
            b.mass
        );
        assert!(
            b.points
                .iter()
                .all(|&p| p >= window && p <= REACH_WINDOWS * window)
        );
    }

    /// Without orphans, or with as few as the seen think times explain, nothing is added.
    #[test]
    fn no_orphans_no_tail() {
        let gaps: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, 1.0)).collect();
        assert!(Beyond::estimate(&gaps, 900.0, 0, 100).is_none());
        // Think times below 100 s in a 900 s window leave about 6 % of the follow-ups
        // orphaned by themselves: 5 % needs no mass past the window.
        assert!(Beyond::estimate(&gaps, 900.0, 50, 1000).is_none());
        assert!(Beyond::estimate(&gaps, 900.0, 200, 1000).is_some());
    }
}
