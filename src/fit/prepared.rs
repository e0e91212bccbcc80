//! The one view of a trace that every component fit reads: requests in file order with
//! their lineage (parent, turn, children), type index and ids, and times freed from the
//! source's timestamp quantisation.

use std::collections::HashMap;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use crate::metrics::arrivals::time_quantum;
use crate::trace::{Request, Trace};

/// Type name given to requests of formats without types.
pub const UNTYPED: &str = "text";

/// One request as the fits see it.
#[derive(Debug, Clone)]
pub struct FitRequest {
    /// Seconds from the first request, de-quantised (see [`Prepared::time_quantum`]).
    pub t: f64,
    pub input: u64,
    pub output: u64,
    /// Index into [`Prepared::types`].
    pub ty: usize,
    /// Index of the parent request, if this is a follow-up whose parent is in the trace.
    pub parent: Option<usize>,
    /// 1 for roots, parent's + 1; an orphan's comes from its record.
    pub turn: u32,
    pub children: u32,
    /// Where this request's hash ids start in the shared arena (a byte offset; see
    /// [`Prepared::ids`]).
    ids_at: usize,
    /// How many hash ids (blocks) the request has.
    pub blocks: u32,
    /// A follow-up whose parent came before the trace's window (`parent_chat_id` names
    /// a request the file does not have). Not a root, and its own think time is unseen;
    /// its turn is the record's, and the generator's warm-up produces its like.
    pub orphan: bool,
    /// For a follow-up that carries on only the start of its parent's context (a client
    /// that truncated the history): how many of the parent's blocks it kept. `None` for
    /// the usual follow-up, which keeps all but the parent's last block.
    pub kept_blocks: Option<u32>,
}

impl FitRequest {
    pub fn is_root(&self) -> bool {
        self.parent.is_none() && !self.orphan
    }
}

/// How the sessions of a trace were obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lineage {
    /// From `parent_chat_id` (Bailian).
    Explicit,
    /// Inferred from block inheritance: a request whose ids start with an earlier
    /// request's ids minus its last block continues that request's conversation
    /// (Mooncake records carry no session fields, yet a third of them are follow-ups).
    InferredFromBlocks,
    /// No sessions and no blocks (Azure): every request is a root.
    None,
}

/// The prepared view of a trace. The hash ids of every request sit in one flat arena of
/// bytes, each id as the varint of its step from the request's previous id, rather than
/// a vector of `u64` per request: the ids are most of a trace's memory, a vector per
/// request doubled them with its spare capacity, and ids mostly come in runs of
/// consecutive blocks, one byte each here.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub block_size: Option<u32>,
    /// Source timestamps sit on a grid of this many seconds (Mooncake: 3 s); generated
    /// timestamps are put back on it.
    pub time_quantum: Option<f64>,
    pub lineage: Lineage,
    pub types: Vec<String>,
    pub requests: Vec<FitRequest>,
    /// Time from the first to the last request, seconds.
    pub span: f64,
    ids: IdArena,
}

impl Prepared {
    pub fn new(trace: Trace, seed: u64) -> Prepared {
        let mut builder = PreparedBuilder::new(trace.block_size);
        for req in trace.requests {
            builder.push(req);
        }
        builder.finish(seed)
    }

    pub fn roots(&self) -> impl Iterator<Item = &FitRequest> {
        self.requests.iter().filter(|r| r.is_root())
    }

    /// The hash ids of request `i`, in order.
    pub fn ids(&self, i: usize) -> Ids<'_> {
        self.ids_of(&self.requests[i])
    }

    /// The hash ids of `r`, one of this view's requests, in order.
    pub fn ids_of(&self, r: &FitRequest) -> Ids<'_> {
        self.ids.of(r)
    }
}

/// Builds a [`Prepared`] from requests fed one at a time in file order, so that a trace
/// file is fitted without holding its records: each request's ids go into the arena as it
/// comes and the rest of the record is dropped.
pub struct PreparedBuilder {
    block_size: Option<u32>,
    origin: Option<f64>,
    types: Vec<String>,
    type_index: HashMap<String, usize>,
    chat_index: FxHashMap<u64, usize>,
    has_sessions: bool,
    has_ids: bool,
    requests: Vec<FitRequest>,
    ids: IdArena,
    first_last: Option<(f64, f64)>,
}

impl PreparedBuilder {
    /// `block_size` is the trace's ([`Trace::block_size`]).
    pub fn new(block_size: Option<u32>) -> Self {
        PreparedBuilder {
            block_size,
            origin: None,
            types: Vec::new(),
            type_index: HashMap::new(),
            chat_index: FxHashMap::default(),
            has_sessions: false,
            has_ids: false,
            requests: Vec::new(),
            ids: IdArena::default(),
            first_last: None,
        }
    }

    /// Requests pushed so far.
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// Time from the first to the last request pushed, in file order (as
    /// [`Trace::span`]).
    pub fn raw_span(&self) -> f64 {
        self.first_last.map_or(0.0, |(a, b)| (b - a).max(0.0))
    }

    /// Add the next request of the trace.
    pub fn push(&mut self, req: Request) {
        let i = self.requests.len();
        let origin = *self.origin.get_or_insert(req.timestamp);
        let first = self.first_last.map_or(req.timestamp, |(a, _)| a);
        self.first_last = Some((first, req.timestamp));
        let name = req.req_type().unwrap_or(UNTYPED);
        let ty = match self.type_index.get(name) {
            Some(&t) => t,
            None => {
                self.types.push(name.to_string());
                self.type_index
                    .insert(name.to_string(), self.types.len() - 1);
                self.types.len() - 1
            }
        };
        let (parent, orphan, turn) = match &req.session {
            Some(s) => {
                self.has_sessions = true;
                self.chat_index.insert(s.chat_id, i);
                let parent = s
                    .parent()
                    .and_then(|p| self.chat_index.get(&p).copied())
                    .filter(|&p| p < i);
                let orphan = s.parent().is_some() && parent.is_none();
                // An orphan's place in its session is only known from the record's own
                // turn field; it is at least the second turn. In-file follow-ups count
                // from their parents (see `finish`).
                (parent, orphan, if orphan { s.turn.max(2) } else { 1 })
            }
            None => (None, false, 1),
        };
        let ids = req.ids();
        self.has_ids |= req.hash_ids.is_some();
        let ids_at = self.ids.bytes.len();
        self.ids.push(ids);
        self.requests.push(FitRequest {
            // The raw time for now; `finish` adds the de-quantisation jitter.
            t: req.timestamp - origin,
            input: req.input_length,
            output: req.output_length,
            ty,
            parent,
            turn,
            children: 0,
            ids_at,
            blocks: u32::try_from(ids.len()).expect("fewer than 2^32 ids in one record"),
            orphan,
            kept_blocks: None,
        });
    }

    /// The prepared view; `seed` seeds the de-quantisation jitter.
    pub fn finish(self, seed: u64) -> Prepared {
        let PreparedBuilder {
            block_size,
            types,
            has_sessions,
            has_ids,
            mut requests,
            ids,
            ..
        } = self;
        let raw_times: Vec<f64> = requests.iter().map(|r| r.t).collect();
        let time_quantum = time_quantum(&raw_times);
        let span = raw_times.last().copied().unwrap_or(0.0) + time_quantum.unwrap_or(0.0);
        drop(raw_times);
        let lineage = if has_sessions {
            Lineage::Explicit
        } else if block_size.is_some() && has_ids {
            Lineage::InferredFromBlocks
        } else {
            Lineage::None
        };
        // The true arrival lies somewhere inside the quantum; spreading it uniformly
        // keeps gap statistics from collapsing onto the grid.
        if let Some(q) = time_quantum {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            for r in &mut requests {
                r.t += rng.random::<f64>() * q;
            }
        }
        if lineage == Lineage::InferredFromBlocks {
            infer_parents(&mut requests, &ids);
        }
        for i in 0..requests.len() {
            if let Some(p) = requests[i].parent {
                requests[i].turn = requests[p].turn + 1;
                requests[p].children += 1;
            }
        }
        Prepared {
            block_size,
            time_quantum,
            lineage,
            types,
            requests,
            span,
            ids,
        }
    }
}

/// The ids of every request, end to end: each as the zigzag LEB128 varint of its
/// difference from the request's previous id (the first from 0), so that a run of
/// consecutive blocks takes a byte an id, and any `u64` is kept exactly.
#[derive(Debug, Clone, Default)]
struct IdArena {
    bytes: Vec<u8>,
}

impl IdArena {
    fn push(&mut self, ids: &[u64]) {
        let mut prev = 0u64;
        for &id in ids {
            let step = id.wrapping_sub(prev) as i64;
            let mut z = ((step << 1) ^ (step >> 63)) as u64;
            while z >= 0x80 {
                self.bytes.push(z as u8 | 0x80);
                z >>= 7;
            }
            self.bytes.push(z as u8);
            prev = id;
        }
    }

    fn of(&self, r: &FitRequest) -> Ids<'_> {
        Ids {
            bytes: &self.bytes[r.ids_at..],
            left: r.blocks,
            prev: 0,
        }
    }
}

/// The hash ids of one request, decoded from the arena as they are read.
#[derive(Debug, Clone)]
pub struct Ids<'a> {
    bytes: &'a [u8],
    left: u32,
    prev: u64,
}

impl Iterator for Ids<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let (mut z, mut shift) = (0u64, 0);
        loop {
            let b = self.bytes[0];
            self.bytes = &self.bytes[1..];
            z |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                break;
            }
            shift += 7;
        }
        let step = ((z >> 1) as i64) ^ -((z & 1) as i64);
        self.prev = self.prev.wrapping_add(step as u64);
        Some(self.prev)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

impl ExactSizeIterator for Ids<'_> {}

/// A request's parent is the latest earlier request whose ids, or ids minus the last
/// (partial) block, are a prefix of its own, at least two blocks long (one shared block
/// is what every request under a common system prompt has), and that is shorter than it:
/// a continuation carries its parent's whole context plus an answer and new text. Two
/// users who send the same popular prompt and document, each with a text of their own
/// in the last, partial block, match each other's blocks as well as a follow-up does;
/// without the length test the latest of them became the parent of the next and the
/// chain of unrelated users grew by a turn each (inferred turn 81 on a trace whose
/// sessions stop at 6). When the latest holder of the prefix is not shorter, an earlier
/// one may be.
///
/// A request continued already gets another continuation (a fork: parallel tool calls,
/// a regenerated answer) only when no request with other ids ends at the shared prefix
/// or one partial block after it, over the whole trace: a conversation's context is held
/// so by the one request that ends there, a popular document by every user who sends it
/// with a short text of their own. Without this, the first user of a document was the
/// parent of every later one that was longer.
///
/// An exact repeat (the same ids) is a retry and takes no length test: the real Mooncake
/// trace's 118 repeats are long private contexts (up to 69 blocks) sent again, which the
/// generator makes as retries; read as roots where the content is shared, its x0.25
/// users case's ideal hit ratio distance went from 0.016, 0.010, 0.009 to 0.040, 0.020,
/// 0.047 on seeds 1-3.
///
/// Failing that, a request that shares a long prefix (at least `MIN_KEPT_BLOCKS`, and at
/// least half of the earlier request's context) with exactly one earlier session carries
/// on that conversation with a truncated history: a truncation is a weaker sign than
/// inheritance, so here a prefix held by two requests of one session already counts as
/// shared.
///
/// A prefix that several sessions already share is a system prompt or a shared document,
/// not one conversation's history, in either rule: a root made of a popular prompt plus a
/// partial last block would otherwise look like the parent of every later request under
/// that prompt, chaining unrelated sessions into endless ones. Sharing is counted in
/// sessions, not requests, so a request's own earlier follow-ups do not hide its next.
fn infer_parents(requests: &mut [FitRequest], arena: &IdArena) {
    let ids = |r: &FitRequest| arena.of(r);
    // Keys are already mixed prefix hashes, so the cheap hasher spreads them (SipHash
    // was a third of this function's time). Nothing iterates these tables, so their
    // order cannot reach the model.
    // The latest requests (up to HOLDERS, latest last) whose ids or ids minus the last
    // block are the prefix.
    let mut holders: FxHashMap<u64, SmallVec<[usize; HOLDERS]>> =
        FxHashMap::with_capacity_and_hasher(2 * requests.len(), Default::default());
    // Every prefix seen so far: the latest request holding it, the session of the first,
    // whether several sessions did and whether several requests did.
    let mut seen: FxHashMap<u64, (usize, usize, bool, bool)> = FxHashMap::default();
    // The root each request's session began with, as inferred so far.
    let mut session: Vec<usize> = Vec::with_capacity(requests.len());
    // Whether a request already has a continuation (repeats do not count).
    let mut continued: Vec<bool> = vec![false; requests.len()];
    let several_holders = several_holders(requests, arena);
    let mut prefix_hashes: Vec<u64> = Vec::new();
    for i in 0..requests.len() {
        prefix_hashes.clear();
        let mut h = PREFIX_SEED;
        for id in ids(&requests[i]) {
            h = mix(h, id);
            prefix_hashes.push(h);
        }
        let n = prefix_hashes.len();
        let shared_widely = |h: &u64| seen.get(h).is_some_and(|s| s.2);
        let parent = (2..=n)
            .rev()
            .find_map(|k| holders.get(&prefix_hashes[k - 1]).map(|js| (k, js)))
            .filter(|(k, _)| !shared_widely(&prefix_hashes[k - 1]))
            .and_then(|(k, js)| {
                js.iter().rev().copied().find(|&j| {
                    let (r, q) = (&requests[i], &requests[j]);
                    // An exact repeat (a retry) takes no length test.
                    ids(r).eq(ids(q))
                        || (r.input > q.input
                            && (!continued[j] || !several_holders.contains(&prefix_hashes[k - 1])))
                })
            });
        requests[i].parent = parent;
        if let Some(j) = parent
            && !ids(&requests[i]).eq(ids(&requests[j]))
        {
            continued[j] = true;
        }
        if parent.is_none() {
            let deepest = (1..=n).rev().find_map(|k| {
                seen.get(&prefix_hashes[k - 1])
                    .map(|&(j, _, _, several)| (k, (j, several)))
            });
            if let Some((k, (j, shared_widely))) = deepest {
                let context = (requests[j].blocks as usize).saturating_sub(1).max(1);
                if !shared_widely && k >= MIN_KEPT_BLOCKS && 2 * k >= context && k < context {
                    requests[i].parent = Some(j);
                    requests[i].kept_blocks = Some(k as u32);
                }
            }
        }
        let own = requests[i].parent.map_or(i, |p| session[p]);
        session.push(own);
        for &ph in &prefix_hashes {
            seen.entry(ph)
                .and_modify(|e| *e = (i, e.1, e.2 || e.1 != own, true))
                .or_insert((i, own, false, false));
        }
        for k in [n.wrapping_sub(1), n] {
            if (1..=n).contains(&k) {
                let js = holders.entry(prefix_hashes[k - 1]).or_default();
                if js.len() == HOLDERS {
                    js.remove(0);
                }
                js.push(i);
            }
        }
    }
}

/// Prefixes (as hashes) that two requests with different ids end at or one partial block
/// after, over the whole trace: a prompt or document that users send with texts of their
/// own. A conversation's context is held so by the one request that ends there (and its
/// retries), however many branches continue it.
fn several_holders(requests: &[FitRequest], arena: &IdArena) -> rustc_hash::FxHashSet<u64> {
    let mut first: FxHashMap<u64, u64> = FxHashMap::default();
    let mut several = rustc_hash::FxHashSet::default();
    for r in requests {
        let (mut before_last, mut h) = (None, PREFIX_SEED);
        let n = r.blocks as usize;
        for (k, id) in arena.of(r).enumerate() {
            if k + 1 == n {
                before_last = Some(h);
            }
            h = mix(h, id);
        }
        let held = [
            (n >= 2).then_some(before_last).flatten(),
            (n >= 1).then_some(h),
        ];
        for p in held.into_iter().flatten() {
            if *first.entry(p).or_insert(h) != h {
                several.insert(p);
            }
        }
    }
    several
}

/// How many of a prefix's latest holders a continuation may choose from.
const HOLDERS: usize = 4;

/// A truncated continuation keeps at least this many blocks of its parent.
const MIN_KEPT_BLOCKS: usize = 4;

/// Hash of the empty prefix.
pub const PREFIX_SEED: u64 = 0xcbf2_9ce4_8422_2325;

/// Order-dependent hash of a prefix extended by one id (fixed, so fits are reproducible).
pub fn mix(h: u64, id: u64) -> u64 {
    // splitmix64 finaliser over the running hash and the id.
    let mut z = (h ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{Format, Request};

    fn req(t: f64, input: u64, ids: Vec<u64>) -> Request {
        Request {
            timestamp: t,
            input_length: input,
            output_length: 10,
            hash_ids: Some(ids),
            session: None,
        }
    }

    #[test]
    fn infers_parents_from_block_inheritance() {
        let trace = Trace {
            format: Format::Mooncake,
            block_size: Some(512),
            requests: vec![
                req(0.0, 1500, vec![0, 1, 2]),
                req(1.0, 1500, vec![0, 3, 4]),
                // Continues request 0: its ids minus the last, then new ones.
                req(2.0, 2000, vec![0, 1, 5, 6]),
                // Shares only the common first block with everyone: a root.
                req(3.0, 1000, vec![0, 7]),
                // Continues request 2.
                req(4.0, 2600, vec![0, 1, 5, 8, 9, 10]),
            ],
        };
        let p = Prepared::new(trace, 1);
        let parents: Vec<Option<usize>> = p.requests.iter().map(|r| r.parent).collect();
        assert_eq!(parents, vec![None, None, Some(0), None, Some(2)]);
        let turns: Vec<u32> = p.requests.iter().map(|r| r.turn).collect();
        assert_eq!(turns, vec![1, 1, 2, 1, 3]);
        assert_eq!(p.requests[0].children, 1);
        assert_eq!(p.lineage, Lineage::InferredFromBlocks);
        assert_eq!(p.ids(4).collect::<Vec<_>>(), [0, 1, 5, 8, 9, 10]);
        assert_eq!(p.requests[4].blocks, 6);
    }

    #[test]
    fn ids_are_kept_exactly() {
        let cases: Vec<Vec<u64>> = vec![
            vec![],
            vec![0],
            vec![5, 6, 7, 8, 3, 200, 199, 1 << 20],
            vec![u64::MAX, 0, u64::MAX - 1, 1 << 63, 1, (1 << 63) - 1],
        ];
        let trace = Trace {
            format: Format::Mooncake,
            block_size: Some(512),
            requests: cases
                .iter()
                .enumerate()
                .map(|(i, ids)| req(i as f64, 512 * ids.len() as u64, ids.clone()))
                .collect(),
        };
        let p = Prepared::new(trace, 1);
        for (i, ids) in cases.iter().enumerate() {
            assert_eq!(&p.ids(i).collect::<Vec<_>>(), ids, "request {i}");
            assert_eq!(p.ids(i).len(), ids.len());
        }
    }

    /// The inferred parent of each request of a Mooncake trace (512-token blocks).
    fn parents(requests: Vec<Request>) -> Vec<Option<usize>> {
        let trace = Trace {
            format: Format::Mooncake,
            block_size: Some(512),
            requests,
        };
        let p = Prepared::new(trace, 1);
        p.requests.iter().map(|r| r.parent).collect()
    }

    #[test]
    fn a_continuation_is_longer_than_its_parent() {
        // Two users of one document (blocks 0-2) with texts of their own in the last,
        // partial block: the second is shorter than the first, so not its next turn.
        assert_eq!(
            parents(vec![
                req(0.0, 1900, vec![0, 1, 2, 3]),
                req(1.0, 1700, vec![0, 1, 2, 4]),
            ]),
            vec![None, None]
        );
        assert_eq!(
            parents(vec![
                req(0.0, 1900, vec![0, 1, 2, 3]),
                // Request 0's next turn.
                req(1.0, 2500, vec![0, 1, 2, 4, 5]),
                // A retry of request 1 is its follow-up whatever the lengths.
                req(2.0, 2500, vec![0, 1, 2, 4, 5]),
                // Inherits request 1's (and 2's) context but is shorter than both.
                req(3.0, 2400, vec![0, 1, 2, 4, 6]),
            ]),
            vec![None, Some(0), Some(1), None]
        );
    }

    #[test]
    fn a_request_continues_once_unless_its_context_is_its_own() {
        // A fork: two follow-ups of one conversation, whose context (blocks 0-3) only
        // request 0 ends at.
        assert_eq!(
            parents(vec![
                req(0.0, 2400, vec![0, 10, 11, 12, 13]),
                req(1.0, 3000, vec![0, 10, 11, 12, 20, 21]),
                req(2.0, 3100, vec![0, 10, 11, 12, 30, 31]),
            ]),
            vec![None, Some(0), Some(0)]
        );
        // A document (blocks 0-2) that users send with a short text of their own: user
        // A, a request that continues A's, then user C, whose text also sits in a last
        // partial block after the document. C is longer than A, but A has its next
        // turn and two different requests end one block after the document: C is
        // another user.
        assert_eq!(
            parents(vec![
                req(0.0, 1900, vec![0, 1, 2, 3]),
                req(1.0, 2500, vec![0, 1, 2, 4, 5]),
                req(2.0, 1950, vec![0, 1, 2, 6]),
            ]),
            vec![None, Some(0), None]
        );
    }

    #[test]
    fn a_truncated_continuation_keeps_part_of_one_conversation() {
        let long: Vec<u64> = (0..10).collect();
        let mut truncated: Vec<u64> = (0..6).collect();
        truncated.extend([50, 51, 52]);
        let mut other: Vec<u64> = (0..6).collect();
        other.extend([60, 61]);
        let trace = Trace {
            format: Format::Mooncake,
            block_size: Some(512),
            requests: vec![
                req(0.0, 5000, long),
                // Keeps 6 of the 9 context blocks of request 0, then new content.
                req(1.0, 4500, truncated),
                // The same 6 blocks, now held by two conversations: a shared document,
                // not one conversation's history.
                req(2.0, 3500, other),
            ],
        };
        let p = Prepared::new(trace, 1);
        assert_eq!(p.requests[1].parent, Some(0));
        assert_eq!(p.requests[1].kept_blocks, Some(6));
        assert_eq!(p.requests[2].parent, None);
        assert_eq!(p.requests[2].kept_blocks, None);
    }
}
