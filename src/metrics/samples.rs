//! The raw samples behind the figures, for distances between two traces (KS,
//! Wasserstein) where a summary would hide the shape.

use std::collections::BTreeMap;

use super::arrivals::{gaps, timestamps};
use super::blocks::BlockTable;
use super::cache::IdealPass;
use super::sessions::{self, SessionIndex};
use super::types::TypeIndex;
use crate::trace::Trace;

/// The one-time indices every figure builds on, so a caller that wants both samples and
/// statistics pays for them once.
pub struct Prepared {
    pub types: Option<TypeIndex>,
    pub sessions: Option<SessionIndex>,
    pub blocks: Option<BlockTable>,
    pub ideal: Option<IdealPass>,
}

impl Prepared {
    pub fn new(trace: &Trace) -> Prepared {
        let types = TypeIndex::build(trace);
        let sessions = SessionIndex::build(trace);
        let blocks = BlockTable::build(trace);
        let ideal = blocks
            .as_ref()
            .map(|b| IdealPass::run(trace, b, types.as_ref(), sessions.as_ref()));
        Prepared {
            types,
            sessions,
            blocks,
            ideal,
        }
    }
}

/// Samples of one trace. A field is `None` when the format lacks what it measures.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    pub input_lengths: Vec<f64>,
    pub output_lengths: Vec<f64>,
    /// Gaps between consecutive requests (seconds).
    pub inter_arrival: Vec<f64>,
    /// Gaps between consecutive session roots: the exogenous arrival process.
    pub root_inter_arrival: Option<Vec<f64>>,
    /// Parent -> child arrival gaps (seconds).
    pub parent_child_gaps: Option<Vec<f64>>,
    /// Child input - parent input - parent output, per follow-up.
    pub new_tokens: Option<Vec<f64>>,
    /// Seconds since the previous use of each hit block (infinite cache).
    pub reuse_gaps: Option<Vec<f64>>,
    /// The same, per request type (the child's type for parent -> child gaps, the
    /// reusing request's type for reuse gaps). Empty without types.
    pub by_type: BTreeMap<String, TypeSamples>,
}

#[derive(Debug, Clone, Default)]
pub struct TypeSamples {
    pub input_lengths: Vec<f64>,
    pub output_lengths: Vec<f64>,
    pub parent_child_gaps: Vec<f64>,
    pub reuse_gaps: Option<Vec<f64>>,
}

impl Samples {
    pub fn collect(trace: &Trace) -> Samples {
        Samples::from_prepared(trace, &Prepared::new(trace))
    }

    pub fn from_prepared(trace: &Trace, p: &Prepared) -> Samples {
        let reqs = &trace.requests;
        let mut s = Samples {
            input_lengths: reqs.iter().map(|r| r.input_length as f64).collect(),
            output_lengths: reqs.iter().map(|r| r.output_length as f64).collect(),
            inter_arrival: gaps(&timestamps(trace)),
            ..Samples::default()
        };
        if let Some(index) = &p.sessions {
            let roots: Vec<f64> = reqs
                .iter()
                .filter(|r| r.session.as_ref().is_some_and(|s| s.is_root()))
                .map(|r| r.timestamp)
                .collect();
            s.root_inter_arrival = Some(gaps(&roots));
            s.parent_child_gaps = Some(sessions::parent_child_gaps(trace, index));
            s.new_tokens = Some(sessions::new_tokens(trace, index));
        }
        s.reuse_gaps = p.ideal.as_ref().map(|ideal| ideal.reuse_gaps.concat());
        if let Some(types) = &p.types {
            let mut per: Vec<TypeSamples> = vec![TypeSamples::default(); types.len()];
            for (i, r) in reqs.iter().enumerate() {
                let t = &mut per[types.of_request[i] as usize];
                t.input_lengths.push(r.input_length as f64);
                t.output_lengths.push(r.output_length as f64);
            }
            if let Some(index) = &p.sessions {
                for (c, parent) in index.parent.iter().enumerate() {
                    if let Some(parent) = parent {
                        let gap = reqs[c].timestamp - reqs[*parent as usize].timestamp;
                        per[types.of_request[c] as usize]
                            .parent_child_gaps
                            .push(gap);
                    }
                }
            }
            if let Some(ideal) = &p.ideal {
                for (t, gaps) in per.iter_mut().zip(&ideal.reuse_gaps) {
                    t.reuse_gaps = Some(gaps.clone());
                }
            }
            s.by_type = types.names.iter().cloned().zip(per).collect();
        }
        s
    }
}
