//! Request types interned to small indices, so per-type tallies are plain vectors.

use rustc_hash::FxHashMap;

/// Type names in order of first appearance; a record without session fields has the
/// empty type rather than none, so per-type counts still add up to the total.
#[derive(Debug, Clone, Default)]
pub struct TypeTable {
    pub names: Vec<String>,
    lookup: FxHashMap<String, u16>,
}

impl TypeTable {
    pub fn code(&mut self, name: &str) -> u16 {
        if let Some(&k) = self.lookup.get(name) {
            return k;
        }
        let k = self.names.len() as u16;
        self.names.push(name.to_string());
        self.lookup.insert(name.to_string(), k);
        k
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}
