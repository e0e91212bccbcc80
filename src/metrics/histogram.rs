//! An exact sample kept as its distinct values and their counts: the sorted sample it
//! stands for is each value repeated `count` times, so every quantile, KS and
//! Wasserstein figure read off it is the one the sorted sample gives, to the last bit,
//! while memory follows the distinct values (lengths, gaps of distinct request pairs)
//! rather than the records.

use rustc_hash::FxHashMap;

/// Distinct values ascending (in `f64::total_cmp` order, as samples were sorted), each
/// with how often it occurs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    values: Vec<f64>,
    counts: Vec<u64>,
    total: u64,
}

/// Counts by exact value while a pass runs; [`Tally::finish`] sorts them once.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    counts: FxHashMap<u64, u64>,
}

impl Tally {
    pub fn add(&mut self, value: f64) {
        self.add_n(value, 1);
    }

    pub fn add_n(&mut self, value: f64, n: u64) {
        *self.counts.entry(value.to_bits()).or_insert(0) += n;
    }

    pub fn finish(self) -> Histogram {
        Histogram::from_pairs(
            self.counts
                .into_iter()
                .map(|(bits, n)| (f64::from_bits(bits), n))
                .collect(),
        )
    }
}

impl Histogram {
    pub fn from_values(values: impl IntoIterator<Item = f64>) -> Histogram {
        Histogram::from_pairs(values.into_iter().map(|v| (v, 1)).collect())
    }

    /// From `(value, count)` pairs in any order; equal values are merged.
    pub fn from_pairs(mut pairs: Vec<(f64, u64)>) -> Histogram {
        pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let mut h = Histogram::default();
        for (v, n) in pairs {
            if n == 0 {
                continue;
            }
            h.total += n;
            match h.values.last() {
                Some(last) if last.total_cmp(&v).is_eq() => {
                    *h.counts.last_mut().expect("a count per value") += n
                }
                _ => {
                    h.values.push(v);
                    h.counts.push(n);
                }
            }
        }
        h
    }

    /// Sample size (the sum of the counts).
    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// `(value, count)` ascending.
    pub fn iter(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        self.values.iter().copied().zip(self.counts.iter().copied())
    }

    /// Every value mapped through `f`, which must keep the order (it may merge values).
    pub fn map_monotone(&self, f: impl Fn(f64) -> f64) -> Histogram {
        Histogram::from_pairs(self.iter().map(|(v, n)| (f(v), n)).collect())
    }

    /// The value at 0-based position `rank` of the sorted sample.
    pub fn value_at(&self, rank: u64) -> f64 {
        let mut seen = 0;
        for (v, n) in self.iter() {
            seen += n;
            if rank < seen {
                return v;
            }
        }
        *self.values.last().expect("rank within a non-empty sample")
    }

    /// [`super::summary::quantile_sorted`] of the sorted sample: linear interpolation
    /// between order statistics (numpy's default).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.quantiles(&[q]).map(|v| v[0])
    }

    /// Several quantiles in one walk; `qs` in any order.
    pub fn quantiles(&self, qs: &[f64]) -> Option<Vec<f64>> {
        let n = self.total;
        if n == 0 {
            return None;
        }
        Some(
            qs.iter()
                .map(|&q| {
                    let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
                    let lo = pos.floor() as u64;
                    let hi = (lo + 1).min(n - 1);
                    let frac = pos - lo as f64;
                    let (a, b) = (self.value_at(lo), self.value_at(hi));
                    a + (b - a) * frac
                })
                .collect(),
        )
    }

    /// The sorted sample itself, for callers that want the values.
    pub fn expand(&self) -> Vec<f64> {
        self.iter()
            .flat_map(|(v, n)| std::iter::repeat_n(v, n as usize))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::summary::{quantile_sorted, sorted};

    proptest::proptest! {
        #![proptest_config(crate::proptest_seed::config(256))]

        /// Quantiles of the counts are exactly those of the sorted sample.
        #[test]
        fn quantiles_match_the_sorted_sample(v in proptest::collection::vec(-20i32..20, 1..80)) {
            let v: Vec<f64> = v.into_iter().map(|x| f64::from(x) / 4.0).collect();
            let h = Histogram::from_values(v.iter().copied());
            let s = sorted(&v);
            proptest::prop_assert_eq!(h.expand(), s.clone());
            for q in [0.0, 0.1, 0.5, 0.9, 0.99, 1.0] {
                proptest::prop_assert_eq!(h.quantile(q), quantile_sorted(&s, q));
            }
        }
    }

    #[test]
    fn a_tally_merges_equal_values() {
        let mut t = Tally::default();
        for v in [3.0, 1.0, 3.0, 2.0, 3.0] {
            t.add(v);
        }
        let h = t.finish();
        assert_eq!(h.iter().collect::<Vec<_>>(), [(1.0, 1), (2.0, 1), (3.0, 3)]);
        assert_eq!(h.total(), 5);
        assert_eq!(h.value_at(4), 3.0);
    }
}
