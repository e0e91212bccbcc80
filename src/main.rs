//! The `tracesynth` command line: parse flags, run one command, map errors to exit codes.
//!
//! The Python package's `tracesynth` command runs this same file: with the `python`
//! feature the library includes it (`lib.rs`) and calls [`run`] with `sys.argv`.

mod cli;
mod commands;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

#[cfg_attr(feature = "python", allow(dead_code))]
fn main() -> ExitCode {
    run(std::env::args_os())
}

/// The whole command line: `args` is the program name, then the flags.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = cli::Cli::parse_from(args);
    remove_temp_files_on_signals();
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`tracesynth generate | head`) is the reader's choice, not an
            // error: end quietly.
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("tracesynth: error: {}", one_line(&err));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, leaving out a cause whose text is already shown:
/// several error types (ours included) print their source in their own message too, and
/// `{:#}` would repeat it ("incomplete deflate stream: incomplete deflate stream").
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// On SIGINT, SIGTERM or SIGHUP, remove the temporary output files (an interrupted
/// `generate` may have written gigabytes to one) and exit as the shell expects of a
/// process ended by that signal: 128 + its number (130 for SIGINT, 143 for SIGTERM).
fn remove_temp_files_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        Ok(signals) => signals,
        // Without the handler the default action still ends the process; only the
        // cleanup is lost, so say so and go on.
        Err(e) => {
            eprintln!(
                "tracesynth: warning: cannot watch for signals ({e}); an interrupted run may leave a temporary file"
            );
            return;
        }
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            tracesynth::trace::remove_temp_files();
            std::process::exit(128 + signal);
        }
    });
}
