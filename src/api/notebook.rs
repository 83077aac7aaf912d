//! `Solver::solve` for the `notebook` scheme: fit check, solve on the device, path, files.

use super::{Device, Output, Run, SolveOptions};
use crate::config::Scenario;
use crate::error::Error;
use crate::resources::check_memory;
use crate::scheme::{BackendInfo, Observer};
use crate::simulate::notebook_path;

/// Memory the CPU `notebook` solver holds: one ring of value slices (f64, one set of values
/// and a slice of zeros), the actions (one byte each), the int8 policy written out, and the
/// gain tables twice (as built, and laid out along stake1 for the vector path).
pub fn cpu_bytes(s: &Scenario) -> u64 {
    let g = &s.grid;
    g.all_states()
        .saturating_mul(8 + 1 + 1)
        .saturating_add(g.slice_states().saturating_mul(8))
        .saturating_add(g.gain_table_bytes().saturating_mul(2))
}

/// Host memory of a GPU `notebook` solve in `precision`: the values and actions read back
/// (one byte each, as the device packs them), and the int8 policy written out.
pub fn gpu_host_bytes(s: &Scenario, precision: crate::scheme::Precision) -> u64 {
    s.grid
        .all_states()
        .saturating_mul(precision.bytes() + 1 + 1)
}

/// Refuses, before anything is allocated, a `notebook` run that would not fit: on the GPU
/// (one storage binding per (agent, time) slice, and the whole solve in the adapter's memory,
/// checked first so that a grid too large for both names the device), and in host memory.
pub(super) fn check(scenario: &Scenario, device: &Device) -> Result<(), Error> {
    match device {
        Device::Cpu { .. } => check_memory("this grid on the CPU", cpu_bytes(scenario)),
        Device::Gpu(gpu, precision) => {
            crate::gpu::notebook::check(&gpu.ctx, &scenario.grid(), *precision)?;
            check_memory("this grid's results", gpu_host_bytes(scenario, *precision))
        }
    }
}

pub(super) fn solve(
    scenario: &Scenario,
    options: &SolveOptions,
    device: &Device,
    backend: BackendInfo,
    observer: &mut dyn Observer,
) -> Result<Run, Error> {
    check(scenario, device)?;
    let (game, grid) = (scenario.game(), scenario.grid());
    let solution = match device {
        Device::Cpu { threads } => {
            let cancel = &options.cancel;
            crate::cpu::notebook::solve(&game, &grid, &scenario.solver, *threads, cancel, observer)?
        }
        Device::Gpu(gpu, precision) => {
            let solver = gpu.notebook(*precision)?;
            solver.solve(&game, &grid, &scenario.solver, &options.cancel, observer)?
        }
    };
    // A non-finite value reaches every earlier slice through the value it reads at t + 1, and
    // the whole array is at hand: check all of it.
    super::run::check_finite(super::run::non_finite(&solution.values), &backend)?;
    let path = match options.output {
        Output::Discard => Vec::new(),
        _ => notebook_path(&game, &grid, &solution, &scenario.path),
    };
    let mut run = Run {
        scenario: scenario.clone(),
        backend,
        solve_seconds: solution.solve_seconds,
        cell_updates: solution.cell_updates(),
        outcome: super::Outcome::Notebook(solution),
        path,
        save_policy: options.save_policy,
        folder: None,
        files: Vec::new(),
    };
    // The caller (`Solver::solve`) holds the folder.
    if let Output::Folder(dir) = &options.output {
        run.files = run.write_files(dir)?;
        run.folder = Some(dir.clone());
    }
    Ok(run)
}
