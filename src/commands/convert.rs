//! `tracesynth convert IN -o OUT --to bailian|mooncake`

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use tracesynth::check::Checker;
use tracesynth::trace::{Format, LineFormatter, LineWriter, OutputFile, TraceReader, TraceWriter};

use super::{Global, warn_violations};

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Input trace (`-` for stdin; .gz and .zst are decompressed).
    pub input: String,
    /// Output file (`-` for stdout; a `.gz` name is compressed).
    #[arg(short, long)]
    pub output: String,
    /// Output format.
    #[arg(long, ignore_case = true, value_parser = super::write_format())]
    pub to: Format,
    /// Force the input format instead of detecting it.
    #[arg(long, ignore_case = true, value_parser = super::read_format())]
    pub format: Option<Format>,
    /// Optional fields the output lines also carry (comma-separated; mooncake-sessions:
    /// turn, type).
    #[arg(long = "field", value_name = "FIELD", value_delimiter = ',')]
    pub fields: Vec<String>,
}

pub fn run(args: &ConvertArgs, _global: Global) -> anyhow::Result<ExitCode> {
    let to = args.to;
    let mut out = OutputFile::create_for(&args.output, &[&args.input])?;
    let mut reader = TraceReader::open(&args.input, args.format)?;
    let source_block = reader.block_size();
    let mut checker = Checker::new(reader.format());
    {
        let formatter = LineFormatter::with_fields(to, source_block, &args.fields)?;
        let mut writer = LineWriter::new(&mut out, formatter);
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
