//! Prefix caching: how many blocks an ideal or a finite LRU cache would serve, in one
//! streaming pass.
//!
//! A request hits on the longest run of leading ids already cached (stop at the first
//! miss), as a prefix cache (vLLM, SGLang) can only reuse a KV prefix. After a request,
//! all of its ids are cached and become the most recently used. Requests go in file
//! order.
//!
//! Per distinct block the pass keeps its latest touch time (which gives both "seen" and
//! the LRU stack distance) and one "ever hit" bit; per request, where its touches began
//! on the clock, which turns a block's latest touch into the request (and timestamp)
//! that made it. The type that brought a block in is that request's while the block was
//! touched once; the few blocks touched again before any hit keep it in a side table.

use serde::{Deserialize, Serialize};

use super::histogram::{Histogram, Tally};
use super::ids::SlotMap;
use super::recency::Recency;
use super::stack::StackDistances;
use super::summary::Summary;
use rustc_hash::FxHashMap;
use smallvec::SmallVec;

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
    /// The type of the request that brought a block in, for the blocks touched again
    /// without a hit (and not hit since): for every other block never hit it is the type
    /// of the request of its latest touch.
    introduced_by: FxHashMap<u32, u16>,
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
    /// The next request (the last of `times`, of type `types[i]` with `types` the
    /// type codes of every request so far, in session tree `tree` when it has one:
    /// dense numbers from 0) carrying `ids`; returns how many leading blocks an infinite
    /// cache hits.
    pub fn push(&mut self, times: &[f64], types: &[u16], tree: Option<u32>, ids: &[u64]) -> usize {
        let ty = types[types.len() - 1] as usize;
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
            let i = (times.len() - 1) as u32;
            self.reuse[ty].push(now - times[k], i, k as u32);
            let (w, bit) = (slot as usize / 64, 1u64 << (slot % 64));
            if self.ever_hit[w] & bit == 0 {
                self.ever_hit[w] |= bit;
                let by = match self.introduced_by.remove(&slot) {
                    Some(by) => by,
                    None => types[k],
                };
                self.new_blocks_hit[by as usize] += 1;
            }
        }
        if run > 0 {
            self.stack.hit_n(running, run);
        }
        // Blocks seen before but not hit now: the request about to touch them is not
        // the one that brought them in, so a block never hit keeps its first type.
        for &slot in &self.scratch[hits..] {
            let Some(t) = self.recency.last(slot) else {
                continue;
            };
            let (w, bit) = (slot as usize / 64, 1u64 << (slot % 64));
            if self.ever_hit[w] & bit == 0 && !self.introduced_by.contains_key(&slot) {
                let k = self.starts.partition_point(|&s| s <= t) - 1;
                self.introduced_by.insert(slot, types[k]);
            }
        }
        self.split
            .record(tree, &self.scratch[..hits], &self.scratch);
        let new_blocks = &mut self.new_blocks[ty];
        self.recency.touch_all(&self.scratch, |_| *new_blocks += 1);
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

    /// Reuse gaps per type, and of all types together with the summary of them all;
    /// `times` are every request's timestamps, as [`CachePass::push`] was given them.
    pub fn reuse_gaps(&self, times: &[f64]) -> (Vec<Histogram>, Histogram, Option<Summary>) {
        let per: Vec<Histogram> = self.reuse.iter().map(|r| r.histogram(times)).collect();
        let mut all = Tally::default();
        let mut sum = 0.0;
        // The mean of the gaps in the order they were once stored: type by type, in
        // file order within a type. Summed in that order it stays the same to the bit.
        for r in &self.reuse {
            r.for_each_run(times, |gap, n| {
                all.add_n(gap, n);
                for _ in 0..n {
                    sum += gap;
                }
            });
        }
        let all = all.finish();
        let summary = Summary::of_histogram(&all, sum);
        (per, all, summary)
    }
}

/// One type's reuse gaps in file order, equal neighbours (the blocks of a prefix that
/// one earlier request last touched) kept as one run: the order is what keeps the mean
/// exact, the runs what keep it small. A run is stored as the request that made its
/// first gap, the request it reused and its length, as varints of the step from the
/// previous run's request, of the distance back and of the length: a few bytes a run
/// where `(gap, count)` took sixteen. Its gap is read back from the timestamps.
#[derive(Debug, Clone, Default)]
struct ReuseGaps {
    bytes: Vec<u8>,
    /// The run still growing: its gap, request, reused request and length.
    open: Option<(f64, u32, u32, u32)>,
    /// The request of the last run written.
    last: u32,
}

impl ReuseGaps {
    /// The gap `gap` of request `i` to the earlier request `k`.
    fn push(&mut self, gap: f64, i: u32, k: u32) {
        match &mut self.open {
            Some((g, _, _, n)) if g.to_bits() == gap.to_bits() && *n < u32::MAX => *n += 1,
            _ => {
                self.close();
                self.open = Some((gap, i, k, 1));
            }
        }
    }

    fn close(&mut self) {
        if let Some((_, i, k, n)) = self.open.take() {
            for v in [i - self.last, i - k, n] {
                put_varint(&mut self.bytes, v);
            }
            self.last = i;
        }
    }

    /// Each run's gap and length, in order.
    fn for_each_run(&self, times: &[f64], mut each: impl FnMut(f64, u64)) {
        let (mut pos, mut i) = (0, 0u32);
        while pos < self.bytes.len() {
            i += get_varint(&self.bytes, &mut pos);
            let back = get_varint(&self.bytes, &mut pos);
            let n = get_varint(&self.bytes, &mut pos);
            each(times[i as usize] - times[(i - back) as usize], u64::from(n));
        }
        if let Some((gap, _, _, n)) = self.open {
            each(gap, u64::from(n));
        }
    }

    fn histogram(&self, times: &[f64]) -> Histogram {
        let mut t = Tally::default();
        self.for_each_run(times, |gap, n| t.add_n(gap, n));
        t.finish()
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &[u8], pos: &mut usize) -> u32 {
    let (mut v, mut shift) = (0u32, 0);
    loop {
        let b = bytes[*pos];
        *pos += 1;
        v |= u32::from(b & 0x7f) << shift;
        if b < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// Same- and cross-session hits: a hit block is same-session when an earlier request of
/// its session carried it. Each session's ids are kept as ranges (new blocks get
/// consecutive ids, so a session's ids are a few ranges, not a set of thousands), by
/// its dense tree number.
#[derive(Debug, Default)]
struct SessionSplit {
    sessions: Vec<Ranges>,
    same: u64,
    cross: u64,
}

impl SessionSplit {
    fn record(&mut self, tree: Option<u32>, hit: &[u32], slots: &[u32]) {
        let Some(tree) = tree else {
            // A request outside any session: no earlier request shares its session,
            // and none later can.
            self.cross += hit.len() as u64;
            return;
        };
        let tree = tree as usize;
        if self.sessions.len() <= tree {
            self.sessions.resize_with(tree + 1, Ranges::default);
        }
        let set = &mut self.sessions[tree];
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

/// Disjoint, non-adjacent half-open ranges of slots, ascending; the first few inline,
/// as most sessions have few (a session of one request rarely more than four).
#[derive(Debug, Clone, Default)]
struct Ranges(SmallVec<[(u32, u32); 4]>);

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
            self.0[i] = (a.min(self.0[i].0), b.max(self.0[j - 1].1));
            self.0.drain(i + 1..j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The per-type figures the pass keeps compactly, computed the plain way: a table
    /// of each block's first type and latest toucher, every gap in a vector.
    fn naive(requests: &[(u16, Vec<u64>)]) -> (Vec<u64>, Vec<u64>, Vec<Vec<f64>>) {
        let types = 1 + requests.iter().map(|r| r.0 as usize).max().unwrap_or(0);
        let (mut new, mut new_hit) = (vec![0u64; types], vec![0u64; types]);
        let mut gaps = vec![Vec::new(); types];
        let mut first: std::collections::HashMap<u64, u16> = Default::default();
        let mut latest: std::collections::HashMap<u64, usize> = Default::default();
        let mut hit_once = std::collections::HashSet::new();
        for (i, (ty, ids)) in requests.iter().enumerate() {
            for id in ids.iter().take_while(|id| latest.contains_key(id)) {
                gaps[*ty as usize].push(i as f64 * 1.5 - latest[id] as f64 * 1.5);
                if hit_once.insert(*id) {
                    new_hit[first[id] as usize] += 1;
                }
            }
            for &id in ids {
                if let std::collections::hash_map::Entry::Vacant(e) = first.entry(id) {
                    e.insert(*ty);
                    new[*ty as usize] += 1;
                }
                latest.insert(id, i);
            }
        }
        (new, new_hit, gaps)
    }

    proptest! {
        #![proptest_config(crate::proptest_seed::config(256))]

        /// A block never hit keeps the type that brought it in however often it is
        /// touched again after a miss, and the reuse gaps come back in file order.
        #[test]
        fn new_blocks_and_reuse_gaps_match_a_plain_table(
            requests in prop::collection::vec((0u16..3, prop::collection::vec(0u64..15, 0..7)), 1..50),
        ) {
            let mut pass = CachePass::default();
            let (mut times, mut types) = (Vec::new(), Vec::new());
            for (i, (ty, ids)) in requests.iter().enumerate() {
                times.push(i as f64 * 1.5);
                types.push(*ty);
                pass.push(&times, &types, None, ids);
            }
            let (new, new_hit, gaps) = naive(&requests);
            let k = new.len().min(pass.new_blocks.len());
            prop_assert_eq!(&pass.new_blocks[..k], &new[..k]);
            prop_assert_eq!(&pass.new_blocks_hit[..k], &new_hit[..k]);
            let (per, _, _) = pass.reuse_gaps(&times);
            for (t, h) in per.iter().enumerate() {
                prop_assert_eq!(h.expand(), crate::metrics::summary::sorted(&gaps[t]));
            }
        }

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
