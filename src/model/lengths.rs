//! Input and output lengths, per request type, separately for roots and follow-ups.
//!
//! A root's input is its shared prefix (chosen by the blocks model) plus its own tokens;
//! the own tokens and the output are drawn together through a copula (a Gaussian one and
//! a checkerboard grid, mixed as held-out pairs choose), so their real dependence
//! survives, mixtures included; a follow-up's output depends on its input through a
//! Gaussian copula. A follow-up's input is the growth rule of real sessions:
//! the parent's input, the carried share of the parent's output, and new user tokens.

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use super::ModelError;
use super::blocks::PrefixKind;
use super::copula::GaussianCopula;
use super::grid_copula::GridCopula;
use super::most_used::most_used;
use super::quantile::Quantile;
use crate::fit::prepared::{FitRequest, Prepared};
use crate::metrics::summary::kruskal_wallis_p;
use crate::trace::MAX_TOKENS;

/// Fewer samples than this for a type and the pooled fit of all types is used instead.
pub const MIN_SAMPLES: usize = 50;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LengthModel {
    /// Indexed like the model's `types`.
    pub per_type: Vec<TypeLengths>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeLengths {
    /// All roots of the type.
    pub root: RootLengths,
    /// Roots by where their prefix came from ([`PrefixKind::index`] order), where there
    /// were enough of them; `root` stands in for the rest.
    pub root_by_prefix: Vec<Option<RootLengths>>,
    pub followup: FollowupLengths,
}

impl TypeLengths {
    /// Lengths of a type whose requests are all roots (a source without sessions):
    /// generated follow-ups cannot occur, but the model still needs a rule for them.
    pub fn roots_only(root: RootLengths) -> TypeLengths {
        TypeLengths {
            followup: default_followup(&root),
            root,
            root_by_prefix: vec![],
        }
    }

    pub fn root_for(&self, kind: PrefixKind) -> &RootLengths {
        self.root_by_prefix
            .get(kind.index())
            .and_then(Option::as_ref)
            .unwrap_or(&self.root)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootLengths {
    /// Input tokens beyond the shared prefix (all of them for roots without one).
    pub own_input: Quantile,
    pub output: Quantile,
    /// Dependence of output on own input: a Gaussian copula of its rank correlation, and
    /// where there were enough roots, a grid that draws its share of the pairs.
    pub dependence: GaussianCopula,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid: Option<GridCopula>,
    pub samples: usize,
    /// Own-input margins of the roots under each much-used prefix node, and of the rest
    /// (`other_own`): an app's system prompt and the payload that app sends come
    /// together, so a sum of independently drawn prefix and own tokens misses the input
    /// distribution (measured on windows with several system prompts: input KS 0.06-0.07
    /// from that alone). Draws keep `own_input`'s rank, so the copula with the output
    /// still holds. Empty where every root shares one prefix.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_node: Vec<NodeOwnInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_own: Option<Quantile>,
}

/// The own tokens of the roots that open with one prefix node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeOwnInput {
    /// Index into the blocks model's `prefixes`.
    pub node: usize,
    pub own_input: Quantile,
}

/// A node needs this many roots of a type for a margin of its own.
pub const MIN_NODE_SAMPLES: usize = MIN_SAMPLES;
/// At most this many nodes per type keep a margin (the most used; the model stays small).
pub const MAX_NODES: usize = 64;
/// The Kruskal-Wallis p-value below which own tokens are taken to differ by node.
const NODE_EVIDENCE: f64 = 1e-3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowupLengths {
    /// Share of the parent's output that reaches the child's context (1 for plain chat;
    /// less where reasoning tokens are stripped).
    pub carried_output: f64,
    /// Child input minus the carried context: the user's new tokens (may be negative when
    /// the client trims history).
    pub new_tokens: Quantile,
    /// Follow-ups' whole input, to rank a child's input for the dependence below.
    pub input: Quantile,
    pub output: Quantile,
    /// Dependence of output on the whole input (the context, not only the new tokens:
    /// answers grow with what the model reads). Gaussian only: a follow-up's output feeds
    /// its children's inputs, and over long chains a grid's cell noise compounds (tried:
    /// on 15-minute windows of 30-turn chains it worsened single-request sessions and
    /// output KS on 4 seeds of 4).
    pub dependence: GaussianCopula,
    /// Tokens a truncated follow-up adds to what it kept of its parent's context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated_own: Option<Quantile>,
    pub samples: usize,
}

/// One root's lengths.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RootDraw {
    pub own_input: u64,
    pub output: u64,
}

/// A drawn length as a token count in `[lo, MAX_TOKENS]`. Validation bounds the knots,
/// but not what the exponential tail reaches at `u` near 1, nor what a chain of
/// follow-ups accumulates by carrying each parent's context: without the cap a long chain
/// grows lines of block ids without bound. Real lengths are far below the cap, so fitted
/// and calibrated models draw exactly what they did before it.
fn tokens(x: f64, lo: f64) -> u64 {
    // `as` saturates (NaN to 0), so the cap holds for any float.
    (x.round().max(lo) as u64).min(MAX_TOKENS)
}

impl RootLengths {
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> RootDraw {
        self.sample_under(rng, None)
    }

    /// Lengths of a root that opens with prefix node `node` (`None`: no node, or not
    /// known).
    pub fn sample_under<R: Rng + ?Sized>(&self, rng: &mut R, node: Option<usize>) -> RootDraw {
        let (u1, u2) = match &self.grid {
            Some(grid) if rng.random::<f64>() < grid.weight() => grid.sample(rng),
            _ => self.dependence.sample(rng),
        };
        RootDraw {
            own_input: tokens(self.own_margin(node).at(u1), 0.0),
            output: tokens(self.output.at(u2), 0.0),
        }
    }

    /// Lengths of a root whose own tokens sit at rank `u` of the margin (of `node`'s
    /// roots where it has one): the output follows that rank through the Gaussian copula.
    pub fn sample_at_rank<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        u: f64,
        node: Option<usize>,
    ) -> RootDraw {
        let u_output = self.dependence.conditional(rng, u);
        RootDraw {
            own_input: tokens(self.own_margin(node).at(u), 0.0),
            output: tokens(self.output.at(u_output), 0.0),
        }
    }

    fn own_margin(&self, node: Option<usize>) -> &Quantile {
        if self.by_node.is_empty() {
            return &self.own_input;
        }
        node.and_then(|n| {
            self.by_node
                .binary_search_by_key(&n, |m| m.node)
                .ok()
                .map(|i| &self.by_node[i].own_input)
        })
        .or(self.other_own.as_ref())
        .unwrap_or(&self.own_input)
    }

    fn validate(&self, at: &dyn Fn(&str) -> String, n_prefixes: usize) -> Result<(), ModelError> {
        self.own_input.validate_tokens(&at("own_input"))?;
        self.output.validate_tokens(&at("output"))?;
        self.dependence.validate(&at("dependence"))?;
        if let Some(g) = &self.grid {
            g.validate(&at("grid"))?;
        }
        for (j, m) in self.by_node.iter().enumerate() {
            if m.node >= n_prefixes {
                return Err(ModelError::invalid(
                    &at(&format!("by_node[{j}].node")),
                    "must name one of the blocks model's prefixes",
                ));
            }
            if j > 0 && self.by_node[j - 1].node >= m.node {
                return Err(ModelError::invalid(
                    &at("by_node"),
                    "nodes must be strictly increasing",
                ));
            }
            m.own_input
                .validate_tokens(&at(&format!("by_node[{j}].own_input")))?;
        }
        if let Some(q) = &self.other_own {
            q.validate_tokens(&at("other_own"))?;
        }
        Ok(())
    }
}

impl FollowupLengths {
    /// (input, output) of a follow-up that kept `kept_tokens` of its parent's context;
    /// `None` when the model has no truncated follow-ups.
    pub fn sample_truncated<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        kept_tokens: u64,
    ) -> Option<(u64, u64)> {
        let own = self.truncated_own.as_ref()?;
        let input = tokens(kept_tokens as f64 + own.at(rng.random()).max(0.0), 1.0);
        let u_output = self
            .dependence
            .conditional(rng, self.input.cdf(input as f64));
        Some((input, tokens(self.output.at(u_output), 0.0)))
    }

    /// (input, output) of a child of a parent with these lengths.
    pub fn sample<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        parent_input: u64,
        parent_output: u64,
    ) -> (u64, u64) {
        let carried = parent_input as f64 + self.carried_output * parent_output as f64;
        let input = tokens(carried + self.new_tokens.at(rng.random()), 1.0);
        let u_output = self
            .dependence
            .conditional(rng, self.input.cdf(input as f64));
        (input, tokens(self.output.at(u_output), 0.0))
    }
}

impl LengthModel {
    /// Fit from a prepared trace and what the blocks fit learned of each root: its
    /// shared-prefix tokens (0 for follow-ups and unshared roots), where its prefix came
    /// from, and the prefix node it opens with.
    pub fn fit(p: &Prepared, roots: &RootPrefixes) -> LengthModel {
        let n_types = p.types.len();
        let shared_tokens = roots.shared_tokens;
        let pooled_root = fit_roots(p, shared_tokens, None, |r| r.1.is_root());
        let pooled_follow = fit_followups(p, None);
        let per_type = (0..n_types)
            .map(|ty| {
                let root = fit_roots(p, shared_tokens, None, |r| r.1.is_root() && r.1.ty == ty)
                    .filter(|r| r.samples >= MIN_SAMPLES)
                    .or_else(|| pooled_root.clone())
                    .unwrap_or_else(default_root);
                let root_by_prefix = PrefixKind::ALL
                    .iter()
                    .map(|&kind| {
                        // A persistent root's node is its prefix; a birth's, the persistent
                        // prefix it grew from.
                        let nodes = matches!(kind, PrefixKind::Persistent).then_some(roots.nodes);
                        fit_roots(p, shared_tokens, nodes, |r| {
                            r.1.is_root() && r.1.ty == ty && roots.kinds[r.0] == kind
                        })
                        .filter(|r| r.samples >= MIN_SAMPLES)
                    })
                    .collect();
                let followup = fit_followups(p, Some(ty))
                    .filter(|f| f.samples >= MIN_SAMPLES)
                    .or_else(|| pooled_follow.clone())
                    .unwrap_or_else(|| default_followup(&root));
                TypeLengths {
                    root,
                    root_by_prefix,
                    followup,
                }
            })
            .collect();
        LengthModel { per_type }
    }

    /// `n_prefixes`: the blocks model's prefix count, which node margins index.
    pub fn validate(&self, n_types: usize, n_prefixes: usize) -> Result<(), ModelError> {
        if self.per_type.len() != n_types {
            return Err(ModelError::invalid(
                "lengths",
                "per_type must have one entry per type",
            ));
        }
        for (i, t) in self.per_type.iter().enumerate() {
            let at = |part: &str| format!("lengths.per_type[{i}].{part}");
            t.root
                .validate(&|part| at(&format!("root.{part}")), n_prefixes)?;
            if t.root_by_prefix.len() > PrefixKind::ALL.len() {
                return Err(ModelError::invalid(
                    &at("root_by_prefix"),
                    "at most one entry per prefix kind",
                ));
            }
            for (k, r) in t.root_by_prefix.iter().enumerate() {
                if let Some(r) = r {
                    r.validate(
                        &|part| at(&format!("root_by_prefix[{k}].{part}")),
                        n_prefixes,
                    )?;
                }
            }
            t.followup
                .new_tokens
                .validate_tokens(&at("followup.new_tokens"))?;
            t.followup.input.validate_tokens(&at("followup.input"))?;
            if let Some(q) = &t.followup.truncated_own {
                q.validate_tokens(&at("followup.truncated_own"))?;
            }
            t.followup.output.validate_tokens(&at("followup.output"))?;
            t.followup.dependence.validate(&at("followup.dependence"))?;
            let c = t.followup.carried_output;
            if !(0.0..=1.0).contains(&c) {
                return Err(ModelError::invalid(
                    &at("followup.carried_output"),
                    "must lie in [0, 1]",
                ));
            }
        }
        Ok(())
    }
}

/// What the blocks fit learned of each request, indexed like `Prepared::requests`.
pub struct RootPrefixes<'a> {
    pub shared_tokens: &'a [u64],
    pub kinds: &'a [PrefixKind],
    /// The persistent prefix node a root opens with (its prefix, or the one its newborn
    /// prefix grew from).
    pub nodes: &'a [Option<usize>],
}

/// Root lengths of the requests `keep` selects (given their index and request); with
/// `nodes`, own-input margins per much-used node too.
fn fit_roots(
    p: &Prepared,
    shared_tokens: &[u64],
    nodes: Option<&[Option<usize>]>,
    keep: impl Fn((usize, &FitRequest)) -> bool,
) -> Option<RootLengths> {
    let (mut own, mut out, mut node_of) = (Vec::new(), Vec::new(), Vec::new());
    for (i, r) in p.requests.iter().enumerate() {
        if keep((i, r)) {
            own.push(r.input.saturating_sub(shared_tokens[i]) as f64);
            out.push(r.output as f64);
            node_of.push(nodes.and_then(|n| n[i]));
        }
    }
    let dependence = GaussianCopula::fit(&own, &out);
    let (by_node, other_own) = match nodes {
        Some(_) => node_margins(&own, &node_of),
        None => (Vec::new(), None),
    };
    Some(RootLengths {
        grid: GridCopula::fit(&own, &out, &dependence),
        dependence,
        own_input: Quantile::fit(&own)?,
        output: Quantile::fit(&out)?,
        samples: own.len(),
        by_node,
        other_own,
    })
}

/// Own-input margins of the most-used nodes with at least `MIN_NODE_SAMPLES` roots, and
/// of the remaining roots; none where that would leave a single group (one margin is
/// `own_input` itself).
fn node_margins(own: &[f64], node_of: &[Option<usize>]) -> (Vec<NodeOwnInput>, Option<Quantile>) {
    let mut counts: std::collections::BTreeMap<usize, usize> = Default::default();
    for n in node_of.iter().flatten() {
        *counts.entry(*n).or_default() += 1;
    }
    let mut chosen = most_used(counts, MIN_NODE_SAMPLES, MAX_NODES);
    let covered: usize = chosen.iter().map(|c| c.1).sum();
    let rest = own.len() - covered;
    if chosen.is_empty() || (chosen.len() == 1 && rest == 0) {
        return (Vec::new(), None);
    }
    chosen.sort_by_key(|c| c.0);
    // Each root's group: 1 + its node's place among the chosen, 0 for the rest.
    let group: Vec<usize> = node_of
        .iter()
        .map(|n| {
            n.and_then(|n| chosen.binary_search_by_key(&n, |c| c.0).ok())
                .map_or(0, |i| i + 1)
        })
        .collect();
    // Margins per node only where the own tokens do differ by node: otherwise they add
    // the noise of small samples and nothing else (one system prompt's app, or several
    // serving one population of users).
    if kruskal_wallis_p(own, &group).is_none_or(|p| p > NODE_EVIDENCE) {
        return (Vec::new(), None);
    }
    let of_group = |g: usize| -> Vec<f64> {
        own.iter()
            .zip(&group)
            .filter(|&(_, &k)| k == g)
            .map(|(x, _)| *x)
            .collect()
    };
    let by_node = chosen
        .iter()
        .enumerate()
        .filter_map(|(i, &(node, _))| {
            Some(NodeOwnInput {
                node,
                own_input: Quantile::fit(&of_group(i + 1))?,
            })
        })
        .collect();
    let others = of_group(0);
    // Too few other roots for a margin of their own: they draw from the whole one.
    let other_own = (others.len() >= MIN_NODE_SAMPLES)
        .then(|| Quantile::fit(&others))
        .flatten();
    (by_node, other_own)
}

fn fit_followups(p: &Prepared, ty: Option<usize>) -> Option<FollowupLengths> {
    let children: Vec<(f64, f64, f64, f64)> = p
        .requests
        .iter()
        .filter(|r| ty.is_none_or(|t| t == r.ty) && r.kept_blocks.is_none())
        .filter_map(|r| {
            let parent = &p.requests[r.parent?];
            Some((
                r.input as f64 - parent.input as f64,
                parent.output as f64,
                r.output as f64,
                r.input as f64,
            ))
        })
        .collect();
    if children.is_empty() {
        return None;
    }
    let carried_output = carried_share(&children);
    let new: Vec<f64> = children
        .iter()
        .map(|(growth, po, _, _)| growth - carried_output * po)
        .collect();
    let out: Vec<f64> = children.iter().map(|c| c.2).collect();
    let input: Vec<f64> = children.iter().map(|c| c.3).collect();
    let block = u64::from(p.block_size.unwrap_or(16));
    let truncated_own: Vec<f64> = p
        .requests
        .iter()
        .filter(|r| ty.is_none_or(|t| t == r.ty))
        .filter_map(|r| Some(r.input.saturating_sub(u64::from(r.kept_blocks?) * block) as f64))
        .collect();
    Some(FollowupLengths {
        truncated_own: Quantile::fit(&truncated_own),
        carried_output,
        dependence: GaussianCopula::fit(&input, &out),
        new_tokens: Quantile::fit(&new)?,
        input: Quantile::fit(&input)?,
        output: Quantile::fit(&out)?,
        samples: children.len(),
    })
}

/// The share of the parent's output carried into the child: 1 when the median growth
/// covers the whole output (chat), otherwise the median of growth / output, which is
/// what a trace with stripped reasoning shows.
fn carried_share(children: &[(f64, f64, f64, f64)]) -> f64 {
    let mut excess: Vec<f64> = children.iter().map(|(g, po, _, _)| g - po).collect();
    excess.sort_unstable_by(f64::total_cmp);
    if excess[excess.len() / 2] >= 0.0 {
        return 1.0;
    }
    let mut ratios: Vec<f64> = children
        .iter()
        .filter(|c| c.1 > 0.0)
        .map(|(g, po, _, _)| (g / po).clamp(0.0, 1.0))
        .collect();
    if ratios.is_empty() {
        return 1.0;
    }
    ratios.sort_unstable_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

fn default_root() -> RootLengths {
    RootLengths {
        own_input: Quantile::constant(1.0),
        output: Quantile::constant(1.0),
        dependence: GaussianCopula::independent(),
        grid: None,
        samples: 0,
        by_node: Vec::new(),
        other_own: None,
    }
}

/// A trace without follow-ups still needs a rule for generated ones (they cannot occur
/// there, since the fitted follow-up probability is 0).
fn default_followup(root: &RootLengths) -> FollowupLengths {
    FollowupLengths {
        carried_output: 1.0,
        new_tokens: root.own_input.clone(),
        input: root.own_input.clone(),
        truncated_own: None,
        output: root.output.clone(),
        dependence: GaussianCopula::independent(),
        samples: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// `per_node` roots under each of nodes 0, 1 and 2, own tokens uniform on
    /// `[base(node), base(node) + 100)`.
    fn roots(per_node: usize, base: impl Fn(usize) -> f64) -> (Vec<f64>, Vec<Option<usize>>) {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut own = Vec::new();
        let mut node_of = Vec::new();
        for node in 0..3 {
            for _ in 0..per_node {
                own.push((base(node) + rng.random_range(0.0..100.0)).round());
                node_of.push(Some(node));
            }
        }
        (own, node_of)
    }

    #[test]
    fn nodes_whose_payloads_differ_get_margins_of_their_own() {
        let (own, node_of) = roots(200, |node| 1000.0 * node as f64);
        let (by_node, other) = node_margins(&own, &node_of);
        assert_eq!(
            by_node.iter().map(|m| m.node).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert!(other.is_none());
        for m in &by_node {
            let median = m.own_input.at(0.5);
            let base = 1000.0 * m.node as f64;
            assert!(
                (base..base + 100.0).contains(&median),
                "node {}: {median}",
                m.node
            );
        }
        // A root under a node draws from that node's margin; one under another node
        // (none of the chosen) from the whole margin.
        let root = RootLengths {
            by_node,
            other_own: None,
            ..fit_roots_for_test(&own)
        };
        assert!(root.own_margin(Some(2)).at(0.5) >= 2000.0);
        assert_eq!(root.own_margin(Some(9)), &root.own_input);
    }

    #[test]
    fn nodes_sharing_one_population_keep_the_single_margin() {
        let (own, node_of) = roots(200, |_| 1000.0);
        assert_eq!(node_margins(&own, &node_of), (Vec::new(), None));
    }

    #[test]
    fn nodes_with_too_few_roots_draw_with_the_rest() {
        let (own, node_of) = roots(MIN_NODE_SAMPLES - 1, |node| 1000.0 * node as f64);
        assert_eq!(node_margins(&own, &node_of), (Vec::new(), None));
    }

    fn fit_roots_for_test(own: &[f64]) -> RootLengths {
        let out = vec![10.0; own.len()];
        RootLengths {
            own_input: Quantile::fit(own).unwrap(),
            output: Quantile::fit(&out).unwrap(),
            dependence: GaussianCopula::independent(),
            grid: None,
            samples: own.len(),
            by_node: Vec::new(),
            other_own: None,
        }
    }
}
