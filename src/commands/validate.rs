//! `tracesynth validate [--out DIR] [--quick]`: the fidelity suite, written as
//! `REPORT.md` and SVG charts.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;
use tracesynth::validate::report::{Meta, Suite, write};
use tracesynth::validate::{SuiteOptions, run_suite};

use super::Global;

#[derive(Debug, Args)]
#[command(
    after_help = "Runs from the repository root: same scale (3 seeds), scale up (25 % of \
    the sessions at 4x the rate), extend (first half -> whole span) on the vendored \
    Mooncake and Azure traces and on a trace-A-like reference trace (built from the \
    brief's rules, not real data), then a round trip, then robustness (fit on 15/30/60 \
    minute windows of those traces and of hard cases built for it, 1x judged, rate drift \
    at 10x). Writes OUT/REPORT.md and \
    OUT/plots/*.svg (OUT defaults to target/validation, so a run does not rewrite the \
    committed validation/REPORT.md; `--out validation` refreshes that). Exit status: 0 when the report was written (failing rows are \
    reported, not fatal), 2 when it could not be."
)]
pub struct ValidateArgs {
    /// Directory for REPORT.md and plots/ (`validation` refreshes the committed report).
    #[arg(long, default_value = "target/validation")]
    pub out: PathBuf,
    /// The vendored traces.
    #[arg(long, default_value = "validation/data")]
    pub data: PathBuf,
    /// One seed, a one-hour reference trace, a two-hour round trip, robustness on the
    /// first 15 minutes only.
    #[arg(long)]
    pub quick: bool,
}

pub fn run(args: &ValidateArgs, global: Global) -> anyhow::Result<ExitCode> {
    super::check_report_dir("--out", &args.out)?;
    let started = Instant::now();
    let options = if args.quick {
        SuiteOptions::quick(args.data.clone())
    } else {
        SuiteOptions::full(args.data.clone())
    };
    let spinner = global.spinner("validating");
    let (subjects, round_trip, robustness, users) = run_suite(&options, |step| match &spinner {
        Some(bar) => bar.set_message(step.to_string()),
        None if !global.quiet => eprintln!("validate: {step}"),
        None => {}
    })
    .with_context(|| format!("running the suite on the data in {}", args.data.display()))?;
    if let Some(bar) = spinner {
        bar.finish_and_clear();
    }
    // The shipped calibrated models, read from the repository the data lives in.
    let root = args.data.join("../..");
    let qwen = if root.join("models").is_dir() {
        tracesynth::validate::qwen::MODELS
            .iter()
            .map(|name| tracesynth::validate::qwen::check(&root, name))
            .collect::<Result<Vec<_>, _>>()
            .context("measuring the calibrated Qwen models")?
    } else {
        Vec::new()
    };
    let suite = Suite {
        meta: Meta {
            date: utc_now(),
            version: format!("tracesynth {}", env!("CARGO_PKG_VERSION")),
            commit: git_commit(),
            command: command_line(),
            quick: args.quick,
            elapsed_s: started.elapsed().as_secs_f64(),
        },
        subjects,
        round_trip,
        qwen,
        robustness,
        users,
    };
    let written = write(&suite, &args.out)?;
    if !global.quiet {
        for s in &suite.subjects {
            for (scenario, run) in s.runs() {
                let names: Vec<&str> = run.comparison.failures().map(|r| r.name.as_str()).collect();
                eprintln!(
                    "{:<12} {:<10} seed {}: {}",
                    s.key,
                    scenario,
                    run.seed,
                    if names.is_empty() {
                        "all pass".to_string()
                    } else {
                        format!("FAIL {}", names.join(", "))
                    }
                );
            }
        }
        for w in &suite.robustness.windows {
            let names: Vec<&str> = w
                .run
                .comparison
                .failures()
                .map(|r| r.name.as_str())
                .collect();
            eprintln!(
                "{:<16} {:>2} min {:<6}: drift at 10x {:+.1} %{}; {}",
                w.key,
                w.minutes,
                w.cut.label(),
                100.0 * w.drift.relative(),
                if w.drift.capped { " (capped)" } else { "" },
                if names.is_empty() {
                    "all pass".to_string()
                } else {
                    format!("FAIL {}", names.join(", "))
                }
            );
        }
        eprintln!(
            "wrote {} files; report: {}",
            written.len(),
            args.out.join("REPORT.md").display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The command as typed, with the program named `tracesynth` whatever its path.
fn command_line() -> String {
    std::iter::once("tracesynth".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The checkout's commit, with `-dirty` when tracked files differ from it.
fn git_commit() -> Option<String> {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = run(&["rev-parse", "--short=12", "HEAD"])?;
    let dirty =
        run(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    })
}

/// `YYYY-MM-DD HH:MM UTC`, without a date library.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_from_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_000), (2024, 10, 4));
    }
}
