//! Block ids remapped once to dense indices, so the cache passes index plain vectors
//! instead of hashing every id of every request again.

use rustc_hash::FxHashMap;

use crate::trace::Trace;

/// The direct table may take up to this many u32 slots per block occurrence: memory
/// stays proportional to the trace while fitting every remapped id range.
const DIRECT_LIMIT_PER_BLOCK: u64 = 4;

/// All requests' blocks as dense ids `0..unique`, laid end to end.
#[derive(Debug, Clone)]
pub struct BlockTable {
    ids: Vec<u32>,
    /// `offsets[i]..offsets[i + 1]` are request `i`'s blocks.
    offsets: Vec<usize>,
    unique: usize,
}

impl BlockTable {
    /// `None` when no request carries blocks (Azure).
    pub fn build(trace: &Trace) -> Option<BlockTable> {
        if trace.requests.iter().all(|r| r.hash_ids.is_none()) {
            return None;
        }
        let total: usize = trace.requests.iter().map(|r| r.ids().len()).sum();
        let max_id = trace.requests.iter().flat_map(|r| r.ids()).max().copied();
        let mut ids = Vec::with_capacity(total);
        let mut offsets = Vec::with_capacity(trace.requests.len() + 1);
        offsets.push(0);
        let mut unique = 0u32;
        let mut fresh = || {
            unique += 1;
            unique - 1
        };
        // Real traces carry ids already remapped to 0..N, so a direct table indexed by the
        // raw id is usually small, and it avoids a hash probe (a cache miss on a table of
        // millions) per block. Hashing is the fallback for sparse ids (content hashes).
        match max_id {
            Some(max) if max < DIRECT_LIMIT_PER_BLOCK * total as u64 + 1024 => {
                let mut dense = vec![u32::MAX; max as usize + 1];
                for req in &trace.requests {
                    for &id in req.ids() {
                        let slot = &mut dense[id as usize];
                        if *slot == u32::MAX {
                            *slot = fresh();
                        }
                        ids.push(*slot);
                    }
                    offsets.push(ids.len());
                }
            }
            _ => {
                let mut dense: FxHashMap<u64, u32> = FxHashMap::default();
                for req in &trace.requests {
                    for &id in req.ids() {
                        ids.push(*dense.entry(id).or_insert_with(&mut fresh));
                    }
                    offsets.push(ids.len());
                }
            }
        }
        Some(BlockTable {
            ids,
            offsets,
            unique: unique as usize,
        })
    }

    /// Request `i`'s blocks.
    pub fn request(&self, i: usize) -> &[u32] {
        &self.ids[self.offsets[i]..self.offsets[i + 1]]
    }

    pub fn requests(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Distinct ids over the whole trace.
    pub fn unique(&self) -> usize {
        self.unique
    }

    /// Block occurrences over all requests.
    pub fn total(&self) -> usize {
        self.ids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::testing::mooncake;

    #[test]
    fn sparse_and_dense_ids_get_the_same_first_seen_numbering() {
        // Dense ids (small) take the direct table, 2^40-scale ids the hash map; both must
        // number ids in order of first appearance.
        let big = 1u64 << 40;
        let dense = mooncake(&[(0.0, &[7, 3]), (1.0, &[3, 9, 7])]);
        let sparse = mooncake(&[
            (0.0, &[big + 7, big + 3]),
            (1.0, &[big + 3, big + 9, big + 7]),
        ]);
        for trace in [dense, sparse] {
            let t = BlockTable::build(&trace).unwrap();
            assert_eq!((t.request(0), t.request(1)), (&[0, 1][..], &[1, 2, 0][..]));
            assert_eq!((t.unique(), t.total(), t.requests()), (3, 5, 2));
        }
    }
}
