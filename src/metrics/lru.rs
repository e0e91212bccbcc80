//! A fixed-capacity LRU set of dense block ids: an intrusive doubly-linked list threaded
//! through a slab indexed by id, so a touch is O(1) with no allocation after setup.

const NONE: u32 = u32::MAX;

pub struct Lru {
    prev: Vec<u32>,
    next: Vec<u32>,
    present: Vec<bool>,
    /// Most recently used.
    head: u32,
    /// Least recently used: the next to go.
    tail: u32,
    len: usize,
    capacity: usize,
}

impl Lru {
    /// A cache of `capacity` blocks over ids `0..universe`.
    pub fn new(universe: usize, capacity: usize) -> Lru {
        Lru {
            prev: vec![NONE; universe],
            next: vec![NONE; universe],
            present: vec![false; universe],
            head: NONE,
            tail: NONE,
            len: 0,
            capacity,
        }
    }

    pub fn contains(&self, id: u32) -> bool {
        self.present[id as usize]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Make `id` the most recently used, inserting it (and evicting the least recently
    /// used beyond capacity) if absent.
    pub fn touch(&mut self, id: u32) {
        if self.present[id as usize] {
            if self.head == id {
                return;
            }
            self.unlink(id);
        } else {
            if self.capacity == 0 {
                return;
            }
            self.present[id as usize] = true;
            self.len += 1;
        }
        self.push_front(id);
        if self.len > self.capacity {
            let lru = self.tail;
            self.unlink(lru);
            self.present[lru as usize] = false;
            self.len -= 1;
        }
    }

    fn unlink(&mut self, id: u32) {
        let (p, n) = (self.prev[id as usize], self.next[id as usize]);
        match p {
            NONE => self.head = n,
            p => self.next[p as usize] = n,
        }
        match n {
            NONE => self.tail = p,
            n => self.prev[n as usize] = p,
        }
    }

    fn push_front(&mut self, id: u32) {
        self.prev[id as usize] = NONE;
        self.next[id as usize] = self.head;
        match self.head {
            NONE => self.tail = id,
            h => self.prev[h as usize] = id,
        }
        self.head = id;
    }
}

/// Hit ratio of an LRU prefix cache holding `capacity` blocks, by simulation: the
/// reference the one-pass curve is tested against.
#[cfg(test)]
pub fn lru_hit_ratio(blocks: &super::blocks::BlockTable, capacity: usize) -> Option<f64> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn evicts_the_least_recently_used() {
        let mut lru = Lru::new(4, 2);
        lru.touch(0);
        lru.touch(1);
        lru.touch(0); // 1 is now the oldest
        lru.touch(2); // evicts 1
        assert!(lru.contains(0) && lru.contains(2) && !lru.contains(1));
        assert_eq!(lru.len(), 2);
    }

    #[test]
    fn zero_capacity_holds_nothing() {
        let mut lru = Lru::new(2, 0);
        lru.touch(1);
        assert!(lru.is_empty() && !lru.contains(1));
    }

    proptest! {
        #![proptest_config(crate::proptest_seed::config(256))]

        /// The slab list must agree with a naive recency list on every touch sequence.
        #[test]
        fn matches_a_naive_model(cap in 0usize..6, touches in prop::collection::vec(0u32..8, 0..200)) {
            let mut lru = Lru::new(8, cap);
            let mut naive: Vec<u32> = Vec::new(); // most recent last
            for &id in &touches {
                lru.touch(id);
                naive.retain(|&x| x != id);
                naive.push(id);
                if naive.len() > cap {
                    naive.remove(0);
                }
                for x in 0..8 {
                    prop_assert_eq!(lru.contains(x), naive.contains(&x));
                }
                prop_assert_eq!(lru.len(), naive.len());
            }
        }
    }
}
