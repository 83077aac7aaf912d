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
/// Mesa's Vulkan drivers print "XDG_RUNTIME_DIR is invalid or not set" on every GPU command
/// when the variable is missing (as in containers and CI): give them a private folder, before
/// any thread exists. Nothing else reads it.
fn quiet_mesa() {
    let valid = std::env::var_os("XDG_RUNTIME_DIR")
        .map(std::path::PathBuf::from)
        .is_some_and(|d| d.is_dir());
    if valid {
        return;
    }
    // One folder per user, reused by later runs (its owner and mode are checked).
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next()?.parse::<u32>().ok());
        let Some(uid) = uid else { return };
        let dir = std::env::temp_dir().join(format!("mmgame-runtime-{uid}"));
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
        let ours = std::fs::symlink_metadata(&dir)
            .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.permissions().mode() & 0o777 == 0o700);
        if ours {
            std::env::set_var("XDG_RUNTIME_DIR", &dir);
        }
    }
}

pub fn main() -> i32 {
    quiet_mesa();
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
