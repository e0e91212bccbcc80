//! `tracesynth stats FILE [--json] [--check]`

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use tracesynth::check::Checker;
use tracesynth::metrics::{AnalysisOptions, Summary, TracePass, TraceStats};
use tracesynth::trace::{Format, TraceReader, for_each_item, for_each_record};

use super::table::{ABSENT, Table, count, num, opt_num, pct, ratio};
use super::{Global, then_spin, warn_violations};

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Trace to measure (`-` for stdin).
    pub input: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Force the input format instead of detecting it.
    #[arg(long, ignore_case = true, value_parser = super::read_format())]
    pub format: Option<Format>,
    /// Validate as `tracesynth check` does, in the same pass: the statistics are printed
    /// only when the trace is clean; otherwise check's report goes to stderr, nothing to
    /// stdout, and the exit status is 1.
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: &StatsArgs, global: Global) -> anyhow::Result<ExitCode> {
    let spinner = global.reading(&format!("reading {}", args.input), &[&args.input]);
    // One pass: each record is checked (so violations can be named) and measured as it
    // is read, and none is kept.
    let reader = TraceReader::open(&args.input, args.format)?;
    let mut checker = Checker::new(reader.format());
    let mut pass = TracePass::new(reader.format(), reader.block_size());
    let path = reader.path().to_string();
    let progress = |bytes| {
        if let Some(bar) = &spinner {
            bar.inc(bytes);
        }
    };
    if args.check {
        // Every record is checked, a bad one included, as `check` does; measuring stops
        // at the first violation, since the statistics will not be printed.
        for_each_item(reader, &progress, &mut |line, item| match item {
            Ok(req) => {
                checker.push_record(line, &req);
                if checker.is_clean() {
                    pass.push(&req);
                }
                Ok(())
            }
            Err(e) => checker.push(line, Err(e)),
        })?;
    } else {
        for_each_record(reader, &progress, &mut |line, req| {
            checker.push_record(line, &req);
            pass.push(&req);
        })?;
    }
    let check = checker.finish(&path);
    if args.check && !check.clean {
        if let Some(bar) = spinner {
            bar.finish_and_clear();
        }
        let mut err = std::io::stderr().lock();
        super::check::write_summary(&mut err, &check).context("writing the report")?;
        writeln!(
            err,
            "tracesynth: no statistics printed: the trace has violations"
        )
        .context("writing the report")?;
        return Ok(ExitCode::from(1));
    }
    then_spin(spinner.as_ref(), &format!("measuring {}", args.input));
    let stats = pass.finish(&AnalysisOptions::default()).stats;
    if let Some(bar) = spinner {
        bar.finish_and_clear();
    }
    warn_violations(&check);
    let text = if args.json {
        let mut json = serde_json::to_string_pretty(&stats)?;
        json.push('\n');
        json
    } else {
        render(&args.input, &stats)
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}

/// The human-readable report: one section per aspect, then one row per request type.
pub fn render(path: &str, s: &TraceStats) -> String {
    let mut out = String::new();
    let blocks = s
        .block_size
        .map_or_else(|| "no blocks".to_string(), |b| format!("{b}-token blocks"));
    let _ = writeln!(out, "{path} ({}, {blocks})\n", s.format);

    let mut t = Table::new();
    t.row(["requests".to_string(), count(s.requests)]);
    t.row(["duration (s)".to_string(), num(s.duration_s, 1)]);
    t.row(["rate (req/s)".to_string(), opt_num(s.rate, 3)]);
    out.push_str(&t.render(""));

    section(&mut out, "lengths (tokens)");
    let mut t = Table::new();
    t.row(["", "mean", "p50", "p90", "p99"]);
    t.row(summary_row("input", s.input.as_ref(), 0));
    t.row(summary_row("output", s.output.as_ref(), 0));
    out.push_str(&t.render("  "));
    let _ = writeln!(
        out,
        "  input/output Spearman correlation: {}",
        ratio(s.input_output_spearman)
    );

    section(&mut out, "arrivals");
    let mut t = Table::new();
    t.row([
        "inter-arrival CV".to_string(),
        ratio(s.arrivals.inter_arrival_cv),
    ]);
    for d in &s.arrivals.dispersion {
        t.row([
            format!("index of dispersion, {} s windows", d.window_s),
            ratio(d.index),
        ]);
    }
    out.push_str(&t.render("  "));

    section(&mut out, "sessions");
    match &s.sessions {
        Some(ss) => {
            let mut t = Table::new();
            t.row(["sessions (roots)".to_string(), count(ss.sessions)]);
            t.row(["follow-up share".to_string(), pct(Some(ss.follow_up_share))]);
            t.row([
                "single-request sessions".to_string(),
                pct(ss.single_request_share),
            ]);
            t.row([
                "orphans (parent not in file)".to_string(),
                count(ss.orphans),
            ]);
            t.row(["children per request".to_string(), num(ss.children_mean, 3)]);
            let gap = ss.parent_child_gap.as_ref();
            t.row([
                "parent->child gap p50 / p90 (s)".to_string(),
                pair(gap.map(|g| g.p50), gap.map(|g| g.p90), 1),
            ]);
            let new = ss.new_tokens.as_ref();
            t.row([
                "new tokens per follow-up mean / p50 / p90".to_string(),
                format!(
                    "{} / {} / {}",
                    opt_num(new.map(|g| g.mean), 1),
                    opt_num(new.map(|g| g.p50), 0),
                    opt_num(new.map(|g| g.p90), 0)
                ),
            ]);
            out.push_str(&t.render("  "));
            histogram(&mut out, "turns", &ss.turns);
            histogram(&mut out, "requests per session", &ss.session_sizes);
            histogram(&mut out, "children per request", &ss.children);
            if !ss.type_transitions.is_empty() {
                let mut t = Table::new();
                let total: u64 = ss.type_transitions.values().sum();
                for (k, &n) in &ss.type_transitions {
                    t.row([k.clone(), count(n), pct(Some(n as f64 / total as f64))]);
                }
                out.push_str("  type transitions (parent->child)\n");
                out.push_str(&t.render("    "));
            }
        }
        None => out.push_str("  (no session fields in this format)\n"),
    }

    section(&mut out, "prefix cache");
    match &s.cache {
        Some(c) => {
            let mut t = Table::new();
            t.row([
                "blocks total / unique".to_string(),
                format!("{} / {}", count(c.total_blocks), count(c.unique_blocks)),
            ]);
            t.row([
                "ideal hit ratio (infinite cache)".to_string(),
                ratio(c.ideal_hit_ratio),
            ]);
            for p in &c.lru {
                t.row([
                    format!(
                        "LRU hit ratio at {} % ({} blocks)",
                        p.percent,
                        count(p.capacity)
                    ),
                    ratio(p.hit_ratio),
                ]);
            }
            t.row([
                "hits same-session / cross-session".to_string(),
                pair(c.same_session_hit_share, c.cross_session_hit_share, 3),
            ]);
            t.row([
                "new blocks ever hit later".to_string(),
                pct(c.new_block_hit_share),
            ]);
            let gap = c.reuse_gap.as_ref();
            t.row([
                "reuse gap p50 / p90 (s)".to_string(),
                pair(gap.map(|g| g.p50), gap.map(|g| g.p90), 1),
            ]);
            out.push_str(&t.render("  "));
        }
        None => out.push_str("  (no block ids in this format)\n"),
    }

    if let Some(types) = &s.types {
        section(&mut out, "per type");
        let mut t = Table::new();
        t.row([
            "type",
            "requests",
            "share",
            "in mean",
            "in p50",
            "in p90",
            "in p99",
            "out mean",
            "out p50",
            "out p90",
            "out p99",
            "ideal hit",
            "reuse p50 s",
            "new hit",
        ]);
        let mut rows: Vec<_> = types.iter().collect();
        rows.sort_by(|a, b| b.1.requests.cmp(&a.1.requests).then(a.0.cmp(b.0)));
        for (name, ty) in rows {
            let mut row = vec![name.clone(), count(ty.requests), pct(Some(ty.share))];
            row.extend(summary_row("", ty.input.as_ref(), 0).into_iter().skip(1));
            row.extend(summary_row("", ty.output.as_ref(), 0).into_iter().skip(1));
            row.push(ratio(ty.ideal_hit_ratio));
            row.push(opt_num(ty.reuse_gap_p50, 1));
            row.push(pct(ty.new_block_hit_share));
            t.row(row);
        }
        out.push_str(&t.render("  "));
    }
    out
}

fn section(out: &mut String, title: &str) {
    let _ = writeln!(out, "\n{title}");
}

fn summary_row(label: &str, s: Option<&Summary>, decimals: usize) -> Vec<String> {
    let mut row = vec![label.to_string()];
    match s {
        Some(s) => row.extend([s.mean, s.p50, s.p90, s.p99].map(|x| num(x, decimals))),
        None => row.extend([ABSENT; 4].map(String::from)),
    }
    row
}

fn pair(a: Option<f64>, b: Option<f64>, decimals: usize) -> String {
    format!("{} / {}", opt_num(a, decimals), opt_num(b, decimals))
}

/// A histogram as shares, on one line; long tails are folded into the last bucket so a
/// 200-turn session does not print 200 columns.
fn histogram(out: &mut String, title: &str, h: &std::collections::BTreeMap<u32, u64>) {
    const SHOWN: usize = 8;
    let total: u64 = h.values().sum();
    if total == 0 {
        return;
    }
    let mut cells: Vec<String> = h
        .iter()
        .take(SHOWN)
        .map(|(k, &n)| format!("{k}: {:.1}%", n as f64 * 100.0 / total as f64))
        .collect();
    if h.len() > SHOWN {
        let (&first_rest, _) = h.iter().nth(SHOWN).expect("more than SHOWN keys");
        let rest: u64 = h.values().skip(SHOWN).sum();
        cells.push(format!(
            ">={first_rest}: {:.1}%",
            rest as f64 * 100.0 / total as f64
        ));
    }
    let _ = writeln!(out, "  {title}: {}", cells.join("  "));
}
