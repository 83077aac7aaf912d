//! Standard output that survives being closed. `mmgame solve | head -1` closes the pipe after
//! one line; `println!` would then panic. Here a broken pipe silences the rest of the output
//! and the command goes on to finish its files (as `ls | head` ends quietly); any other write
//! error (a full disk behind `> /dev/full`) is remembered and turned into the command's error
//! once its work is done.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::error::Error;

/// Set once a write failed: nothing more is written.
static CLOSED: AtomicBool = AtomicBool::new(false);
/// The first failure that was not a broken pipe.
static FAILED: Mutex<Option<std::io::Error>> = Mutex::new(None);

/// Writes `args` (and a newline when `newline`) to stdout, unless it was closed.
pub fn write(args: fmt::Arguments, newline: bool) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| {
        if newline {
            out.write_all(b"\n")
        } else {
            Ok(())
        }
    });
    if let Err(e) = written {
        fail(e);
    }
}

fn fail(e: std::io::Error) {
    CLOSED.store(true, Ordering::Relaxed);
    if e.kind() != std::io::ErrorKind::BrokenPipe {
        if let Ok(mut failed) = FAILED.lock() {
            failed.get_or_insert(e);
        }
    }
}

/// Flushes stdout; the first write error other than a broken pipe, if any.
pub fn finish() -> Result<(), Error> {
    if !CLOSED.load(Ordering::Relaxed) {
        if let Err(e) = std::io::stdout().lock().flush() {
            fail(e);
        }
    }
    match FAILED.lock().ok().and_then(|mut f| f.take()) {
        Some(e) => Err(Error::io("stdout", e)),
        None => Ok(()),
    }
}

/// `println!` on [`write`].
macro_rules! out {
    () => {
        $crate::cli::stdout::write(format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::cli::stdout::write(format_args!($($arg)*), true)
    };
}

/// `print!` on [`write`].
macro_rules! out_text {
    ($($arg:tt)*) => {
        $crate::cli::stdout::write(format_args!($($arg)*), false)
    };
}

pub(crate) use {out, out_text};
