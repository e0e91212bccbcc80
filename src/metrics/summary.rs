//! Location and spread of one sample: mean, quantiles, coefficient of variation.

use serde::{Deserialize, Serialize};

use rustc_hash::FxHashMap;

use super::histogram::Histogram;

/// Mean and the quantiles every report quotes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

impl Summary {
    /// `None` for an empty sample: a mean of nothing would be a made-up number.
    pub fn of(values: &[f64]) -> Option<Summary> {
        let mean = mean(values)?;
        let mut scratch = values.to_vec();
        let q = quantiles_in_place(&mut scratch, &[0.5, 0.9, 0.99])?;
        Some(Summary {
            count: values.len() as u64,
            mean,
            p50: q[0],
            p90: q[1],
            p99: q[2],
        })
    }

    /// The summary of the sample `h` counts, whose values summed in file order make
    /// `sum` (the mean is that sum over the count, as [`Summary::of`] takes it).
    pub fn of_histogram(h: &Histogram, sum: f64) -> Option<Summary> {
        let q = h.quantiles(&[0.5, 0.9, 0.99])?;
        Some(Summary {
            count: h.total(),
            mean: sum / h.total() as f64,
            p50: q[0],
            p90: q[1],
            p99: q[2],
        })
    }
}

/// A sorted copy. NaNs sort last (total order) so one bad value cannot scramble the rest.
pub fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_unstable_by(f64::total_cmp);
    v
}

pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    Some(values.iter().sum::<f64>() / values.len() as f64)
}

/// Population variance (divide by n): the index of dispersion and the CV are defined on
/// the observed windows and gaps themselves, not as estimates of a wider population.
pub fn variance(values: &[f64]) -> Option<f64> {
    let m = mean(values)?;
    Some(values.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / values.len() as f64)
}

/// Standard deviation over mean; `None` when the mean is zero (all gaps tied).
pub fn coefficient_of_variation(values: &[f64]) -> Option<f64> {
    let m = mean(values)?;
    if m == 0.0 {
        return None;
    }
    Some(variance(values)?.sqrt() / m)
}

/// Quantile by linear interpolation between order statistics (numpy's default, Hyndman
/// and Fan type 7), so figures match the published analyses done with numpy/pandas.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let frac = pos - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    Some(quantiles_in_place(&mut values.to_vec(), &[q])?[0])
}

/// The same quantiles as [`quantile_sorted`] without sorting: each is found by selection
/// (O(n)), which matters for the ten-million-block reuse-gap samples of a large trace.
/// Reorders `values`. `qs` must be ascending, so each selection can work only on the part
/// above the previous one.
pub fn quantiles_in_place(values: &mut [f64], qs: &[f64]) -> Option<Vec<f64>> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mut out = Vec::with_capacity(qs.len());
    // Everything before `done` is <= everything from `done` on.
    let mut done = 0usize;
    for &q in qs {
        let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
        let lo = (pos.floor() as usize).max(done);
        let frac = pos - pos.floor();
        let (_, &mut at_lo, above) =
            values[done..].select_nth_unstable_by(lo - done, f64::total_cmp);
        let next = above
            .iter()
            .copied()
            .min_by(f64::total_cmp)
            .unwrap_or(at_lo);
        out.push(at_lo + (next - at_lo) * frac);
        done = lo;
    }
    Some(out)
}

/// [`spearman`] of the pairs a trace's requests make, given as `(a, b)` -> count: the
/// ranks of a value are its average rank among the tied, so pairs with equal values
/// need not be told apart. Computed exactly in integers (doubled ranks, whose products
/// and sums are whole), so it is the sum [`spearman`] takes wherever that one is exact
/// (below 2^53, that is up to a few hundred thousand pairs) and closer beyond.
pub fn spearman_counts(pairs: &FxHashMap<(u64, u64), u64>) -> Option<f64> {
    let n: u64 = pairs.values().sum();
    if n < 2 {
        return None;
    }
    // Doubled rank minus (n + 1), per value: the deviation from the mean rank, times 2.
    let deviations = |side: &dyn Fn(&(u64, u64)) -> u64| -> FxHashMap<u64, i128> {
        let mut counts: Vec<(u64, u64)> = {
            let mut m: FxHashMap<u64, u64> = FxHashMap::default();
            for (k, &c) in pairs {
                *m.entry(side(k)).or_insert(0) += c;
            }
            m.into_iter().collect()
        };
        counts.sort_unstable();
        let mut below = 0u64;
        counts
            .into_iter()
            .map(|(v, c)| {
                let doubled = 2 * below + c + 1;
                below += c;
                (v, i128::from(doubled) - i128::from(n + 1))
            })
            .collect()
    };
    let (da, db) = (deviations(&|k| k.0), deviations(&|k| k.1));
    let (mut cov, mut va, mut vb) = (0i128, 0i128, 0i128);
    for (&(a, b), &c) in pairs {
        let (x, y, c) = (da[&a], db[&b], i128::from(c));
        cov += c * x * y;
        va += c * x * x;
        vb += c * y * y;
    }
    if va == 0 || vb == 0 {
        return None;
    }
    // Each sum is 4 times the one of undoubled deviations.
    let (cov, va, vb) = (cov as f64 / 4.0, va as f64 / 4.0, vb as f64 / 4.0);
    Some(cov / (va.sqrt() * vb.sqrt()))
}

/// Spearman rank correlation: Pearson correlation of the ranks, tied values sharing
/// their average rank (so heavily tied integer lengths are not ranked by file order).
/// `None` for fewer than two pairs, unequal lengths, or a constant side.
pub fn spearman(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let (ma, mb) = (mean(&ra)?, mean(&rb)?);
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        cov += (x - ma) * (y - mb);
        va += (x - ma) * (x - ma);
        vb += (y - mb) * (y - mb);
    }
    if va == 0.0 || vb == 0.0 {
        return None;
    }
    Some(cov / (va.sqrt() * vb.sqrt()))
}

/// Kruskal-Wallis test that the groups (`group[i]` labels `values[i]`) come from one
/// distribution: the p-value of the tie-corrected H statistic against chi-squared with
/// (groups - 1) degrees of freedom. `None` with fewer than two groups or all values
/// tied.
pub fn kruskal_wallis_p(values: &[f64], group: &[usize]) -> Option<f64> {
    use statrs::distribution::{ChiSquared, ContinuousCDF};
    let n = values.len();
    let k = group.iter().copied().max()? + 1;
    let (r, ties) = ranks_and_ties(values);
    let (mut sums, mut sizes) = (vec![0.0; k], vec![0usize; k]);
    for (&g, &rank) in group.iter().zip(&r) {
        sums[g] += rank;
        sizes[g] += 1;
    }
    let present = sizes.iter().filter(|&&c| c > 0).count();
    if present < 2 {
        return None;
    }
    let nf = n as f64;
    let h: f64 = sums
        .iter()
        .zip(&sizes)
        .filter(|(_, c)| **c > 0)
        .map(|(s, &c)| s * s / c as f64)
        .sum::<f64>()
        * 12.0
        / (nf * (nf + 1.0))
        - 3.0 * (nf + 1.0);
    let correction = 1.0 - ties / (nf * nf * nf - nf);
    if correction <= 0.0 {
        return None;
    }
    let chi = ChiSquared::new((present - 1) as f64).ok()?;
    Some(chi.sf((h / correction).max(0.0)))
}

/// 1-based ranks, ties averaged.
fn ranks(values: &[f64]) -> Vec<f64> {
    ranks_and_ties(values).0
}

/// 1-based ranks, ties averaged, and the sum of t^3 - t over runs of t tied values (the
/// rank tests' tie correction).
fn ranks_and_ties(values: &[f64]) -> (Vec<f64>, f64) {
    let mut order: Vec<u32> = (0..values.len() as u32).collect();
    order.sort_unstable_by(|&i, &j| values[i as usize].total_cmp(&values[j as usize]));
    let mut out = vec![0.0; values.len()];
    let mut ties = 0.0;
    let mut start = 0;
    while start < order.len() {
        let v = values[order[start] as usize];
        let mut end = start + 1;
        while end < order.len() && values[order[end] as usize].total_cmp(&v).is_eq() {
            end += 1;
        }
        // Positions start..end hold ranks start+1..=end; their average:
        let rank = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            out[i as usize] = rank;
        }
        let t = (end - start) as f64;
        ties += t * t * t - t;
        start = end;
    }
    (out, ties)
}

#[cfg(test)]
mod tests {
    #[test]
    fn kruskal_wallis_tells_shifted_groups_from_one_population() {
        // Two interleaved groups of one sequence: no evidence against one population.
        let values: Vec<f64> = (0..200).map(f64::from).collect();
        let alternating: Vec<usize> = (0..200).map(|i| i % 2).collect();
        let p = super::kruskal_wallis_p(&values, &alternating).unwrap();
        assert!(p > 0.5, "p = {p}");
        // The lower and upper halves: overwhelming evidence.
        let halves: Vec<usize> = (0..200).map(|i| i / 100).collect();
        let p = super::kruskal_wallis_p(&values, &halves).unwrap();
        assert!(p < 1e-20, "p = {p}");
        // H for two groups of 3: ranks 1,2,3 and 4,5,6 give H = 3.857, p = 0.0495.
        let p = super::kruskal_wallis_p(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[0, 0, 0, 1, 1, 1]);
        approx::assert_abs_diff_eq!(p.unwrap(), 0.0495, epsilon = 1e-4);
        assert_eq!(super::kruskal_wallis_p(&[1.0, 2.0], &[0, 0]), None);
    }

    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn quantiles_interpolate_between_order_statistics() {
        // Sorted: 1 2 3 4 10. Positions q*(n-1): p50 -> 2.0 -> 3; p90 -> 3.6 -> 4 + 0.6*6
        // = 7.6; p99 -> 3.96 -> 4 + 0.96*6 = 9.76. Mean 20/5 = 4.
        let s = Summary::of(&[10.0, 3.0, 1.0, 4.0, 2.0]).unwrap();
        assert_eq!(s.count, 5);
        assert_relative_eq!(s.mean, 4.0);
        assert_relative_eq!(s.p50, 3.0);
        assert_relative_eq!(s.p90, 7.6);
        assert_relative_eq!(s.p99, 9.76);
        // Even count: p50 of 1 2 3 4 is halfway between 2 and 3.
        assert_relative_eq!(quantile(&[4.0, 1.0, 3.0, 2.0], 0.5).unwrap(), 2.5);
    }

    proptest::proptest! {
        #![proptest_config(crate::proptest_seed::config(256))]

        /// Selection must give exactly what sorting gives, ties and repeats included.
        #[test]
        fn selection_matches_sorting(v in proptest::collection::vec(-50i32..50, 1..60)) {
            let v: Vec<f64> = v.into_iter().map(f64::from).collect();
            let qs = [0.0, 0.1, 0.5, 0.5, 0.9, 0.99, 1.0];
            let got = quantiles_in_place(&mut v.clone(), &qs).unwrap();
            let s = sorted(&v);
            for (q, g) in qs.iter().zip(got) {
                proptest::prop_assert_eq!(g, quantile_sorted(&s, *q).unwrap());
            }
        }
    }

    #[test]
    fn spearman_by_hand() {
        // Monotone but not linear: rank correlation 1.
        assert_relative_eq!(
            spearman(&[1.0, 2.0, 3.0, 4.0], &[1.0, 10.0, 100.0, 1000.0]).unwrap(),
            1.0
        );
        assert_relative_eq!(spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]).unwrap(), -1.0);
        // a = 1 2 2 3 ranks 1 2.5 2.5 4 (mean 2.5); b = 1 3 2 4 ranks 1 3 2 4.
        // Deviations a: -1.5 0 0 1.5, b: -1.5 0.5 -0.5 1.5. cov = 2.25 + 2.25 = 4.5;
        // var a = 4.5, var b = 2.25 + 0.25 + 0.25 + 2.25 = 5; rho = 4.5 / sqrt(22.5).
        assert_relative_eq!(
            spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 4.0]).unwrap(),
            4.5 / 22.5f64.sqrt()
        );
        assert!(spearman(&[1.0, 1.0], &[1.0, 2.0]).is_none());
        let pairs = FxHashMap::from_iter([((1, 1), 1), ((2, 3), 1), ((2, 2), 1), ((3, 4), 1)]);
        assert_eq!(
            spearman_counts(&pairs),
            spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 4.0])
        );
        assert!(spearman(&[1.0], &[1.0]).is_none());
    }

    #[test]
    fn empty_samples_have_no_summary() {
        assert!(Summary::of(&[]).is_none());
        assert!(coefficient_of_variation(&[]).is_none());
    }

    #[test]
    fn cv_is_population_std_over_mean() {
        // Gaps 1 and 3: mean 2, population variance ((1-2)^2 + (3-2)^2)/2 = 1, CV 1/2.
        assert_relative_eq!(coefficient_of_variation(&[1.0, 3.0]).unwrap(), 0.5);
        assert!(coefficient_of_variation(&[0.0, 0.0]).is_none());
    }
}
