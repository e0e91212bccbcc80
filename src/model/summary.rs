//! What a model learned, in figures a user can read (`tracesynth show`): one typed
//! summary, printed as text or serialized as JSON, so both say the same.

use std::fmt::Write as _;

use serde::Serialize;

use super::{Model, SourceFormat};
use crate::fit::prepared::Lineage;
use crate::generate::GenerateOptions;
use crate::generate::estimate::{EstimateError, EstimateLimits, estimate};
use crate::trace::{Format, LineFormatter};

/// Turn rows of the follow-up probability shown.
pub const TURN_ROWS: usize = 5;
/// Persistent prefixes listed.
pub const TOP_PREFIXES: usize = 5;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub provenance: ProvenanceSummary,
    pub arrivals: ArrivalSummary,
    pub lengths: Vec<TypeLengthSummary>,
    pub sessions: SessionSummary,
    pub blocks: BlockSummary,
    pub expected: ExpectedSummary,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProvenanceSummary {
    pub source: String,
    pub source_format: SourceFormat,
    /// `fitted` or `calibrated`.
    pub made: &'static str,
    pub records: u64,
    pub span_seconds: f64,
    pub block_size: u32,
    pub types: Vec<String>,
    pub lineage: Lineage,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArrivalSummary {
    /// Session starts per second over the span.
    pub mean_root_rate: f64,
    pub bin_width_seconds: f64,
    pub bins: usize,
    pub min_bin_rate: f64,
    pub max_bin_rate: f64,
    /// `(burst bin seconds, variance of the mean-1 multiplier)` when the model has bursts.
    pub burst: Option<(f64, f64)>,
}

/// p10, p50, p90.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub p10: f64,
    pub p50: f64,
    pub p90: f64,
}

impl Percentiles {
    fn of(q: &super::quantile::Quantile) -> Percentiles {
        Percentiles {
            p10: q.at(0.1),
            p50: q.at(0.5),
            p90: q.at(0.9),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeLengthSummary {
    pub type_name: String,
    /// A root's tokens beyond its shared prefix.
    pub root_own_input: Percentiles,
    pub root_output: Percentiles,
    pub followup_new_tokens_p50: f64,
    /// Share of the parent's output carried into a follow-up's context.
    pub followup_carried_output: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionSummary {
    /// `(type, share of session roots)`.
    pub root_type_mix: Vec<(String, f64)>,
    pub per_type: Vec<TypeSessionSummary>,
    /// Requests per session, root included.
    pub expected_session_size: f64,
    /// `fit's stability report` or `branching process`.
    pub session_size_from: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeSessionSummary {
    pub type_name: String,
    /// Probability of at least one follow-up at turns 1, 2, ... (the last row the model
    /// holds covers every later turn), averaged over the input buckets by their share.
    pub followup_prob_by_turn: Vec<f64>,
    /// Seconds to a follow-up after a parent of the type's median root output.
    pub think_time_p50: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlockSummary {
    pub persistent_prefixes: usize,
    pub top_prefixes: Vec<PrefixSummary>,
    pub ephemeral: Vec<EphemeralSummary>,
    pub population: Vec<PopulationSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrefixSummary {
    pub index: usize,
    pub uses: u32,
    /// Blocks from the forest's root to this node.
    pub blocks: u64,
    pub parent: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EphemeralSummary {
    pub type_name: String,
    pub templates: usize,
    pub mean_reuses: f64,
    pub fitted_count: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PopulationSummary {
    pub type_name: String,
    pub mass: f64,
    pub discount: f64,
    pub unique: f64,
    /// Distinct shared items at the fitted scale.
    pub observed_items: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpectedSummary {
    /// Infinite when the model runs away.
    pub requests_per_hour: f64,
    /// Of `generate`'s default output (Bailian lines).
    pub bytes_per_hour: f64,
    /// `fit's stability report` or `generate's estimate over one span`.
    pub from: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    #[error("estimating the output: {0}")]
    Estimate(#[from] EstimateError),
    #[error("formatting a sample line: {0}")]
    Formatter(#[from] crate::trace::FormatterError),
}

impl Summary {
    pub fn of(model: &Model) -> Result<Summary, SummaryError> {
        let types = &model.types;
        let p = &model.provenance;
        let provenance = ProvenanceSummary {
            source: p.source.clone(),
            source_format: p.source_format,
            made: if p.calibration.is_some() {
                "calibrated"
            } else {
                "fitted"
            },
            records: p.records,
            span_seconds: model.span,
            block_size: model.block_size,
            types: types.clone(),
            lineage: p.lineage,
            note: p.note.clone(),
        };
        let a = &model.arrivals;
        let arrivals = ArrivalSummary {
            mean_root_rate: a.mean_rate(),
            bin_width_seconds: a.bin_width,
            bins: a.rates.len(),
            min_bin_rate: a.rates.iter().copied().fold(f64::INFINITY, f64::min),
            max_bin_rate: a.rates.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            burst: (a.burst_var > 0.0).then_some((a.burst_bin, a.burst_var)),
        };
        let lengths = model
            .lengths
            .per_type
            .iter()
            .zip(types)
            .map(|(l, name)| TypeLengthSummary {
                type_name: name.clone(),
                root_own_input: Percentiles::of(&l.root.own_input),
                root_output: Percentiles::of(&l.root.output),
                followup_new_tokens_p50: l.followup.new_tokens.at(0.5),
                followup_carried_output: l.followup.carried_output,
            })
            .collect::<Vec<_>>();
        let s = &model.sessions;
        let (expected_session_size, session_size_from) = match &p.stability {
            Some(st) => (st.mean_session_size, "fit's stability report"),
            None => (s.expected_session_size(), "branching process"),
        };
        let sessions = SessionSummary {
            root_type_mix: types
                .iter()
                .cloned()
                .zip(s.root_type_mix.iter().copied())
                .collect(),
            per_type: s
                .per_type
                .iter()
                .zip(types)
                .zip(&model.lengths.per_type)
                .map(|((t, name), l)| TypeSessionSummary {
                    type_name: name.clone(),
                    followup_prob_by_turn: t
                        .child_prob
                        .iter()
                        .take(TURN_ROWS)
                        .enumerate()
                        .map(|(r, row)| row_mean(row, t.input_mix.get(r)))
                        .collect(),
                    think_time_p50: t.think_time.at(l.root.output.at(0.5).max(0.0) as u64, 0.5),
                })
                .collect(),
            expected_session_size,
            session_size_from,
        };
        let blocks = block_summary(model);
        let expected = expected(model)?;
        Ok(Summary {
            provenance,
            arrivals,
            lengths,
            sessions,
            blocks,
            expected,
        })
    }

    /// The summary as the text `tracesynth show` prints.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let p = &self.provenance;
        let _ = writeln!(o, "provenance");
        let _ = writeln!(
            o,
            "  source: {} ({}, {}), {} records, lineage {}",
            p.source,
            p.source_format.name(),
            p.made,
            p.records,
            lineage_name(p.lineage)
        );
        if let Some(note) = &p.note {
            let _ = writeln!(o, "  note: {note}");
        }
        let _ = writeln!(
            o,
            "  span: {:.0} s ({:.2} h); block size {} tokens",
            p.span_seconds,
            p.span_seconds / 3600.0,
            p.block_size
        );
        let _ = writeln!(o, "  types: {}", p.types.join(", "));
        let a = &self.arrivals;
        let _ = writeln!(o, "\narrivals (session starts)");
        let _ = writeln!(o, "  mean rate: {:.4} /s", a.mean_root_rate);
        let _ = writeln!(
            o,
            "  rate profile: {} bins of {:.0} s; min {:.4} / mean {:.4} / max {:.4} per s",
            a.bins, a.bin_width_seconds, a.min_bin_rate, a.mean_root_rate, a.max_bin_rate
        );
        match a.burst {
            Some((bin, var)) => {
                let _ = writeln!(
                    o,
                    "  bursts: every {bin:.0} s the rate is multiplied by a mean-1 draw of variance {var:.3}"
                );
            }
            None => {
                let _ = writeln!(o, "  bursts: none");
            }
        }
        let _ = writeln!(o, "\nlengths (tokens)");
        for l in &self.lengths {
            let _ = writeln!(
                o,
                "  {}: root own input p10/p50/p90 {}; root output {}",
                l.type_name,
                pct(&l.root_own_input),
                pct(&l.root_output)
            );
            let _ = writeln!(
                o,
                "  {}: follow-up new tokens p50 {:.0}; carried output share {:.2}",
                l.type_name, l.followup_new_tokens_p50, l.followup_carried_output
            );
        }
        let s = &self.sessions;
        let _ = writeln!(o, "\nsessions");
        let mix: Vec<String> = s
            .root_type_mix
            .iter()
            .map(|(t, w)| format!("{t} {w:.3}"))
            .collect();
        let _ = writeln!(o, "  root type mix: {}", mix.join(", "));
        for t in &s.per_type {
            let probs: Vec<String> = t
                .followup_prob_by_turn
                .iter()
                .map(|p| format!("{p:.3}"))
                .collect();
            let _ = writeln!(
                o,
                "  {}: follow-up probability by turn {}; think time p50 {:.1} s",
                t.type_name,
                probs.join(" "),
                t.think_time_p50
            );
        }
        let _ = writeln!(
            o,
            "  expected session size: {:.3} requests ({})",
            s.expected_session_size, s.session_size_from
        );
        let b = &self.blocks;
        let _ = writeln!(o, "\nblocks");
        let _ = writeln!(o, "  persistent prefixes: {}", b.persistent_prefixes);
        for x in &b.top_prefixes {
            let _ = writeln!(
                o,
                "    #{}: {} uses, {} blocks{}",
                x.index,
                x.uses,
                x.blocks,
                x.parent
                    .map_or(String::new(), |p| format!(" (extends #{p})"))
            );
        }
        for e in &b.ephemeral {
            let _ = writeln!(
                o,
                "  {}: {} ephemeral templates ({} fitted prefixes), mean reuses {:.2}",
                e.type_name, e.templates, e.fitted_count, e.mean_reuses
            );
        }
        for c in &b.population {
            let _ = writeln!(
                o,
                "  {}: content population mass {:.1}, discount {:.3}, unique {:.1}, {} items at the fitted scale",
                c.type_name, c.mass, c.discount, c.unique, c.observed_items
            );
        }
        let e = &self.expected;
        let _ = writeln!(o, "\nexpected output ({})", e.from);
        if e.requests_per_hour.is_finite() {
            let _ = writeln!(
                o,
                "  {:.0} requests per hour, {:.1} MB per hour",
                e.requests_per_hour,
                e.bytes_per_hour / 1e6
            );
        } else {
            let _ = writeln!(o, "  unbounded: the model runs away");
        }
        o
    }
}

fn pct(p: &Percentiles) -> String {
    format!("{:.0}/{:.0}/{:.0}", p.p10, p.p50, p.p90)
}

fn lineage_name(l: Lineage) -> &'static str {
    match l {
        Lineage::Explicit => "explicit",
        Lineage::InferredFromBlocks => "inferred from blocks",
        Lineage::None => "none",
    }
}

/// A row of `child_prob` averaged over its input buckets, weighted by their share of the
/// requests when the model holds it.
fn row_mean(row: &[f64], mix: Option<&Vec<f64>>) -> f64 {
    if let Some(mix) = mix {
        let total: f64 = mix.iter().take(row.len()).sum();
        if total > 0.0 {
            return row.iter().zip(mix).map(|(p, w)| p * w).sum::<f64>() / total;
        }
    }
    row.iter().sum::<f64>() / row.len().max(1) as f64
}

fn block_summary(model: &Model) -> BlockSummary {
    let b = &model.blocks;
    let depth_blocks = |mut i: usize| {
        let mut total = 0u64;
        let mut steps = 0;
        loop {
            total += u64::from(b.prefixes[i].blocks);
            match b.prefixes[i].parent {
                Some(p) if steps < b.prefixes.len() => {
                    i = p;
                    steps += 1;
                }
                _ => return total,
            }
        }
    };
    let mut order: Vec<usize> = (0..b.prefixes.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(b.prefixes[i].uses), i));
    let top_prefixes = order
        .into_iter()
        .take(TOP_PREFIXES)
        .map(|i| PrefixSummary {
            index: i,
            uses: b.prefixes[i].uses,
            blocks: depth_blocks(i),
            parent: b.prefixes[i].parent,
        })
        .collect();
    let ephemeral = b
        .ephemeral
        .iter()
        .zip(&model.types)
        .map(|(e, name)| EphemeralSummary {
            type_name: name.clone(),
            templates: e.templates.len(),
            mean_reuses: if e.templates.is_empty() {
                0.0
            } else {
                e.templates.iter().map(|t| t.reuses.len()).sum::<usize>() as f64
                    / e.templates.len() as f64
            },
            fitted_count: e.fitted_count,
        })
        .collect();
    let population = b
        .population
        .iter()
        .zip(&model.types)
        .filter_map(|(c, name)| {
            c.as_ref().map(|c| PopulationSummary {
                type_name: name.clone(),
                mass: c.mass,
                discount: c.discount,
                unique: c.unique,
                observed_items: c.observed.iter().map(|&(_, n)| u64::from(n)).sum(),
            })
        })
        .collect();
    BlockSummary {
        persistent_prefixes: b.prefixes.len(),
        top_prefixes,
        ephemeral,
        population,
    }
}

/// Requests and bytes per hour: `fit`'s stability report when the model holds one,
/// otherwise `generate`'s estimate of one span of default output.
fn expected(model: &Model) -> Result<ExpectedSummary, SummaryError> {
    if let Some(st) = &model.provenance.stability {
        let (requests, bytes) = if st.runaway {
            (f64::INFINITY, f64::INFINITY)
        } else {
            (st.requests_per_hour, st.bytes_per_hour)
        };
        return Ok(ExpectedSummary {
            requests_per_hour: requests,
            bytes_per_hour: bytes,
            from: "fit's stability report",
        });
    }
    let formatter = LineFormatter::new(Format::Bailian, Some(model.block_size))
        .map_err(SummaryError::Formatter)?;
    let options = GenerateOptions {
        duration: Some(model.span),
        ..GenerateOptions::default()
    };
    let e = estimate(model, &options, &formatter, &EstimateLimits::default())?;
    let hours = model.span / 3600.0;
    Ok(ExpectedSummary {
        requests_per_hour: e.requests / hours,
        bytes_per_hour: e.bytes / hours,
        from: "generate's estimate over one span",
    })
}
