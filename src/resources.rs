//! Memory budgets: refuse, before allocating, a run that would not fit.

use crate::error::Error;

/// The memory this process may still allocate, in bytes: the smallest of what the operating
/// system says is available (Linux `MemAvailable`), what the address-space limit leaves
/// (`ulimit -v`, `RLIMIT_AS`, less what the process already maps) and what its cgroup's memory
/// limit leaves (v2 `memory.max`, v1 `memory.limit_in_bytes`, less current usage). `None`
/// where none of them is known, and then no check is made.
pub fn available_memory() -> Option<u64> {
    [mem_available(), address_space_left(), cgroup_left()]
        .into_iter()
        .flatten()
        .min()
}

/// Refuses a run whose memory plus the files it maps (`mapped`: the streamed policy, read
/// and written through a memory map) exceed the address-space limit (`ulimit -v`): mapped
/// files take address space but not memory.
pub fn check_address_space(what: &str, needed: u64, mapped: u64) -> Result<(), Error> {
    let total = needed.saturating_add(mapped);
    match address_space_left() {
        Some(left) if total > left => Err(Error::TooLarge(format!(
            "{what} needs {} of address space ({} of memory and {} of memory-mapped files), the address-space limit (ulimit -v) leaves {}; use a smaller grid or raise the limit",
            human_bytes(total),
            human_bytes(needed),
            human_bytes(mapped),
            human_bytes(left)
        ))),
        _ => Ok(()),
    }
}

fn mem_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `RLIMIT_AS` less the process's current size (`VmSize`), from /proc/self.
fn address_space_left() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max address space"))?;
    let soft = line.split_whitespace().nth(3)?;
    let limit: u64 = soft.parse().ok()?; // "unlimited" does not parse: no limit
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let size = status.lines().find(|l| l.starts_with("VmSize:"))?;
    let kib: u64 = size.split_whitespace().nth(1)?.parse().ok()?;
    // Less a reserve for what no estimate counts: thread stacks, allocator arenas, the
    // temporary buffers of writing files (measured: a grid estimated 34 MB under the limit
    // aborted in an allocation of that size).
    Some(
        limit
            .saturating_sub(kib * 1024)
            .saturating_sub(ADDRESS_SPACE_RESERVE),
    )
}

/// Address space kept free beyond a run's estimate when `ulimit -v` is set.
const ADDRESS_SPACE_RESERVE: u64 = 256 << 20;

/// The cgroup's memory limit less its usage, for cgroup v2 or v1.
fn cgroup_left() -> Option<u64> {
    let groups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let read = |path: String| -> Option<u64> {
        std::fs::read_to_string(path).ok()?.trim().parse().ok() // "max" does not parse
    };
    for line in groups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let (limit, usage) = if controllers.is_empty() {
            let dir = format!("/sys/fs/cgroup{path}");
            (
                read(format!("{dir}/memory.max")),
                read(format!("{dir}/memory.current")),
            )
        } else if controllers.split(',').any(|c| c == "memory") {
            let dir = format!("/sys/fs/cgroup/memory{path}");
            let limit = read(format!("{dir}/memory.limit_in_bytes"));
            (limit, read(format!("{dir}/memory.usage_in_bytes")))
        } else {
            continue;
        };
        // v1 says "no limit" with a number near 2^63.
        if let Some(limit) = limit.filter(|&l| l < 1 << 62) {
            return Some(limit.saturating_sub(usage.unwrap_or(0)));
        }
    }
    None
}

/// Multiplies sizes, saturating instead of overflowing (a huge grid then simply does not fit).
pub fn bytes(factors: &[u64]) -> u64 {
    factors.iter().fold(1u64, |a, &b| a.saturating_mul(b))
}

/// Refuses `needed` bytes for `what` when they exceed the available memory.
pub fn check_memory(what: &str, needed: u64) -> Result<(), Error> {
    match available_memory() {
        Some(avail) if needed > avail => Err(Error::TooLarge(format!(
            "{what} needs {} of memory, this process has {} available; use a smaller grid",
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
