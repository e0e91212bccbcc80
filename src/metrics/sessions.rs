//! Session structure: who is whose parent, how sessions grow, how long users think.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::summary::Summary;
use crate::trace::Trace;

/// Parent links resolved to request indices, built once and shared by the session and
/// cache figures.
#[derive(Debug, Clone)]
pub struct SessionIndex {
    /// Index of each request's parent, when the parent is earlier in the file.
    pub parent: Vec<Option<u32>>,
    /// Index of the request heading each request's tree: its root, or the topmost
    /// ancestor present in the file when the chain is cut (an excerpt or a time slice).
    pub head: Vec<u32>,
}

impl SessionIndex {
    /// `None` when the trace has no session fields (Mooncake, Azure).
    pub fn build(trace: &Trace) -> Option<SessionIndex> {
        if !trace.has_sessions() {
            return None;
        }
        let n = trace.requests.len();
        let mut by_chat: FxHashMap<u64, u32> = FxHashMap::default();
        let mut parent = Vec::with_capacity(n);
        let mut head = Vec::with_capacity(n);
        for (i, req) in trace.requests.iter().enumerate() {
            let i = i as u32;
            let session = req.session.as_ref();
            // Only earlier requests can be parents: a child never precedes its parent in a
            // time-sorted file, and this keeps the links acyclic whatever the input says.
            let p = session
                .and_then(|s| s.parent())
                .and_then(|c| by_chat.get(&c).copied());
            parent.push(p);
            head.push(p.map_or(i, |p| head[p as usize]));
            if let Some(s) = session {
                by_chat.insert(s.chat_id, i);
            }
        }
        Some(SessionIndex { parent, head })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionStats {
    /// Sessions: requests with no parent (`parent_chat_id` = -1).
    pub sessions: u64,
    /// Share of requests that have a parent (whether or not it is in the file).
    pub follow_up_share: f64,
    /// Follow-ups whose parent is not in the file (cut chains); they head their own
    /// trees and are left out of the session-size figures.
    pub orphans: u64,
    /// Share of sessions made of one request.
    pub single_request_share: Option<f64>,
    /// Requests per session -> number of sessions.
    pub session_sizes: BTreeMap<u32, u64>,
    /// `turn` field -> number of requests.
    pub turns: BTreeMap<u32, u64>,
    /// Children in the file -> number of requests with that many.
    pub children: BTreeMap<u32, u64>,
    pub children_mean: f64,
    /// Seconds from a parent's arrival to its child's.
    pub parent_child_gap: Option<Summary>,
    /// Child input - parent input - parent output: the new user tokens of a turn
    /// (negative when the carried context shrank, e.g. stripped thinking tokens).
    pub new_tokens: Option<Summary>,
    /// "parent type -> child type" -> number of follow-ups.
    pub type_transitions: BTreeMap<String, u64>,
}

impl SessionStats {
    pub fn compute(trace: &Trace, index: &SessionIndex) -> SessionStats {
        let n = trace.requests.len();
        let mut follow_ups = 0u64;
        let mut orphans = 0u64;
        let mut turns = BTreeMap::new();
        let mut child_counts = vec![0u32; n];
        let mut session_size: FxHashMap<u32, u32> = FxHashMap::default();
        let mut type_transitions = BTreeMap::new();
        for (i, req) in trace.requests.iter().enumerate() {
            let Some(s) = &req.session else { continue };
            *turns.entry(s.turn).or_insert(0) += 1;
            if !s.is_root() {
                follow_ups += 1;
            }
            match index.parent[i] {
                Some(p) => {
                    child_counts[p as usize] += 1;
                    let parent_type = trace.requests[p as usize].req_type().unwrap_or("");
                    *type_transitions
                        .entry(format!("{parent_type}->{}", s.req_type))
                        .or_insert(0) += 1;
                }
                None if !s.is_root() => orphans += 1,
                None => {}
            }
            let head = index.head[i];
            if trace.requests[head as usize]
                .session
                .as_ref()
                .is_some_and(|h| h.is_root())
            {
                *session_size.entry(head).or_insert(0) += 1;
            }
        }
        let mut session_sizes = BTreeMap::new();
        for &size in session_size.values() {
            *session_sizes.entry(size).or_insert(0) += 1;
        }
        let mut children = BTreeMap::new();
        for &c in &child_counts {
            *children.entry(c).or_insert(0) += 1;
        }
        let sessions = session_size.len() as u64;
        let linked: u64 = child_counts.iter().map(|&c| u64::from(c)).sum();
        SessionStats {
            sessions,
            follow_up_share: ratio(follow_ups, n as u64).unwrap_or(0.0),
            orphans,
            single_request_share: ratio(session_sizes.get(&1).copied().unwrap_or(0), sessions),
            session_sizes,
            turns,
            children,
            children_mean: ratio(linked, n as u64).unwrap_or(0.0),
            parent_child_gap: Summary::of(&parent_child_gaps(trace, index)),
            new_tokens: Summary::of(&new_tokens(trace, index)),
            type_transitions,
        }
    }
}

pub(crate) fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// Seconds from parent to child, one per follow-up whose parent is in the file.
pub fn parent_child_gaps(trace: &Trace, index: &SessionIndex) -> Vec<f64> {
    linked_pairs(index)
        .map(|(p, c)| trace.requests[c].timestamp - trace.requests[p].timestamp)
        .collect()
}

/// New tokens per follow-up (child input - parent input - parent output).
pub fn new_tokens(trace: &Trace, index: &SessionIndex) -> Vec<f64> {
    linked_pairs(index)
        .map(|(p, c)| {
            let (p, c) = (&trace.requests[p], &trace.requests[c]);
            c.input_length as f64 - p.input_length as f64 - p.output_length as f64
        })
        .collect()
}

fn linked_pairs(index: &SessionIndex) -> impl Iterator<Item = (usize, usize)> + '_ {
    index
        .parent
        .iter()
        .enumerate()
        .filter_map(|(c, p)| p.map(|p| (p as usize, c)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::testing::{bailian, hand_trace, req};
    use approx::assert_relative_eq;

    #[test]
    fn session_figures_by_hand() {
        // Worked out in testing::hand_trace.
        let trace = hand_trace();
        let index = SessionIndex::build(&trace).unwrap();
        assert_eq!(index.head, [0, 1, 0, 3, 0]);
        let s = SessionStats::compute(&trace, &index);
        assert_eq!(s.sessions, 3);
        assert_eq!(s.orphans, 0);
        assert_relative_eq!(s.follow_up_share, 0.4);
        assert_relative_eq!(s.single_request_share.unwrap(), 2.0 / 3.0);
        assert_eq!(s.session_sizes, BTreeMap::from([(1, 2), (3, 1)]));
        assert_eq!(s.turns, BTreeMap::from([(1, 3), (2, 1), (3, 1)]));
        assert_eq!(s.children, BTreeMap::from([(0, 3), (1, 2)]));
        assert_relative_eq!(s.children_mean, 0.4);
        // Gaps 5, 7: p50 6, p90 5 + 0.9*2 = 6.8.
        let gap = s.parent_child_gap.unwrap();
        assert_relative_eq!(gap.p50, 6.0);
        assert_relative_eq!(gap.p90, 6.8);
        // New tokens 20, -10: mean 5, p50 5, p90 -10 + 0.9*30 = 17.
        let new = s.new_tokens.unwrap();
        assert_relative_eq!(new.mean, 5.0);
        assert_relative_eq!(new.p50, 5.0);
        assert_relative_eq!(new.p90, 17.0);
        assert_eq!(
            s.type_transitions,
            BTreeMap::from([
                ("text->search".to_string(), 1),
                ("text->text".to_string(), 1)
            ])
        );
    }

    #[test]
    fn a_cut_chain_heads_its_own_tree_and_is_not_a_session() {
        // r1's parent 99 is not in the file (an excerpt): r1 is an orphan heading {r1,r2}.
        // Sessions: only r0's, of size 1. Follow-ups r1, r2: 2/3. Children: r1 has r2.
        // The only linked gap is r1 -> r2: 4 - 1 = 3 s.
        let trace = bailian(vec![
            req(0.0, 1, -1, "text", 1, 10, 1, &[1]),
            req(1.0, 2, 99, "text", 2, 10, 1, &[2]),
            req(4.0, 3, 2, "text", 3, 10, 1, &[2]),
        ]);
        let index = SessionIndex::build(&trace).unwrap();
        assert_eq!(index.head, [0, 1, 1]);
        let s = SessionStats::compute(&trace, &index);
        assert_eq!((s.sessions, s.orphans), (1, 1));
        assert_relative_eq!(s.follow_up_share, 2.0 / 3.0);
        assert_relative_eq!(s.single_request_share.unwrap(), 1.0);
        assert_eq!(s.children, BTreeMap::from([(0, 2), (1, 1)]));
        assert_eq!(parent_child_gaps(&trace, &index), [3.0]);
    }
}
