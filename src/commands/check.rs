//! `tracesynth check FILE [--format F] [--json]`

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tracesynth::check::{CheckReport, Checker};
use tracesynth::trace::{Format, TraceReader};

use super::Global;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Trace to validate (`-` for stdin).
    pub input: String,
    /// Force the input format instead of detecting it.
    #[arg(long, ignore_case = true, value_parser = super::read_format())]
    pub format: Option<Format>,
    /// Print the report as JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// Exit 0 when the trace is clean, 1 when it has violations; an unreadable file is an
/// error (exit 2 from `main`).
pub fn run(args: &CheckArgs, global: Global) -> anyhow::Result<ExitCode> {
    let mut reader = TraceReader::open(&args.input, args.format)?;
    let mut checker = Checker::new(reader.format());
    let progress = global.progress.then(|| {
        let bar = ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} checking: {bytes} read, {msg} records")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message("0");
        bar
    });
    let mut records = 0u64;
    while let Some(item) = reader.next() {
        checker.push(reader.line(), item)?;
        records += 1;
        if let Some(bar) = &progress
            && records.is_multiple_of(16_384)
        {
            bar.set_position(reader.bytes_read());
            bar.set_message(records.to_string());
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let report = checker.finish(reader.path());

    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report).context("writing the report")?;
        writeln!(out).context("writing the report")?;
    } else {
        write_summary(&mut out, &report).context("writing the report")?;
    }
    out.flush().context("writing the report")?;
    Ok(if report.clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The report as `check` prints it (what `stats --check` prints on stderr).
pub fn write_summary(out: &mut impl Write, report: &CheckReport) -> std::io::Result<()> {
    let blocks = match report.block_size {
        Some(b) => format!("{b}-token blocks"),
        None => "no blocks".to_string(),
    };
    writeln!(
        out,
        "{}: {} record{}, {} format ({blocks})",
        report.path,
        report.records,
        if report.records == 1 { "" } else { "s" },
        report.format
    )?;
    if report.clean {
        return writeln!(out, "ok: no violations");
    }
    for v in &report.violations {
        let lines: Vec<String> = v.lines().iter().map(u64::to_string).collect();
        let more = if v.count > v.first.len() as u64 {
            ", ..."
        } else {
            ""
        };
        let label = if v.first.len() == 1 { "line" } else { "lines" };
        writeln!(
            out,
            "  {}: {} ({label} {}{more})",
            v.description,
            v.count,
            lines.join(", ")
        )?;
        if !v.fields.is_empty() {
            let fields: Vec<String> = v.fields.iter().map(|(f, n)| format!("{f} {n}")).collect();
            writeln!(out, "      by field: {}", fields.join(", "))?;
        }
        for e in &v.first {
            writeln!(out, "      line {}: {}", e.line, e.message)?;
        }
    }
    let total: u64 = report.violations.iter().map(|v| v.count).sum();
    let kinds = report.violations.len();
    writeln!(
        out,
        "{total} violation{} of {kinds} kind{}",
        if total == 1 { "" } else { "s" },
        if kinds == 1 { "" } else { "s" }
    )
}
