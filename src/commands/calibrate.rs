//! `tracesynth calibrate TARGETS.toml -o model.json`

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use sha2::{Digest, Sha256};
use tracesynth::calibrate::{Round, Targets, calibrate};
use tracesynth::fit::SourceInfo;
use tracesynth::trace::OutputFile;

use super::Global;

/// The help text: what the file holds and what the model is.
pub const ABOUT: &str = "Build a model from summary statistics alone.\n\n\
TARGETS.toml names the figures to reproduce (rate, length mean/p50/p99, session shares, \
think-time quantiles, type mix, ideal and LRU hit ratios, same/cross-session split); \
every key is optional and a missing one keeps the prior's value. The calibration \
simulates a structural prior (build a reference trace, fit it, generate, measure), \
adjusts its knobs, and repeats; it keeps the round closest to the targets and prints \
each figure's final distance. The model's provenance says it was calibrated to \
published statistics, not fitted to a file.\n\n\
TARGETS.toml format (every key optional; at least one figure is needed):\n\
- prior = \"trace-a\" or \"api\"; duration_s = 7200; seed = 1; iterations = 30; replicates = 1\n\
- rate = 5.98 (requests per second)\n\
- [input] and [output]: mean, p50, p99 (tokens)\n\
- [sessions]: single_request_share, follow_up_share, gap_p50, gap_p90 (seconds)\n\
- [cache]: ideal_hit_ratio, same_session_share, cross_session_share, lru = [five hit \
ratios at 1, 5, 10, 25 and 50 % of the distinct blocks]\n\
- [types]: text = 0.737, search = 0.190, ... (shares of requests)\n\n\
Exit 0 when every target is within tolerance, 1 when one is missed (the model is still \
written), 2 on an error. Examples: validation/targets/*.toml.";

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Targets file (TOML).
    pub targets: String,
    /// Where to write the model (JSON; `-` for stdout).
    #[arg(short, long)]
    pub output: String,
    /// Override the file's `iterations` (Levenberg-Marquardt steps, on top of one
    /// simulation per adjusted knob).
    #[arg(long)]
    pub iterations: Option<u32>,
}

pub fn run(args: &CalibrateArgs, global: Global) -> anyhow::Result<ExitCode> {
    let mut targets = Targets::load(&args.targets)?;
    if let Some(n) = args.iterations {
        anyhow::ensure!(n >= 1, "--iterations must be at least 1");
        targets.iterations = n;
    }
    if tracesynth::calibrate::rows_for(&targets).is_empty() {
        anyhow::bail!(
            "{}: no targets: the file names no figure to reproduce (rate, lengths, sessions, \
             think_time, types, cache; see `tracesynth calibrate --help`)",
            args.targets
        );
    }
    // Checked before the work: a bad output fails now, not after the simulations.
    let mut out = OutputFile::create_for(&args.output, &[&args.targets])?;
    let text = std::fs::read(&args.targets).with_context(|| args.targets.clone())?;
    let name = std::path::Path::new(&args.targets).file_name().map_or_else(
        || args.targets.clone(),
        |n| n.to_string_lossy().into_owned(),
    );
    let source = SourceInfo {
        name: name.clone(),
        sha256: Sha256::digest(&text)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    };
    let quiet = global.quiet;
    let result = calibrate(&targets, source, |round: &Round<'_>| {
        if quiet {
            return;
        }
        let worst = round
            .rows
            .iter()
            .max_by(|a, b| a.score().total_cmp(&b.score()));
        let passing = round.rows.iter().filter(|r| r.passes()).count();
        eprintln!(
            "sim {:>3} {:<34} objective {:>9.2}{}  {}/{} within tolerance  worst {}  ({:.1} s)",
            round.simulation,
            round.purpose,
            round.objective,
            if round.best { " *" } else { "  " },
            passing,
            round.rows.len(),
            worst.map_or_else(String::new, |r| format!(
                "{} {} vs {}",
                r.figure.key(),
                r.ours.map_or_else(|| "-".into(), |o| format!("{o:.4}")),
                r.target
            )),
            round.seconds,
        );
    });
    let mut model = result.model.clone();
    model.provenance.calibration = Some(result.record(&targets, &name));
    // Compact: the fitted quantile tables make the pretty form several times larger.
    out.write_all(serde_json::to_string(&model)?.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .context("writing the model")?;
    out.commit()?;
    if !quiet {
        eprintln!(
            "best: simulation {} of {} (objective {:.3}); final distances:",
            result.best_iteration, result.iterations, result.objective
        );
        for r in &result.rows {
            eprintln!(
                "  {:<32} target {:>10.4}  ours {:>10}  distance {:>8}  {}",
                r.figure.key(),
                r.target,
                r.ours.map_or_else(|| "-".into(), |o| format!("{o:.4}")),
                r.distance()
                    .map_or_else(|| "-".into(), |d| format!("{d:.4}")),
                if r.passes() { "ok" } else { "OFF" }
            );
        }
        eprintln!("-> {}", args.output);
    }
    // As `compare` does: the model is written, but a missed target is a failure.
    let missed = result.rows.iter().filter(|r| !r.passes()).count();
    if missed > 0 {
        eprintln!(
            "tracesynth: {missed} of {} targets missed (marked OFF); the model is written",
            result.rows.len()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
