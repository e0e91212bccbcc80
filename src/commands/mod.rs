//! One module per subcommand. Each turns its flags into validated options, calls the
//! library, and reports.

pub mod check;
pub mod convert;
pub mod stats;
mod table;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Options every command sees.
#[derive(Debug, Clone, Copy)]
pub struct Global {
    /// Show progress bars (stderr is a terminal and `--quiet` was not given).
    pub progress: bool,
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let global = Global {
        progress: !cli.quiet && std::io::stderr().is_terminal(),
    };
    match cli.command {
        Command::Convert(args) => convert::run(&args, global),
        Command::Check(args) => check::run(&args, global),
        Command::Stats(args) => stats::run(&args, global),
    }
}
