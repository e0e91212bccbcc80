//! One module per subcommand. Each turns its flags into validated options, calls the
//! library, and reports.

pub mod calibrate;
pub mod check;
pub mod compare;
pub mod convert;
pub mod fit;
pub mod generate;
pub mod reference;
pub mod stats;
mod table;
pub mod validate;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

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
                    "{spinner} {msg}: {human_pos} requests ({per_sec})",
                )
                .expect("a valid template"),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        })
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
        Command::Compare(args) => compare::run(&args, global),
        Command::Reference(args) => reference::run(&args, global),
        Command::Validate(args) => validate::run(&args, global),
    }
}
