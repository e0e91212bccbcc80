//! `tracesynth convert IN -o OUT --to bailian|mooncake`

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use tracesynth::check::Checker;
use tracesynth::trace::{Format, OutputFile, TraceReader, writable_names, writer_for};

use super::{Global, warn_violations};

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Input trace (`-` for stdin; .gz and .zst are decompressed).
    pub input: String,
    /// Output file (`-` for stdout; a `.gz` name is compressed).
    #[arg(short, long)]
    pub output: String,
    /// Output format.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(writable_names()))]
    pub to: String,
    /// Force the input format (bailian, mooncake or azure) instead of detecting it.
    #[arg(long)]
    pub format: Option<Format>,
}

pub fn run(args: &ConvertArgs, _global: Global) -> anyhow::Result<ExitCode> {
    let to: Format = args.to.parse().map_err(anyhow::Error::msg)?;
    let mut out = OutputFile::create_for(&args.output, &[&args.input])?;
    let mut reader = TraceReader::open(&args.input, args.format)?;
    let source_block = reader.block_size();
    let mut checker = Checker::new(reader.format());
    {
        let mut writer = writer_for(to, &mut out, source_block).map_err(anyhow::Error::msg)?;
        while let Some(req) = reader.next() {
            let req = req?;
            checker.push_record(reader.line(), &req);
            writer.write(&req).context("writing the output")?;
        }
        writer.flush().context("writing the output")?;
    }
    out.commit()?;
    warn_violations(&checker.finish(&args.input));
    Ok(ExitCode::SUCCESS)
}
