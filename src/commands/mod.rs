//! One module per subcommand. Each turns its flags into validated options, calls the
//! library, and reports.

pub mod cachesim;
pub mod calibrate;
pub mod check;
pub mod compare;
pub mod convert;
pub mod fit;
pub mod generate;
pub mod import_servegen;
pub mod merge;
pub mod reference;
pub mod show;
pub mod stats;
mod table;
pub mod validate;

use std::process::ExitCode;

use super::cli::{Cli, Command};
use tracesynth::trace::Format;

/// `--format NAME` for reading: any registered format, listed in the help, any case.
pub fn read_format() -> impl clap::builder::TypedValueParser<Value = Format> {
    format_among(Format::all())
}

/// `--format NAME` for writing: the formats tracesynth writes.
pub fn write_format() -> impl clap::builder::TypedValueParser<Value = Format> {
    format_among(Format::writable())
}

fn format_among(
    formats: impl Iterator<Item = Format>,
) -> impl clap::builder::TypedValueParser<Value = Format> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(formats.map(Format::name))
        .map(|name| Format::named(&name).expect("a registered name"))
}

/// Refuse, before any work, a report directory (`flag DIR`) that cannot be one: a file
/// of that name, or a path under a file. It is created when the report is written.
pub fn check_report_dir(flag: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let mut at = Some(dir);
    while let Some(p) = at {
        if p.as_os_str().is_empty() {
            break;
        }
        if let Ok(meta) = std::fs::metadata(p) {
            if meta.is_dir() {
                return Ok(());
            }
            let what = if p == dir {
                "is a file".to_string()
            } else {
                format!("`{}` is a file", p.display())
            };
            anyhow::bail!(
                "{}: {what}; {flag} takes a directory to write the report into",
                dir.display()
            );
        }
        at = p.parent();
    }
    Ok(())
}

/// Options every command sees.
#[derive(Debug, Clone, Copy)]
pub struct Global {
    /// Show progress bars (stderr is a terminal and `--quiet` was not given).
    pub progress: bool,
    /// `--quiet`: no progress and no summary lines on stderr.
    pub quiet: bool,
}

impl Global {
    /// A spinner with a message, when progress is shown.
    pub fn spinner(&self, message: &str) -> Option<indicatif::ProgressBar> {
        self.progress.then(|| {
            let bar = indicatif::ProgressBar::new_spinner().with_message(message.to_string());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        })
    }

    /// A counter of items with their rate, when progress is shown.
    pub fn counter(&self, message: &str) -> Option<indicatif::ProgressBar> {
        self.progress.then(|| {
            let bar = indicatif::ProgressBar::new_spinner().with_message(message.to_string());
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {msg}: {human_pos} requests ({per_sec:0})",
                )
                .expect("a valid template"),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        })
    }

    /// Requests written against the expected total with an ETA, when progress is shown;
    /// a bare counter when nothing is expected (a runaway model run with `--force`).
    pub fn generating(&self, expected: Option<Expected>) -> Option<indicatif::ProgressBar> {
        if !self.progress {
            return None;
        }
        let bar = match expected {
            Some(e) => indicatif::ProgressBar::new(e.requests.max(1)).with_style(
                indicatif::ProgressStyle::with_template(if e.exact {
                    "generating [{bar:30}] {human_pos}/{human_len} requests ({per_sec:0}, ETA {eta})"
                } else {
                    "generating [{bar:30}] {human_pos}/~{human_len} requests ({per_sec:0}, ETA ~{eta})"
                })
                .expect("a valid template")
                .progress_chars("=> "),
            ),
            None => indicatif::ProgressBar::new_spinner().with_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} generating: {human_pos} requests ({per_sec:0})",
                )
                .expect("a valid template"),
            ),
        };
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Some(bar)
    }
}

impl Global {
    /// A bar of the bytes read from `inputs`, when progress is shown: against their total
    /// size when every input is an uncompressed file, a byte counter otherwise (stdin, or
    /// compressed files, whose decompressed size is unknown). Feed it with
    /// [`ProgressBar::inc`](indicatif::ProgressBar::inc) from a
    /// [`read_trace_with`](tracesynth::trace::read_trace_with) callback.
    pub fn reading(&self, message: &str, inputs: &[&str]) -> Option<indicatif::ProgressBar> {
        if !self.progress {
            return None;
        }
        let total = inputs
            .iter()
            .map(|path| plain_file_size(path))
            .sum::<Option<u64>>();
        let bar = match total {
            Some(total) => indicatif::ProgressBar::new(total).with_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            ),
            None => indicatif::ProgressBar::new_spinner().with_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {msg}: {bytes} ({bytes_per_sec})",
                )
                .expect("a valid template"),
            ),
        };
        bar.set_message(message.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Some(bar)
    }
}

/// What a run is expected to write, for its progress bar.
#[derive(Debug, Clone, Copy)]
pub struct Expected {
    pub requests: u64,
    /// Planned in full (not extrapolated from a planned stretch).
    pub exact: bool,
}

/// Size of `path` when it is a regular file that is not gzip or zstd compressed.
fn plain_file_size(path: &str) -> Option<u64> {
    use std::io::Read;
    if path == "-" {
        return None;
    }
    let mut file = std::fs::File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    let mut magic = [0u8; 4];
    let n = file.read(&mut magic).ok()?;
    let compressed =
        magic[..n].starts_with(&[0x1f, 0x8b]) || magic[..n].starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
    (meta.is_file() && !compressed).then_some(meta.len())
}

/// One warning line per kind of violation `check` would report in a trace that a command
/// has accepted anyway (unsorted, duplicate or self-parented records are readable, but
/// figures measured on them may not mean what the user thinks).
pub fn warn_violations(report: &tracesynth::check::CheckReport) {
    for v in &report.violations {
        let first = v.first.first().map_or(String::new(), |e| {
            format!(" (first at line {}: {})", e.line, e.message)
        });
        eprintln!(
            "warning: {}: {} record{} with {}{first}; `tracesynth check {}` lists them",
            report.path,
            v.count,
            if v.count == 1 { "" } else { "s" },
            v.description,
            report.path
        );
    }
}

/// Switch a reading bar to a spinner with `message` for the work after the reading.
pub fn then_spin(bar: Option<&indicatif::ProgressBar>, message: &str) {
    if let Some(bar) = bar {
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .expect("a valid template"),
        );
        bar.set_message(message.to_string());
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let global = Global {
        progress: !cli.quiet && std::io::stderr().is_terminal(),
        quiet: cli.quiet,
    };
    match cli.command {
        Command::Convert(args) => convert::run(&args, global),
        Command::Calibrate(args) => calibrate::run(&args, global),
        Command::Check(args) => check::run(&args, global),
        Command::Stats(args) => stats::run(&args, global),
        Command::Fit(args) => fit::run(&args, global),
        Command::Generate(args) => generate::run(&args, global),
        Command::ImportServegen(args) => import_servegen::run(&args, global),
        Command::Merge(args) => merge::run(&args, global),
        Command::Compare(args) => compare::run(&args, global),
        Command::Reference(args) => reference::run(&args, global),
        Command::Validate(args) => validate::run(&args, global),
        Command::Show(args) => show::run(&args, global),
        Command::Cachesim(args) => cachesim::run(&args, global),
    }
}
