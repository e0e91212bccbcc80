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

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use rand::{Rng, RngExt};

use serde::{Deserialize, Serialize};

use super::ModelError;
use super::schedule::Schedule;

use super::sessions::{check_distribution, normalise};
use crate::fit::prepared::{PREFIX_SEED, Prepared, mix};

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
}

/// One node of the tree of shared prefixes (an lcp-interval of the sorted roots).
#[derive(Debug, Clone)]
struct Interval {
    depth: u32,
    parent: Option<usize>,
    count: u32,
    first: f64,
    last: f64,
}

impl BlockModel {
    pub fn fit(p: &Prepared) -> BlockFit {
        let n_types = p.types.len();
        let block = f64::from(p.block_size.unwrap_or(16));
        let roots: Vec<usize> = (0..p.requests.len())
            .filter(|&i| p.requests[i].is_root())
            .collect();
        let (intervals, assigned) = shared_prefix_tree(p, &roots);

        let persistent: Vec<bool> = intervals
            .iter()
            .map(|iv| {
                iv.depth > 0
                    && iv.count >= PERSISTENT_MIN_USES
                    && iv.last - iv.first >= PERSISTENT_MIN_SPREAD * p.span
            })
            .collect();
        // Persistent nodes, renumbered; parents are always persistent (a parent is used
        // at least as often and as widely as its child).
        let mut node_of: HashMap<usize, usize> = HashMap::new();
        let mut order: Vec<usize> = (0..intervals.len()).filter(|&i| persistent[i]).collect();
        order.sort_by_key(|&i| intervals[i].depth);
        let mut prefixes = Vec::new();
        for &i in &order {
            let parent = persistent_ancestor(&intervals, &persistent, i);
            let parent_depth = parent.map(|a| intervals[a].depth).unwrap_or(0);
            node_of.insert(i, prefixes.len());
            prefixes.push(PrefixNode {
                parent: parent.map(|a| node_of[&a]),
                blocks: intervals[i].depth - parent_depth,
                uses: intervals[i].count,
            });
        }

        let mut none = vec![0.0; n_types];
        let mut persistent_w: Vec<HashMap<usize, f64>> = vec![HashMap::new(); n_types];
        let mut birth_w: Vec<HashMap<Option<usize>, f64>> = vec![HashMap::new(); n_types];
        let mut reuse = vec![0.0; n_types];
        let mut roots_of_type = vec![0.0; n_types];
        let mut shared_tokens = vec![0u64; p.requests.len()];
        let mut kinds = vec![PrefixKind::None; p.requests.len()];
        let mut groups: HashMap<usize, Group> = HashMap::new();
        // Prefix hashes of the roots seen so far, to measure how deep each root hits.
        let mut earlier: HashSet<u64> = HashSet::new();
        for (k, &ri) in roots.iter().enumerate() {
            let r = &p.requests[ri];
            roots_of_type[r.ty] += 1.0;
            let hit = hit_depth(&r.ids, &mut earlier);
            let Some(a) = assigned[k] else {
                none[r.ty] += 1.0;
                continue;
            };
            if persistent[a] {
                kinds[ri] = PrefixKind::Persistent;
                *persistent_w[r.ty].entry(node_of[&a]).or_default() += 1.0;
                shared_tokens[ri] = u64::from(intervals[a].depth) * block as u64;
                continue;
            }
            let top = ephemeral_top(&intervals, &persistent, a);
            match groups.get_mut(&top) {
                None => {
                    kinds[ri] = PrefixKind::Birth;
                    let parent = intervals[top].parent.filter(|&q| persistent[q]);
                    let parent_depth = parent.map(|q| intervals[q].depth).unwrap_or(0);
                    *birth_w[r.ty]
                        .entry(parent.map(|q| node_of[&q]))
                        .or_default() += 1.0;
                    groups.insert(
                        top,
                        Group {
                            ty: r.ty,
                            birth: r.t,
                            birth_request: ri,
                            parent_depth,
                            top_blocks: intervals[top].depth - parent_depth,
                            reuses: Vec::new(),
                        },
                    );
                }
                Some(g) => {
                    kinds[ri] = PrefixKind::Reuse;
                    g.reuses
                        .push((r.t - g.birth, hit.saturating_sub(g.parent_depth)));
                    shared_tokens[ri] = u64::from(hit) * block as u64;
                    reuse[r.ty] += 1.0;
                }
            }
        }
        // A prefix's length is what its deepest reuse shares (reuses of one prefix nest:
        // some share only its start, some much more); each reuse shares a fraction of it.
        let mut groups_in_order: Vec<&Group> = groups.values().collect();
        groups_in_order.sort_by(|a, b| {
            a.birth
                .total_cmp(&b.birth)
                .then(a.birth_request.cmp(&b.birth_request))
        });
        // At its birth a prefix's own blocks are the first root's own content.
        for g in &groups_in_order {
            shared_tokens[g.birth_request] = u64::from(g.parent_depth) * block as u64;
        }
        let pooled = fit_ephemeral(&groups_in_order, p.span);
        let ephemeral = (0..n_types)
            .map(|ty| {
                let own: Vec<&Group> = groups_in_order
                    .iter()
                    .copied()
                    .filter(|g| g.ty == ty)
                    .collect();
                if own.len() >= MIN_TYPE_GROUPS {
                    fit_ephemeral(&own, p.span)
                } else {
                    pooled.clone()
                }
            })
            .collect();
        let root_choice = (0..n_types)
            .map(|ty| {
                let mut persistent: Vec<(usize, f64)> =
                    persistent_w[ty].iter().map(|(&k, &w)| (k, w)).collect();
                persistent.sort_by_key(|e| e.0);
                let mut birth: Vec<(Option<usize>, f64)> =
                    birth_w[ty].iter().map(|(&k, &w)| (k, w)).collect();
                birth.sort_by_key(|e| e.0.map_or(0, |n| n + 1));
                let mut choice = RootChoice {
                    none: none[ty],
                    persistent,
                    birth,
                    reuse_share: if roots_of_type[ty] > 0.0 {
                        reuse[ty] / roots_of_type[ty]
                    } else {
                        0.0
                    },
                };
                if choice.total() == 0.0 {
                    choice.none = 1.0;
                }
                choice
            })
            .collect();
        let tails = fit_tails(p, &shared_tokens, block as u64);
        BlockFit {
            model: BlockModel {
                prefixes,
                root_choice,
                ephemeral,
                tails,
            },
            shared_tokens,
            kinds,
        }
    }

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
        }
    }

    pub fn validate(&self, n_types: usize) -> Result<(), ModelError> {
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

/// The birth-to-reuse behaviour of a set of ephemeral prefixes.
fn fit_ephemeral(groups: &[&Group], span: f64) -> EphemeralPrefixes {
    // Reuses after the trace's end are unseen, so the templates are the prefixes born
    // early enough to have lived most of their life inside the window (before the end
    // minus the 90th percentile reuse lag), when there are enough of them.
    let mut lags: Vec<f64> = groups
        .iter()
        .flat_map(|g| g.reuses.iter().map(|u| u.0))
        .collect();
    lags.sort_by(f64::total_cmp);
    let settled = span - lags.get(lags.len() * 9 / 10).copied().unwrap_or(0.0);
    let mut chosen: Vec<&&Group> = groups.iter().filter(|g| g.birth <= settled).collect();
    if chosen.len() < MIN_SETTLED_GROUPS {
        chosen = groups.iter().collect();
    }
    // Evenly thinned when there are very many, to keep the model file small.
    let step = chosen.len().div_ceil(MAX_TEMPLATES).max(1);
    let templates = chosen
        .iter()
        .step_by(step)
        .map(|g| {
            let blocks = g.length();
            PrefixTemplate {
                blocks,
                reuses: g
                    .reuses
                    .iter()
                    .map(|u| (u.0, f64::from(u.1.clamp(1, blocks)) / f64::from(blocks)))
                    .collect(),
            }
        })
        .collect();
    EphemeralPrefixes {
        templates,
        fitted_count: groups.len() as u32,
    }
}

impl Group {
    /// Blocks beyond the parent: as deep as its deepest reuse went.
    fn length(&self) -> u32 {
        self.reuses
            .iter()
            .map(|u| u.1)
            .fold(self.top_blocks, u32::max)
            .max(1)
    }
}

/// The prefix of a root reusing a live ephemeral prefix to `share` of its depth.
fn reuse(prefix: &EphemeralPrefix, share: f64) -> Rc<Vec<u64>> {
    let n = prefix.own.len();
    let depth = ((share * n as f64).round() as usize).clamp(1, n);
    let mut path = prefix.parent_path.as_ref().clone();
    path.extend_from_slice(&prefix.own[..depth]);
    Rc::new(path)
}

/// An ephemeral prefix of the fitted trace.
struct Group {
    /// Type of the root that first used it.
    ty: usize,
    birth: f64,
    birth_request: usize,
    parent_depth: u32,
    /// Blocks beyond the parent that all its users share.
    top_blocks: u32,
    /// (seconds since birth, blocks beyond the parent it hit) of each reuse.
    reuses: Vec<(f64, u32)>,
}

/// How many leading ids of `ids` an earlier root had (prefix semantics), then remember
/// this root's prefixes.
fn hit_depth(ids: &[u64], earlier: &mut HashSet<u64>) -> u32 {
    let mut h = PREFIX_SEED;
    let mut hit = 0;
    let mut missed = false;
    for &id in ids {
        h = mix(h, id);
        if !missed && earlier.contains(&h) {
            hit += 1;
        } else {
            missed = true;
            earlier.insert(h);
        }
    }
    hit
}

fn persistent_ancestor(intervals: &[Interval], persistent: &[bool], i: usize) -> Option<usize> {
    let mut a = intervals[i].parent;
    while let Some(x) = a {
        if persistent[x] {
            return Some(x);
        }
        a = intervals[x].parent;
    }
    None
}

/// The topmost ephemeral interval above `i` (its parent is persistent or the root).
fn ephemeral_top(intervals: &[Interval], persistent: &[bool], mut i: usize) -> usize {
    while let Some(p) = intervals[i].parent {
        if persistent[p] || intervals[p].depth == 0 {
            break;
        }
        i = p;
    }
    i
}

/// Sort the roots' id sequences; the lcp-intervals of the sorted list are the prefixes
/// shared by two or more roots, and the deepest interval holding a root is the prefix it
/// shares. Returns the intervals (index 0 is the empty prefix) and, per root, its deepest
/// interval if it shares anything.
fn shared_prefix_tree(p: &Prepared, roots: &[usize]) -> (Vec<Interval>, Vec<Option<usize>>) {
    let ids = |k: usize| p.requests[roots[k]].ids.as_slice();
    let mut sorted: Vec<usize> = (0..roots.len()).collect();
    sorted.sort_by(|&a, &b| ids(a).cmp(ids(b)));
    let n = sorted.len();
    let lcp: Vec<u32> = (0..=n)
        .map(|i| {
            if i == 0 || i == n {
                0
            } else {
                let (a, b) = (ids(sorted[i - 1]), ids(sorted[i]));
                a.iter().zip(b).take_while(|(x, y)| x == y).count() as u32
            }
        })
        .collect();
    let mut intervals = vec![Interval {
        depth: 0,
        parent: None,
        count: 0,
        first: f64::MAX,
        last: f64::MIN,
    }];
    let mut stack = vec![0usize];
    // Deepest interval holding positions i-1 and i, after processing lcp[i].
    let mut joint = vec![0usize; n + 1];
    for (i, &cur) in lcp.iter().enumerate().skip(1) {
        let mut last_popped: Option<usize> = None;
        while cur < intervals[*stack.last().expect("root stays")].depth {
            let top = stack.pop().expect("checked");
            if let Some(child) = last_popped {
                intervals[child].parent = Some(top);
            }
            last_popped = Some(top);
        }
        let top = *stack.last().expect("root stays");
        if cur > intervals[top].depth {
            intervals.push(Interval {
                depth: cur,
                parent: None,
                count: 0,
                first: f64::MAX,
                last: f64::MIN,
            });
            let id = intervals.len() - 1;
            if let Some(child) = last_popped {
                intervals[child].parent = Some(id);
            }
            stack.push(id);
        } else if let Some(child) = last_popped {
            intervals[child].parent = Some(top);
        }
        joint[i] = *stack.last().expect("root stays");
    }
    let mut assigned = vec![None; roots.len()];
    for (pos, &k) in sorted.iter().enumerate() {
        let left = if pos >= 1 { joint[pos] } else { 0 };
        let right = if pos + 1 < n { joint[pos + 1] } else { 0 };
        let deepest = if intervals[left].depth >= intervals[right].depth {
            left
        } else {
            right
        };
        if deepest != 0 {
            assigned[k] = Some(deepest);
            let t = p.requests[roots[k]].t;
            let iv = &mut intervals[deepest];
            iv.count += 1;
            iv.first = iv.first.min(t);
            iv.last = iv.last.max(t);
        }
    }
    // Children are deeper than their parents: fold counts and times upwards, deepest first.
    let mut by_depth: Vec<usize> = (1..intervals.len()).collect();
    by_depth.sort_by_key(|&i| std::cmp::Reverse(intervals[i].depth));
    for i in by_depth {
        if let Some(parent) = intervals[i].parent {
            let (count, first, last) = (intervals[i].count, intervals[i].first, intervals[i].last);
            let pv = &mut intervals[parent];
            pv.count += count;
            pv.first = pv.first.min(first);
            pv.last = pv.last.max(last);
        }
    }
    (intervals, assigned)
}

/// Popular closing blocks: ids that end at least `TAIL_MIN_USES` requests as a block of
/// their own (not part of an inherited or shared prefix).
fn fit_tails(p: &Prepared, shared_tokens: &[u64], block: u64) -> TailModel {
    let n_types = p.types.len();
    let own_last = |i: usize| -> Option<u64> {
        let r = &p.requests[i];
        let n = r.ids.len();
        let covered = match r.parent {
            Some(pi) => p.requests[pi].ids.len().saturating_sub(1),
            None => shared_tokens[i].div_ceil(block) as usize,
        };
        (n > covered).then(|| r.ids[n - 1])
    };
    let mut counts: HashMap<u64, u32> = HashMap::new();
    for i in 0..p.requests.len() {
        if let Some(id) = own_last(i) {
            *counts.entry(id).or_default() += 1;
        }
    }
    let mut popular: Vec<(u64, u32)> = counts
        .into_iter()
        .filter(|&(_, c)| c >= TAIL_MIN_USES)
        .collect();
    popular.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    popular.truncate(MAX_TAILS);
    let is_tail: HashMap<u64, ()> = popular.iter().map(|&(id, _)| (id, ())).collect();
    let (mut root_hits, mut root_n) = (vec![0.0; n_types], vec![0.0; n_types]);
    let (mut follow_hits, mut follow_n) = (vec![0.0; n_types], vec![0.0; n_types]);
    for i in 0..p.requests.len() {
        let r = &p.requests[i];
        let Some(id) = own_last(i) else { continue };
        let (hits, n) = if r.is_root() {
            (&mut root_hits, &mut root_n)
        } else {
            (&mut follow_hits, &mut follow_n)
        };
        n[r.ty] += 1.0;
        if is_tail.contains_key(&id) {
            hits[r.ty] += 1.0;
        }
    }
    let ratio = |h: Vec<f64>, n: Vec<f64>| -> Vec<f64> {
        h.iter()
            .zip(&n)
            .map(|(h, n)| if *n > 0.0 { h / n } else { 0.0 })
            .collect()
    };
    TailModel {
        root_prob: ratio(root_hits, root_n),
        followup_prob: ratio(follow_hits, follow_n),
        weights: if popular.is_empty() {
            vec![]
        } else {
            normalise(popular.iter().map(|e| f64::from(e.1)).collect())
        },
    }
}

/// The generator's side of the blocks model: mints ids, remembers persistent prefixes
/// and the ephemeral prefixes that still have reuses to come.
pub struct BlockSampler<'m> {
    model: &'m BlockModel,
    block: u64,
    next_id: u64,
    /// Full id path of each persistent prefix, minted at its first use.
    minted: Vec<Option<Rc<Vec<u64>>>>,
    /// Per type: ephemeral prefixes waiting for a root to reuse them, earliest first.
    reservations: Vec<Schedule<Reservation>>,
    tail_ids: HashMap<(usize, u64), u64>,
}

#[derive(Debug)]
struct Reservation {
    prefix: Rc<EphemeralPrefix>,
    /// Share of the prefix's own blocks this reuse shares.
    share: f64,
}

/// A live ephemeral prefix: its persistent parent's path and its own blocks.
#[derive(Debug)]
struct EphemeralPrefix {
    parent_path: Rc<Vec<u64>>,
    own: Vec<u64>,
}

/// Ids would no longer fit in 32 bits (Dynamo's mocker maps ids to u32 tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("block id space exhausted: more than 2^32 distinct blocks")]
pub struct IdsExhausted;

impl<'m> BlockSampler<'m> {
    pub fn new(model: &'m BlockModel, block_size: u32, n_types: usize) -> Self {
        BlockSampler {
            model,
            block: u64::from(block_size),
            next_id: 0,
            minted: vec![None; model.prefixes.len()],
            reservations: (0..n_types).map(|_| Schedule::default()).collect(),
            tail_ids: HashMap::new(),
        }
    }

    /// Distinct blocks minted so far.
    pub fn blocks_minted(&self) -> u64 {
        self.next_id
    }

    fn fresh(&mut self) -> Result<u64, IdsExhausted> {
        if self.next_id >= crate::trace::MAX_HASH_ID {
            return Err(IdsExhausted);
        }
        self.next_id += 1;
        Ok(self.next_id - 1)
    }

    fn persistent_path(&mut self, node: usize) -> Result<Rc<Vec<u64>>, IdsExhausted> {
        if let Some(path) = &self.minted[node] {
            return Ok(path.clone());
        }
        let spec = &self.model.prefixes[node];
        let (parent, blocks) = (spec.parent, spec.blocks);
        let mut path = match parent {
            Some(p) => self.persistent_path(p)?.as_ref().clone(),
            None => Vec::new(),
        };
        for _ in 0..blocks {
            path.push(self.fresh()?);
        }
        let path = Rc::new(path);
        self.minted[node] = Some(path.clone());
        Ok(path)
    }

    /// The prefix of a new root of type `ty` arriving at `now` (model seconds), and how
    /// many of its blocks were shared before (the rest, a newborn prefix's own blocks,
    /// are this root's own content).
    pub fn root_prefix<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        ty: usize,
        now: f64,
    ) -> Result<(Rc<Vec<u64>>, usize, PrefixKind), IdsExhausted> {
        let shared = |kind: PrefixKind| {
            move |path: Rc<Vec<u64>>| {
                let n = path.len();
                (path, n, kind)
            }
        };
        if let Some(r) = self.reservations[ty].pop_due(now) {
            return Ok(reuse(&r.prefix, r.share)).map(shared(PrefixKind::Reuse));
        }
        let choice = &self.model.root_choice[ty];
        let mut x = rng.random::<f64>() * choice.total();
        if x < choice.none {
            return Ok((Rc::new(Vec::new()), 0, PrefixKind::None));
        }
        x -= choice.none;
        for &(node, w) in &choice.persistent {
            if x < w {
                return self
                    .persistent_path(node)
                    .map(shared(PrefixKind::Persistent));
            }
            x -= w;
        }
        let parent = choice
            .birth
            .iter()
            .find(|e| {
                let hit = x < e.1;
                x -= e.1;
                hit
            })
            .or(choice.birth.last())
            .map(|e| e.0);
        let Some(parent) = parent else {
            return Ok((Rc::new(Vec::new()), 0, PrefixKind::None));
        };
        let parent_blocks = match parent {
            Some(node) => self.persistent_path(node)?.len(),
            None => 0,
        };
        Ok((
            self.birth(rng, ty, now, parent)?,
            parent_blocks,
            PrefixKind::Birth,
        ))
    }

    /// A new ephemeral prefix, with its future reuses booked.
    fn birth<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        ty: usize,
        now: f64,
        parent: Option<usize>,
    ) -> Result<Rc<Vec<u64>>, IdsExhausted> {
        let templates = &self.model.ephemeral[ty].templates;
        let template =
            (!templates.is_empty()).then(|| &templates[rng.random_range(0..templates.len())]);
        let blocks = template.map_or(1, |t| t.blocks);
        let parent_path = match parent {
            Some(p) => self.persistent_path(p)?,
            None => Rc::new(Vec::new()),
        };
        let mut own = Vec::with_capacity(blocks as usize);
        for _ in 0..blocks {
            own.push(self.fresh()?);
        }
        let mut path = parent_path.as_ref().clone();
        path.extend_from_slice(&own);
        let reuses = template.map_or(&[][..], |t| &t.reuses[..]);
        if !reuses.is_empty() {
            let prefix = Rc::new(EphemeralPrefix { parent_path, own });
            for &(lag, share) in reuses {
                self.reservations[ty].push(
                    now + lag,
                    Reservation {
                        prefix: prefix.clone(),
                        share,
                    },
                );
            }
        }
        Ok(Rc::new(path))
    }

    /// Ids of a request of `input_length` tokens that starts with `prefix` (a shared or
    /// inherited prefix); the rest is fresh, its last block possibly a shared tail.
    pub fn complete<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        prefix: &[u64],
        input_length: u64,
        tail_prob: f64,
    ) -> Result<Vec<u64>, IdsExhausted> {
        let n = input_length.div_ceil(self.block) as usize;
        let partial = !input_length.is_multiple_of(self.block);
        let mut ids = Vec::with_capacity(n);
        if n <= prefix.len() {
            ids.extend_from_slice(&prefix[..n]);
            // A prefix block is full; a partial one is other content and gets its own id.
            if partial {
                ids.pop();
                ids.push(self.fresh()?);
            }
            return Ok(ids);
        }
        ids.extend_from_slice(prefix);
        while ids.len() + 1 < n {
            ids.push(self.fresh()?);
        }
        let weights = &self.model.tails.weights;
        let last = if !weights.is_empty() && tail_prob > 0.0 && rng.random::<f64>() < tail_prob {
            let slot = super::sessions::sample_index(rng, weights);
            let fill = input_length - (n as u64 - 1) * self.block;
            match self.tail_ids.get(&(slot, fill)) {
                Some(&id) => id,
                None => {
                    let id = self.fresh()?;
                    self.tail_ids.insert((slot, fill), id);
                    id
                }
            }
        } else {
            self.fresh()?
        };
        ids.push(last);
        Ok(ids)
    }
}
