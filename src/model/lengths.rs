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
use super::quantile::Quantile;
use crate::fit::prepared::{FitRequest, Prepared};
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
}

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
        let (u1, u2) = match &self.grid {
            Some(grid) if rng.random::<f64>() < grid.weight() => grid.sample(rng),
            _ => self.dependence.sample(rng),
        };
        RootDraw {
            own_input: tokens(self.own_input.at(u1), 0.0),
            output: tokens(self.output.at(u2), 0.0),
        }
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
    /// Fit from a prepared trace. `shared_tokens[i]` is the shared-prefix token count the
    /// blocks model assigned to request `i` (0 for follow-ups and unshared roots) and
    /// `kinds[i]` where a root's prefix came from.
    pub fn fit(p: &Prepared, shared_tokens: &[u64], kinds: &[PrefixKind]) -> LengthModel {
        let n_types = p.types.len();
        let pooled_root = fit_roots(p, shared_tokens, |r| r.1.is_root());
        let pooled_follow = fit_followups(p, None);
        let per_type = (0..n_types)
            .map(|ty| {
                let root = fit_roots(p, shared_tokens, |r| r.1.is_root() && r.1.ty == ty)
                    .filter(|r| r.samples >= MIN_SAMPLES)
                    .or_else(|| pooled_root.clone())
                    .unwrap_or_else(default_root);
                let root_by_prefix = PrefixKind::ALL
                    .iter()
                    .map(|&kind| {
                        fit_roots(p, shared_tokens, |r| {
                            r.1.is_root() && r.1.ty == ty && kinds[r.0] == kind
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

    pub fn validate(&self, n_types: usize) -> Result<(), ModelError> {
        if self.per_type.len() != n_types {
            return Err(ModelError::invalid(
                "lengths",
                "per_type must have one entry per type",
            ));
        }
        for (i, t) in self.per_type.iter().enumerate() {
            let at = |part: &str| format!("lengths.per_type[{i}].{part}");
            t.root.own_input.validate_tokens(&at("root.own_input"))?;
            t.root.output.validate_tokens(&at("root.output"))?;
            t.root.dependence.validate(&at("root.dependence"))?;
            if let Some(g) = &t.root.grid {
                g.validate(&at("root.grid"))?;
            }
            if t.root_by_prefix.len() > PrefixKind::ALL.len() {
                return Err(ModelError::invalid(
                    &at("root_by_prefix"),
                    "at most one entry per prefix kind",
                ));
            }
            for (k, r) in t.root_by_prefix.iter().enumerate() {
                if let Some(r) = r {
                    let at =
                        |part: &str| format!("lengths.per_type[{i}].root_by_prefix[{k}].{part}");
                    r.own_input.validate_tokens(&at("own_input"))?;
                    r.output.validate_tokens(&at("output"))?;
                    r.dependence.validate(&at("dependence"))?;
                    if let Some(g) = &r.grid {
                        g.validate(&at("grid"))?;
                    }
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

/// Root lengths of the requests `keep` selects (given their index and request).
fn fit_roots(
    p: &Prepared,
    shared_tokens: &[u64],
    keep: impl Fn((usize, &FitRequest)) -> bool,
) -> Option<RootLengths> {
    let (mut own, mut out) = (Vec::new(), Vec::new());
    for (i, r) in p.requests.iter().enumerate() {
        if keep((i, r)) {
            own.push(r.input.saturating_sub(shared_tokens[i]) as f64);
            out.push(r.output as f64);
        }
    }
    let dependence = GaussianCopula::fit(&own, &out);
    Some(RootLengths {
        grid: GridCopula::fit(&own, &out, &dependence),
        dependence,
        own_input: Quantile::fit(&own)?,
        output: Quantile::fit(&out)?,
        samples: own.len(),
    })
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
    excess.sort_by(f64::total_cmp);
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
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

fn default_root() -> RootLengths {
    RootLengths {
        own_input: Quantile::constant(1.0),
        output: Quantile::constant(1.0),
        dependence: GaussianCopula::independent(),
        grid: None,
        samples: 0,
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
