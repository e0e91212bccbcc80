//! Reference Bailian traces, built from the structural rules of the brief (section 3) and
//! roughly the published trace-A and trace-B figures (section 4).
//!
//! The real Qwen-Bailian files cannot be downloaded everywhere, yet `fit` -> `generate`
//! must be shown to reproduce session-structured traces. These traces stand in for them.
//! They are built by mechanisms the model does not use (a time-changed Gamma renewal
//! process with a diurnal swing and random bursts, parametric length mixtures, turn-wise
//! follow-up probabilities that fall with the context length, think times with a floor,
//! a long tail of system prompts, documents and popular search results born and
//! forgotten over time, a pool of retrieved pages), so fitting them is a test rather than
//! a tautology.
//!
//! They are *not* real data: their figures only land near the published ones.
//!
//! Every session root draws from a random stream of its own (and every follow-up from
//! one its parent seeds), and the session starts from another: a change to one knob
//! changes the sessions it touches, not every later draw of the trace, which is what
//! lets `calibrate` compare neighbouring configurations.

use std::collections::{BinaryHeap, HashMap};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma, StandardNormal};

use crate::trace::{BAILIAN_BLOCK, Format, MAX_HASH_ID, Request, Session, Trace};

mod presets;

const BLOCK: u64 = BAILIAN_BLOCK as u64;
/// Output lengths scale with the input relative to this many tokens.
const OUTPUT_REFERENCE_INPUT: f64 = 1000.0;
/// Decode speed used to add the answer's generation time to a think time.
const DECODE_TOKENS_PER_S: f64 = 40.0;
/// Largest catalogue of documents a type may have.
const MAX_CATALOGUE: usize = 10_000_000;

/// Everything that shapes a reference trace. Start from a preset
/// ([`ReferenceConfig::trace_a_like`], [`ReferenceConfig::api_like`]) and adjust.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceConfig {
    pub seed: u64,
    pub duration_s: f64,
    /// Mean session starts per second, before the swing and the bursts.
    pub session_rate: f64,
    pub arrivals: ArrivalShape,
    /// System prompts. A prompt may extend another, so they form a prefix tree.
    pub prompts: Vec<PromptSpec>,
    pub types: Vec<TypeProfile>,
    /// Popular closing blocks (the chat template's last tokens landing alone in the last
    /// block).
    pub tails: Vec<TailSpec>,
    /// New user tokens of a follow-up, on top of the carried context.
    pub follow_up_tokens: LengthMix,
    /// A session ends when its next turn would exceed this context.
    pub max_input: u64,
    pub max_turns: u32,
    /// Thin whole sessions at random down to this many requests (trace B was sampled to
    /// a fixed count). Exact when every session has one request.
    pub exact_requests: Option<u64>,
    /// Fresh content ids start here; every prompt and tail id must lie below it.
    pub fresh_id_base: u64,
}

/// Session starts: a Gamma renewal process run in operational time, so the rate can
/// swing and burst while gaps stay burstier than Poisson.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrivalShape {
    /// Coefficient of variation of the gaps at a steady rate.
    pub gap_cv: f64,
    /// Relative amplitude of the sinusoidal swing of the rate, in [0, 1).
    pub swing_amplitude: f64,
    pub swing_period_s: f64,
    /// Phase of the swing at t = 0, radians.
    pub swing_phase: f64,
    /// Bursts start as a Poisson process at this rate.
    pub bursts_per_hour: f64,
    /// Mean extra rate during a burst, relative to the base (exponentially distributed).
    pub burst_gain: f64,
    /// Mean burst duration, seconds (exponentially distributed).
    pub burst_s: f64,
}

/// A system prompt: its parent's ids (if any) followed by `ids`.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptSpec {
    pub parent: Option<usize>,
    pub ids: Vec<u64>,
}

/// A closing block: when chosen, the input is lengthened so that the last block holds
/// exactly `fill` tokens, and that block gets `id`. One id per fill, so an id never
/// stands for two different fills.
#[derive(Debug, Clone, PartialEq)]
pub struct TailSpec {
    pub id: u64,
    /// Tokens in the closing block, 1..=16.
    pub fill: u32,
    pub weight: f64,
}

/// Log-normal body with a Pareto tail, in tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct LengthMix {
    pub median: f64,
    pub sigma: f64,
    /// Share of draws from the Pareto tail.
    pub tail_share: f64,
    pub tail_min: f64,
    pub tail_alpha: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TypeProfile {
    pub name: String,
    /// Relative frequency among session roots.
    pub root_weight: f64,
    /// Indices into [`ReferenceConfig::prompts`], most popular first (Zipf weights).
    pub prompts: Vec<usize>,
    pub prompt_zipf: f64,
    /// Share of roots without a system prompt.
    pub no_prompt: f64,
    /// A long tail of further prompts (apps, agents, client templates) that some
    /// prompted roots take instead of a named one.
    pub prompt_pool: Option<PromptPool>,
    /// Tokens a root adds after its prompt (when it carries no document).
    pub user_tokens: LengthMix,
    pub document: Option<DocumentSpec>,
    pub retrieval: Option<RetrievalSpec>,
    pub output: OutputSpec,
    /// Probability of a next turn after turn 1, 2, ...; the last entry holds after.
    pub next_turn: Vec<f64>,
    /// Long contexts continue less: the next-turn probability is multiplied by
    /// `1 / (1 + (input / long_context_tokens)^2)` (infinite: no effect). Quick chats
    /// go on for many turns; a long paste or a big search is mostly asked about once.
    pub long_context_tokens: f64,
    /// Given a next turn, probability of a second one from the same parent (a retry).
    pub branch: f64,
    /// Probability that a follow-up keeps its parent's type (else: the root mix).
    pub stay_type: f64,
    pub think: ThinkSpec,
    /// Share of requests ending in a popular closing block.
    pub tail_prob: f64,
    /// Share of requests repeating one of their own blocks further on.
    pub repeat_prob: f64,
}

/// Many system prompts of varied length with Zipf popularity: the most popular are
/// reused every few seconds like the named prompts, the tail minutes or hours apart, so
/// they spread cross-session reuse over cache sizes instead of keeping it all hot. A
/// prompt's ids are minted by the first root that uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptPool {
    /// Share of the type's prompted roots that take a pool prompt.
    pub share: f64,
    pub count: usize,
    /// Zipf exponent of the prompts' popularity, by rank.
    pub zipf: f64,
    /// Tokens of each prompt, rounded up to whole blocks.
    pub tokens: LengthMix,
}

/// Shared documents (a file, an image, a popular article; for a retrieval type, the query
/// and results of a popular search): born over time, then reused by later sessions with a
/// popularity that fades with age.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentSpec {
    /// Share of this type's roots that carry a document.
    pub share: f64,
    /// Probability that such a root reuses a live document rather than a new one.
    pub reuse: f64,
    /// Time constant of the fading, seconds.
    pub recency_s: f64,
    pub tokens: LengthMix,
    /// The user's question after the document.
    pub question: LengthMix,
    /// Draw documents from a catalogue of the service instead of the live ones (then
    /// `reuse` and `recency_s` play no part).
    pub catalogue: Option<Catalogue>,
}

/// The documents of a service: a catalogue of `size` documents with Zipf popularity,
/// replaced by a new one every `epoch_s` seconds (the news of the hour, the files of the
/// day). Every root that carries a document draws it from the catalogue of its epoch, so
/// the catalogue is a property of the service, not of its users: more users draw the same
/// documents more often, and documents one user would have been alone with are shared.
/// A document (its length, its prompt) is drawn from a random stream of its own, so it is
/// the same document whoever asks for it first.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalogue {
    pub size: usize,
    /// Zipf exponent of the documents' popularity, by rank.
    pub zipf: f64,
    pub epoch_s: f64,
}

/// Search results: pages of blocks, some newly fetched and some already fetched for
/// other requests, placed after the query (so they are shared without being a prefix).
#[derive(Debug, Clone, PartialEq)]
pub struct RetrievalSpec {
    /// Share of pages taken from the pool of earlier pages.
    pub pool_share: f64,
    /// Mean distance back into the pool, in pages (recency of reuse).
    pub pool_mean_back: f64,
    pub page_blocks: (u32, u32),
    /// Probability that a follow-up of this type searches again.
    pub follow_up_prob: f64,
    pub follow_up_tokens: LengthMix,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutputSpec {
    pub median: f64,
    pub sigma: f64,
    /// d log(output) / d log(input): a weak positive dependence.
    pub input_elasticity: f64,
    pub max: u64,
}

/// Think time after a parent: generation of its answer, a floor (reading the answer and
/// typing the next message take a while), then a log-normal pause whose median grows
/// with the answer's length.
#[derive(Debug, Clone, PartialEq)]
pub struct ThinkSpec {
    pub floor_s: f64,
    pub base_s: f64,
    pub per_output_token_s: f64,
    pub sigma: f64,
}

impl LengthMix {
    fn lognormal(median: f64, sigma: f64) -> Self {
        LengthMix {
            median,
            sigma,
            tail_share: 0.0,
            tail_min: 1.0,
            tail_alpha: 2.0,
        }
    }

    fn with_tail(mut self, share: f64, min: f64, alpha: f64) -> Self {
        self.tail_share = share;
        self.tail_min = min;
        self.tail_alpha = alpha;
        self
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> u64 {
        let x = if self.tail_share > 0.0 && rng.random::<f64>() < self.tail_share {
            // Inverse CDF of a Pareto: min / U^(1/alpha).
            let u = 1.0 - rng.random::<f64>();
            self.tail_min / u.powf(1.0 / self.tail_alpha)
        } else {
            let z: f64 = StandardNormal.sample(rng);
            self.median * (self.sigma * z).exp()
        };
        // Clamp before the cast: a far Pareto draw must not saturate into nonsense.
        x.clamp(1.0, 1e9).round() as u64
    }
}

impl ReferenceConfig {
    /// The same service with `users` times the users: `users` times the session starts,
    /// every per-session rule and every catalogue unchanged (and, for a preset sampled to
    /// an exact count, `users` times the count). `users = 1` is the config itself.
    pub fn with_users(mut self, users: f64) -> Self {
        if users != 1.0 {
            self.session_rate *= users;
            self.exact_requests = self
                .exact_requests
                .map(|n| (n as f64 * users).round() as u64);
        }
        self
    }

    /// Why the config cannot be built, if it cannot.
    pub fn validate(&self) -> Result<(), String> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        let share = |v: f64| (0.0..=1.0).contains(&v);
        if !positive(self.duration_s) || !positive(self.session_rate) {
            return Err("duration_s and session_rate must be positive".into());
        }
        let a = &self.arrivals;
        if !positive(a.gap_cv) || !positive(a.swing_period_s) || !positive(a.burst_s) {
            return Err("gap_cv, swing_period_s and burst_s must be positive".into());
        }
        if !(0.0..1.0).contains(&a.swing_amplitude) || a.bursts_per_hour < 0.0 {
            return Err("swing_amplitude must be in [0, 1), bursts_per_hour >= 0".into());
        }
        if a.burst_gain < 0.0 || !a.burst_gain.is_finite() {
            return Err("burst_gain must be >= 0".into());
        }
        if self.types.is_empty() || self.types.iter().all(|t| t.root_weight <= 0.0) {
            return Err("at least one type with a positive root_weight is needed".into());
        }
        if self.max_turns == 0 || self.max_input == 0 {
            return Err("max_turns and max_input must be positive".into());
        }
        if self.fresh_id_base >= MAX_HASH_ID / 2 {
            return Err("fresh_id_base leaves no room for ids below 2^32".into());
        }
        let mut reserved = std::collections::HashSet::new();
        for (i, p) in self.prompts.iter().enumerate() {
            if p.parent.is_some_and(|q| q >= i) {
                return Err(format!("prompt {i}: its parent must come before it"));
            }
            if p.ids.is_empty() && p.parent.is_none() {
                return Err(format!("prompt {i} has no blocks"));
            }
            for &id in &p.ids {
                if id >= self.fresh_id_base || !reserved.insert(id) {
                    return Err(format!(
                        "prompt {i}: id {id} is used twice or not below fresh_id_base"
                    ));
                }
            }
        }
        for t in &self.tails {
            if !(1..=BAILIAN_BLOCK).contains(&t.fill) || t.weight < 0.0 {
                return Err(format!("tail {}: fill must be 1..=16", t.id));
            }
            if t.id >= self.fresh_id_base || !reserved.insert(t.id) {
                return Err(format!(
                    "tail {}: id used twice or not below fresh_id_base",
                    t.id
                ));
            }
        }
        for t in &self.types {
            let bad = |what: &str| Err(format!("type {}: {what}", t.name));
            if t.prompts.iter().any(|&p| p >= self.prompts.len()) {
                return bad("prompt index out of range");
            }
            let pooled = t.prompt_pool.as_ref().is_some_and(|p| p.share > 0.0);
            if t.prompts.is_empty() && !pooled && t.no_prompt < 1.0 {
                return bad("no prompts, so no_prompt must be 1");
            }
            if let Some(p) = &t.prompt_pool
                && (!share(p.share)
                    || (p.share > 0.0 && p.count == 0)
                    || (p.share < 1.0 && t.prompts.is_empty())
                    || !p.zipf.is_finite()
                    || p.zipf < 0.0)
            {
                return bad("prompt_pool: share in [0, 1], prompts to pick from, zipf >= 0");
            }
            if !t.root_weight.is_finite() || t.root_weight < 0.0 {
                return bad("root_weight must be >= 0");
            }
            let shares = [
                t.no_prompt,
                t.branch,
                t.stay_type,
                t.tail_prob,
                t.repeat_prob,
            ];
            if !shares.into_iter().all(share) || t.next_turn.is_empty() {
                return bad("probabilities must be in [0, 1], next_turn non-empty");
            }
            if !t.next_turn.iter().copied().all(share) {
                return bad("next_turn probabilities must be in [0, 1]");
            }
            if t.tail_prob > 0.0 && self.tails.iter().all(|x| x.weight <= 0.0) {
                return bad("tail_prob > 0 without tails");
            }
            if let Some(d) = &t.document
                && (!share(d.share) || !share(d.reuse) || !positive(d.recency_s))
            {
                return bad("document shares must be in [0, 1], recency_s positive");
            }
            if let Some(c) = t.document.as_ref().and_then(|d| d.catalogue.as_ref())
                && (c.size == 0
                    || c.size > MAX_CATALOGUE
                    || !(c.zipf.is_finite() && c.zipf >= 0.0)
                    || !positive(c.epoch_s))
            {
                return bad("catalogue: size 1..=1e7, zipf >= 0, epoch_s positive");
            }
            if let Some(r) = &t.retrieval
                && (!share(r.pool_share)
                    || !share(r.follow_up_prob)
                    || r.page_blocks.0 == 0
                    || r.page_blocks.0 > r.page_blocks.1)
            {
                return bad("retrieval shares in [0, 1], page_blocks a range from 1");
            }
            if t.long_context_tokens.is_nan() || t.long_context_tokens <= 0.0 {
                return bad("long_context_tokens must be positive (or infinite)");
            }
            if !(t.think.floor_s.is_finite() && t.think.floor_s >= 0.0) {
                return bad("think floor_s must be >= 0");
            }
            if !positive(t.output.median) || t.output.max == 0 {
                return bad("output median and max must be positive");
            }
        }
        Ok(())
    }
}

/// Build the trace `config` describes: Bailian, 16-token blocks, sorted by timestamp,
/// chat ids 0, 1, ... in arrival order.
///
/// # Panics
/// When [`ReferenceConfig::validate`] rejects the config, or when the trace would need
/// more than 2^32 distinct ids.
pub fn build(config: &ReferenceConfig) -> Trace {
    if let Err(e) = config.validate() {
        panic!("invalid reference config: {e}");
    }
    let mut builder = Builder::new(config);
    builder.run();
    let mut requests = builder.requests;
    if let Some(target) = config.exact_requests {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x7468_696e);
        requests = thin_sessions(requests, target, &mut rng);
    }
    Trace {
        format: Format::Bailian,
        block_size: Some(BAILIAN_BLOCK),
        requests,
    }
}

/// A request waiting for its arrival: a follow-up of an emitted parent.
struct Pending {
    ms: u64,
    seq: u64,
    /// Seed of the follow-up's own random stream.
    seed: u64,
    parent: Parent,
}

struct Parent {
    chat_id: u64,
    turn: u32,
    type_idx: usize,
    input: u64,
    output: u64,
    ids: Vec<u64>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.ms, self.seq) == (other.ms, other.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    // Reversed: BinaryHeap is a max-heap and the earliest arrival must come out first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.ms, other.seq).cmp(&(self.ms, self.seq))
    }
}

struct Doc {
    ids: Vec<u64>,
    prompt: Option<usize>,
    born_s: f64,
    popularity: f64,
}

/// Pages of retrieved content, each a run of ids, oldest first.
#[derive(Default)]
struct PagePool {
    ids: Vec<u64>,
    pages: Vec<(usize, usize)>,
}

impl PagePool {
    /// Drop the oldest pages once the pool is far longer than reuse ever reaches back,
    /// so a month-long trace does not keep every page.
    fn trim(&mut self, keep: usize) {
        if self.pages.len() <= 4 * keep.max(64) {
            return;
        }
        let cut = self.pages.len() - keep.max(64);
        let offset = self.pages[cut].0;
        self.pages.drain(..cut);
        self.ids.drain(..offset);
        for p in &mut self.pages {
            p.0 -= offset;
        }
    }
}

/// A catalogue document: `(type, epoch, rank)`.
type CatalogueKey = (usize, u64, usize);

struct Builder<'a> {
    cfg: &'a ReferenceConfig,
    /// The stream of the request being built: its root's (by the root's index) or, for
    /// a follow-up, one its parent seeded (see the module notes).
    rng: ChaCha8Rng,
    /// Session roots built so far.
    roots: u64,
    /// Ids of the named prompts, then of every type's pool prompts (empty until a root
    /// first uses one).
    prompt_ids: Vec<Vec<u64>>,
    /// Blocks of each pool prompt, indexed like `prompt_ids`.
    pool_blocks: Vec<u64>,
    /// Per type: index of its first pool prompt in `prompt_ids`, and the Zipf weights.
    pools: Vec<Option<(usize, Vec<f64>)>>,
    root_cum: Vec<f64>,
    prompt_cum: Vec<Vec<f64>>,
    tail_cum: Vec<f64>,
    next_id: u64,
    docs: Vec<Vec<Doc>>,
    /// Per type with a catalogue: the cumulative Zipf weights of its documents.
    catalogue_cum: Vec<Option<Vec<f64>>>,
    /// Catalogue documents drawn so far, by `(type, epoch, rank)`: ids and prompt.
    /// Documents of past epochs are dropped.
    catalogue: HashMap<CatalogueKey, (Vec<u64>, Option<usize>)>,
    catalogue_epoch: u64,
    pages: PagePool,
    pending: BinaryHeap<Pending>,
    seq: u64,
    duration_ms: u64,
    requests: Vec<Request>,
}

fn cumulative(weights: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut total = 0.0;
    weights
        .into_iter()
        .map(|w| {
            total += w.max(0.0);
            total
        })
        .collect()
}

/// Cumulative Zipf weights of `n` ranks.
fn zipf_cum(n: usize, exponent: f64) -> Vec<f64> {
    cumulative((0..n).map(|r| 1.0 / ((r + 1) as f64).powf(exponent)))
}

fn pick(cum: &[f64], rng: &mut ChaCha8Rng) -> usize {
    let u = rng.random::<f64>() * cum.last().copied().unwrap_or(0.0);
    cum.partition_point(|&c| c <= u).min(cum.len() - 1)
}

impl<'a> Builder<'a> {
    fn new(cfg: &'a ReferenceConfig) -> Self {
        let mut prompt_ids: Vec<Vec<u64>> = Vec::with_capacity(cfg.prompts.len());
        for p in &cfg.prompts {
            let mut ids = p.parent.map_or_else(Vec::new, |q| prompt_ids[q].clone());
            ids.extend_from_slice(&p.ids);
            prompt_ids.push(ids);
        }
        let prompt_cum = cfg
            .types
            .iter()
            .map(|t| zipf_cum(t.prompts.len(), t.prompt_zipf))
            .collect();
        // Pool prompt lengths come from a stream of their own, so a pool's size does
        // not shift the rest of the trace.
        let mut pool_rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x706f_6f6c);
        let mut pool_blocks = vec![0; prompt_ids.len()];
        let pools = cfg
            .types
            .iter()
            .map(|t| {
                let pool = t.prompt_pool.as_ref().filter(|p| p.share > 0.0)?;
                let start = prompt_ids.len();
                for _ in 0..pool.count {
                    prompt_ids.push(Vec::new());
                    pool_blocks.push(pool.tokens.sample(&mut pool_rng).div_ceil(BLOCK));
                }
                Some((start, zipf_cum(pool.count, pool.zipf)))
            })
            .collect();
        Builder {
            cfg,
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            roots: 0,
            prompt_ids,
            pool_blocks,
            pools,
            root_cum: cumulative(cfg.types.iter().map(|t| t.root_weight)),
            prompt_cum,
            tail_cum: cumulative(cfg.tails.iter().map(|t| t.weight)),
            next_id: cfg.fresh_id_base,
            docs: cfg.types.iter().map(|_| Vec::new()).collect(),
            catalogue_cum: cfg
                .types
                .iter()
                .map(|t| {
                    let c = t.document.as_ref()?.catalogue.as_ref()?;
                    Some(zipf_cum(c.size, c.zipf))
                })
                .collect(),
            catalogue: HashMap::new(),
            catalogue_epoch: 0,
            pages: PagePool::default(),
            pending: BinaryHeap::new(),
            seq: 0,
            duration_ms: (cfg.duration_s * 1000.0).round() as u64,
            requests: Vec::new(),
        }
    }

    fn run(&mut self) {
        // Arrivals draw from a stream of their own: the session starts do not move
        // when the content of the sessions does.
        let mut arrivals_rng = ChaCha8Rng::seed_from_u64(self.cfg.seed ^ 0x6172_7269_7665);
        let mut roots = RootArrivals::new(self.cfg, &mut arrivals_rng);
        let mut next_root = roots.next_ms(&mut arrivals_rng);
        loop {
            let root_due = (next_root < self.duration_ms).then_some(next_root);
            let child_due = self.pending.peek().map(|p| p.ms);
            match (root_due, child_due) {
                (None, None) => break,
                (Some(r), c) if c.is_none_or(|c| r <= c) => {
                    self.root(r);
                    next_root = roots.next_ms(&mut arrivals_rng);
                }
                _ => {
                    let p = self.pending.pop().expect("peeked");
                    self.follow_up(p);
                }
            }
        }
    }

    fn fresh(&mut self) -> u64 {
        let id = self.next_id;
        assert!(
            id < MAX_HASH_ID,
            "reference trace ran out of ids below 2^32"
        );
        self.next_id += 1;
        id
    }

    fn root(&mut self, ms: u64) {
        let cfg = self.cfg;
        let stream = (cfg.seed.rotate_left(17) ^ self.roots).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.rng = ChaCha8Rng::seed_from_u64(stream);
        self.roots += 1;
        let k = pick(&self.root_cum, &mut self.rng);
        let ty = &cfg.types[k];
        let mut prompt = (self.rng.random::<f64>() >= ty.no_prompt).then(|| self.prompt(k));
        let mut doc_ids = Vec::new();
        let mut question = None;
        if let Some(spec) = &ty.document
            && self.rng.random::<f64>() < spec.share
        {
            let (ids, doc_prompt) = self.document(k, ms, prompt);
            doc_ids = ids;
            prompt = doc_prompt;
            question = Some(spec.question.sample(&mut self.rng));
        }
        let mut ids = prompt.map_or_else(Vec::new, |p| self.prompt_path(p));
        ids.extend_from_slice(&doc_ids);
        let user = question.unwrap_or_else(|| ty.user_tokens.sample(&mut self.rng));
        let shared = ids.len() as u64 * BLOCK;
        let input = (shared + user).min(self.cfg.max_input.max(shared + 1));
        // The query comes first, then the results; a root reusing a popular query's
        // results searches no further.
        let retrieval = ty.retrieval.is_some() && question.is_none();
        self.emit(ms, k, None, ids, input, 1, retrieval);
    }

    /// A prompt for a prompted root of type `k`: a named one or one of its pool.
    fn prompt(&mut self, k: usize) -> usize {
        let ty = &self.cfg.types[k];
        if let (Some(pool), Some((start, cum))) = (&ty.prompt_pool, &self.pools[k])
            && (ty.prompts.is_empty() || self.rng.random::<f64>() < pool.share)
        {
            return start + pick(cum, &mut self.rng);
        }
        ty.prompts[pick(&self.prompt_cum[k], &mut self.rng)]
    }

    /// The ids of prompt `p`, minting a pool prompt's on its first use.
    fn prompt_path(&mut self, p: usize) -> Vec<u64> {
        if self.prompt_ids[p].is_empty() {
            let ids = (0..self.pool_blocks[p].max(1))
                .map(|_| self.fresh())
                .collect();
            self.prompt_ids[p] = ids;
        }
        self.prompt_ids[p].clone()
    }

    fn follow_up(&mut self, p: Pending) {
        let cfg = self.cfg;
        self.rng = ChaCha8Rng::seed_from_u64(p.seed);
        let parent = p.parent;
        let ty = &cfg.types[parent.type_idx];
        let k = if self.rng.random::<f64>() < ty.stay_type {
            parent.type_idx
        } else {
            pick(&self.root_cum, &mut self.rng)
        };
        let child = &cfg.types[k];
        let mut new = cfg.follow_up_tokens.sample(&mut self.rng);
        let mut retrieval = false;
        if let Some(r) = &child.retrieval
            && self.rng.random::<f64>() < r.follow_up_prob
        {
            new += r.follow_up_tokens.sample(&mut self.rng);
            retrieval = true;
        }
        let input = parent.input + parent.output + new;
        if input > self.cfg.max_input {
            // The context is full: the user starts over elsewhere.
            return;
        }
        let mut ids = parent.ids;
        ids.pop();
        // The parent's partial block and answer are new content for this request.
        let carried = (parent.input - ids.len() as u64 * BLOCK + parent.output).div_ceil(BLOCK);
        self.emit(
            p.ms,
            k,
            Some((parent.chat_id, parent.turn)),
            ids,
            input,
            carried.max(1),
            retrieval,
        );
    }

    /// Complete a request whose leading `ids` are shared, add it, and schedule its
    /// follow-ups. `lead` blocks of fresh content precede any retrieved pages.
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        ms: u64,
        k: usize,
        parent: Option<(u64, u32)>,
        mut ids: Vec<u64>,
        mut input: u64,
        lead: u64,
        retrieval: bool,
    ) {
        let cfg = self.cfg;
        let ty = &cfg.types[k];
        let mut tail = None;
        if ty.tail_prob > 0.0 && self.rng.random::<f64>() < ty.tail_prob {
            let t = &cfg.tails[pick(&self.tail_cum, &mut self.rng)];
            // Lengthen by 0..15 tokens so the closing tokens sit alone in the last block.
            let want = u64::from(t.fill) % BLOCK;
            input += (want + BLOCK - input % BLOCK) % BLOCK;
            tail = Some(t.id);
        }
        let blocks = input.div_ceil(BLOCK) as usize;
        let shared = ids.len();
        debug_assert!(blocks > shared, "the last block must be new content");
        let body = blocks - shared - 1;
        let lead = if retrieval {
            (lead as usize).min(body)
        } else {
            body
        };
        for _ in 0..lead {
            let id = self.fresh();
            ids.push(id);
        }
        if retrieval {
            self.retrieve(k, &mut ids, blocks - 1);
        }
        if body >= 3 && self.rng.random::<f64>() < ty.repeat_prob {
            // Repeated content (a quoted passage): a full block of this request recurs
            // further on. Never the last block, whose fill may differ.
            let i = self.rng.random_range(shared..blocks - 2);
            let j = self.rng.random_range(i + 1..blocks - 1);
            ids[j] = ids[i];
        }
        let last = match tail {
            Some(id) => id,
            None => self.fresh(),
        };
        ids.push(last);
        debug_assert_eq!(ids.len(), blocks);

        let out = &ty.output;
        let z: f64 = StandardNormal.sample(&mut self.rng);
        let log_median =
            out.median.ln() + out.input_elasticity * (input as f64 / OUTPUT_REFERENCE_INPUT).ln();
        let output = (log_median + out.sigma * z)
            .exp()
            .clamp(1.0, out.max as f64)
            .round() as u64;

        let chat_id = self.requests.len() as u64;
        let (parent_chat_id, turn) = match parent {
            Some((p, t)) => (p as i64, t + 1),
            None => (-1, 1),
        };
        self.schedule(ms, k, chat_id, turn, input, output, &ids);
        self.requests.push(Request {
            timestamp: ms as f64 / 1000.0,
            input_length: input,
            output_length: output,
            hash_ids: Some(ids),
            session: Some(Session {
                chat_id,
                parent_chat_id,
                turn,
                req_type: ty.name.clone(),
            }),
        });
    }

    /// Fill `ids` up to `upto` blocks with pages: some fetched before, most new.
    fn retrieve(&mut self, k: usize, ids: &mut Vec<u64>, upto: usize) {
        let cfg = self.cfg;
        let spec = cfg.types[k].retrieval.as_ref().expect("retrieval type");
        let (lo, hi) = spec.page_blocks;
        while ids.len() < upto {
            let room = upto - ids.len();
            if !self.pages.pages.is_empty() && self.rng.random::<f64>() < spec.pool_share {
                let n = self.pages.pages.len();
                let back = (-self.rng.random::<f64>().max(1e-12).ln() * spec.pool_mean_back)
                    .min((n - 1) as f64) as usize;
                let (start, len) = self.pages.pages[n - 1 - back];
                ids.extend_from_slice(&self.pages.ids[start..start + len.min(room)]);
            } else {
                let len = (self.rng.random_range(lo..=hi) as usize).min(room);
                let start = self.pages.ids.len();
                for _ in 0..len {
                    let id = self.fresh();
                    ids.push(id);
                    self.pages.ids.push(id);
                }
                self.pages.pages.push((start, len));
            }
        }
        self.pages.trim(20 * spec.pool_mean_back.ceil() as usize);
    }

    /// A document for a root of type `k` at `ms`: a live one (with the prompt it came
    /// with) or a newly born one.
    fn document(&mut self, k: usize, ms: u64, prompt: Option<usize>) -> (Vec<u64>, Option<usize>) {
        let cfg = self.cfg;
        let spec = cfg.types[k].document.as_ref().expect("document type");
        let now = ms as f64 / 1000.0;
        if let Some(catalogue) = &spec.catalogue {
            return self.catalogue_document(k, now, catalogue, &spec.tokens);
        }
        // Beyond four time constants a document keeps under 2 % of its pull: forget it.
        let horizon = 4.0 * spec.recency_s;
        self.docs[k].retain(|d| now - d.born_s < horizon);
        if !self.docs[k].is_empty() && self.rng.random::<f64>() < spec.reuse {
            let cum = cumulative(
                self.docs[k]
                    .iter()
                    .map(|d| d.popularity * (-(now - d.born_s) / spec.recency_s).exp()),
            );
            let d = &self.docs[k][pick(&cum, &mut self.rng)];
            return (d.ids.clone(), d.prompt);
        }
        let blocks = spec.tokens.sample(&mut self.rng).div_ceil(BLOCK);
        let ids: Vec<u64> = (0..blocks).map(|_| self.fresh()).collect();
        // Pareto(1, 1.5) popularity: most documents are barely reused, a few are hits.
        let popularity = (1.0 - self.rng.random::<f64>()).powf(-1.0 / 1.5);
        self.docs[k].push(Doc {
            ids: ids.clone(),
            prompt,
            born_s: now,
            popularity,
        });
        (ids, prompt)
    }

    /// A document of the catalogue of `now`'s epoch for a root of type `k`, drawn by
    /// popularity, and the prompt it comes with; its length and prompt come from its own
    /// stream, its ids are minted when it is first used.
    fn catalogue_document(
        &mut self,
        k: usize,
        now: f64,
        catalogue: &Catalogue,
        tokens: &LengthMix,
    ) -> (Vec<u64>, Option<usize>) {
        let epoch = (now / catalogue.epoch_s).floor() as u64;
        if epoch != self.catalogue_epoch {
            // Roots come in time order: an epoch once left never comes back.
            self.catalogue.retain(|key, _| key.1 >= epoch);
            self.catalogue_epoch = epoch;
        }
        let cum = self.catalogue_cum[k].as_ref().expect("a catalogue type");
        let rank = pick(cum, &mut self.rng);
        if let Some((ids, prompt)) = self.catalogue.get(&(k, epoch, rank)) {
            return (ids.clone(), *prompt);
        }
        let stream = [self.cfg.seed, k as u64, epoch, rank as u64]
            .iter()
            .fold(0x646f_6375_6d65_6e74_u64, |h, &x| {
                (h ^ x).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29)
            });
        let root_rng = std::mem::replace(&mut self.rng, ChaCha8Rng::seed_from_u64(stream));
        let prompted = self.rng.random::<f64>() >= self.cfg.types[k].no_prompt;
        let prompt = prompted.then(|| self.prompt(k));
        let blocks = tokens.sample(&mut self.rng).div_ceil(BLOCK);
        self.rng = root_rng;
        let ids: Vec<u64> = (0..blocks).map(|_| self.fresh()).collect();
        self.catalogue
            .insert((k, epoch, rank), (ids.clone(), prompt));
        (ids, prompt)
    }

    #[allow(clippy::too_many_arguments)]
    fn schedule(
        &mut self,
        ms: u64,
        k: usize,
        chat_id: u64,
        turn: u32,
        input: u64,
        output: u64,
        ids: &[u64],
    ) {
        let cfg = self.cfg;
        let ty = &cfg.types[k];
        if turn >= cfg.max_turns {
            return;
        }
        let p = ty.next_turn[(turn as usize - 1).min(ty.next_turn.len() - 1)]
            / (1.0 + (input as f64 / ty.long_context_tokens).powi(2));
        if self.rng.random::<f64>() >= p {
            return;
        }
        let children = 1 + usize::from(self.rng.random::<f64>() < ty.branch);
        for _ in 0..children {
            let z: f64 = StandardNormal.sample(&mut self.rng);
            let median = ty.think.base_s + ty.think.per_output_token_s * output as f64;
            let think = output as f64 / DECODE_TOKENS_PER_S
                + ty.think.floor_s
                + median * (ty.think.sigma * z).exp();
            // At least a millisecond, so the child sorts strictly after its parent.
            let at = ms + ((think * 1000.0).round() as u64).max(1);
            let seed = self.rng.random::<u64>();
            if at >= self.duration_ms {
                continue;
            }
            self.seq += 1;
            self.pending.push(Pending {
                ms: at,
                seq: self.seq,
                seed,
                parent: Parent {
                    chat_id,
                    turn,
                    type_idx: k,
                    input,
                    output,
                    ids: ids.to_vec(),
                },
            });
        }
    }
}

/// Session start times: unit-mean Gamma gaps in operational time, mapped to real time
/// through the swinging, bursting rate.
struct RootArrivals {
    t: f64,
    base: f64,
    shape: ArrivalShape,
    gaps: Gamma<f64>,
    /// (start, end, gain), sorted by start.
    bursts: Vec<(f64, f64, f64)>,
    longest_burst: f64,
    first_live: usize,
}

impl RootArrivals {
    fn new(cfg: &ReferenceConfig, rng: &mut ChaCha8Rng) -> Self {
        let a = cfg.arrivals.clone();
        let mut bursts = Vec::new();
        let per_s = a.bursts_per_hour / 3600.0;
        let mut t = 0.0;
        while per_s > 0.0 && t < cfg.duration_s {
            t += -(1.0 - rng.random::<f64>()).ln() / per_s;
            let len = -(1.0 - rng.random::<f64>()).ln() * a.burst_s;
            let gain = -(1.0 - rng.random::<f64>()).ln() * a.burst_gain;
            bursts.push((t, t + len, gain));
        }
        let longest_burst = bursts.iter().map(|b| b.1 - b.0).fold(0.0, f64::max);
        let k = 1.0 / (a.gap_cv * a.gap_cv);
        RootArrivals {
            t: 0.0,
            base: cfg.session_rate,
            gaps: Gamma::new(k, 1.0 / k).expect("validated gap_cv"),
            shape: a,
            bursts,
            longest_burst,
            first_live: 0,
        }
    }

    fn rate(&mut self, t: f64) -> f64 {
        let a = &self.shape;
        let swing = 1.0
            + a.swing_amplitude
                * (std::f64::consts::TAU * t / a.swing_period_s + a.swing_phase).sin();
        while self.first_live < self.bursts.len()
            && self.bursts[self.first_live].0 + self.longest_burst < t
        {
            self.first_live += 1;
        }
        let gain: f64 = self.bursts[self.first_live..]
            .iter()
            .take_while(|b| b.0 <= t)
            .filter(|b| t < b.1)
            .map(|b| b.2)
            .sum();
        self.base * swing * (1.0 + gain)
    }

    /// The next start, in whole milliseconds.
    fn next_ms(&mut self, rng: &mut ChaCha8Rng) -> u64 {
        let g = self.gaps.sample(rng);
        // Midpoint step of dt = g / rate(t): the rate barely moves within one gap.
        let mid = self.t + 0.5 * g / self.rate(self.t);
        self.t += g / self.rate(mid);
        (self.t * 1000.0).round() as u64
    }
}

/// Drop whole sessions, picked at random, until at most `target` requests remain, then
/// renumber chat ids in order.
fn thin_sessions(requests: Vec<Request>, target: u64, rng: &mut ChaCha8Rng) -> Vec<Request> {
    let n = requests.len();
    if n as u64 <= target {
        return requests;
    }
    // Before thinning, chat ids are indices, and parents come first.
    let mut head = vec![0usize; n];
    let mut size = vec![0u64; n];
    for (i, r) in requests.iter().enumerate() {
        let s = r.session.as_ref().expect("built requests have sessions");
        head[i] = s.parent().map_or(i, |p| head[p as usize]);
        size[head[i]] += 1;
    }
    let mut roots: Vec<usize> = (0..n).filter(|&i| head[i] == i).collect();
    for i in (1..roots.len()).rev() {
        let j = rng.random_range(0..=i);
        roots.swap(i, j);
    }
    let mut keep_session = vec![true; n];
    let mut left = n as u64;
    for r in roots {
        if left == target {
            break;
        }
        if left - size[r] >= target {
            keep_session[r] = false;
            left -= size[r];
        }
    }
    let mut new_id = vec![u64::MAX; n];
    let mut out = Vec::with_capacity(left as usize);
    for (i, mut r) in requests.into_iter().enumerate() {
        if !keep_session[head[i]] {
            continue;
        }
        new_id[i] = out.len() as u64;
        let s = r.session.as_mut().expect("built requests have sessions");
        s.chat_id = new_id[i];
        if let Some(p) = s.parent() {
            s.parent_chat_id = new_id[p as usize] as i64;
        }
        out.push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::TraceStats;
    use std::collections::HashMap;

    fn trace_a(seed: u64, duration_s: f64) -> Trace {
        build(&ReferenceConfig::trace_a_like(seed, duration_s))
    }

    /// Every rule of the brief's sections 2 and 3 that one record or one pair can break.
    fn assert_invariants(trace: &Trace, config: &ReferenceConfig) {
        assert_eq!(trace.format, Format::Bailian);
        assert_eq!(trace.block_size, Some(16));
        assert!(!trace.requests.is_empty());
        let tail_fill: HashMap<u64, u32> = config.tails.iter().map(|t| (t.id, t.fill)).collect();
        // Tokens in the block each id stands for: one fill per id.
        let mut fill: HashMap<u64, u64> = HashMap::new();
        let mut prev = f64::NEG_INFINITY;
        for (i, r) in trace.requests.iter().enumerate() {
            let s = r.session.as_ref().unwrap();
            let ids = r.ids();
            assert!(!ids.is_empty(), "record {i}: empty hash_ids");
            assert_eq!(ids.len() as u64, r.input_length.div_ceil(16), "record {i}");
            assert!(ids.iter().all(|&id| id < MAX_HASH_ID));
            assert!(r.output_length >= 1);
            assert!(r.timestamp >= prev, "record {i}: not sorted");
            assert!(r.timestamp < config.duration_s);
            assert_eq!(
                (r.timestamp * 1000.0).round() / 1000.0,
                r.timestamp,
                "millisecond precision"
            );
            prev = r.timestamp;
            assert_eq!(s.chat_id, i as u64, "chat ids sequential in arrival order");
            match s.parent() {
                None => assert_eq!(s.turn, 1),
                Some(p) => {
                    assert!(p < s.chat_id, "record {i}: parent not earlier");
                    let parent = &trace.requests[p as usize];
                    let ps = parent.session.as_ref().unwrap();
                    assert_eq!(s.turn, ps.turn + 1);
                    assert!(parent.timestamp < r.timestamp);
                    // Context growth and block inheritance.
                    assert!(r.input_length > parent.input_length + parent.output_length);
                    let kept = parent.ids().len() - 1;
                    assert_eq!(&ids[..kept], &parent.ids()[..kept], "record {i}");
                }
            }
            let last = ids.len() - 1;
            for (j, &id) in ids.iter().enumerate() {
                let f = if j == last {
                    (r.input_length - 1) % 16 + 1
                } else {
                    16
                };
                let seen = *fill.entry(id).or_insert(f);
                assert_eq!(seen, f, "record {i}: id {id} with fills {seen} and {f}");
                if let Some(&tf) = tail_fill.get(&id) {
                    assert_eq!((j, u64::from(tf)), (last, f), "record {i}: tail {id}");
                }
            }
        }
    }

    #[test]
    fn trace_a_like_obeys_every_rule() {
        let config = ReferenceConfig::trace_a_like(7, 1800.0);
        assert_invariants(&build(&config), &config);
    }

    #[test]
    fn api_like_obeys_every_rule_and_has_an_exact_count() {
        let config = ReferenceConfig::api_like(3, 300.0);
        let trace = build(&config);
        assert_invariants(&trace, &config);
        assert_eq!(trace.requests.len(), 7200);
        assert!(trace.requests.iter().all(|r| {
            let s = r.session.as_ref().unwrap();
            s.is_root() && s.turn == 1
        }));
    }

    #[test]
    fn check_finds_nothing_in_the_written_trace() {
        use crate::trace::{Format, writer_for};
        for config in [
            ReferenceConfig::trace_a_like(11, 900.0),
            ReferenceConfig::api_like(11, 120.0),
        ] {
            let trace = build(&config);
            let file = tempfile::NamedTempFile::new().unwrap();
            {
                let out = std::io::BufWriter::new(file.reopen().unwrap());
                let mut w = writer_for(Format::Bailian, out, Some(16)).unwrap();
                for r in &trace.requests {
                    w.write(r).unwrap();
                }
                w.flush().unwrap();
            }
            let path = file.path().to_str().unwrap();
            let report = crate::check::check_file(path, None).unwrap();
            assert_eq!(report.format, Format::Bailian);
            assert_eq!(report.records, trace.requests.len() as u64);
            assert!(report.clean, "{:?}", report.violations);
        }
    }

    #[test]
    fn one_seed_one_trace() {
        let a = trace_a(5, 600.0);
        assert_eq!(a.requests, trace_a(5, 600.0).requests);
        assert_ne!(a.requests, trace_a(6, 600.0).requests);
    }

    #[test]
    fn trace_a_like_lands_near_the_published_figures() {
        let config = ReferenceConfig::trace_a_like(1, 3600.0);
        let trace = build(&config);
        let s = TraceStats::compute(&trace);
        let rate = s.rate.unwrap();
        assert!((4.5..7.5).contains(&rate), "rate {rate}");
        let sessions = s.sessions.as_ref().unwrap();
        let follow = sessions.follow_up_share;
        assert!((0.35..0.55).contains(&follow), "follow-ups {follow}");
        let single = sessions.single_request_share.unwrap();
        assert!(
            (0.5..0.7).contains(&single),
            "single-request sessions {single}"
        );
        let gap = sessions.parent_child_gap.unwrap();
        assert!((60.0..180.0).contains(&gap.p50), "gap p50 {}", gap.p50);
        assert!((350.0..1100.0).contains(&gap.p90), "gap p90 {}", gap.p90);
        let hit = s.cache.as_ref().unwrap().ideal_hit_ratio.unwrap();
        assert!((0.4..0.75).contains(&hit), "ideal hit ratio {hit}");
        let input = s.input.unwrap();
        assert!((1500.0..3200.0).contains(&input.mean), "input {input:?}");
        let output = s.output.unwrap();
        assert!((330.0..530.0).contains(&output.mean), "output {output:?}");

        // Roots follow the configured mix; all requests the published one.
        let total: f64 = config.types.iter().map(|t| t.root_weight).sum();
        let roots: Vec<&Request> = trace
            .requests
            .iter()
            .filter(|r| r.session.as_ref().unwrap().is_root())
            .collect();
        let types = s.types.as_ref().unwrap();
        for (t, published) in config.types.iter().zip([0.737, 0.19, 0.038, 0.035]) {
            let n = roots
                .iter()
                .filter(|r| r.req_type() == Some(&t.name))
                .count();
            let share = n as f64 / roots.len() as f64;
            let want = t.root_weight / total;
            assert!((share - want).abs() < 0.02, "{} roots {share}", t.name);
            let all = types[&t.name].share;
            assert!((all - published).abs() < 0.05, "{} share {all}", t.name);
        }
    }

    #[test]
    fn api_like_has_no_sessions_and_hot_prompts() {
        let config = ReferenceConfig::api_like(2, 600.0);
        let s = TraceStats::compute(&build(&config));
        assert_eq!(s.requests, 14_400);
        assert_eq!(s.sessions.as_ref().unwrap().follow_up_share, 0.0);
        let c = s.cache.as_ref().unwrap();
        let hit = c.ideal_hit_ratio.unwrap();
        assert!((0.4..0.7).contains(&hit), "ideal hit ratio {hit}");
        // The hits come from a few prompts: almost no new block is ever reused.
        let reused = c.new_block_hit_share.unwrap();
        assert!(reused < 0.08, "new blocks reused {reused}");
        let api = s.types.as_ref().unwrap()["api"].share;
        assert!((api - 0.873).abs() < 0.02, "api share {api}");
        let cv = s.arrivals.inter_arrival_cv.unwrap();
        assert!((1.05..1.6).contains(&cv), "inter-arrival CV {cv}");
    }

    #[test]
    fn the_structures_of_the_real_excerpt_occur() {
        let config = ReferenceConfig::trace_a_like(3, 1800.0);
        let trace = build(&config);
        let n = trace.requests.len() as f64;
        let tails: Vec<u64> = config.tails.iter().map(|t| t.id).collect();
        let ending_in_tail = trace
            .requests
            .iter()
            .filter(|r| tails.contains(r.ids().last().unwrap()))
            .count();
        assert!(ending_in_tail as f64 / n > 0.1, "{ending_in_tail} tails");

        let repeats = trace
            .requests
            .iter()
            .filter(|r| {
                let mut ids = r.ids().to_vec();
                ids.sort_unstable();
                ids.windows(2).any(|w| w[0] == w[1])
            })
            .count();
        assert!(repeats > 20, "{repeats} requests with a repeated block");

        // Search requests carry blocks first seen in another session, outside any
        // prefix (the pool of pages).
        let mut first_session: HashMap<u64, usize> = HashMap::new();
        let mut head = vec![0usize; trace.requests.len()];
        let mut borrowing = 0;
        for (i, r) in trace.requests.iter().enumerate() {
            let s = r.session.as_ref().unwrap();
            head[i] = s.parent().map_or(i, |p| head[p as usize]);
            let mut borrowed = false;
            for &id in r.ids() {
                let owner = *first_session.entry(id).or_insert(head[i]);
                borrowed |= owner != head[i] && id >= config.fresh_id_base;
            }
            if borrowed && s.req_type == "search" {
                borrowing += 1;
            }
        }
        assert!(borrowing > 50, "{borrowing} search requests borrow blocks");

        // The prompt tree: the search prompt extends the short text prompt.
        let search_short = trace.requests.iter().any(|r| {
            r.req_type() == Some("search") && r.ids().starts_with(&[1089, 1090, 1091, 1092])
        });
        assert!(search_short);
    }

    #[test]
    fn documents_are_shared_across_sessions_for_a_while() {
        let config = ReferenceConfig::trace_a_like(4, 3600.0);
        let trace = build(&config);
        // A file root's blocks after the prompt that another session's file root
        // starts with: a reused document.
        let mut seen: HashMap<u64, f64> = HashMap::new();
        let mut reuse_gaps = Vec::new();
        for r in &trace.requests {
            let s = r.session.as_ref().unwrap();
            if !s.is_root() || s.req_type != "file" {
                continue;
            }
            let Some(&first) = r.ids().iter().find(|&&id| id >= config.fresh_id_base) else {
                continue;
            };
            if let Some(t) = seen.insert(first, r.timestamp) {
                reuse_gaps.push(r.timestamp - t);
            }
        }
        assert!(
            reuse_gaps.len() > 20,
            "{} reused documents",
            reuse_gaps.len()
        );
        reuse_gaps.sort_unstable_by(f64::total_cmp);
        let median = reuse_gaps[reuse_gaps.len() / 2];
        assert!(median < 3.0 * 900.0, "documents fade: median gap {median}");
    }

    /// Roots of `ty` and the share of them whose first fresh block (a document's, or
    /// their own content's) another root of the type starts with too.
    fn shared_openings(trace: &Trace, config: &ReferenceConfig, ty: &str) -> (usize, f64) {
        let mut uses: HashMap<u64, usize> = HashMap::new();
        let mut roots = 0;
        for r in &trace.requests {
            let s = r.session.as_ref().unwrap();
            if !s.is_root() || s.req_type != ty {
                continue;
            }
            roots += 1;
            if let Some(&first) = r.ids().iter().find(|&&id| id >= config.fresh_id_base) {
                *uses.entry(first).or_default() += 1;
            }
        }
        let shared: usize = uses.values().filter(|&&n| n >= 2).sum();
        (roots, shared as f64 / roots.max(1) as f64)
    }

    #[test]
    fn a_catalogue_is_shared_more_by_more_users() {
        let one = ReferenceConfig::documents(3, 3600.0);
        let four = one.clone().with_users(4.0);
        assert_eq!(four.session_rate, 4.0 * one.session_rate);
        assert_eq!(four.types, one.types);
        let (small, large) = (build(&one), build(&four));
        assert_invariants(&small, &one);
        assert_invariants(&large, &four);
        assert_eq!(build(&one).requests, small.requests, "deterministic");
        for ty in ["search", "file"] {
            let (roots_1, shared_1) = shared_openings(&small, &one, ty);
            let (roots_4, shared_4) = shared_openings(&large, &four, ty);
            let ratio = roots_4 as f64 / roots_1 as f64;
            assert!(
                (3.0..5.0).contains(&ratio),
                "{ty}: {roots_1} -> {roots_4} roots"
            );
            // The same catalogue, four times the draws: more of them meet another.
            assert!(
                shared_4 > shared_1 + 0.1,
                "{ty}: shared openings {shared_1:.3} at 1x, {shared_4:.3} at 4x"
            );
        }
    }

    #[test]
    fn live_documents_are_shared_alike_by_more_users() {
        // The trace-A-like preset's documents are born with a fixed reuse probability, so
        // more users bring more documents, each as shared: the contrast the documents
        // preset is built to show.
        let one = ReferenceConfig::trace_a_like(3, 1800.0);
        let four = one.clone().with_users(4.0);
        let (_, shared_1) = shared_openings(&build(&one), &one, "search");
        let (_, shared_4) = shared_openings(&build(&four), &four, "search");
        assert!(
            (shared_4 - shared_1).abs() < 0.1,
            "{shared_1:.3} at 1x, {shared_4:.3} at 4x"
        );
    }

    #[test]
    fn a_bad_catalogue_is_refused() {
        let good = ReferenceConfig::documents(1, 60.0);
        assert_eq!(good.validate(), Ok(()));
        for bad in [
            |c: &mut Catalogue| c.size = 0,
            |c: &mut Catalogue| c.zipf = f64::NAN,
            |c: &mut Catalogue| c.epoch_s = 0.0,
        ] {
            let mut config = good.clone();
            bad(config.types[1]
                .document
                .as_mut()
                .unwrap()
                .catalogue
                .as_mut()
                .unwrap());
            assert!(config.validate().is_err());
        }
        assert!(good.with_users(0.0).validate().is_err());
    }

    #[test]
    fn a_steady_rate_without_bursts_builds() {
        let mut config = ReferenceConfig::trace_a_like(2, 600.0);
        config.arrivals.bursts_per_hour = 0.0;
        config.arrivals.swing_amplitude = 0.0;
        let trace = build(&config);
        assert_invariants(&trace, &config);
        let rate = trace.requests.len() as f64 / 600.0;
        assert!((3.0..8.0).contains(&rate), "rate {rate}");
    }

    #[test]
    fn a_bad_config_is_refused() {
        let good = ReferenceConfig::trace_a_like(1, 60.0);
        assert_eq!(good.validate(), Ok(()));
        let mut c = good.clone();
        c.tails[0].fill = 0;
        assert!(c.validate().is_err());
        let mut c = good.clone();
        c.tails[1].id = 3; // a prompt block
        assert!(c.validate().is_err());
        let mut c = good.clone();
        c.prompts[1].parent = Some(4);
        assert!(c.validate().is_err());
        let mut c = good.clone();
        c.arrivals.swing_amplitude = 1.0;
        assert!(c.validate().is_err());
        let mut c = good.clone();
        c.types[0].prompts.push(99);
        assert!(c.validate().is_err());
        let mut c = good.clone();
        c.types[0].prompt_pool.as_mut().unwrap().count = 0;
        assert!(c.validate().is_err());
        let mut c = good.clone();
        c.types[0].long_context_tokens = 0.0;
        assert!(c.validate().is_err());
        let mut c = good;
        c.types[1].think.floor_s = -1.0;
        assert!(c.validate().is_err());
    }

    /// Text roots by the prompt they open with: the first id of a pool prompt is a fresh
    /// id, of a named prompt a reserved one.
    fn pool_prompt_roots(trace: &Trace, config: &ReferenceConfig) -> HashMap<u64, usize> {
        let mut uses = HashMap::new();
        for r in &trace.requests {
            let s = r.session.as_ref().unwrap();
            let first = r.ids()[0];
            if s.is_root() && s.req_type == "text" && first >= config.fresh_id_base {
                *uses.entry(first).or_insert(0) += 1;
            }
        }
        uses
    }

    #[test]
    fn pool_prompts_form_a_long_tail() {
        let config = ReferenceConfig::trace_a_like(5, 3600.0);
        let trace = build(&config);
        let uses = pool_prompt_roots(&trace, &config);
        let mut counts: Vec<usize> = uses.values().copied().collect();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        // A few popular prompts and very many rare ones.
        assert!(counts.len() > 300, "{} pool prompts in use", counts.len());
        assert!(counts[0] > 20 * counts[counts.len() / 2], "{counts:?}");
        // A prompt always stands for the same run of ids.
        let mut first_run: HashMap<u64, Vec<u64>> = HashMap::new();
        for r in &trace.requests {
            let s = r.session.as_ref().unwrap();
            let ids = r.ids();
            if s.is_root() && uses.get(&ids[0]).is_some_and(|&n| n > 5) {
                let run = first_run.entry(ids[0]).or_insert_with(|| ids.to_vec());
                let common = run.iter().zip(ids).take_while(|(a, b)| a == b).count();
                run.truncate(common);
                assert!(!run.is_empty());
            }
        }
        // No pool, no pool prompts.
        let mut without = config.clone();
        without.types[0].prompt_pool = None;
        without.types[0].document = None;
        without.types[0].no_prompt = 0.0;
        assert!(pool_prompt_roots(&build(&without), &without).is_empty());
    }

    #[test]
    fn follow_ups_wait_at_least_the_floor() {
        let config = ReferenceConfig::trace_a_like(6, 1800.0);
        let trace = build(&config);
        let mut n = 0;
        for r in &trace.requests {
            let s = r.session.as_ref().unwrap();
            let Some(p) = s.parent() else { continue };
            let parent = &trace.requests[p as usize];
            let ty = config
                .types
                .iter()
                .find(|t| t.name == parent.session.as_ref().unwrap().req_type)
                .unwrap();
            let floor = ty.think.floor_s + parent.output_length as f64 / DECODE_TOKENS_PER_S;
            assert!(
                r.timestamp - parent.timestamp >= floor - 0.002,
                "record {p}"
            );
            n += 1;
        }
        assert!(n > 1000, "{n} follow-ups");
    }

    #[test]
    fn long_contexts_continue_less() {
        let config = ReferenceConfig::trace_a_like(8, 3600.0);
        let trace = build(&config);
        let mut has_child = vec![false; trace.requests.len()];
        for r in &trace.requests {
            if let Some(p) = r.session.as_ref().unwrap().parent() {
                has_child[p as usize] = true;
            }
        }
        let text = &config.types[0];
        let share = |short: bool| {
            let picked: Vec<bool> = trace
                .requests
                .iter()
                .enumerate()
                .filter(|(_, r)| {
                    let s = r.session.as_ref().unwrap();
                    s.req_type == "text"
                        && s.turn == 1
                        && (r.input_length as f64 <= text.long_context_tokens / 4.0) == short
                        && (r.input_length as f64 >= 2.0 * text.long_context_tokens || short)
                })
                .map(|(i, _)| has_child[i])
                .collect();
            picked.iter().filter(|&&c| c).count() as f64 / picked.len() as f64
        };
        let (short, long) = (share(true), share(false));
        // 1 / (1 + (1/4)^2) against at most 1 / (1 + 2^2) of the same probability.
        assert!(long < 0.4 * short, "short {short}, long {long}");
    }

    #[test]
    fn a_content_knob_does_not_move_the_session_starts() {
        let config = ReferenceConfig::trace_a_like(4, 1200.0);
        let mut other = config.clone();
        other.types[3].output.median *= 1.5;
        other.types[1].document.as_mut().unwrap().reuse = 0.2;
        let starts = |c: &ReferenceConfig| -> Vec<f64> {
            build(c)
                .requests
                .iter()
                .filter(|r| r.session.as_ref().unwrap().is_root())
                .map(|r| r.timestamp)
                .collect()
        };
        assert_eq!(starts(&config), starts(&other));
        // The text sessions that open without a document stay as they were.
        let texts = |c: &ReferenceConfig| -> Vec<(f64, u64, u64)> {
            build(c)
                .requests
                .iter()
                .filter(|r| {
                    let s = r.session.as_ref().unwrap();
                    s.is_root() && s.req_type == "text"
                })
                .map(|r| (r.timestamp, r.input_length, r.output_length))
                .collect()
        };
        let (a, b) = (texts(&config), texts(&other));
        let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
        assert!(same as f64 > 0.95 * a.len() as f64, "{same} of {}", a.len());
    }

    #[test]
    fn popular_search_results_are_shared_whole() {
        let config = ReferenceConfig::trace_a_like(2, 3600.0);
        let trace = build(&config);
        // Search roots that start with the same first fresh block after the prompt share
        // the query and its results: a long common prefix.
        let mut by_first: HashMap<u64, Vec<&[u64]>> = HashMap::new();
        for r in &trace.requests {
            let s = r.session.as_ref().unwrap();
            if !s.is_root() || s.req_type != "search" {
                continue;
            }
            if let Some(&first) = r.ids().iter().find(|&&id| id >= config.fresh_id_base) {
                by_first.entry(first).or_default().push(r.ids());
            }
        }
        let shared: Vec<usize> = by_first
            .values()
            .filter(|v| v.len() > 1)
            .map(|v| v[0].iter().zip(v[1]).take_while(|(a, b)| a == b).count())
            .collect();
        assert!(shared.len() > 50, "{} popular queries", shared.len());
        let mut sorted = shared.clone();
        sorted.sort_unstable();
        assert!(
            sorted[sorted.len() / 2] > 100,
            "median shared blocks {sorted:?}"
        );
    }

    #[test]
    fn thinning_drops_whole_sessions() {
        let config = ReferenceConfig::trace_a_like(9, 600.0);
        let full = build(&config);
        let target = full.requests.len() as u64 * 2 / 3;
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let thinned = thin_sessions(full.requests.clone(), target, &mut rng);
        assert!(thinned.len() as u64 <= target);
        assert!(thinned.len() as u64 > target - 10);
        let t = Trace {
            requests: thinned,
            ..full
        };
        let stats = TraceStats::compute(&t);
        assert_eq!(stats.sessions.unwrap().orphans, 0);
        for (i, r) in t.requests.iter().enumerate() {
            assert_eq!(r.session.as_ref().unwrap().chat_id, i as u64);
        }
    }
}
