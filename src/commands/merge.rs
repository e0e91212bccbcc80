//! `tracesynth merge PART... -o out.jsonl`

use std::process::ExitCode;

use clap::Args;
use tracesynth::trace::OutputFile;
use tracesynth::trace::merge::{check_manifests, merge_parts};

use super::Global;

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Part files written by `generate --shard I/N` (any order; `.gz` and `.zst` are read).
    #[arg(required = true)]
    pub parts: Vec<String>,
    /// Output file (`-` for stdout; a `.gz` name is compressed).
    #[arg(short, long, default_value = "-")]
    pub output: String,
    /// Merge without the parts' `PART.part.json` manifests, which otherwise must show
    /// every part of one run exactly once (for hand-made or renamed parts).
    #[arg(long)]
    pub no_manifest: bool,
}

pub fn run(args: &MergeArgs, global: Global) -> anyhow::Result<ExitCode> {
    if !args.no_manifest {
        check_manifests(&args.parts)?;
    }
    let parts: Vec<&str> = args.parts.iter().map(String::as_str).collect();
    let mut out = OutputFile::create_for(&args.output, &parts)?;
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
