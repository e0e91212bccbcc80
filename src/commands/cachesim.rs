//! `tracesynth cachesim TRACE [--capacities LIST] [--policies LIST] [--json]`

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use tracesynth::cachesim::capacity::{Capacity, KV_MODELS, kv_model};
use tracesynth::cachesim::ttl::DEFAULT_TTL_S;
use tracesynth::cachesim::{Curves, POLICIES, PolicySpec, Stream, policy_spec};
use tracesynth::trace::{Format, TraceReader, for_each_record};

use super::generate::parse_positive;
use super::table::{ABSENT, Table, count};
use super::{Global, then_spin};

#[derive(Debug, Args)]
#[command(
    after_help = "Every policy sees the prefix semantics of `stats`: a request hits \
    on the longest run of leading blocks the cache holds, then uses all of its blocks in \
    order. LRU gives exactly the LRU figures of `stats`."
)]
pub struct CachesimArgs {
    /// Trace to replay (`-` for stdin).
    pub input: String,
    /// Cache sizes, comma-separated: `5%` of the distinct blocks, `1000` blocks, or a
    /// KV-cache size in bytes (`16G`, `500M`; `16GiB` binary) with --kv-bytes-per-token
    /// or --kv-model.
    #[arg(long, value_delimiter = ',', default_value = "1%,5%,10%,25%,50%")]
    pub capacities: Vec<String>,
    /// Policies, comma-separated (default: all): lru, fifo, lfu, s3fifo, ttl, category.
    #[arg(long, value_delimiter = ',')]
    pub policies: Vec<String>,
    /// KV-cache bytes per token, for capacities in bytes.
    #[arg(long, conflicts_with = "kv_model")]
    pub kv_bytes_per_token: Option<u64>,
    /// KV-cache bytes per token of a model: qwen2-7b (0.875 MiB per 16 tokens),
    /// qwen2-72b, llama3-8b, llama3-70b.
    #[arg(long)]
    pub kv_model: Option<String>,
    /// Lifetime of a block in the ttl policy, seconds after its last use.
    #[arg(long, default_value_t = DEFAULT_TTL_S, value_parser = parse_positive)]
    pub ttl: f64,
    /// Simulations run at once (default: the cores); the figures are the same.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Force the input format (bailian, mooncake or azure) instead of detecting it.
    #[arg(long)]
    pub format: Option<Format>,
}

#[derive(Serialize)]
struct JsonOut<'a> {
    path: &'a str,
    format: String,
    block_size: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kv_bytes_per_token: Option<u64>,
    ttl_s: f64,
    categories: &'a [String],
    #[serde(flatten)]
    curves: &'a Curves,
}

fn policies(names: &[String]) -> anyhow::Result<Vec<&'static PolicySpec>> {
    if names.is_empty() {
        return Ok(POLICIES.iter().collect());
    }
    let mut out: Vec<&'static PolicySpec> = Vec::new();
    for name in names {
        let spec = policy_spec(name.trim()).with_context(|| {
            let all: Vec<&str> = POLICIES.iter().map(|p| p.name).collect();
            format!(
                "--policies: unknown policy `{name}` (known: {})",
                all.join(", ")
            )
        })?;
        if !out.iter().any(|p| p.name == spec.name) {
            out.push(spec);
        }
    }
    Ok(out)
}

pub fn run(args: &CachesimArgs, global: Global) -> anyhow::Result<ExitCode> {
    let specs = policies(&args.policies)?;
    let capacities = args
        .capacities
        .iter()
        .map(|c| Capacity::parse(c).map(|p| (c.trim().to_string(), p)))
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| anyhow::anyhow!("--capacities: {e}"))?;
    let kv = match &args.kv_model {
        Some(name) => Some(kv_model(name).with_context(|| {
            let all: Vec<&str> = KV_MODELS.iter().map(|m| m.0).collect();
            format!(
                "--kv-model: unknown model `{name}` (known: {})",
                all.join(", ")
            )
        })?),
        None => args.kv_bytes_per_token,
    };
    if kv == Some(0) {
        anyhow::bail!("--kv-bytes-per-token must be positive");
    }

    let spinner = global.reading(&format!("reading {}", args.input), &[&args.input]);
    let reader = TraceReader::open(&args.input, args.format)?;
    let (format, block_size) = (reader.format(), reader.block_size());
    let mut stream = Stream::default();
    let mut any_blocks = false;
    let progress = |bytes| {
        if let Some(bar) = &spinner {
            bar.inc(bytes);
        }
    };
    for_each_record(reader, &progress, &mut |_, req| {
        any_blocks |= req.hash_ids.is_some();
        stream.push(&req);
    })?;
    if !any_blocks {
        if let Some(bar) = spinner {
            bar.finish_and_clear();
        }
        anyhow::bail!(
            "{}: the trace has no block ids ({format} records carry none): nothing to cache",
            args.input
        );
    }
    let resolved = capacities
        .iter()
        .map(|(label, c)| c.resolve(label, stream.unique(), block_size, kv))
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| anyhow::anyhow!("--capacities: {e}"))?;
    then_spin(
        spinner.as_ref(),
        &format!(
            "simulating {} policies at {} capacities",
            specs.len(),
            resolved.len()
        ),
    );
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    let curves = Curves::measure(&stream, &specs, resolved, args.ttl, threads);
    if let Some(bar) = spinner {
        bar.finish_and_clear();
    }
    let text = if args.json {
        let out = JsonOut {
            path: &args.input,
            format: format.to_string(),
            block_size,
            kv_bytes_per_token: kv,
            ttl_s: args.ttl,
            categories: stream.category_names(),
            curves: &curves,
        };
        let mut json = serde_json::to_string_pretty(&out)?;
        json.push('\n');
        json
    } else {
        render(&args.input, format, block_size, &stream, &curves)
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}

/// The hit-ratio curves as a table: one row per capacity, one column per policy.
fn render(
    path: &str,
    format: Format,
    block_size: Option<u32>,
    stream: &Stream,
    c: &Curves,
) -> String {
    let mut out = String::new();
    let blocks = block_size.map_or_else(
        || "no block size".to_string(),
        |b| format!("{b}-token blocks"),
    );
    let _ = writeln!(out, "{path} ({format}, {blocks})");
    let _ = writeln!(
        out,
        "{} requests, {} block lookups, {} distinct blocks",
        count(c.requests),
        count(c.blocks),
        count(c.unique_blocks)
    );
    let _ = writeln!(out, "categories: {}\n", stream.category_names().join("; "));
    let mut t = Table::new();
    let mut header = vec!["capacity".to_string(), "blocks".to_string()];
    header.extend(c.policies.iter().map(|p| p.name.clone()));
    t.row(header);
    for (k, cap) in c.capacities.iter().enumerate() {
        let mut row = vec![cap.label.clone(), count(cap.blocks)];
        row.extend(
            c.policies
                .iter()
                .map(|p| p.hit_ratios[k].map_or_else(|| ABSENT.to_string(), |r| format!("{r:.3}"))),
        );
        t.row(row);
    }
    out.push_str(&t.render(""));
    out.push_str("\nhit ratio: blocks served from the cache over block lookups\n");
    out
}
