//! Least recently used: the simulator `stats` is tested against
//! ([`crate::metrics::lru::Lru`]), behind the policy trait.

use super::policy::{Access, Policy, Setup};
use crate::metrics::lru::Lru;

pub struct LruPolicy(Lru);

impl LruPolicy {
    pub fn new(setup: &Setup) -> LruPolicy {
        LruPolicy(Lru::new(setup.universe, setup.capacity))
    }
}

impl Policy for LruPolicy {
    fn contains(&self, block: u32) -> bool {
        self.0.contains(block)
    }

    fn access(&mut self, block: u32, _at: Access) {
        self.0.touch(block);
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use crate::cachesim::testing::{hits_of, singles};

    #[test]
    fn keeps_the_recently_used() {
        // Capacity 2: 1 is used again before 3 comes, so 2 goes and 1 hits.
        let trace = singles(&[1, 2, 1, 3, 1, 2]);
        assert_eq!(
            hits_of("lru", 2, &trace),
            vec![false, false, true, false, true, false]
        );
    }
}
