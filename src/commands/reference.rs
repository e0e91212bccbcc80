//! `tracesynth reference --preset trace-a|api|documents --duration 2h --seed N
//! [--users K] -o FILE` (hidden)

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use tracesynth::reference::{ReferenceConfig, build};
use tracesynth::trace::{BAILIAN_BLOCK, Format, OutputFile, writer_for};

use super::Global;
use super::generate::parse_duration;

/// The help text: these traces must never be mistaken for real data.
pub const ABOUT: &str = "Build a reference Bailian trace for validation.\n\n\
These are NOT real data. They are built from the structural rules of the published \
Qwen-Bailian traces (context growth, block inheritance, a prefix tree of system prompts, \
popular closing blocks, shared documents and retrieved pages) by mechanisms unrelated to the \
fitted model, so that `fit` -> `generate` on them is a real test. Their figures only \
land near the published trace-A / trace-B numbers.";

#[derive(Debug, Args)]
pub struct ReferenceArgs {
    /// `trace-a`: to-C chat sessions like trace A; `api`: sessionless API traffic like
    /// trace B; `documents`: chat sessions drawing shared documents from an hourly
    /// catalogue of the service, so sharing grows with the users.
    #[arg(long, value_parser = ["trace-a", "api", "documents"])]
    pub preset: String,
    /// Times the users of the preset's service: K times the sessions, the same
    /// per-session behaviour and the same documents (the ground truth of
    /// `generate --rate-scale K`).
    #[arg(long, default_value_t = 1.0, value_parser = parse_users, allow_negative_numbers = true)]
    pub users: f64,
    /// Time to cover, e.g. `2h`, `30m`, `86400s`, `1d`.
    #[arg(long, default_value = "2h", value_parser = parse_duration)]
    pub duration: f64,
    /// Seed of every random choice: the same preset, options and seed write the same
    /// bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output file (`-` for stdout; a `.gz` name is compressed).
    #[arg(short, long, default_value = "-")]
    pub output: String,
    /// Output format: bailian (16-token blocks, sessions) or mooncake (re-blocked to 512
    /// tokens, without the sessions).
    #[arg(long, default_value = "bailian")]
    pub format: Format,
}

pub fn run(args: &ReferenceArgs, global: Global) -> anyhow::Result<ExitCode> {
    let config = match args.preset.as_str() {
        "api" => ReferenceConfig::api_like(args.seed, args.duration),
        "documents" => ReferenceConfig::documents(args.seed, args.duration),
        _ => ReferenceConfig::trace_a_like(args.seed, args.duration),
    }
    .with_users(args.users);
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("--users {}: {e}", args.users))?;
    let spinner = global.spinner("building the reference trace");
    let trace = build(&config);
    let mut out = OutputFile::create(&args.output)?;
    {
        let mut writer = writer_for(args.format, &mut out, Some(BAILIAN_BLOCK))?;
        for req in &trace.requests {
            writer.write(req).context("writing the output")?;
        }
        writer.flush().context("writing the output")?;
    }
    out.commit()?;
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    if !global.quiet && args.output != "-" {
        eprintln!(
            "{}: {} reference requests ({} preset, not real data)",
            args.output,
            trace.requests.len(),
            args.preset
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A positive, finite number of times the users, at most a thousand.
fn parse_users(text: &str) -> Result<f64, String> {
    let users: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if users.is_finite() && users > 0.0 && users <= 1000.0 {
        Ok(users)
    } else {
        Err(format!("`{text}`: users must be in (0, 1000]"))
    }
}
