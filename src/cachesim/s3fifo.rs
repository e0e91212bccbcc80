//! S3-FIFO (Yang et al., "FIFO queues are all you need for cache eviction", SOSP'23): a
//! small FIFO `S` of 10 % of the space that new blocks enter, a main FIFO `M` of the
//! rest, and a ghost FIFO `G` remembering as many evicted ids as `M` holds blocks. Each
//! cached block carries a 2-bit use count (capped at 3).
//!
//! - A hit adds one use. A miss inserts into `M` when the id is in `G` (taking it out),
//!   into `S` otherwise, with no uses.
//! - To make room: from `S` while it holds at least its 10 %, else from `M`.
//! - Evicting from `S`: its oldest block moves to `M` if it was used while in `S`,
//!   otherwise it leaves (one-hit wonders go quickly) and its id enters `G`.
//! - Evicting from `M`: its oldest block goes back to `M`'s head with one use less if it
//!   has any, otherwise it leaves.
//!
//! This is the original version (S3FIFOv0 in libCacheSim): a block used at least once in
//! `S` moves to `M`.

use std::collections::VecDeque;

use super::policy::{Access, Policy, Setup};

/// Share of the cache the small queue holds.
pub const SMALL_SHARE: f64 = 0.10;
/// Uses a block needs while in `S` to move to `M` when it reaches `S`'s end.
const MOVE_TO_MAIN: u8 = 1;
/// The 2-bit use count.
const MAX_USES: u8 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    None,
    Small,
    Main,
}

pub struct S3Fifo {
    place: Vec<Place>,
    uses: Vec<u8>,
    /// Oldest first.
    small: VecDeque<u32>,
    main: VecDeque<u32>,
    /// Ghost entries `(id, stamp)`, oldest first; an entry is live while `ghost[id]`
    /// still holds its stamp (an id taken out of `G` leaves a dead entry behind).
    ghost_queue: VecDeque<(u32, u32)>,
    ghost: Vec<u32>,
    ghost_live: usize,
    stamp: u32,
    small_capacity: usize,
    main_capacity: usize,
    capacity: usize,
}

/// Not in the ghost queue.
const NO_STAMP: u32 = 0;

impl S3Fifo {
    pub fn new(setup: &Setup) -> S3Fifo {
        let capacity = setup.capacity;
        let small_capacity = if capacity == 0 {
            0
        } else {
            ((capacity as f64 * SMALL_SHARE).round() as usize).clamp(1, capacity)
        };
        S3Fifo {
            place: vec![Place::None; setup.universe],
            uses: vec![0; setup.universe],
            small: VecDeque::new(),
            main: VecDeque::new(),
            ghost_queue: VecDeque::new(),
            ghost: vec![NO_STAMP; setup.universe],
            ghost_live: 0,
            stamp: NO_STAMP,
            small_capacity,
            main_capacity: capacity - small_capacity,
            capacity,
        }
    }

    fn in_ghost(&self, id: u32) -> bool {
        self.ghost[id as usize] != NO_STAMP
    }

    fn ghost_remove(&mut self, id: u32) {
        self.ghost[id as usize] = NO_STAMP;
        self.ghost_live -= 1;
    }

    fn ghost_push(&mut self, id: u32) {
        if self.main_capacity == 0 {
            return;
        }
        if self.in_ghost(id) {
            self.ghost_remove(id);
        }
        self.stamp = self.stamp.wrapping_add(1).max(1);
        self.ghost[id as usize] = self.stamp;
        self.ghost_queue.push_back((id, self.stamp));
        self.ghost_live += 1;
        while self.ghost_live > self.main_capacity {
            let (old, stamp) = self.ghost_queue.pop_front().expect("live entries");
            if self.ghost[old as usize] == stamp {
                self.ghost_remove(old);
            }
        }
        // Dead entries would otherwise pile up when ids keep coming back from `G`.
        while let Some(&(old, stamp)) = self.ghost_queue.front()
            && self.ghost[old as usize] != stamp
        {
            self.ghost_queue.pop_front();
        }
        if self.ghost_queue.len() > 4 * self.main_capacity.max(16) {
            let ghost = &self.ghost;
            self.ghost_queue.retain(|&(id, s)| ghost[id as usize] == s);
        }
    }

    fn len_total(&self) -> usize {
        self.small.len() + self.main.len()
    }

    fn evict(&mut self) {
        if self.small.len() >= self.small_capacity || self.main.is_empty() {
            self.evict_small();
        } else {
            self.evict_main();
        }
    }

    fn evict_small(&mut self) {
        while let Some(t) = self.small.pop_front() {
            if self.uses[t as usize] >= MOVE_TO_MAIN {
                self.place[t as usize] = Place::Main;
                self.main.push_back(t);
                if self.main.len() > self.main_capacity {
                    self.evict_main();
                    return;
                }
            } else {
                self.place[t as usize] = Place::None;
                self.uses[t as usize] = 0;
                self.ghost_push(t);
                return;
            }
        }
        if !self.main.is_empty() {
            self.evict_main();
        }
    }

    fn evict_main(&mut self) {
        while let Some(t) = self.main.pop_front() {
            let u = &mut self.uses[t as usize];
            if *u > 0 {
                *u -= 1;
                self.main.push_back(t);
            } else {
                self.place[t as usize] = Place::None;
                return;
            }
        }
    }
}

impl Policy for S3Fifo {
    fn contains(&self, block: u32) -> bool {
        self.place[block as usize] != Place::None
    }

    fn access(&mut self, block: u32, _at: Access) {
        let b = block as usize;
        if self.place[b] != Place::None {
            self.uses[b] = (self.uses[b] + 1).min(MAX_USES);
            return;
        }
        if self.capacity == 0 {
            return;
        }
        while self.len_total() >= self.capacity {
            self.evict();
        }
        self.uses[b] = 0;
        if self.in_ghost(block) {
            self.ghost_remove(block);
            self.place[b] = Place::Main;
            self.main.push_back(block);
        } else {
            self.place[b] = Place::Small;
            self.small.push_back(block);
        }
    }

    fn len(&self) -> usize {
        self.len_total()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cachesim::testing::{hits_of, singles};

    fn setup(capacity: usize) -> Setup {
        Setup {
            universe: 64,
            capacity,
            categories: 1,
            ttl: f64::INFINITY,
        }
    }

    fn touch(s: &mut S3Fifo, ids: &[u32]) {
        for &id in ids {
            s.access(
                id,
                Access {
                    time: 0.0,
                    category: 0,
                },
            );
        }
    }

    #[test]
    fn one_hit_wonders_leave_through_the_small_queue() {
        // Capacity 10: S 1, M 9. Block 0 is used twice, then 1..=40 once each. Once the
        // cache is full each new block pushes S's oldest out: 0 (used in S) moves to M,
        // every other leaves for the ghost queue, so S keeps the last nine.
        let mut s = S3Fifo::new(&setup(10));
        touch(&mut s, &[0, 0]);
        touch(&mut s, &(1..=40).collect::<Vec<_>>());
        assert_eq!(s.place[0], Place::Main);
        assert!(
            (1..32).all(|id| !s.contains(id)),
            "one-hit wonders are gone"
        );
        assert!((32..=40).all(|id| s.place[id as usize] == Place::Small));
        assert_eq!((s.small.len(), s.main.len()), (9, 1));
        // The ghosts remember the last 9 pushed out (of 1..=31): 23..=31.
        assert!((23..32).all(|id| s.in_ghost(id)) && !s.in_ghost(22));
        // A ghost that comes back goes straight to M.
        touch(&mut s, &[25]);
        assert_eq!(s.place[25], Place::Main);
        assert!(!s.in_ghost(25));
        // LRU of the same size lost block 0 to the scan.
        let mut ids: Vec<u64> = vec![0, 0];
        ids.extend(1..=40);
        ids.push(0);
        let trace = singles(&ids);
        assert_eq!(hits_of("s3fifo", 10, &trace).last(), Some(&true));
        assert_eq!(hits_of("lru", 10, &trace).last(), Some(&false));
    }

    #[test]
    fn scan_resistant_where_lru_is_not() {
        // Capacity 4 (S 1, M 3): a hot set {0, 1, 2} used twice, then a scan of fresh
        // blocks between reuses of the hot set. LRU at 4 keeps only the last four.
        let mut ids: Vec<u64> = vec![0, 1, 2, 0, 1, 2];
        for round in 0..5u64 {
            ids.extend(10 + 10 * round..14 + 10 * round);
            ids.extend([0, 1, 2]);
        }
        let trace = singles(&ids);
        let count = |p| hits_of(p, 4, &trace).iter().filter(|&&h| h).count();
        assert_eq!(count("s3fifo"), 3 + 15);
        assert_eq!(count("lru"), 3);
    }

    #[test]
    fn never_holds_more_than_its_capacity() {
        for capacity in 0..12 {
            let mut s = S3Fifo::new(&setup(capacity));
            for i in 0..500u32 {
                touch(&mut s, &[(i * 7919) % 61, i % 5]);
                assert!(s.len() <= capacity);
                let held = (0..64).filter(|&id| s.contains(id)).count();
                assert_eq!(held, s.len());
            }
        }
    }
}
