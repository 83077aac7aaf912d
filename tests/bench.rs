//! `mmgame bench` end to end: it runs, and bench.csv has the documented columns and one row
//! per grid and backend. No timing is checked: the figures depend on the machine.

use std::process::Command;

use mmgame::io::csv::BENCH_COLUMNS as CSV_COLUMNS;

#[test]
fn bench_writes_a_csv_with_the_expected_columns() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench-out");
    let o = Command::new(env!("CARGO_BIN_EXE_mmgame"))
        .args([
            "bench",
            "--grid",
            "5x7x3",
            "--runs",
            "2",
            "--backend",
            "cpu",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .expect("mmgame runs");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("5×7²×3"), "{stdout}");

    let csv = std::fs::read_to_string(out.join("bench.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(header, CSV_COLUMNS);
    for column in [
        "scheme",
        "backend",
        "grid",
        "iterations",
        "cell_updates",
        "median_s",
        "min_s",
        "max_s",
        "cell_updates_per_s",
        "gpu_cpu_ratio",
        "bytes_per_update",
        "flops_per_update",
        "copy_bandwidth_bytes_per_s",
        "efficiency",
    ] {
        assert!(header.contains(&column), "bench.csv lacks {column}");
    }
    assert_eq!(lines.len(), 2, "one row for one grid on the CPU:\n{csv}");
    // The device name is the only quoted field and holds no comma with a CPU's model name
    // unquoted, so split on the quotes first.
    let row = lines[1];
    let (before, rest) = row.split_once('"').expect("a quoted device name");
    let (_, after) = rest.split_once('"').expect("the closing quote");
    let mut cells: Vec<&str> = before.trim_end_matches(',').split(',').collect();
    cells.push("device");
    cells.extend(after.trim_start_matches(',').split(','));
    assert_eq!(cells.len(), CSV_COLUMNS.len(), "{row}");
    let cell = |name: &str| cells[CSV_COLUMNS.iter().position(|c| *c == name).unwrap()];
    assert_eq!(cell("scheme"), "notebook");
    assert_eq!(cell("backend"), "cpu");
    assert_eq!(cell("grid"), "5x7x3");
    assert_eq!(cell("iterations"), "10");
    assert_eq!(cell("runs"), "2");
    // 5 · 7² · (3 − 1) · 10 cell updates.
    assert_eq!(cell("cell_updates").parse::<f64>().unwrap(), 4900.0);
    assert_eq!(cell("gpu_cpu_ratio"), "");
    for name in [
        "median_s",
        "cell_updates_per_s",
        "copy_bandwidth_bytes_per_s",
        "efficiency",
    ] {
        let x: f64 = cell(name).parse().unwrap();
        assert!(x > 0.0 && x.is_finite(), "{name} = {x}");
    }
}

#[test]
fn bench_refuses_a_bad_grid_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    for grid in ["5x1x3", "5x7"] {
        let o = Command::new(env!("CARGO_BIN_EXE_mmgame"))
            .args(["bench", "--backend", "cpu", "--grid", grid])
            .current_dir(dir.path())
            .output()
            .expect("mmgame runs");
        assert_eq!(o.status.code(), Some(2), "--grid {grid}");
        assert!(!dir.path().join("mmgame-bench").exists());
    }
}
