//! What-if knobs: the lengths a run writes, scaled and clipped, and the peak cap on its
//! rate (issue #12). The planner draws the model's lengths as without them; these turn
//! them into the written ones.

use super::options::{OptionError, num};

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
    /// No request above this many input tokens (the context window); see
    /// [`ContextPolicy`] for what a follow-up that would pass it does.
    pub max_context: Option<u64>,
    pub context_policy: ContextPolicy,
}

/// What `--max-context N` does to a follow-up whose input (its parent's written context,
/// the carried output and its new tokens) would pass N. A root above N is cut to its
/// first N tokens under either policy (there is no history to drop).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ContextPolicy {
    /// The client drops its oldest history: the follow-up keeps as many of its parent's
    /// first blocks (system prompt first) as fit beside its own tokens, and is N tokens
    /// long, as the fitted traces' truncated continuations keep a leading share of their
    /// parent's context. The session goes on from the truncated context. The run keeps
    /// every request, session and time of the run without the limit.
    #[default]
    Truncate,
    /// The session's branch ends there: the follow-up and everything it would have led to
    /// are not written (they are still planned, unwritten, so every other session stays
    /// the run's own).
    End,
}

impl std::str::FromStr for ContextPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "truncate" => Ok(ContextPolicy::Truncate),
            "end" => Ok(ContextPolicy::End),
            _ => Err(format!("`{s}` is not a context policy (truncate or end)")),
        }
    }
}

impl ContextPolicy {
    /// The policy a run asked for, when it did (`None`: the default), refused when there
    /// is no context window for it to act on.
    pub fn given(
        policy: Option<ContextPolicy>,
        max_context: Option<u64>,
    ) -> Result<ContextPolicy, OptionError> {
        match (policy, max_context) {
            (Some(p), None) => Err(OptionError {
                option: "--context-policy",
                message: format!("{p}: says what --max-context does, which is not given"),
            }),
            (p, _) => Ok(p.unwrap_or_default()),
        }
    }
}

impl std::fmt::Display for ContextPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ContextPolicy::Truncate => "truncate",
            ContextPolicy::End => "end",
        })
    }
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
            max_context: None,
            context_policy: ContextPolicy::Truncate,
        }
    }
}

impl Knobs {
    /// No knob changes a length.
    pub(super) fn lengths_unchanged(&self) -> bool {
        self.prefix_scale == 1.0
            && self.input_scale == 1.0
            && self.output_scale == 1.0
            && self.min_input.is_none()
            && self.max_input.is_none()
            && self.max_output.is_none()
            && self.max_context.is_none()
    }

    /// `input` clipped to `--min-input` / `--max-input`, and what moved.
    pub(super) fn clip_input(&self, input: u64, clipped: &mut Clipped) -> u64 {
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

    pub(super) fn clip_output(&self, output: u64, clipped: &mut Clipped) -> u64 {
        match self.max_output {
            Some(hi) if output > hi => {
                clipped.output_cut = true;
                hi
            }
            _ => output,
        }
    }

    pub(super) fn validate(&self) -> Result<(), OptionError> {
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
            ("--max-context", self.max_context, 1),
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
        if let (Some(lo), Some(n)) = (self.min_input, self.max_context)
            && lo > n
        {
            return fail("--min-input", format!("{lo} is above --max-context {n}"));
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
    /// A root cut to `--max-context`.
    pub root_cut: bool,
    /// A follow-up whose history `--max-context` truncated.
    pub history_truncated: bool,
}

/// `--peak-cap R`: at most `budget` = floor(R x W) requests carry a timestamp (to the
/// millisecond, as written) in any window `[kW, (k+1)W)` of output seconds, W the model's
/// rate-profile bin (`arrivals.bin_width`) times `--time-scale`. A session start that
/// finds its window full, counting the follow-ups already booked into it, is dropped (the
/// session never happens); a follow-up that still finds its window full (booked, after the
/// window filled, by a request of that same window) is dropped with the rest of its
/// branch. Where the fitted profile x `--rate-scale` stays below R nothing changes.
pub(super) struct PeakCap {
    pub(super) width_ms: f64,
    pub(super) budget: u64,
    /// Window index -> (requests planned in it, booked follow-ups still to come in it).
    pub(super) windows: std::collections::BTreeMap<i64, (u64, u64)>,
}

impl PeakCap {
    pub(super) fn window(&self, output_seconds: f64) -> i64 {
        ((output_seconds * 1000.0).round() / self.width_ms).floor() as i64
    }

    /// Room in window `w` for one more request, `booked` (a follow-up, whose room was
    /// reserved) or not (a session start, which must leave room for the follow-ups booked
    /// into the window); takes it when there is.
    pub(super) fn admit(&mut self, w: i64, booked: bool) -> bool {
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

    pub(super) fn book(&mut self, w: i64) {
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

/// What `--max-context` did beyond the records written (which carry their own
/// [`Clipped`] flags): the sessions it touched and the requests `end` left unwritten.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContextLimited {
    /// Sessions started in the written stretch.
    pub sessions: u64,
    /// Of those, the sessions with a request cut, truncated or ended by the limit.
    pub sessions_hit: u64,
    /// Follow-ups ended by `--context-policy end` (each ends a branch of its session).
    pub ended: u64,
    /// Requests not written because their branch ended (the ended ones included).
    pub unwritten: u64,
}

impl ContextLimited {
    pub(super) fn add(&mut self, other: ContextLimited) {
        self.sessions += other.sessions;
        self.sessions_hit += other.sessions_hit;
        self.ended += other.ended;
        self.unwritten += other.unwritten;
    }
}

/// A request's lengths: as the model drew them, and as written.
pub(super) struct Lengths {
    /// (input, output) as drawn.
    pub(super) base: (u64, u64),
    /// A root's drawn tokens beyond the prefix other sessions share (`None` for a
    /// follow-up): see [`crate::model::sessions::SessionModel::parents_need_own_block`].
    pub(super) base_own: Option<u64>,
    pub(super) input: u64,
    pub(super) output: u64,
    pub(super) clipped: Clipped,
}

/// `x` tokens times `k`, rounded (`x` itself at `k = 1`), within the tokens a line may
/// carry.
pub(super) fn scale(x: u64, k: f64) -> u64 {
    if k == 1.0 {
        return x;
    }
    ((x as f64 * k).round() as u64).min(crate::trace::MAX_TOKENS)
}

/// `x` tokens divided by `k`, rounded.
pub(super) fn unscale(x: u64, k: f64) -> u64 {
    if k == 1.0 {
        return x;
    }
    (x as f64 / k).round() as u64
}
