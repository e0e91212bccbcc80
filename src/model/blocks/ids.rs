//! A request's block ids as runs of consecutive ids.
//!
//! The generator mints ids in blocks: a prefix's own blocks, a request's new content.
//! Keeping them as runs makes a request's ids a handful of numbers however long its
//! context, so the planner can hand records to other threads (or drop those of other
//! shards) cheaply, and only the thread that formats a record spells its ids out.

use std::ops::Range;

use smallvec::SmallVec;

/// Ids as consecutive runs, in order. A request has a few runs (its shared prefix, what
/// each earlier turn added, its own content and tail), held inline up to this many.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdRuns {
    runs: SmallVec<[Range<u64>; 4]>,
    len: usize,
}

impl IdRuns {
    pub fn new() -> Self {
        IdRuns::default()
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append the ids `start..start + n`, joining the last run when they continue it.
    pub fn push_run(&mut self, start: u64, n: u64) {
        if n == 0 {
            return;
        }
        self.len += n as usize;
        if let Some(last) = self.runs.last_mut()
            && last.end == start
        {
            last.end += n;
            return;
        }
        self.runs.push(start..start + n);
    }

    pub fn push(&mut self, id: u64) {
        self.push_run(id, 1);
    }

    /// Append all of `other`.
    pub fn extend(&mut self, other: &IdRuns) {
        for r in &other.runs {
            self.push_run(r.start, r.end - r.start);
        }
    }

    /// The first `n` ids of `self` (all of them when it has fewer).
    pub fn prefix(&self, n: usize) -> IdRuns {
        let mut out = IdRuns::new();
        let mut left = n as u64;
        for r in &self.runs {
            if left == 0 {
                break;
            }
            let take = (r.end - r.start).min(left);
            out.push_run(r.start, take);
            left -= take;
        }
        out
    }

    /// Drop the last id.
    pub fn pop(&mut self) {
        if let Some(last) = self.runs.last_mut() {
            last.end -= 1;
            self.len -= 1;
            if last.is_empty() {
                self.runs.pop();
            }
        }
    }

    /// Append every id to `out`.
    pub fn expand_into(&self, out: &mut Vec<u64>) {
        out.reserve(self.len);
        for r in &self.runs {
            out.extend(r.clone());
        }
    }

    /// One past the largest id (0 when empty).
    pub fn end(&self) -> u64 {
        self.runs.iter().map(|r| r.end).max().unwrap_or(0)
    }

    /// The same ids plus `by`.
    pub fn shifted(&self, by: u64) -> IdRuns {
        IdRuns {
            runs: self.runs.iter().map(|r| r.start + by..r.end + by).collect(),
            len: self.len,
        }
    }

    pub fn to_vec(&self) -> Vec<u64> {
        let mut out = Vec::with_capacity(self.len);
        self.expand_into(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(parts: &[(u64, u64)]) -> IdRuns {
        let mut r = IdRuns::new();
        for &(s, n) in parts {
            r.push_run(s, n);
        }
        r
    }

    #[test]
    fn consecutive_runs_join() {
        let r = runs(&[(10, 3), (13, 2), (40, 1), (7, 0)]);
        assert_eq!(r.runs.to_vec(), vec![10..15, 40..41]);
        assert_eq!(r.len(), 6);
        assert_eq!(r.to_vec(), vec![10, 11, 12, 13, 14, 40]);
    }

    #[test]
    fn prefix_and_pop_cut_inside_runs() {
        let r = runs(&[(10, 3), (40, 4)]);
        assert_eq!(r.prefix(5).to_vec(), vec![10, 11, 12, 40, 41]);
        assert_eq!(r.prefix(2).to_vec(), vec![10, 11]);
        assert_eq!(r.prefix(99), r);
        assert!(r.prefix(0).is_empty());
        let mut p = runs(&[(10, 1), (40, 1)]);
        p.pop();
        assert_eq!(p.to_vec(), vec![10]);
        assert_eq!(p.runs.len(), 1);
        p.pop();
        p.pop();
        assert!(p.is_empty());
    }

    #[test]
    fn extend_appends_in_order() {
        let mut a = runs(&[(0, 2)]);
        a.extend(&runs(&[(2, 1), (9, 2)]));
        assert_eq!(a.to_vec(), vec![0, 1, 2, 9, 10]);
        assert_eq!(a.len(), 5);
    }
}
