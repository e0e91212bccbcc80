//! How far two samples of the same service fall apart at a window's size: the distance
//! below which a row cannot tell a faithful model from the real trace.
//!
//! A window of a real trace is one sample of its service. Its figures carry sampling
//! noise that no model can remove, and the noise is larger than the sample's request
//! count suggests: the requests of a session are correlated (a chain of thirty turns
//! moves the input CDF thirty steps at once), so the number of sessions, not of
//! requests, sets the noise of the length and cache rows, and a 15-minute window gives
//! the IDC rows only 15 one-minute counts. A default tolerance can therefore lie below
//! the distance between two windows of one stationary process (measured with
//! `examples/noise_floor`).
//!
//! The floor is measured from the window itself, by the same judge: its sessions are
//! split into two halves at random (an independent thinning, so the halves are two
//! independent samples of the service at half its users), the halves are compared, and
//! the distance is scaled from two half-size samples to two full-size ones. Most rows'
//! distances shrink as one over the square root of the sample; an index of dispersion's
//! noise is set by the number of count bins, which halving the users leaves as it is, so
//! those rows are not scaled. Over several splits, the floor of a row is the distance a
//! faithful model's output would exceed in one window of ten (the 90th percentile).
//! Rows are still judged by their tolerances; the floor says which failures a model
//! could have avoided.

use std::collections::BTreeMap;

use crate::compare::{CompareOptions, compare};
use crate::trace::Trace;

use super::thin::split_sessions;

/// Splits measured per window.
pub const SPLITS: u64 = 10;
/// The share of faithful runs a floor lets through.
const FLOOR_QUANTILE: f64 = 0.9;

/// Per row, the distance a faithful model exceeds in one window of ten.
#[derive(Debug, Clone, Default)]
pub struct NoiseFloor {
    pub rows: BTreeMap<String, f64>,
}

impl NoiseFloor {
    /// The floor of `row`, if the halves had the figure.
    pub fn of(&self, row: &str) -> Option<f64> {
        self.rows.get(row).copied()
    }

    /// Whether `distance` on `row` is beyond both its tolerance and its floor: a
    /// failure sampling noise does not explain.
    pub fn beyond(&self, row: &str, distance: f64, tolerance: f64) -> bool {
        distance > tolerance.max(self.of(row).unwrap_or(0.0))
    }
}

/// The noise floor of `judged` (a real trace as it is compared), from `splits` random
/// session halves.
pub fn noise_floor(judged: &Trace, splits: u64) -> NoiseFloor {
    let mut distances: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for seed in 1..=splits {
        let (a, b) = split_sessions(judged, seed);
        if a.requests.len() < 2 || b.requests.len() < 2 {
            continue;
        }
        let c = compare(&a, &b, &CompareOptions::default());
        for r in c.rows {
            if let (Some(d), Some(_)) = (r.distance, r.tolerance)
                && d.is_finite()
            {
                let scale = if r.name.starts_with("idc.") {
                    1.0
                } else {
                    std::f64::consts::FRAC_1_SQRT_2
                };
                distances.entry(r.name).or_default().push(d * scale);
            }
        }
    }
    let rows = distances
        .into_iter()
        .map(|(name, mut d)| {
            d.sort_by(f64::total_cmp);
            (name, quantile(&d, FLOOR_QUANTILE))
        })
        .collect();
    NoiseFloor { rows }
}

/// Linear interpolation between order statistics.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let at = q * (sorted.len() - 1) as f64;
    let lo = at.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (at - lo as f64) * (sorted[hi] - sorted[lo])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates_between_order_statistics() {
        let d = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
        assert!((quantile(&d, 0.9) - 8.1).abs() < 1e-12);
        assert_eq!(quantile(&[2.5], 0.9), 2.5);
    }
}
