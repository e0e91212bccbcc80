//! First in, first out: blocks leave in the order they came, whatever their hits.

use std::collections::VecDeque;

use super::policy::{Access, Policy, Setup};

pub struct Fifo {
    present: Vec<bool>,
    /// Oldest first.
    queue: VecDeque<u32>,
    capacity: usize,
}

impl Fifo {
    pub fn new(setup: &Setup) -> Fifo {
        Fifo {
            present: vec![false; setup.universe],
            queue: VecDeque::new(),
            capacity: setup.capacity,
        }
    }
}

impl Policy for Fifo {
    fn contains(&self, block: u32) -> bool {
        self.present[block as usize]
    }

    fn access(&mut self, block: u32, _at: Access) {
        if self.present[block as usize] || self.capacity == 0 {
            return;
        }
        if self.queue.len() == self.capacity
            && let Some(old) = self.queue.pop_front()
        {
            self.present[old as usize] = false;
        }
        self.queue.push_back(block);
        self.present[block as usize] = true;
    }

    fn len(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use crate::cachesim::testing::{hits_of, singles};

    #[test]
    fn a_hit_does_not_save_the_oldest_block() {
        // Capacity 2: 1 came first, so 3 evicts it although it was just used; LRU would
        // have evicted 2 and hit 1 at the end.
        let trace = singles(&[1, 2, 1, 3, 1]);
        assert_eq!(
            hits_of("fifo", 2, &trace),
            vec![false, false, true, false, false]
        );
        assert_eq!(
            hits_of("lru", 2, &trace),
            vec![false, false, true, false, true]
        );
    }

    #[test]
    fn zero_capacity_holds_nothing() {
        let trace = singles(&[1, 1, 1]);
        assert_eq!(hits_of("fifo", 0, &trace), vec![false; 3]);
    }
}
