//! Intrusive doubly-linked lists of block ids threaded through one slab indexed by id:
//! any number of lists share the links, each id is in at most one list at a time, and
//! every operation is O(1) with no allocation after setup.

pub const NONE: u32 = u32::MAX;

/// The links of every id (`prev` towards the head, `next` towards the tail).
#[derive(Debug, Clone)]
pub struct Links {
    prev: Vec<u32>,
    next: Vec<u32>,
}

/// One list: its most recently pushed id (`head`) and its oldest (`tail`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct List {
    pub head: u32,
    pub tail: u32,
    pub len: usize,
}

impl Default for List {
    fn default() -> Self {
        List {
            head: NONE,
            tail: NONE,
            len: 0,
        }
    }
}

impl List {
    pub fn tail(&self) -> Option<u32> {
        (self.tail != NONE).then_some(self.tail)
    }
}

impl Links {
    pub fn new(universe: usize) -> Links {
        Links {
            prev: vec![NONE; universe],
            next: vec![NONE; universe],
        }
    }

    /// Put `id` (in no list) at the head of `list`.
    pub fn push_front(&mut self, list: &mut List, id: u32) {
        self.prev[id as usize] = NONE;
        self.next[id as usize] = list.head;
        match list.head {
            NONE => list.tail = id,
            h => self.prev[h as usize] = id,
        }
        list.head = id;
        list.len += 1;
    }

    /// Take `id` out of `list`, which holds it.
    pub fn unlink(&mut self, list: &mut List, id: u32) {
        let (p, n) = (self.prev[id as usize], self.next[id as usize]);
        match p {
            NONE => list.head = n,
            p => self.next[p as usize] = n,
        }
        match n {
            NONE => list.tail = p,
            n => self.prev[n as usize] = p,
        }
        list.len -= 1;
    }

    /// Take the oldest id out of `list`.
    pub fn pop_back(&mut self, list: &mut List) -> Option<u32> {
        let t = list.tail()?;
        self.unlink(list, t);
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_share_links_and_keep_order() {
        let mut links = Links::new(6);
        let (mut a, mut b) = (List::default(), List::default());
        for id in [0, 1, 2] {
            links.push_front(&mut a, id);
        }
        links.push_front(&mut b, 4);
        links.unlink(&mut a, 1);
        links.push_front(&mut b, 1);
        assert_eq!((a.len, b.len), (2, 2));
        assert_eq!(links.pop_back(&mut a), Some(0));
        assert_eq!(links.pop_back(&mut a), Some(2));
        assert_eq!(links.pop_back(&mut a), None);
        assert_eq!(links.pop_back(&mut b), Some(4));
        assert_eq!(links.pop_back(&mut b), Some(1));
        assert_eq!(b, List::default());
    }
}
