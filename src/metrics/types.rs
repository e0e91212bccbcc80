//! Request types interned to small indices, so per-type tallies are plain vectors.

use rustc_hash::FxHashMap;

use crate::trace::Trace;

#[derive(Debug, Clone)]
pub struct TypeIndex {
    /// Type names in order of first appearance.
    pub names: Vec<String>,
    /// Each request's index into `names`.
    pub of_request: Vec<u16>,
}

impl TypeIndex {
    /// `None` when the trace has no types (Mooncake, Azure).
    pub fn build(trace: &Trace) -> Option<TypeIndex> {
        if !trace.has_sessions() {
            return None;
        }
        let mut lookup: FxHashMap<&str, u16> = FxHashMap::default();
        let mut names = Vec::new();
        let mut of_request = Vec::with_capacity(trace.requests.len());
        for req in &trace.requests {
            // A sessionless record inside a session trace gets the empty type rather than
            // being dropped, so per-type counts still add up to the total.
            let name = req.req_type().unwrap_or("");
            let k = *lookup.entry(name).or_insert_with(|| {
                names.push(name.to_string());
                (names.len() - 1) as u16
            });
            of_request.push(k);
        }
        Some(TypeIndex { names, of_request })
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}
