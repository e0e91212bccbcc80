//! The LRU hit ratio at every cache size in one pass (Mattson's stack distances).
//!
//! With the prefix semantics of [`super::cache::lru_hit_ratio`] (a request looks its
//! blocks up, hits on the leading ones the cache holds, then touches all of them in
//! order), an LRU cache of `C` blocks holds exactly the `C` most recently touched
//! distinct blocks: the inclusion property. So a block is held at size `C` when fewer
//! than `C` distinct blocks were touched since its own last touch (its stack distance),
//! and a request's hit length at `C` is the number of leading blocks whose running
//! maximum of distances is below `C`. One histogram of those running maxima gives the
//! whole curve; the distances come from a Fenwick tree over touch times, renumbered when
//! the times run out, so memory stays proportional to the distinct blocks.

use super::blocks::BlockTable;

/// Hits at every cache size, as a histogram of each block's running maximum distance
/// within its request (a block never seen, and every block after it, is a miss at every
/// size).
#[derive(Debug, Clone, PartialEq)]
pub struct StackDistances {
    /// `counts[d]`: blocks whose running maximum distance within their request is `d`.
    counts: Vec<u64>,
    total: u64,
}

impl StackDistances {
    /// One pass over the trace's requests in file order.
    pub fn compute(blocks: &BlockTable) -> StackDistances {
        let unique = blocks.unique();
        let mut counts = vec![0u64; unique + 1];
        let mut recency = Recency::new(unique);
        let mut distances: Vec<Option<usize>> = Vec::new();
        for i in 0..blocks.requests() {
            let ids = blocks.request(i);
            // Look every block up before any is touched, as the cache does.
            distances.clear();
            distances.extend(ids.iter().map(|&id| recency.distance(id)));
            let mut running = 0usize;
            for d in &distances {
                match d {
                    Some(d) => {
                        running = running.max(*d);
                        counts[running] += 1;
                    }
                    // A miss at every size, and so is every block after it.
                    None => break,
                }
            }
            for &id in ids {
                recency.touch(id);
            }
        }
        StackDistances {
            counts,
            total: blocks.total() as u64,
        }
    }

    /// Hit ratio of an LRU cache of `capacity` blocks; `None` without blocks.
    pub fn hit_ratio(&self, capacity: usize) -> Option<f64> {
        let hits: u64 = self.counts.iter().take(capacity).sum();
        super::sessions::ratio(hits, self.total)
    }
}

/// Stack distances of block ids: the last touch time of each, and a Fenwick tree over
/// times marking the latest touch of every block seen.
struct Recency {
    last: Vec<u32>,
    tree: Fenwick,
    /// Next touch time.
    now: u32,
    live: usize,
}

const UNSEEN: u32 = u32::MAX;

impl Recency {
    fn new(unique: usize) -> Recency {
        Recency {
            last: vec![UNSEEN; unique],
            tree: Fenwick::new(2 * unique + 2),
            now: 0,
            live: 0,
        }
    }

    /// Distinct blocks touched since `id`'s last touch; `None` if it never was.
    fn distance(&self, id: u32) -> Option<usize> {
        let t = self.last[id as usize];
        (t != UNSEEN).then(|| self.live - self.tree.prefix(t as usize + 1))
    }

    fn touch(&mut self, id: u32) {
        if self.now as usize >= self.tree.len() {
            self.renumber();
        }
        let t = &mut self.last[id as usize];
        if *t == UNSEEN {
            self.live += 1;
        } else {
            self.tree.add(*t as usize, -1);
        }
        *t = self.now;
        self.tree.add(self.now as usize, 1);
        self.now += 1;
    }

    /// Give the live blocks the times `0..live` in their order, freeing the rest.
    fn renumber(&mut self) {
        let mut order: Vec<(u32, usize)> = self
            .last
            .iter()
            .enumerate()
            .filter(|(_, t)| **t != UNSEEN)
            .map(|(id, &t)| (t, id))
            .collect();
        order.sort_unstable();
        self.tree = Fenwick::new(self.tree.len());
        for (rank, &(_, id)) in order.iter().enumerate() {
            self.last[id] = rank as u32;
            self.tree.add(rank, 1);
        }
        self.now = order.len() as u32;
    }
}

struct Fenwick {
    tree: Vec<i64>,
}

impl Fenwick {
    fn new(n: usize) -> Fenwick {
        Fenwick {
            tree: vec![0; n + 1],
        }
    }

    fn len(&self) -> usize {
        self.tree.len() - 1
    }

    fn add(&mut self, i: usize, v: i64) {
        let mut i = i + 1;
        while i < self.tree.len() {
            self.tree[i] += v;
            i += i & i.wrapping_neg();
        }
    }

    /// Sum over `0..n`.
    fn prefix(&self, n: usize) -> usize {
        let (mut i, mut s) = (n, 0i64);
        while i > 0 {
            s += self.tree[i];
            i &= i - 1;
        }
        s as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::cache::lru_hit_ratio;
    use crate::metrics::testing::hand_trace;
    use crate::trace::{Format, Request, Trace};
    use proptest::prelude::*;

    fn table(requests: &[Vec<u64>]) -> BlockTable {
        let trace = Trace {
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
        };
        BlockTable::build(&trace).expect("blocks")
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
            let stack = StackDistances::compute(&blocks);
            let unique = blocks.unique();
            for capacity in [0, 1, 2, 3, unique / 100, unique / 20, unique / 4, unique] {
                assert_eq!(
                    stack.hit_ratio(capacity),
                    lru_hit_ratio(&blocks, capacity),
                    "capacity {capacity}"
                );
            }
        }
    }

    proptest! {
        #![proptest_config(crate::proptest_seed::config(128))]

        /// Exactly the simulator's hit ratio at every size, repeats within a request and
        /// renumbering of the touch times included.
        #[test]
        fn matches_the_simulator_at_every_size(
            requests in prop::collection::vec(prop::collection::vec(0u64..12, 1..8), 1..60),
        ) {
            let blocks = table(&requests);
            let stack = StackDistances::compute(&blocks);
            for capacity in 0..=blocks.unique() + 1 {
                prop_assert_eq!(stack.hit_ratio(capacity), lru_hit_ratio(&blocks, capacity));
            }
        }
    }
}
