//! `tracesynth show MODEL [--json] [--report DIR]`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use tracesynth::model::Model;
use tracesynth::model::summary::Summary;

use super::Global;

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Model file, or a shipped model's name (`qwen-trace-a`, `qwen-trace-b`,
    /// `mooncake-conversation`, `azure-conversation`; `default`), as `generate --model`
    /// takes it.
    pub model: String,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Also write the text summary to DIR/show.md.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
}

pub fn run(args: &ShowArgs, _global: Global) -> anyhow::Result<ExitCode> {
    if let Some(dir) = &args.report {
        super::check_report_dir("--report", dir)?;
    }
    let model = Model::resolve(&args.model)?;
    let summary = Summary::of(&model).with_context(|| args.model.clone())?;
    let text = summary.to_text();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).expect("a summary always serializes")
        );
    } else {
        print!("{text}");
    }
    if let Some(dir) = &args.report {
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
        let path = dir.join("show.md");
        let body = format!("# Model {}\n\n```text\n{text}```\n", args.model);
        tracesynth::trace::write_whole(&path, body.as_bytes())
            .with_context(|| path.display().to_string())?;
    }
    Ok(ExitCode::SUCCESS)
}
