//! `summary.json`: what a run was (scenario, backend, timing) and what it found, one layout
//! per scheme; and the scenario read back from it.

use serde::Serialize;

use crate::config::Scenario;
use crate::error::Error;
use crate::grid::Interpolation;
use crate::scheme::{BackendInfo, GpuTimeSplit, StepDiagnostics};
use crate::simulate::PathPoint;

/// Which value slices an `equilibrium` run keeps: only t = 0, or every time step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SaveValues {
    /// values.npy has shape (2, fee_points, stake_points, stake_points).
    #[default]
    T0,
    /// values.npy has shape (2, time_points, fee_points, stake_points, stake_points).
    All,
}

/// Which action slices a run writes to policy.npy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SavePolicy {
    /// policy.npy has shape (2, time_points, fee_points, stake_points, stake_points).
    #[default]
    All,
    /// policy.npy has shape (2, fee_points, stake_points, stake_points): t = 0 only.
    T0,
    /// No policy.npy (the path is still computed from every slice).
    None,
}

impl SavePolicy {
    /// The shape of policy.npy, if it is written.
    pub fn shape(self, grid: &crate::grid::Grid) -> Option<Vec<usize>> {
        let (nt, nf, ns) = (grid.time.len(), grid.fee.len(), grid.stake.len());
        match self {
            SavePolicy::All => Some(vec![2, nt, nf, ns, ns]),
            SavePolicy::T0 => Some(vec![2, nf, ns, ns]),
            SavePolicy::None => None,
        }
    }
}

/// The share of cell updates with ambiguous selections above which an f32 run is advised to
/// use f64: beyond one in a thousand, the tolerance rather than the payoffs decides enough
/// states to move the selected equilibria.
pub const AMBIGUOUS_SHARE_LIMIT: f64 = 1e-3;

/// The advice for a run with `ambiguous` ambiguous selections out of `cell_updates`, in
/// `precision`: f32 runs beyond [`AMBIGUOUS_SHARE_LIMIT`] should use f64.
pub fn precision_advice(
    ambiguous: u64,
    cell_updates: f64,
    precision: crate::scheme::Precision,
) -> Option<String> {
    let share = ambiguous as f64 / cell_updates.max(1.0);
    (precision == crate::scheme::Precision::F32 && share > AMBIGUOUS_SHARE_LIMIT).then(|| {
        format!(
            "{:.2}% of the selections were decided by the f32 tie tolerance (more than {}%): solve with --precision f64 (or on the CPU)",
            100.0 * share,
            100.0 * AMBIGUOUS_SHARE_LIMIT
        )
    })
}

/// `summary.json` of a run, whichever the scheme.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Summary {
    Notebook(NotebookSummary),
    Equilibrium(EquilibriumSummary),
}

impl Summary {
    pub fn to_json(&self) -> String {
        // Every field is a number, a string, a bool or a list of them: serialising cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Writes it (atomically) as `path`.
    pub fn write(&self, path: &std::path::Path) -> Result<(), Error> {
        use std::io::Write;
        let json = self.to_json();
        super::write_atomic(path, |w| writeln!(w, "{json}"))
    }
}

/// The node values of every axis of the run's arrays, so that a reader needs no `linspace`.
#[derive(Debug, Clone, Serialize)]
pub struct Axes {
    pub fee: Vec<f64>,
    pub stake: Vec<f64>,
    pub time: Vec<f64>,
}

impl Axes {
    pub fn of(grid: &crate::grid::Grid) -> Self {
        Axes {
            fee: grid.fee.nodes.clone(),
            stake: grid.stake.nodes.clone(),
            time: grid.time.nodes.clone(),
        }
    }
}

/// The axis names of each array file, in order (`stake0` and `stake1` run over `axes.stake`).
#[derive(Debug, Clone, Serialize)]
pub struct Dims {
    pub values: Vec<&'static str>,
    /// Absent when no policy.npy is written.
    pub policy: Option<Vec<&'static str>>,
}

impl Dims {
    /// `values_every_time`: whether values.npy holds every time slice (else t = 0 only).
    pub fn new(values_every_time: bool, policy: SavePolicy) -> Self {
        let all = vec!["agent", "time", "fee", "stake0", "stake1"];
        let t0 = vec!["agent", "fee", "stake0", "stake1"];
        Dims {
            values: if values_every_time {
                all.clone()
            } else {
                t0.clone()
            },
            policy: match policy {
                SavePolicy::All => Some(all),
                SavePolicy::T0 => Some(t0),
                SavePolicy::None => None,
            },
        }
    }
}

/// `summary.json` of a `notebook` run.
#[derive(Debug, Clone, Serialize)]
pub struct NotebookSummary {
    pub version: String,
    pub scheme: String,
    #[serde(flatten)]
    pub backend: BackendInfo,
    pub iterations: usize,
    pub converged: bool,
    pub policy_change: Vec<f64>,
    pub policy_saved: SavePolicy,
    /// The shape of policy.npy; absent when it is not written.
    pub policy_shape: Option<Vec<usize>>,
    pub solve_seconds: f64,
    pub cell_updates: f64,
    pub cell_updates_per_second: f64,
    pub axes: Axes,
    pub dims: Dims,
    /// The path's point at t = horizon.
    pub path_end: Option<PathPoint>,
    pub path: Vec<PathPoint>,
    pub files: Vec<String>,
    pub scenario: Scenario,
}

/// `summary.json` of an `equilibrium` run.
#[derive(Debug, Clone, Serialize)]
pub struct EquilibriumSummary {
    pub version: String,
    pub scheme: String,
    #[serde(flatten)]
    pub backend: BackendInfo,
    pub interpolation: Interpolation,
    pub values_saved: SaveValues,
    pub values_shape: Vec<usize>,
    pub policy_saved: SavePolicy,
    /// The shape of policy.npy; absent when it is not written.
    pub policy_shape: Option<Vec<usize>>,
    pub solve_seconds: f64,
    pub cell_updates: f64,
    pub cell_updates_per_second: f64,
    /// States without a pure equilibrium, over all time steps.
    pub no_pure_equilibrium: u64,
    /// States with several pure equilibria, over all time steps.
    pub several_equilibria: u64,
    pub max_exploitability: f64,
    /// States whose selection the tie tolerance decided, over all time steps (ambiguous in
    /// this precision).
    pub ambiguous_selections: u64,
    /// Set when that is more than [`AMBIGUOUS_SHARE_LIMIT`] of the cell updates in f32.
    pub precision_advice: Option<String>,
    pub tie_tolerance: f64,
    pub diagnostics: Vec<StepDiagnostics>,
    /// Where a GPU sweep's time went: kernel, read-back and host (writer) seconds, and how
    /// they were measured; null on the CPU.
    pub gpu_time_split: Option<GpuTimeSplit>,
    pub axes: Axes,
    pub dims: Dims,
    /// The path's point at t = horizon.
    pub path_end: Option<PathPoint>,
    pub path: Vec<PathPoint>,
    pub files: Vec<String>,
    pub scenario: Scenario,
}

/// The scenario recorded in a run's summary.json. It goes through [`Scenario::from_toml`], so
/// keys a newer version added take their defaults and the grid is validated.
pub fn read_scenario(file: &std::path::Path) -> Result<Scenario, Error> {
    use serde::Deserialize;
    let bad = |why: String| Error::Input(format!("{}: {why}", file.display()));
    let text = std::fs::read_to_string(file).map_err(|e| {
        bad(format!(
            "cannot read ({e}); is this the folder of a finished `mmgame solve`?"
        ))
    })?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not valid JSON ({e})")))?;
    let scenario = json
        .get("scenario")
        .ok_or_else(|| bad("has no \"scenario\" field".into()))?;
    let table = toml::Table::deserialize(scenario.clone())
        .map_err(|e| bad(format!("\"scenario\" is not a table ({e})")))?;
    let toml_text = toml::to_string(&table).map_err(|e| bad(format!("\"scenario\" field: {e}")))?;
    Scenario::from_toml(&toml_text, &format!("{} \"scenario\"", file.display()), &[])
}
