//! `tracesynth generate [--model M] -o out.jsonl`

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use tracesynth::generate::{GenerateOptions, Generator, RateProfileChoice};
use tracesynth::model::Model;
use tracesynth::model::blocks::IdsExhausted;
use tracesynth::trace::{Format, OutputFile, Request, writer_for};

use super::Global;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Model file from `tracesynth fit`; the built-in default model when omitted.
    #[arg(short, long)]
    pub model: Option<String>,
    /// Output file (`-` for stdout; a `.gz` name is compressed).
    #[arg(short, long, default_value = "-")]
    pub output: String,
    /// Time to cover, e.g. `2h`, `30m`, `86400s`, `1d` (default: the fitted span).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<f64>,
    /// Stop after this many requests.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Start this many sessions (their follow-ups still come).
    #[arg(long)]
    pub sessions: Option<u64>,
    /// K times more sessions per second, same per-session behaviour.
    #[arg(long, default_value_t = 1.0, value_parser = parse_positive)]
    pub rate_scale: f64,
    /// Stretch (K > 1) or compress (K < 1) time.
    #[arg(long, default_value_t = 1.0, value_parser = parse_positive)]
    pub time_scale: f64,
    /// `repeat` the fitted rate profile, keep it `flat`, or read steps from a CSV file
    /// of `start_seconds,multiplier` rows.
    #[arg(long, default_value = "repeat")]
    pub rate_profile: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output format: bailian (16-token blocks, sessions) or mooncake (512-token blocks).
    #[arg(long, default_value = "bailian")]
    pub format: Format,
    /// `chat_id` of the first request.
    #[arg(long, default_value_t = 0)]
    pub start_id: u64,
    /// Threads: 2 or more generate on one thread while another formats and writes (the
    /// output is the same bytes as with 1). More than 2 do not help yet.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: u32,
}

/// Requests per batch handed from the generating thread to the writing one.
const BATCH: usize = 2048;

pub fn run(args: &GenerateArgs, global: Global) -> anyhow::Result<ExitCode> {
    let model = match &args.model {
        Some(path) => Model::load(Path::new(path))?,
        None => Model::default_model(),
    };
    let rate_profile = match args.rate_profile.as_str() {
        "repeat" => RateProfileChoice::Repeat,
        "flat" => RateProfileChoice::Flat,
        path => RateProfileChoice::Steps(read_steps(path)?),
    };
    let options = GenerateOptions {
        seed: args.seed,
        duration: args.duration,
        requests: args.requests,
        sessions: args.sessions,
        rate_scale: args.rate_scale,
        time_scale: args.time_scale,
        rate_profile,
        start_id: args.start_id,
    };
    let mut out = OutputFile::create(&args.output)?;
    let progress = global.counter("generating");
    {
        let mut writer = writer_for(args.format, &mut out, Some(model.block_size))
            .map_err(anyhow::Error::msg)?;
        let mut written = 0u64;
        let mut write = |req: &Request| -> anyhow::Result<()> {
            writer.write(req).context("writing the output")?;
            written += 1;
            if let Some(p) = &progress
                && written.is_multiple_of(4096)
            {
                p.set_position(written);
            }
            Ok(())
        };
        if args.threads <= 1 {
            for req in Generator::new(&model, options) {
                write(&req?)?;
            }
        } else {
            pipelined(&model, options, &mut write)?;
        }
        writer.flush().context("writing the output")?;
    }
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    out.commit()?;
    Ok(ExitCode::SUCCESS)
}

/// Generate on a second thread and hand batches over, so formatting and writing overlap
/// with generating. Order is kept, so the bytes are those of the one-thread run. Written
/// batches go back to the generating thread to be freed there: freeing memory another
/// thread allocated is what made a plain hand-over slower than one thread.
fn pipelined(
    model: &Model,
    options: GenerateOptions,
    write: &mut dyn FnMut(&Request) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<Request>, IdsExhausted>>(4);
        let (back_tx, back_rx) = std::sync::mpsc::channel::<Vec<Request>>();
        scope.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            for req in Generator::new(model, options) {
                let failed = req.is_err();
                match req {
                    Ok(r) => batch.push(r),
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
                if failed {
                    return;
                }
                if batch.len() == BATCH {
                    let next = match back_rx.try_recv() {
                        Ok(mut used) => {
                            used.clear();
                            used
                        }
                        Err(_) => Vec::with_capacity(BATCH),
                    };
                    // A closed channel means the writer stopped (an error, or `| head`).
                    if tx.send(Ok(std::mem::replace(&mut batch, next))).is_err() {
                        return;
                    }
                }
            }
            if !batch.is_empty() {
                let _ = tx.send(Ok(batch));
            }
        });
        for batch in rx {
            let batch = batch?;
            for req in &batch {
                write(req)?;
            }
            let _ = back_tx.send(batch);
        }
        Ok(())
    })
}

/// `90`, `90s`, `30m`, `2h`, `1d`, `1.5h` -> seconds.
pub fn parse_duration(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let value: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 90s, 30m, 2h or 1d"))?;
    let factor = match unit {
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => {
            return Err(format!(
                "unknown unit `{unit}` in `{text}` (use s, m, h or d)"
            ));
        }
    };
    let seconds = value * factor;
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(format!("duration `{text}` must be positive"));
    }
    Ok(seconds)
}

pub(crate) fn parse_positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("`{text}` must be a positive number")),
    }
}

/// `start_seconds,multiplier` rows (a header line is allowed), sorted by start.
fn read_steps(path: &str) -> anyhow::Result<Vec<(f64, f64)>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!("--rate-profile: `{path}` is neither repeat, flat nor a readable CSV file")
    })?;
    let mut steps = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty()
            || (i == 0 && line.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
        {
            continue;
        }
        let mut cols = line.split(',');
        let parse = |c: Option<&str>, what: &str| -> anyhow::Result<f64> {
            let c = c.map(str::trim).unwrap_or("");
            match c.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
                _ => bail!(
                    "{path}:{}: field `{what}`: `{c}` is not a number >= 0",
                    i + 1
                ),
            }
        };
        let start = parse(cols.next(), "start_seconds")?;
        let mult = parse(cols.next(), "multiplier")?;
        if steps.last().is_some_and(|&(s, _)| start < s) {
            bail!(
                "{path}:{}: field `start_seconds`: rows must be sorted by start",
                i + 1
            );
        }
        steps.push((start, mult));
    }
    if steps.is_empty() || steps.iter().all(|s| s.1 == 0.0) {
        bail!("{path}: no rows with a positive multiplier");
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("2h"), Ok(7200.0));
        assert_eq!(parse_duration("30m"), Ok(1800.0));
        assert_eq!(parse_duration("86400s"), Ok(86400.0));
        assert_eq!(parse_duration("90"), Ok(90.0));
        assert_eq!(parse_duration("1.5d"), Ok(129_600.0));
        assert!(parse_duration("2x").is_err());
        assert!(parse_duration("-5m").is_err());
    }
}
