//! Helpers shared by the integration tests: reference data and comparisons.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mmgame::config::Scenario;
use mmgame::gpu::context::GpuContext;
use ndarray::ArrayD;
use ndarray_npy::read_npy;

pub fn data_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The scenario of a reference configuration (`default` is the embedded one).
pub fn scenario(name: &str, overrides: &[&str]) -> Scenario {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let file = data_dir(name).join("scenario.toml");
    let path = file.exists().then_some(file.as_path());
    Scenario::load(path, &o).expect("reference scenario loads")
}

pub fn npy(name: &str, file: &str) -> ArrayD<f64> {
    read_npy(data_dir(name).join(file)).expect("reference array reads")
}

pub fn json(name: &str, file: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(data_dir(name).join(file)).expect("reference json reads");
    serde_json::from_str(&text).expect("reference json parses")
}

/// Largest |a − b| / max(|b|, 1) over two arrays of the same length.
pub fn max_rel_diff(a: impl Iterator<Item = f64>, b: impl Iterator<Item = f64>) -> f64 {
    a.zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
        .fold(0.0, f64::max)
}

/// Runs the `mmgame` binary in `cwd`.
pub fn mmgame(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mmgame"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("mmgame runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A GPU context, or `None` (with a message) where there is no adapter; with REQUIRE_GPU=1 a
/// missing adapter fails the test instead.
pub fn gpu() -> Option<GpuContext> {
    match GpuContext::new(None) {
        Ok(ctx) => Some(ctx),
        Err(e) if std::env::var("REQUIRE_GPU").is_ok_and(|v| v == "1") => {
            panic!("REQUIRE_GPU=1 but no GPU adapter: {e}")
        }
        Err(e) => {
            eprintln!("skipping GPU test: {e}");
            None
        }
    }
}
