//! `fit`: one pass of preparation over a trace, then each component's fit, assembled into
//! a [`Model`].

pub mod prepared;
pub mod stability;
pub mod total_rate;

use std::io::Read;

use sha2::{Digest, Sha256};

use crate::check::{CheckReport, Checker};
use crate::error::TraceError;
use crate::model::arrivals::ArrivalModel;
use crate::model::blocks::{BlockModel, PrefixKind};
use crate::model::lengths::{LengthModel, RootPrefixes};
use crate::model::sessions::SessionModel;
use crate::model::{FORMAT_VERSION, Model, Provenance, WarmUpHistory};
use crate::trace::{BAILIAN_BLOCK, Format, Trace, TraceReader, for_each_record};
use prepared::{Lineage, PreparedBuilder};
use total_rate::{SessionKernel, StartEvidence};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FitOptions {
    /// Seeds the de-quantisation jitter, the fit's only randomness.
    pub seed: u64,
}

/// Describes the fitted trace for the model's provenance.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    pub name: String,
    pub sha256: String,
}

/// Fit a model to a trace held in memory.
pub fn fit_trace(trace: Trace, source: SourceInfo, options: &FitOptions) -> Model {
    let format = trace.format;
    let mut builder = PreparedBuilder::new(trace.block_size);
    for req in trace.requests {
        builder.push(req);
    }
    fit_prepared(format, builder, source, options)
}

/// Fit a model to the requests fed to `builder` (a trace of `format`).
fn fit_prepared(
    format: Format,
    builder: PreparedBuilder,
    source: SourceInfo,
    options: &FitOptions,
) -> Model {
    let records = builder.len() as u64;
    let raw_span = builder.raw_span();
    let p = builder.finish(options.seed);
    let n_types = p.types.len();
    let (blocks, shared_tokens, kinds, nodes) = if p.block_size.is_some() {
        let fit = BlockModel::fit(&p);
        (fit.model, fit.shared_tokens, fit.kinds, fit.nodes)
    } else {
        let n = p.requests.len();
        (
            BlockModel::unshared(n_types),
            vec![0; n],
            vec![PrefixKind::None; n],
            vec![None; n],
        )
    };
    let lengths = LengthModel::fit(
        &p,
        &RootPrefixes {
            shared_tokens: &shared_tokens,
            kinds: &kinds,
            nodes: &nodes,
        },
    );
    let sessions = SessionModel::fit(&p, &shared_tokens);
    let mut root_times: Vec<f64> = p.roots().map(|r| r.t).collect();
    root_times.sort_unstable_by(f64::total_cmp);
    let span = p.span.max(1.0);
    let arrivals = ArrivalModel::fit(&root_times, span);
    let mut times: Vec<f64> = p.requests.iter().map(|r| r.t).collect();
    times.sort_unstable_by(f64::total_cmp);
    // Orphans (follow-ups whose parent came before the file) show the trace was cut out
    // of a running stream; where lineage is inferred they cannot be told from roots and
    // the counts decide (see `total_rate`).
    let orphans = p.requests.iter().filter(|r| r.orphan).count();
    let evidence = match p.lineage {
        Lineage::Explicit => {
            StartEvidence::Orphans(orphans as f64 > ORPHAN_SHARE * p.requests.len() as f64)
        }
        _ => StartEvidence::Counts,
    };
    let types = p.types.clone();
    let lineage = p.lineage;
    let block_size = p.block_size.unwrap_or(BAILIAN_BLOCK);
    let time_quantum = p.time_quantum;
    drop(p);
    let mut model = Model {
        format_version: FORMAT_VERSION,
        provenance: Provenance {
            source: source.name,
            source_sha256: source.sha256,
            source_format: format.into(),
            records,
            span_seconds: raw_span,
            tracesynth_version: env!("CARGO_PKG_VERSION").to_string(),
            fit_seed: options.seed,
            lineage,
            note: None,
            calibration: None,
            stability: None,
        },
        block_size,
        time_quantum,
        span,
        warm_up: 0.0,
        warm_up_history: WarmUpHistory::StartLevel,
        types,
        arrivals,
        sessions,
        lengths,
        blocks,
        clients: None,
    };
    let kernel = if has_follow_ups(&model.sessions) {
        let root_rate = root_times.len().max(1) as f64 / span;
        SessionKernel::simulate(&model, root_rate, options.seed ^ KERNEL_SEED)
    } else {
        SessionKernel::roots_only()
    };
    let fitted = total_rate::fit(
        &times,
        &root_times,
        span,
        &kernel,
        evidence,
        options.seed ^ KERNEL_SEED,
    );
    model.arrivals = fitted.arrivals;
    model.warm_up = fitted.warm_up;
    model
}

/// Mixed into the fit seed for the session-kernel simulation.
const KERNEL_SEED: u64 = 0x6b65_726e_656c;

fn has_follow_ups(sessions: &SessionModel) -> bool {
    sessions
        .per_type
        .iter()
        .any(|t| t.child_prob.iter().flatten().any(|&p| p > 0.0))
}

/// Share of orphans above which a trace counts as cut from a running stream.
const ORPHAN_SHARE: f64 = 0.001;
/// Read, hash and fit a trace file (`-` for stdin, which is not hashed).
pub fn fit_file(
    path: &str,
    format: Option<Format>,
    options: &FitOptions,
) -> Result<Model, TraceError> {
    fit_file_with(path, format, options, &|_| {}).map(|(model, _)| model)
}

/// [`fit_file`], reporting the bytes read as
/// [`read_trace_with`](crate::trace::read_trace_with) does, with the `check` of the
/// records it accepted (for the caller to warn about).
pub fn fit_file_with(
    path: &str,
    format: Option<Format>,
    options: &FitOptions,
    progress: &dyn Fn(u64),
) -> Result<(Model, CheckReport), TraceError> {
    // The records are read, checked and prepared one at a time: only the prepared view
    // is held, never the trace.
    let reader = TraceReader::open(path, format)?;
    let format = reader.format();
    let mut checker = Checker::new(format);
    let mut builder = PreparedBuilder::new(format.block_size());
    for_each_record(reader, progress, &mut |line, req| {
        checker.push_record(line, &req);
        builder.push(req);
    })?;
    let check = checker.finish(path);
    let sha256 = if path == "-" {
        String::new()
    } else {
        sha256_of(path)?
    };
    let name = std::path::Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string());
    let mut model = fit_prepared(format, builder, SourceInfo { name, sha256 }, options);
    // Here and not in `fit_trace`, which calibration and the fidelity suite call many
    // times: planning ten spans is worth it once per user-facing fit. A model that cannot
    // be planned has no report; generate's own estimate still guards it.
    model.provenance.stability = stability::stability(&model).ok();
    Ok((model, check))
}

fn sha256_of(path: &str) -> Result<String, TraceError> {
    let mut file = std::fs::File::open(path).map_err(|e| TraceError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| TraceError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
