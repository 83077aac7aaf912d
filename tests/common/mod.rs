//! Helpers shared by the integration tests: reference data and comparisons.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mmgame::config::Scenario;
use mmgame::gpu::context::GpuContext;
use mmgame::simulate::notebook_path;
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

/// Checks a `notebook` solution of reference configuration `name` against the notebook's own
/// outputs: actions and path identical, values within 1e-9 relative, the policy-change trace
/// equal (as integer sums; the notebook's printed digits).
pub fn check_against_notebook(name: &str, s: &Scenario, sol: &mmgame::scheme::Solution) {
    let (game, grid) = (s.game(), s.grid());
    let a_ref = npy(name, "a_vals.npy");
    assert_eq!(a_ref.shape(), &sol.shape[..], "{name}: shape");
    let actions = sol.policy.iter().map(|&c| grid.actions.value(c) as f64);
    let mismatched = actions.zip(a_ref.iter()).filter(|(a, r)| a != *r).count();
    assert_eq!(mismatched, 0, "{name}: actions differing from the notebook");

    let v_ref = npy(name, "v_vals_new.npy");
    let values = (0..sol.values.len()).map(|i| sol.values.get(i));
    let rel = max_rel_diff(values, v_ref.iter().copied());
    assert!(rel <= 1e-9, "{name}: values differ by {rel:e} relative");

    let port = json(name, "numpy_port_summary.json");
    let diffs: Vec<f64> = port["diffs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_f64().unwrap())
        .collect();
    // The change is a sum of integers over fee_points·stake_points; NumPy's division lands one
    // unit in the last place off the correctly rounded quotient on some iterations.
    assert_eq!(sol.policy_change.len(), diffs.len(), "{name}: iterations");
    let cells = (s.grid.fee_points * s.grid.stake_points) as f64;
    for (ours, theirs) in sol.policy_change.iter().zip(&diffs) {
        assert_eq!(
            (ours * cells).round(),
            (theirs * cells).round(),
            "{name}: {ours} vs {theirs}"
        );
        assert!(
            (ours - theirs).abs() <= 1e-15 * theirs.abs(),
            "{name}: {ours} vs {theirs}"
        );
    }
    let printed = json(name, "trace.json");
    let printed: Vec<f64> = printed["policy_change"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_f64().unwrap())
        .collect();
    assert_eq!(printed.len(), sol.iterations(), "{name}: iterations");
    for (ours, theirs) in sol.policy_change.iter().zip(&printed) {
        // The notebook printed 6 significant digits.
        assert!(
            (ours - theirs).abs() <= 5e-6 * theirs.abs(),
            "{name}: {ours} vs printed {theirs}"
        );
    }
    assert!(sol.converged);

    let path = notebook_path(&game, &grid, sol, &s.path);
    assert_eq!(path.len(), grid.time.len() + 1);
    let fees: Vec<f64> = path.iter().map(|p| p.fee).collect();
    let s0: Vec<f64> = path.iter().map(|p| p.stakes[0]).collect();
    let s1: Vec<f64> = path.iter().map(|p| p.stakes[1]).collect();
    assert_eq!(
        fees,
        npy(name, "fees.npy").into_raw_vec_and_offset().0,
        "{name}: fee path"
    );
    assert_eq!(
        s0,
        npy(name, "stakes0.npy").into_raw_vec_and_offset().0,
        "{name}: stake0 path"
    );
    assert_eq!(
        s1,
        npy(name, "stakes1.npy").into_raw_vec_and_offset().0,
        "{name}: stake1 path"
    );
}
