//! `generate`: the event-driven engine that composes the component samplers into a
//! stream of requests in arrival order.
//!
//! Roots arrive from the arrival model; every emitted request may book follow-ups a think
//! time later in a queue. The next request is whichever comes first. Memory holds the
//! open sessions (booked follow-ups with their parent's ids) and the shared prefixes,
//! never the output.
//!
//! The [`Planner`] decides everything about every request, its ids as a few runs of
//! consecutive ids ([`IdRuns`]), from one random stream. Spelling the ids out and
//! formatting the line, most of the work, is left to whoever consumes a [`Planned`]
//! record, possibly on other threads. A shard (`--shard I/N`) runs the same planner and
//! keeps the sessions that are its own, so its records are exactly those of the whole
//! run, chat ids and block ids included.

pub mod estimate;
mod knobs;
mod mix;
mod options;
mod output;
mod tenants;

use std::cell::Cell;
use std::rc::Rc;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::arrivals::{GapSampler, RateProfile, RootClock};
use crate::model::blocks::{BlockSampler, IdRuns, IdsExhausted};
use crate::model::clients::ClientClock;
use crate::model::schedule::Schedule;
use crate::model::sessions::sample_index;
use crate::model::{Model, WarmUpHistory};
use crate::trace::{Request, Session};

pub use knobs::{Capped, Clipped, ContextLimited, ContextPolicy, Knobs};
use knobs::{Lengths, PeakCap, scale, unscale};
pub use mix::{MixPart, mix_parts, mix_rate_scales, mix_records, mix_types, validate_mix};
pub use options::{
    DurationError, GenerateOptions, OptionError, RateProfileChoice, Shard, parse_duration,
    parse_offset,
};
pub use output::{MAX_CHAT_ID, OutputError, Written, write_records, write_trace};
pub use tenants::{Tenants, id_stride};

/// One request as planned: all its fields, its ids as runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// Ordinal of the root that started its session among all roots drawn (warm-up
    /// included): the unit shards split on.
    pub session: u64,
    /// Output seconds.
    pub timestamp: f64,
    pub input_length: u64,
    pub output_length: u64,
    pub chat_id: u64,
    /// `-1` for a root.
    pub parent_chat_id: i64,
    pub turn: u32,
    /// Index into the model's `types`.
    pub ty: usize,
    pub ids: IdRuns,
    /// Follow-ups it booked (some may fall past the end).
    pub children: u32,
    /// Which lengths the clipping knobs moved.
    pub clipped: Clipped,
}

impl Planned {
    /// Overwrite `req` with this record, reusing its buffers (no allocation once they
    /// have grown).
    pub fn fill(&self, types: &[String], req: &mut Request) {
        req.timestamp = self.timestamp;
        req.input_length = self.input_length;
        req.output_length = self.output_length;
        let ids = req.hash_ids.get_or_insert_with(Vec::new);
        ids.clear();
        self.ids.expand_into(ids);
        let session = req.session.get_or_insert_with(|| Session {
            chat_id: 0,
            parent_chat_id: -1,
            turn: 1,
            req_type: String::new(),
        });
        session.chat_id = self.chat_id;
        session.parent_chat_id = self.parent_chat_id;
        session.turn = self.turn;
        session.req_type.clear();
        session.req_type.push_str(&types[self.ty]);
    }

    pub fn to_request(&self, types: &[String]) -> Request {
        let mut req = Request {
            timestamp: 0.0,
            input_length: 0,
            output_length: 0,
            hash_ids: Some(Vec::with_capacity(self.ids.len())),
            session: None,
        };
        self.fill(types, &mut req);
        req
    }
}

/// A request's turn in its session and as written.
#[derive(Clone, Copy)]
struct Turn {
    model: u32,
    written: u32,
}

/// A follow-up booked by its parent.
struct Booked {
    session: u64,
    ty: usize,
    /// The child's turn in its session, warm-up turns included: what the session rules
    /// are drawn for.
    turn: u32,
    /// The turn it is written with: a session begun in the warm-up counts its turns from
    /// its first written request, as a real trace shows a conversation begun before its
    /// window.
    written_turn: u32,
    /// `None` when the parent fell in the warm-up, or in an ended branch, and was not
    /// written.
    parent_chat_id: Option<u64>,
    /// The parent fell in the written stretch (written, unless its branch was ended).
    parent_in_stretch: bool,
    /// The parent's lengths as written.
    parent_input: u64,
    parent_output: u64,
    /// The parent's lengths as the model drew them (the same as written without knobs):
    /// what the child's own lengths are drawn from.
    base_input: u64,
    base_output: u64,
    parent_ids: Rc<IdRuns>,
    /// For a truncated follow-up: the share of the parent's context it keeps.
    keep: Option<f64>,
    /// Its session, with `--max-context`, for the count of sessions it touched.
    lineage: Lineage,
}

/// Where a request stands under `--max-context`: whether its branch was ended (it is
/// planned, to keep the random stream of the run, and not written), and its session's
/// mark, set once a request of it is cut, truncated or ended (`None` without the limit,
/// or for a session started in the warm-up).
#[derive(Clone, Default)]
struct Lineage {
    ended: bool,
    hit: Option<Rc<Cell<bool>>>,
}

impl ContextLimited {
    /// Count the request's session as touched by the limit, once.
    fn mark(&mut self, lineage: &Lineage) {
        if let Some(hit) = &lineage.hit
            && !hit.get()
        {
            hit.set(true);
            self.sessions_hit += 1;
        }
    }
}

/// Where session starts come from.
enum Roots {
    /// The fitted arrival model: a rate profile, and unit-mean gaps in its operational
    /// time (the integrated rate, `op_time` reached so far).
    Fitted {
        clock: RootClock,
        gaps: GapSampler,
        op_time: f64,
        /// Below the fitted scale (`--rate-scale K < 1`), the roots are a K sample of the
        /// fitted scale's: each is kept with probability `K`, by coins of their own.
        sample: Option<(f64, Box<ChaCha8Rng>)>,
    },
    /// One renewal process per client (a model imported from ServeGen); `next` is the
    /// client of the next root.
    Clients { clock: ClientClock, next: usize },
}

/// Plans a synthetic trace, request by request in output order. Times inside are model
/// seconds; output timestamps are scaled by `time_scale` and put on the model's time grid.
pub struct Planner<'m> {
    model: &'m Model,
    options: GenerateOptions,
    rng: ChaCha8Rng,
    roots: Roots,
    blocks: BlockSampler<'m>,
    next_root: f64,
    roots_done: bool,
    booked: Schedule<Booked>,
    emitted: u64,
    /// Roots drawn, warm-up included: the next root's session ordinal.
    roots_drawn: u64,
    roots_started: u64,
    /// Model seconds after which nothing is emitted.
    horizon: f64,
    /// The clocks timestamps are floored to, if the source had one.
    grid: Option<Grid>,
    failed: bool,
    cap: Option<PeakCap>,
    capped: Capped,
    limited: ContextLimited,
    /// With `Some`, the chat ids of written requests one of whose follow-ups
    /// `--context-policy end` left unwritten, for [`Tenants`] to forget (it keeps a
    /// request's new id until its last follow-up comes).
    ended_parents: Option<Vec<u64>>,
    /// With knobs that change lengths: the stream that completes ids (its draws depend on
    /// the lengths), so that the main stream, and with it every session and time, is the
    /// one of the run without them.
    ids_rng: Option<ChaCha8Rng>,
}

impl<'m> Planner<'m> {
    pub fn new(model: &'m Model, options: GenerateOptions) -> Planner<'m> {
        let base = &model.arrivals;
        let scale = options.rate_scale;
        let profile = root_profile(model, &options);
        let start = options.start_at;
        let horizon = match (options.duration, options.requests, options.sessions) {
            (Some(d), _, _) => start + d / options.time_scale,
            (None, None, None) => start + model.span,
            _ => f64::INFINITY,
        };
        let roots = match &model.clients {
            Some(mix) => Roots::Clients {
                clock: ClientClock::new(mix, scale, start - model.warm_up),
                next: 0,
            },
            None => {
                // Fewer users are a sample of the sessions, not a slower clock: a sample
                // keeps the fitted process's clustering at 1/K of its weight, as thinning
                // a real trace's sessions does, where a slower renewal would keep it all.
                let (profile, sample) = if scale < 1.0 {
                    let fitted = GenerateOptions {
                        rate_scale: 1.0,
                        ..options.clone()
                    };
                    let coins = ChaCha8Rng::seed_from_u64(options.seed ^ 0x7573_6572_7361_6d70);
                    (root_profile(model, &fitted), Some((scale, Box::new(coins))))
                } else {
                    (profile, None)
                };
                Roots::Fitted {
                    clock: RootClock::new(profile, base, options.seed, start - model.warm_up),
                    gaps: base.gap_sampler(),
                    op_time: 0.0,
                    sample,
                }
            }
        };
        let grid = output_grid(model.time_quantum, &options);
        let options_knobs_unchanged = options.knobs.lengths_unchanged();
        let options_seed = options.seed;
        let cap = options.knobs.peak_cap.map(|r| {
            let width = model.arrivals.bin_width * options.time_scale;
            PeakCap {
                width_ms: width * 1000.0,
                budget: (r * width).floor() as u64,
                windows: Default::default(),
            }
        });
        let mut generator = Planner {
            model,
            rng: ChaCha8Rng::seed_from_u64(options.seed),
            roots,
            blocks: BlockSampler::new(
                &model.blocks,
                model.block_size,
                model.types.len(),
                options.rate_scale,
            )
            .with_prefix_scale(options.knobs.prefix_scale),
            options,
            next_root: 0.0,
            roots_done: false,
            booked: Schedule::default(),
            emitted: 0,
            roots_drawn: 0,
            roots_started: 0,
            horizon,
            grid,
            failed: false,
            cap,
            capped: Capped::default(),
            limited: ContextLimited::default(),
            ended_parents: None,
            ids_rng: (!options_knobs_unchanged)
                .then(|| ChaCha8Rng::seed_from_u64(options_seed ^ 0x6b6e_6f62_7369_6473)),
        };
        generator.advance_roots(true);
        generator
    }

    /// Draw the next root's time (and client).
    fn advance_roots(&mut self, first: bool) {
        // Nothing is written past the horizon, nor past the longest span a trace may have.
        let search_until = self
            .horizon
            .min(self.options.start_at + crate::trace::MAX_SPAN / self.options.time_scale);
        self.next_root = match &mut self.roots {
            Roots::Fitted {
                clock,
                gaps,
                op_time,
                sample,
            } => {
                // Sessions run from before the first written request, as in a real trace
                // cut out of a stationary stream; the first root falls a random fraction
                // of a gap after the warm-up starts, as in a renewal process seen from
                // any moment.
                let gap = gaps.sample(&mut self.rng);
                *op_time += if first {
                    gap * self.rng.random::<f64>()
                } else {
                    gap
                };
                let mut t = clock.time_at_before(*op_time, search_until);
                if let Some((keep, coins)) = sample {
                    while t.is_finite() && coins.random::<f64>() >= *keep {
                        *op_time += gaps.sample(&mut self.rng);
                        t = clock.time_at_before(*op_time, search_until);
                    }
                }
                t
            }
            // A client's next arrival can be any distance away: at a rate of 1e-300 per
            // second it comes at 1e300 s, a time no output may carry (and one that
            // overflowed the estimate's window index). Past the search limit the
            // clients are done; the clock is not consumed further.
            Roots::Clients { clock, next } => match clock.next(&mut self.rng) {
                Some((t, client)) if t <= search_until => {
                    *next = client;
                    t
                }
                _ => f64::INFINITY,
            },
        };
    }

    fn output_time(&self, t: f64) -> f64 {
        let t = (t - self.options.start_at) * self.options.time_scale;
        match &self.grid {
            Some(grid) => grid.floor(t),
            None => t,
        }
    }

    /// A new session at `t`, from `client` for a model of clients.
    fn emit_root(
        &mut self,
        t: f64,
        client: Option<usize>,
    ) -> Result<Option<Planned>, IdsExhausted> {
        let model = self.model;
        let session = self.roots_drawn;
        self.roots_drawn += 1;
        let knobs = &self.options.knobs;
        let mut clipped = Clipped::default();
        let (ty, prefix, base, own, input, output) = match (client, &model.clients) {
            // Clients share no prefixes: ServeGen has no block data.
            (Some(client), Some(mix)) => {
                let ty = mix.client_type(client);
                let (input, output) = mix.sample_lengths(client, t, &mut self.rng);
                let written = (
                    scale(input, knobs.input_scale).max(1),
                    scale(output, knobs.output_scale),
                );
                (
                    ty,
                    Rc::new(IdRuns::new()),
                    (input, output),
                    input,
                    written.0,
                    written.1,
                )
            }
            _ => {
                let ty = sample_index(&mut self.rng, &model.sessions.root_type_mix);
                let prefix = self.blocks.root_prefix(&mut self.rng, ty, t)?;
                let lengths = model.lengths.per_type[ty].root_for(prefix.kind);
                let draw = match prefix.own_rank {
                    Some(u) => lengths.sample_at_rank(&mut self.rng, u, prefix.node),
                    None => lengths.sample_under(&mut self.rng, prefix.node),
                };
                let shared = prefix.shared_blocks as u64 * u64::from(model.block_size);
                // A long shared prefix plus a long own input may pass the limit a trace
                // line may carry; the ids then stop at the cap like the count.
                let cap = |x: u64| x.clamp(1, crate::trace::MAX_TOKENS);
                let (base, input) = if knobs.lengths_unchanged() {
                    let input = cap(shared + draw.own_input);
                    ((input, draw.output), input)
                } else {
                    // The prefix's blocks come K times as many from the sampler: the model's
                    // own prefix was 1/K of them. A born document (the prefix's blocks beyond
                    // the shared ones) is prefix too: the part of the own tokens it covers
                    // scales with the prefix, the rest (the user's) with the input.
                    let k = knobs.prefix_scale;
                    let block = u64::from(model.block_size);
                    let born = (prefix.ids.len() - prefix.shared_blocks) as u64 * block;
                    let document = draw.own_input.min(unscale(born, k));
                    let user = draw.own_input - document;
                    let base_input = cap(unscale(shared, k) + draw.own_input);
                    let input =
                        shared + scale(document, k).min(born) + scale(user, knobs.input_scale);
                    ((base_input, draw.output), cap(input))
                };
                (
                    ty,
                    prefix.ids,
                    base,
                    draw.own_input,
                    input,
                    scale(draw.output, knobs.output_scale),
                )
            }
        };
        let written = t >= self.options.start_at;
        let lineage = Lineage {
            ended: false,
            hit: (knobs.max_context.is_some() && written).then(|| Rc::new(Cell::new(false))),
        };
        let input = match knobs.max_context {
            Some(n) if input > n => {
                clipped.root_cut = true;
                n
            }
            _ => input,
        };
        let input = knobs.clip_input(input, &mut clipped);
        let output = knobs.clip_output(output, &mut clipped);
        if clipped.root_cut {
            self.limited.mark(&lineage);
        }
        let tail = model.blocks.tails.root_prob[ty];
        let rng = self.ids_rng.as_mut().unwrap_or(&mut self.rng);
        let ids = self.blocks.complete(rng, &prefix, input, tail)?;
        let lengths = Lengths {
            base,
            base_own: Some(own),
            input,
            output,
            clipped,
        };
        let turn = Turn {
            model: 1,
            written: 1,
        };
        Ok(self.finish(session, t, ty, turn, None, lengths, Some(ids), lineage))
    }

    fn emit_followup(&mut self, t: f64, b: Booked) -> Result<Option<Planned>, IdsExhausted> {
        let model = self.model;
        let rule = &model.lengths.per_type[b.ty].followup;
        let knobs = &self.options.knobs;
        let block = u64::from(model.block_size);
        let context = b.parent_ids.len().saturating_sub(1);
        // The model's lengths follow the parent's drawn ones (the written ones without
        // knobs), so that the knobs change no draw.
        let base_context = (b.base_input.div_ceil(block) as usize).saturating_sub(1);
        let kept_of = |share: f64, context: usize| {
            ((share * context as f64).round() as usize).clamp(1, context.max(1))
        };
        let truncated = b.keep.and_then(|share| {
            let base_kept = kept_of(share, base_context);
            let kept_tokens = base_kept as u64 * block;
            rule.sample_truncated(&mut self.rng, kept_tokens)
                .map(|lengths| (base_kept, kept_of(share, context), lengths))
        });
        let unchanged = knobs.lengths_unchanged();
        let (inherited, base, input) = match truncated {
            Some((base_kept, kept, lengths)) => {
                let input = if unchanged {
                    lengths.0
                } else {
                    let own = lengths.0.saturating_sub(base_kept as u64 * block);
                    kept as u64 * block + scale(own, knobs.input_scale)
                };
                (b.parent_ids.prefix(kept.min(context)), lengths, input)
            }
            None => {
                let lengths = rule.sample(&mut self.rng, b.base_input, b.base_output);
                let input = if unchanged {
                    lengths.0
                } else {
                    // Written context plus the user's new tokens, times the input scale.
                    let carried = |input: u64, output: u64| {
                        input as f64 + rule.carried_output * output as f64
                    };
                    let new = lengths.0 as f64 - carried(b.base_input, b.base_output);
                    let x = carried(b.parent_input, b.parent_output) + knobs.input_scale * new;
                    (x.round().max(1.0) as u64).min(crate::trace::MAX_TOKENS)
                };
                (b.parent_ids.prefix(context), lengths, input)
            }
        };
        let mut clipped = Clipped::default();
        let mut lineage = b.lineage;
        let (inherited, input) = match knobs.max_context {
            Some(n) if input > n && !lineage.ended => {
                if t >= self.options.start_at {
                    self.limited.mark(&lineage);
                }
                match knobs.context_policy {
                    ContextPolicy::End => {
                        if t >= self.options.start_at {
                            self.limited.ended += 1;
                        }
                        lineage.ended = true;
                        if let (Some(ended), Some(parent)) =
                            (&mut self.ended_parents, b.parent_chat_id)
                        {
                            ended.push(parent);
                        }
                        (inherited, input)
                    }
                    // The parent's first blocks that fit beside the tokens beyond them.
                    ContextPolicy::Truncate => {
                        clipped.history_truncated = true;
                        let own = input.saturating_sub(inherited.len() as u64 * block);
                        let kept = (n.saturating_sub(own) / block).min(inherited.len() as u64);
                        (inherited.prefix(kept as usize), n)
                    }
                }
            }
            _ => (inherited, input),
        };
        let input = knobs.clip_input(input, &mut clipped);
        let output = knobs.clip_output(scale(base.1, knobs.output_scale), &mut clipped);
        let lengths = Lengths {
            base,
            base_own: None,
            input,
            output,
            clipped,
        };
        let ids = if lineage.ended {
            None
        } else {
            let tail = model.blocks.tails.followup_prob[b.ty];
            let rng = self.ids_rng.as_mut().unwrap_or(&mut self.rng);
            Some(self.blocks.complete(rng, &inherited, input, tail)?)
        };
        // A follow-up of a warm-up request starts its session as far as the output can
        // tell, exactly as a real trace shows a conversation begun before its window.
        // Where the model knows sessions across the window's start, the session goes on
        // by the rules of its true turn: re-counted from the first turn at every warm-up
        // request, the chains in flight at the start were too few and too short (middle
        // windows of a session-structured trace: 820 in-flight follow-ups, all second
        // turns, against 1,151 of turns 2-13; input KS 0.032 -> 0.010 on 30 minutes).
        let written = if b.parent_in_stretch {
            b.written_turn
        } else {
            1
        };
        let turn = Turn {
            model: if b.parent_in_stretch || model.sessions_span_the_window() {
                b.turn
            } else {
                1
            },
            written,
        };
        Ok(self.finish(
            b.session,
            t,
            b.ty,
            turn,
            b.parent_chat_id,
            lengths,
            ids,
            lineage,
        ))
    }

    /// Number the request, book its follow-ups, and build the record (`None` during the
    /// warm-up, which is not written, and for a request of an ended branch, which has no
    /// `ids`).
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &mut self,
        session: u64,
        t: f64,
        ty: usize,
        turn: Turn,
        parent: Option<u64>,
        lengths: Lengths,
        ids: Option<IdRuns>,
        lineage: Lineage,
    ) -> Option<Planned> {
        let Lengths {
            base: (base_input, base_output),
            base_own,
            input,
            output,
            clipped,
        } = lengths;
        let in_stretch = t >= self.options.start_at;
        if lineage.ended && in_stretch {
            self.limited.unwritten += 1;
        }
        let written = in_stretch && !lineage.ended;
        let chat_id = written.then(|| self.options.start_id + self.emitted);
        if written {
            self.emitted += 1;
        }
        let rules = &self.model.sessions.per_type[ty];
        // The drawn lengths decide the session, as without knobs (the written ones have
        // as many blocks as `ids`).
        let block = u64::from(self.model.block_size);
        let base_blocks = base_input.div_ceil(block);
        // Drawn for every root long enough, so that the random stream does not depend on
        // whether the root has a block of its own.
        let drawn = if base_blocks >= u64::from(self.model.sessions.min_parent_blocks) {
            rules.sample_children(&mut self.rng, turn.model, base_input)
        } else {
            0
        };
        let own_block =
            !self.model.sessions.parents_need_own_block || base_own.is_none_or(|n| n > block);
        let children = if own_block { drawn } else { 0 };
        if children > 0 {
            let shared_ids = Rc::new(ids.clone().unwrap_or_default());
            for _ in 0..children {
                let child_ty = sample_index(&mut self.rng, &rules.child_type);
                let think = rules.think_time.sample(&mut self.rng, base_output);
                // Drawn only when the model has truncated follow-ups, so models without
                // them keep their random stream.
                let keep = match &rules.truncated_keep {
                    Some(q) if self.rng.random::<f64>() < rules.truncated_share => {
                        Some(q.at(self.rng.random()).clamp(0.0, 1.0))
                    }
                    _ => None,
                };
                // An ended branch's requests take no room under the cap.
                if self.cap.is_some() && !lineage.ended {
                    let w = self
                        .cap
                        .as_ref()
                        .unwrap()
                        .window(self.output_time(t + think));
                    if let Some(cap) = &mut self.cap {
                        cap.book(w);
                    }
                }
                let booked = Booked {
                    session,
                    ty: child_ty,
                    turn: turn.model + 1,
                    written_turn: turn.written + 1,
                    parent_chat_id: chat_id,
                    parent_in_stretch: in_stretch,
                    parent_input: input,
                    parent_output: output,
                    base_input,
                    base_output,
                    parent_ids: shared_ids.clone(),
                    keep,
                    lineage: lineage.clone(),
                };
                self.booked.push(t + think, booked);
            }
        }
        let chat_id = chat_id?;
        let ids = ids.expect("a written request has ids");
        Some(Planned {
            session,
            timestamp: self.output_time(t),
            input_length: input,
            output_length: output,
            chat_id,
            parent_chat_id: parent.map_or(-1, |p| p as i64),
            turn: turn.written,
            ty,
            ids,
            children: children as u32,
            clipped,
        })
    }

    /// Distinct blocks minted so far.
    pub fn blocks_minted(&self) -> u64 {
        self.blocks.blocks_minted()
    }
}

/// A run's records in output order, and what `--peak-cap` dropped so far.
pub trait Records: Iterator<Item = Result<Planned, IdsExhausted>> {
    fn capped(&self) -> Capped;
    /// What `--max-context` did beyond the records' own flags.
    fn context_limited(&self) -> ContextLimited;
    /// Records written of each copy or model, for several (none for one run).
    fn parts(&self) -> Vec<u64> {
        Vec::new()
    }
}

impl Records for Planner<'_> {
    fn capped(&self) -> Capped {
        self.capped
    }

    fn context_limited(&self) -> ContextLimited {
        ContextLimited {
            sessions: self.roots_started,
            ..self.limited
        }
    }
}

impl Iterator for Planner<'_> {
    type Item = Result<Planned, IdsExhausted>;

    /// The next record of this shard. Records of other shards are planned all the same
    /// (they draw from the stream and take chat ids and block ids) and dropped here.
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.next_planned()? {
                Ok(p) if !self.options.shard.holds(p.session) => continue,
                other => return Some(other),
            }
        }
    }
}

impl Planner<'_> {
    fn next_planned(&mut self) -> Option<Result<Planned, IdsExhausted>> {
        if self.failed || self.options.requests.is_some_and(|n| self.emitted >= n) {
            return None;
        }
        loop {
            let child_t = self.booked.next_time();
            let root_first = !self.roots_done && child_t.is_none_or(|c| self.next_root < c);
            let result = if root_first {
                let t = self.next_root;
                if t >= self.horizon
                    || self
                        .options
                        .sessions
                        .is_some_and(|n| self.roots_started >= n)
                {
                    self.roots_done = true;
                    continue;
                }
                let window = self.cap.as_ref().map(|c| c.window(self.output_time(t)));
                if let (Some(cap), Some(w)) = (&mut self.cap, window)
                    && !cap.admit(w, false)
                {
                    if t >= self.options.start_at {
                        self.capped.roots += 1;
                    }
                    self.advance_roots(false);
                    continue;
                }
                if t >= self.options.start_at {
                    self.roots_started += 1;
                }
                let client = match self.roots {
                    Roots::Clients { next, .. } => Some(next),
                    Roots::Fitted { .. } => None,
                };
                self.advance_roots(false);
                self.emit_root(t, client)
            } else {
                let (t, b) = self.booked.pop()?;
                if t >= self.horizon {
                    // Everything booked later is past the end too.
                    self.booked.clear();
                    continue;
                }
                let window = (!b.lineage.ended)
                    .then(|| self.cap.as_ref().map(|c| c.window(self.output_time(t))))
                    .flatten();
                if let (Some(cap), Some(w)) = (&mut self.cap, window)
                    && !cap.admit(w, true)
                {
                    if t >= self.options.start_at {
                        self.capped.followups += 1;
                    }
                    continue;
                }
                self.emit_followup(t, b)
            };
            match result {
                Ok(Some(req)) => return Some(Ok(req)),
                Ok(None) => continue,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// The records `options` asks for, in output order: the planner's, or with several
/// tenants their interleaving.
pub fn records<'m>(model: &'m Model, options: GenerateOptions) -> Box<dyn Records + 'm> {
    if options.tenants > 1 {
        Box::new(Tenants::new(model, options))
    } else {
        Box::new(Planner::new(model, options))
    }
}

/// Streams a synthetic trace as [`Request`]s: the [`records`] with every record spelled
/// out.
pub struct Generator<'m> {
    model: &'m Model,
    records: Box<dyn Records + 'm>,
}

impl<'m> Generator<'m> {
    pub fn new(model: &'m Model, options: GenerateOptions) -> Generator<'m> {
        Generator {
            model,
            records: records(model, options),
        }
    }
}

impl Iterator for Generator<'_> {
    type Item = Result<Request, IdsExhausted>;

    fn next(&mut self) -> Option<Self::Item> {
        let types = &self.model.types;
        Some(self.records.next()?.map(|p| p.to_request(types)))
    }
}

/// The clock output timestamps are floored to: the source's grid (a logging clock, such as
/// Mooncake's 3 s), stretched with time (`--time-scale` plays the same trace slower or
/// faster, ticks included). `--rate-scale K` keeps the one clock: K times the users of the
/// same service are logged by the same clock, so each tick holds K times the requests, as
/// the full Mooncake trace does against a 25 % session sample of itself (the scale-up
/// scenario of `validate`). Independent copies of a service (`--tenants`) are what get
/// clocks of their own, at random phases.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Grid {
    period: f64,
}

impl Grid {
    pub(crate) fn floor(&self, t: f64) -> f64 {
        (t / self.period).floor() * self.period
    }

    pub(crate) fn period(&self) -> f64 {
        self.period
    }
}

pub(crate) fn output_grid(quantum: Option<f64>, options: &GenerateOptions) -> Option<Grid> {
    Some(Grid {
        period: quantum? * options.time_scale,
    })
}

/// The rate of roots over model time that `options` asks of `model`'s arrival model.
fn root_profile(model: &Model, options: &GenerateOptions) -> RateProfile {
    let base = &model.arrivals;
    let scale = options.rate_scale;
    match &options.rate_profile {
        RateProfileChoice::Repeat => {
            let profile = RateProfile::new(
                base.bin_width,
                base.rates.iter().map(|r| r * scale).collect(),
            );
            match model.warm_up_history {
                WarmUpHistory::StartLevel => profile,
                WarmUpHistory::Periodic => profile.periodic_past(),
            }
        }
        RateProfileChoice::Flat => RateProfile::flat(base.mean_rate() * scale),
        RateProfileChoice::Steps(steps) => steps_profile(steps, base.mean_rate() * scale),
    }
}

fn steps_profile(steps: &[(f64, f64)], mean_rate: f64) -> RateProfile {
    let scaled: Vec<(f64, f64)> = steps.iter().map(|&(t, m)| (t, m * mean_rate)).collect();
    RateProfile::steps(&scaled)
}
