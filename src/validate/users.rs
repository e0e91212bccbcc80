//! Users: `--rate-scale K` is K times the users of the same service (issue #11), judged
//! where it can be.
//!
//! - **x4 vs the full trace**: keep a quarter of the sessions, fit on that, generate at
//!   `--rate-scale 4`, compare with the whole trace.
//! - **x0.25 vs a sample**: fit the whole trace, generate at `--rate-scale 0.25`, compare
//!   with a quarter of its sessions (how the ATC'25 paper downscaled trace A).
//! - **Ground truth**, on a reference service only: the builder itself run with 4x and
//!   0.25x the users ([`ReferenceConfig::with_users`]) against the model fitted at 1x and
//!   generated at x4 and x0.25. The `documents` preset draws its shared documents from a
//!   catalogue of the service, so its sharing grows with the users, which is the claim.
//!
//! Each runs on several seeds (the seed drives the generator and which sessions are kept),
//! and [`UsersResults`] keeps every comparison; the report shows, per row, the worst
//! distance over the seeds and how many seeds passed.

use crate::compare::{CompareOptions, Comparison, Group, Verdict, compare};
use crate::generate::GenerateOptions;
use crate::reference::{ReferenceConfig, build};

use super::{Subject, THIN_SEED, ValidateError, covering_span, fit, synthesize, thin};

/// The scale up and down of the scenario: four times the users, and a quarter.
pub const USERS: f64 = 4.0;
/// Seed of the documents reference (fixed, like the trace-A-like one).
pub const DOCUMENTS_SEED: u64 = 2026;
/// Span of the documents reference in the full suite: three hourly catalogues.
pub const DOCUMENTS_SECONDS: f64 = 10_800.0;

/// One of the scenario's comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// A quarter of the sessions, fitted, at x4, against the whole trace.
    UpVsFull,
    /// The whole trace, fitted, at x0.25, against a quarter of its sessions.
    DownVsSample,
    /// The reference at 1x, fitted, at x4, against the reference built with 4x the users.
    UpVsTruth,
    /// The same at x0.25 against the reference built with a quarter of the users.
    DownVsTruth,
}

impl Case {
    pub const ALL: [Case; 4] = [
        Case::UpVsFull,
        Case::DownVsSample,
        Case::UpVsTruth,
        Case::DownVsTruth,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Case::UpVsFull => "x4 vs full",
            Case::DownVsSample => "x0.25 vs 25 % sample",
            Case::UpVsTruth => "x4 vs 4x users",
            Case::DownVsTruth => "x0.25 vs 0.25x users",
        }
    }
}

/// One comparison of the scenario.
#[derive(Debug, Clone)]
pub struct UsersRun {
    pub case: Case,
    pub seed: u64,
    /// Requests of the trace fitted and of the trace compared with.
    pub fitted_requests: usize,
    pub real_requests: usize,
    pub comparison: Comparison,
}

/// The scenario on one trace.
#[derive(Debug, Clone)]
pub struct UsersResults {
    pub key: &'static str,
    pub title: String,
    pub runs: Vec<UsersRun>,
}

/// The documents reference at 1x: NOT real data.
pub fn documents(seconds: f64) -> (Subject, ReferenceConfig) {
    let config = ReferenceConfig::documents(DOCUMENTS_SEED, seconds);
    let subject = Subject {
        key: "documents",
        title: "Documents reference, sharing grows with users (NOT real data)".into(),
        origin: format!(
            "a REFERENCE trace built by `reference::build(&ReferenceConfig::documents({}, \
             {}))`: the trace-A-like sessions at a third of the rate, every shared \
             document drawn from an hourly Zipf catalogue of the service; not real data",
            DOCUMENTS_SEED, seconds
        ),
        trace: build(&config),
    };
    (subject, config)
}

/// Fit `fitted`, generate at `rate_scale` over `real`'s span, compare with `real`.
fn judge(
    fitted: &crate::trace::Trace,
    real: &crate::trace::Trace,
    rate_scale: f64,
    seed: u64,
) -> Result<Comparison, ValidateError> {
    if fitted.requests.len() < 2 || real.requests.len() < 2 {
        return Err(ValidateError::Empty(
            "a users case has fewer than two requests".into(),
        ));
    }
    let model = fit(fitted, "users");
    let options = GenerateOptions {
        seed,
        duration: Some(covering_span(real, &model)),
        rate_scale,
        ..Default::default()
    };
    let synth = synthesize(&model, options, real)?;
    Ok(compare(real, &synth, &CompareOptions::default()))
}

/// One case on one seed. `config` (the reference the trace was built from) is needed
/// for the ground-truth cases.
pub fn run_case(
    subject: &Subject,
    config: Option<&ReferenceConfig>,
    case: Case,
    seed: u64,
) -> Result<Option<UsersRun>, ValidateError> {
    let share = 1.0 / USERS;
    let full = &subject.trace;
    let (fitted, real, rate_scale) = match case {
        Case::UpVsFull => {
            let kept = thin::keep_sessions(full, share, THIN_SEED + seed).trace;
            (kept, full.clone(), USERS)
        }
        Case::DownVsSample => {
            let kept = thin::keep_sessions(full, share, THIN_SEED + seed).trace;
            (full.clone(), kept, share)
        }
        Case::UpVsTruth | Case::DownVsTruth => {
            let Some(config) = config else {
                return Ok(None);
            };
            let k = if case == Case::UpVsTruth {
                USERS
            } else {
                share
            };
            // The truth of each seed is its own realisation of the service.
            let mut truth = config.clone().with_users(k);
            truth.seed = config.seed + seed;
            (full.clone(), build(&truth), k)
        }
    };
    let comparison = judge(&fitted, &real, rate_scale, seed)?;
    Ok(Some(UsersRun {
        case,
        seed,
        fitted_requests: fitted.requests.len(),
        real_requests: real.requests.len(),
        comparison,
    }))
}

/// Every case on every seed.
pub fn run(
    subject: &Subject,
    config: Option<&ReferenceConfig>,
    seeds: &[u64],
    mut log: impl FnMut(&str),
) -> Result<UsersResults, ValidateError> {
    let mut runs = Vec::new();
    for case in Case::ALL {
        for &seed in seeds {
            log(&format!(
                "{}: users, {} seed {seed}",
                subject.key,
                case.label()
            ));
            if let Some(r) = run_case(subject, config, case, seed)? {
                runs.push(r);
            }
        }
    }
    Ok(UsersResults {
        key: subject.key,
        title: subject.title.clone(),
        runs,
    })
}

/// The rows the scenario judges: every toleranced row of the per-request (lengths) and
/// cache groups.
pub fn judged(row: &crate::compare::Row) -> bool {
    matches!(row.group, Group::Lengths | Group::Cache) && row.tolerance.is_some()
}

/// One row over the seeds of one case: the worst distance, the seeds passed, the seeds
/// judged.
pub type Cell = (f64, usize, usize);

/// Per row (in the order of the first comparison) and case ([`Case::ALL`] order): its
/// [`Cell`], `None` where the case did not run.
pub fn summary(results: &UsersResults) -> Vec<(String, Vec<Option<Cell>>)> {
    let Some(first) = results.runs.first() else {
        return vec![];
    };
    first
        .comparison
        .rows
        .iter()
        .filter(|r| judged(r))
        .map(|row| {
            let cells = Case::ALL
                .iter()
                .map(|&case| {
                    let rows: Vec<&crate::compare::Row> = results
                        .runs
                        .iter()
                        .filter(|r| r.case == case)
                        .filter_map(|r| r.comparison.row(&row.name))
                        .collect();
                    if rows.is_empty() {
                        return None;
                    }
                    let worst = rows
                        .iter()
                        .map(|r| r.distance.unwrap_or(f64::INFINITY))
                        .fold(0.0, f64::max);
                    let passed = rows.iter().filter(|r| r.verdict == Verdict::Pass).count();
                    Some((worst, passed, rows.len()))
                })
                .collect();
            (row.name.clone(), cells)
        })
        .collect()
}

/// The report's section on the scenario.
pub fn markdown(all: &[UsersResults]) -> String {
    use std::fmt::Write as _;
    let mut h = String::new();
    h.push_str(
        "## 2c. Users\n\n\
         `--rate-scale K` is K times the users of the same service. On each trace: keep a \
         quarter of the sessions (whole sessions, at random per seed), fit, generate at x4, \
         compare with the whole trace; fit the whole trace, generate at x0.25, compare with \
         a quarter of its sessions; on the documents reference also the ground truth, the \
         reference builder itself run with 4x and 0.25x the users (a new realisation per \
         seed) against the model fitted at 1x. Every toleranced per-request and cache row; \
         a cell is the worst distance over the seeds and the seeds that passed; a bold \
         cell failed on some seed.\n\n",
    );
    for res in all {
        let _ = writeln!(h, "### {} (`{}`)\n", res.title, res.key);
        let cases: Vec<Case> = Case::ALL
            .into_iter()
            .filter(|c| res.runs.iter().any(|r| r.case == *c))
            .collect();
        for &case in &cases {
            let runs: Vec<&UsersRun> = res.runs.iter().filter(|r| r.case == case).collect();
            let _ = writeln!(
                h,
                "- {}: seeds {}; fitted on {} requests, compared with {}.",
                case.label(),
                runs.iter()
                    .map(|r| r.seed.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                runs.iter()
                    .map(|r| r.fitted_requests.to_string())
                    .collect::<Vec<_>>()
                    .join(" / "),
                runs.iter()
                    .map(|r| r.real_requests.to_string())
                    .collect::<Vec<_>>()
                    .join(" / "),
            );
        }
        h.push_str("\n| row | tolerance |");
        for case in &cases {
            let _ = write!(h, " {} |", case.label());
        }
        h.push_str("\n|---|---:|");
        for _ in &cases {
            h.push_str("---:|");
        }
        h.push('\n');
        let first = &res.runs[0].comparison;
        for (name, cells) in summary(res) {
            let tol = first
                .row(&name)
                .and_then(|r| r.tolerance)
                .map_or("-".to_string(), |t| format!("{t:.4}"));
            let _ = write!(h, "| `{name}` | {tol} |");
            for (case, cell) in Case::ALL.iter().zip(&cells) {
                if !cases.contains(case) {
                    continue;
                }
                match cell {
                    Some((d, p, n)) if p == n => {
                        let _ = write!(h, " {d:.4} ({p}/{n}) |");
                    }
                    Some((d, p, n)) => {
                        let _ = write!(h, " **{d:.4} ({p}/{n})** |");
                    }
                    None => h.push_str(" - |"),
                }
            }
            h.push('\n');
        }
        h.push('\n');
    }
    h
}
