//! [`TracePass`]: every figure of a trace from one pass over its records, in memory
//! that follows the distinct values and blocks, not the records.
//!
//! What a record leaves behind is a few numbers (its timestamp, and for a session
//! trace its tree's head, input + output, root flag and child count, which any later
//! child may ask for) and, per distinct block, its latest touch ([`CachePass`]).
//! Samples are exact histograms; sums whose rounding depends on order (means of gaps)
//! are taken in file order as the records come, so every figure is the one the
//! whole-trace computation gave, to the last bit.

use rustc_hash::FxHashMap;

use super::cache::CachePass;
use super::classifier::{FeatureRow, FeatureSample};
use super::histogram::{Histogram, Tally};
use super::sessions::SessionPass;
use super::summary::Summary;
use super::types::TypeTable;
use crate::trace::{Format, Request};

/// Lengths of one group of requests (all, or one type).
#[derive(Debug, Default)]
pub(super) struct Lengths {
    pub input: Tally,
    pub output: Tally,
    pub input_sum: f64,
    pub output_sum: f64,
    pub count: u64,
}

impl Lengths {
    fn push(&mut self, req: &Request) {
        let (i, o) = (req.input_length as f64, req.output_length as f64);
        self.input.add(i);
        self.output.add(o);
        self.input_sum += i;
        self.output_sum += o;
        self.count += 1;
    }

    /// Histograms and summaries of inputs and outputs.
    pub fn finish(self) -> [(Histogram, Option<Summary>); 2] {
        let (input, output) = (self.input.finish(), self.output.finish());
        let si = Summary::of_histogram(&input, self.input_sum);
        let so = Summary::of_histogram(&output, self.output_sum);
        [(input, si), (output, so)]
    }
}

/// The one streaming pass every figure comes from: feed it each record in file order
/// with [`TracePass::push`], then [`TracePass::finish`].
#[derive(Debug)]
pub struct TracePass {
    pub(super) format: Format,
    pub(super) block_size: Option<u32>,
    pub(super) times: Vec<f64>,
    pub(super) lengths: Lengths,
    /// `(input, output)` -> requests, for the rank correlation.
    pub(super) pairs: FxHashMap<(u64, u64), u64>,
    pub(super) types: TypeTable,
    /// Per request: its type's code (a parent's is asked for by its children).
    pub(super) type_of: Vec<u16>,
    pub(super) by_type: Vec<Lengths>,
    pub(super) sessions: SessionPass,
    pub(super) cache: CachePass,
    pub(super) features: FeatureSample,
}

impl TracePass {
    /// A pass over a trace of `format` whose blocks hold `block_size` tokens.
    pub fn new(format: Format, block_size: Option<u32>) -> TracePass {
        TracePass {
            format,
            block_size,
            times: Vec::new(),
            lengths: Lengths::default(),
            pairs: FxHashMap::default(),
            types: TypeTable::default(),
            type_of: Vec::new(),
            by_type: Vec::new(),
            sessions: SessionPass::default(),
            cache: CachePass::default(),
            features: FeatureSample::default(),
        }
    }

    pub fn push(&mut self, req: &Request) {
        let previous = self.times.last().copied().unwrap_or(req.timestamp);
        self.times.push(req.timestamp);
        self.lengths.push(req);
        *self
            .pairs
            .entry((req.input_length, req.output_length))
            .or_insert(0) += 1;
        let ty = self.types.code(req.req_type().unwrap_or(""));
        self.type_of.push(ty);
        if self.by_type.len() <= ty as usize {
            self.by_type.resize_with(ty as usize + 1, Lengths::default);
        }
        self.by_type[ty as usize].push(req);
        let link = self.sessions.push(req, &self.times, &self.type_of);
        let tree = req.session.is_some().then_some(link.tree);
        let ids = req.ids();
        self.cache.any_blocks |= req.hash_ids.is_some();
        let hits = self.cache.push(&self.times, &self.type_of, tree, ids);
        self.features.push(FeatureRow {
            time: req.timestamp,
            previous,
            parent: link.parent.map(|p| self.times[p as usize]),
            input: req.input_length,
            output: req.output_length,
            hit_share: if ids.is_empty() {
                0.0
            } else {
                hits as f64 / ids.len() as f64
            },
            type_code: ty,
            turn: req.session.as_ref().map_or(0, |s| s.turn),
        });
    }
}
