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
mod output;
mod tenants;

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

pub use output::{MAX_CHAT_ID, OutputError, Written, write_trace};
pub use tenants::{Tenants, id_stride};

/// How the root rate behaves over time.
#[derive(Debug, Clone, PartialEq)]
pub enum RateProfileChoice {
    /// The fitted profile, repeated beyond the fitted span.
    Repeat,
    /// The fitted mean rate throughout.
    Flat,
    /// Multipliers of the fitted mean rate: `(start second, multiplier)` steps, the last
    /// one holding to the end (from a CSV file).
    Steps(Vec<(f64, f64)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    pub seed: u64,
    /// Output seconds to cover; `None` with no other limit means the fitted span.
    pub duration: Option<f64>,
    /// Stop after this many requests.
    pub requests: Option<u64>,
    /// Start at most this many sessions (their follow-ups still come).
    pub sessions: Option<u64>,
    /// Sessions per second, relative to the model.
    pub rate_scale: f64,
    /// Stretch (> 1) or compress (< 1) all times.
    pub time_scale: f64,
    pub rate_profile: RateProfileChoice,
    /// `chat_id` of the first request.
    pub start_id: u64,
    /// Model seconds into the rate profile at which output begins (its timestamps still
    /// start at 0): 14 h starts a daily profile at its 14th hour.
    pub start_at: f64,
    /// Keep only this part of the sessions.
    pub shard: Shard,
    /// Independent copies of the service interleaved in one trace (1: the service
    /// itself).
    pub tenants: u32,
    /// What-if knobs on the drawn lengths ([`Knobs`]); the default changes nothing.
    pub knobs: Knobs,
}

/// What-if knobs: the same run (the same sessions at the same times, the same seed) with
/// lengths changed. The model's lengths are drawn as without them and drive everything
/// else (follow-ups, think times); the knobs then transform the lengths written, and a
/// follow-up's context is its parent's written input and output.
#[derive(Debug, Clone, PartialEq)]
pub struct Knobs {
    /// Shared prefixes (persistent system prompts and born documents) K times as many
    /// blocks.
    pub prefix_scale: f64,
    /// A root's own tokens beyond its shared prefix, and a follow-up's new tokens, times K.
    pub input_scale: f64,
    /// Outputs times K (and so the context a follow-up carries).
    pub output_scale: f64,
    /// Inputs below this many tokens are raised to it (fresh tokens at the end).
    pub min_input: Option<u64>,
    /// Inputs above this many tokens are cut to it (the first tokens kept).
    pub max_input: Option<u64>,
    /// Outputs above this many tokens are cut to it.
    pub max_output: Option<u64>,
    /// At most this many requests per output second in every bin of the rate profile
    /// (session starts thinned first; see [`PeakCap`]).
    pub peak_cap: Option<f64>,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            prefix_scale: 1.0,
            input_scale: 1.0,
            output_scale: 1.0,
            min_input: None,
            max_input: None,
            max_output: None,
            peak_cap: None,
        }
    }
}

impl Knobs {
    /// No knob changes a length.
    fn lengths_unchanged(&self) -> bool {
        self.prefix_scale == 1.0
            && self.input_scale == 1.0
            && self.output_scale == 1.0
            && self.min_input.is_none()
            && self.max_input.is_none()
            && self.max_output.is_none()
    }

    /// `input` clipped to `--min-input` / `--max-input`, and what moved.
    fn clip_input(&self, input: u64, clipped: &mut Clipped) -> u64 {
        let mut x = input;
        if let Some(lo) = self.min_input
            && x < lo
        {
            x = lo;
            clipped.input_raised = true;
        }
        if let Some(hi) = self.max_input
            && x > hi
        {
            x = hi;
            clipped.input_cut = true;
        }
        x
    }

    fn clip_output(&self, output: u64, clipped: &mut Clipped) -> u64 {
        match self.max_output {
            Some(hi) if output > hi => {
                clipped.output_cut = true;
                hi
            }
            _ => output,
        }
    }

    fn validate(&self) -> Result<(), OptionError> {
        use crate::model::MAX_SCALE;
        use crate::trace::MAX_TOKENS;
        let fail = |option: &'static str, message: String| Err(OptionError { option, message });
        for (option, k) in [
            ("--prefix-scale", self.prefix_scale),
            ("--input-scale", self.input_scale),
            ("--output-scale", self.output_scale),
        ] {
            if !(k.is_finite() && (1.0 / MAX_SCALE..=MAX_SCALE).contains(&k)) {
                return fail(
                    option,
                    format!("{} is outside [{}, {MAX_SCALE}]", num(k), 1.0 / MAX_SCALE),
                );
            }
        }
        for (option, v, lo) in [
            ("--min-input", self.min_input, 1),
            ("--max-input", self.max_input, 1),
            ("--max-output", self.max_output, 0),
        ] {
            if let Some(v) = v
                && !(lo..=MAX_TOKENS).contains(&v)
            {
                return fail(
                    option,
                    format!("{v} tokens is outside [{lo}, {MAX_TOKENS}]"),
                );
            }
        }
        if let (Some(lo), Some(hi)) = (self.min_input, self.max_input)
            && lo > hi
        {
            return fail("--min-input", format!("{lo} is above --max-input {hi}"));
        }
        if let Some(r) = self.peak_cap
            && !(r.is_finite() && r > 0.0)
        {
            return fail("--peak-cap", format!("{} is not a positive rate", num(r)));
        }
        Ok(())
    }
}

/// Which of a record's lengths `--min-input`, `--max-input` and `--max-output` moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clipped {
    pub input_raised: bool,
    pub input_cut: bool,
    pub output_cut: bool,
}

/// An option value outside the range a run can honour.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{option}: {message}")]
pub struct OptionError {
    pub option: &'static str,
    pub message: String,
}

impl GenerateOptions {
    /// Check every value against the range that makes sense, so that an absurd one
    /// (`--rate-scale 1e9`, a duration of 1e20 days) is refused before planning starts
    /// rather than running away or overflowing.
    pub fn validate(&self) -> Result<(), OptionError> {
        use crate::model::MAX_SCALE;
        use crate::trace::MAX_SPAN;
        let fail = |option: &'static str, message: String| Err(OptionError { option, message });
        let scale_ok = |k: f64| k.is_finite() && (1.0 / MAX_SCALE..=MAX_SCALE).contains(&k);
        if !scale_ok(self.rate_scale) {
            return fail(
                "--rate-scale",
                format!(
                    "{} is outside [{}, {MAX_SCALE}]; for a bigger service combine \
                     --rate-scale with --tenants",
                    num(self.rate_scale),
                    1.0 / MAX_SCALE
                ),
            );
        }
        if !scale_ok(self.time_scale) {
            return fail(
                "--time-scale",
                format!(
                    "{} is outside [{}, {MAX_SCALE}]",
                    num(self.time_scale),
                    1.0 / MAX_SCALE
                ),
            );
        }
        if let Some(d) = self.duration
            && !(d.is_finite() && d > 0.0 && d <= MAX_SPAN)
        {
            return fail(
                "--duration",
                format!(
                    "{} s is outside (0, 62 days]: a trace may span at most 62 days",
                    num(d)
                ),
            );
        }
        if !(self.start_at.is_finite() && (0.0..=MAX_SPAN).contains(&self.start_at)) {
            return fail(
                "--start-at",
                format!("{} s is outside [0, 62 days]", num(self.start_at)),
            );
        }
        if self.start_id >= MAX_CHAT_ID {
            return fail(
                "--start-id",
                format!(
                    "{} is at or above 2^32 = {MAX_CHAT_ID}: consumers keep chat ids in 32 bits",
                    self.start_id
                ),
            );
        }
        if let RateProfileChoice::Steps(steps) = &self.rate_profile {
            for &(start, k) in steps {
                if !(start.is_finite() && start >= 0.0) {
                    return fail(
                        "--rate-profile",
                        format!("step start {} is not >= 0", num(start)),
                    );
                }
                if !(k.is_finite() && (0.0..=MAX_SCALE).contains(&k)) {
                    return fail(
                        "--rate-profile",
                        format!("multiplier {} is outside [0, {MAX_SCALE}]", num(k)),
                    );
                }
            }
        }
        self.knobs.validate()?;
        if self.knobs.peak_cap.is_some() && self.tenants > 1 {
            return fail(
                "--peak-cap",
                "caps one service's rate; with --tenants the copies keep clocks of their \
                 own, so cap each copy's run instead"
                    .to_string(),
            );
        }
        Ok(())
    }
}

impl GenerateOptions {
    /// [`GenerateOptions::validate`], and the checks that need the model: a `--peak-cap`
    /// must allow at least one request per window of the rate profile.
    pub fn validate_for(&self, model: &Model) -> Result<(), OptionError> {
        self.validate()?;
        if let Some(r) = self.knobs.peak_cap {
            let width = model.arrivals.bin_width * self.time_scale;
            if r * width < 1.0 {
                return Err(OptionError {
                    option: "--peak-cap",
                    message: format!(
                        "{} requests/s allows no request in a window of the model's rate \
                         profile ({} s): the cap must be at least {}",
                        num(r),
                        num(width),
                        num(1.0 / width)
                    ),
                });
            }
        }
        Ok(())
    }
}

/// `x` for a message: plain when moderate, in exponent form when huge or tiny.
fn num(x: f64) -> String {
    if x != 0.0 && !(1e-3..1e6).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// Part `index` of `count` (`0 <= index < count`): the sessions whose root is the k-th
/// drawn with `k % count == index`. Sessions are never split, and the parts together are
/// the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    pub fn new(index: u64, count: u64) -> Result<Shard, String> {
        if count == 0 || index >= count {
            return Err(format!(
                "shard {index}/{count}: the part must be at least 0 and below the count"
            ));
        }
        Ok(Shard { index, count })
    }

    pub fn holds(&self, session: u64) -> bool {
        session % self.count == self.index
    }
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            seed: 0,
            duration: None,
            requests: None,
            sessions: None,
            rate_scale: 1.0,
            time_scale: 1.0,
            rate_profile: RateProfileChoice::Repeat,
            start_id: 0,
            start_at: 0.0,
            shard: Shard::WHOLE,
            tenants: 1,
            knobs: Knobs::default(),
        }
    }
}

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

/// `--peak-cap R`: at most `budget` = floor(R x W) requests carry a timestamp (to the
/// millisecond, as written) in any window `[kW, (k+1)W)` of output seconds, W the model's
/// rate-profile bin (`arrivals.bin_width`) times `--time-scale`. A session start that
/// finds its window full, counting the follow-ups already booked into it, is dropped (the
/// session never happens); a follow-up that still finds its window full (booked, after the
/// window filled, by a request of that same window) is dropped with the rest of its
/// branch. Where the fitted profile x `--rate-scale` stays below R nothing changes.
struct PeakCap {
    width_ms: f64,
    budget: u64,
    /// Window index -> (requests planned in it, booked follow-ups still to come in it).
    windows: std::collections::BTreeMap<i64, (u64, u64)>,
}

impl PeakCap {
    fn window(&self, output_seconds: f64) -> i64 {
        ((output_seconds * 1000.0).round() / self.width_ms).floor() as i64
    }

    /// Room in window `w` for one more request, `booked` (a follow-up, whose room was
    /// reserved) or not (a session start, which must leave room for the follow-ups booked
    /// into the window); takes it when there is.
    fn admit(&mut self, w: i64, booked: bool) -> bool {
        // Requests come in time order: earlier windows are done.
        while let Some((&k, _)) = self.windows.first_key_value()
            && k < w
        {
            self.windows.pop_first();
        }
        let budget = self.budget;
        let (planned, pending) = self.windows.entry(w).or_default();
        if booked {
            *pending = pending.saturating_sub(1);
        }
        let reserved = if booked { 0 } else { *pending };
        if *planned + reserved >= budget {
            return false;
        }
        *planned += 1;
        true
    }

    fn book(&mut self, w: i64) {
        self.windows.entry(w).or_default().1 += 1;
    }
}

/// What `--peak-cap` dropped from the written stretch of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capped {
    /// Session starts dropped.
    pub roots: u64,
    /// Follow-ups dropped (their descendants were never planned).
    pub followups: u64,
}

/// A request's lengths: as the model drew them, and as written.
struct Lengths {
    /// (input, output) as drawn.
    base: (u64, u64),
    input: u64,
    output: u64,
    clipped: Clipped,
}

/// `x` tokens times `k`, rounded (`x` itself at `k = 1`), within the tokens a line may
/// carry.
fn scale(x: u64, k: f64) -> u64 {
    if k == 1.0 {
        return x;
    }
    ((x as f64 * k).round() as u64).min(crate::trace::MAX_TOKENS)
}

/// `x` tokens divided by `k`, rounded.
fn unscale(x: u64, k: f64) -> u64 {
    if k == 1.0 {
        return x;
    }
    (x as f64 / k).round() as u64
}

/// A follow-up booked by its parent.
struct Booked {
    session: u64,
    ty: usize,
    turn: u32,
    /// `None` when the parent fell in the warm-up and was not written.
    parent_chat_id: Option<u64>,
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
        let (ty, prefix, base, input, output) = match (client, &model.clients) {
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
                    input,
                    scale(draw.output, knobs.output_scale),
                )
            }
        };
        let input = knobs.clip_input(input, &mut clipped);
        let output = knobs.clip_output(output, &mut clipped);
        let tail = model.blocks.tails.root_prob[ty];
        let rng = self.ids_rng.as_mut().unwrap_or(&mut self.rng);
        let ids = self.blocks.complete(rng, &prefix, input, tail)?;
        let lengths = Lengths {
            base,
            input,
            output,
            clipped,
        };
        Ok(self.finish(session, t, ty, 1, None, lengths, ids))
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
        let input = knobs.clip_input(input, &mut clipped);
        let output = knobs.clip_output(scale(base.1, knobs.output_scale), &mut clipped);
        let lengths = Lengths {
            base,
            input,
            output,
            clipped,
        };
        let tail = model.blocks.tails.followup_prob[b.ty];
        let rng = self.ids_rng.as_mut().unwrap_or(&mut self.rng);
        let ids = self.blocks.complete(rng, &inherited, input, tail)?;
        // A follow-up of a warm-up request starts its session as far as the output can
        // tell, exactly as a real trace shows a conversation begun before its window.
        let turn = if b.parent_chat_id.is_some() {
            b.turn
        } else {
            1
        };
        Ok(self.finish(b.session, t, b.ty, turn, b.parent_chat_id, lengths, ids))
    }

    /// Number the request, book its follow-ups, and build the record (`None` during the
    /// warm-up, which is not written).
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &mut self,
        session: u64,
        t: f64,
        ty: usize,
        turn: u32,
        parent: Option<u64>,
        lengths: Lengths,
        ids: IdRuns,
    ) -> Option<Planned> {
        let Lengths {
            base: (base_input, base_output),
            input,
            output,
            clipped,
        } = lengths;
        let written = t >= self.options.start_at;
        let chat_id = written.then(|| self.options.start_id + self.emitted);
        if written {
            self.emitted += 1;
        }
        let rules = &self.model.sessions.per_type[ty];
        // The drawn lengths decide the session, as without knobs (the written ones have
        // as many blocks as `ids`).
        let base_blocks = base_input.div_ceil(u64::from(self.model.block_size));
        let children = if base_blocks >= u64::from(self.model.sessions.min_parent_blocks) {
            rules.sample_children(&mut self.rng, turn, base_input)
        } else {
            0
        };
        if children > 0 {
            let shared_ids = Rc::new(ids.clone());
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
                if self.cap.is_some() {
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
                    turn: turn + 1,
                    parent_chat_id: chat_id,
                    parent_input: input,
                    parent_output: output,
                    base_input,
                    base_output,
                    parent_ids: shared_ids.clone(),
                    keep,
                };
                self.booked.push(t + think, booked);
            }
        }
        let chat_id = chat_id?;
        Some(Planned {
            session,
            timestamp: self.output_time(t),
            input_length: input,
            output_length: output,
            chat_id,
            parent_chat_id: parent.map_or(-1, |p| p as i64),
            turn,
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
}

impl Records for Planner<'_> {
    fn capped(&self) -> Capped {
        self.capped
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
                let window = self.cap.as_ref().map(|c| c.window(self.output_time(t)));
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
