//! The most used of a set of counted items, the way several fits keep only what recurs.

/// The items counted at least `min` times, most used first (ties by item, so the choice
/// is deterministic), at most `max` of them.
pub fn most_used<K: Ord + Copy, C: Ord + Copy>(
    counts: impl IntoIterator<Item = (K, C)>,
    min: C,
    max: usize,
) -> Vec<(K, C)> {
    let mut kept: Vec<(K, C)> = counts.into_iter().filter(|&(_, c)| c >= min).collect();
    kept.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    kept.truncate(max);
    kept
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_the_most_used_above_the_floor_ties_by_item() {
        let counts = [(5u64, 2u32), (1, 7), (3, 7), (9, 1), (4, 3)];
        assert_eq!(super::most_used(counts, 2, 3), [(1, 7), (3, 7), (4, 3)]);
        assert_eq!(super::most_used(counts, 8, 3), []);
    }
}
