//! `mmgame solve` for the `equilibrium` scheme: checks that the run fits before starting,
//! streams the policy to disk, prints progress and the per-step diagnostics, and writes the
//! outputs and the summary.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::config::Scenario;
use crate::cpu::equilibrium::{self, EquilibriumSolution, SliceValues, StepDiagnostics, StepSink};
use crate::error::Error;
use crate::grid::Grid;
use crate::npy::NpyStream;
use crate::output::{self, BackendInfo};
use crate::resources::{bytes, check_memory, human_bytes};
use crate::simulate::{equilibrium_path, PathPoint};
use crate::solution::Values;

/// Which value slices `solve` writes for the `equilibrium` scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SaveValues {
    /// Only t = 0: values.npy has shape (2, fee_points, stake_points, stake_points).
    T0,
    /// Every time slice: shape (2, time_points, fee_points, stake_points, stake_points).
    All,
}

/// Streams each time step's actions (as float32 action values) and, when asked, values to
/// their `.npy` files.
pub struct FileSink {
    grid: Grid,
    policy: NpyStream<f32>,
    values: Option<NpyStream<f64>>,
}

impl FileSink {
    fn create(dir: &Path, grid: &Grid, save: SaveValues) -> Result<Self, Error> {
        let shape = [
            2,
            grid.time.len(),
            grid.fee.len(),
            grid.stake.len(),
            grid.stake.len(),
        ];
        // The last slice holds action 0 (no action at the horizon): the zero-filled file
        // already does.
        let policy = NpyStream::create(&dir.join("policy.npy"), &shape)?;
        let values = match save {
            SaveValues::All => Some(NpyStream::create(&dir.join("values.npy"), &shape)?),
            SaveValues::T0 => None,
        };
        Ok(FileSink {
            grid: grid.clone(),
            policy,
            values,
        })
    }

    fn offset(&self, agent: usize, t: usize) -> usize {
        (agent * self.grid.time.len() + t) * self.grid.slice_len()
    }

    /// The action code at (agent, time, fee, stake0, stake1), read back from the file.
    fn action(
        &mut self,
        agent: usize,
        t: usize,
        fee: usize,
        s0: usize,
        s1: usize,
    ) -> Result<u8, Error> {
        let at = self.offset(agent, t) + self.grid.state_index(fee, s0, s1);
        let value = self.policy.read(at)?;
        self.grid
            .actions
            .code_of(value as i64)
            .ok_or_else(|| Error::Gpu(format!("policy.npy holds {value}, not an action")))
    }
}

impl StepSink for FileSink {
    fn wants_values(&self) -> bool {
        self.values.is_some()
    }

    fn step(
        &mut self,
        t: usize,
        actions: [&[u8]; 2],
        values: SliceValues<'_>,
    ) -> Result<(), Error> {
        let table = [0, 1, 2, 3].map(|c| self.grid.actions.value(c) as f32);
        for agent in 0..2 {
            let row: Vec<f32> = actions[agent].iter().map(|&c| table[c as usize]).collect();
            let at = self.offset(agent, t);
            self.policy.write(at, &row)?;
            if let Some(v) = &mut self.values {
                match values {
                    SliceValues::F64(s) => v.write(at, s[agent])?,
                    SliceValues::F32(s) => {
                        let wide: Vec<f64> = s[agent].iter().map(|&x| x as f64).collect();
                        v.write(at, &wide)?
                    }
                }
            }
        }
        Ok(())
    }
}

/// Progress on stderr (time step k of N, cell updates per second) once a run has taken more
/// than a second, and only when stderr is a terminal and not `--quiet`.
pub struct Progress {
    start: Instant,
    enabled: bool,
    per_step: f64,
    shown: bool,
}

impl Progress {
    pub fn new(quiet: bool, states_per_step: usize) -> Self {
        Progress {
            start: Instant::now(),
            enabled: !quiet && std::io::stderr().is_terminal(),
            per_step: states_per_step as f64,
            shown: false,
        }
    }

    pub fn update(&mut self, done: usize, total: usize) {
        let elapsed = self.start.elapsed().as_secs_f64();
        if !self.enabled || elapsed < 1.0 {
            return;
        }
        let rate = self.per_step * done as f64 / elapsed;
        eprint!("\rtime step {done} of {total}, {rate:.3e} cell updates/s ");
        let _ = std::io::stderr().flush();
        self.shown = true;
    }

    pub fn finish(&self) {
        if self.shown {
            eprintln!();
        }
    }
}

/// Working memory and output bytes of an `equilibrium` run, checked before it starts.
pub fn check_fits(
    scenario: &Scenario,
    out: &Path,
    save: SaveValues,
    gpu: bool,
) -> Result<(), Error> {
    let g = &scenario.grid;
    let slice = g.slice_states();
    let nt = g.time_points as u64;
    let value_bytes = if gpu { 4 } else { 8 };
    // Two value slices per agent, the actions of a step, the gain tables (CPU) or the
    // read-back slices (GPU).
    let working = bytes(&[2, 2, slice, 8])
        .saturating_add(bytes(&[2, slice, 1 + 4]))
        .saturating_add(g.gain_table_bytes());
    check_memory("this equilibrium run's working memory", working)?;
    let policy = bytes(&[2, nt, slice, 4]);
    let values = match save {
        SaveValues::All => bytes(&[2, nt, slice, 8]),
        SaveValues::T0 => bytes(&[2, slice, value_bytes]),
    };
    let needed = policy.saturating_add(values);
    let probe = out
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("."));
    if let Ok(free) = fs4::available_space(probe) {
        if needed > free {
            return Err(Error::TooLarge(format!(
                "this run's outputs (policy.npy {}, values.npy {}) need {} of disk, {} has {} free{}",
                human_bytes(policy),
                human_bytes(values),
                human_bytes(needed),
                probe.display(),
                human_bytes(free),
                if save == SaveValues::All { "; leave out --save-values all" } else { "" }
            )));
        }
    }
    Ok(())
}

/// `summary.json` of an `equilibrium` run.
#[derive(Debug, Clone, Serialize)]
pub struct EquilibriumSummary {
    pub version: String,
    pub scheme: String,
    #[serde(flatten)]
    pub backend: BackendInfo,
    pub interpolation: crate::grid::Interpolation,
    pub values_saved: SaveValues,
    pub values_shape: Vec<usize>,
    pub solve_seconds: f64,
    pub cell_updates: f64,
    pub cell_updates_per_second: f64,
    /// States without a pure equilibrium, over all time steps.
    pub no_pure_equilibrium: u64,
    /// States with several pure equilibria, over all time steps.
    pub several_equilibria: u64,
    pub max_exploitability: f64,
    pub tie_tolerance: f64,
    pub diagnostics: Vec<StepDiagnostics>,
    pub path: Vec<PathPoint>,
    pub files: Vec<String>,
    pub scenario: Scenario,
}

/// Runs the sweep on the chosen backend with `sink`; returns the solution and where it ran.
pub fn sweep(
    scenario: &Scenario,
    gpu: Option<&crate::gpu::context::GpuContext>,
    sink: &mut dyn StepSink,
    quiet: bool,
) -> Result<(EquilibriumSolution, BackendInfo), Error> {
    let (game, grid) = (scenario.game(), scenario.grid());
    let mode = scenario.solver.interpolation;
    let mut progress = Progress::new(quiet, grid.slice_len());
    let result = match gpu {
        None => {
            let s = equilibrium::solve(&game, &grid, mode, sink, |d, n| progress.update(d, n))?;
            let info = BackendInfo {
                backend: "cpu".into(),
                device: format!("{} threads", crate::cpu::team::team_size()),
                device_type: "cpu".into(),
                precision: "f64".into(),
            };
            (s, info)
        }
        Some(ctx) => {
            let s = crate::gpu::equilibrium::EquilibriumGpu::new(ctx)?.solve(
                &game,
                &grid,
                mode,
                sink,
                |d, n| progress.update(d, n),
            )?;
            let info = BackendInfo {
                backend: "gpu".into(),
                device: ctx.info.name.clone(),
                device_type: crate::gpu::context::device_type(ctx.info.device_type).into(),
                precision: "f32".into(),
            };
            (s, info)
        }
    };
    progress.finish();
    Ok(result)
}

/// `mmgame solve` with `solver.scheme = "equilibrium"`.
pub fn solve(
    scenario: &Scenario,
    gpu: Option<&crate::gpu::context::GpuContext>,
    out: &Path,
    quiet: bool,
    save: SaveValues,
) -> Result<EquilibriumSummary, Error> {
    check_fits(scenario, out, save, gpu.is_some())?;
    let (game, grid) = (scenario.game(), scenario.grid());
    output::create_output_dir(out)?;
    let mut sink = FileSink::create(out, &grid, save)?;
    let (solution, info) = sweep(scenario, gpu, &mut sink, quiet)?;
    let path = equilibrium_path(&game, &grid, &scenario.path, |a, t, f, s0, s1| {
        sink.action(a, t, f, s0, s1)
    })?;

    let (nf, ns) = (grid.fee.len(), grid.stake.len());
    let values_shape = match save {
        SaveValues::T0 => vec![2, nf, ns, ns],
        SaveValues::All => vec![2, grid.time.len(), nf, ns, ns],
    };
    let FileSink { policy, values, .. } = sink;
    policy.persist()?;
    match values {
        Some(v) => v.persist()?,
        None => output::write_values(&out.join("values.npy"), &values_shape, &solution.values_t0)?,
    }
    output::write_path(&out.join("path.csv"), &path)?;

    let d = &solution.diagnostics;
    let cell_updates = EquilibriumSolution::cell_updates(&grid);
    let summary = EquilibriumSummary {
        version: env!("CARGO_PKG_VERSION").to_string(),
        scheme: "equilibrium".into(),
        tie_tolerance: if info.backend == "gpu" {
            crate::gpu::equilibrium::GPU_TIE_TOLERANCE
        } else {
            equilibrium::CPU_TIE_TOLERANCE
        },
        backend: info,
        interpolation: scenario.solver.interpolation,
        values_saved: save,
        values_shape,
        solve_seconds: solution.solve_seconds,
        cell_updates,
        cell_updates_per_second: cell_updates / solution.solve_seconds.max(1e-12),
        no_pure_equilibrium: d.iter().map(|s| s.no_pure_equilibrium).sum(),
        several_equilibria: d.iter().map(|s| s.several_equilibria).sum(),
        max_exploitability: d.iter().map(|s| s.max_exploitability).fold(0.0, f64::max),
        diagnostics: d.clone(),
        path,
        files: ["values.npy", "policy.npy", "path.csv", "summary.json"]
            .map(String::from)
            .to_vec(),
        scenario: scenario.clone(),
    };
    let json = serde_json::to_string_pretty(&summary).expect("a summary serialises");
    output::write_atomic(&out.join("summary.json"), |w| writeln!(w, "{json}"))?;
    Ok(summary)
}

/// The agents' values at a point (fee, stake0, stake1) of the t = 0 slice, interpolated
/// trilinearly (what `refine` compares across grids).
pub fn value_at(grid: &Grid, values_t0: &Values, point: (f64, [f64; 2])) -> [f64; 2] {
    let (nf, ns) = (grid.fee.len(), grid.stake.len());
    let locate = |axis: &crate::grid::Axis, x: f64| {
        let u = (x.clamp(0.0, axis.max()) / axis.spacing).clamp(0.0, (axis.len() - 1) as f64);
        let lo = u.floor().min((axis.len() - 2) as f64);
        (lo as usize, u - lo)
    };
    let (f, wf) = locate(&grid.fee, point.0);
    let (a, wa) = locate(&grid.stake, point.1[0]);
    let (b, wb) = locate(&grid.stake, point.1[1]);
    [0, 1].map(|agent| {
        let at = |i: usize, j: usize, k: usize| values_t0.get(((agent * nf + i) * ns + j) * ns + k);
        let line = |i: usize, j: usize| at(i, j, b) * (1.0 - wb) + at(i, j, b + 1) * wb;
        let plane = |i: usize| line(i, a) * (1.0 - wa) + line(i, a + 1) * wa;
        plane(f) * (1.0 - wf) + plane(f + 1) * wf
    })
}

/// Prints an `equilibrium` run's report.
pub fn print_report(s: &EquilibriumSummary, out: &Path, plots: &[std::path::PathBuf]) {
    let g = &s.scenario.grid;
    println!(
        "equilibrium scheme on {} ({}, {}), {} interpolation: grid {} fee × {}² stake × {} time points, control {}",
        s.backend.backend,
        s.backend.device,
        s.backend.precision,
        s.interpolation.name(),
        g.fee_points,
        g.stake_points,
        g.time_points,
        g.control
    );
    println!("  step   time  no pure eq.  several eq.  max exploitability");
    for d in &s.diagnostics {
        println!(
            "  {:>4} {:>6.3} {:>12} {:>12} {:>19.3e}",
            d.step, d.time, d.no_pure_equilibrium, d.several_equilibria, d.max_exploitability
        );
    }
    println!(
        "solved in {:.3} s, {:.3e} cell updates/s; states with several equilibria {}, without a pure one {}",
        s.solve_seconds, s.cell_updates_per_second, s.several_equilibria, s.no_pure_equilibrium
    );
    crate::report::print_path(&s.path);
    let saved = match s.values_saved {
        SaveValues::T0 => " (values at t = 0)",
        SaveValues::All => " (values at every time step)",
    };
    crate::report::print_written(&s.files, plots, out, saved);
}
