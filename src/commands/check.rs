//! `tracesynth check FILE`

use std::process::ExitCode;

use clap::Args;
use tracesynth::trace::Format;

use super::Global;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Trace to validate (`-` for stdin).
    pub input: String,
    /// Force the input format instead of detecting it.
    #[arg(long)]
    pub format: Option<Format>,
}

pub fn run(_args: &CheckArgs, _global: Global) -> anyhow::Result<ExitCode> {
    anyhow::bail!("check: not implemented yet")
}
