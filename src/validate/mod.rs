//! The fidelity suite: fit a trace, generate, compare, in the four ways the project
//! claims to work.
//!
//! 1. **Same scale**: fit a trace, generate its span with several seeds, compare each.
//! 2. **Scale up**: keep a share of the sessions (whole sessions), fit on that, generate
//!    at the inverse rate scale, compare with the full trace.
//!    **Scale down**: fit the whole trace, generate at a share of the users, compare with
//!    that share of its sessions.
//!    **Users** ([`users`]): both on several seeds, on Mooncake and on a reference whose
//!    sharing grows with its users, with the reference's own ground truth at 4x and
//!    0.25x the users.
//! 3. **Extend**: fit on the first half of the span, generate the whole span, compare
//!    with the whole trace.
//! 4. **Round trip**: generate from a known model, fit again, set the recovered
//!    parameters beside the true ones.
//! 5. **Robustness** ([`robustness`]): fit on 15-, 30- and 60-minute windows of every
//!    trace and of hard cases built for it ([`scenarios`]), judge 1x, measure the rate
//!    drift at 10x.
//!
//! Every judgement is [`crate::compare`]'s; this module only prepares the inputs.
//! `tracesynth validate` runs it all and writes `validation/REPORT.md`; `tests/fidelity.rs`
//! runs a reduced version with the default tolerances as assertions.

pub mod noise;
pub mod qwen;
pub mod report;
pub mod robustness;
pub mod round_trip;
pub mod scenarios;
pub mod thin;
pub mod users;

use std::path::Path;

use crate::compare::{CompareOptions, Comparison, compare};
use crate::error::TraceError;
use crate::fit::{FitOptions, SourceInfo, fit_trace};
use crate::generate::{GenerateOptions, Generator};
use crate::model::Model;
use crate::model::blocks::IdsExhausted;
use crate::reference::{ReferenceConfig, build};
use crate::trace::{Trace, read_trace};

pub use round_trip::{ParamRow, RoundTrip};

/// Seed of the trace-A-like reference trace. Fixed, so every run of the suite judges the
/// same trace.
pub const REFERENCE_SEED: u64 = 2025;
/// Length of the reference trace in the full suite: three times the span of the public
/// trace A. The trace is as bursty as trace A is (IDC at 60 s near 74), and the IDC of
/// two hours rests on 120 windows: an unbiased generator then misses a 25 % tolerance on
/// about one seed in three (seeds 1-8 of the 2 h suite gave 52 to 98 around 74). Six
/// hours give the figures three times the windows.
pub const REFERENCE_SECONDS: f64 = 21_600.0;
/// Share of sessions the scale-up scenario keeps.
pub const SCALE_UP_SHARE: f64 = 0.25;
/// Seed of the session thinning (which sessions are kept).
pub const THIN_SEED: u64 = 7;

#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error("generating: {0}")]
    Generate(#[from] IdsExhausted),
    #[error("{0}")]
    Empty(String),
}

/// A trace the suite judges the model on.
#[derive(Debug, Clone)]
pub struct Subject {
    /// Short name for file names and headings.
    pub key: &'static str,
    pub title: String,
    /// Where the trace comes from, in words (real data or a reference built from rules).
    pub origin: String,
    pub trace: Trace,
}

/// The vendored Mooncake conversation trace (real; sessions inferred from blocks).
pub fn mooncake(data_dir: &Path) -> Result<Subject, TraceError> {
    let path = data_dir.join("mooncake/conversation_trace.jsonl");
    Ok(Subject {
        key: "mooncake",
        title: "Mooncake conversation trace".into(),
        origin: format!(
            "real data (`{}`), 512-token blocks, no session fields: the fit infers \
             sessions from block inheritance",
            display(&path)
        ),
        trace: read_trace(&path.to_string_lossy(), None)?,
    })
}

/// The vendored Azure conversation trace (real; lengths and arrivals only).
pub fn azure(data_dir: &Path) -> Result<Subject, TraceError> {
    let path = data_dir.join("azure-llm-2023/AzureLLMInferenceTrace_conv.csv");
    Ok(Subject {
        key: "azure",
        title: "Azure LLM inference trace 2023, conversation".into(),
        origin: format!(
            "real data (`{}`), lengths and arrivals only: no blocks, no sessions",
            display(&path)
        ),
        trace: read_trace(&path.to_string_lossy(), None)?,
    })
}

/// The trace-A-like reference trace: built by [`crate::reference`] from the brief's rules,
/// a stand-in for the real Qwen-Bailian trace A, which cannot be downloaded here.
pub fn reference_a(seconds: f64) -> Subject {
    let config = ReferenceConfig::trace_a_like(REFERENCE_SEED, seconds);
    Subject {
        key: "reference-a",
        title: "Trace-A-like reference (NOT real data)".into(),
        origin: format!(
            "a REFERENCE trace built by `reference::build(&ReferenceConfig::trace_a_like({}, \
             {}))` from the brief's rules (published trace-A statistics and the structure of \
             the 32 real records), not real data: a stand-in for the Qwen-Bailian trace A, \
             which cannot be downloaded here",
            REFERENCE_SEED, seconds
        ),
        trace: build(&config),
    }
}

fn display(path: &Path) -> String {
    // Paths inside the repository read better without the checkout's location.
    let text = path.to_string_lossy();
    match text.find("validation/") {
        Some(i) => text[i..].to_string(),
        None => text.into_owned(),
    }
}

/// Fit a model to a trace held in memory (the fit consumes its input, so this clones).
pub fn fit(trace: &Trace, name: &str) -> Model {
    let source = SourceInfo {
        name: name.to_string(),
        sha256: String::new(),
    };
    fit_trace(trace.clone(), source, &FitOptions::default())
}

/// Generate from `model` and shape the result like `like` would look after a round
/// through its own format: no session fields if it has none, no ids if it has no blocks,
/// timestamps on the millisecond as every writer puts them. Compared with `like`, the
/// synthetic trace then shows exactly the figures a user's files would.
pub fn synthesize(
    model: &Model,
    options: GenerateOptions,
    like: &Trace,
) -> Result<Trace, IdsExhausted> {
    let keep_sessions = like.has_sessions();
    let keep_ids = like.block_size.is_some();
    let mut requests = Vec::new();
    for r in Generator::new(model, options) {
        let mut r = r?;
        r.timestamp = (r.timestamp * 1000.0).round() / 1000.0;
        if !keep_sessions {
            r.session = None;
        }
        if !keep_ids {
            r.hash_ids = None;
        }
        requests.push(r);
    }
    Ok(Trace {
        format: like.format,
        block_size: like.block_size,
        requests,
    })
}

/// Seconds a model must generate to cover `trace`'s span: the span plus one step of the
/// time grid, as the fit counts it (the last grid cell is a whole quantum long).
pub fn covering_span(trace: &Trace, model: &Model) -> f64 {
    trace.span() + model.time_quantum.unwrap_or(0.0)
}

/// One generated trace judged against the real one.
#[derive(Debug, Clone)]
pub struct Run {
    pub seed: u64,
    pub comparison: Comparison,
}

/// Scenario 1: the model fitted on `real` generates its span once per seed.
pub fn same_scale(real: &Trace, model: &Model, seeds: &[u64]) -> Result<Vec<Run>, IdsExhausted> {
    let duration = covering_span(real, model);
    let judged = as_written(real);
    seeds
        .iter()
        .map(|&seed| {
            let options = GenerateOptions {
                seed,
                duration: Some(duration),
                ..Default::default()
            };
            let synth = synthesize(model, options, real)?;
            Ok(Run {
                seed,
                comparison: compare(&judged, &synth, &CompareOptions::default()),
            })
        })
        .collect()
}

/// `trace` as a generated file would show it: a follow-up whose parent is not in the
/// file (an orphan of a window cut from a running stream) starts its session, and turns
/// count from there. Consumers reject a parent they have not seen, so generated files
/// write the follow-ups of warm-up requests this way; judging the real window in the
/// same terms compares session structure, not the two conventions. A trace without
/// orphans is returned unchanged.
pub fn as_written(trace: &Trace) -> std::borrow::Cow<'_, Trace> {
    let mut turn_of: std::collections::HashMap<u64, u32> = std::collections::HashMap::new();
    let mut out: Option<Trace> = None;
    for (i, r) in trace.requests.iter().enumerate() {
        let Some(s) = &r.session else { continue };
        let (parent, turn) = match s.parent().map(|p| (p, turn_of.get(&p).copied())) {
            Some((p, Some(t))) => (p as i64, t + 1),
            Some((_, None)) => (-1, 1),
            None => (-1, 1),
        };
        turn_of.insert(s.chat_id, turn);
        if parent != s.parent_chat_id || turn != s.turn {
            let o = out.get_or_insert_with(|| trace.clone());
            let os = o.requests[i].session.as_mut().expect("same records");
            os.parent_chat_id = parent;
            os.turn = turn;
        }
    }
    match out {
        Some(t) => std::borrow::Cow::Owned(t),
        None => std::borrow::Cow::Borrowed(trace),
    }
}

#[derive(Debug, Clone)]
pub struct ScaleUp {
    pub share: f64,
    pub sessions: usize,
    pub kept_sessions: usize,
    pub kept_requests: usize,
    /// Requests per second of the thinned trace and of the synthetic one.
    pub thinned_rate: f64,
    pub synth_rate: f64,
    pub rate_scale: f64,
    pub run: Run,
}

/// Scenario 2: fit on `share` of the sessions, generate at `1 / share` times the fitted
/// rate over the full span, and compare with the full trace.
///
/// The synthetic trace runs at the full trace's rate, so the comparison with the full
/// trace is at scale 1; the `--scale K` promise (K times the fitted rate, per-request
/// figures unchanged) is what makes it match, and [`ScaleUp::synth_rate`] over
/// [`ScaleUp::thinned_rate`] shows the factor itself.
pub fn scale_up(real: &Trace, share: f64, seed: u64) -> Result<ScaleUp, ValidateError> {
    let thinned = thin::keep_sessions(real, share, THIN_SEED);
    if thinned.trace.requests.len() < 2 {
        return Err(ValidateError::Empty(
            "thinning left fewer than two requests".into(),
        ));
    }
    let model = fit(&thinned.trace, "thinned");
    let rate_scale = 1.0 / share;
    let options = GenerateOptions {
        seed,
        duration: Some(covering_span(real, &model)),
        rate_scale,
        ..Default::default()
    };
    let synth = synthesize(&model, options, real)?;
    let comparison = compare(real, &synth, &CompareOptions::default());
    Ok(ScaleUp {
        share,
        sessions: thinned.sessions,
        kept_sessions: thinned.kept_sessions,
        kept_requests: thinned.trace.requests.len(),
        thinned_rate: rate(&thinned.trace),
        synth_rate: rate(&synth),
        rate_scale,
        run: Run { seed, comparison },
    })
}

/// Scale down: fit the whole trace, generate at `--rate-scale share` (a `share` of the
/// users), and compare with a `share` sample of the sessions, which is what fewer users
/// of the same service would have produced (the way the ATC'25 paper downscaled trace A).
/// The sample keeps its sessions' timestamps, so the comparison is at scale 1.
pub fn scale_down(real: &Trace, share: f64, seed: u64) -> Result<ScaleUp, ValidateError> {
    let thinned = thin::keep_sessions(real, share, THIN_SEED);
    if thinned.trace.requests.len() < 2 {
        return Err(ValidateError::Empty(
            "thinning left fewer than two requests".into(),
        ));
    }
    let model = fit(real, "full");
    let options = GenerateOptions {
        seed,
        duration: Some(covering_span(real, &model)),
        rate_scale: share,
        ..Default::default()
    };
    let synth = synthesize(&model, options, real)?;
    let comparison = compare(&thinned.trace, &synth, &CompareOptions::default());
    Ok(ScaleUp {
        share,
        sessions: thinned.sessions,
        kept_sessions: thinned.kept_sessions,
        kept_requests: thinned.trace.requests.len(),
        thinned_rate: rate(&thinned.trace),
        synth_rate: rate(&synth),
        rate_scale: share,
        run: Run { seed, comparison },
    })
}

/// Requests per second over a trace's span.
pub fn rate(trace: &Trace) -> f64 {
    trace.requests.len() as f64 / trace.span().max(1e-9)
}

#[derive(Debug, Clone)]
pub struct Extend {
    pub fitted_requests: usize,
    pub fitted_span: f64,
    pub generated_span: f64,
    pub run: Run,
}

/// Scenario 3: fit on the first half of the span, generate the whole span, compare with
/// the whole trace.
pub fn extend(real: &Trace, seed: u64) -> Result<Extend, ValidateError> {
    let half = thin::first_half(real);
    if half.requests.len() < 2 {
        return Err(ValidateError::Empty(
            "the first half holds fewer than two requests".into(),
        ));
    }
    let model = fit(&half, "first-half");
    let duration = covering_span(real, &model);
    let options = GenerateOptions {
        seed,
        duration: Some(duration),
        ..Default::default()
    };
    let synth = synthesize(&model, options, real)?;
    Ok(Extend {
        fitted_requests: half.requests.len(),
        fitted_span: half.span(),
        generated_span: duration,
        run: Run {
            seed,
            comparison: compare(real, &synth, &CompareOptions::default()),
        },
    })
}

/// What the suite runs.
#[derive(Debug, Clone)]
pub struct SuiteOptions {
    /// The vendored data (`validation/data`).
    pub data_dir: std::path::PathBuf,
    pub reference_seconds: f64,
    /// Seeds of the same-scale scenario; the first also drives scale-up and extend.
    pub seeds: Vec<u64>,
    pub round_trip_hours: f64,
    /// Robustness windows (minutes), where they are cut, and the hard cases' length.
    pub robust_minutes: Vec<u32>,
    pub robust_cuts: Vec<robustness::Cut>,
    pub scenario_seconds: f64,
    /// Span of the documents reference of the users scenario (section 2c).
    pub documents_seconds: f64,
}

impl SuiteOptions {
    /// The full suite, as committed in `validation/REPORT.md`.
    pub fn full(data_dir: std::path::PathBuf) -> Self {
        SuiteOptions {
            data_dir,
            reference_seconds: REFERENCE_SECONDS,
            seeds: vec![1, 2, 3],
            round_trip_hours: 5.0,
            robust_minutes: robustness::WINDOW_MINUTES.to_vec(),
            robust_cuts: vec![robustness::Cut::Start, robustness::Cut::Middle],
            scenario_seconds: scenarios::SCENARIO_SECONDS,
            documents_seconds: users::DOCUMENTS_SECONDS,
        }
    }

    /// A quick look: one seed, a one-hour reference, a two-hour round trip, robustness on
    /// the first 15 minutes of each trace.
    pub fn quick(data_dir: std::path::PathBuf) -> Self {
        SuiteOptions {
            data_dir,
            reference_seconds: 3600.0,
            seeds: vec![1],
            round_trip_hours: 2.0,
            robust_minutes: vec![15],
            robust_cuts: vec![robustness::Cut::Start],
            scenario_seconds: 1800.0,
            documents_seconds: 3600.0,
        }
    }
}

/// What [`run_suite`] measured: per trace, the round trip (with its trace's key), and
/// the robustness windows.
pub type SuiteResults = (
    Vec<report::SubjectResults>,
    (String, RoundTrip),
    robustness::Robustness,
    Vec<users::UsersResults>,
);

/// Run every scenario on every trace; `log` hears what is being done.
pub fn run_suite(
    options: &SuiteOptions,
    mut log: impl FnMut(&str),
) -> Result<SuiteResults, ValidateError> {
    let seed = *options
        .seeds
        .first()
        .ok_or_else(|| ValidateError::Empty("no seeds".into()))?;
    log("loading the traces");
    let subjects = [
        mooncake(&options.data_dir)?,
        azure(&options.data_dir)?,
        reference_a(options.reference_seconds),
    ];
    let mut results = Vec::new();
    let mut known = None;
    for s in &subjects {
        log(&format!("{}: same scale", s.key));
        let model = fit(&s.trace, s.key);
        let same = same_scale(&s.trace, &model, &options.seeds)?;
        log(&format!("{}: scale up", s.key));
        let up = scale_up(&s.trace, SCALE_UP_SHARE, seed)?;
        log(&format!("{}: extend", s.key));
        let ext = extend(&s.trace, seed)?;
        let mut result = report::SubjectResults::new(s, same, up, ext);
        if s.trace.block_size.is_some() {
            log(&format!("{}: scale down", s.key));
            result = result.with_scale_down(scale_down(&s.trace, SCALE_UP_SHARE, seed)?);
        }
        results.push(result);
        if s.key == "reference-a" {
            known = Some((model, s));
        }
    }
    let mut users_results = Vec::new();
    for s in subjects.iter().filter(|s| s.key == "mooncake") {
        users_results.push(users::run(s, None, &options.seeds, &mut log)?);
    }
    let (docs, docs_config) = users::documents(options.documents_seconds);
    users_results.push(users::run(
        &docs,
        Some(&docs_config),
        &options.seeds,
        &mut log,
    )?);
    let (model, s) = known.expect("the reference trace is always a subject");
    log("round trip");
    let rt = round_trip::round_trip(&model, &s.trace, options.round_trip_hours, seed)?;
    log("building the hard cases");
    let hard = robustness::scenario_subjects(options.scenario_seconds);
    let all: Vec<&Subject> = subjects.iter().chain(&hard).collect();
    let windows = robustness::run(
        &all,
        &options.robust_minutes,
        &options.robust_cuts,
        seed,
        &mut log,
    )?;
    let robust = robustness::Robustness {
        traces: hard.iter().map(robustness::TraceInfo::of).collect(),
        windows,
    };
    Ok((results, (s.key.to_string(), rt), robust, users_results))
}
