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

/// A map from ids to small `Copy` values that holds dense ids (a trace's chat ids are
/// numbered `0..N`) in a vector indexed by the id, a bit each for presence, and any id
/// far beyond what the entries so far could fill in a hash map, so memory follows the
/// entries either way: a vector slot costs the value's size, a hash entry several times
/// that with the table's slack and growth.
#[derive(Debug, Clone)]
pub struct IdMap<V> {
    dense: Vec<V>,
    present: Vec<u64>,
    sparse: FxHashMap<u64, V>,
    entries: u64,
}

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        IdMap {
            dense: Vec::new(),
            present: Vec::new(),
            sparse: FxHashMap::default(),
            entries: 0,
        }
    }
}

/// Ids below `IDMAP_PER_ENTRY` times the entries (plus [`IDMAP_FLOOR`]) go in the
/// vector: at most a few unused slots per entry.
const IDMAP_PER_ENTRY: u64 = 4;
const IDMAP_FLOOR: u64 = 1 << 16;

impl<V: Copy + Default> IdMap<V> {
    fn in_dense(&self, id: u64) -> bool {
        id < self.dense.len() as u64 && self.present[(id / 64) as usize] & (1 << (id % 64)) != 0
    }

    pub fn get(&self, id: u64) -> Option<V> {
        if self.in_dense(id) {
            Some(self.dense[id as usize])
        } else if self.sparse.is_empty() {
            None
        } else {
            self.sparse.get(&id).copied()
        }
    }

    pub fn contains(&self, id: u64) -> bool {
        self.get(id).is_some()
    }

    /// Set `id`'s value, replacing any.
    pub fn insert(&mut self, id: u64, value: V) {
        if self.in_dense(id) {
            self.dense[id as usize] = value;
            return;
        }
        if let Some(v) = self.sparse.get_mut(&id) {
            *v = value;
            return;
        }
        self.entries += 1;
        if id < self.dense.len() as u64
            || id < IDMAP_PER_ENTRY * self.entries + IDMAP_FLOOR && id < u64::from(u32::MAX)
        {
            let i = id as usize;
            if self.dense.len() <= i {
                self.dense.resize(i + 1, V::default());
                self.present.resize((i + 1).div_ceil(64), 0);
            }
            self.dense[i] = value;
            self.present[i / 64] |= 1 << (i % 64);
        } else {
            self.sparse.insert(id, value);
        }
    }

    /// Set `id`'s value unless it has one.
    pub fn insert_new(&mut self, id: u64, value: V) {
        if !self.contains(id) {
            self.insert(id, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_map_agrees_with_a_hash_map() {
        let mut m = IdMap::<u32>::default();
        let mut naive = std::collections::HashMap::new();
        let mut x = 7u64;
        for k in 0..20_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Mostly dense ids, some far beyond, some repeated.
            let id = match k % 7 {
                0 => x >> 3,
                1 => k / 2,
                _ => k + (x >> 60),
            };
            let v = (x >> 32) as u32;
            if k % 3 == 0 {
                m.insert_new(id, v);
                naive.entry(id).or_insert(v);
            } else {
                m.insert(id, v);
                naive.insert(id, v);
            }
            let probe = x >> 50;
            assert_eq!(m.get(probe), naive.get(&probe).copied());
            assert_eq!(m.get(id), naive.get(&id).copied());
        }
        for (&id, &v) in &naive {
            assert_eq!(m.get(id), Some(v));
        }
        assert!(!m.sparse.is_empty() && !m.dense.is_empty());
    }

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
