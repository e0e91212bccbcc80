//! Fitting the blocks model: the shared-prefix tree of the roots, persistent and
//! ephemeral prefixes, and shared tails.

use std::collections::HashMap;

use super::tree::{SharedPrefixes, ephemeral_top, persistent_ancestor, shared_prefix_tree};
use super::*;
use crate::fit::prepared::Prepared;
use crate::model::sessions::normalise;

impl BlockModel {
    pub fn fit(p: &Prepared) -> BlockFit {
        let n_types = p.types.len();
        let block = f64::from(p.block_size.unwrap_or(16));
        let roots: Vec<usize> = (0..p.requests.len())
            .filter(|&i| p.requests[i].is_root())
            .collect();
        let SharedPrefixes {
            intervals,
            assigned,
            hits,
        } = shared_prefix_tree(p, &roots);

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
        let mut nodes = vec![None; p.requests.len()];
        let mut groups: HashMap<usize, Group> = HashMap::new();
        // When each root whose content nobody else shared arrived, by type.
        let mut once_times: Vec<Vec<f64>> = vec![Vec::new(); n_types];
        for (k, &ri) in roots.iter().enumerate() {
            let r = &p.requests[ri];
            roots_of_type[r.ty] += 1.0;
            let hit = hits[k];
            let Some(a) = assigned[k] else {
                none[r.ty] += 1.0;
                once_times[r.ty].push(r.t);
                continue;
            };
            if persistent[a] {
                once_times[r.ty].push(r.t);
                kinds[ri] = PrefixKind::Persistent;
                nodes[ri] = Some(node_of[&a]);
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
                    nodes[ri] = parent.map(|q| node_of[&q]);
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
                            birth_tokens: r
                                .input
                                .saturating_sub(u64::from(parent_depth) * block as u64),
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
        let pooled = fit_ephemeral(&groups_in_order, p.span, false);
        let ephemeral = (0..n_types)
            .map(|ty| {
                let own: Vec<&Group> = groups_in_order
                    .iter()
                    .copied()
                    .filter(|g| g.ty == ty)
                    .collect();
                if own.len() >= MIN_TYPE_GROUPS {
                    fit_ephemeral(&own, p.span, true)
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
        let population = fit_population(&groups_in_order, &once_times, p.span);
        let tails = fit_tails(p, &shared_tokens, block as u64);
        BlockFit {
            model: BlockModel {
                prefixes,
                root_choice,
                ephemeral,
                tails,
                population,
            },
            shared_tokens,
            kinds,
            nodes,
        }
    }
}

/// Per type, the content population: every ephemeral prefix is an item used by its first
/// root and its reuses, every root sharing nothing beyond a persistent prefix (or nothing
/// at all, `once_times`) an item used once. Only items first used early enough to have
/// lived their life inside the window count, as for the templates: the generator drops
/// the reuses it books past its own end, so the law must be the uncensored one. A type
/// with too few items of its own takes the law of all types pooled (the sampler uses the
/// law's growth, not its mass, so a pooled law fits any type's share).
fn fit_population(
    groups: &[&Group],
    once_times: &[Vec<f64>],
    span: f64,
) -> Vec<Option<ContentPopulation>> {
    if groups.is_empty() {
        return vec![];
    }
    let settled = settled_time(groups, span);
    let uses_of = |ty: Option<usize>| -> Vec<u32> {
        let of_type = |t: usize| ty.is_none_or(|x| x == t);
        let shared = groups
            .iter()
            .filter(|g| of_type(g.ty) && g.birth <= settled)
            .map(|g| 1 + g.reuses.len() as u32);
        let single: usize = once_times
            .iter()
            .enumerate()
            .filter(|&(t, _)| of_type(t))
            .map(|(_, times)| times.iter().filter(|&&t| t <= settled).count())
            .sum();
        shared.chain(std::iter::repeat_n(1, single)).collect()
    };
    let pooled = ContentPopulation::fit(&uses_of(None));
    (0..once_times.len())
        .map(|ty| {
            let own = uses_of(Some(ty));
            let shared = own.iter().filter(|&&u| u > 1).count();
            if shared >= MIN_TYPE_GROUPS && own.len() >= population::MIN_ITEMS {
                ContentPopulation::fit(&own).or_else(|| pooled.clone())
            } else {
                pooled.clone()
            }
        })
        .collect()
}

/// The time before which prefixes were born early enough to have lived most of their
/// life inside the window (the end minus the 90th percentile reuse lag), or the end when
/// fewer than `MIN_SETTLED_GROUPS` were.
fn settled_time(groups: &[&Group], span: f64) -> f64 {
    let mut lags: Vec<f64> = groups
        .iter()
        .flat_map(|g| g.reuses.iter().map(|u| u.0))
        .collect();
    lags.sort_unstable_by(f64::total_cmp);
    let settled = span - lags.get(lags.len() * 9 / 10).copied().unwrap_or(0.0);
    if groups.iter().filter(|g| g.birth <= settled).count() < MIN_SETTLED_GROUPS {
        span
    } else {
        settled
    }
}

/// The birth-to-reuse behaviour of a set of ephemeral prefixes.
/// `with_lengths`: the templates keep their first root's tokens (for one type's own
/// groups; a pooled template's root is of another type, whose lengths are its own).
fn fit_ephemeral(groups: &[&Group], span: f64, with_lengths: bool) -> EphemeralPrefixes {
    // Reuses after the trace's end are unseen, so the templates are the prefixes born
    // early enough to have lived most of their life inside the window (before the end
    // minus the 90th percentile reuse lag), when there are enough of them.
    let settled = settled_time(groups, span);
    let chosen: Vec<&&Group> = groups.iter().filter(|g| g.birth <= settled).collect();
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
                birth_tokens: (with_lengths && g.birth_tokens > 0).then_some(g.birth_tokens),
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

/// An ephemeral prefix of the fitted trace.
struct Group {
    /// Type of the root that first used it.
    ty: usize,
    birth: f64,
    birth_request: usize,
    parent_depth: u32,
    /// The first root's tokens beyond the parent.
    birth_tokens: u64,
    /// Blocks beyond the parent that all its users share.
    top_blocks: u32,
    /// (seconds since birth, blocks beyond the parent it hit) of each reuse.
    reuses: Vec<(f64, u32)>,
}

/// Popular closing blocks: ids that end at least `TAIL_MIN_USES` requests as a block of
/// their own (not part of an inherited or shared prefix).
fn fit_tails(p: &Prepared, shared_tokens: &[u64], block: u64) -> TailModel {
    let n_types = p.types.len();
    let own_last = |i: usize| -> Option<u64> {
        let r = &p.requests[i];
        let n = r.blocks as usize;
        let covered = match r.parent {
            Some(pi) => (p.requests[pi].blocks as usize).saturating_sub(1),
            None => shared_tokens[i].div_ceil(block) as usize,
        };
        (n > covered).then(|| p.ids(i).last().expect("n > 0"))
    };
    let mut counts: HashMap<u64, u32> = HashMap::new();
    for i in 0..p.requests.len() {
        if let Some(id) = own_last(i) {
            *counts.entry(id).or_default() += 1;
        }
    }
    let popular = crate::model::most_used::most_used(counts, TAIL_MIN_USES, MAX_TAILS);
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
