//! `tracesynth generate [--model M] -o out.jsonl`

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use std::io::{IsTerminal, Write};

use tracesynth::generate::estimate::{Estimate, EstimateLimits, estimate};
use tracesynth::generate::{
    ContextPolicy, GenerateOptions, Knobs, MAX_CHAT_ID, MixPart, RateProfileChoice, Shard, Written,
    id_stride, mix_parts, mix_rate_scales, mix_records, mix_types, validate_mix, write_records,
    write_trace,
};
use tracesynth::model::Model;
use tracesynth::trace::merge::{PartManifest, manifest_path};
use tracesynth::trace::order::TieSorter;
use tracesynth::trace::{Format, LineFormatter, OutputFile, Ties};

use super::{Expected, Global};

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Model file from `tracesynth fit`, or a shipped model's name (`qwen-trace-a`,
    /// `qwen-trace-b`, `mooncake-conversation`, `azure-conversation`) when no such file
    /// exists; the built-in default model (`qwen-trace-a`) when omitted. Given more than
    /// once, the models are mixed into one trace (see --mix).
    #[arg(short, long)]
    pub model: Vec<String>,
    /// With several --model: each model's share of the requests, e.g. `0.7,0.3` (any
    /// positive weights, normalised); without it each model keeps its own rate. Each
    /// model's content and chat ids are its own (see README, Mixing).
    #[arg(long, value_delimiter = ',', value_parser = parse_positive, value_name = "W,W,..")]
    pub mix: Vec<f64>,
    /// Output file (`-` for stdout; a `.gz` name is compressed).
    #[arg(short, long, default_value = "-")]
    pub output: String,
    /// Time to cover, e.g. `2h`, `30m`, `86400s`, `1d` (default: the fitted span).
    #[arg(long, value_parser = parse_duration, allow_hyphen_values = true)]
    pub duration: Option<f64>,
    /// Stop after this many requests.
    #[arg(long, allow_hyphen_values = true)]
    pub requests: Option<u64>,
    /// Start this many sessions (their follow-ups still come).
    #[arg(long, allow_hyphen_values = true)]
    pub sessions: Option<u64>,
    /// K times the users of the same service: K times the sessions per second, each
    /// behaving as before, sharing the service's content (system prompts and documents
    /// get more reuse). Compare --tenants.
    #[arg(long, default_value_t = 1.0, value_parser = parse_positive, allow_hyphen_values = true)]
    pub rate_scale: f64,
    /// K independent copies of the service in one trace: disjoint content (separate
    /// system prompts and documents), disjoint chat ids, each copy behaving as one run,
    /// interleaved by time. This is what Dynamo's and AIPerf's prefix-root multipliers
    /// mean; combined with --rate-scale, each copy is scaled. --sessions counts per copy.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub tenants: u32,
    /// Stretch (K > 1) or compress (K < 1) time.
    #[arg(long, default_value_t = 1.0, value_parser = parse_positive, allow_hyphen_values = true)]
    pub time_scale: f64,
    /// `repeat` the fitted rate profile, keep it `flat`, or read steps from a CSV file
    /// of `start_seconds,multiplier` rows.
    #[arg(long, default_value = "repeat")]
    pub rate_profile: String,
    /// Seed of every random choice: the same model, options and seed write the same
    /// bytes.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output format: bailian (16-token blocks, sessions), mooncake (512-token blocks) or
    /// mooncake-sessions (Mooncake rows with `session_id`, follow-ups sent a `delay` after
    /// the previous turn's response, as AIPerf's multi-turn mooncake_trace).
    #[arg(long, default_value = "bailian", ignore_case = true, value_parser = super::write_format())]
    pub format: Format,
    /// Optional fields the lines of --format also carry (comma-separated; mooncake-sessions:
    /// turn, type).
    #[arg(long = "field", value_name = "FIELD", value_delimiter = ',')]
    pub fields: Vec<String>,
    /// `chat_id` of the first request.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    pub start_id: u64,
    /// Begin this far into the model's rate profile, e.g. `14h` for the 14th hour of a
    /// daily profile (timestamps still start at 0).
    #[arg(long, value_parser = parse_offset, allow_hyphen_values = true)]
    pub start_at: Option<f64>,
    /// Threads that format the output while another plans it; the bytes are the same as
    /// with 1.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: u32,
    /// Write only part I of N (`0/8` .. `7/8`): the sessions of that part, with the chat
    /// ids and block ids of the whole run. `tracesynth merge` joins the parts into the
    /// bytes of the whole run.
    #[arg(long, value_parser = parse_shard, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Refuse to start when the expected output is larger than this (uncompressed), e.g.
    /// `100G`, `500M`, `2T`; `--force` or `--requests` lifts it.
    #[arg(long, default_value = "100G", value_parser = parse_size, value_name = "SIZE")]
    pub max_bytes: u64,
    /// What-if: shared prefixes (system prompts, documents) K times as many blocks.
    #[arg(long, default_value_t = 1.0, value_parser = parse_positive, allow_hyphen_values = true)]
    pub prefix_scale: f64,
    /// What-if: the user's tokens (a root's beyond its shared prefix, a follow-up's new
    /// ones) times K.
    #[arg(long, default_value_t = 1.0, value_parser = parse_positive, allow_hyphen_values = true)]
    pub input_scale: f64,
    /// What-if: outputs times K (and so the context carried into follow-ups).
    #[arg(long, default_value_t = 1.0, value_parser = parse_positive, allow_hyphen_values = true)]
    pub output_scale: f64,
    /// Raise shorter inputs to this many tokens (fresh tokens at the end).
    #[arg(long, value_name = "TOKENS", allow_hyphen_values = true)]
    pub min_input: Option<u64>,
    /// Cut longer inputs to this many tokens (their first ones).
    #[arg(long, value_name = "TOKENS", allow_hyphen_values = true)]
    pub max_input: Option<u64>,
    /// Cut longer outputs to this many tokens.
    #[arg(long, value_name = "TOKENS", allow_hyphen_values = true)]
    pub max_output: Option<u64>,
    /// At most R requests per second in every bin of the model's rate profile: session
    /// starts are dropped where the bin is full (see README, What-if knobs).
    #[arg(long, value_name = "R", value_parser = parse_positive, allow_hyphen_values = true)]
    pub peak_cap: Option<f64>,
    /// What-if: a context window of N tokens; no request's input is above it. A root above
    /// it is cut to its first N tokens; a follow-up that would pass it does what
    /// --context-policy says (see README, What-if knobs).
    #[arg(long, value_name = "TOKENS", allow_hyphen_values = true)]
    pub max_context: Option<u64>,
    /// With --max-context: `truncate` (a follow-up over the window keeps as many of its
    /// history's first blocks as fit, and its session goes on) or `end` (the session's
    /// branch ends there, unwritten). Default: truncate.
    #[arg(long, value_name = "POLICY")]
    pub context_policy: Option<ContextPolicy>,
    /// Write even when the expected output exceeds `--max-bytes` or the model runs
    /// away (its sessions grow without bound).
    #[arg(long)]
    pub force: bool,
}

/// Above this expected size the estimate is printed even when stderr is not a terminal.
const ANNOUNCE_BYTES: f64 = 10e9;

pub fn run(args: &GenerateArgs, global: Global) -> anyhow::Result<ExitCode> {
    let models: Vec<Model> = if args.model.is_empty() {
        vec![Model::default_model()]
    } else {
        args.model
            .iter()
            .map(|m| Model::resolve(m))
            .collect::<Result<_, _>>()?
    };
    if !args.mix.is_empty() && models.len() < 2 {
        bail!("--mix: weighs several models; give two or more --model");
    }
    let model = &models[0];
    let rate_profile = match args.rate_profile.as_str() {
        "repeat" => RateProfileChoice::Repeat,
        "flat" => RateProfileChoice::Flat,
        path => RateProfileChoice::Steps(read_steps(path)?),
    };
    let context_policy = ContextPolicy::given(args.context_policy, args.max_context)?;
    let shard = args.shard.unwrap_or(Shard::WHOLE);
    let formatter = LineFormatter::with_fields(args.format, Some(model.block_size), &args.fields)?;
    shard.check_output(args.format, &formatter, model.block_size)?;
    let options = GenerateOptions {
        seed: args.seed,
        duration: args.duration,
        requests: args.requests,
        sessions: args.sessions,
        rate_scale: args.rate_scale,
        time_scale: args.time_scale,
        rate_profile,
        start_id: args.start_id,
        start_at: args.start_at.unwrap_or(0.0),
        shard,
        tenants: args.tenants,
        knobs: Knobs {
            prefix_scale: args.prefix_scale,
            input_scale: args.input_scale,
            output_scale: args.output_scale,
            min_input: args.min_input,
            max_input: args.max_input,
            max_output: args.max_output,
            peak_cap: args.peak_cap,
            max_context: args.max_context,
            context_policy,
        },
    };
    let refs: Vec<&Model> = models.iter().collect();
    let parts = if models.len() > 1 {
        validate_mix(&refs, &options)?;
        let scales = mix_scales(&refs, &options, &formatter, &args.mix, global)?;
        let parts = mix_parts(&refs, &options, &scales);
        for p in &parts {
            p.options.validate_for(p.model)?;
        }
        Some(parts)
    } else {
        options.validate_for(model)?;
        None
    };
    let single = [MixPart {
        model,
        options: options.clone(),
    }];
    let planned = parts.as_deref().unwrap_or(&single);
    let expected = guard(planned, &options, &formatter, args, global)?;
    let manifest = (shard != Shard::WHOLE && args.output != "-")
        .then(|| part_manifest(planned, &options, args));
    let mut out = OutputFile::create(&args.output)?;
    let progress = global.generating(expected);
    let mut report = |written: u64| {
        if let Some(p) = &progress {
            // An estimate can fall short; the bar then keeps its end just ahead.
            if p.length().is_some_and(|len| written > len) {
                p.set_length(written);
            }
            p.set_position(written);
        }
    };
    let threads = args.threads as usize;
    let started = std::time::Instant::now();
    let options_knobs = options.knobs.clone();
    let (types, maps) = mix_types(&refs);
    let write = |out: &mut (dyn Write + Send), report: &mut dyn FnMut(u64)| match parts {
        None => write_trace(model, options, threads, formatter, out, report),
        Some(parts) => {
            let whole = options.clone();
            let make = move || -> Box<dyn tracesynth::generate::Records + '_> {
                Box::new(mix_records(parts, maps, &whole))
            };
            write_records(make, &types, threads, formatter, out, report)
        }
    };
    let written = match args.format.line_order() {
        // Equal keys (Mooncake's timestamps) go out in a content-defined order, so parts
        // merge back into the same bytes.
        Some(order) if order.ties == Ties::ByContent => {
            let mut sorted = TieSorter::new(&mut out, order);
            let n = write(&mut sorted, &mut report)?;
            sorted.flush().context("writing the output")?;
            n
        }
        _ => write(&mut out, &mut report)?,
    };
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    let bytes = out.bytes_written();
    out.commit()?;
    let knobs = &options_knobs;
    let written_tally = written;
    let written = written_tally.records;
    if !global.quiet {
        eprintln!(
            "wrote {written} request{}, {} in {:.1} s -> {}",
            if written == 1 { "" } else { "s" },
            human_bytes(bytes as f64),
            started.elapsed().as_secs_f64(),
            args.output
        );
        if let (Some(n), Some(_)) = (args.requests, args.duration)
            && written == n
        {
            eprintln!("note: --requests {n} ended the run before --duration");
        }
        // A part writes only its share of the run's requests.
        if let Some(n) = args.requests
            && written < n
            && shard == Shard::WHOLE
        {
            let by = if args.duration.is_some() {
                "--duration"
            } else if args.sessions.is_some() {
                "--sessions"
            } else {
                "the 62 days a trace may span"
            };
            eprintln!("note: {by} ended the run before --requests {n}");
        }
        for line in knob_summary(knobs, &written_tally) {
            eprintln!("{line}");
        }
        if models.len() > 1 {
            let total = written_tally.parts.iter().sum::<u64>().max(1);
            let shares: Vec<String> = args
                .model
                .iter()
                .zip(&written_tally.parts)
                .map(|(name, &n)| {
                    format!(
                        "{name} {n} requests ({:.2} %)",
                        100.0 * n as f64 / total as f64
                    )
                })
                .collect();
            eprintln!("mix: {}", shares.join(", "));
        }
    }
    if let Some(manifest) = manifest {
        write_manifest(&manifest, &args.output)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What the clipping knobs and `--peak-cap` did, one line each (none without them).
fn knob_summary(knobs: &Knobs, w: &Written) -> Vec<String> {
    let share = |n: u64| 100.0 * n as f64 / w.records.max(1) as f64;
    let mut lines = Vec::new();
    let mut clip = |flag: &str, value: Option<u64>, n: u64, what: &str| {
        if let Some(v) = value {
            lines.push(format!(
                "{flag} {v}: {n} of {} requests ({:.2} %) {what}",
                w.records,
                share(n),
            ));
        }
    };
    clip(
        "--min-input",
        knobs.min_input,
        w.input_raised,
        "had their input raised",
    );
    clip(
        "--max-input",
        knobs.max_input,
        w.input_cut,
        "had their input cut",
    );
    clip(
        "--max-output",
        knobs.max_output,
        w.output_cut,
        "had their output cut",
    );
    if let Some(r) = knobs.peak_cap {
        lines.push(format!(
            "--peak-cap {r}: dropped {} session start{} and {} follow-up{}",
            w.capped.roots,
            if w.capped.roots == 1 { "" } else { "s" },
            w.capped.followups,
            if w.capped.followups == 1 { "" } else { "s" },
        ));
    }
    if let Some(n) = knobs.max_context {
        let c = &w.context;
        let what = match knobs.context_policy {
            ContextPolicy::Truncate => format!(
                "{} follow-up{} truncated",
                w.history_truncated,
                if w.history_truncated == 1 { "" } else { "s" }
            ),
            ContextPolicy::End => format!(
                "{} branch{} ended ({} request{} not written)",
                c.ended,
                if c.ended == 1 { "" } else { "es" },
                c.unwritten,
                if c.unwritten == 1 { "" } else { "s" }
            ),
        };
        lines.push(format!(
            "--max-context {n} ({}): {} of {} sessions ({:.2} %) hit the limit: {} root{} cut, {what}",
            knobs.context_policy,
            c.sessions_hit,
            c.sessions,
            100.0 * c.sessions_hit as f64 / c.sessions.max(1) as f64,
            w.root_cut,
            if w.root_cut == 1 { "" } else { "s" },
        ));
    }
    lines
}

/// The estimate of a mix: its models' runs together, bounded by `--requests`.
fn mix_estimate(
    parts: &[MixPart],
    options: &GenerateOptions,
    formatter: &LineFormatter,
) -> Result<Estimate, tracesynth::generate::estimate::EstimateError> {
    let mut all: Option<Estimate> = None;
    for p in parts {
        let e = estimate(p.model, &p.options, formatter, &EstimateLimits::default())?;
        all = Some(match all {
            None => e,
            Some(a) => Estimate {
                requests: a.requests + e.requests,
                bytes: a.bytes + e.bytes,
                blocks_per_copy: a.blocks_per_copy.max(e.blocks_per_copy),
                exact: a.exact && e.exact,
                growth: a.growth.max(e.growth),
                runaway: a.runaway || e.runaway,
            },
        });
    }
    let mut e = all.expect("a mix has models");
    if let Some(n) = options.requests
        && e.requests > n as f64
    {
        e.bytes *= n as f64 / e.requests;
        e.requests = n as f64;
    }
    Ok(e)
}

/// `--rate-scale` for each model of a mix: the same for all without `--mix`, else the
/// scales that give each model its weight's share of the requests, from each model's
/// requests in the run at `--rate-scale` (planned, or estimated past 100,000).
fn mix_scales(
    models: &[&Model],
    options: &GenerateOptions,
    formatter: &LineFormatter,
    weights: &[f64],
    global: Global,
) -> anyhow::Result<Vec<f64>> {
    let same = vec![options.rate_scale; models.len()];
    if weights.is_empty() {
        return Ok(same);
    }
    let spinner = global.spinner("--mix: planning each model's run for its rate");
    let mut requests = Vec::new();
    for p in mix_parts(models, options, &same) {
        p.options.validate_for(p.model)?;
        let e = estimate(p.model, &p.options, formatter, &EstimateLimits::default())?;
        requests.push(e.requests);
    }
    if let Some(bar) = spinner {
        bar.finish_and_clear();
    }
    Ok(mix_rate_scales(options.rate_scale, &requests, weights)?)
}

/// The part's manifest beside it, for `merge` to prove it has every part of one run.
fn part_manifest(
    parts: &[MixPart],
    options: &GenerateOptions,
    args: &GenerateArgs,
) -> PartManifest {
    use sha2::{Digest, Sha256};
    let whole = GenerateOptions {
        shard: Shard::WHOLE,
        ..options.clone()
    };
    let mut hash = Sha256::new();
    for p in parts {
        hash.update(p.model.to_json().as_bytes());
    }
    // One model's run is its options; a mix's, each model's too.
    hash.update(format!("{whole:?} {}", args.format).as_bytes());
    if parts.len() > 1 {
        for p in parts {
            hash.update(format!("{:?}", p.options).as_bytes());
        }
    }
    PartManifest {
        run: hash.finalize().iter().map(|b| format!("{b:02x}")).collect(),
        index: options.shard.index,
        count: options.shard.count,
    }
}

fn write_manifest(manifest: &PartManifest, output: &str) -> anyhow::Result<()> {
    let path = manifest_path(output);
    let mut out = OutputFile::create(&path)?;
    out.write_all((serde_json::to_string(manifest)? + "\n").as_bytes())
        .context("writing the part manifest")?;
    out.commit()?;
    Ok(())
}

/// Print what the run is expected to write, and refuse a run that would write more than
/// `--max-bytes` or never stop growing, before any output file exists. Returns the
/// expected number of requests for the progress bar (none for a runaway model).
fn guard(
    parts: &[MixPart],
    options: &GenerateOptions,
    formatter: &LineFormatter,
    args: &GenerateArgs,
    global: Global,
) -> anyhow::Result<Option<Expected>> {
    let model = parts[0].model;
    // Planning the stretch goes through the model's warm-up first, which at a large
    // --rate-scale is most of the time (x100 on the default model: 10 s of its 20 s), so
    // say what is being done rather than nothing.
    let spinner = global.spinner(&if model.warm_up > 0.0 {
        format!(
            "estimating the output: planning the model's {:.0} s warm-up at --rate-scale {} \
             and a stretch of the run",
            model.warm_up, options.rate_scale
        )
    } else {
        "estimating the output: planning a stretch of the run".to_string()
    });
    let e = if let [one] = parts {
        estimate(
            one.model,
            &one.options,
            formatter,
            &EstimateLimits::default(),
        )
    } else {
        mix_estimate(parts, options, formatter)
    };
    if let Some(bar) = spinner {
        bar.finish_and_clear();
    }
    let e = e?;
    if parts.len() > 1 {
        let stride = id_stride(model, parts.len() as u64);
        if e.blocks_per_copy >= stride as f64 {
            bail!(
                "--model: a model of the mix mints about {:.3e} block ids, more than the \
                 {:.3e} each can have when {} models share the 2^32 ids consumers accept; \
                 use a shorter run",
                e.blocks_per_copy,
                stride as f64,
                parts.len()
            );
        }
    }
    let stride = id_stride(model, u64::from(options.tenants));
    if options.tenants > 1 && e.blocks_per_copy >= stride as f64 {
        bail!(
            "--tenants {}: each copy mints about {:.3e} block ids, more than the {:.3e} a copy \
             can have when {} disjoint copies share the 2^32 ids consumers accept; use fewer \
             tenants or a shorter run",
            options.tenants,
            e.blocks_per_copy,
            stride as f64,
            options.tenants
        );
    }
    if formatter.writes_chat_ids() && !e.runaway {
        // The run's chat ids are start_id, start_id + 1, ...: refuse before writing a
        // trace that would cross 2^32 part-way.
        let last = options.start_id as f64 + e.requests.ceil() - 1.0;
        if last >= MAX_CHAT_ID as f64 {
            bail!(
                "--start-id {}: the run's {}{} requests would take chat ids up to {last:.0}, \
                 at or above 2^32; lower --start-id or bound the run with --requests",
                options.start_id,
                if e.exact { "" } else { "about " },
                human_count(e.requests)
            );
        }
    }
    let bounded = args.force || args.requests.is_some();
    let terminal = std::io::stderr().is_terminal();
    if e.runaway {
        if !bounded {
            bail!(
                "the model runs away: requests per session grew {:.1}-fold within the first \
             {} planned requests, so the output would grow without bound; bound it with \
             --requests N, or pass --force",
                e.growth,
                EstimateLimits::default().budget
            );
        }
        if !global.quiet {
            eprintln!(
                "warning: the model runs away (requests per session grew {:.1}-fold)",
                e.growth
            );
        }
        return Ok(args.requests.map(|n| Expected {
            requests: n,
            exact: true,
        }));
    }
    if !global.quiet && (terminal || e.bytes > ANNOUNCE_BYTES) {
        eprintln!(
            "expected output: {}{} requests, {} ({})",
            if e.exact { "" } else { "about " },
            human_count(e.requests),
            human_bytes(e.bytes),
            if e.exact {
                "planned in full"
            } else {
                "extrapolated from a planned stretch"
            },
        );
    }
    if e.bytes > args.max_bytes as f64 && !bounded {
        bail!(
            "the expected output, {} ({} requests), is over --max-bytes {}; raise \
             --max-bytes, bound the run with --requests, or pass --force",
            human_bytes(e.bytes),
            human_count(e.requests),
            human_bytes(args.max_bytes as f64)
        );
    }
    Ok(Some(Expected {
        requests: e.requests.round() as u64,
        exact: e.exact,
    }))
}

fn human_count(n: f64) -> String {
    match n {
        n if n >= 1e9 => format!("{:.2}G", n / 1e9),
        n if n >= 1e6 => format!("{:.2}M", n / 1e6),
        n if n >= 1e4 => format!("{:.1}k", n / 1e3),
        n => format!("{n:.0}"),
    }
}

fn human_bytes(b: f64) -> String {
    match b {
        b if b >= 1e12 => format!("{:.2} TB", b / 1e12),
        b if b >= 1e9 => format!("{:.2} GB", b / 1e9),
        b if b >= 1e6 => format!("{:.1} MB", b / 1e6),
        b if b >= 1e3 => format!("{:.1} kB", b / 1e3),
        b => format!("{b:.0} B"),
    }
}

/// `100G`, `100GB`, `500M`, `2T`, `4096` (bytes; decimal units) -> bytes.
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a size like 100G, 500M or 2T"))?;
    let factor = match unit.to_ascii_uppercase().trim_end_matches('B') {
        "" => 1.0,
        "K" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        _ => return Err(format!("unknown unit in `{text}` (use K, M, G or T)")),
    };
    let bytes = value * factor;
    if !(bytes.is_finite() && bytes > 0.0) {
        return Err(format!("size `{text}` must be positive"));
    }
    Ok(bytes as u64)
}

/// `I/N` -> part I of N.
fn parse_shard(text: &str) -> Result<Shard, String> {
    Shard::parse(text).map_err(|e| e.message)
}

/// `90`, `90s`, `30m`, `2h`, `1d`, `1.5h`, `1h30m`, `1d 12h` -> seconds.
pub fn parse_duration(text: &str) -> Result<f64, String> {
    tracesynth::generate::parse_duration(text).map_err(|e| e.0)
}

/// A duration that may be zero (`0`, `0h`).
fn parse_offset(text: &str) -> Result<f64, String> {
    tracesynth::generate::parse_offset(text).map_err(|e| e.0)
}

pub(crate) fn parse_positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("`{text}` must be a positive number")),
    }
}

/// `start_seconds,multiplier` rows (a header line is allowed), sorted by start.
fn read_steps(path: &str) -> anyhow::Result<Vec<(f64, f64)>> {
    let text = tracesynth::trace::read_text(path).with_context(|| {
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
        if cols.next().is_some() {
            bail!(
                "{path}:{}: expected 2 columns (start_seconds,multiplier), found {}",
                i + 1,
                line.split(',').count()
            );
        }
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

    // Durations and offsets are the library's (`generate::options`), tested there; the
    // CLI only maps their errors to strings.
    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("100G"), Ok(100_000_000_000));
        assert_eq!(parse_size("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0G").is_err());
        assert!(parse_size("3X").is_err());
    }
}
