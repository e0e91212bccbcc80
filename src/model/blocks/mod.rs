//! Where each request's `hash_ids` come from.
//!
//! - **Shared prefixes of roots.** The roots' id sequences, sorted, give through their
//!   longest common prefixes the tree of prefixes shared by two or more sessions
//!   (system prompts, shared documents). A prefix used across most of the span is
//!   *persistent*: generated roots pick it by its popularity, and its ids are minted once.
//!   The rest are *ephemeral*: born at a measured rate, reused a heavy-tailed number of
//!   times at lags after their birth, then forgotten, so a trace ten times longer keeps
//!   producing new shared prefixes instead of replaying old ones.
//! - **Inheritance.** A follow-up starts with its parent's ids minus the parent's last
//!   block (that block was partial and changes once more tokens land).
//! - **Shared tails.** Many requests end in one of a few popular closing blocks. A tail
//!   id is minted per (tail, fill) so one id never stands for blocks of different fill.
//! - Everything else is fresh content.

mod fit;
pub mod ids;
pub mod population;
mod sampler;
mod scaling;
mod tree;

use serde::{Deserialize, Serialize};

use super::ModelError;
use super::sessions::check_distribution;

pub use ids::IdRuns;
pub use population::ContentPopulation;
pub use sampler::{BlockSampler, IdsExhausted};

/// A prefix is persistent when it is used at least this often...
const PERSISTENT_MIN_USES: u32 = 3;
/// ... over at least this share of the fitted span.
const PERSISTENT_MIN_SPREAD: f64 = 0.5;
/// A last block is a shared tail when it ends at least this many requests.
const TAIL_MIN_USES: u32 = 3;
const MAX_TAILS: usize = 256;
/// Fewer ephemeral prefixes born early enough to count their reuses, and all are used.
const MIN_SETTLED_GROUPS: usize = 30;
/// A type with fewer ephemeral prefixes than this uses the pooled behaviour of all.
const MIN_TYPE_GROUPS: usize = 30;
const MAX_TEMPLATES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockModel {
    /// Persistent shared prefixes: a forest in which each node extends its parent.
    pub prefixes: Vec<PrefixNode>,
    /// How roots of each type (indexed like the model's `types`) choose a prefix.
    pub root_choice: Vec<RootChoice>,
    /// Behaviour of ephemeral prefixes by the type of the root that started them.
    pub ephemeral: Vec<EphemeralPrefixes>,
    pub tails: TailModel,
    /// Per type: the population of shared content, which sets how sharing grows with the
    /// users (`--rate-scale`). Empty in models written before it existed, which then
    /// replay each fitted prefix's reuses at any scale.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub population: Vec<Option<ContentPopulation>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrefixNode {
    /// Index of the node this one extends.
    pub parent: Option<usize>,
    /// Blocks beyond the parent's.
    pub blocks: u32,
    /// Roots that used it in the fitted trace (ending there or deeper).
    pub uses: u32,
}

/// The choice of a root that does not reuse a live ephemeral prefix. Weights are counts
/// from the fitted trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootChoice {
    /// No prefix shared with another session.
    pub none: f64,
    /// `(persistent node, weight)`.
    pub persistent: Vec<(usize, f64)>,
    /// A new ephemeral prefix extending `(persistent node or none, weight)`.
    pub birth: Vec<(Option<usize>, f64)>,
    /// Share of this type's roots that reused an ephemeral prefix (realised through
    /// reservations, reported here for the reader).
    pub reuse_share: f64,
}

/// How newborn shared prefixes are reused: each birth replays the life of one prefix
/// of the fitted trace, drawn at random. Length, number of reuses, their lags and depths
/// hang together (a much-reused document is also a long one, reused deeply), which
/// independent marginals would lose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EphemeralPrefixes {
    pub templates: Vec<PrefixTemplate>,
    /// Ephemeral prefixes seen in the fitted trace.
    pub fitted_count: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrefixTemplate {
    /// Blocks the prefix adds to its persistent parent.
    pub blocks: u32,
    /// `(seconds after the birth, share of the blocks shared)` of each reuse.
    pub reuses: Vec<(f64, f64)>,
    /// Tokens the first root added to the parent: the prefix it showed and its own
    /// question. A birth drawn from the template takes their rank among the templates, so
    /// a long prefix is born with a long first root as in the fit (drawn independently,
    /// 44 % of births were shorter than their template, hiding content that their reuses
    /// then show as new). `None` in templates pooled over types and in older models: the
    /// root's lengths are drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_tokens: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TailModel {
    /// Probability that a root's last own block is a shared tail, by type.
    pub root_prob: Vec<f64>,
    /// The same for follow-ups.
    pub followup_prob: Vec<f64>,
    /// Popularity of each shared tail.
    pub weights: Vec<f64>,
}

/// Where a root's prefix came from. Lengths depend on it: a root that opens a new
/// shared document carries the document, one that reuses it only a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrefixKind {
    /// Nothing shared with another session.
    None,
    Persistent,
    /// Opened a new ephemeral prefix.
    Birth,
    /// Reused a live ephemeral prefix.
    Reuse,
}

impl PrefixKind {
    pub const ALL: [PrefixKind; 4] = [
        PrefixKind::None,
        PrefixKind::Persistent,
        PrefixKind::Birth,
        PrefixKind::Reuse,
    ];

    pub fn index(self) -> usize {
        self as usize
    }
}

/// What the fit learned about each request, for the length fit.
pub struct BlockFit {
    pub model: BlockModel,
    /// Shared-prefix tokens per request (0 for follow-ups and unshared roots).
    pub shared_tokens: Vec<u64>,
    /// Where each root's prefix came from (`None` for follow-ups too).
    pub kinds: Vec<PrefixKind>,
    /// The persistent node (index into `model.prefixes`) a root opens with: its prefix,
    /// or the one its newborn prefix grew from.
    pub nodes: Vec<Option<usize>>,
}

impl BlockModel {
    /// No blocks in the source: every block is fresh content.
    pub fn unshared(n_types: usize) -> BlockModel {
        BlockModel {
            prefixes: vec![],
            root_choice: (0..n_types)
                .map(|_| RootChoice {
                    none: 1.0,
                    persistent: vec![],
                    birth: vec![],
                    reuse_share: 0.0,
                })
                .collect(),
            ephemeral: vec![
                EphemeralPrefixes {
                    templates: vec![],
                    fitted_count: 0,
                };
                n_types
            ],
            tails: TailModel {
                root_prob: vec![0.0; n_types],
                followup_prob: vec![0.0; n_types],
                weights: vec![],
            },
            population: vec![],
        }
    }

    /// Check every parameter; `max_blocks` is the longest prefix a request may start
    /// with (the blocks of [`MAX_TOKENS`](crate::trace::MAX_TOKENS) tokens): a chain of
    /// persistent prefixes or an ephemeral template longer than that would make every
    /// root that picks it a line of more block ids than any trace line may hold.
    pub fn validate(&self, n_types: usize, max_blocks: u64) -> Result<(), ModelError> {
        // Blocks from each node's root down to it; a parent comes before its children
        // (checked below before its entry is read), so one pass sums every chain.
        let mut depth: Vec<u64> = Vec::with_capacity(self.prefixes.len());
        for (i, node) in self.prefixes.iter().enumerate() {
            if node.parent.is_some_and(|p| p >= i) {
                return Err(ModelError::invalid(
                    &format!("blocks.prefixes[{i}].parent"),
                    "must name an earlier prefix",
                ));
            }
            if node.blocks == 0 {
                return Err(ModelError::invalid(
                    &format!("blocks.prefixes[{i}].blocks"),
                    "must be >= 1",
                ));
            }
            let chain = node.parent.map_or(0, |p| depth[p]) + u64::from(node.blocks);
            if chain > max_blocks {
                return Err(ModelError::invalid(
                    &format!("blocks.prefixes[{i}]"),
                    format!(
                        "its chain of prefixes holds {chain} blocks, more than the {max_blocks} of the longest allowed input"
                    ),
                ));
            }
            depth.push(chain);
        }
        if self.root_choice.len() != n_types {
            return Err(ModelError::invalid(
                "blocks.root_choice",
                "must have one entry per type",
            ));
        }
        let n = self.prefixes.len();
        for (t, c) in self.root_choice.iter().enumerate() {
            let at = format!("blocks.root_choice[{t}]");
            let weights = std::iter::once(c.none)
                .chain(c.persistent.iter().map(|e| e.1))
                .chain(c.birth.iter().map(|e| e.1));
            if weights.clone().any(|w| !w.is_finite() || w < 0.0) || c.total() <= 0.0 {
                return Err(ModelError::invalid(
                    &at,
                    "weights must be >= 0 with a positive total",
                ));
            }
            if c.persistent.iter().any(|e| e.0 >= n)
                || c.birth.iter().any(|e| e.0.is_some_and(|k| k >= n))
            {
                return Err(ModelError::invalid(
                    &at,
                    "names a prefix that does not exist",
                ));
            }
        }
        if self.ephemeral.len() != n_types {
            return Err(ModelError::invalid(
                "blocks.ephemeral",
                "must have one entry per type",
            ));
        }
        for (t, e) in self.ephemeral.iter().enumerate() {
            let at = |part: &str| format!("blocks.ephemeral[{t}].{part}");
            for (k, t) in e.templates.iter().enumerate() {
                let bad = t.blocks == 0
                    || t.reuses.iter().any(|&(lag, share)| {
                        !(lag.is_finite() && lag >= 0.0 && share > 0.0 && share <= 1.0)
                    });
                if bad {
                    return Err(ModelError::invalid(
                        &at(&format!("templates[{k}]")),
                        "blocks >= 1, reuse lags >= 0 and shares in (0, 1]",
                    ));
                }
                if t.birth_tokens
                    .is_some_and(|n| n == 0 || n > crate::trace::MAX_TOKENS)
                {
                    return Err(ModelError::invalid(
                        &at(&format!("templates[{k}].birth_tokens")),
                        format!("must lie in [1, {}]", crate::trace::MAX_TOKENS),
                    ));
                }
                if u64::from(t.blocks) > max_blocks {
                    return Err(ModelError::invalid(
                        &at(&format!("templates[{k}].blocks")),
                        format!("must be at most {max_blocks} (the longest allowed input)"),
                    ));
                }
            }
        }
        if !self.population.is_empty() && self.population.len() != n_types {
            return Err(ModelError::invalid(
                "blocks.population",
                "must be empty or have one entry per type",
            ));
        }
        for (t, pop) in self.population.iter().enumerate() {
            if pop.as_ref().is_some_and(|p| !p.valid()) {
                return Err(ModelError::invalid(
                    &format!("blocks.population[{t}]"),
                    "mass > 0, discount in [-2, 1), cutoff > 0 and unique >= 0",
                ));
            }
        }
        let tails = &self.tails;
        for (what, probs) in [
            ("blocks.tails.root_prob", &tails.root_prob),
            ("blocks.tails.followup_prob", &tails.followup_prob),
        ] {
            if probs.len() != n_types || probs.iter().any(|p| !(0.0..=1.0).contains(p)) {
                return Err(ModelError::invalid(
                    what,
                    "one probability in [0, 1] per type",
                ));
            }
        }
        if !tails.weights.is_empty() {
            check_distribution("blocks.tails.weights", &tails.weights, tails.weights.len())?;
        } else if tails
            .root_prob
            .iter()
            .chain(&tails.followup_prob)
            .any(|&p| p > 0.0)
        {
            return Err(ModelError::invalid(
                "blocks.tails",
                "tail probabilities need at least one tail",
            ));
        }
        Ok(())
    }
}

impl RootChoice {
    pub fn total(&self) -> f64 {
        self.none
            + self.persistent.iter().map(|e| e.1).sum::<f64>()
            + self.birth.iter().map(|e| e.1).sum::<f64>()
    }
}
