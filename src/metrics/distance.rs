//! Distances between a real and a synthetic sample, for `compare` and the tests of the
//! generator. Each returns `None` when a side is empty: no distance is defined, and
//! inventing 0 or 1 would read as a verdict.

use std::collections::BTreeMap;

use super::histogram::Histogram;

/// Two-sample Kolmogorov-Smirnov statistic: the largest gap between the two empirical
/// CDFs. Tied values are stepped over together, so identical samples give exactly 0.
pub fn ks_distance(a: &[f64], b: &[f64]) -> Option<f64> {
    ks_distance_hist(
        &Histogram::from_values(a.iter().copied()),
        &Histogram::from_values(b.iter().copied()),
    )
}

/// [`ks_distance`] of two exact histograms: each CDF steps once per distinct value, as
/// the sorted samples' would.
pub fn ks_distance_hist(a: &Histogram, b: &Histogram) -> Option<f64> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let (n, m) = (a.total() as f64, b.total() as f64);
    let (mut a, mut b) = (a.iter().peekable(), b.iter().peekable());
    let (mut i, mut j, mut d) = (0u64, 0u64, 0f64);
    while let (Some(&(p, _)), Some(&(q, _))) = (a.peek(), b.peek()) {
        let x = p.min(q);
        i += take_up_to(&mut a, x);
        j += take_up_to(&mut b, x);
        d = d.max((i as f64 / n - j as f64 / m).abs());
    }
    Some(d)
}

/// Consume the leading values `<= x`, returning how many samples they hold.
fn take_up_to(it: &mut std::iter::Peekable<impl Iterator<Item = (f64, u64)>>, x: f64) -> u64 {
    let mut taken = 0;
    while let Some(&(v, c)) = it.peek() {
        // The same comparison the sorted samples were stepped with, NaN included.
        if v <= x {
            taken += c;
            it.next();
        } else {
            break;
        }
    }
    taken
}

/// Wasserstein-1 (earth mover's) distance: the area between the two empirical CDFs, in
/// the samples' own unit.
pub fn wasserstein1(a: &[f64], b: &[f64]) -> Option<f64> {
    wasserstein1_hist(
        &Histogram::from_values(a.iter().copied()),
        &Histogram::from_values(b.iter().copied()),
    )
}

/// [`wasserstein1`] of two exact histograms.
pub fn wasserstein1_hist(a: &Histogram, b: &Histogram) -> Option<f64> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let (n, m) = (a.total() as f64, b.total() as f64);
    let (mut a, mut b) = (a.iter().peekable(), b.iter().peekable());
    let (mut i, mut j, mut area) = (0u64, 0u64, 0f64);
    let mut x = a
        .peek()
        .expect("non-empty")
        .0
        .min(b.peek().expect("non-empty").0);
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(&(p, _)), Some(&(q, _))) => p.min(q),
            (Some(&(p, _)), None) => p,
            (None, Some(&(q, _))) => q,
            (None, None) => break,
        };
        area += (i as f64 / n - j as f64 / m).abs() * (next - x);
        x = next;
        i += take_up_to(&mut a, x);
        j += take_up_to(&mut b, x);
    }
    Some(area)
}

/// Wasserstein-1 between `ln(1 + x)` of the samples: lengths and gaps span orders of
/// magnitude, and on a linear scale the tail alone would decide. `1 + x` keeps zero
/// lengths and tied (zero) gaps finite. `None` if a value is negative.
pub fn wasserstein1_log(a: &[f64], b: &[f64]) -> Option<f64> {
    wasserstein1_log_hist(
        &Histogram::from_values(a.iter().copied()),
        &Histogram::from_values(b.iter().copied()),
    )
}

/// [`wasserstein1_log`] of two exact histograms (`ln(1 + x)` keeps the order, so the
/// logs need no sort of their own).
pub fn wasserstein1_log_hist(a: &Histogram, b: &Histogram) -> Option<f64> {
    let log = |h: &Histogram| -> Option<Histogram> {
        if !h.iter().all(|(x, _)| x >= 0.0) {
            return None;
        }
        Some(h.map_monotone(f64::ln_1p))
    };
    wasserstein1_hist(&log(a)?, &log(b)?)
}

/// Total variation distance between two categorical histograms (counts, normalised
/// here): half the L1 distance of the shares; a key missing on one side counts as 0.
pub fn total_variation<K: Ord>(a: &BTreeMap<K, u64>, b: &BTreeMap<K, u64>) -> Option<f64> {
    let (na, nb) = (a.values().sum::<u64>(), b.values().sum::<u64>());
    if na == 0 || nb == 0 {
        return None;
    }
    let share =
        |h: &BTreeMap<K, u64>, k: &K, n: u64| h.get(k).map_or(0.0, |&c| c as f64 / n as f64);
    let l1: f64 = a
        .keys()
        .chain(b.keys().filter(|k| !a.contains_key(*k)))
        .map(|k| (share(a, k, na) - share(b, k, nb)).abs())
        .sum();
    Some(l1 / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn ks_is_the_largest_cdf_gap() {
        // a = {1,2,3,4}, b = {3,4,5,6}: after 2, F_a = 0.5 and F_b = 0; after 3,
        // 0.75 vs 0.25; after 4, 1 vs 0.5. The largest gap is 0.5.
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [3.0, 4.0, 5.0, 6.0];
        assert_relative_eq!(ks_distance(&a, &b).unwrap(), 0.5);
        assert_relative_eq!(ks_distance(&a, &a).unwrap(), 0.0);
        // Disjoint samples are as far apart as KS can say.
        assert_relative_eq!(ks_distance(&[1.0], &[2.0, 3.0]).unwrap(), 1.0);
        assert!(ks_distance(&a, &[]).is_none());
    }

    #[test]
    fn ks_steps_over_ties_together() {
        // a = {1,1,2}, b = {1,2,2}: after 1, F_a = 2/3 and F_b = 1/3 (gap 1/3); after
        // 2 both are 1. Stepping one tied value at a time would report 2/3 - 0 instead.
        assert_relative_eq!(
            ks_distance(&[1.0, 1.0, 2.0], &[1.0, 2.0, 2.0]).unwrap(),
            1.0 / 3.0
        );
    }

    #[test]
    fn wasserstein_is_the_area_between_cdfs() {
        // Shifting every point by 2 moves all mass 2 units: W1 = 2.
        assert_relative_eq!(wasserstein1(&[0.0, 1.0], &[2.0, 3.0]).unwrap(), 2.0);
        // a = {0, 10}, b = {5}: half the mass moves 5 each way: W1 = 5.
        assert_relative_eq!(wasserstein1(&[0.0, 10.0], &[5.0]).unwrap(), 5.0);
        // On the log scale, e-1 vs 0 is ln(e) - ln(1) = 1 apart.
        let e1 = std::f64::consts::E - 1.0;
        assert_relative_eq!(
            wasserstein1_log(&[e1], &[0.0]).unwrap(),
            1.0,
            epsilon = 1e-12
        );
        assert!(wasserstein1_log(&[-1.0], &[0.0]).is_none());
    }

    #[test]
    fn total_variation_of_shares() {
        // a: x 3/4, y 1/4; b: x 1/4, z 3/4. |3/4-1/4| + |1/4-0| + |0-3/4| = 1.5, half 0.75.
        let a = BTreeMap::from([("x", 3), ("y", 1)]);
        let b = BTreeMap::from([("x", 1), ("z", 3)]);
        assert_relative_eq!(total_variation(&a, &b).unwrap(), 0.75);
        assert_relative_eq!(total_variation(&a, &a).unwrap(), 0.0);
        assert!(total_variation(&a, &BTreeMap::new()).is_none());
    }
}
