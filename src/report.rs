//! Pieces of the reports that `solve` prints for both schemes.

use std::path::{Path, PathBuf};

use crate::simulate::PathPoint;

/// The path's start and end on one line, then the path as a small aligned table.
pub fn print_path(path: &[PathPoint]) {
    let (first, last) = (&path[0], &path[path.len() - 1]);
    println!(
        "path: stakes ({}, {}) fee {} at t = {} → stakes ({}, {}) fee {} at t = {}",
        first.stakes[0],
        first.stakes[1],
        first.fee,
        first.time,
        last.stakes[0],
        last.stakes[1],
        last.fee,
        last.time
    );
    print_path_table(path);
}

/// The path as a small aligned table (the first and last points when it is long).
pub fn print_path_table(path: &[PathPoint]) {
    println!(
        "  {:>4} {:>8} {:>10} {:>10} {:>10} {:>7} {:>7}",
        "step", "time", "fee", "stake0", "stake1", "action0", "action1"
    );
    let show = |p: &PathPoint| {
        let (a0, a1) = p.actions.map_or((String::new(), String::new()), |a| {
            (a[0].to_string(), a[1].to_string())
        });
        println!(
            "  {:>4} {:>8.4} {:>10.5} {:>10.4} {:>10.4} {:>7} {:>7}",
            p.step, p.time, p.fee, p.stakes[0], p.stakes[1], a0, a1
        );
    };
    if path.len() <= 12 {
        path.iter().for_each(show);
    } else {
        path[..5].iter().for_each(show);
        println!("  {:>4}", "…");
        path[path.len() - 5..].iter().for_each(show);
    }
}

/// "wrote FILES and plots … to DIR", with `note` appended.
pub fn print_written(files: &[String], plots: &[PathBuf], out: &Path, note: &str) {
    let mut list = files.join(", ");
    if !plots.is_empty() {
        list = format!("{list} and {}", crate::plot::describe(plots));
    }
    println!("wrote {list} to {}{note}", out.display());
}
