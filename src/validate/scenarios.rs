//! Hard-case traces for the robustness scenario: shapes that none of the vendored traces
//! has and that break a fit tuned to them.
//!
//! - **Agentic chains**: a next turn with probability 0.9 for up to 30 turns, seconds of
//!   think time, a long context that grows every turn, short outputs that get shorter as
//!   the context grows (input and output negatively correlated).
//! - **Heavy sharing**: most of every request comes from a small pool of popular system
//!   prompts and documents, then a fresh tail or none (requests made only of shared
//!   blocks, ending in a partial block); a few short conversations; no session fields.
//! - **Cold and warm starts**: a process that starts at t = 0, or a window cut from a
//!   process that has been running, so chains are in flight at t = 0 and their parents
//!   are missing from the file.
//!
//! The traces are built from token *content* (segments of prompts, documents, outputs
//! and fresh user text), not from the model's own structure: a block's id is the
//! interned hash of its content and of the block before it (Mooncake's prefix ids), so
//! inheritance, shared prefixes and partial last blocks come out of the content as they
//! do in a real engine. Each session draws from its own ChaCha stream, so the traces are
//! deterministic from the seed.

use std::collections::HashMap;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::fit::prepared::{PREFIX_SEED, mix};
use crate::trace::{BAILIAN_BLOCK, Format, MOONCAKE_BLOCK, Request, Session, Trace};

/// What the sessions look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Long tool-using chains (next-turn probability 0.9, up to 30 turns).
    Agentic,
    /// Popular prompts and documents shared across requests, short conversations.
    Shared,
}

/// How the window relates to the process that produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The process starts at the first timestamp: no session in flight at t = 0.
    Cold,
    /// A window cut from a process running for [`WARM_UP_S`] before it.
    Warm,
}

/// Seconds a warm process runs before its window opens: many times the longest chain
/// (30 turns of seconds each, or a few turns of a minute).
pub const WARM_UP_S: f64 = 1800.0;

/// Everything that shapes a scenario trace.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioConfig {
    pub kind: Kind,
    pub start: Start,
    /// Bailian (16-token blocks, session fields) or Mooncake (512-token blocks, none).
    pub format: Format,
    pub seed: u64,
    pub seconds: f64,
    /// Relative change of the session rate from the window's start to its end: 0 is
    /// flat, 1 doubles it (the rate then runs from 2/3 to 4/3 of its mean).
    pub trend: f64,
}

/// A named scenario trace, as the robustness suite lists them.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub key: &'static str,
    pub title: &'static str,
    pub config: ScenarioConfig,
}

/// Length of the scenario traces in the robustness suite: two hours, so the 60-minute
/// window has a middle cut too.
pub const SCENARIO_SECONDS: f64 = 7200.0;

/// The hard cases the robustness suite runs, all from `seed`.
pub fn presets(seed: u64, seconds: f64) -> Vec<Scenario> {
    let c = |kind, start, format, trend| ScenarioConfig {
        kind,
        start,
        format,
        seed,
        seconds,
        trend,
    };
    vec![
        Scenario {
            key: "agentic-bailian",
            title: "Agentic chains, Bailian, cold start",
            config: c(Kind::Agentic, Start::Cold, Format::Bailian, 0.0),
        },
        Scenario {
            key: "agentic-mooncake",
            title: "Agentic chains, Mooncake (no session fields), cold start",
            config: c(Kind::Agentic, Start::Cold, Format::Mooncake, 0.0),
        },
        Scenario {
            key: "agentic-warm",
            title: "Agentic chains, Mooncake, warm start (chains in flight at t = 0)",
            config: c(Kind::Agentic, Start::Warm, Format::Mooncake, 0.0),
        },
        Scenario {
            key: "shared-mooncake",
            title: "Heavy cross-request sharing, Mooncake (no session fields), cold start",
            config: c(Kind::Shared, Start::Cold, Format::Mooncake, 0.0),
        },
        Scenario {
            key: "shared-trend",
            title: "Heavy sharing, Mooncake, warm start, session rate doubling over the span",
            config: c(Kind::Shared, Start::Warm, Format::Mooncake, 1.0),
        },
    ]
}

/// One run of tokens. Shared segments (prompts, documents) have small ids and recur;
/// fresh ones (a user's text, an answer) are unique to one request.
#[derive(Debug, Clone, Copy)]
struct Segment {
    id: u64,
    tokens: u64,
}

/// Fresh segment ids start here, far above every shared one.
const FRESH: u64 = 1 << 40;

/// One request before it is rendered into a format.
struct Draft {
    t: f64,
    segments: Vec<Segment>,
    output: u64,
    /// Index of the parent in the process's draft list.
    parent: Option<usize>,
    turn: u32,
    ty: &'static str,
    /// Session and turn: the order of ties.
    key: (u64, u32),
}

impl Draft {
    fn input(&self) -> u64 {
        self.segments.iter().map(|s| s.tokens).sum()
    }
}

/// Build the trace `config` describes. Deterministic: the same config gives the same
/// trace.
pub fn build(config: &ScenarioConfig) -> Trace {
    let mut trace = build_with_sessions(config);
    if config.format == Format::Mooncake {
        // Mooncake files carry no session fields: the fit has to infer them.
        for r in &mut trace.requests {
            r.session = None;
        }
    }
    trace
}

/// [`build`]'s trace with every request's true session attached, Mooncake formats
/// included: chat ids number the process's requests (warm-up ones too), so a follow-up
/// whose parent came before the window names a chat id the trace does not hold. The
/// ground truth that lineage inference on the Mooncake presets is measured against
/// (`examples/lineage.rs`); fitted as is, the trace gives the fit its true sessions.
pub fn build_with_sessions(config: &ScenarioConfig) -> Trace {
    let warm_up = match config.start {
        Start::Cold => 0.0,
        Start::Warm => WARM_UP_S,
    };
    let mut drafts = match config.kind {
        Kind::Agentic => process(config, warm_up, &AGENTIC),
        Kind::Shared => process(config, warm_up, &SHARED),
    };
    drafts.sort_by(|a, b| a.t.total_cmp(&b.t).then(a.key.cmp(&b.key)));
    render(config, &drafts)
}

/// The knobs of one kind of session.
struct Profile {
    /// Session starts per second (mean over the window).
    session_rate: f64,
    /// Probability of a next turn after each turn.
    next_turn: f64,
    max_turns: u32,
    /// System prompts: token lengths, drawn with Zipf weights by rank.
    prompts: &'static [u64],
    prompt_zipf: f64,
    /// Probability a request carries a prompt at all.
    prompt_share: f64,
    /// Documents: how many, median length, Zipf exponent, probability a root has one.
    documents: u64,
    document_median: f64,
    document_zipf: f64,
    document_share: f64,
    /// Fresh user text of a root and of a follow-up (log-normal median, sigma).
    root_text: (f64, f64),
    follow_text: (f64, f64),
    /// Probability a root has no fresh text at all (made only of shared blocks).
    no_text: f64,
    /// Output: median at a 2,000-token input, its power in the input, sigma.
    output_median: f64,
    output_power: f64,
    output_sigma: f64,
    /// Think time: log-normal median and sigma, plus the answer's decode time.
    think: (f64, f64),
    decode_tokens_per_s: f64,
    ty_root: &'static str,
    ty_follow: &'static str,
}

static AGENTIC: Profile = Profile {
    session_rate: 0.15,
    next_turn: 0.9,
    max_turns: 30,
    prompts: &[1_520, 2_630, 4_090, 6_170],
    prompt_zipf: 0.8,
    prompt_share: 1.0,
    documents: 0,
    document_median: 0.0,
    document_zipf: 0.0,
    document_share: 0.0,
    root_text: (400.0, 0.9),
    follow_text: (250.0, 1.0),
    no_text: 0.0,
    output_median: 110.0,
    output_power: -0.5,
    output_sigma: 0.6,
    think: (2.5, 0.8),
    decode_tokens_per_s: 60.0,
    ty_root: "agent",
    ty_follow: "tool",
};

static SHARED: Profile = Profile {
    session_rate: 1.05,
    next_turn: 0.25,
    max_turns: 6,
    prompts: &[
        310, 620, 905, 1_190, 1_480, 1_777, 2_050, 2_333, 2_610, 2_890, 3_004, 450,
    ],
    prompt_zipf: 1.2,
    prompt_share: 0.95,
    documents: 300,
    document_median: 3_000.0,
    document_zipf: 1.1,
    document_share: 0.7,
    root_text: (150.0, 1.2),
    follow_text: (60.0, 1.0),
    no_text: 0.12,
    output_median: 200.0,
    output_power: 0.0,
    output_sigma: 0.9,
    think: (30.0, 1.0),
    decode_tokens_per_s: 40.0,
    ty_root: "text",
    ty_follow: "text",
};

/// Shared segment ids: prompts from 1, documents from 10,000.
const PROMPT_BASE: u64 = 1;
const DOCUMENT_BASE: u64 = 10_000;

/// Every request of a process run from `-warm_up` to `seconds`.
fn process(config: &ScenarioConfig, warm_up: f64, p: &Profile) -> Vec<Draft> {
    let mut rng = ChaCha8Rng::seed_from_u64(mix(config.seed, 0x7363_656e));
    let prompt_cdf = zipf_cdf(p.prompts.len(), p.prompt_zipf);
    let document_cdf = zipf_cdf(p.documents as usize, p.document_zipf);
    // Document lengths are part of the content, fixed per seed.
    let documents: Vec<u64> = (0..p.documents)
        .map(|_| lognormal(&mut rng, p.document_median, 0.8).clamp(200.0, 30_000.0) as u64)
        .collect();
    let mut drafts = Vec::new();
    let mut t = -warm_up;
    let mut session = 0u64;
    // Sessions start by a Poisson process thinned to the trend's rate, whose peak is
    // `peak` times the mean.
    let peak = 1.0 + config.trend.abs() / (2.0 + config.trend.abs());
    loop {
        t += exp(&mut rng) / (p.session_rate * peak);
        if t >= config.seconds {
            break;
        }
        if rng.random::<f64>() * peak > trend_factor(config, t) {
            continue;
        }
        let mut s = ChaCha8Rng::seed_from_u64(mix(config.seed, session));
        let mut segments = Vec::new();
        if s.random::<f64>() < p.prompt_share {
            let k = pick(&prompt_cdf, s.random());
            segments.push(Segment {
                id: PROMPT_BASE + k as u64,
                tokens: p.prompts[k],
            });
        }
        if !documents.is_empty() && s.random::<f64>() < p.document_share {
            let k = pick(&document_cdf, s.random());
            segments.push(Segment {
                id: DOCUMENT_BASE + k as u64,
                tokens: documents[k],
            });
        }
        let fresh = |turn: u32, part: u64| FRESH + (session << 8 | u64::from(turn) << 1 | part);
        if segments.is_empty() || s.random::<f64>() >= p.no_text {
            let (m, sd) = p.root_text;
            segments.push(Segment {
                id: fresh(1, 0),
                tokens: (lognormal(&mut s, m, sd) as u64).clamp(1, 20_000),
            });
        }
        let mut at = t;
        let mut parent = None;
        for turn in 1..=p.max_turns {
            let input: u64 = segments.iter().map(|x| x.tokens).sum();
            let median = p.output_median * (input as f64 / 2000.0).powf(p.output_power);
            let output = (lognormal(&mut s, median, p.output_sigma) as u64).clamp(1, 8_000);
            if at >= config.seconds {
                break;
            }
            drafts.push(Draft {
                t: (at * 1000.0).round() / 1000.0,
                segments: segments.clone(),
                output,
                parent,
                turn,
                ty: if turn == 1 { p.ty_root } else { p.ty_follow },
                key: (session, turn),
            });
            parent = Some(drafts.len() - 1);
            if s.random::<f64>() >= p.next_turn {
                break;
            }
            let (m, sd) = p.think;
            at += 0.05 + lognormal(&mut s, m, sd) + output as f64 / p.decode_tokens_per_s;
            // The answer becomes context, then the next user or tool text.
            segments.push(Segment {
                id: fresh(turn, 1),
                tokens: output,
            });
            let (m, sd) = p.follow_text;
            segments.push(Segment {
                id: fresh(turn + 1, 0),
                tokens: (lognormal(&mut s, m, sd) as u64).clamp(1, 20_000),
            });
        }
        session += 1;
    }
    drafts
}

/// The session rate at `t`, relative to its mean over the window.
fn trend_factor(config: &ScenarioConfig, t: f64) -> f64 {
    let k = config.trend;
    if k == 0.0 {
        return 1.0;
    }
    // Linear from 1 to 1 + k across the window, scaled to mean 1; the warm-up runs at
    // the window's opening rate.
    let x = (t / config.seconds).clamp(0.0, 1.0);
    (1.0 + k * x) / (1.0 + k / 2.0)
}

/// Turn the drafts in the window into requests of the config's format: ids from the
/// content, session fields for Bailian.
fn render(config: &ScenarioConfig, drafts: &[Draft]) -> Trace {
    let bailian = config.format != Format::Mooncake;
    let block = u64::from(if bailian {
        BAILIAN_BLOCK
    } else {
        MOONCAKE_BLOCK
    });
    // Index of every draft in the sorted list, to find parents.
    let mut position: HashMap<(u64, u32), usize> = HashMap::with_capacity(drafts.len());
    for (i, d) in drafts.iter().enumerate() {
        position.insert(d.key, i);
    }
    let mut interned: HashMap<u64, u64> = HashMap::new();
    let mut ids: Vec<Vec<u64>> = Vec::with_capacity(drafts.len());
    let mut parents = Vec::with_capacity(drafts.len());
    for d in drafts {
        let parent = d.parent.map(|_| position[&(d.key.0, d.turn - 1)]);
        // A follow-up's context starts with its parent's content, so its leading full
        // blocks are the parent's (all but the last, which the answer may fill).
        let kept = parent.map_or(0, |p| ids[p].len().saturating_sub(1));
        let mut own = Vec::with_capacity(d.input().div_ceil(block) as usize);
        if let Some(p) = parent {
            own.extend_from_slice(&ids[p][..kept]);
        }
        extend_ids(&d.segments, block, kept, &mut own, &mut interned);
        ids.push(own);
        parents.push(parent);
    }
    let mut requests = Vec::new();
    for (i, (d, own)) in drafts.iter().zip(ids).enumerate() {
        if d.t < 0.0 {
            continue;
        }
        requests.push(Request {
            timestamp: d.t,
            input_length: d.input(),
            output_length: d.output,
            hash_ids: Some(own),
            session: Some(Session {
                chat_id: i as u64,
                parent_chat_id: parents[i].map_or(-1, |p| p as i64),
                turn: d.turn,
                req_type: d.ty.to_string(),
            }),
        });
    }
    // A file starts its clock at its own first request, whether the process started
    // with it (cold) or long before (a window cut from a running service).
    if let Some(first) = requests.first().map(|r| r.timestamp) {
        for r in &mut requests {
            r.timestamp = ((r.timestamp - first) * 1000.0).round() / 1000.0;
        }
    }
    // Ids in the order they first appear in the window, from 0, as real files number
    // them. Interned ids are dense, so a table maps them.
    let mut renumber: Vec<u64> = vec![u64::MAX; interned.len()];
    let mut next = 0u64;
    for r in &mut requests {
        for id in r.hash_ids.as_mut().into_iter().flatten() {
            let slot = &mut renumber[*id as usize];
            if *slot == u64::MAX {
                *slot = next;
                next += 1;
            }
            *id = *slot;
        }
    }
    Trace {
        format: if bailian {
            Format::Bailian
        } else {
            Format::Mooncake
        },
        block_size: Some(block as u32),
        requests,
    }
}

/// Append the ids of blocks `from..` of `segments`' content. A block's id stands for its
/// content (the pieces of segments it holds) and for the block before it.
fn extend_ids(
    segments: &[Segment],
    block: u64,
    from: usize,
    ids: &mut Vec<u64>,
    interned: &mut HashMap<u64, u64>,
) {
    let total: u64 = segments.iter().map(|s| s.tokens).sum();
    let blocks = total.div_ceil(block) as usize;
    // Segment holding token `from * block`, and the offset into it.
    let mut seg = 0;
    let mut start = 0u64;
    let skip = from as u64 * block;
    while seg < segments.len() && start + segments[seg].tokens <= skip {
        start += segments[seg].tokens;
        seg += 1;
    }
    let mut offset = skip - start;
    for b in from..blocks {
        let mut h = mix(PREFIX_SEED, b.checked_sub(1).map_or(u64::MAX, |k| ids[k]));
        let mut room = block;
        while room > 0 && seg < segments.len() {
            let take = (segments[seg].tokens - offset).min(room);
            h = mix(mix(mix(h, segments[seg].id), offset), take);
            room -= take;
            offset += take;
            if offset == segments[seg].tokens {
                seg += 1;
                offset = 0;
            }
        }
        let next = interned.len() as u64;
        ids.push(*interned.entry(h).or_insert(next));
    }
}

fn zipf_cdf(n: usize, s: f64) -> Vec<f64> {
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = (1..=n)
        .map(|k| {
            acc += (k as f64).powf(-s);
            acc
        })
        .collect();
    for c in &mut cdf {
        *c /= acc;
    }
    cdf
}

fn pick(cdf: &[f64], u: f64) -> usize {
    cdf.partition_point(|&c| c <= u)
        .min(cdf.len().saturating_sub(1))
}

fn lognormal(rng: &mut ChaCha8Rng, median: f64, sigma: f64) -> f64 {
    let z: f64 = StandardNormal.sample(rng);
    median * (sigma * z).exp()
}

fn exp(rng: &mut ChaCha8Rng) -> f64 {
    -(1.0 - rng.random::<f64>()).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(kind: Kind, start: Start, format: Format) -> ScenarioConfig {
        ScenarioConfig {
            kind,
            start,
            format,
            seed: 3,
            seconds: 1800.0,
            trend: 0.0,
        }
    }

    #[test]
    fn deterministic_and_well_formed() {
        for s in presets(5, 900.0) {
            let a = build(&s.config);
            assert_eq!(a.requests, build(&s.config).requests, "{}", s.key);
            assert!(a.requests.len() > 100, "{}: {}", s.key, a.requests.len());
            let block = u64::from(a.block_size.unwrap());
            for w in a.requests.windows(2) {
                assert!(w[0].timestamp <= w[1].timestamp, "{}", s.key);
            }
            assert_eq!(a.requests[0].timestamp, 0.0);
            for r in &a.requests {
                assert_eq!(r.ids().len() as u64, r.input_length.div_ceil(block));
                assert!(r.ids().iter().all(|&id| id < 1 << 32));
            }
        }
    }

    #[test]
    fn follow_ups_inherit_all_but_the_parents_last_block() {
        let trace = build(&config(Kind::Agentic, Start::Cold, Format::Bailian));
        let by_chat: HashMap<u64, &Request> = trace
            .requests
            .iter()
            .map(|r| (r.session.as_ref().unwrap().chat_id, r))
            .collect();
        let mut follow_ups = 0;
        for r in &trace.requests {
            let s = r.session.as_ref().unwrap();
            if let Some(p) = s.parent() {
                let parent = by_chat[&p];
                let kept = parent.ids().len() - 1;
                assert_eq!(&r.ids()[..kept], &parent.ids()[..kept]);
                // The parent's last block changes once the answer lands in it (a full
                // last block is the same content, so the same id).
                if !parent.input_length.is_multiple_of(16) {
                    assert_ne!(r.ids()[kept], parent.ids()[kept]);
                }
                assert!(r.input_length > parent.input_length + parent.output_length);
                assert_eq!(s.turn, parent.session.as_ref().unwrap().turn + 1);
                follow_ups += 1;
            }
        }
        // Next turn with probability 0.9: most requests are follow-ups.
        assert!(follow_ups * 10 > trace.requests.len() * 8, "{follow_ups}");
    }

    #[test]
    fn warm_windows_have_chains_in_flight() {
        let cold = build(&config(Kind::Agentic, Start::Cold, Format::Bailian));
        let warm = build(&config(Kind::Agentic, Start::Warm, Format::Bailian));
        let first_minute = |t: &Trace| {
            let known: std::collections::HashSet<u64> = t
                .requests
                .iter()
                .map(|r| r.session.as_ref().unwrap().chat_id)
                .collect();
            t.requests
                .iter()
                .take_while(|r| r.timestamp < 60.0)
                .filter(|r| {
                    let s = r.session.as_ref().unwrap();
                    s.parent().is_some_and(|p| !known.contains(&p))
                })
                .count()
        };
        assert_eq!(first_minute(&cold), 0);
        assert!(first_minute(&warm) > 5, "{}", first_minute(&warm));
    }

    #[test]
    fn shared_content_makes_requests_of_shared_blocks_only() {
        let trace = build(&config(Kind::Shared, Start::Cold, Format::Mooncake));
        assert!(trace.requests.iter().all(|r| r.session.is_none()));
        let mut seen = std::collections::HashSet::new();
        let mut all_shared_partial = 0;
        for r in &trace.requests {
            if r.ids().iter().all(|id| seen.contains(id))
                && !r.input_length.is_multiple_of(u64::from(MOONCAKE_BLOCK))
            {
                all_shared_partial += 1;
            }
            seen.extend(r.ids().iter().copied());
        }
        assert!(all_shared_partial > 20, "{all_shared_partial}");
    }

    #[test]
    fn the_true_sessions_of_a_mooncake_trace_are_its_inheritance() {
        let c = config(Kind::Shared, Start::Warm, Format::Mooncake);
        let bare = build(&c);
        let truth = build_with_sessions(&c);
        assert_eq!(bare.requests.len(), truth.requests.len());
        let by_chat: HashMap<u64, &Request> = truth
            .requests
            .iter()
            .map(|r| (r.session.as_ref().unwrap().chat_id, r))
            .collect();
        let (mut inside, mut outside) = (0, 0);
        for (b, r) in bare.requests.iter().zip(&truth.requests) {
            let mut stripped = r.clone();
            stripped.session = None;
            assert_eq!(b, &stripped);
            let s = r.session.as_ref().unwrap();
            match s.parent().map(|p| by_chat.get(&p)) {
                Some(Some(parent)) => {
                    let kept = parent.ids().len() - 1;
                    assert_eq!(&r.ids()[..kept], &parent.ids()[..kept]);
                    assert_eq!(s.turn, parent.session.as_ref().unwrap().turn + 1);
                    inside += 1;
                }
                // A warm window holds follow-ups whose parents came before it.
                Some(None) => outside += 1,
                None => assert_eq!(s.turn, 1),
            }
        }
        assert!(inside > 50 && outside > 0, "{inside} {outside}");
    }

    #[test]
    fn a_trend_raises_the_rate() {
        let mut c = config(Kind::Shared, Start::Cold, Format::Mooncake);
        c.trend = 1.0;
        let t = build(&c);
        let early = t.requests.iter().filter(|r| r.timestamp < 600.0).count();
        let late = t.requests.iter().filter(|r| r.timestamp >= 1200.0).count();
        assert!(late as f64 > 1.5 * early as f64, "{early} {late}");
    }
}
