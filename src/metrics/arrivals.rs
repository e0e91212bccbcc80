//! Arrival process: gaps between requests and how bursty the counts are.

use serde::{Deserialize, Serialize};

#[cfg(test)]
use super::summary::coefficient_of_variation;
use super::summary::{mean, variance};
use crate::trace::Trace;

/// Window lengths (seconds) at which the index of dispersion is reported: burstiness at
/// the scale of a batch, of a scheduler tick, and of a minute-long rate swing.
pub const IDC_WINDOWS: [f64; 3] = [1.0, 10.0, 60.0];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArrivalStats {
    /// Standard deviation over mean of consecutive gaps; 1 for a Poisson process.
    pub inter_arrival_cv: Option<f64>,
    /// Index of dispersion (variance / mean) of request counts per window, one entry per
    /// [`IDC_WINDOWS`] length; 1 for a Poisson process.
    pub dispersion: Vec<Dispersion>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Dispersion {
    pub window_s: f64,
    /// `None` when the trace spans fewer than two whole windows.
    pub index: Option<f64>,
}

impl ArrivalStats {
    pub fn compute(trace: &Trace) -> ArrivalStats {
        ArrivalStats::of_times(&timestamps(trace))
    }

    /// From every request's timestamp, in file order.
    pub fn of_times(times: &[f64]) -> ArrivalStats {
        ArrivalStats {
            inter_arrival_cv: gap_cv(times),
            dispersion: IDC_WINDOWS
                .iter()
                .map(|&w| Dispersion {
                    window_s: w,
                    index: index_of_dispersion(times, w),
                })
                .collect(),
        }
    }
}

pub fn timestamps(trace: &Trace) -> Vec<f64> {
    trace.requests.iter().map(|r| r.timestamp).collect()
}

/// [`super::summary::coefficient_of_variation`] of [`gaps`], without holding the gaps: the same sums in
/// the same order, so the same figure to the bit.
fn gap_cv(times: &[f64]) -> Option<f64> {
    let gaps = || times.windows(2).map(|w| w[1] - w[0]);
    let n = times.len().checked_sub(1).filter(|&n| n > 0)? as f64;
    let m = gaps().sum::<f64>() / n;
    if m == 0.0 {
        return None;
    }
    let variance = gaps().map(|v| (v - m) * (v - m)).sum::<f64>() / n;
    Some(variance.sqrt() / m)
}

/// Differences of consecutive times, in file order (files are sorted by time).
pub fn gaps(times: &[f64]) -> Vec<f64> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

/// Requests in consecutive windows of `window` seconds starting at the first request.
/// Only whole windows count: the last, partial one would read as an artificial lull.
/// Empty when `window` is not positive or the trace spans less than one window.
pub fn window_counts(times: &[f64], window: f64) -> Vec<f64> {
    let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
        return Vec::new();
    };
    if window.is_nan() || window <= 0.0 {
        return Vec::new();
    }
    let whole = ((last - first) / window).floor();
    if whole.is_nan() || whole < 1.0 {
        return Vec::new();
    }
    let mut counts = vec![0.0; whole as usize];
    for &t in times {
        let k = ((t - first) / window).floor() as usize;
        if let Some(c) = counts.get_mut(k) {
            *c += 1.0;
        }
    }
    counts
}

/// Variance over mean of [`window_counts`]; `None` with fewer than two whole windows.
pub fn index_of_dispersion(times: &[f64], window: f64) -> Option<f64> {
    let counts = window_counts(times, window);
    if counts.len() < 2 {
        return None;
    }
    let m = mean(&counts)?;
    if m == 0.0 {
        return None;
    }
    Some(variance(&counts)? / m)
}

/// Steps shorter than this are ties blurred by logging jitter, not steps of a grid.
const TIE: f64 = 0.010;

/// The grid step of timestamps, when at least 95 % of the steps between distinct
/// timestamps are whole multiples of one step (the median) of at least 0.5 s.
pub fn time_quantum(times: &[f64]) -> Option<f64> {
    let mut steps: Vec<f64> = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|&g| g > TIE)
        .collect();
    if steps.len() < 20 {
        return None;
    }
    steps.sort_unstable_by(f64::total_cmp);
    let q = steps[steps.len() / 2];
    if q < 0.5 {
        return None;
    }
    // Source jitter of a few ms (Mooncake's 2999/3001) still counts as on the grid.
    let on_grid = steps
        .iter()
        .filter(|&&g| {
            let m = (g / q).round();
            m >= 1.0 && (g - m * q).abs() <= 0.005 * q
        })
        .count();
    (on_grid as f64 >= 0.95 * steps.len() as f64).then(|| (q * 1000.0).round() / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_a_coarse_timestamp_grid() {
        let times: Vec<f64> = (0..200)
            .map(|i| f64::from(i / 3) * 3.0 + if i % 7 == 0 { 0.001 } else { 0.0 })
            .collect();
        assert_eq!(time_quantum(&times), Some(3.0));
        let fine: Vec<f64> = (0..200)
            .map(|i| f64::from(i) * 0.137 + f64::from(i % 5) * 0.011)
            .collect();
        assert_eq!(time_quantum(&fine), None);
    }
    use approx::assert_relative_eq;

    #[test]
    fn dispersion_counts_only_whole_windows() {
        // Times 0, 0.5, 0.7, 1.2, 2.9, 3.5 span 3.5 s: three whole 1 s windows with
        // counts 3, 1, 1 (3.5 falls in the dropped partial window). Mean 5/3, population
        // variance ((4/3)^2 + 2*(2/3)^2)/3 = (16/9 + 8/9)/3 = 8/9, IDC = (8/9)/(5/3) = 8/15.
        let t = [0.0, 0.5, 0.7, 1.2, 2.9, 3.5];
        assert_relative_eq!(index_of_dispersion(&t, 1.0).unwrap(), 8.0 / 15.0);
        // One whole 2 s window only: no spread to measure.
        assert!(index_of_dispersion(&t, 2.0).is_none());
    }

    #[test]
    fn window_counts_drop_the_partial_last_window() {
        let t = [0.0, 0.5, 0.7, 1.2, 2.9, 3.5];
        assert_eq!(window_counts(&t, 1.0), [3.0, 1.0, 1.0]);
        assert!(window_counts(&t, 5.0).is_empty());
        assert!(window_counts(&[], 1.0).is_empty());
    }

    #[test]
    fn evenly_spaced_arrivals_have_no_dispersion_or_variation() {
        let t: Vec<f64> = (0..100).map(f64::from).collect();
        assert_relative_eq!(index_of_dispersion(&t, 10.0).unwrap(), 0.0);
        assert_relative_eq!(coefficient_of_variation(&gaps(&t)).unwrap(), 0.0);
    }

    #[test]
    fn the_streamed_cv_is_the_cv_of_the_gaps_to_the_bit() {
        let mut x = 0.3f64;
        let mut t = vec![0.0];
        for _ in 0..5000 {
            x = (x * 3.7 * (1.0 - x)).abs() % 1.0;
            t.push(t.last().unwrap() + (x * 1000.0).round() / 1000.0 * 7.3);
        }
        for n in [0, 1, 2, 3, 50, t.len()] {
            let want = coefficient_of_variation(&gaps(&t[..n])).map(f64::to_bits);
            assert_eq!(gap_cv(&t[..n]).map(f64::to_bits), want, "{n} times");
        }
        assert_eq!(gap_cv(&[1.0, 1.0, 1.0]), None);
    }
}
