//! `tracesynth stats FILE [--json]`

use std::process::ExitCode;

use clap::Args;
use tracesynth::trace::Format;

use super::Global;

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Trace to measure (`-` for stdin).
    pub input: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Force the input format instead of detecting it.
    #[arg(long)]
    pub format: Option<Format>,
}

pub fn run(_args: &StatsArgs, _global: Global) -> anyhow::Result<ExitCode> {
    anyhow::bail!("stats: not implemented yet")
}
