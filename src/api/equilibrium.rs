//! `Solver::solve` for the `equilibrium` scheme: checks that the run fits before starting,
//! hands each time step to a sink (policy.npy streamed into the output folder, memory, or
//! nowhere), then the path and the files. values.npy (`--save-values all`) is streamed in the
//! device's precision: float32 from a GPU in f32.

use std::path::Path;

use super::{Device, EquilibriumRun, Outcome, Output, Run, SolveOptions};
use crate::config::Scenario;
use crate::error::Error;
use crate::grid::Grid;
use crate::io::npy::NpyStream;
use crate::io::summary::{SavePolicy, SaveValues};
use crate::resources::{bytes, check_address_space, check_memory, human_bytes};
use crate::scheme::{
    BackendInfo, Discard, EquilibriumSolution, MemorySink, Observer, Precision, SliceValues,
    StepSink,
};
use crate::simulate::equilibrium_path;

use super::run::{check_finite, non_finite};

/// Streams each time step's actions (as int8 action values) and, when asked, values to their
/// `.npy` files in the output folder. Every action slice is streamed whatever `--save-policy`
/// says, because the path reads them; the file is moved into place only for `all`, and
/// deleted otherwise.
struct FileSink {
    grid: Grid,
    policy: NpyStream<i8>,
    save_policy: SavePolicy,
    /// Both agents' t = 0 actions, for `--save-policy t0`.
    policy_t0: Vec<i8>,
    /// One agent's slice of actions as int8 values, kept across steps (a fresh one per step
    /// would fault in its pages every time).
    row: Vec<i8>,
    values: Option<ValuesStream>,
}

/// values.npy streamed in the device's precision: f64 from the CPU (and a GPU in f64),
/// float32 from a GPU in f32 (widening would double the file and the time to write it, and
/// add no information).
enum ValuesStream {
    F64(NpyStream<f64>),
    F32(NpyStream<f32>),
}

impl ValuesStream {
    fn write(&mut self, at: usize, values: SliceValues<'_>, agent: usize) -> Result<(), Error> {
        match (self, values) {
            (ValuesStream::F64(v), SliceValues::F64(s)) => v.write(at, s[agent]),
            (ValuesStream::F32(v), SliceValues::F32(s)) => v.write(at, s[agent]),
            // A device hands over its own precision; this stream was made for it.
            _ => Err(Error::Internal(
                "values.npy: a step's values are not in the stream's precision".into(),
            )),
        }
    }

    fn persist(self) -> Result<(), Error> {
        match self {
            ValuesStream::F64(v) => v.persist(),
            ValuesStream::F32(v) => v.persist(),
        }
    }
}

impl FileSink {
    fn create(
        dir: &Path,
        grid: &Grid,
        save: SaveValues,
        save_policy: SavePolicy,
        precision: Precision,
    ) -> Result<Self, Error> {
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
        let file = dir.join("values.npy");
        let values = match (save, precision) {
            (SaveValues::All, Precision::F64) => {
                Some(ValuesStream::F64(NpyStream::create(&file, &shape)?))
            }
            (SaveValues::All, Precision::F32) => {
                Some(ValuesStream::F32(NpyStream::create(&file, &shape)?))
            }
            (SaveValues::T0, _) => None,
        };
        Ok(FileSink {
            grid: grid.clone(),
            policy,
            save_policy,
            policy_t0: Vec::new(),
            row: Vec::new(),
            values,
        })
    }

    fn offset(&self, agent: usize, t: usize) -> usize {
        (agent * self.grid.time.len() + t) * self.grid.slice_len()
    }

    /// Moves the streamed files to their names in `dir`; values.npy holds the t = 0 slice
    /// unless every slice was streamed.
    fn persist(self, dir: &Path, solution: &EquilibriumSolution) -> Result<(), Error> {
        let (nf, ns) = (self.grid.fee.len(), self.grid.stake.len());
        match self.save_policy {
            SavePolicy::All => self.policy.persist()?,
            SavePolicy::T0 => {
                let file = dir.join("policy.npy");
                crate::io::npy::write_array(&file, &[2, nf, ns, ns], &self.policy_t0)?
            }
            SavePolicy::None => {}
        }
        match self.values {
            Some(v) => v.persist(),
            None => {
                let file = dir.join("values.npy");
                crate::io::write_values(&file, &[2, nf, ns, ns], &solution.values_t0)
            }
        }
    }

    /// The action code at (agent, time, fee, stake0, stake1), read back from the file.
    fn action(
        &self,
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
            .ok_or_else(|| Error::Internal(format!("policy.npy holds {value}, not an action")))
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
        for (agent, codes) in actions.iter().enumerate() {
            let mut row = std::mem::take(&mut self.row);
            self.grid.actions.int8_values(codes, &mut row);
            let at = self.offset(agent, t);
            self.policy.write(at, &row)?;
            if t == 0 && self.save_policy == SavePolicy::T0 {
                self.policy_t0.extend_from_slice(&row);
            }
            self.row = row;
            if let Some(v) = &mut self.values {
                v.write(at, values, agent)?;
            }
        }
        Ok(())
    }
}

/// Refuses, before anything is allocated, an `equilibrium` run whose working memory (or, for
/// a folder output, whose files on disk) would not fit.
pub(super) fn check_fits(
    scenario: &Scenario,
    options: &SolveOptions,
    device: &Device,
) -> Result<(), Error> {
    let g = &scenario.grid;
    let slice = g.slice_states();
    let nt = g.time_points as u64;
    let value_bytes = device.value_bytes();
    // Two value slices per agent and the actions of a step, beside: on the GPU the read-back
    // slices (`gain_table_bytes` bounds them); on the CPU the stencil's tables and a ring of
    // line rows per thread. The CPU's gain tables are freed once the stencil is built from
    // them, before the slices exist: the peak is the larger of the two phases.
    let slices = bytes(&[2, 2, slice, 8]).saturating_add(bytes(&[2, slice, 1 + 1]));
    let mut working = match device {
        Device::Cpu { threads } => {
            let stencil =
                crate::cpu::stencil::Stencil::bytes(g.fee_points as usize, g.stake_points as usize);
            let scratch = crate::cpu::stencil::Stencil::scratch_bytes(&scenario.grid());
            let sweep = slices
                .saturating_add(stencil)
                .saturating_add(bytes(&[*threads as u64, scratch]));
            sweep.max(g.gain_table_bytes().saturating_add(stencil))
        }
        Device::Gpu(..) => {
            // The read-back pipeline's staging sets and steps in flight.
            let per_state = match options.save_values {
                SaveValues::All => value_bytes,
                SaveValues::T0 => 0,
            };
            let readback = crate::gpu::equilibrium::host_readback_bytes(slice, per_state);
            slices
                .saturating_add(g.gain_table_bytes())
                .saturating_add(readback)
        }
    };
    if options.output == Output::Memory {
        // Every action slice, and every value slice when asked.
        working = working.saturating_add(bytes(&[2, nt, slice, 1]));
        if options.save_values == SaveValues::All {
            // MemorySink keeps f64 whatever the device.
            working = working.saturating_add(bytes(&[2, nt, slice, 8]));
        }
    }
    check_memory("this equilibrium run's working memory", working)?;
    let Output::Folder(out) = &options.output else {
        return Ok(());
    };
    let policy = bytes(&[2, nt, slice, 1]);
    let values = match options.save_values {
        SaveValues::All => bytes(&[2, nt, slice, value_bytes]),
        SaveValues::T0 => bytes(&[2, slice, value_bytes]),
    };
    let streamed = match options.save_values {
        SaveValues::All => policy.saturating_add(values),
        SaveValues::T0 => policy,
    };
    check_address_space("this equilibrium run", working, streamed)?;
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
                if options.save_values == SaveValues::All { "; leave out --save-values all" } else { "" }
            )));
        }
    }
    Ok(())
}

/// Runs the sweep on `device` with `sink`.
fn sweep(
    scenario: &Scenario,
    options: &SolveOptions,
    device: &Device,
    sink: &mut (dyn StepSink + Send),
    observer: &mut dyn Observer,
) -> Result<EquilibriumSolution, Error> {
    let (game, grid) = (scenario.game(), scenario.grid());
    let mode = scenario.solver.interpolation;
    let cancel = &options.cancel;
    match device {
        Device::Cpu { threads } => {
            crate::cpu::equilibrium::solve(&game, &grid, mode, *threads, sink, cancel, observer)
        }
        Device::Gpu(gpu, precision) => gpu
            .equilibrium(*precision)?
            .solve(&game, &grid, mode, sink, cancel, observer),
    }
}

pub(super) fn solve(
    scenario: &Scenario,
    options: &SolveOptions,
    device: &Device,
    backend: BackendInfo,
    observer: &mut dyn Observer,
) -> Result<Run, Error> {
    check_fits(scenario, options, device)?;
    let (game, grid) = (scenario.game(), scenario.grid());
    let path_of =
        |action: &mut dyn FnMut(usize, usize, usize, usize, usize) -> Result<u8, Error>| {
            equilibrium_path(&game, &grid, &scenario.path, action)
        };
    let (solution, path, memory) = match &options.output {
        Output::Folder(dir) => {
            let precision = backend.precision;
            let (save, policy) = (options.save_values, options.save_policy);
            let mut sink = FileSink::create(dir, &grid, save, policy, precision)?;
            let solution = sweep(scenario, options, device, &mut sink, observer)?;
            // Before any file is moved into place (the t = 0 slice: a non-finite value at
            // t + 1 reaches t = 0 through the payoffs that read it).
            check_finite(non_finite(&solution.values_t0), &backend)?;
            let path = path_of(&mut |a, t, f, s0, s1| sink.action(a, t, f, s0, s1))?;
            sink.persist(dir, &solution)?;
            crate::io::csv::write_path(&dir.join("path.csv"), &path)?;
            (solution, path, None)
        }
        Output::Memory => {
            let mut sink = MemorySink::with_values(&grid, options.save_values == SaveValues::All);
            let solution = sweep(scenario, options, device, &mut sink, observer)?;
            let kept = sink.values.iter().filter(|v| !v.is_finite()).count();
            check_finite(non_finite(&solution.values_t0) + kept, &backend)?;
            let path = path_of(&mut |a, t, f, s0, s1| {
                Ok(sink.policy[sink.index(a, t, grid.state_index(f, s0, s1))])
            })?;
            (solution, path, Some(sink))
        }
        Output::Discard => {
            let solution = sweep(scenario, options, device, &mut Discard, observer)?;
            check_finite(non_finite(&solution.values_t0), &backend)?;
            (solution, Vec::new(), None)
        }
    };
    let folder = match &options.output {
        Output::Folder(dir) => Some(dir.clone()),
        _ => None,
    };
    let run = Run {
        scenario: scenario.clone(),
        cell_updates: EquilibriumSolution::cell_updates(&grid),
        solve_seconds: solution.solve_seconds,
        outcome: Outcome::Equilibrium(EquilibriumRun {
            values_t0: solution.values_t0,
            diagnostics: solution.diagnostics,
            tie_tolerance: backend.precision.tie_tolerance(),
            interpolation: scenario.solver.interpolation,
            save_values: options.save_values,
            gpu_time_split: solution.gpu_time_split,
            memory,
        }),
        backend,
        path,
        files: match folder {
            Some(_) => super::run_files(options.save_policy),
            None => Vec::new(),
        },
        save_policy: options.save_policy,
        folder,
    };
    // summary.json last: a folder with a summary holds a whole run.
    if let Some(dir) = &run.folder {
        run.summary().write(&dir.join("summary.json"))?;
    }
    Ok(run)
}
