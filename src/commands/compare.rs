//! `tracesynth compare REAL SYNTH [--scale K] [--report DIR] [--json] [--tolerances FILE]`

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use tracesynth::cachesim::Stream;
use tracesynth::compare::report::{format_value, write_report};
use tracesynth::compare::{
    CompareOptions, Comparison, MIN_RECORDS, Tolerances, add_policies, analysis_options,
    compare_analyses,
};
use tracesynth::metrics::{Analysis, TracePass};
use tracesynth::trace::{Format, TraceReader, for_each_record};

use super::generate::parse_positive;
use super::table::{Table, count};
use super::{Global, then_spin};

#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 when every row passes, 1 when a row fails, 2 when an \
    input or the tolerance file cannot be read.\n\nRow names (the first column) are the keys \
    of the --tolerances file: a JSON object mapping a name to a tolerance in the row's own \
    metric, or to null to make the row informational. Per-type rows take `[*]` for every \
    type, e.g. {\"input.ks\": 0.05, \"input.ks[*]\": 0.1, \"idc.10s\": null}."
)]
pub struct CompareArgs {
    /// The real trace.
    pub real: String,
    /// The synthetic trace to judge against it.
    pub synth: String,
    /// The synthetic trace was generated at K times the real rate: the rate is expected
    /// K times, gaps are compared after multiplying the synthetic ones by K, and the IDC
    /// and reuse-gap rows become informational.
    #[arg(long, default_value_t = 1.0, value_parser = parse_positive)]
    pub scale: f64,
    /// Write index.html and the SVG charts into this directory.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// JSON file of row name -> tolerance (or null for informational).
    #[arg(long)]
    pub tolerances: Option<PathBuf>,
    /// Force the input format of both traces instead of detecting it.
    #[arg(long, ignore_case = true, value_parser = super::read_format())]
    pub format: Option<Format>,
}

pub fn run(args: &CompareArgs, global: Global) -> anyhow::Result<ExitCode> {
    if args.real == "-" && args.synth == "-" {
        anyhow::bail!(
            "compare - -: standard input is one stream and can hold only one of the two \
             traces; give at least one of them as a file"
        );
    }
    if let Some(dir) = &args.report {
        super::check_report_dir("--report", dir)?;
    }
    let tolerances = match &args.tolerances {
        Some(path) => Tolerances::load(path)?,
        None => Tolerances::default(),
    };
    let options = CompareOptions {
        scale: args.scale,
        tolerances,
    };
    let spinner = global.reading("reading both traces", &[&args.real, &args.synth]);
    // Both files at once, each measured in one pass as it is read, with one bar for the
    // two; neither trace is held in memory.
    let progress = |bytes| {
        if let Some(bar) = &spinner {
            bar.inc(bytes);
        }
    };
    let measure = |path: &str| -> anyhow::Result<Analysis> {
        let reader = TraceReader::open(path, args.format)?;
        let mut pass = TracePass::new(reader.format(), reader.block_size());
        let mut stream = Stream::default();
        for_each_record(reader, &progress, &mut |_, req| {
            pass.push(&req);
            stream.push(&req);
        })?;
        let mut analysis = pass.finish(&analysis_options());
        add_policies(&mut analysis, &stream);
        Ok(analysis)
    };
    let (real, synth) = std::thread::scope(|scope| {
        let synth = scope.spawn(|| measure(&args.synth));
        (measure(&args.real), synth.join().expect("reading panicked"))
    });
    let (real, synth) = (real?, synth?);
    for (path, analysis) in [(&args.real, &real), (&args.synth, &synth)] {
        let n = analysis.stats.requests;
        if n < MIN_RECORDS {
            anyhow::bail!(
                "{path}: {n} record{}; compare needs at least {MIN_RECORDS} in each trace to \
                 have distributions to judge",
                if n == 1 { "" } else { "s" }
            );
        }
    }
    then_spin(
        spinner.as_ref(),
        &format!("comparing {} with {}", args.synth, args.real),
    );
    let comparison = compare_analyses(real, synth, &options);
    if let Some(dir) = &args.report {
        if let Some(bar) = &spinner {
            bar.set_message(format!("writing the report to {}", dir.display()));
        }
        write_report(&comparison, dir, &args.real, &args.synth)?;
    }
    if let Some(bar) = spinner {
        bar.finish_and_clear();
    }
    let text = if args.json {
        let (pass, fail, info) = comparison.counts();
        let out = JsonOut {
            real_path: &args.real,
            synth_path: &args.synth,
            all_pass: comparison.all_pass(),
            passed: pass,
            failed: fail,
            informational: info,
            comparison: &comparison,
        };
        let mut json = serde_json::to_string_pretty(&out)?;
        json.push('\n');
        json
    } else {
        render(args, &comparison)
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing to stdout")?;
    if let (Some(dir), false) = (&args.report, global.quiet) {
        eprintln!("report: {}", dir.join("index.html").display());
    }
    Ok(if comparison.all_pass() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[derive(Serialize)]
struct JsonOut<'a> {
    real_path: &'a str,
    synth_path: &'a str,
    all_pass: bool,
    passed: usize,
    failed: usize,
    informational: usize,
    #[serde(flatten)]
    comparison: &'a Comparison,
}

/// The table, with a heading line before each group of rows.
fn render(args: &CompareArgs, c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "real       {} ({} requests, {})",
        args.real,
        count(c.real.stats.requests),
        c.real.stats.format
    );
    let _ = writeln!(
        out,
        "synthetic  {} ({} requests, {})",
        args.synth,
        count(c.synth.stats.requests),
        c.synth.stats.format
    );
    let _ = writeln!(out, "scale      {}\n", c.scale);

    let mut t = Table::new();
    t.row([
        "row",
        "shown",
        "real",
        "synthetic",
        "metric",
        "distance",
        "tolerance",
        "result",
    ]);
    for r in &c.rows {
        t.row([
            r.name.clone(),
            r.shown.clone(),
            format_value(r.real),
            format_value(r.synth),
            r.metric.name().to_string(),
            format_value(r.distance),
            format_value(r.tolerance),
            r.verdict.label().to_string(),
        ]);
    }
    let rendered = t.render("  ");
    let mut lines = rendered.lines();
    if let Some(header) = lines.next() {
        let _ = writeln!(out, "{header}");
    }
    let mut group = None;
    for (r, line) in c.rows.iter().zip(lines) {
        if group != Some(r.group) {
            group = Some(r.group);
            let _ = writeln!(out, "{}", r.group.title());
        }
        let _ = writeln!(out, "{line}");
    }
    let (pass, fail, info) = c.counts();
    let _ = writeln!(
        out,
        "\n{} rows: {pass} pass, {fail} fail, {info} info (info rows have no tolerance and \
         never fail)",
        c.rows.len()
    );
    for note in &c.notes {
        let _ = writeln!(out, "note: {note}");
    }
    let _ = writeln!(
        out,
        "{}",
        if fail == 0 {
            "ALL PASS".to_string()
        } else {
            let names: Vec<&str> = c.failures().map(|r| r.name.as_str()).collect();
            format!("FAIL: {}", names.join(", "))
        }
    );
    out
}
