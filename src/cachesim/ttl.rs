//! A time-to-live cache, as prompt-caching services run one (a cached prefix lives a
//! fixed time after its last use, each use renewing it): a block expires `ttl` seconds
//! after its last access, and when the cache is full the block closest to expiry goes,
//! which, with one lifetime for all, is the least recently used. Its contents are the
//! LRU cache's minus what expired, so its hit ratio never beats LRU's; the gap measures
//! how much of LRU's reuse comes later than `ttl`.

use super::list::{Links, List};
use super::policy::{Access, Policy, Setup};

/// The lifetime `cachesim` gives blocks unless told (`--ttl`): five minutes, the
/// default of the prompt caches of hosted APIs.
pub const DEFAULT_TTL_S: f64 = 300.0;

pub struct Ttl {
    links: Links,
    list: List,
    present: Vec<bool>,
    last: Vec<f64>,
    ttl: f64,
    capacity: usize,
}

impl Ttl {
    pub fn new(setup: &Setup) -> Ttl {
        Ttl {
            links: Links::new(setup.universe),
            list: List::default(),
            present: vec![false; setup.universe],
            last: vec![0.0; setup.universe],
            ttl: setup.ttl,
            capacity: setup.capacity,
        }
    }

    fn drop_tail(&mut self) {
        if let Some(t) = self.links.pop_back(&mut self.list) {
            self.present[t as usize] = false;
        }
    }
}

impl Policy for Ttl {
    fn contains(&self, block: u32) -> bool {
        self.present[block as usize]
    }

    fn begin(&mut self, time: f64) {
        while let Some(t) = self.list.tail()
            && time - self.last[t as usize] > self.ttl
        {
            self.drop_tail();
        }
    }

    fn access(&mut self, block: u32, at: Access) {
        let b = block as usize;
        if self.present[b] {
            self.links.unlink(&mut self.list, block);
        } else {
            if self.capacity == 0 {
                return;
            }
            if self.list.len == self.capacity {
                self.drop_tail();
            }
            self.present[b] = true;
        }
        self.links.push_front(&mut self.list, block);
        self.last[b] = at.time;
    }

    fn len(&self) -> usize {
        self.list.len
    }
}

#[cfg(test)]
mod tests {
    use crate::cachesim::testing::{Req, hits_with_ttl, singles};

    #[test]
    fn blocks_expire_after_their_lifetime() {
        // Lifetime 10 s, room for all: block 1 is reused after 5 s (hit, renewed), after
        // 10 s more (exactly the lifetime: still held), then after 11 s (expired).
        let trace: Vec<Req> = [(0.0, 1), (5.0, 1), (15.0, 1), (26.0, 1), (27.0, 1)]
            .iter()
            .map(|&(t, id)| Req::new(t, 0, &[id]))
            .collect();
        assert_eq!(
            hits_with_ttl("ttl", 8, 10.0, &trace),
            vec![false, true, true, false, true]
        );
        assert_eq!(
            hits_with_ttl("lru", 8, 10.0, &trace),
            vec![false, true, true, true, true]
        );
    }

    #[test]
    fn is_lru_when_nothing_expires() {
        let trace = singles(&[1, 2, 1, 3, 1, 2, 4, 4, 2, 3, 1]);
        for capacity in 0..5 {
            assert_eq!(
                hits_with_ttl("ttl", capacity, f64::INFINITY, &trace),
                hits_with_ttl("lru", capacity, f64::INFINITY, &trace)
            );
        }
    }
}
