//! `tracesynth fit TRACE -o model.json`

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use tracesynth::fit::{FitOptions, fit_file_with};
use tracesynth::trace::{Format, OutputFile};

use super::{Global, then_spin, warn_violations};

#[derive(Debug, Args)]
pub struct FitArgs {
    /// Real trace to learn from (any format `--format` lists; `-` for stdin).
    pub input: String,
    /// Where to write the model (JSON; `-` for stdout).
    #[arg(short, long)]
    pub output: String,
    /// Force the input format instead of detecting it.
    #[arg(long, ignore_case = true, value_parser = super::read_format())]
    pub format: Option<Format>,
    /// Seed of the fit's only randomness (spreading coarse timestamps inside their grid).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(args: &FitArgs, global: Global) -> anyhow::Result<ExitCode> {
    // Checked before the work: a bad output (a directory, the input itself) fails now.
    let mut out = OutputFile::create_for(&args.output, &[&args.input])?;
    let bar = global.reading(&format!("reading {}", args.input), &[&args.input]);
    let progress = |bytes| {
        if let Some(bar) = &bar {
            bar.inc(bytes);
            if bar.length().is_some_and(|len| bar.position() >= len) {
                then_spin(Some(bar), &format!("fitting {}", args.input));
            }
        }
    };
    let (model, check) = fit_file_with(
        &args.input,
        args.format,
        &FitOptions { seed: args.seed },
        &progress,
    )?;
    if let Some(s) = bar {
        s.finish_and_clear();
    }
    warn_violations(&check);
    for w in &model.sessions.fit_warnings {
        eprintln!("warning: {w}");
    }
    out.write_all(model.to_json().as_bytes())
        .context("writing the model")?;
    out.commit()?;
    if !global.quiet {
        eprintln!(
            "fitted {} record{} ({} type{}, {:.0} s span) -> {}",
            model.provenance.records,
            if model.provenance.records == 1 {
                ""
            } else {
                "s"
            },
            model.types.len(),
            if model.types.len() == 1 { "" } else { "s" },
            model.provenance.span_seconds,
            args.output
        );
        match &model.provenance.stability {
            Some(s) if s.runaway => eprintln!(
                "stability: RUNAWAY: the model's sessions grow without bound (planning \
                 stopped at {:.1} spans, mean session size {:.2} so far); generate will \
                 refuse it unless bounded with --requests or --force",
                s.spans_planned, s.mean_session_size
            ),
            Some(s) => eprintln!(
                "stability: mean session size {:.2}; over {:.0} spans the rate drifts \
                 {:+.1} % (last span {} requests, first {}); expected {:.0} requests and \
                 {:.1} MB per hour (Bailian lines)",
                s.mean_session_size,
                s.spans_planned,
                100.0 * s.rate_drift,
                s.last_span_requests,
                s.first_span_requests,
                s.requests_per_hour,
                s.bytes_per_hour / 1e6
            ),
            None => eprintln!("stability: the model could not be planned"),
        }
    }
    Ok(ExitCode::SUCCESS)
}
