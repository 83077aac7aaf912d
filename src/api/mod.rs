//! The one entry point: a [`Solver`], built once, solves a [`Scenario`] with [`SolveOptions`]
//! and returns a [`Run`], telling an [`Observer`] how it goes.
//!
//! ```no_run
//! use mmgame::api::{Event, Output, SolveOptions, Solver};
//! use mmgame::config::Scenario;
//!
//! let scenario = Scenario::load(None, &["grid.stake_points=31".to_string()])?;
//! let solver = Solver::new();
//! let options = SolveOptions {
//!     output: Output::Folder("run31".into()), // or Output::Memory (default), Output::Discard
//!     ..Default::default()
//! };
//! let run = solver.solve(&scenario, &options, &mut |e: &Event| eprintln!("{e:?}"))?;
//! println!("{} iterations, start values {:?}", run.iterations(), run.start_values());
//! # Ok::<(), mmgame::Error>(())
//! ```
//!
//! Every check a run needs happens inside [`Solver::solve`], for every caller: the scenario's
//! fit in memory (and on disk, for a folder output) before anything is allocated, and the
//! grid's fit in the GPU's bindings. The GPU context and its compiled pipelines are opened on
//! the first GPU solve and reused by every later one.

mod equilibrium;
mod notebook;
mod run;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub use crate::io::summary::{SavePolicy, SaveValues, Summary};
pub use crate::scheme::{
    BackendInfo, Cancel, Event, Observer, Precision, Silent, StepDiagnostics, Values,
};
pub use notebook::{cpu_bytes as notebook_cpu_bytes, gpu_host_bytes as notebook_gpu_host_bytes};
pub use run::{value_at, EquilibriumRun, Outcome, Run};

use crate::config::{Scenario, Scheme};
use crate::error::Error;
use crate::gpu::context::{device_type, hardware_adapter_present, GpuContext};
use crate::gpu::equilibrium::EquilibriumGpu;
use crate::gpu::notebook::NotebookGpu;
use crate::io::lock::FolderWrite;
use crate::team;

/// Where to solve.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Backend {
    /// The f64 reference solvers on the CPU's cores.
    #[default]
    Cpu,
    /// The wgpu compute-shader solvers (f32).
    Gpu,
    /// The GPU when a hardware adapter is present, else the CPU.
    Auto,
}

/// Where a run's values and policy go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Output {
    /// Kept in the [`Run`]: every value and action slice for the `notebook` scheme; for the
    /// `equilibrium` scheme every action slice and the value slices [`SaveValues`] asks for.
    #[default]
    Memory,
    /// Written into this folder (created if absent) as values.npy, policy.npy, path.csv and
    /// summary.json. The `equilibrium` scheme streams each time step's actions to policy.npy
    /// as soon as they exist, so a fine grid's policy never has to fit in memory; the [`Run`]
    /// keeps the t = 0 values and the path.
    Folder(PathBuf),
    /// Dropped as they are computed (benchmarks): the [`Run`] has the t = 0 values (the
    /// `notebook` scheme's whole arrays) but no path.
    Discard,
}

/// How to solve: the backend and its settings, what to keep, and a flag to stop.
#[derive(Debug, Clone, Default)]
pub struct SolveOptions {
    pub backend: Backend,
    /// The GPU adapter: the first whose name contains this (case-insensitive); `None` for
    /// wgpu's high-performance choice.
    pub adapter: Option<String>,
    /// The arithmetic: `None` for the backend's default (the CPU computes in f64, the GPU in
    /// f32). The GPU computes in f64 where the adapter has `SHADER_F64` (else a GPU error);
    /// f32 on the CPU is an input error.
    pub precision: Option<Precision>,
    /// CPU threads; `None` for all cores.
    pub threads: Option<usize>,
    /// `equilibrium` scheme: which value slices to keep.
    pub save_values: SaveValues,
    /// Which action slices a folder output (or [`Run::save`]) writes to policy.npy. The path
    /// is computed from every slice whatever this says.
    pub save_policy: SavePolicy,
    pub output: Output,
    /// Set it (from another thread) to stop the solve between time steps.
    pub cancel: Cancel,
    /// For a folder output that another run is writing: wait for it, rather than fail.
    pub wait: bool,
}

/// The backend a [`Backend`] resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    Cpu = 0,
    Gpu = 1,
}

impl Resolved {
    pub fn name(self) -> &'static str {
        match self {
            Resolved::Cpu => "cpu",
            Resolved::Gpu => "gpu",
        }
    }
}

/// Solves scenarios. Build one and reuse it: it keeps the GPU contexts and compiled pipelines
/// it opened.
#[derive(Default)]
pub struct Solver {
    gpus: Mutex<Vec<(Option<String>, Arc<GpuSolvers>)>>,
    hardware_adapter: Mutex<Option<bool>>,
}

/// One adapter's context and each scheme's pipelines per precision, built when first needed.
pub struct GpuSolvers {
    pub ctx: GpuContext,
    /// Indexed by [`precision_slot`].
    notebook: [Mutex<Option<Arc<NotebookGpu>>>; 2],
    equilibrium: [Mutex<Option<Arc<EquilibriumGpu>>>; 2],
}

fn precision_slot(p: Precision) -> usize {
    match p {
        Precision::F32 => 0,
        Precision::F64 => 1,
    }
}

impl GpuSolvers {
    fn new(ctx: GpuContext) -> Self {
        GpuSolvers {
            ctx,
            notebook: Default::default(),
            equilibrium: Default::default(),
        }
    }

    /// The `notebook` scheme's pipelines in `precision`.
    pub fn notebook(&self, precision: Precision) -> Result<Arc<NotebookGpu>, Error> {
        cached(&self.notebook[precision_slot(precision)], || {
            NotebookGpu::new(&self.ctx, precision)
        })
    }

    /// The `equilibrium` scheme's pipeline in `precision`.
    pub fn equilibrium(&self, precision: Precision) -> Result<Arc<EquilibriumGpu>, Error> {
        cached(&self.equilibrium[precision_slot(precision)], || {
            EquilibriumGpu::new(&self.ctx, precision)
        })
    }

    fn info(&self, precision: Precision) -> BackendInfo {
        BackendInfo {
            backend: "gpu".into(),
            device: self.ctx.info.name.clone(),
            device_type: device_type(self.ctx.info.device_type).into(),
            precision,
        }
    }
}

/// Refuses a scenario whose payoffs could overflow the backend's precision (f64 is checked
/// with the scenario itself; f32 here, for the GPU).
fn check_range(scenario: &Scenario, backend: &BackendInfo) -> Result<(), Error> {
    if backend.precision != Precision::F32 {
        return Ok(());
    }
    let (bound, cause) = scenario.payoff_bound();
    if bound <= crate::config::F32_PAYOFF_LIMIT {
        return Ok(());
    }
    Err(Error::Input(format!(
        "{cause}: payoffs could reach {bound:.1e}, beyond what the GPU's f32 holds (|payoff| ≤ {:e}); solve on the CPU (f64), or lower them",
        crate::config::F32_PAYOFF_LIMIT
    )))
}

/// The value in `slot`, built by `build` the first time.
fn cached<T>(
    slot: &Mutex<Option<Arc<T>>>,
    build: impl FnOnce() -> Result<T, Error>,
) -> Result<Arc<T>, Error> {
    let mut slot = slot.lock().map_err(|_| poisoned())?;
    if let Some(v) = slot.as_ref() {
        return Ok(v.clone());
    }
    let v = Arc::new(build()?);
    *slot = Some(v.clone());
    Ok(v)
}

fn poisoned() -> Error {
    Error::Internal("a solver's cache was poisoned by an earlier panic".into())
}

/// The device a solve runs on, resolved from its options.
enum Device {
    Cpu { threads: usize },
    Gpu(Arc<GpuSolvers>, Precision),
}

impl Device {
    /// Bytes of one value in the device's precision.
    fn value_bytes(&self) -> u64 {
        match self {
            Device::Cpu { .. } => 8,
            Device::Gpu(_, precision) => precision.bytes(),
        }
    }

    fn info(&self) -> BackendInfo {
        match self {
            Device::Cpu { threads } => BackendInfo {
                backend: "cpu".into(),
                device: match crate::cpu::isa::Isa::selected() {
                    Ok(isa) => format!("{threads} threads, {}", isa.name()),
                    Err(_) => format!("{threads} threads"),
                },
                device_type: "cpu".into(),
                precision: Precision::F64,
            },
            Device::Gpu(g, precision) => g.info(*precision),
        }
    }
}

impl Solver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Solves `scenario`; see [`SolveOptions`] for what is kept and where.
    pub fn solve(
        &self,
        scenario: &Scenario,
        options: &SolveOptions,
        observer: &mut dyn Observer,
    ) -> Result<Run, Error> {
        let device = self.device(options)?;
        let info = device.info();

        check_range(scenario, &info)?;
        let folder = match &options.output {
            Output::Folder(dir) => {
                crate::io::check_output_dir(dir)?;
                self.check(scenario, options)?;
                Some(FolderWrite::begin(dir, options.wait)?)
            }
            _ => None,
        };
        let run = match scenario.solver.scheme {
            Scheme::Notebook => notebook::solve(scenario, options, &device, info, observer),
            Scheme::Equilibrium => equilibrium::solve(scenario, options, &device, info, observer),
        }?;
        if let Some(folder) = folder {
            folder.finish(&run.files)?;
        }
        Ok(run)
    }

    /// The checks [`Solver::solve`] makes before it allocates anything, without solving: that
    /// the run fits in memory, on disk (for a folder output) and in the GPU's bindings. Tools
    /// that run several solves call it first, so that an oversized grid fails at once.
    pub fn check(&self, scenario: &Scenario, options: &SolveOptions) -> Result<(), Error> {
        let device = self.device(options)?;
        match scenario.solver.scheme {
            Scheme::Notebook => notebook::check(scenario, &device),
            Scheme::Equilibrium => equilibrium::check_fits(scenario, options, &device),
        }
    }

    /// What `backend` resolves to on this machine: `Auto` is the GPU when a hardware adapter
    /// is present (looked up once per solver).
    pub fn resolve(&self, backend: Backend) -> Result<Resolved, Error> {
        Ok(match backend {
            Backend::Cpu => Resolved::Cpu,
            Backend::Gpu => Resolved::Gpu,
            Backend::Auto => {
                let mut known = self.hardware_adapter.lock().map_err(|_| poisoned())?;
                if *known.get_or_insert_with(hardware_adapter_present) {
                    Resolved::Gpu
                } else {
                    Resolved::Cpu
                }
            }
        })
    }

    /// The GPU context and pipelines for `adapter`, opened on first use.
    pub fn gpu(&self, adapter: Option<&str>) -> Result<Arc<GpuSolvers>, Error> {
        let mut gpus = self.gpus.lock().map_err(|_| poisoned())?;
        let key = adapter.map(str::to_string);
        if let Some((_, g)) = gpus.iter().find(|(k, _)| *k == key) {
            return Ok(g.clone());
        }
        let g = Arc::new(GpuSolvers::new(GpuContext::new(adapter)?));
        gpus.push((key, g.clone()));
        Ok(g)
    }

    fn device(&self, options: &SolveOptions) -> Result<Device, Error> {
        Ok(match self.resolve(options.backend)? {
            Resolved::Cpu if options.precision == Some(Precision::F32) => {
                return Err(Error::Input(
                    "precision f32: the CPU backend computes in f64 only (f32 is for the GPU)"
                        .into(),
                ))
            }
            Resolved::Cpu => {
                // A bad MMGAME_CPU_ISA is an input error for every CPU solve.
                crate::cpu::isa::Isa::selected()?;
                Device::Cpu {
                    threads: match options.threads {
                        Some(0) => {
                            return Err(Error::Input(
                                "threads = 0: give at least one thread".into(),
                            ))
                        }
                        Some(n) => n,
                        None => team::default_threads(),
                    },
                }
            }
            Resolved::Gpu => {
                let gpu = self.gpu(options.adapter.as_deref())?;
                let precision = options.precision.unwrap_or(Precision::F32);
                gpu.ctx.check_precision(precision)?;
                Device::Gpu(gpu, precision)
            }
        })
    }
}

/// The files a folder output holds, in the order they are listed in summary.json.
pub fn run_files(policy: SavePolicy) -> Vec<String> {
    ["values.npy", "policy.npy", "path.csv", "summary.json"]
        .into_iter()
        .filter(|f| policy != SavePolicy::None || *f != "policy.npy")
        .map(String::from)
        .collect()
}
