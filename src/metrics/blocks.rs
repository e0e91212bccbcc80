//! Block ids remapped once to dense indices, so the cache passes index plain vectors
//! instead of hashing every id of every request again.

use rustc_hash::FxHashMap;

use crate::trace::Trace;

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
        let mut dense: FxHashMap<u64, u32> = FxHashMap::default();
        let mut ids = Vec::with_capacity(total);
        let mut offsets = Vec::with_capacity(trace.requests.len() + 1);
        offsets.push(0);
        for req in &trace.requests {
            for &id in req.ids() {
                let next = dense.len() as u32;
                ids.push(*dense.entry(id).or_insert(next));
            }
            offsets.push(ids.len());
        }
        Some(BlockTable {
            ids,
            offsets,
            unique: dense.len(),
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
