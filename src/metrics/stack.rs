//! The LRU hit ratio at every cache size in one pass (Mattson's stack distances).
//!
//! With the prefix semantics of the cache figures (a request looks its blocks up, hits
//! on the leading ones the cache holds, then touches all of them in order), an LRU cache
//! of `C` blocks holds exactly the `C` most recently touched distinct blocks: the
//! inclusion property. So a block is held at size `C` when fewer than `C` distinct
//! blocks were touched since its own last touch (its stack distance, from
//! [`super::recency::Recency`]), and a request's hit length at `C` is the number of
//! leading blocks whose running maximum of distances is below `C`. One histogram of
//! those running maxima gives the whole curve.

use rustc_hash::FxHashMap;

/// Hits at every cache size, as a histogram of each hit block's running maximum
/// distance within its request (a block never seen, and every block after it, is a miss
/// at every size).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StackDistances {
    /// Blocks per running maximum distance: one byte per distance, since most distances
    /// are rare (a large trace has tens of millions of them), with the counts that
    /// outgrow a byte kept apart.
    low: Vec<u8>,
    high: FxHashMap<u32, u64>,
    /// Block occurrences, hit or not.
    total: u64,
}

impl StackDistances {
    /// `n` hit blocks whose request's running maximum distance is `d`.
    pub fn hit_n(&mut self, d: usize, n: u64) {
        if self.low.len() <= d {
            self.low.resize(d + 1, 0);
        }
        let c = &mut self.low[d];
        let room = u64::from(u8::MAX - *c);
        if n <= room {
            *c += n as u8;
        } else {
            *c = u8::MAX;
            *self.high.entry(d as u32).or_insert(0) += n - room;
        }
    }

    /// Block occurrences, hit or not.
    pub fn add_blocks(&mut self, n: u64) {
        self.total += n;
    }

    fn count(&self, d: usize) -> u64 {
        u64::from(self.low[d]) + self.high.get(&(d as u32)).copied().unwrap_or(0)
    }

    /// Hit ratio of an LRU cache of each of `capacities` blocks (one sweep for all);
    /// `None` without blocks.
    pub fn hit_ratios(&self, capacities: &[usize]) -> Vec<Option<f64>> {
        let mut order: Vec<usize> = (0..capacities.len()).collect();
        order.sort_unstable_by_key(|&k| capacities[k]);
        let mut out = vec![None; capacities.len()];
        let (mut d, mut hits) = (0usize, 0u64);
        for k in order {
            while d < capacities[k].min(self.low.len()) {
                hits += self.count(d);
                d += 1;
            }
            out[k] = super::sessions::ratio(hits, self.total);
        }
        out
    }

    pub fn hit_ratio(&self, capacity: usize) -> Option<f64> {
        self.hit_ratios(&[capacity])[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::blocks::BlockTable;
    use crate::metrics::cache::CachePass;
    use crate::metrics::lru::lru_hit_ratio;
    use crate::metrics::testing::hand_trace;
    use crate::trace::{Format, Request, Trace};
    use proptest::prelude::*;

    fn mooncake_of(requests: &[Vec<u64>]) -> Trace {
        Trace {
            format: Format::Mooncake,
            block_size: Some(512),
            requests: requests
                .iter()
                .enumerate()
                .map(|(i, ids)| Request {
                    timestamp: i as f64,
                    input_length: 512 * ids.len() as u64,
                    output_length: 1,
                    hash_ids: Some(ids.clone()),
                    session: None,
                })
                .collect(),
        }
    }

    /// The one pass's curve and the table's size, at every capacity asked.
    fn pass_of(trace: &Trace) -> CachePass {
        let mut pass = CachePass::default();
        let (mut times, mut types) = (Vec::new(), Vec::new());
        for r in &trace.requests {
            times.push(r.timestamp);
            types.push(0);
            pass.push(&times, &types, None, r.ids());
        }
        pass
    }

    #[test]
    fn agrees_with_the_simulator_on_the_hand_trace_and_mooncake() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/validation/data/mooncake/conversation_trace.jsonl"
        );
        let real = crate::trace::read_trace(path, None).expect("vendored trace");
        for trace in [hand_trace(), real] {
            let blocks = BlockTable::build(&trace).expect("blocks");
            let pass = pass_of(&trace);
            let unique = blocks.unique();
            assert_eq!(pass.unique(), unique);
            for capacity in [0, 1, 2, 3, unique / 100, unique / 20, unique / 4, unique] {
                assert_eq!(
                    pass.stack.hit_ratio(capacity),
                    lru_hit_ratio(&blocks, capacity),
                    "capacity {capacity}"
                );
            }
        }
    }

    proptest! {
        #![proptest_config(crate::proptest_seed::config(128))]

        /// Exactly the simulator's hit ratio at every size, repeats within a request
        /// included.
        #[test]
        fn matches_the_simulator_at_every_size(
            requests in prop::collection::vec(prop::collection::vec(0u64..12, 1..8), 1..60),
        ) {
            let trace = mooncake_of(&requests);
            let blocks = BlockTable::build(&trace).expect("blocks");
            let pass = pass_of(&trace);
            for capacity in 0..=blocks.unique() + 1 {
                prop_assert_eq!(pass.stack.hit_ratio(capacity), lru_hit_ratio(&blocks, capacity));
            }
        }
    }

    #[test]
    fn counts_past_a_byte_are_kept() {
        let mut s = StackDistances::default();
        for _ in 0..200 {
            s.hit_n(2, 1);
        }
        s.hit_n(2, 100);
        s.hit_n(0, 1);
        s.add_blocks(400);
        assert_eq!(s.count(2), 300);
        assert_eq!(
            s.hit_ratios(&[3, 0, 1, 10]),
            [
                Some(301.0 / 400.0),
                Some(0.0),
                Some(1.0 / 400.0),
                Some(301.0 / 400.0)
            ]
        );
    }
}
