//! `tracesynth import-servegen DIR -o model.json`

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use tracesynth::model::clients::DEFAULT_IO_SPEARMAN;
use tracesynth::servegen::{ImportOptions, import_dir};
use tracesynth::trace::OutputFile;

use super::Global;

#[derive(Debug, Args)]
pub struct ImportServegenArgs {
    /// A ServeGen model directory (alibaba/ServeGen `data/<category>/<model>/`):
    /// `chunk-<client>-trace.csv` files and, for some clients, `chunk-<client>-dataset.json`.
    pub dir: PathBuf,
    /// Where to write the model (JSON; `-` for stdout).
    #[arg(short, long)]
    pub output: String,
    /// Spearman rank correlation of input and output tokens within a client. The data
    /// holds only their marginals; ServeGen reports the correlation as weak.
    #[arg(long, default_value_t = DEFAULT_IO_SPEARMAN, value_parser = spearman, allow_negative_numbers = true)]
    pub io_spearman: f64,
    /// Keep only the N clients with the most requests.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub clients: Option<u64>,
}

fn spearman(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if v.is_finite() && v.abs() < 1.0 {
        Ok(v)
    } else {
        Err(format!(
            "{v} is not a rank correlation strictly between -1 and 1"
        ))
    }
}

pub fn run(args: &ImportServegenArgs, global: Global) -> anyhow::Result<ExitCode> {
    let spinner = global.spinner(&format!("importing {}", args.dir.display()));
    let options = ImportOptions {
        io_spearman: args.io_spearman,
        max_clients: args
            .clients
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
    };
    let mut out = OutputFile::create(&args.output)?;
    let imported = import_dir(&args.dir, &options)?;
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    let model = &imported.model;
    out.write_all(model.to_json().as_bytes())
        .context("writing the model")?;
    out.commit()?;
    if !global.quiet {
        let kept = model.clients.as_ref().map_or(0, |c| c.clients.len());
        eprintln!(
            "imported {kept} of {} clients ({} with pooled lengths), {:.0} s span, {} expected requests -> {}",
            imported.clients_found,
            imported.pooled.len(),
            model.span,
            model.provenance.records,
            args.output
        );
    }
    Ok(ExitCode::SUCCESS)
}
