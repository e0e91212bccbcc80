//! `tracesynth merge PART... -o out.jsonl`

use std::process::ExitCode;

use clap::Args;
use tracesynth::trace::OutputFile;
use tracesynth::trace::merge::merge_parts;

use super::Global;

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Part files written by `generate --shard I/N` (any order; `.gz` and `.zst` are read).
    #[arg(required = true)]
    pub parts: Vec<String>,
    /// Output file (`-` for stdout; a `.gz` name is compressed).
    #[arg(short, long, default_value = "-")]
    pub output: String,
}

pub fn run(args: &MergeArgs, global: Global) -> anyhow::Result<ExitCode> {
    let mut out = OutputFile::create(&args.output)?;
    let progress = global.counter("merging");
    merge_parts(&args.parts, &mut out, &mut |written| {
        if let Some(p) = &progress {
            p.set_position(written);
        }
    })?;
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    out.commit()?;
    Ok(ExitCode::SUCCESS)
}
