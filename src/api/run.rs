//! [`Run`]: what a solve returns.

use std::path::{Path, PathBuf};

use crate::config::Scenario;
use crate::error::Error;
use crate::grid::{Grid, Interpolation};
use crate::io::summary::{Axes, Dims, EquilibriumSummary, NotebookSummary, SaveValues, Summary};
use crate::scheme::{BackendInfo, MemorySink, Precision, Solution, StepDiagnostics, Values};
use crate::simulate::PathPoint;

/// A solved scenario.
#[derive(Debug, Clone)]
pub struct Run {
    pub scenario: Scenario,
    /// Where it ran.
    pub backend: BackendInfo,
    /// What the scheme found.
    pub outcome: Outcome,
    /// The path from the scenario's start under the solved policy (empty with
    /// [`super::Output::Discard`]).
    pub path: Vec<PathPoint>,
    /// Seconds of the solver itself: tables, arrays and the iterations or the sweep, without
    /// writing files.
    pub solve_seconds: f64,
    /// Cell updates done (docs/model.md).
    pub cell_updates: f64,
    /// Which action slices its policy.npy holds (a folder output, or [`Run::save`]).
    pub save_policy: crate::io::summary::SavePolicy,
    /// The folder the run's files were written to, and the files, for a folder output.
    pub folder: Option<PathBuf>,
    pub files: Vec<String>,
}

/// What each scheme found.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Every value and action slice, and the policy change of each iteration.
    Notebook(Solution),
    Equilibrium(EquilibriumRun),
}

/// What an `equilibrium` sweep found.
#[derive(Debug, Clone)]
pub struct EquilibriumRun {
    /// (agent, fee, stake0, stake1) at t = 0.
    pub values_t0: Values,
    /// Per time step, ascending t.
    pub diagnostics: Vec<StepDiagnostics>,
    pub tie_tolerance: f64,
    pub interpolation: Interpolation,
    pub save_values: SaveValues,
    /// Where a GPU sweep's time went (`None` on the CPU).
    pub gpu_time_split: Option<crate::scheme::GpuTimeSplit>,
    /// Every action slice (and every value slice with [`SaveValues::All`]), for a memory
    /// output.
    pub memory: Option<MemorySink>,
}

impl Run {
    pub fn grid(&self) -> Grid {
        self.scenario.grid()
    }

    /// Policy iterations run (1 for the `equilibrium` scheme's single sweep).
    pub fn iterations(&self) -> usize {
        match &self.outcome {
            Outcome::Notebook(s) => s.iterations(),
            Outcome::Equilibrium(_) => 1,
        }
    }

    /// Whether the policy iteration converged (always, for the `equilibrium` scheme).
    pub fn converged(&self) -> bool {
        match &self.outcome {
            Outcome::Notebook(s) => s.converged,
            Outcome::Equilibrium(_) => true,
        }
    }

    pub fn cell_updates_per_second(&self) -> f64 {
        self.cell_updates / self.solve_seconds.max(1e-12)
    }

    pub fn notebook(&self) -> Option<&Solution> {
        match &self.outcome {
            Outcome::Notebook(s) => Some(s),
            Outcome::Equilibrium(_) => None,
        }
    }

    pub fn equilibrium(&self) -> Option<&EquilibriumRun> {
        match &self.outcome {
            Outcome::Notebook(_) => None,
            Outcome::Equilibrium(e) => Some(e),
        }
    }

    /// Both agents' t = 0 values, (agent, fee, stake0, stake1).
    pub fn values_t0(&self) -> Values {
        match &self.outcome {
            Outcome::Notebook(s) => {
                let [_, nt, nf, ns, _] = s.shape;
                let slice = nf * ns * ns;
                let agent1 = s.values.slice(nt * slice..(nt + 1) * slice);
                match (s.values.slice(0..slice), agent1) {
                    (Values::F64(mut a), Values::F64(b)) => {
                        a.extend_from_slice(&b);
                        Values::F64(a)
                    }
                    (Values::F32(mut a), Values::F32(b)) => {
                        a.extend_from_slice(&b);
                        Values::F32(a)
                    }
                    // Both halves come from one array.
                    (a, _) => a,
                }
            }
            Outcome::Equilibrium(e) => e.values_t0.clone(),
        }
    }

    /// Both agents' values at t = 0 at a point (fee, [stake0, stake1]) between the nodes,
    /// interpolated trilinearly (what `refine` and `sweep` compare).
    pub fn value_at(&self, point: (f64, [f64; 2])) -> [f64; 2] {
        value_at(&self.grid(), &self.values_t0(), point)
    }

    /// The path's start and end values as the tools report them: at the scenario's start.
    pub fn start_values(&self) -> [f64; 2] {
        self.value_at((self.scenario.path.fee, self.scenario.path.stakes))
    }

    /// Adds `files` (written into the run's folder after the solve, such as plots) to the
    /// run's list and rewrites summary.json with it.
    pub fn add_files(&mut self, files: impl IntoIterator<Item = String>) -> Result<(), Error> {
        let Some(dir) = self.folder.clone() else {
            return Err(Error::Internal("add_files: the run has no folder".into()));
        };
        self.files.extend(files);
        self.summary().write(&dir.join("summary.json"))
    }

    /// `summary.json` of this run.
    pub fn summary(&self) -> Summary {
        self.summary_listing(self.files.clone())
    }

    /// `summary.json` of this run, listing `files`.
    fn summary_listing(&self, files: Vec<String>) -> Summary {
        let version = env!("CARGO_PKG_VERSION").to_string();
        match &self.outcome {
            Outcome::Notebook(s) => Summary::Notebook(NotebookSummary {
                version,
                scheme: self.scenario.solver.scheme.name().to_string(),
                backend: self.backend.clone(),
                iterations: s.iterations(),
                converged: s.converged,
                policy_change: s.policy_change.clone(),
                policy_saved: self.save_policy,
                policy_shape: self.save_policy.shape(&self.grid()),
                solve_seconds: self.solve_seconds,
                cell_updates: self.cell_updates,
                cell_updates_per_second: self.cell_updates_per_second(),
                axes: Axes::of(&self.grid()),
                dims: Dims::new(true, self.save_policy),
                path_end: crate::simulate::at_horizon(&self.path).cloned(),
                path: self.path.clone(),
                files: files.clone(),
                scenario: self.scenario.clone(),
            }),
            Outcome::Equilibrium(e) => {
                let d = &e.diagnostics;
                let g = self.grid();
                let (nt, nf, ns) = (g.time.len(), g.fee.len(), g.stake.len());
                Summary::Equilibrium(EquilibriumSummary {
                    version,
                    scheme: self.scenario.solver.scheme.name().to_string(),
                    backend: self.backend.clone(),
                    interpolation: e.interpolation,
                    values_saved: e.save_values,
                    values_shape: match e.save_values {
                        SaveValues::T0 => vec![2, nf, ns, ns],
                        SaveValues::All => vec![2, nt, nf, ns, ns],
                    },
                    policy_saved: self.save_policy,
                    policy_shape: self.save_policy.shape(&g),
                    solve_seconds: self.solve_seconds,
                    cell_updates: self.cell_updates,
                    cell_updates_per_second: self.cell_updates_per_second(),
                    no_pure_equilibrium: d.iter().map(|s| s.no_pure_equilibrium).sum(),
                    several_equilibria: d.iter().map(|s| s.several_equilibria).sum(),
                    max_exploitability: d.iter().map(|s| s.max_exploitability).fold(0.0, f64::max),
                    ambiguous_selections: d.iter().map(|s| s.ambiguous).sum(),
                    precision_advice: crate::io::summary::precision_advice(
                        d.iter().map(|s| s.ambiguous).sum(),
                        self.cell_updates,
                        self.backend.precision,
                    ),
                    tie_tolerance: e.tie_tolerance,
                    diagnostics: d.clone(),
                    axes: Axes::of(&g),
                    dims: Dims::new(e.save_values == SaveValues::All, self.save_policy),
                    gpu_time_split: e.gpu_time_split,
                    path_end: crate::simulate::at_horizon(&self.path).cloned(),
                    path: self.path.clone(),
                    files: files.clone(),
                    scenario: self.scenario.clone(),
                })
            }
        }
    }

    /// Writes this run's files into `dir` (created if absent): values.npy, policy.npy,
    /// path.csv and summary.json, as a folder output would have. The run must hold its
    /// arrays: a memory output.
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        let folder = crate::io::lock::FolderWrite::begin(dir, false)?;
        let files = self.write_files(dir)?;
        folder.finish(&files)
    }

    /// The files of [`Run::save`], written from the run's arrays without copying them (a
    /// fine grid's values are gigabytes); returns their names. The caller holds the folder.
    pub(super) fn write_files(&self, dir: &Path) -> Result<Vec<String>, Error> {
        let g = self.grid();
        let shape = [2, g.time.len(), g.fee.len(), g.stake.len(), g.stake.len()];
        let values = dir.join("values.npy");
        let policy = match &self.outcome {
            Outcome::Notebook(s) => {
                crate::io::write_values(&values, &shape, &s.values)?;
                &s.policy
            }
            Outcome::Equilibrium(e) => {
                let memory = e.memory.as_ref().ok_or_else(|| {
                    Error::Input(
                        "save: this run kept no policy in memory (solve with a memory output)"
                            .into(),
                    )
                })?;
                match e.save_values {
                    SaveValues::T0 => {
                        let t0 = [2, shape[2], shape[3], shape[4]];
                        crate::io::write_values(&values, &t0, &e.values_t0)?
                    }
                    // float32 from a GPU in f32, as the CLI streams it: the memory sink
                    // widened the f32 values, so narrowing them back is exact.
                    SaveValues::All if self.backend.precision == crate::scheme::Precision::F32 => {
                        let narrow: Vec<f32> = memory.values.iter().map(|&v| v as f32).collect();
                        crate::io::npy::write_array(&values, &shape, &narrow)?
                    }
                    SaveValues::All => {
                        crate::io::npy::write_array(&values, &shape, &memory.values)?
                    }
                }
                &memory.policy
            }
        };
        if let Some(policy_shape) = self.save_policy.shape(&g) {
            // t = 0 is the first slice of each agent's block of time slices.
            let per_agent = policy.len() / 2;
            let kept = policy_shape.iter().product::<usize>() / 2;
            let table = g.actions.int8_table();
            let policy: Vec<i8> = [0, per_agent]
                .iter()
                .flat_map(|&start| &policy[start..start + kept])
                .map(|&c| table[c as usize & 3])
                .collect();
            crate::io::npy::write_array(&dir.join("policy.npy"), &policy_shape, &policy)?;
        }
        crate::io::csv::write_path(&dir.join("path.csv"), &self.path)?;
        let files = super::run_files(self.save_policy);
        self.summary_listing(files.clone())
            .write(&dir.join("summary.json"))?;
        Ok(files)
    }
}

/// How many of `values` are not finite.
pub(super) fn non_finite(values: &Values) -> usize {
    match values {
        Values::F64(v) => v.iter().filter(|x| !x.is_finite()).count(),
        Values::F32(v) => v.iter().filter(|x| !x.is_finite()).count(),
    }
}

/// An error when `bad` values are not finite: an overflow must never pass for a result.
/// Checked before any file of the run is written.
pub(super) fn check_finite(bad: usize, backend: &BackendInfo) -> Result<(), Error> {
    if bad == 0 {
        return Ok(());
    }
    let hint = match backend.precision {
        Precision::F32 => "solve on the CPU (f64), or lower the rates, the horizon or the volumes",
        Precision::F64 => "lower the rates, the horizon or the volumes",
    };
    Err(Error::NonFinite(format!(
        "the solve overflowed on {} ({}): {bad} values are not finite numbers; {hint}",
        backend.backend,
        backend.precision.name()
    )))
}

/// Both agents' values at a point (fee, [stake0, stake1]) of a t = 0 slice laid out (agent,
/// fee, stake0, stake1), interpolated trilinearly, the point clamped to the grid.
pub fn value_at(grid: &Grid, values_t0: &Values, point: (f64, [f64; 2])) -> [f64; 2] {
    let corners = crate::grid::Corners::of(grid, point);
    let slice = grid.slice_len();
    [0, 1].map(|agent| corners.trilinear_with(|i| values_t0.get(agent * slice + i)))
}
