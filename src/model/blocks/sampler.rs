//! The generator's side of the blocks model.

use std::collections::HashMap;
use std::rc::Rc;

use rand::{Rng, RngExt};

use super::ids::IdRuns;
use super::scaling::Scaling;
use super::{BlockModel, PrefixKind};
use crate::model::schedule::Schedule;

/// The generator's side of the blocks model: mints ids, remembers persistent prefixes
/// and the ephemeral prefixes that still have reuses to come.
///
/// Ids are minted in the order the generator asks for them, so they depend only on the
/// model, the options and the seed: every shard of a sharded run replays the same
/// sequence and numbers its own records exactly as one whole run would.
pub struct BlockSampler<'m> {
    model: &'m BlockModel,
    /// Per type: the root choices with their cumulative weights, for a binary search (a
    /// model can have hundreds of persistent prefixes).
    choices: Vec<ChoiceTable>,
    block: u64,
    /// Shared prefixes' blocks times this (`--prefix-scale`).
    prefix_scale: f64,
    next_id: u64,
    /// Full id path of each persistent prefix, minted at its first use.
    minted: Vec<Option<Rc<IdRuns>>>,
    /// Per type: ephemeral prefixes waiting for a root to reuse them, earliest first.
    reservations: Vec<Schedule<Reservation>>,
    tail_ids: HashMap<(usize, u64), u64>,
    /// Per type, when the model has a content population and the scale is not the
    /// fitted one: how shared prefixes change with the users.
    scaling: Vec<Option<Scaling>>,
    /// Per type, the templates' first roots' tokens, sorted.
    birth_tokens: Vec<Vec<u64>>,
}

/// What a root that reuses no live ephemeral prefix starts with.
#[derive(Debug, Clone, Copy)]
enum Choice {
    None,
    Persistent(usize),
    /// A new ephemeral prefix extending a persistent one, or nothing.
    Birth(Option<usize>),
}

#[derive(Debug)]
struct ChoiceTable {
    choices: Vec<Choice>,
    /// Running sums of the choices' weights.
    cumulative: Vec<f64>,
}

impl ChoiceTable {
    /// `once` scales the choices whose content is nobody else's (no prefix, or only a
    /// persistent one), `birth` those that open a shared prefix.
    fn new(choice: &super::RootChoice, once: f64, birth: f64) -> ChoiceTable {
        let entries = std::iter::once((Choice::None, choice.none * once))
            .chain(
                choice
                    .persistent
                    .iter()
                    .map(|&(n, w)| (Choice::Persistent(n), w * once)),
            )
            .chain(
                choice
                    .birth
                    .iter()
                    .map(|&(p, w)| (Choice::Birth(p), w * birth)),
            );
        let mut total = 0.0;
        let (mut choices, mut cumulative) = (Vec::new(), Vec::new());
        for (c, w) in entries {
            total += w;
            choices.push(c);
            cumulative.push(total);
        }
        ChoiceTable {
            choices,
            cumulative,
        }
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Choice {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = rng.random::<f64>() * total;
        let i = self.cumulative.partition_point(|&c| c <= x);
        self.choices[i.min(self.choices.len() - 1)]
    }
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
    parent_path: Rc<IdRuns>,
    own_start: u64,
    own_blocks: u64,
}

/// Ids would no longer fit in 32 bits (Dynamo's mocker maps ids to u32 tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("block id space exhausted: more than 2^32 distinct blocks")]
pub struct IdsExhausted;

/// The mid-rank of `n` in `sorted`, in (0, 1): ties share the middle of their range.
fn birth_rank(sorted: &[u64], n: u64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let below = sorted.partition_point(|&x| x < n);
    let upto = sorted.partition_point(|&x| x <= n);
    Some((below + upto) as f64 / (2.0 * sorted.len() as f64))
}

/// A new root's prefix, as [`BlockSampler::root_prefix`] chose it.
#[derive(Debug, Clone)]
pub struct RootPrefix {
    pub ids: Rc<IdRuns>,
    /// Leading blocks of `ids` seen before.
    pub shared_blocks: usize,
    pub kind: PrefixKind,
    /// The persistent node the root opens with (a birth's: the one it grew from).
    pub node: Option<usize>,
    /// Where a birth's own tokens rank among the births the model keeps, from its
    /// template's first root (`None`: drawn at random).
    pub own_rank: Option<f64>,
}

impl RootPrefix {
    /// A prefix every block of which was seen before.
    fn shared(ids: Rc<IdRuns>, kind: PrefixKind, node: Option<usize>) -> RootPrefix {
        RootPrefix {
            shared_blocks: ids.len(),
            ids,
            kind,
            node,
            own_rank: None,
        }
    }
}

impl<'m> BlockSampler<'m> {
    /// `users`: the generated scale in users of the fitted service (`--rate-scale`),
    /// which sets how shared prefixes are used when the model has a content population
    /// ([`super::scaling`]).
    pub fn new(model: &'m BlockModel, block_size: u32, n_types: usize, users: f64) -> Self {
        let scaling: Vec<Option<Scaling>> = (0..n_types)
            .map(|ty| {
                let pop = model.population.get(ty)?.as_ref()?;
                Scaling::new(pop, &model.ephemeral.get(ty)?.templates, users)
            })
            .collect();
        let choices = model
            .root_choice
            .iter()
            .enumerate()
            .map(|(ty, c)| match scaling.get(ty).and_then(|s| s.as_ref()) {
                Some(s) => ChoiceTable::new(c, s.once, s.birth),
                None => ChoiceTable::new(c, 1.0, 1.0),
            })
            .collect();
        BlockSampler {
            model,
            choices,
            block: u64::from(block_size),
            prefix_scale: 1.0,
            next_id: 0,
            minted: vec![None; model.prefixes.len()],
            reservations: (0..n_types).map(|_| Schedule::default()).collect(),
            tail_ids: HashMap::new(),
            scaling,
            birth_tokens: model
                .ephemeral
                .iter()
                .map(|e| {
                    let mut v: Vec<u64> =
                        e.templates.iter().filter_map(|t| t.birth_tokens).collect();
                    v.sort_unstable();
                    v
                })
                .collect(),
        }
    }

    /// Every shared prefix (a persistent node's blocks, a born document's) `k` times as
    /// many blocks, rounded, at least one.
    pub fn with_prefix_scale(mut self, k: f64) -> Self {
        self.prefix_scale = k;
        self
    }

    fn prefix_blocks(&self, blocks: u64) -> u64 {
        if self.prefix_scale == 1.0 {
            return blocks;
        }
        ((blocks as f64 * self.prefix_scale).round() as u64).max(1)
    }

    /// Distinct blocks minted so far.
    pub fn blocks_minted(&self) -> u64 {
        self.next_id
    }

    /// The first of `n` new consecutive ids.
    fn fresh(&mut self, n: u64) -> Result<u64, IdsExhausted> {
        if self.next_id + n > crate::trace::MAX_HASH_ID {
            return Err(IdsExhausted);
        }
        self.next_id += n;
        Ok(self.next_id - n)
    }

    fn persistent_path(&mut self, node: usize) -> Result<Rc<IdRuns>, IdsExhausted> {
        if let Some(path) = &self.minted[node] {
            return Ok(path.clone());
        }
        let spec = &self.model.prefixes[node];
        let (parent, blocks) = (spec.parent, self.prefix_blocks(u64::from(spec.blocks)));
        let mut path = match parent {
            Some(p) => self.persistent_path(p)?.as_ref().clone(),
            None => IdRuns::new(),
        };
        path.push_run(self.fresh(blocks)?, blocks);
        let path = Rc::new(path);
        self.minted[node] = Some(path.clone());
        Ok(path)
    }

    /// The prefix of a new root of type `ty` arriving at `now` (model seconds): its ids,
    /// how many of its blocks were shared before (the rest, a newborn prefix's own
    /// blocks, are this root's own content), where it came from and the persistent node
    /// it opens with.
    pub fn root_prefix<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        ty: usize,
        now: f64,
    ) -> Result<RootPrefix, IdsExhausted> {
        if let Some(r) = self.reservations[ty].pop_due(now) {
            return Ok(RootPrefix::shared(
                reuse(&r.prefix, r.share),
                PrefixKind::Reuse,
                None,
            ));
        }
        let parent = match self.choices[ty].sample(rng) {
            Choice::None => {
                return Ok(RootPrefix::shared(
                    Rc::new(IdRuns::new()),
                    PrefixKind::None,
                    None,
                ));
            }
            Choice::Persistent(node) => {
                let path = self.persistent_path(node)?;
                return Ok(RootPrefix::shared(path, PrefixKind::Persistent, Some(node)));
            }
            Choice::Birth(parent) => parent,
        };
        let shared_blocks = match parent {
            Some(node) => self.persistent_path(node)?.len(),
            None => 0,
        };
        let (ids, own_rank) = self.birth(rng, ty, now, parent)?;
        Ok(RootPrefix {
            ids,
            shared_blocks,
            kind: PrefixKind::Birth,
            node: parent,
            own_rank,
        })
    }

    /// A new ephemeral prefix, with its future reuses booked, and the tokens its first
    /// root adds to the parent where the template keeps them.
    fn birth<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        ty: usize,
        now: f64,
        parent: Option<usize>,
    ) -> Result<(Rc<IdRuns>, Option<f64>), IdsExhausted> {
        let templates = &self.model.ephemeral[ty].templates;
        let (template, drawn) = match &self.scaling[ty] {
            Some(uses) => {
                let (t, reuses) = uses.draw(rng, templates);
                (Some(t), Some(reuses))
            }
            None => (
                (!templates.is_empty()).then(|| &templates[rng.random_range(0..templates.len())]),
                None,
            ),
        };
        let blocks = template.map_or(1, |t| u64::from(t.blocks));
        // The birth's own tokens take the rank its template's first root had among the
        // kept templates (the margin stays the one of every birth: templates are the early
        // births only, tried as exact tokens: Mooncake same-scale input.ks 0.024 -> 0.025,
        // ideal 0.003 -> 0.010). Only where the template is drawn as the fit saw them: a
        // scaled law picks the template whose reuse count it asks for, and the length
        // would follow popularity (tried: Mooncake x0.25 input w1_log 0.052 -> 0.097).
        let own_rank = template
            .filter(|_| drawn.is_none())
            .and_then(|t| t.birth_tokens)
            .and_then(|n| birth_rank(&self.birth_tokens[ty], n));
        let parent_path = match parent {
            Some(p) => self.persistent_path(p)?,
            None => Rc::new(IdRuns::new()),
        };
        let blocks = self.prefix_blocks(blocks);
        let own_start = self.fresh(blocks)?;
        let mut path = parent_path.as_ref().clone();
        path.push_run(own_start, blocks);
        let reuses = match &drawn {
            Some(d) => &d[..],
            None => template.map_or(&[][..], |t| &t.reuses[..]),
        };
        if !reuses.is_empty() {
            let prefix = Rc::new(EphemeralPrefix {
                parent_path,
                own_start,
                own_blocks: blocks,
            });
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
        Ok((Rc::new(path), own_rank))
    }

    /// Ids of a request of `input_length` tokens that starts with `prefix` (a shared or
    /// inherited prefix); the rest is fresh, its last block possibly a shared tail.
    pub fn complete<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        prefix: &IdRuns,
        input_length: u64,
        tail_prob: f64,
    ) -> Result<IdRuns, IdsExhausted> {
        let n = input_length.div_ceil(self.block) as usize;
        let partial = !input_length.is_multiple_of(self.block);
        if n <= prefix.len() {
            let mut ids = prefix.prefix(n);
            // A prefix block is full; a partial one is other content and gets its own id.
            if partial {
                ids.pop();
                ids.push(self.fresh(1)?);
            }
            return Ok(ids);
        }
        let mut ids = prefix.clone();
        let own = (n - 1 - prefix.len()) as u64;
        ids.push_run(self.fresh(own)?, own);
        let weights = &self.model.tails.weights;
        let last = if !weights.is_empty() && tail_prob > 0.0 && rng.random::<f64>() < tail_prob {
            let slot = crate::model::sessions::sample_index(rng, weights);
            let fill = input_length - (n as u64 - 1) * self.block;
            match self.tail_ids.get(&(slot, fill)) {
                Some(&id) => id,
                None => {
                    let id = self.fresh(1)?;
                    self.tail_ids.insert((slot, fill), id);
                    id
                }
            }
        } else {
            self.fresh(1)?
        };
        ids.push(last);
        Ok(ids)
    }
}

/// The prefix of a root reusing a live ephemeral prefix to `share` of its depth.
fn reuse(prefix: &EphemeralPrefix, share: f64) -> Rc<IdRuns> {
    let n = prefix.own_blocks;
    let depth = ((share * n as f64).round() as u64).clamp(1, n);
    let mut path = prefix.parent_path.as_ref().clone();
    path.push_run(prefix.own_start, depth);
    Rc::new(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::blocks::TailModel;
    use rand::SeedableRng;

    fn sampler_model() -> BlockModel {
        let mut model = BlockModel::unshared(1);
        model.tails = TailModel {
            root_prob: vec![1.0],
            followup_prob: vec![1.0],
            weights: vec![1.0],
        };
        model
    }

    #[test]
    fn a_shared_tail_has_one_id_per_fill() {
        let model = sampler_model();
        let mut s = BlockSampler::new(&model, 16, 1, 1.0);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let none = IdRuns::new();
        let a = s.complete(&mut rng, &none, 40, 1.0).unwrap().to_vec(); // last block: 8 tokens
        let b = s.complete(&mut rng, &none, 24, 1.0).unwrap().to_vec(); // 8 again
        let c = s.complete(&mut rng, &none, 20, 1.0).unwrap().to_vec(); // 4
        assert_eq!(a.len(), 3);
        assert_eq!(a.last(), b.last());
        assert_ne!(a.last(), c.last());
        // Everything before the tail is fresh content.
        assert_ne!(a[0], b[0]);
    }

    #[test]
    fn a_partial_block_inside_a_prefix_gets_its_own_id() {
        let model = BlockModel::unshared(1);
        let mut s = BlockSampler::new(&model, 16, 1, 1.0);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut runs = IdRuns::new();
        runs.push_run(100, 5);
        let prefix = runs.to_vec();
        // 40 tokens: two full blocks of the prefix, then 8 tokens that are other content.
        let ids = s.complete(&mut rng, &runs, 40, 0.0).unwrap().to_vec();
        assert_eq!(&ids[..2], &prefix[..2]);
        assert!(!prefix.contains(&ids[2]));
        // 48 tokens end on a block boundary: three full prefix blocks.
        assert_eq!(
            s.complete(&mut rng, &runs, 48, 0.0).unwrap().to_vec(),
            prefix[..3].to_vec()
        );
    }

    #[test]
    fn a_birth_takes_its_templates_first_root_rank() {
        use crate::model::blocks::PrefixTemplate;
        let mut model = BlockModel::unshared(1);
        model.root_choice[0].none = 0.0;
        model.root_choice[0].birth = vec![(None, 1.0)];
        let template = |blocks, birth_tokens| PrefixTemplate {
            blocks,
            reuses: vec![(5.0, 1.0)],
            birth_tokens: Some(birth_tokens),
        };
        // Two templates: the short one's first root was the shorter.
        model.ephemeral[0].templates = vec![template(2, 40), template(50, 900)];
        let mut s = BlockSampler::new(&model, 16, 1, 1.0);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut seen = std::collections::BTreeMap::new();
        for i in 0..50 {
            // Each birth's reuse comes due 5 s later and takes the next root.
            let p = s.root_prefix(&mut rng, 0, f64::from(i) * 100.0).unwrap();
            if p.kind == PrefixKind::Reuse {
                assert_eq!(p.own_rank, None);
                continue;
            }
            assert_eq!(p.kind, PrefixKind::Birth);
            // Mid-ranks among the two templates: 0.25 for the short, 0.75 for the long.
            seen.insert(p.ids.len(), p.own_rank.unwrap());
        }
        assert_eq!(
            seen.into_iter().collect::<Vec<_>>(),
            [(2, 0.25), (50, 0.75)]
        );
        // Older models (no first-root tokens) draw the lengths.
        model.ephemeral[0].templates = vec![PrefixTemplate {
            birth_tokens: None,
            ..template(2, 40)
        }];
        let mut s = BlockSampler::new(&model, 16, 1, 1.0);
        assert_eq!(s.root_prefix(&mut rng, 0, 0.0).unwrap().own_rank, None);
    }

    #[test]
    fn birth_ranks_are_mid_ranks() {
        assert_eq!(birth_rank(&[], 5), None);
        assert_eq!(birth_rank(&[1, 2, 2, 3], 2), Some(0.5));
        assert_eq!(birth_rank(&[1, 2, 3, 4], 1), Some(0.125));
        assert_eq!(birth_rank(&[1, 2, 3, 4], 9), Some(1.0));
    }
}
