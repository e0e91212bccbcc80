//! Block ids to slots: small integers that index the per-block state of a pass.
//!
//! Real and generated traces number their blocks densely (0..N, in about the order
//! they appear), so the id itself is the slot and no table is needed. An id far beyond
//! what the blocks seen so far could fill (a content hash) switches the map to hashing
//! every such id to the next free slot, so memory stays proportional to the distinct
//! blocks either way.

use rustc_hash::FxHashMap;

/// Ids below `DIRECT_PER_BLOCK` times the block occurrences seen (plus
/// [`DIRECT_FLOOR`]) are their own slot: per-block state then costs at most a few slots
/// per block read, as the old per-trace table did.
const DIRECT_PER_BLOCK: u64 = 4;
const DIRECT_FLOOR: u64 = 1 << 22;

#[derive(Debug, Clone, Default)]
pub struct SlotMap {
    /// Ids below this are their own slot.
    direct: u64,
    /// Once an id was hashed, the direct range stops growing (its slots are taken).
    frozen: bool,
    hashed: FxHashMap<u64, u32>,
    occurrences: u64,
}

impl SlotMap {
    /// The slot of `id`; per-block arrays must then cover [`SlotMap::slots`].
    pub fn slot(&mut self, id: u64) -> u32 {
        self.occurrences += 1;
        if id < self.direct {
            return id as u32;
        }
        if !self.frozen
            && id < DIRECT_PER_BLOCK * self.occurrences + DIRECT_FLOOR
            && id < u64::from(u32::MAX)
        {
            self.direct = id + 1;
            return id as u32;
        }
        self.frozen = true;
        let next = self.direct + self.hashed.len() as u64;
        let slot = *self.hashed.entry(id).or_insert(next as u32);
        assert!(
            u64::from(slot) < u64::from(u32::MAX),
            "more than 2^32 distinct block ids"
        );
        slot
    }

    /// Slots handed out so far (some direct ones may be unused).
    pub fn slots(&self) -> usize {
        self.direct as usize + self.hashed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_ids_are_their_own_slot_and_sparse_ones_are_hashed() {
        let mut m = SlotMap::default();
        assert_eq!((m.slot(3), m.slot(0), m.slot(3)), (3, 0, 3));
        assert_eq!(m.slots(), 4);
        let big = 1u64 << 40;
        let s = m.slot(big);
        assert_eq!(s, 4, "the next slot after the direct range");
        assert_eq!(m.slot(big), s);
        assert_eq!(m.slot(big + 1), 5);
        // The direct range no longer grows, but ids within it keep their slot.
        assert_eq!(m.slot(2), 2);
        assert_eq!(m.slot(10), 6);
        assert_eq!(m.slots(), 7);
    }
}
