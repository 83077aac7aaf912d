//! The command line: clap types ([`args`]), the commands ([`commands`]), what they print
//! ([`report`], [`progress`]) and exit codes. The only part of the crate that prints.

pub mod args;
pub mod commands;
pub mod progress;
pub mod report;
pub mod stdout;

use clap::Parser;

pub use args::Cli;

/// Parses the command line, runs the command and returns the process's exit code: 0, 2 for
/// bad input (usage, scenario, paths, grids too large), 1 for failures at run time, 130 when
/// cancelled. Every error is one line on stderr.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Usage errors are one line like every other error (clap adds a blank line and a
        // "try --help" hint); --help and --version print in full.
        Err(e) if e.use_stderr() => {
            let text = e.to_string();
            let parts: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .filter(|l| !l.is_empty())
                .collect();
            eprintln!("{}", parts.join(" "));
            return 2;
        }
        Err(e) => {
            let _ = e.print();
            return 0;
        }
    };
    // The first Ctrl-C or SIGTERM stops the solve at its next time step, which removes its
    // temporary files; a second one ends the process at once (a later run into the folder
    // removes what it left).
    let interrupt = commands::interrupt().clone();
    let _ = ctrlc::set_handler(move || {
        if interrupt.is_cancelled() {
            std::process::exit(130);
        }
        interrupt.cancel();
    });
    // The command's own error first; else a failure to write its report.
    match commands::run(cli).and(stdout::finish()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}
