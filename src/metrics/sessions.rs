//! Session structure: who is whose parent, how sessions grow, how long users think.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::histogram::{Histogram, Tally};
use super::summary::Summary;
use crate::trace::Request;

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

/// The session figures, one request at a time. Parents are resolved to the latest
/// earlier request with their chat id (a child never precedes its parent in a
/// time-sorted file, and this keeps the links acyclic whatever the input says). What a
/// later child may need of a request is kept per request: its tree's head, its input
/// plus output, whether it is a root, and its children so far.
#[derive(Debug, Default)]
pub struct SessionPass {
    by_chat: FxHashMap<u64, u32>,
    /// Per request: the request heading its tree (its root, or the topmost ancestor in
    /// the file when the chain is cut), whether it is a root, input + output, children.
    head: Vec<u32>,
    root: Vec<bool>,
    carried: Vec<u64>,
    children: Vec<u32>,
    /// Requests that have session fields.
    pub with_session: u64,
    follow_ups: u64,
    orphans: u64,
    turns: BTreeMap<u32, u64>,
    session_size: FxHashMap<u32, u32>,
    transitions: FxHashMap<(u16, u16), u64>,
    gaps: Tally,
    gap_sum: f64,
    new_tokens: Tally,
    new_tokens_sum: f64,
}

/// What one request's session fields resolved to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// The parent's index, when it is earlier in the file.
    pub parent: Option<u32>,
    pub head: u32,
}

impl SessionPass {
    /// Request number `times.len() - 1`, of type `ty` (`types` holds every request's).
    pub fn push(&mut self, req: &Request, times: &[f64], types: &[u16]) -> Link {
        let i = (times.len() - 1) as u32;
        let session = req.session.as_ref();
        let parent = session
            .and_then(|s| s.parent())
            .and_then(|c| self.by_chat.get(&c).copied());
        let head = parent.map_or(i, |p| self.head[p as usize]);
        self.head.push(head);
        self.root.push(session.is_some_and(|s| s.is_root()));
        self.carried.push(req.input_length + req.output_length);
        self.children.push(0);
        let Some(s) = session else {
            return Link { parent, head };
        };
        self.with_session += 1;
        self.by_chat.insert(s.chat_id, i);
        *self.turns.entry(s.turn).or_insert(0) += 1;
        if !s.is_root() {
            self.follow_ups += 1;
        }
        match parent {
            Some(p) => {
                let p = p as usize;
                self.children[p] += 1;
                *self
                    .transitions
                    .entry((types[p], types[i as usize]))
                    .or_insert(0) += 1;
                let gap = times[i as usize] - times[p];
                self.gaps.add(gap);
                self.gap_sum += gap;
                // Exact in f64: lengths are integers far below 2^53.
                let new = req.input_length as f64 - self.carried[p] as f64;
                self.new_tokens.add(new);
                self.new_tokens_sum += new;
            }
            None if !s.is_root() => self.orphans += 1,
            None => {}
        }
        if self.root[head as usize] {
            *self.session_size.entry(head).or_insert(0) += 1;
        }
        Link { parent, head }
    }

    /// The figures, and the parent -> child gaps and new tokens per follow-up.
    pub fn finish(self, type_names: &[String]) -> (SessionStats, Histogram, Histogram) {
        let n = self.head.len() as u64;
        let mut session_sizes = BTreeMap::new();
        for &size in self.session_size.values() {
            *session_sizes.entry(size).or_insert(0) += 1;
        }
        let mut children = BTreeMap::new();
        for &c in &self.children {
            *children.entry(c).or_insert(0) += 1;
        }
        let type_transitions = self
            .transitions
            .iter()
            .map(|(&(p, c), &k)| {
                let name = |t: u16| type_names[t as usize].as_str();
                (format!("{}->{}", name(p), name(c)), k)
            })
            .collect();
        let sessions = self.session_size.len() as u64;
        let linked: u64 = self.children.iter().map(|&c| u64::from(c)).sum();
        let gaps = self.gaps.finish();
        let new_tokens = self.new_tokens.finish();
        let stats = SessionStats {
            sessions,
            follow_up_share: ratio(self.follow_ups, n).unwrap_or(0.0),
            orphans: self.orphans,
            single_request_share: ratio(session_sizes.get(&1).copied().unwrap_or(0), sessions),
            session_sizes,
            turns: self.turns,
            children,
            children_mean: ratio(linked, n).unwrap_or(0.0),
            parent_child_gap: Summary::of_histogram(&gaps, self.gap_sum),
            new_tokens: Summary::of_histogram(&new_tokens, self.new_tokens_sum),
            type_transitions,
        };
        (stats, gaps, new_tokens)
    }
}

pub(crate) fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
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
        let s = crate::metrics::TraceStats::compute(&trace)
            .sessions
            .unwrap();
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
        let a = crate::metrics::analyze(&trace);
        let s = a.stats.sessions.unwrap();
        assert_eq!((s.sessions, s.orphans), (1, 1));
        assert_relative_eq!(s.follow_up_share, 2.0 / 3.0);
        assert_relative_eq!(s.single_request_share.unwrap(), 1.0);
        assert_eq!(s.children, BTreeMap::from([(0, 2), (1, 1)]));
        assert_eq!(a.samples.parent_child_gaps.unwrap().expand(), [3.0]);
    }
}
