//! `--tenants K`: K independent copies of the service in one trace.
//!
//! Each copy is a whole run of the planner with its own seed (the first keeps the run's
//! seed, so copy 0 is the single-tenant run), its content moved into its own slice of the
//! id space (separate system prompts, documents and tails), its clock at its own phase of
//! the source's clock. The copies are interleaved by timestamp and numbered together:
//! chat ids run in output order across copies, and each follow-up names its parent's new
//! id. This is what prefix-root multipliers (Dynamo's, AIPerf's) mean; `--rate-scale K`
//! is the other reading, K times the users of one service.

use std::collections::HashMap;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{GenerateOptions, Planned, Planner, Shard, output_grid};
use crate::model::Model;
use crate::model::blocks::IdsExhausted;
use crate::trace::{BAILIAN_BLOCK, MAX_HASH_ID};

/// The seed of copy `k`: copy 0 keeps the run's seed.
pub(super) fn copy_seed(seed: u64, k: u64) -> u64 {
    if k == 0 {
        return seed;
    }
    // SplitMix64 of (seed, k): copies' streams unrelated to each other and to seed + 1.
    let mut z = seed ^ k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Ids per copy. Ids are laid out alike whatever the output format, so the slices are cut
/// so that every copy's ids stay below 2^32 even when a block is split into 16-token
/// blocks (a Mooncake model written as Bailian).
pub fn id_stride(model: &Model, tenants: u64) -> u64 {
    let split = u64::from(model.block_size.div_ceil(BAILIAN_BLOCK).max(1));
    MAX_HASH_ID / split / tenants.max(1)
}

struct Copy<'m> {
    planner: Planner<'m>,
    head: Option<Planned>,
    /// A written request's own chat id -> its id in the trace and the follow-ups still to
    /// come, kept only while some are.
    parents: HashMap<u64, (u64, u32)>,
    /// Added to the copy's timestamps.
    phase: f64,
    /// A mix's: the copy's request types -> the trace's.
    types: Option<Vec<usize>>,
    /// Records of the copy kept (in this shard).
    written: u64,
}

/// The records of a run with `options.tenants` copies, in output order.
pub struct Tenants<'m> {
    copies: Vec<Copy<'m>>,
    /// Ids per copy: copy k's ids are `k * stride .. (k + 1) * stride`.
    stride: u64,
    start_id: u64,
    emitted: u64,
    requests: Option<u64>,
    shard: Shard,
    /// The copies' first records have been planned.
    started: bool,
    failed: bool,
}

impl<'m> Tenants<'m> {
    pub fn new(model: &'m Model, options: GenerateOptions) -> Tenants<'m> {
        let k = u64::from(options.tenants.max(1));
        let copies = (0..k)
            .map(|i| {
                let copy = GenerateOptions {
                    seed: copy_seed(options.seed, i),
                    requests: None,
                    start_id: 0,
                    shard: Shard::WHOLE,
                    tenants: 1,
                    ..options.clone()
                };
                (model, copy)
            })
            .collect();
        Tenants::interleave(copies, None, &options)
    }

    /// The runs of `copies` (each a model and the options of its own run) interleaved,
    /// numbered from `whole.start_id`, limited to `whole.requests` and `whole.shard`;
    /// with `types`, each copy's request types are mapped to the trace's. The models
    /// have one block size.
    pub(super) fn interleave(
        copies: Vec<(&'m Model, GenerateOptions)>,
        types: Option<Vec<Vec<usize>>>,
        whole: &GenerateOptions,
    ) -> Tenants<'m> {
        let k = copies.len() as u64;
        // Independent services keep independent clocks: copy 0 the source's, the others
        // at random phases of theirs (a stream of their own, so the copies' records are
        // those of their single runs), as time-shifted copies of the source would show.
        let mut phases = ChaCha8Rng::seed_from_u64(whole.seed ^ 0x7465_6e61_6e74_7321);
        let mut types = types.map(Vec::into_iter);
        let stride = id_stride(copies[0].0, k);
        let copies = copies
            .into_iter()
            .enumerate()
            .map(|(i, (model, options))| {
                let grid = output_grid(model.time_quantum, &options).map_or(0.0, |g| g.period());
                let mut planner = Planner::new(model, options);
                planner.ended_parents = Some(Vec::new());
                Copy {
                    phase: if i == 0 {
                        0.0
                    } else {
                        phases.random::<f64>() * grid
                    },
                    planner,
                    head: None,
                    parents: HashMap::new(),
                    types: types.as_mut().and_then(Iterator::next),
                    written: 0,
                }
            })
            .collect();
        let options = whole;
        Tenants {
            copies,
            stride,
            start_id: options.start_id,
            emitted: 0,
            requests: options.requests,
            shard: options.shard,
            started: false,
            failed: false,
        }
    }

    fn refill(&mut self, i: usize) -> Result<(), IdsExhausted> {
        let copy = &mut self.copies[i];
        copy.head = match copy.planner.next() {
            Some(p) => {
                let mut p = p?;
                p.timestamp += copy.phase;
                Some(p)
            }
            None => None,
        };
        Ok(())
    }

    fn next_record(&mut self) -> Option<Result<Planned, IdsExhausted>> {
        if self.failed || self.requests.is_some_and(|n| self.emitted >= n) {
            return None;
        }
        if !self.started {
            self.started = true;
            for i in 0..self.copies.len() {
                if let Err(e) = self.refill(i) {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        // Earliest head; among equal timestamps the lower copy.
        let i = self
            .copies
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.head.as_ref().map(|h| (i, h.timestamp)))
            .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))?
            .0;
        let mut p = self.copies[i].head.take().expect("chosen for its head");
        if let Err(e) = self.refill(i) {
            self.failed = true;
            return Some(Err(e));
        }
        let k = self.copies.len() as u64;
        let copy = &mut self.copies[i];
        let chat_id = self.start_id + self.emitted;
        self.emitted += 1;
        if p.parent_chat_id >= 0 {
            let own = p.parent_chat_id as u64;
            let (parent, left) = copy
                .parents
                .get_mut(&own)
                .map(|e| {
                    e.1 -= 1;
                    *e
                })
                .expect("a parent is written before its follow-ups");
            if left == 0 {
                copy.parents.remove(&own);
            }
            p.parent_chat_id = parent as i64;
        }
        if p.children > 0 {
            copy.parents.insert(p.chat_id, (chat_id, p.children));
        }
        p.chat_id = chat_id;
        if p.ids.end() > self.stride {
            self.failed = true;
            return Some(Err(IdsExhausted));
        }
        p.ids = p.ids.shifted(i as u64 * self.stride);
        p.session = p.session * k + i as u64;
        if let Some(types) = &copy.types {
            p.ty = types[p.ty];
        }
        if self.shard.holds(p.session) {
            copy.written += 1;
        }
        // Follow-ups `--context-policy end` left unwritten never come: their parents'
        // ids are forgotten as the last of those that do come passes (the ones planned
        // so far, whose parents are all taken: a follow-up is planned after its
        // parent was taken, by the refill that follows it).
        let ended = copy
            .planner
            .ended_parents
            .as_mut()
            .expect("set for every copy");
        for own in ended.drain(..) {
            if let Some(e) = copy.parents.get_mut(&own) {
                e.1 -= 1;
                if e.1 == 0 {
                    copy.parents.remove(&own);
                }
            }
        }
        Some(Ok(p))
    }
}

impl super::Records for Tenants<'_> {
    fn capped(&self) -> super::Capped {
        let mut all = super::Capped::default();
        for c in &self.copies {
            let one = super::Records::capped(&c.planner);
            all.roots += one.roots;
            all.followups += one.followups;
        }
        all
    }

    fn parts(&self) -> Vec<u64> {
        self.copies.iter().map(|c| c.written).collect()
    }

    fn context_limited(&self) -> super::ContextLimited {
        let mut all = super::ContextLimited::default();
        for c in &self.copies {
            all.add(super::Records::context_limited(&c.planner));
        }
        all
    }
}

impl Iterator for Tenants<'_> {
    type Item = Result<Planned, IdsExhausted>;

    /// The next record of this shard; the others are numbered all the same and dropped.
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.next_record()? {
                Ok(p) if !self.shard.holds(p.session) => continue,
                other => return Some(other),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{ContextPolicy, Knobs, Records};

    /// Follow-ups `--context-policy end` leaves unwritten never come: the copies forget
    /// their parents' ids all the same, so the map holds only the parents whose
    /// follow-ups fell past the end.
    #[test]
    fn ended_follow_ups_release_their_parents() {
        let model = Model::default_model();
        let run = |max_context| {
            let options = GenerateOptions {
                duration: Some(1800.0),
                tenants: 2,
                knobs: Knobs {
                    max_context,
                    context_policy: ContextPolicy::End,
                    ..Knobs::default()
                },
                ..GenerateOptions::default()
            };
            let mut t = Tenants::new(&model, options);
            for p in t.by_ref() {
                p.unwrap();
            }
            let left: usize = t.copies.iter().map(|c| c.parents.len()).sum();
            (left, t.context_limited().ended)
        };
        let (left_unlimited, _) = run(None);
        let (left, ended) = run(Some(1500));
        assert!(ended > 1000, "{ended} ended");
        assert!(
            left <= left_unlimited,
            "{left} parents left against {left_unlimited} without the limit ({ended} ended)"
        );
    }
}
