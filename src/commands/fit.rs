//! `tracesynth fit TRACE -o model.json`

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use tracesynth::fit::{FitOptions, fit_file_with};
use tracesynth::trace::{Format, OutputFile};

use super::{Global, then_spin};

#[derive(Debug, Args)]
pub struct FitArgs {
    /// Real trace to learn from (Bailian, Mooncake or Azure; `-` for stdin).
    pub input: String,
    /// Where to write the model (JSON; `-` for stdout).
    #[arg(short, long)]
    pub output: String,
    /// Force the input format instead of detecting it.
    #[arg(long)]
    pub format: Option<Format>,
    /// Seed of the fit's only randomness (spreading coarse timestamps inside their grid).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(args: &FitArgs, global: Global) -> anyhow::Result<ExitCode> {
    let bar = global.reading(&format!("reading {}", args.input), &[&args.input]);
    let progress = |bytes| {
        if let Some(bar) = &bar {
            bar.inc(bytes);
            if bar.length().is_some_and(|len| bar.position() >= len) {
                then_spin(Some(bar), &format!("fitting {}", args.input));
            }
        }
    };
    let model = fit_file_with(
        &args.input,
        args.format,
        &FitOptions { seed: args.seed },
        &progress,
    )?;
    if let Some(s) = bar {
        s.finish_and_clear();
    }
    for w in &model.sessions.fit_warnings {
        eprintln!("warning: {w}");
    }
    let mut out = OutputFile::create(&args.output)?;
    out.write_all(model.to_json().as_bytes())
        .context("writing the model")?;
    out.commit()?;
    if !global.quiet {
        eprintln!(
            "fitted {} records ({} types, {:.0} s span) -> {}",
            model.provenance.records,
            model.types.len(),
            model.provenance.span_seconds,
            args.output
        );
    }
    Ok(ExitCode::SUCCESS)
}
