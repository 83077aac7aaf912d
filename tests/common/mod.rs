//! Helpers shared by the integration tests: reference data and comparisons.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use mmgame::config::Scenario;
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
