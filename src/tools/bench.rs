//! `mmgame bench`: the throughput of a scheme on the CPU and on the GPU over a few grids, with
//! each device's measured copy bandwidth and the share of the bandwidth bound each run reaches.
//!
//! Every (grid, backend) gets one warm-up solve and then `runs` timed solves. The report gives
//! the median and the spread (min–max) of the solve time and of the cell updates per second
//! (docs/model.md: fee_points · stake_points² · (time_points − 1) · iterations, counted from the
//! iterations actually run). The solver is told to run exactly [`BENCH_ITERATIONS`]
//! iterations: with tolerance 0 no policy change is ever below the tolerance, so every run of a
//! grid does the same work whether or not the policy has settled.
//!
//! What a timed solve contains: on the CPU, the solver call (tables, arrays and iterations); on
//! the GPU, the solver call with the context and the pipelines built beforehand, that is buffer
//! creation and upload, every iteration's submission and policy-change readback, and the final
//! readback of values and actions: from the first submission to the last result on the host.
//!
//! Every timed solve goes through [`crate::api::Solver::solve`] ([`time_solve`]), with the
//! same fit checks as any other solve; a scheme's work per cell update is counted in
//! [`work_per_update`]. The criterion benches (`benches/notebook.rs`) use the same functions.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Instant;

use crate::api::{Backend, Output, Precision, Resolved, Silent, SolveOptions, Solver};
use crate::config::{Scenario, Scheme};
use crate::error::Error;
use crate::gpu::context::{device_type, GpuContext};
use crate::io::csv::{write_bench, BenchRow};
use crate::resources::{available_memory, check_memory};
use crate::scheme::GpuKernel;
use crate::team;

/// Policy iterations per benchmarked solve (the notebook's `max_iter`).
pub const BENCH_ITERATIONS: i64 = 10;

/// Timed runs per (grid, backend) unless `--runs` says otherwise.
pub const DEFAULT_RUNS: usize = 5;

/// The most timed runs per (grid, backend). Each run is a whole solve (seconds on the larger
/// grids) and every run's time is kept, so a thousand is already hours of measuring; above it
/// a mistyped figure would allocate gigabytes before the first solve.
pub const MAX_RUNS: usize = 1000;

/// Grids `mmgame bench` times when `--grid` is not given: the default scenario's, the README's
/// performance grid, and a finer one; all of them finish within a few minutes on 2 cores.
pub const DEFAULT_GRIDS: [GridSize; 3] = [
    GridSize::new(15, 15, 5),
    GridSize::new(31, 61, 9),
    GridSize::new(41, 121, 9),
];

/// Bytes each copy-bandwidth test copies: far beyond any cache, within every adapter's
/// `max_buffer_size` we know of (the GPU test takes the smaller of the two).
pub const COPY_BYTES: u64 = 512 << 20;

/// Copies per GPU submission in the bandwidth test, so that the submission's latency (tens of
/// microseconds) is small beside the copies on a fast GPU (a 512 MiB copy takes ~0.4 ms there).
pub const GPU_COPIES_PER_SUBMISSION: u32 = 4;

/// The file `mmgame bench` writes into `--out`.
pub const CSV_FILE: &str = "bench.csv";

/// A grid's size: fee × stake² × time points, written `31x61x9` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GridSize {
    pub fee_points: usize,
    pub stake_points: usize,
    pub time_points: usize,
}

impl GridSize {
    pub const fn new(fee_points: usize, stake_points: usize, time_points: usize) -> Self {
        GridSize {
            fee_points,
            stake_points,
            time_points,
        }
    }

    /// Cell updates of one iteration over this grid (docs/model.md).
    pub fn cell_updates_per_iteration(&self) -> f64 {
        (self.fee_points * self.stake_points * self.stake_points) as f64
            * self.time_points.saturating_sub(1) as f64
    }

    /// `15×15²×5`, for tables and bench names.
    pub fn pretty(&self) -> String {
        format!(
            "{}×{}²×{}",
            self.fee_points, self.stake_points, self.time_points
        )
    }
}

impl fmt::Display for GridSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}x{}x{}",
            self.fee_points, self.stake_points, self.time_points
        )
    }
}

impl FromStr for GridSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?}: expected FEExSTAKExTIME points, such as 31x61x9");
        let parts: Vec<&str> = s.split(['x', 'X', '×']).collect();
        let [f, st, t] = parts[..] else {
            return Err(bad());
        };
        let n = |p: &str| p.trim().parse::<usize>().map_err(|_| bad());
        Ok(GridSize::new(n(f)?, n(st)?, n(t)?))
    }
}

/// `--scheme`: a scheme by its scenario-file name (`notebook`, `equilibrium`).
pub fn parse_scheme(s: &str) -> Result<Scheme, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|e| e.to_string())
}

/// The scenario a benchmark solves: the default (the notebook's) on `grid`, with `scheme` and
/// exactly [`BENCH_ITERATIONS`] iterations.
pub fn scenario(scheme: Scheme, grid: GridSize) -> Result<Scenario, Error> {
    let sets = [
        format!("solver.scheme={}", scheme.name()),
        format!("solver.max_iterations={BENCH_ITERATIONS}"),
        "solver.tolerance=0.0".to_string(),
        format!("grid.fee_points={}", grid.fee_points),
        format!("grid.stake_points={}", grid.stake_points),
        format!("grid.time_points={}", grid.time_points),
    ];
    Scenario::load(None, &sets).map_err(|e| match e {
        Error::Input(m) => Error::Input(format!("--grid {grid}: {m}")),
        e => e,
    })
}

/// One timed solve.
#[derive(Debug, Clone, Copy)]
pub struct Timed {
    /// Seconds of the solver call alone (`Run::solve_seconds`: no file is written).
    pub seconds: f64,
    pub cell_updates: f64,
    pub iterations: usize,
    /// Where a GPU `equilibrium` sweep's time went.
    pub split: Option<crate::scheme::GpuTimeSplit>,
}

/// What a timed solve asks for: `backend`, nothing kept.
fn options(backend: Resolved, adapter: Option<&str>) -> SolveOptions {
    SolveOptions {
        backend: match backend {
            Resolved::Cpu => Backend::Cpu,
            Resolved::Gpu => Backend::Gpu,
        },
        adapter: adapter.map(str::to_string),
        output: Output::Discard,
        ..Default::default()
    }
}

/// Solves `scenario` once on `backend` through `solver`, keeping nothing but the timing: the
/// `equilibrium` scheme's policy is dropped as it is computed, the `notebook` scheme's arrays
/// are read back (on the GPU) but not written. On the GPU the solver call returns only once
/// the device has finished and the results are on the host.
pub fn time_solve(
    solver: &Solver,
    scenario: &Scenario,
    backend: Resolved,
    adapter: Option<&str>,
) -> Result<Timed, Error> {
    time_solve_in(solver, scenario, backend, adapter, None)
}

/// [`time_solve`] in `precision` (`None`: the backend's default).
pub fn time_solve_in(
    solver: &Solver,
    scenario: &Scenario,
    backend: Resolved,
    adapter: Option<&str>,
    precision: Option<Precision>,
) -> Result<Timed, Error> {
    let options = SolveOptions {
        precision,
        ..options(backend, adapter)
    };
    let run = solver.solve(scenario, &options, &mut Silent)?;
    Ok(Timed {
        seconds: run.solve_seconds,
        cell_updates: run.cell_updates,
        iterations: run.iterations(),
        split: run.equilibrium().and_then(|e| e.gpu_time_split),
    })
}

/// What one cell update asks of the memory and the arithmetic units, counted from the kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Work {
    /// Bytes loaded from and stored to the grid-sized arrays (values and actions). These are
    /// the bytes that must stream through main memory on a large grid; the bandwidth bound
    /// and the efficiency use them.
    pub array_bytes: u64,
    /// Bytes loaded from the small per-solve and per-row tables (transition and gain tables,
    /// a few KiB to a few hundred KiB), which stay in the caches. Shown, not used for bounds.
    pub table_bytes: u64,
    /// Floating-point operations (+, −, ×, ÷, min, max, exp and comparisons, each counted 1).
    pub flops: u64,
}

/// The work of one cell update of `scheme` on `backend`, counted load by load from the kernels.
///
/// `notebook` on the CPU (`step_row` in src/cpu/notebook.rs; f64 values, u8 actions):
///
/// | kernel | grid arrays | tables | flops |
/// |---|---|---|---|
/// | read a0, a1 | 2 × 1 B | | |
/// | `evaluate_cell` | v_old[t+1] at one node, both agents: 2 × 8 B; store v_new[t]: 2 × 8 B | node offsets 8 + 8 + 4 B; per gain fee_gain, stake_factor, holding: 2 × 24 B | 2 × (× − +) = 6 |
/// | `best_response_cell`, agent 0 | v_new[t+1] at 3 stepped nodes: 3 × 8 B | 3 × (20 + 24) B | 3 × 3 + 2 comparisons = 11 |
/// | `best_response_cell`, agent 1 | 3 × 8 B | 3 × (20 + 24) B | 11 |
/// | store a0, a1; policy change | 2 × 1 B | action_change: 2 × 8 B | |
///
/// Total: 84 B of grid arrays, 348 B of tables, 28 flops (plus about 35 integer operations
/// for node offsets and pair indices). The compulsory traffic is lower, 2 + 16 + 16 + 8 + 8 + 2
/// = 52 B, as the three stepped nodes of a best response are neighbours in the cache.
///
/// `notebook` on the GPU (`shaders/notebook_step.wgsl`, the fused kernel, one dispatch per
/// time step; values in the kernels' precision, r = 4 or 8 bytes, u32 actions). Every gain
/// reads the host's tables (`gain_dt` in common.wgsl: fee gain × stake factor − holding, 2
/// flops, 3 reals), as on the CPU, so the arithmetic is the CPU's: 28 flops. (Before the
/// tables the GPU evaluated φ, ψ and the discounting per gain: 220 flops, 8 of them exp and 24
/// divisions.)
///
/// | part | grid arrays | tables | flops |
/// |---|---|---|---|
/// | actions | read a0, a1 once and store them: 4 × 4 B | | |
/// | `evaluate_state` | v_old_next at one node, both agents: 2r; store v_new: 2r | 3 node indices 12 B, 2 gains × 3r | 2 × 3 = 6 |
/// | `best_response_state`, agent 0 | v_new_next at 3 stepped nodes: 3r | 3 × (12 B + 3r) | 3 × 3 + 2 comparisons = 11 |
/// | `best_response_state`, agent 1 | 3r | 3 × (12 B + 3r) | 11 |
/// | policy change | | action_change: 2 × 4 B | |
///
/// The separate kernels, used where an adapter allows fewer than 11 storage buffers per stage,
/// read the actions three times.
pub fn work_per_update(
    scheme: Scheme,
    backend: Resolved,
    precision: Precision,
) -> Result<Work, Error> {
    let r = precision.bytes();
    match (scheme, backend) {
        (Scheme::Notebook, Resolved::Cpu) => Ok(Work {
            array_bytes: 2 + (16 + 16) + 24 + 24 + 2,
            table_bytes: (20 + 2 * 24) + 2 * 3 * (20 + 24) + 16,
            flops: 6 + 11 + 11,
        }),
        (Scheme::Notebook, Resolved::Gpu) => Ok(Work {
            array_bytes: 16 + 4 * r + 2 * 3 * r,
            table_bytes: (12 + 2 * 3 * r) + 2 * 3 * (12 + 3 * r) + 8,
            flops: 6 + 11 + 11,
        }),
        // One sweep step at a state, as the stencils do it (src/cpu/stencil.rs): V(t+1) of
        // both agents (8 B each, compulsory), both values stored (2 × 8 B) and both actions
        // (2 × 1 B). Cached reads: the state's six line values (2 agents × 3 controls: two
        // V(t+1) loads and a weight each, 6 × 24 B), then per pair and agent four line values
        // and a stake factor (18 × 5 × 8 B) and agent 1's holding cost (9 × 8 B). Flops: a
        // line value 4 (1 − w, two ×, +): 6 × 4 = 24; a payoff 12 (three blends of 2 × and
        // 1 +, the gain × −, the sum): 18 × 12 = 216; the stage game (largest |U| 36, τ 1,
        // best replies 18, e, sums and least e 45, candidate sums 36, the backward walk 54,
        // ambiguity and exploitability 13, action codes 5, diagnostics 8): 216.
        (Scheme::Equilibrium, Resolved::Cpu) => Ok(Work {
            array_bytes: 16 + 16 + 2,
            table_bytes: 6 * 24 + 18 * 5 * 8 + 9 * 8,
            flops: 24 + 216 + 216,
        }),
        (Scheme::Equilibrium, Resolved::Gpu) => Ok(equilibrium_gpu_work(
            crate::gpu::equilibrium::kernel_wanted()?,
            precision,
        )),
    }
}

/// The work of one cell update of the GPU's `equilibrium` kernels (values r bytes, the two
/// actions one byte: a pair code, four to a word). Both read each gain from the host's
/// tables as the CPU does (2 flops).
///
/// Per state (`equilibrium_corners.wgsl`): V(t+1) of both agents (2r, compulsory; the
/// eight corners of every payoff are cached reads), both values and the pair code stored:
/// 4r + 1 B. Per pair, the six bracket nodes and three weights; per pair and agent, the
/// eight corners and the gain's three reals. Flops: 18 × (2 + 21 + 1) + 70 = 502.
///
/// Stencils (`equilibrium_stencil.wgsl`): `equilibrium_lines` reads V(t+1) (2r) and stores
/// six line values (6r); `equilibrium_step` reads them back (6r, compulsory: the line
/// slices do not fit in any cache on a large grid), stores both values and the pair code:
/// 16r + 1 B. Cached: per control, the stake1 bracket (2 × 4 B, r); per pair, four bracket
/// nodes (fee and stake0), two weights and both gains (2 × 3r); per pair and agent, four line
/// values. Flops: six lines × 4 (1 − w, two ×, +), per pair and agent two blends (8), the
/// gain (2) and the sum (1), and the stage game's 70: 24 + 18 × 11 + 70 = 292. It moves
/// four times the bytes through device memory for 58% of the arithmetic and half the loads.
pub fn equilibrium_gpu_work(kernel: GpuKernel, precision: Precision) -> Work {
    let r = precision.bytes();
    match kernel {
        GpuKernel::PerState => Work {
            array_bytes: 2 * r + 2 * r + 1,
            table_bytes: 9 * 2 * 8 * r + 9 * (3 * r + 6 * 4 + 2 * 3 * r),
            flops: 18 * (2 + 21 + 1) + 70,
        },
        GpuKernel::Stencil => Work {
            array_bytes: 2 * r + 6 * r + 6 * r + 2 * r + 1,
            table_bytes: 3 * (2 * 4 + r) + 9 * (4 * 4 + 2 * r + 2 * 3 * r) + 18 * 4 * r,
            flops: 6 * 4 + 18 * (8 + 2 + 1) + 70,
        },
    }
}

/// Median, minimum and maximum of some measurements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// The spread of `xs`, which must not be empty.
    pub fn of(xs: &[f64]) -> Spread {
        let mut v = xs.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Spread {
            median,
            min: v[0],
            max: v[n - 1],
        }
    }

    /// `total / x` for each of the three (a rate from times: min and max swap).
    pub fn rate(&self, total: f64) -> Spread {
        Spread {
            median: total / self.median,
            min: total / self.max,
            max: total / self.min,
        }
    }
}

/// One warm-up call of `f`, then `runs` timed calls; returns the seconds of the timed calls
/// and the last call's result. `f` measures its own seconds, so that set-up it does before
/// the timed region is left out.
pub fn measure<R>(
    runs: usize,
    mut f: impl FnMut() -> Result<(f64, R), Error>,
) -> Result<(Vec<f64>, R), Error> {
    let (_, mut last) = f()?;
    let mut seconds = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let (s, r) = f()?;
        seconds.push(s);
        last = r;
    }
    Ok((seconds, last))
}

/// A measured copy bandwidth: bytes read plus bytes written per second, as STREAM's "copy".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bandwidth {
    /// Bytes each copy moves from source to destination.
    pub copy_bytes: u64,
    /// Copies per timed run.
    pub copies: u32,
    /// Read + written bytes per second, over the timed runs (median, min, max).
    pub bytes_per_second: Spread,
}

/// The CPU's copy bandwidth: `copy_bytes` copied between two buffers by the solver's thread
/// team (`team::fill`, one contiguous share per thread, `copy_from_slice`, i.e. memcpy), one
/// warm-up then `runs` timed copies. Both buffers are written before the warm-up, so no run
/// pays for page faults.
pub fn cpu_copy_bandwidth(
    copy_bytes: u64,
    runs: usize,
    threads: usize,
) -> Result<Bandwidth, Error> {
    // On a machine short of memory, a smaller copy (a quarter of what is available, still far
    // beyond the caches) rather than a refusal.
    let copy_bytes = copy_bytes.min(available_memory().map_or(u64::MAX, |m| m / 4));
    check_memory("the CPU copy-bandwidth test", copy_bytes.saturating_mul(2))?;
    let len = copy_bytes as usize / 8;
    let src = vec![1u64; len];
    let mut dst = vec![2u64; len];
    let (seconds, ()) = measure(runs, || {
        let start = Instant::now();
        team::fill(threads, &mut dst, |at, chunk| {
            chunk.copy_from_slice(&src[at..at + chunk.len()])
        })?;
        Ok((start.elapsed().as_secs_f64(), ()))
    })?;
    std::hint::black_box(&dst);
    let bytes = (len * 8) as u64;
    Ok(Bandwidth {
        copy_bytes: bytes,
        copies: 1,
        bytes_per_second: Spread::of(&seconds).rate(2.0 * bytes as f64),
    })
}

/// The GPU's copy bandwidth: [`GPU_COPIES_PER_SUBMISSION`] `copy_buffer_to_buffer`s of up to
/// `copy_bytes` (within the adapter's `max_buffer_size`) in one submission, timed from
/// encoding to the device's completion; one warm-up (which also pays wgpu's zero-fill of the
/// source) then `runs` timed submissions.
pub fn gpu_copy_bandwidth(
    ctx: &GpuContext,
    copy_bytes: u64,
    runs: usize,
) -> Result<Bandwidth, Error> {
    let size = copy_bytes.min(ctx.limits.max_buffer_size) / wgpu::COPY_BUFFER_ALIGNMENT
        * wgpu::COPY_BUFFER_ALIGNMENT;
    ctx.checked("the GPU copy-bandwidth test", || {
        let buffer = |label: &str, usage| {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage,
                mapped_at_creation: false,
            })
        };
        let src = buffer("copy source", wgpu::BufferUsages::COPY_SRC);
        let dst = buffer("copy destination", wgpu::BufferUsages::COPY_DST);
        let (seconds, ()) = measure(runs, || {
            let start = Instant::now();
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            for _ in 0..GPU_COPIES_PER_SUBMISSION {
                encoder.copy_buffer_to_buffer(&src, 0, &dst, 0, size);
            }
            ctx.queue.submit([encoder.finish()]);
            ctx.wait()?;
            Ok((start.elapsed().as_secs_f64(), ()))
        })?;
        let moved = 2.0 * size as f64 * GPU_COPIES_PER_SUBMISSION as f64;
        Ok(Bandwidth {
            copy_bytes: size,
            copies: GPU_COPIES_PER_SUBMISSION,
            bytes_per_second: Spread::of(&seconds).rate(moved),
        })
    })?
}

/// Where `mmgame bench` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backends {
    Cpu,
    Gpu,
    /// The CPU, and the GPU when an adapter is present.
    Both,
}

/// What `mmgame bench` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub scheme: Scheme,
    pub backends: Backends,
    /// Empty: [`DEFAULT_GRIDS`].
    pub grids: Vec<GridSize>,
    pub runs: usize,
    pub out: PathBuf,
    pub adapter: Option<String>,
    /// The GPU's precisions to time; empty: f32, and f64 where the adapter has it.
    pub precisions: Vec<Precision>,
}

/// One device as the report shows it.
#[derive(Debug, Clone)]
pub struct Device {
    pub backend: Resolved,
    /// The arithmetic its solves run in.
    pub precision: Precision,
    pub name: String,
    pub threads: Option<usize>,
    /// The instruction set of the CPU kernels (`MMGAME_CPU_ISA` caps it).
    pub isa: Option<crate::cpu::isa::Isa>,
    pub work: Work,
    pub bandwidth: Bandwidth,
}

impl Device {
    /// Cell updates per second if every update moved only its grid-array bytes at the
    /// measured copy bandwidth.
    pub fn bound(&self) -> f64 {
        self.bound_of(&self.work)
    }

    /// The same for a kernel that does `work` per cell update.
    pub fn bound_of(&self, work: &Work) -> f64 {
        self.bandwidth.bytes_per_second.median / work.array_bytes as f64
    }
}

/// One (grid, backend) measurement.
#[derive(Debug, Clone)]
pub struct Row {
    pub grid: GridSize,
    /// Index into the report's devices.
    pub device: usize,
    pub iterations: usize,
    pub cell_updates: f64,
    pub runs: usize,
    pub seconds: Spread,
    pub rate: Spread,
    /// GPU/CPU cell-update rate on this grid, when both ran.
    pub ratio: Option<f64>,
    /// A GPU `equilibrium` run's time split (the last timed run).
    pub split: Option<crate::scheme::GpuTimeSplit>,
}

impl Row {
    /// The work of one cell update as this grid ran: a GPU `equilibrium` grid's is that of
    /// the kernel its split names (a grid whose line slices exceed a binding runs per state).
    pub fn work(&self, d: &Device) -> Work {
        match self.split {
            Some(s) => equilibrium_gpu_work(s.kernel, d.precision),
            None => d.work,
        }
    }

    /// Cell updates per second at the device's copy bandwidth, for this grid's kernel.
    pub fn bound(&self, d: &Device) -> f64 {
        d.bound_of(&self.work(d))
    }

    /// Seconds of this grid's solve at the device's bandwidth bound.
    pub fn bound_seconds(&self, d: &Device) -> f64 {
        self.cell_updates / self.bound(d)
    }
}

/// What `mmgame bench` measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub scheme: Scheme,
    pub runs: usize,
    pub devices: Vec<Device>,
    pub rows: Vec<Row>,
    /// Each grid on the reference devices (f32 kernels at their bounds).
    pub projections: Vec<super::projection::GridProjection>,
    /// bench.csv.
    pub csv: PathBuf,
}

/// Each of `opts`'s grids (checked as for a timed run, but nothing is solved) projected on the
/// reference devices in the first `--precision` (f32 by default) with the bench's
/// iterations: `mmgame bench --project`.
pub fn projections(opts: &Options) -> Result<Vec<super::projection::GridProjection>, Error> {
    let grids = if opts.grids.is_empty() {
        DEFAULT_GRIDS.to_vec()
    } else {
        opts.grids.clone()
    };
    let iterations = match opts.scheme {
        Scheme::Notebook => BENCH_ITERATIONS as usize,
        Scheme::Equilibrium => 1,
    };
    grids
        .iter()
        .map(|&g| {
            scenario(opts.scheme, g)?;
            let precision = opts.precisions.first().copied().unwrap_or(Precision::F32);
            super::projection::project(opts.scheme, g, precision, iterations)
        })
        .collect()
}

/// What a benchmark reports as it goes.
pub enum Progress<'a> {
    /// The GPU was asked for with the CPU (`Both`) but cannot be used: skipped.
    GpuSkipped(&'a Error),
    /// A device is ready, its bandwidth measured.
    Device(&'a Device),
    /// A grid was measured on a device.
    Measured(&'a Row, &'a Device),
}

/// The CPU's model name (Linux), or "cpu".
fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| "cpu".to_string())
}

/// The devices `opts` asks for, each with its copy bandwidth measured.
fn devices(
    solver: &Solver,
    opts: &Options,
    runs: usize,
    on: &mut impl FnMut(Progress),
) -> Result<Vec<Device>, Error> {
    let mut devices = Vec::new();
    if opts.backends != Backends::Gpu {
        let threads = team::default_threads();
        devices.push(Device {
            backend: Resolved::Cpu,
            precision: Precision::F64,
            name: cpu_name(),
            threads: Some(threads),
            isa: Some(crate::cpu::isa::Isa::selected()?),
            work: work_per_update(opts.scheme, Resolved::Cpu, Precision::F64)?,
            bandwidth: cpu_copy_bandwidth(COPY_BYTES, runs, threads)?,
        });
        on(Progress::Device(&devices[devices.len() - 1]));
    }
    if opts.backends != Backends::Cpu {
        let ctx = match solver.gpu(opts.adapter.as_deref()) {
            Ok(gpu) => gpu.ctx.clone(),
            Err(e) if opts.backends == Backends::Both => {
                on(Progress::GpuSkipped(&e));
                return Ok(devices);
            }
            Err(e) => return Err(e),
        };
        let precisions = if opts.precisions.is_empty() {
            let f64_too = ctx.check_precision(Precision::F64).is_ok();
            [Precision::F32, Precision::F64][..1 + f64_too as usize].to_vec()
        } else {
            opts.precisions.clone()
        };
        let bandwidth = gpu_copy_bandwidth(&ctx, COPY_BYTES, runs)?;
        for precision in precisions {
            ctx.check_precision(precision)?;
            devices.push(Device {
                backend: Resolved::Gpu,
                precision,
                name: format!(
                    "{} ({}, {}, {})",
                    ctx.info.name,
                    device_type(ctx.info.device_type),
                    format!("{:?}", ctx.info.backend).to_lowercase(),
                    precision.name()
                ),
                threads: None,
                isa: None,
                work: work_per_update(opts.scheme, Resolved::Gpu, precision)?,
                bandwidth,
            });
            on(Progress::Device(&devices[devices.len() - 1]));
        }
    }
    Ok(devices)
}

/// `mmgame bench`: every grid on every device, then bench.csv in `opts.out`.
pub fn run(solver: &Solver, opts: &Options, mut on: impl FnMut(Progress)) -> Result<Report, Error> {
    if opts.runs > MAX_RUNS {
        return Err(Error::Input(format!(
            "--runs {}: above the limit of {MAX_RUNS} timed runs per grid and backend (each \
             run is a whole solve)",
            opts.runs
        )));
    }
    let grids = if opts.grids.is_empty() {
        DEFAULT_GRIDS.to_vec()
    } else {
        opts.grids.clone()
    };
    // Every grid's scenario is checked before any work, so bad input fails at once.
    let scenarios = grids
        .iter()
        .map(|&g| scenario(opts.scheme, g))
        .collect::<Result<Vec<_>, _>>()?;
    crate::io::check_output_dir(&opts.out)?;
    // Every grid is checked on the CPU (and, when asked for, the GPU) before the devices'
    // bandwidth is measured, so an oversized grid fails at once.
    for s in &scenarios {
        if opts.backends != Backends::Gpu {
            solver.check(s, &options(Resolved::Cpu, None))?;
        }
    }
    let runs = opts.runs.max(1);
    let devices = devices(solver, opts, runs, &mut on)?;

    let mut rows = Vec::new();
    for (&grid, scenario) in grids.iter().zip(&scenarios) {
        let first = rows.len();
        let mut cpu_rate = None;
        for (i, d) in devices.iter().enumerate() {
            let adapter = opts.adapter.as_deref();
            let precision = (d.backend == Resolved::Gpu).then_some(d.precision);
            let (seconds, last) = measure(runs, || {
                let t = time_solve_in(solver, scenario, d.backend, adapter, precision)?;
                Ok((t.seconds, t))
            })?;
            let seconds = Spread::of(&seconds);
            let row = Row {
                grid,
                device: i,
                iterations: last.iterations,
                cell_updates: last.cell_updates,
                runs,
                rate: seconds.rate(last.cell_updates),
                seconds,
                ratio: None,
                split: last.split,
            };
            if d.backend == Resolved::Cpu {
                cpu_rate = Some(row.rate.median);
            }
            on(Progress::Measured(&row, d));
            rows.push(row);
        }
        // Each GPU row's rate against the CPU's on the same grid.
        if let Some(cpu) = cpu_rate {
            for row in &mut rows[first..] {
                if devices[row.device].backend == Resolved::Gpu {
                    row.ratio = Some(row.rate.median / cpu);
                }
            }
        }
    }
    crate::io::create_output_dir(&opts.out)?;
    let csv = opts.out.join(CSV_FILE);
    write_bench(&csv, &csv_rows(opts.scheme, &devices, &rows))?;
    Ok(Report {
        scheme: opts.scheme,
        runs,
        devices,
        rows,
        projections: projections(opts)?,
        csv,
    })
}

/// The rows of bench.csv.
fn csv_rows(scheme: Scheme, devices: &[Device], rows: &[Row]) -> Vec<BenchRow> {
    rows.iter()
        .map(|r| {
            let d = &devices[r.device];
            let bw = &d.bandwidth;
            let (work, bound) = (r.work(d), r.bound(d));
            BenchRow {
                scheme: scheme.name().to_string(),
                backend: d.backend.name().to_string(),
                device: d.name.clone(),
                threads: d.threads,
                grid: r.grid.to_string(),
                fee_points: r.grid.fee_points,
                stake_points: r.grid.stake_points,
                time_points: r.grid.time_points,
                iterations: r.iterations,
                cell_updates: r.cell_updates,
                runs: r.runs,
                median_s: r.seconds.median,
                min_s: r.seconds.min,
                max_s: r.seconds.max,
                cell_updates_per_s: r.rate.median,
                cell_updates_per_s_min: r.rate.min,
                cell_updates_per_s_max: r.rate.max,
                gpu_cpu_ratio: r.ratio,
                bytes_per_update: work.array_bytes,
                table_bytes_per_update: work.table_bytes,
                flops_per_update: work.flops,
                flops_per_s: r.rate.median * work.flops as f64,
                copy_bytes: bw.copy_bytes * bw.copies as u64,
                copy_bandwidth_bytes_per_s: bw.bytes_per_second.median,
                copy_bandwidth_bytes_per_s_min: bw.bytes_per_second.min,
                bound_cell_updates_per_s: bound,
                efficiency: r.rate.median / bound,
                bound_s: r.bound_seconds(d),
                kernel_s: r.split.map(|s| s.kernel_seconds),
                transfer_s: r.split.map(|s| s.transfer_seconds),
                host_s: r.split.map(|s| s.host_seconds),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_sizes_parse_and_print() {
        let g: GridSize = "31x61x9".parse().unwrap();
        assert_eq!(g, GridSize::new(31, 61, 9));
        assert_eq!(g.to_string(), "31x61x9");
        assert_eq!(g.pretty(), "31×61²×9");
        assert_eq!("31×61×9".parse::<GridSize>().unwrap(), g);
        assert_eq!(g.cell_updates_per_iteration(), 31.0 * 61.0 * 61.0 * 8.0);
        for bad in ["31x61", "31x61x9x2", "ax61x9", "31x-1x9", ""] {
            assert!(bad.parse::<GridSize>().is_err(), "{bad}");
        }
    }

    #[test]
    fn schemes_parse_by_their_scenario_names() {
        assert_eq!(parse_scheme("notebook").unwrap(), Scheme::Notebook);
        assert_eq!(parse_scheme("equilibrium").unwrap(), Scheme::Equilibrium);
        assert!(parse_scheme("fast").is_err());
    }

    #[test]
    fn spreads_and_rates() {
        let s = Spread::of(&[3.0, 1.0, 2.0]);
        assert_eq!(
            s,
            Spread {
                median: 2.0,
                min: 1.0,
                max: 3.0
            }
        );
        assert_eq!(Spread::of(&[4.0, 1.0, 2.0, 3.0]).median, 2.5);
        let r = s.rate(6.0);
        assert_eq!(
            r,
            Spread {
                median: 3.0,
                min: 2.0,
                max: 6.0
            }
        );
    }

    #[test]
    fn bench_scenarios_run_a_fixed_number_of_iterations() {
        let s = scenario(Scheme::Notebook, GridSize::new(15, 15, 5)).unwrap();
        assert_eq!(s.solver.max_iterations, BENCH_ITERATIONS);
        assert_eq!(s.solver.tolerance, 0.0);
        // The default grid converges after 7 iterations; the benchmark still runs all 10.
        let t = time_solve(&Solver::new(), &s, Resolved::Cpu, None).unwrap();
        assert_eq!(t.iterations, BENCH_ITERATIONS as usize);
        assert_eq!(t.cell_updates, 15.0 * 225.0 * 4.0 * 10.0);
        assert!(matches!(
            scenario(Scheme::Notebook, GridSize::new(1, 15, 5)),
            Err(Error::Input(m)) if m.starts_with("--grid 1x15x5: ")
        ));
    }

    #[test]
    fn work_per_update_matches_the_kernel_counts() {
        let cpu = work_per_update(Scheme::Notebook, Resolved::Cpu, Precision::F64).unwrap();
        assert_eq!((cpu.array_bytes, cpu.table_bytes, cpu.flops), (84, 348, 28));
        let gpu = work_per_update(Scheme::Notebook, Resolved::Gpu, Precision::F32).unwrap();
        assert_eq!((gpu.array_bytes, gpu.table_bytes, gpu.flops), (56, 188, 28));
        let wide = work_per_update(Scheme::Notebook, Resolved::Gpu, Precision::F64).unwrap();
        assert_eq!((wide.array_bytes, wide.flops), (96, 28));
        let eq = work_per_update(Scheme::Equilibrium, Resolved::Cpu, Precision::F64).unwrap();
        assert_eq!((eq.array_bytes, eq.table_bytes, eq.flops), (34, 936, 456));
        let corners = equilibrium_gpu_work(GpuKernel::PerState, Precision::F32);
        assert_eq!((corners.array_bytes, corners.flops), (17, 502));
        let stencil = equilibrium_gpu_work(GpuKernel::Stencil, Precision::F32);
        assert_eq!(
            (stencil.array_bytes, stencil.table_bytes, stencil.flops),
            (65, 24 + 12 + 9 * (16 + 32) + 288, 292)
        );
    }
}
