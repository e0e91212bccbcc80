//! A queue of things due at a time, earliest first and first-booked first among equal
//! times (so generation stays deterministic): follow-ups booked by their parent, reuses
//! booked by a newborn shared prefix.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// The heap orders small keys; the items wait in slots, so reordering the heap never
/// moves them (a booked follow-up is much larger than its key).
#[derive(Debug)]
pub struct Schedule<T> {
    heap: BinaryHeap<Reverse<Key>>,
    slots: Vec<Option<T>>,
    free: Vec<usize>,
    booked: u64,
}

#[derive(Debug)]
struct Key {
    at: f64,
    seq: u64,
    slot: usize,
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        self.at.total_cmp(&other.at).then(self.seq.cmp(&other.seq))
    }
}

impl<T> Default for Schedule<T> {
    fn default() -> Self {
        Schedule {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            booked: 0,
        }
    }
}

impl<T> Schedule<T> {
    pub fn push(&mut self, at: f64, item: T) {
        self.booked += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(item);
                slot
            }
            None => {
                self.slots.push(Some(item));
                self.slots.len() - 1
            }
        };
        self.heap.push(Reverse(Key {
            at,
            seq: self.booked,
            slot,
        }));
    }

    /// When the earliest item is due.
    pub fn next_time(&self) -> Option<f64> {
        self.heap.peek().map(|Reverse(k)| k.at)
    }

    /// The earliest item and its time.
    pub fn pop(&mut self) -> Option<(f64, T)> {
        let Reverse(key) = self.heap.pop()?;
        self.free.push(key.slot);
        let item = self.slots[key.slot]
            .take()
            .expect("a booked slot holds its item");
        Some((key.at, item))
    }

    /// The earliest item if it is due by `now`.
    pub fn pop_due(&mut self, now: f64) -> Option<T> {
        if self.next_time()? <= now {
            self.pop().map(|(_, item)| item)
        } else {
            None
        }
    }

    pub fn clear(&mut self) {
        self.heap.clear();
        self.slots.clear();
        self.free.clear();
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_then_first_booked() {
        let mut s = Schedule::default();
        s.push(5.0, "late");
        s.push(1.0, "first");
        s.push(1.0, "second");
        assert_eq!(s.pop_due(0.5), None);
        assert_eq!(s.pop_due(1.0), Some("first"));
        assert_eq!(s.pop(), Some((1.0, "second")));
        assert_eq!(s.next_time(), Some(5.0));
        assert_eq!(s.len(), 1);
    }
}
