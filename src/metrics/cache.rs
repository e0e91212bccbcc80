//! Prefix caching: how many blocks an ideal or a finite LRU cache would serve, in one
//! streaming pass.
//!
//! A request hits on the longest run of leading ids already cached (stop at the first
//! miss), as a prefix cache (vLLM, SGLang) can only reuse a KV prefix. After a request,
//! all of its ids are cached and become the most recently used. Requests go in file
//! order.
//!
//! Per distinct block the pass keeps its latest touch time (which gives both "seen" and
//! the LRU stack distance), the type that brought it in and one "ever hit" bit; per
//! request, where its touches began on the clock, which turns a block's latest touch
//! into the request (and timestamp) that made it.

use serde::{Deserialize, Serialize};

use super::histogram::{Histogram, Tally};
use super::ids::SlotMap;
use super::recency::Recency;
use super::stack::StackDistances;
use super::summary::Summary;
use rustc_hash::FxHashMap;

/// Cache sizes reported, as percentages of the trace's distinct blocks.
pub const LRU_PERCENTS: [f64; 5] = [1.0, 5.0, 10.0, 25.0, 50.0];

/// One point of the finite-cache hit-ratio curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LruPoint {
    /// Cache size as a percentage of the distinct blocks.
    pub percent: f64,
    pub capacity: u64,
    pub hit_ratio: Option<f64>,
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
    let capacities: Vec<usize> = percents
        .iter()
        .map(|&percent| (percent / 100.0 * unique as f64).round() as usize)
        .collect();
    let ratios = stack.hit_ratios(&capacities);
    percents
        .iter()
        .zip(capacities)
        .zip(ratios)
        .map(|((&percent, capacity), hit_ratio)| LruPoint {
            percent,
            capacity: capacity as u64,
            hit_ratio,
        })
        .collect()
}

/// The streaming pass over every request's blocks.
#[derive(Debug, Default)]
pub struct CachePass {
    slots: SlotMap,
    recency: Recency,
    /// Per slot: the type of the request that brought the block in.
    introduced_by: TypeTags,
    /// Per slot: some later request hit it (one bit each).
    ever_hit: Vec<u64>,
    /// Per request: the clock time its touches began.
    starts: Vec<u32>,
    pub stack: StackDistances,
    /// Per type (the request's): blocks, hits, blocks brought in, and of those, hit later.
    pub blocks: Vec<u64>,
    pub hits: Vec<u64>,
    pub new_blocks: Vec<u64>,
    pub new_blocks_hit: Vec<u64>,
    reuse: Vec<ReuseGaps>,
    split: SessionSplit,
    /// Some request carried a `hash_ids` field (even an empty one): the trace has
    /// blocks. Set by the caller, who sees the field.
    pub any_blocks: bool,
    scratch: Vec<u32>,
}

impl CachePass {
    /// The next request (the last of `times`, of type `ty`, in the session headed by
    /// `head` when it has one) carrying `ids`; returns how many leading blocks an
    /// infinite cache hits.
    pub fn push(&mut self, times: &[f64], ty: usize, head: Option<u32>, ids: &[u64]) -> usize {
        if self.blocks.len() <= ty {
            for v in [
                &mut self.blocks,
                &mut self.hits,
                &mut self.new_blocks,
                &mut self.new_blocks_hit,
            ] {
                v.resize(ty + 1, 0);
            }
            self.reuse.resize_with(ty + 1, ReuseGaps::default);
        }
        if self.recency.needs_renumber(ids.len()) {
            self.recency.renumber(&mut self.starts);
        }
        self.starts.push(self.recency.now());
        self.scratch.clear();
        for &id in ids {
            self.scratch.push(self.slots.slot(id));
        }
        let slots = self.slots.slots();
        self.recency.cover(slots);
        self.introduced_by.cover(slots);
        if self.ever_hit.len() < slots.div_ceil(64) {
            self.ever_hit.resize(slots.div_ceil(64), 0);
        }

        // Look every block up before any is touched, as the cache does. A block's
        // distance only shrinks with the recency of its touch, so the running maximum
        // of distances is the distance of the oldest touch so far: the tree is asked
        // only when an older one turns up.
        let now = times[times.len() - 1];
        let (mut oldest, mut running, mut hits) = (u32::MAX, 0usize, 0usize);
        let mut run = 0u64;
        // The request that last touched the previous hit block, and its clock range:
        // a prefix's blocks mostly come from one earlier request.
        let mut owner: Option<(std::ops::Range<u32>, usize)> = None;
        for &slot in &self.scratch {
            let Some(t) = self.recency.last(slot) else {
                break;
            };
            hits += 1;
            if t < oldest {
                oldest = t;
                let d = self.recency.distance_at(t);
                if d != running && run > 0 {
                    self.stack.hit_n(running, run);
                    run = 0;
                }
                running = d;
            }
            run += 1;
            let k = match &owner {
                Some((range, k)) if range.contains(&t) => *k,
                _ => {
                    let k = self.starts.partition_point(|&s| s <= t) - 1;
                    let end = self.starts.get(k + 1).copied().unwrap_or(u32::MAX);
                    owner = Some((self.starts[k]..end, k));
                    k
                }
            };
            self.reuse[ty].push(now - times[k]);
            let (w, bit) = (slot as usize / 64, 1u64 << (slot % 64));
            if self.ever_hit[w] & bit == 0 {
                self.ever_hit[w] |= bit;
                self.new_blocks_hit[self.introduced_by.get(slot)] += 1;
            }
        }
        if run > 0 {
            self.stack.hit_n(running, run);
        }
        self.split
            .record(head, &self.scratch[..hits], &self.scratch);
        let (introduced_by, new_blocks) = (&mut self.introduced_by, &mut self.new_blocks[ty]);
        self.recency.touch_all(&self.scratch, |slot| {
            introduced_by.set(slot, ty);
            *new_blocks += 1;
        });
        self.blocks[ty] += ids.len() as u64;
        self.hits[ty] += hits as u64;
        self.stack.add_blocks(ids.len() as u64);
        hits
    }

    /// Distinct blocks over the whole trace.
    pub fn unique(&self) -> usize {
        self.recency.distinct()
    }

    pub fn total_blocks(&self) -> u64 {
        self.blocks.iter().sum()
    }

    pub fn total_hits(&self) -> u64 {
        self.hits.iter().sum()
    }

    /// Hit blocks an earlier request of the same session carried, and the rest.
    pub fn session_split(&self) -> (u64, u64) {
        (self.split.same, self.split.cross)
    }

    /// Reuse gaps per type, and of all types together with the summary of them all.
    pub fn reuse_gaps(&self) -> (Vec<Histogram>, Histogram, Option<Summary>) {
        let per: Vec<Histogram> = self.reuse.iter().map(ReuseGaps::histogram).collect();
        let mut all = Tally::default();
        let mut sum = 0.0;
        // The mean of the gaps in the order they were once stored: type by type, in
        // file order within a type. Summed in that order it stays the same to the bit.
        for r in &self.reuse {
            for &(gap, n) in &r.runs {
                all.add_n(gap, u64::from(n));
                for _ in 0..n {
                    sum += gap;
                }
            }
        }
        let all = all.finish();
        let summary = Summary::of_histogram(&all, sum);
        (per, all, summary)
    }
}

/// A type code per slot: a byte each while there are at most 256 types (every trace
/// we know has a handful), two bytes beyond.
#[derive(Debug, Clone)]
enum TypeTags {
    Narrow(Vec<u8>),
    Wide(Vec<u16>),
}

impl Default for TypeTags {
    fn default() -> Self {
        TypeTags::Narrow(Vec::new())
    }
}

impl TypeTags {
    fn cover(&mut self, slots: usize) {
        match self {
            TypeTags::Narrow(v) if v.len() < slots => v.resize(slots, 0),
            TypeTags::Wide(v) if v.len() < slots => v.resize(slots, 0),
            _ => {}
        }
    }

    fn get(&self, slot: u32) -> usize {
        match self {
            TypeTags::Narrow(v) => v[slot as usize] as usize,
            TypeTags::Wide(v) => v[slot as usize] as usize,
        }
    }

    fn set(&mut self, slot: u32, ty: usize) {
        if let TypeTags::Narrow(v) = self
            && ty > u8::MAX as usize
        {
            *self = TypeTags::Wide(v.iter().map(|&t| u16::from(t)).collect());
        }
        match self {
            TypeTags::Narrow(v) => v[slot as usize] = ty as u8,
            TypeTags::Wide(v) => v[slot as usize] = ty as u16,
        }
    }
}

/// One type's reuse gaps in file order, equal neighbours (the blocks of a prefix that
/// one earlier request last touched) kept as one run: the order is what keeps the mean
/// exact, the runs what keep it small.
#[derive(Debug, Clone, Default)]
struct ReuseGaps {
    runs: Vec<(f64, u32)>,
}

impl ReuseGaps {
    fn push(&mut self, gap: f64) {
        match self.runs.last_mut() {
            Some((g, n)) if g.to_bits() == gap.to_bits() && *n < u32::MAX => *n += 1,
            _ => self.runs.push((gap, 1)),
        }
    }

    fn histogram(&self) -> Histogram {
        let mut t = Tally::default();
        for &(gap, n) in &self.runs {
            t.add_n(gap, u64::from(n));
        }
        t.finish()
    }
}

/// Same- and cross-session hits: a hit block is same-session when an earlier request of
/// its session carried it. Each session's ids are kept as ranges (new blocks get
/// consecutive ids, so a session's ids are a few ranges, not a set of thousands).
#[derive(Debug, Default)]
struct SessionSplit {
    sessions: FxHashMap<u32, Ranges>,
    same: u64,
    cross: u64,
}

impl SessionSplit {
    fn record(&mut self, head: Option<u32>, hit: &[u32], slots: &[u32]) {
        let Some(head) = head else {
            // A request outside any session: no earlier request shares its session,
            // and none later can.
            self.cross += hit.len() as u64;
            return;
        };
        let set = self.sessions.entry(head).or_default();
        let same = hit.iter().filter(|&&s| set.contains(s)).count() as u64;
        self.same += same;
        self.cross += hit.len() as u64 - same;
        let mut k = 0;
        while k < slots.len() {
            let start = slots[k];
            let mut end = start + 1;
            k += 1;
            while k < slots.len() && slots[k] == end {
                end += 1;
                k += 1;
            }
            set.insert(start, end);
        }
    }
}

/// Disjoint, non-adjacent half-open ranges of slots, ascending.
#[derive(Debug, Clone, Default)]
struct Ranges(Vec<(u32, u32)>);

impl Ranges {
    fn contains(&self, x: u32) -> bool {
        let i = self.0.partition_point(|r| r.1 <= x);
        self.0.get(i).is_some_and(|r| r.0 <= x)
    }

    fn insert(&mut self, a: u32, b: u32) {
        // Ranges i..j overlap or touch [a, b).
        let i = self.0.partition_point(|r| r.1 < a);
        let j = self.0.partition_point(|r| r.0 <= b);
        if i == j {
            self.0.insert(i, (a, b));
        } else {
            let merged = (a.min(self.0[i].0), b.max(self.0[j - 1].1));
            self.0.splice(i..j, [merged]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(crate::proptest_seed::config(256))]

        #[test]
        fn ranges_hold_exactly_what_was_inserted(runs in prop::collection::vec((0u32..60, 1u32..6), 0..30)) {
            let mut r = Ranges::default();
            let mut naive = std::collections::BTreeSet::new();
            for (a, len) in runs {
                r.insert(a, a + len);
                naive.extend(a..a + len);
                for x in 0..70 {
                    prop_assert_eq!(r.contains(x), naive.contains(&x));
                }
                prop_assert!(r.0.windows(2).all(|w| w[0].1 < w[1].0));
            }
        }
    }
}
