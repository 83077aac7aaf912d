//! The CLI's [`Observer`]: each iteration's policy change on stdout (unless quiet), and for
//! runs longer than a second a progress line on stderr when stderr is a terminal.

use super::stdout::out;
use std::io::{IsTerminal, Write};
use std::time::Instant;

use crate::api::{Event, Observer};

pub struct Terminal {
    start: Instant,
    /// Print each iteration's policy change.
    iterations: bool,
    /// Show time-step progress on stderr.
    progress: bool,
    shown: bool,
}

impl Terminal {
    pub fn new(quiet: bool) -> Self {
        Terminal {
            start: Instant::now(),
            iterations: !quiet,
            progress: !quiet && std::io::stderr().is_terminal(),
            shown: false,
        }
    }

    /// Ends the progress line, if one was shown.
    pub fn finish(&mut self) {
        if self.shown {
            eprintln!();
            self.shown = false;
        }
    }
}

impl Observer for Terminal {
    fn event(&mut self, event: &Event) {
        match *event {
            Event::Iteration {
                iteration,
                policy_change,
            } => {
                if self.iterations {
                    out!("iteration {iteration:>3}: policy change {policy_change:.6e}");
                }
            }
            Event::TimeStep {
                done,
                total,
                states,
            } => {
                let elapsed = self.start.elapsed().as_secs_f64();
                if !self.progress || elapsed < 1.0 {
                    return;
                }
                let rate = states as f64 * done as f64 / elapsed;
                eprint!("\rtime step {done} of {total}, {rate:.3e} cell updates/s ");
                let _ = std::io::stderr().flush();
                self.shown = true;
            }
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.finish();
    }
}
