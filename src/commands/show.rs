//! `tracesynth show MODEL [--json] [--report DIR]`

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use tracesynth::compare::plot;
use tracesynth::generate::{GenerateOptions, records};
use tracesynth::metrics::Histogram;
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
    /// Also write a report to DIR: show.md (the text summary, the content population's
    /// growth with --rate-scale, the charts) and SVG charts of a default run of the
    /// model (rate over time, input and output length CDFs per type, requests per
    /// session, think times, turns).
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
        let (charts, n) = charts(&model)?;
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
        for (stem, svg) in &charts {
            let path = dir.join(format!("{stem}.svg"));
            tracesynth::trace::write_whole(&path, svg.as_bytes())
                .with_context(|| path.display().to_string())?;
        }
        let path = dir.join("show.md");
        let body = report_body(&args.model, &text, &model, &charts, n);
        tracesynth::trace::write_whole(&path, body.as_bytes())
            .with_context(|| path.display().to_string())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// At most this many requests of the run the report's charts are drawn from.
const SAMPLE_REQUESTS: u64 = 200_000;

/// The report's charts, `(file stem, SVG)`, drawn from a run of the model as `generate`
/// writes it by default (seed 0, the fitted span, at most [`SAMPLE_REQUESTS`] requests),
/// and the number of requests in that run.
fn charts(model: &Model) -> anyhow::Result<(Vec<(String, String)>, u64)> {
    let options = GenerateOptions {
        duration: Some(model.span),
        requests: Some(SAMPLE_REQUESTS),
        ..GenerateOptions::default()
    };
    options.validate_for(model)?;
    let window = model.arrivals.bin_width;
    let types = model.types.len();
    let mut per_window: Vec<f64> = Vec::new();
    let mut input = vec![Vec::new(); types];
    let mut output = vec![Vec::new(); types];
    let mut turns: BTreeMap<u32, u64> = BTreeMap::new();
    let mut sizes: HashMap<u64, u64> = HashMap::new();
    // Timestamps of the requests with follow-ups to come, by chat id.
    let mut parents: HashMap<u64, (f64, u32)> = HashMap::new();
    let mut think = Vec::new();
    let mut n = 0u64;
    for p in records(model, options) {
        let p = p?;
        n += 1;
        let w = (p.timestamp / window) as usize;
        if per_window.len() <= w {
            per_window.resize(w + 1, 0.0);
        }
        per_window[w] += 1.0;
        input[p.ty].push(p.input_length as f64);
        output[p.ty].push(p.output_length as f64);
        *turns.entry(p.turn).or_default() += 1;
        *sizes.entry(p.session).or_default() += 1;
        if p.parent_chat_id >= 0 {
            let id = p.parent_chat_id as u64;
            if let Some((t, left)) = parents.get_mut(&id) {
                think.push(p.timestamp - *t);
                *left -= 1;
                if *left == 0 {
                    parents.remove(&id);
                }
            }
        }
        if p.children > 0 {
            parents.insert(p.chat_id, (p.timestamp, p.children));
        }
    }
    let cdf = |values: Vec<f64>| plot::thin_cdf(&Histogram::from_values(values));
    let mut out = vec![(
        "rate".to_string(),
        plot::rate_chart(&[], &per_window, window)?,
    )];
    for (ty, name) in model.types.iter().enumerate() {
        let stem: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        for (what, values) in [("input", &mut input[ty]), ("output", &mut output[ty])] {
            if values.is_empty() {
                continue;
            }
            let title = format!("{what} length, {name}");
            let chart = plot::cdf_chart(&title, "tokens", &[], &cdf(std::mem::take(values)))?;
            out.push((format!("{what}-{stem}"), chart));
        }
    }
    let sizes: Vec<f64> = sizes.into_values().map(|s| s as f64).collect();
    out.push((
        "session-sizes".to_string(),
        plot::cdf_chart("Requests per session", "requests", &[], &cdf(sizes))?,
    ));
    if !think.is_empty() {
        out.push((
            "think-time".to_string(),
            plot::cdf_chart("Think time", "seconds", &[], &cdf(think))?,
        ));
    }
    out.push((
        "turns".to_string(),
        plot::turns_chart(&BTreeMap::new(), &turns)?,
    ));
    Ok((out, n))
}

/// The report's Markdown: the text summary, the content population, the charts.
fn report_body(
    name: &str,
    text: &str,
    model: &Model,
    charts: &[(String, String)],
    n: u64,
) -> String {
    let mut o = format!("# Model {name}\n\n```text\n{text}```\n");
    let populations: Vec<_> = model
        .blocks
        .population
        .iter()
        .enumerate()
        .filter_map(|(ty, p)| Some((&model.types[ty], p.as_ref()?)))
        .collect();
    if !populations.is_empty() {
        o.push_str(
            "\n## Content population\n\nShared content (a root's documents and other \
             content) is drawn per type from a population fitted to how sharing grows \
             when the fitted trace's sessions are thinned (model::blocks::population). \
             Its distinct items and items used twice or more, observed under thinning, \
             fitted, and as the law extrapolates them to --rate-scale K:\n",
        );
        for (ty, p) in populations {
            o.push_str(&format!(
                "\n### {ty}\n\nmass {:.1}, discount {:.3}, cut-off {:.4}, unique {:.1} \
                 per unit scale\n\n| scale | distinct items (observed) | distinct (fitted) \
                 | shared (fitted) |\n|---|---|---|---|\n",
                p.mass, p.discount, p.cutoff, p.unique
            ));
            for &(share, observed, fitted) in &p.growth {
                o.push_str(&format!(
                    "| {share} | {observed:.0} | {fitted:.0} | {:.0} |\n",
                    p.shared(share)
                ));
            }
            for k in [2.0, 4.0, 10.0] {
                o.push_str(&format!(
                    "| {k} | | {:.0} | {:.0} |\n",
                    p.distinct(k),
                    p.shared(k)
                ));
            }
        }
    }
    o.push_str(&format!(
        "\n## Charts\n\nFrom a run of the model as `generate` writes it by default (seed 0, \
         the fitted span, at most {SAMPLE_REQUESTS} requests): {n} requests. The legends' \
         \"synthetic\" is that run.\n\n"
    ));
    for (stem, _) in charts {
        o.push_str(&format!("![{stem}]({stem}.svg)\n\n"));
    }
    o
}
