//! Recency of blocks: when each was last touched, and how many distinct blocks were
//! touched since (its LRU stack distance).
//!
//! Every touch gets the next time of a clock. A block's stack distance is the number of
//! blocks whose latest touch is later than its own; the latest touches are kept as one
//! bit per time with a Fenwick tree over 64-bit words of bits, so a query is a tree walk
//! plus a popcount and memory is one bit per touch (a word count per 64 touches) beside
//! one time per block. When the clock runs out (2^32 touches) the live times are
//! renumbered `0..distinct` in order, which keeps every distance.

/// A block never touched.
pub const UNSEEN: u32 = u32::MAX;

#[derive(Debug, Clone)]
pub struct Recency {
    /// Latest touch time per slot, or [`UNSEEN`].
    last: Vec<u32>,
    live: LiveTimes,
    now: u32,
    distinct: usize,
    /// The clock's last usable time (lowered by tests to exercise renumbering).
    limit: u32,
}

impl Default for Recency {
    fn default() -> Self {
        Recency::with_limit(UNSEEN - 1)
    }
}

impl Recency {
    pub fn with_limit(limit: u32) -> Recency {
        Recency {
            last: Vec::new(),
            live: LiveTimes::default(),
            now: 0,
            distinct: 0,
            limit,
        }
    }

    /// Make room for slots `0..slots`.
    pub fn cover(&mut self, slots: usize) {
        if self.last.len() < slots {
            self.last.resize(slots, UNSEEN);
        }
    }

    /// Distinct blocks touched so far.
    pub fn distinct(&self) -> usize {
        self.distinct
    }

    /// The time of the next touch.
    pub fn now(&self) -> u32 {
        self.now
    }

    /// `slot`'s latest touch time, `None` if never touched.
    pub fn last(&self, slot: u32) -> Option<u32> {
        let t = self.last[slot as usize];
        (t != UNSEEN).then_some(t)
    }

    /// Distinct blocks touched since `slot`'s latest touch; `None` if it never was.
    pub fn distance(&self, slot: u32) -> Option<usize> {
        self.last(slot).map(|t| self.distance_at(t))
    }

    /// Distinct blocks touched after time `t` (a block's latest touch): the later the
    /// touch, the smaller the distance.
    pub fn distance_at(&self, t: u32) -> usize {
        self.distinct - self.live.before(t as usize + 1)
    }

    /// Whether the clock must be renumbered before `n` more touches.
    pub fn needs_renumber(&self, n: usize) -> bool {
        self.now as u64 + n as u64 > self.limit as u64
    }

    /// Touch `slots` in order (one request's blocks), calling `fresh` for each slot
    /// never touched before. The bits of the clock change a word at a time: a request's
    /// touches are consecutive times, and the earlier touches they replace mostly are.
    pub fn touch_all(&mut self, slots: &[u32], mut fresh: impl FnMut(u32)) {
        debug_assert!(!self.needs_renumber(slots.len()), "renumber first");
        let start = self.now;
        let mut clear = WordMask::default();
        for (k, &slot) in slots.iter().enumerate() {
            let t = &mut self.last[slot as usize];
            if *t == UNSEEN {
                self.distinct += 1;
                fresh(slot);
            } else if *t < start {
                clear.add(*t as usize, &mut |w, m| self.live.clear_mask(w, m));
            }
            // (A time from `start` on is this request's own earlier touch of the same
            // block, whose bit is not set yet.)
            *t = start + k as u32;
        }
        clear.flush(&mut |w, m| self.live.clear_mask(w, m));
        let mut set = WordMask::default();
        for (k, &slot) in slots.iter().enumerate() {
            let t = start + k as u32;
            if self.last[slot as usize] == t {
                set.add(t as usize, &mut |w, m| self.live.set_mask(w, m));
            }
        }
        set.flush(&mut |w, m| self.live.set_mask(w, m));
        self.now = start + slots.len() as u32;
    }

    /// Give the live times the numbers `0..distinct` in their order, and map `times`
    /// (other times of this clock, such as where each request's touches began) to the
    /// number of live times before them, so their order with the live times holds.
    pub fn renumber(&mut self, times: &mut [u32]) {
        for t in self.last.iter_mut().filter(|t| **t != UNSEEN) {
            *t = self.live.before(*t as usize) as u32;
        }
        for t in times.iter_mut() {
            *t = self.live.before(*t as usize) as u32;
        }
        self.live = LiveTimes::default();
        let mut set = WordMask::default();
        for t in 0..self.distinct {
            set.add(t, &mut |w, m| self.live.set_mask(w, m));
        }
        set.flush(&mut |w, m| self.live.set_mask(w, m));
        self.now = self.distinct as u32;
    }
}

/// A set of times (one bit each) with counts of the set times before any time.
#[derive(Debug, Clone, Default)]
struct LiveTimes {
    words: Vec<u64>,
    /// Fenwick tree over the words' popcounts, 1-based (`tree[0]` unused).
    tree: Vec<u32>,
}

/// Bits of one word gathered before they are applied together.
#[derive(Default)]
struct WordMask(Option<(usize, u64)>);

impl WordMask {
    fn add(&mut self, t: usize, apply: &mut dyn FnMut(usize, u64)) {
        let (w, bit) = (t / 64, 1u64 << (t % 64));
        match &mut self.0 {
            Some((word, mask)) if *word == w => *mask |= bit,
            _ => {
                self.flush(apply);
                self.0 = Some((w, bit));
            }
        }
    }

    fn flush(&mut self, apply: &mut dyn FnMut(usize, u64)) {
        if let Some((w, mask)) = self.0.take() {
            apply(w, mask);
        }
    }
}

impl LiveTimes {
    fn set_mask(&mut self, w: usize, mask: u64) {
        while self.words.len() <= w {
            self.push_word();
        }
        debug_assert_eq!(self.words[w] & mask, 0);
        self.words[w] |= mask;
        self.add(w, mask.count_ones() as i32);
    }

    fn clear_mask(&mut self, w: usize, mask: u64) {
        debug_assert_eq!(self.words[w] & mask, mask);
        self.words[w] &= !mask;
        self.add(w, -(mask.count_ones() as i32));
    }

    /// Set times below `t`.
    fn before(&self, t: usize) -> usize {
        let w = t / 64;
        let mut n = self.words_before(w.min(self.words.len()));
        if let Some(word) = self.words.get(w) {
            n += (word & ((1u64 << (t % 64)) - 1)).count_ones() as usize;
        }
        n
    }

    /// Set times in words `0..w`.
    fn words_before(&self, w: usize) -> usize {
        let (mut i, mut n) = (w, 0usize);
        while i > 0 {
            n += self.tree[i] as usize;
            i &= i - 1;
        }
        n
    }

    /// Append an empty word; its tree node sums the words it covers before it.
    fn push_word(&mut self) {
        if self.tree.is_empty() {
            self.tree.push(0);
        }
        self.words.push(0);
        let i = self.words.len();
        let low = i & i.wrapping_neg();
        let covered = self.words_before(i - 1) - self.words_before(i - low);
        self.tree.push(covered as u32);
    }

    fn add(&mut self, w: usize, delta: i32) {
        let mut i = w + 1;
        while i < self.tree.len() {
            self.tree[i] = self.tree[i].wrapping_add_signed(delta);
            i += i & i.wrapping_neg();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(crate::proptest_seed::config(128))]

        /// Distances agree with a naive recency list, through renumberings of a tiny
        /// clock.
        #[test]
        fn distances_match_a_naive_stack(
            requests in prop::collection::vec(prop::collection::vec(0u32..12, 0..6), 1..80),
            limit in 20u32..200,
        ) {
            let mut r = Recency::with_limit(limit);
            r.cover(12);
            let mut stack: Vec<u32> = Vec::new(); // most recent last
            let mut marks = vec![0u32; 1];
            for slots in &requests {
                for &slot in slots {
                    let want = stack.iter().rposition(|&s| s == slot).map(|p| stack.len() - 1 - p);
                    prop_assert_eq!(r.distance(slot), want);
                }
                if r.needs_renumber(slots.len()) {
                    r.renumber(&mut marks);
                }
                let mut fresh = Vec::new();
                r.touch_all(slots, |s| fresh.push(s));
                let mut want_fresh = Vec::new();
                for &slot in slots {
                    if !stack.contains(&slot) && !want_fresh.contains(&slot) {
                        want_fresh.push(slot);
                    }
                }
                prop_assert_eq!(fresh, want_fresh);
                for &slot in slots {
                    stack.retain(|&s| s != slot);
                    stack.push(slot);
                }
                prop_assert_eq!(r.distinct(), stack.len());
            }
        }
    }
}
