//! Session structure: who is whose parent, how sessions grow, how long users think.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::histogram::{Histogram, Tally};
use super::ids::IdMap;
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
/// later child may need of a request is kept per request, in a few bytes: its tree (a
/// dense number given to each request that heads one: a root, or the topmost ancestor
/// in the file when the chain is cut), its input plus output, and its children so far.
#[derive(Debug, Default)]
pub struct SessionPass {
    /// Chat id -> the latest request with it (chat ids are dense: a vector, not a map).
    by_chat: IdMap<u32>,
    /// Per request: its tree ([`NO_TREE`] outside any session), input + output,
    /// children.
    tree: Vec<u32>,
    carried: Small<u32>,
    children: Small<u8>,
    /// Per tree: requests in it, and whether its head is a root.
    tree_size: Vec<u32>,
    tree_root: Vec<bool>,
    /// Requests that have session fields.
    pub with_session: u64,
    follow_ups: u64,
    orphans: u64,
    turns: BTreeMap<u32, u64>,
    transitions: FxHashMap<(u16, u16), u64>,
    gaps: Tally,
    gap_sum: f64,
    new_tokens: Tally,
    new_tokens_sum: f64,
}

/// The tree of a request without session fields (no request can be its child).
const NO_TREE: u32 = u32::MAX;

/// Per-request counts in `T` (a byte, four), the few that do not fit kept apart.
#[derive(Debug, Default)]
struct Small<T> {
    values: Vec<T>,
    wide: FxHashMap<u32, u64>,
}

impl<T: Copy + Into<u64> + TryFrom<u64> + PartialEq + Bounded> Small<T> {
    fn push(&mut self, v: u64) {
        match T::try_from(v) {
            Ok(t) if t != T::MAX => self.values.push(t),
            _ => {
                self.wide.insert(self.values.len() as u32, v);
                self.values.push(T::MAX);
            }
        }
    }

    fn get(&self, i: usize) -> u64 {
        let t = self.values[i];
        if t == T::MAX {
            self.wide[&(i as u32)]
        } else {
            t.into()
        }
    }

    fn set(&mut self, i: usize, v: u64) {
        match T::try_from(v) {
            Ok(t) if t != T::MAX => self.values[i] = t,
            _ => {
                self.wide.insert(i as u32, v);
                self.values[i] = T::MAX;
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.values.len()).map(|i| self.get(i))
    }
}

trait Bounded {
    const MAX: Self;
}

impl Bounded for u8 {
    const MAX: u8 = u8::MAX;
}

impl Bounded for u32 {
    const MAX: u32 = u32::MAX;
}

/// What one request's session fields resolved to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// The parent's index, when it is earlier in the file.
    pub parent: Option<u32>,
    /// The request's tree: dense numbers from 0 in order of the trees' heads;
    /// [`NO_TREE`] for a request without session fields.
    pub tree: u32,
}

impl SessionPass {
    /// Request number `times.len() - 1`, of type `ty` (`types` holds every request's).
    pub fn push(&mut self, req: &Request, times: &[f64], types: &[u16]) -> Link {
        let i = (times.len() - 1) as u32;
        let session = req.session.as_ref();
        let parent = session
            .and_then(|s| s.parent())
            .and_then(|c| self.by_chat.get(c));
        let tree = match (session, parent) {
            (None, _) => NO_TREE,
            (Some(_), Some(p)) => self.tree[p as usize],
            (Some(s), None) => {
                self.tree_size.push(0);
                self.tree_root.push(s.is_root());
                (self.tree_size.len() - 1) as u32
            }
        };
        self.tree.push(tree);
        self.carried.push(req.input_length + req.output_length);
        self.children.push(0);
        let Some(s) = session else {
            return Link { parent, tree };
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
                self.children.set(p, self.children.get(p) + 1);
                *self
                    .transitions
                    .entry((types[p], types[i as usize]))
                    .or_insert(0) += 1;
                let gap = times[i as usize] - times[p];
                self.gaps.add(gap);
                self.gap_sum += gap;
                // Exact in f64: lengths are integers far below 2^53.
                let new = req.input_length as f64 - self.carried.get(p) as f64;
                self.new_tokens.add(new);
                self.new_tokens_sum += new;
            }
            None if !s.is_root() => self.orphans += 1,
            None => {}
        }
        self.tree_size[tree as usize] += 1;
        Link { parent, tree }
    }

    /// The figures, and the parent -> child gaps and new tokens per follow-up.
    pub fn finish(self, type_names: &[String]) -> (SessionStats, Histogram, Histogram) {
        let n = self.tree.len() as u64;
        let mut session_sizes = BTreeMap::new();
        let mut sessions = 0u64;
        for (&size, _) in self.tree_size.iter().zip(&self.tree_root).filter(|t| *t.1) {
            *session_sizes.entry(size).or_insert(0) += 1;
            sessions += 1;
        }
        let mut children = BTreeMap::new();
        let mut linked = 0u64;
        for c in self.children.iter() {
            *children.entry(c as u32).or_insert(0) += 1;
            linked += c;
        }
        let type_transitions = self
            .transitions
            .iter()
            .map(|(&(p, c), &k)| {
                let name = |t: u16| type_names[t as usize].as_str();
                (format!("{}->{}", name(p), name(c)), k)
            })
            .collect();
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
