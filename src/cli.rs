//! Command-line definitions. Each subcommand's flags live beside its implementation in
//! `commands/`; this file only assembles them.

use clap::{Parser, Subcommand};

use super::commands;

#[derive(Debug, Parser)]
#[command(
    name = "tracesynth",
    version,
    about = "Learn LLM-serving request traces and generate faithful synthetic ones"
)]
pub struct Cli {
    /// No progress output on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the largest variant (generate's many options)
// costs nothing, and boxing it would only add an indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Convert a trace between formats (every format is read; Azure is not written).
    Convert(commands::convert::ConvertArgs),
    /// Validate a trace and report every kind of violation.
    Check(commands::check::CheckArgs),
    /// Print the statistics of a trace.
    Stats(commands::stats::StatsArgs),
    /// Learn a model from a real trace.
    Fit(commands::fit::FitArgs),
    /// Generate a synthetic trace from a model (the built-in default without --model).
    Generate(Box<commands::generate::GenerateArgs>),
    /// Build a model from ServeGen per-client data (arrival windows and length PMFs).
    ImportServegen(commands::import_servegen::ImportServegenArgs),
    /// Join the parts of `generate --shard I/N` into the trace one run writes.
    Merge(commands::merge::MergeArgs),
    /// Build a model from summary statistics (calibrated, not fitted).
    #[command(long_about = commands::calibrate::ABOUT)]
    Calibrate(commands::calibrate::CalibrateArgs),
    /// Judge a synthetic trace against the real one: distances, tolerances, report.
    Compare(commands::compare::CompareArgs),
    /// Build a reference trace from the brief's rules (validation only; not real data).
    #[command(long_about = commands::reference::ABOUT)]
    Reference(commands::reference::ReferenceArgs),
    /// Run the fidelity suite on the vendored traces and write its report (REPORT.md and
    /// plots in target/validation; `--out validation` refreshes the committed one).
    Validate(commands::validate::ValidateArgs),
    /// What a model learned: provenance, arrivals, lengths, sessions, blocks and the
    /// expected requests and bytes per hour.
    Show(commands::show::ShowArgs),
    /// Replay a trace's blocks through cache eviction policies (LRU, FIFO, LFU, S3-FIFO,
    /// TTL, category-aware) and print each one's hit ratio per cache size.
    Cachesim(commands::cachesim::CachesimArgs),
}
