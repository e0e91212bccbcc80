//! Prefix caching: how many blocks an ideal or a finite LRU cache would serve.
//!
//! A request hits on the longest run of leading ids already cached (stop at the first
//! miss), as a prefix cache (vLLM, SGLang) can only reuse a KV prefix. After a request,
//! all of its ids are cached and become the most recently used. Requests go in file
//! order.

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use super::blocks::BlockTable;
use super::lru::Lru;
use super::sessions::SessionIndex;
use super::stack::StackDistances;
use super::types::TypeIndex;
use crate::trace::Trace;

/// Cache sizes reported, as percentages of the trace's distinct blocks.
pub const LRU_PERCENTS: [f64; 5] = [1.0, 5.0, 10.0, 25.0, 50.0];

/// What an infinite cache sees, per request type (a single bucket when the trace has no
/// types).
#[derive(Debug, Clone, Default)]
pub struct IdealPass {
    pub blocks: Vec<u64>,
    pub hits: Vec<u64>,
    /// Distinct ids first brought in by a request of each type.
    pub new_blocks: Vec<u64>,
    /// Of those, how many are hit by some later request.
    pub new_blocks_hit: Vec<u64>,
    /// Seconds since the block's previous use, one per hit block, by the reusing
    /// request's type.
    pub reuse_gaps: Vec<Vec<f64>>,
    /// Hit blocks whose id an earlier request of the same session carried, and those
    /// seen only in other sessions. `None` without sessions.
    pub same_session_hits: Option<u64>,
    pub cross_session_hits: Option<u64>,
}

impl IdealPass {
    pub fn run(
        trace: &Trace,
        blocks: &BlockTable,
        types: Option<&TypeIndex>,
        sessions: Option<&SessionIndex>,
    ) -> IdealPass {
        let buckets = types.map_or(1, |t| t.len().max(1));
        let type_of = |i: usize| types.map_or(0, |t| t.of_request[i] as usize);
        let mut pass = IdealPass {
            blocks: vec![0; buckets],
            hits: vec![0; buckets],
            new_blocks: vec![0; buckets],
            new_blocks_hit: vec![0; buckets],
            reuse_gaps: vec![Vec::new(); buckets],
            ..IdealPass::default()
        };
        // NaN marks a block never used yet.
        let mut last_use = vec![f64::NAN; blocks.unique()];
        let mut introduced_by = vec![0u16; blocks.unique()];
        let mut ever_hit = vec![false; blocks.unique()];
        let mut split = sessions.map(SessionBlocks::new);
        for (i, req) in trace.requests.iter().enumerate() {
            let ids = blocks.request(i);
            let ty = type_of(i);
            let now = req.timestamp;
            let hits = ids
                .iter()
                .take_while(|&&id| !last_use[id as usize].is_nan())
                .count();
            pass.blocks[ty] += ids.len() as u64;
            pass.hits[ty] += hits as u64;
            for &id in &ids[..hits] {
                pass.reuse_gaps[ty].push(now - last_use[id as usize]);
                ever_hit[id as usize] = true;
            }
            if let Some(split) = split.as_mut() {
                split.record(i, &ids[..hits], ids);
            }
            for &id in ids {
                if last_use[id as usize].is_nan() {
                    introduced_by[id as usize] = ty as u16;
                    pass.new_blocks[ty] += 1;
                }
                last_use[id as usize] = now;
            }
        }
        for (id, &hit) in ever_hit.iter().enumerate() {
            if hit {
                pass.new_blocks_hit[introduced_by[id] as usize] += 1;
            }
        }
        if let Some(split) = split {
            pass.same_session_hits = Some(split.same);
            pass.cross_session_hits = Some(split.cross);
        }
        pass
    }

    pub fn total_blocks(&self) -> u64 {
        self.blocks.iter().sum()
    }

    pub fn total_hits(&self) -> u64 {
        self.hits.iter().sum()
    }
}

/// The ids each live session has carried so far. A session's set is dropped after its
/// last request, so memory follows the sessions open at once, not the whole trace.
struct SessionBlocks<'a> {
    index: &'a SessionIndex,
    last_request: FxHashMap<u32, u32>,
    open: FxHashMap<u32, FxHashSet<u32>>,
    same: u64,
    cross: u64,
}

impl<'a> SessionBlocks<'a> {
    fn new(index: &'a SessionIndex) -> Self {
        let mut last_request = FxHashMap::default();
        for (i, &h) in index.head.iter().enumerate() {
            last_request.insert(h, i as u32);
        }
        SessionBlocks {
            index,
            last_request,
            open: FxHashMap::default(),
            same: 0,
            cross: 0,
        }
    }

    /// Classify request `i`'s hit blocks (all of them were seen before, somewhere), then
    /// remember its ids for the session's later requests.
    fn record(&mut self, i: usize, hit: &[u32], ids: &[u32]) {
        let head = self.index.head[i];
        let last = self.last_request.get(&head) == Some(&(i as u32));
        let set = self.open.entry(head).or_default();
        let same = hit.iter().filter(|id| set.contains(id)).count() as u64;
        self.same += same;
        self.cross += hit.len() as u64 - same;
        if last {
            self.open.remove(&head);
        } else {
            set.extend(ids.iter().copied());
        }
    }
}

/// Hit ratio of an LRU prefix cache holding `capacity` blocks; `None` for a trace
/// without blocks.
pub fn lru_hit_ratio(blocks: &BlockTable, capacity: usize) -> Option<f64> {
    let mut lru = Lru::new(blocks.unique(), capacity);
    let mut hits = 0u64;
    for i in 0..blocks.requests() {
        let ids = blocks.request(i);
        hits += ids.iter().take_while(|&&id| lru.contains(id)).count() as u64;
        for &id in ids {
            lru.touch(id);
        }
    }
    super::sessions::ratio(hits, blocks.total() as u64)
}

/// One point of the finite-cache hit-ratio curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LruPoint {
    /// Cache size as a percentage of the distinct blocks.
    pub percent: f64,
    pub capacity: u64,
    pub hit_ratio: Option<f64>,
}

/// The hit-ratio curve at [`LRU_PERCENTS`].
pub fn lru_curve(blocks: &BlockTable) -> Vec<LruPoint> {
    lru_curve_at(blocks, &LRU_PERCENTS)
}

/// The hit-ratio curve at the given cache sizes (percentages of the distinct blocks),
/// from one stack-distance pass ([`StackDistances`]), exact at every size.
pub fn lru_curve_at(blocks: &BlockTable, percents: &[f64]) -> Vec<LruPoint> {
    points(&StackDistances::compute(blocks), blocks.unique(), percents)
}

/// Cache sizes of the whole curve: log-spaced from 1 % to 100 % of the distinct blocks.
pub const LRU_CURVE_POINTS: usize = 32;

pub fn lru_curve_percents() -> Vec<f64> {
    (0..LRU_CURVE_POINTS)
        .map(|i| 10f64.powf(2.0 * i as f64 / (LRU_CURVE_POINTS - 1) as f64))
        .collect()
}

/// The curve at `percents` of `unique` blocks, read off one pass.
pub fn points(stack: &StackDistances, unique: usize, percents: &[f64]) -> Vec<LruPoint> {
    percents
        .iter()
        .map(|&percent| {
            let capacity = (percent / 100.0 * unique as f64).round() as usize;
            LruPoint {
                percent,
                capacity: capacity as u64,
                hit_ratio: stack.hit_ratio(capacity),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::testing::{hand_trace, mooncake};
    use approx::assert_relative_eq;

    #[test]
    fn lru_hit_ratios_by_hand() {
        // The hand trace (testing.rs), dense ids equal to the raw ids' first-seen order.
        // Capacity 2: after r0 the cache is {3,2}; no later request finds its first id
        // cached (r1 needs 1; r2 1 after {4,2}; r3 7; r4 1 after {2,7}): 0/18.
        // Capacity 3: r0 leaves [3,2,1]; r1 hits 1,2 (4 misses), leaves [4,2,1]; r2 hits
        // 1,2 (3 was evicted by 4), leaves [6,5,3]; r3 and r4 miss first: 4/18.
        // Capacity 4: r1 hits 1,2 and leaves [4,2,1,3]; r2 hits 1,2,3 and leaves
        // [6,5,3,2]; r3 misses 7; r4 misses 1 (evicted by 6): 5/18.
        let trace = hand_trace();
        let blocks = BlockTable::build(&trace).unwrap();
        assert_eq!(blocks.unique(), 8);
        assert_eq!(blocks.total(), 18);
        assert_relative_eq!(lru_hit_ratio(&blocks, 2).unwrap(), 0.0);
        assert_relative_eq!(lru_hit_ratio(&blocks, 3).unwrap(), 4.0 / 18.0);
        assert_relative_eq!(lru_hit_ratio(&blocks, 4).unwrap(), 5.0 / 18.0);
        // Big enough to never evict: the ideal 9/18.
        assert_relative_eq!(lru_hit_ratio(&blocks, 8).unwrap(), 0.5);
        // 8 unique ids: 1/5/10/25/50 % round to capacities 0, 0, 1, 2, 4.
        let curve = lru_curve(&blocks);
        let caps: Vec<u64> = curve.iter().map(|p| p.capacity).collect();
        assert_eq!(caps, [0, 0, 1, 2, 4]);
        assert_relative_eq!(curve[4].hit_ratio.unwrap(), 5.0 / 18.0);
        assert_relative_eq!(curve[2].hit_ratio.unwrap(), 0.0);
    }

    #[test]
    fn hits_stop_at_the_first_miss_and_repeats_count_per_occurrence() {
        // r0 [5,5,6]: nothing cached, 0/3 (the second 5 is not a hit: the cache is
        // updated after a request). r1 [5,7,6]: 5 hits, 7 misses, 6 is cached but after
        // the miss so it does not count: 1/3. r2 [5,5,6,9]: 3 hits. Ideal: 4/10.
        // Reuse gaps: r1's 5 at 10-0 = 10; r2's 5,5,6 at 30-10, 30-10, 30-10 = 20 each.
        // New blocks 5,6,7,9; hit later: 5, 6: 2/4.
        let trace = mooncake(&[(0.0, &[5, 5, 6]), (10.0, &[5, 7, 6]), (30.0, &[5, 5, 6, 9])]);
        let blocks = BlockTable::build(&trace).unwrap();
        let pass = IdealPass::run(&trace, &blocks, None, None);
        assert_eq!((pass.total_hits(), pass.total_blocks()), (4, 10));
        assert_eq!(pass.reuse_gaps, vec![vec![10.0, 20.0, 20.0, 20.0]]);
        assert_eq!((pass.new_blocks_hit[0], pass.new_blocks[0]), (2, 4));
        assert!(pass.same_session_hits.is_none());
        // LRU of 2 keeps [6,5] after r0 (5 touched twice, then 6); r1 hits 5, then
        // touches 5,7,6 leaving [6,7]; r2 misses 5 at once: 1/10.
        assert_relative_eq!(lru_hit_ratio(&blocks, 2).unwrap(), 0.1);
    }

    #[test]
    fn same_and_cross_session_split_by_hand() {
        // See testing::hand_trace: same 6, cross 3; per type text 3/10, search 6/8.
        let trace = hand_trace();
        let blocks = BlockTable::build(&trace).unwrap();
        let types = TypeIndex::build(&trace).unwrap();
        let sessions = SessionIndex::build(&trace).unwrap();
        let pass = IdealPass::run(&trace, &blocks, Some(&types), Some(&sessions));
        assert_eq!(pass.same_session_hits, Some(6));
        assert_eq!(pass.cross_session_hits, Some(3));
        assert_eq!(types.names, ["text", "search"]);
        assert_eq!((pass.hits[0], pass.blocks[0]), (3, 10));
        assert_eq!((pass.hits[1], pass.blocks[1]), (6, 8));
        assert_eq!(pass.reuse_gaps[0], [3.0, 3.0, 5.0]);
        assert_eq!(pass.reuse_gaps[1], [2.0, 2.0, 7.0, 6.0, 10.0, 7.0]);
        assert_eq!(pass.new_blocks, [6, 2]);
        assert_eq!(pass.new_blocks_hit, [4, 1]);
    }
}
