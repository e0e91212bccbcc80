//! Least frequently used: evict the cached block with the fewest uses since it came in,
//! the least recently used of those on a tie. Uses are counted while a block is cached
//! (an evicted block starts again at one). Blocks are kept in one list per use count
//! (most recent first) and the smallest non-empty count is tracked, so every access is
//! O(1).

use super::list::{Links, List};
use super::policy::{Access, Policy, Setup};

pub struct Lfu {
    links: Links,
    /// Uses of each cached block; 0 for a block not cached.
    uses: Vec<u32>,
    /// `buckets[n]`: the cached blocks of `n` uses.
    buckets: Vec<List>,
    min_uses: u32,
    len: usize,
    capacity: usize,
}

impl Lfu {
    pub fn new(setup: &Setup) -> Lfu {
        Lfu {
            links: Links::new(setup.universe),
            uses: vec![0; setup.universe],
            buckets: vec![List::default(); 2],
            min_uses: 0,
            len: 0,
            capacity: setup.capacity,
        }
    }

    fn bucket(&mut self, n: u32) -> &mut List {
        let n = n as usize;
        if self.buckets.len() <= n {
            self.buckets.resize(n + 1, List::default());
        }
        &mut self.buckets[n]
    }
}

impl Policy for Lfu {
    fn contains(&self, block: u32) -> bool {
        self.uses[block as usize] > 0
    }

    fn access(&mut self, block: u32, _at: Access) {
        let n = self.uses[block as usize];
        if n > 0 {
            let mut from = *self.bucket(n);
            self.links.unlink(&mut from, block);
            self.buckets[n as usize] = from;
            let mut to = *self.bucket(n + 1);
            self.links.push_front(&mut to, block);
            self.buckets[n as usize + 1] = to;
            self.uses[block as usize] = n + 1;
            if self.min_uses == n && from.len == 0 {
                self.min_uses = n + 1;
            }
            return;
        }
        if self.capacity == 0 {
            return;
        }
        if self.len == self.capacity {
            let mut list = self.buckets[self.min_uses as usize];
            let victim = self.links.pop_back(&mut list).expect("a full cache");
            self.buckets[self.min_uses as usize] = list;
            self.uses[victim as usize] = 0;
            self.len -= 1;
        }
        let mut one = self.buckets[1];
        self.links.push_front(&mut one, block);
        self.buckets[1] = one;
        self.uses[block as usize] = 1;
        self.min_uses = 1;
        self.len += 1;
    }

    fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use crate::cachesim::testing::{hits_of, singles};

    #[test]
    fn keeps_the_hot_block() {
        // Capacity 2: block 1 is used three times, then a scan of 2..6 passes; LFU keeps
        // 1 (each scanned block has one use), LRU loses it.
        let trace = singles(&[1, 1, 1, 2, 3, 4, 5, 6, 1]);
        assert_eq!(hits_of("lfu", 2, &trace).last(), Some(&true));
        assert_eq!(hits_of("lru", 2, &trace).last(), Some(&false));
    }

    #[test]
    fn ties_go_to_the_least_recently_used() {
        // Capacity 2, 1 and 2 used once each (1 longer ago): 3 evicts 1.
        let trace = singles(&[1, 2, 3, 2, 1]);
        assert_eq!(
            hits_of("lfu", 2, &trace),
            vec![false, false, false, true, false]
        );
    }

    #[test]
    fn counts_restart_after_eviction() {
        // Capacity 2: 2 gets three uses, 1 two; 3 evicts 1, 4 evicts 3, 1 comes back
        // (evicting 4) with one use, so 5 evicts it again. Had 1 kept its two earlier
        // uses it would tie 2 at three and 5 would evict 2 (the older), and the last 1
        // would hit.
        let trace = singles(&[2, 2, 2, 1, 1, 3, 4, 1, 5, 1]);
        let hit = [
            false, true, true, false, true, false, false, false, false, false,
        ];
        assert_eq!(hits_of("lfu", 2, &trace), hit);
    }
}
