//! Memory budgets: refuse, before allocating, a run that would not fit.

use crate::error::Error;

/// The memory the operating system says is available, in bytes (Linux `MemAvailable`);
/// `None` where that is not known, and then no check is made.
pub fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Multiplies sizes, saturating instead of overflowing (a huge grid then simply does not fit).
pub fn bytes(factors: &[u64]) -> u64 {
    factors.iter().fold(1u64, |a, &b| a.saturating_mul(b))
}

/// Refuses `needed` bytes for `what` when they exceed the available memory.
pub fn check_memory(what: &str, needed: u64) -> Result<(), Error> {
    match available_memory() {
        Some(avail) if needed > avail => Err(Error::TooLarge(format!(
            "{what} needs {} of memory, this machine has {} available; use a smaller grid",
            human_bytes(needed),
            human_bytes(avail)
        ))),
        _ => Ok(()),
    }
}

pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {} ({b} bytes)", UNITS[u])
}
