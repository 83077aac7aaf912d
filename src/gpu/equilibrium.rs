//! The `equilibrium` scheme on the GPU (f32, or f64 where the adapter has `SHADER_F64`): per
//! time step, over the whole grid, an `equilibrium_lines` dispatch that blends V(t+1) along
//! stake1 for each agent and each of agent 1's controls (six line slices), then an
//! `equilibrium_step` dispatch that finishes each payoff from four line values and plays the
//! stage game: the stencil design of the CPU solver (`crate::cpu::stencil`), with the same
//! operations in the same order as the per-state kernel, which reads eight corners of V(t+1)
//! per payoff and runs where the stencils do not fit (`EquilibriumGpu::kernel`). Two value
//! slices per agent on the device (ping-pong). The kernel packs
//! each state's two actions into one byte; each step's codes, diagnostics (and values, when the
//! sink wants them) are copied into one of two persistent staging sets in the step's own
//! submission and read while the next step runs, then converted and written on a writer
//! thread. Where the adapter has timestamp queries, the kernel's and the copies' GPU times
//! are measured; otherwise the host clock splits the run (see [`GpuTimeSplit`]).

use std::sync::mpsc;
use std::time::Instant;

use super::context::GpuContext;
use super::layout::{self, Params, Step, ACTION_PACK_SHIFT, DIAGNOSTICS_STRIDE};
use super::notebook::{check_fits, slice_bytes};
use crate::error::Error;
use crate::grid::{ClampedTransitions, Grid, Interpolation};
use crate::grid::{ACTION_CODES, PAIR_CODES};
use crate::model::Game;
use crate::scheme::{
    Cancel, EquilibriumSolution, Event, GpuKernel, GpuTimeSplit, Observer, Precision, SliceValues,
    StepDiagnostics, StepSink, Values,
};

/// The GPU's tie tolerance in f32 (its default precision), relative to max(1, largest |U|) at
/// the state; in f64 it uses the CPU's.
pub const GPU_TIE_TOLERANCE: f64 = Precision::F32.tie_tolerance();

/// The pipelines of a time step in one precision, built once per context and reused for
/// every solve.
pub struct EquilibriumGpu {
    ctx: GpuContext,
    precision: Precision,
    /// Test-only: see [`EquilibriumGpu::with_perturbed_state`].
    perturbed_state: u32,
    /// `equilibrium_step` per state: V(t+1) from eight corners per payoff.
    per_state: wgpu::ComputePipeline,
    /// The stencil kernel, where the adapter allows its storage buffers (and the tests did
    /// not ask for the per-state one).
    stencil: Option<Stencil>,
    max_workgroups_per_dimension: u32,
}

/// The two entry points of the stencil kernel, which share one layout of bindings.
struct Stencil {
    lines: wgpu::ComputePipeline,
    step: wgpu::ComputePipeline,
}

impl EquilibriumGpu {
    /// Solves run as stencils where the adapter allows their storage buffers and the grid's
    /// line slices fit ([`EquilibriumGpu::kernel`]); per state otherwise, or when
    /// `MMGAME_GPU_KERNEL` is `per-state`.
    pub fn new(ctx: &GpuContext, precision: Precision) -> Result<Self, Error> {
        let mut gpu = Self::per_state(ctx, precision)?;
        if kernel_wanted()? == GpuKernel::Stencil
            && ctx.limits.max_storage_buffers_per_shader_stage
                >= layout::storage_buffers(layout::EQUILIBRIUM_STENCIL_BINDINGS)
        {
            let source = || layout::kernel_source(precision, &layout::EQUILIBRIUM_STENCIL_KERNEL);
            let bindings = layout::EQUILIBRIUM_STENCIL_BINDINGS;
            gpu.stencil = Some(Stencil {
                lines: ctx.pipeline("equilibrium_lines", source(), bindings)?,
                step: ctx.pipeline("equilibrium_step", source(), bindings)?,
            });
        }
        Ok(gpu)
    }

    /// Only the per-state kernel (tests and benchmarks compare the two).
    pub fn per_state(ctx: &GpuContext, precision: Precision) -> Result<Self, Error> {
        ctx.check_precision(precision)?;
        Ok(EquilibriumGpu {
            ctx: ctx.clone(),
            precision,
            perturbed_state: layout::NO_STATE,
            per_state: ctx.pipeline(
                "equilibrium_step",
                layout::kernel_source(precision, &layout::EQUILIBRIUM_STEP_KERNEL),
                layout::EQUILIBRIUM_STEP_BINDINGS,
            )?,
            stencil: None,
            max_workgroups_per_dimension: ctx.limits.max_compute_workgroups_per_dimension,
        })
    }

    /// The kernel a solve of `grid` runs: the stencil kernel where it is built and its line
    /// slices fit (`stencil_fits`), the per-state one otherwise.
    pub fn kernel(&self, grid: &Grid) -> GpuKernel {
        let others = tables_bytes(grid, self.precision) + grid.slice_len() as u64;
        let fits = stencil_fits(
            slice_bytes(grid, self.precision),
            self.ctx.binding_limit(),
            others,
            self.ctx.memory.available(),
        );
        if self.stencil.is_some() && fits {
            GpuKernel::Stencil
        } else {
            GpuKernel::PerState
        }
    }

    /// Test-only: agent 0 takes the next control after the selected one at slice state
    /// `state`, at every time step, so that a test can show that validation catches a wrong
    /// kernel and names the state.
    pub fn with_perturbed_state(mut self, state: u32) -> Self {
        self.perturbed_state = state;
        self
    }

    /// Caps the workgroups per dispatch dimension (tests force 2-D dispatches with it).
    pub fn with_max_workgroups_per_dimension(mut self, max: u32) -> Self {
        self.max_workgroups_per_dimension = max.clamp(1, self.max_workgroups_per_dimension);
        self
    }

    /// Runs the sweep, handing each time step to `sink` (on a writer thread, so that its
    /// conversion and disk writes overlap the GPU's next steps); `observer` hears of each time
    /// step, and `cancel` is read between them.
    pub fn solve(
        &self,
        game: &Game,
        grid: &Grid,
        mode: Interpolation,
        sink: &mut (dyn StepSink + Send),
        cancel: &Cancel,
        observer: &mut dyn Observer,
    ) -> Result<EquilibriumSolution, Error> {
        let precision = self.precision;
        check_fits(&self.ctx, grid, precision, tables_bytes(grid, precision))?;
        let start = Instant::now();
        let groups = layout::workgroups(grid.slice_len() as u64, self.max_workgroups_per_dimension);
        let tr = ClampedTransitions::new(game, grid, mode);
        let (mut params, tables) = layout::equilibrium_tables(game, grid, &tr)?;
        params.perturbed_state = self.perturbed_state;
        let values = sink.wants_values();
        let b = self.ctx.checked("setting up the equilibrium sweep", || {
            self.buffers(grid, (&params, &tables), groups, values)
        })?;
        let slice = grid.slice_len();
        let (tx, rx) = mpsc::sync_channel::<StepOut>(1);
        let (swept, written) = std::thread::scope(|scope| {
            let writer = scope.spawn(|| write_steps(sink, rx, slice, cancel));
            let swept = self.sweep(&b, grid, groups, tx, cancel, observer);
            let written = writer
                .join()
                .unwrap_or_else(|_| Err(Error::Internal("the writer thread panicked".into())));
            (swept, written)
        });
        // The writer's error is the cause when the sweep stopped because the writer had.
        let host_seconds = written?;
        let (diagnostics, mut split) = swept?;
        split.host_seconds = host_seconds;
        let value_bytes = slice_bytes(grid, precision);
        let cur = (grid.time.len() - 2) % 2;
        let values_t0 = match precision {
            Precision::F32 => Values::F32(self.read_pair::<f32>(&b.values[cur], value_bytes)?),
            Precision::F64 => Values::F64(self.read_pair::<f64>(&b.values[cur], value_bytes)?),
        };
        Ok(EquilibriumSolution {
            values_t0,
            diagnostics,
            solve_seconds: start.elapsed().as_secs_f64(),
            gpu_time_split: Some(split),
        })
    }

    /// The time steps, t descending, double-buffered: step t is submitted (kernel, then its
    /// outputs copied into staging set k % 2, one submission) before step t + 1's staging set
    /// is waited for and read, so the device computes t while the host reads t + 1 and the
    /// writer thread converts and writes t + 2. At most one wait per step.
    fn sweep(
        &self,
        b: &Buffers,
        grid: &Grid,
        groups: (u32, u32),
        tx: mpsc::SyncSender<StepOut>,
        cancel: &Cancel,
        observer: &mut dyn Observer,
    ) -> Result<(Vec<StepDiagnostics>, GpuTimeSplit), Error> {
        let nt = grid.time.len();
        let mut diagnostics = vec![StepDiagnostics::default(); nt - 1];
        let mut split = GpuTimeSplit::new(b.timestamps.is_some());
        let mut pending: Option<Pending> = None;
        for (k, t) in (0..nt - 1).rev().enumerate() {
            cancel.check()?;
            let next = self.submit(b, groups, k, t);
            if let Some(p) = pending.replace(next) {
                let t = p.t;
                diagnostics[t] = self.collect(b, grid, p, &tx, &mut split)?;
                observer.event(&Event::TimeStep {
                    done: k,
                    total: nt - 1,
                    states: grid.slice_len(),
                });
            }
        }
        if let Some(p) = pending {
            let t = p.t;
            diagnostics[t] = self.collect(b, grid, p, &tx, &mut split)?;
            observer.event(&Event::TimeStep {
                done: nt - 1,
                total: nt - 1,
                states: grid.slice_len(),
            });
        }
        split.steps = nt - 1;
        split.kernel = b.kernel;
        Ok((diagnostics, split))
    }

    /// Encodes and submits time step `t` (the `k`-th): the kernel, then the copies of its
    /// pair codes, diagnostics, values (when the sink wants them) and timestamps into staging
    /// set k % 2, whose mapping is requested at once (it resolves when the submission is done).
    fn submit(&self, b: &Buffers, groups: (u32, u32), k: usize, t: usize) -> Pending {
        let (ctx, set, l) = (&self.ctx, k % 2, &b.layout);
        // Ordered before this submission's commands, after the previous submission's.
        ctx.queue
            .write_buffer(&b.step, 0, bytemuck::bytes_of(&Step::new(t, 0, 0)));
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        {
            let timestamp_writes =
                b.timestamps
                    .as_ref()
                    .map(|q| wgpu::ComputePassTimestampWrites {
                        query_set: &q.set,
                        beginning_of_pass_write_index: Some(0),
                        end_of_pass_write_index: Some(1),
                    });
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("equilibrium_step"),
                timestamp_writes,
            });
            // wgpu orders the dispatches: the lines are written, then read.
            for (pipeline, bind_groups) in &b.dispatches {
                pass.set_pipeline(pipeline);
                pass.set_bind_group(0, &bind_groups[k % 2], &[]);
                pass.dispatch_workgroups(groups.0, groups.1, 1);
            }
        }
        let staging = &b.staging[set];
        encoder.copy_buffer_to_buffer(&b.actions, 0, staging, 0, l.codes);
        encoder.copy_buffer_to_buffer(&b.diagnostics, 0, staging, l.diagnostics_at, l.diagnostics);
        if let Some(at) = l.values_at {
            let cur = &b.values[k % 2];
            encoder.copy_buffer_to_buffer(&cur[0], 0, staging, at, l.value_bytes);
            encoder.copy_buffer_to_buffer(&cur[1], 0, staging, at + l.value_bytes, l.value_bytes);
        }
        if let (Some(q), Some(at)) = (&b.timestamps, l.timestamps_at) {
            // After the copies: the GPU's copy time is the gap from the pass's end.
            encoder.write_timestamp(&q.set, 2);
            encoder.resolve_query_set(&q.set, 0..TIMESTAMPS, &q.resolve, 0);
            encoder.copy_buffer_to_buffer(&q.resolve, 0, staging, at, TIMESTAMPS as u64 * 8);
        }
        let index = ctx.queue.submit([encoder.finish()]);
        let (done, mapped) = mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = done.send(r);
        });
        Pending {
            t,
            set,
            index,
            mapped,
        }
    }

    /// Waits for a submitted step, copies its results out of the staging set (which is then
    /// free for the step after next), sends them to the writer and returns its diagnostics.
    fn collect(
        &self,
        b: &Buffers,
        grid: &Grid,
        p: Pending,
        tx: &mpsc::SyncSender<StepOut>,
        split: &mut GpuTimeSplit,
    ) -> Result<StepDiagnostics, Error> {
        let waited = Instant::now();
        self.ctx
            .device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(p.index),
                timeout: None,
            })
            .map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))?;
        p.mapped
            .recv()
            .map_err(|_| Error::Gpu("the GPU never answered a readback".into()))?
            .map_err(|e| Error::Gpu(format!("reading back from the GPU: {e}")))?;
        split.wait_seconds += waited.elapsed().as_secs_f64();
        let read = Instant::now();
        let staging = &b.staging[p.set];
        let (out, diag, stamps) = {
            let view = staging
                .get_mapped_range(..)
                .map_err(|e| Error::Gpu(format!("reading back from the GPU: {e}")))?;
            b.layout
                .unpack(&view, p.t, grid.slice_len(), self.precision)
        };
        staging.unmap();
        split.add_step(
            read.elapsed().as_secs_f64(),
            &stamps,
            self.ctx.queue.get_timestamp_period(),
        );
        // A closed channel: the writer stopped on an error, which `solve` reports.
        tx.send(out)
            .map_err(|_| Error::Internal("the step writer stopped".into()))?;
        Ok(sum_diagnostics(&diag, grid, p.t))
    }

    /// Both agents' slices of one value set, agent 0's first.
    fn read_pair<T: bytemuck::Pod>(
        &self,
        set: &[wgpu::Buffer; 2],
        bytes: u64,
    ) -> Result<Vec<T>, Error> {
        let mut v: Vec<T> = self.ctx.read_buffer(&set[0], bytes)?;
        v.extend(self.ctx.read_buffer::<T>(&set[1], bytes)?);
        Ok(v)
    }

    /// Each step's pipelines in order, each with its bind groups made of `resources(parity)`.
    fn dispatches<'a>(
        &self,
        stencil: Option<&Stencil>,
        resources: impl Fn(usize) -> Vec<&'a wgpu::Buffer>,
    ) -> Vec<(wgpu::ComputePipeline, [wgpu::BindGroup; 2])> {
        let bind = |name: &str, pipeline: &wgpu::ComputePipeline| {
            let groups: [wgpu::BindGroup; 2] = std::array::from_fn(|cur| {
                self.ctx.bind_group(Some(name), pipeline, &resources(cur))
            });
            (pipeline.clone(), groups)
        };
        match stencil {
            Some(k) => vec![
                bind("equilibrium_lines", &k.lines),
                bind("equilibrium_step", &k.step),
            ],
            None => vec![bind("equilibrium_step", &self.per_state)],
        }
    }

    /// The sweep's buffers, its dispatches with their bind groups (one per parity of the step)
    /// and its two staging sets; `values`: whether the sink wants every step's values.
    fn buffers(
        &self,
        grid: &Grid,
        (params, tables): (&Params, &layout::Tables),
        groups: (u32, u32),
        values: bool,
    ) -> Buffers {
        let group_count = groups.0 as u64 * groups.1 as u64;
        let ctx = &self.ctx;
        let init = |label: &str, contents: &[u8], usage| ctx.buffer_init(label, contents, usage);
        let buffer = |label: &str, size: u64, usage| ctx.buffer(label, size, usage);
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        let uniform = wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST;
        let timestamps = ctx.timestamps().then(|| Timestamps::new(ctx));
        let value_bytes = slice_bytes(grid, self.precision);
        let layout = StagingLayout::new(
            grid.slice_len() as u64,
            group_count,
            value_bytes,
            values,
            timestamps.is_some(),
        );
        let params = init("params", bytemuck::bytes_of(params), uniform);
        let step = buffer("step", size_of::<Step>() as u64, uniform);
        let indices = init("indices", bytemuck::cast_slice(&tables.indices), storage);
        let tables = init("tables", &tables.real_bytes(self.precision), storage);
        // values[set][agent]; zero-initialised, which is V(T) = 0.
        let values: [[wgpu::Buffer; 2]; 2] = std::array::from_fn(|_| {
            std::array::from_fn(|_| buffer("values", value_bytes, storage))
        });
        // Each step's outputs are copied to staging in the step's own submission, before the
        // next step's kernel (submissions run in order) overwrites them: one set suffices.
        let actions = buffer("actions", layout.codes, storage);
        let diagnostics = buffer("diagnostics", layout.diagnostics, storage);
        let read = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
        let staging = std::array::from_fn(|_| buffer("staging", layout.size, read));
        // The stencil kernel's lines: three value slices per agent, overwritten every step.
        // Decided once: the memory budget it reads may move.
        let kernel = self.kernel(grid);
        let stencil = (self.stencil.as_ref()).filter(|_| kernel == GpuKernel::Stencil);
        let lines: Option<[wgpu::Buffer; 2]> =
            stencil.map(|_| std::array::from_fn(|_| buffer("lines", 3 * value_bytes, storage)));
        let resources = |cur: usize| {
            let next = 1 - cur;
            let mut r = vec![
                &params,
                &step,
                &indices,
                &tables,
                &values[next][0],
                &values[next][1],
                &values[cur][0],
                &values[cur][1],
                &actions,
                &diagnostics,
            ];
            r.extend(lines.iter().flatten());
            r
        };
        let dispatches = self.dispatches(stencil, resources);
        Buffers {
            step,
            values,
            actions,
            diagnostics,
            kernel,
            dispatches,
            _lines: lines,
            staging,
            layout,
            timestamps,
        }
    }
}

/// The environment variable that makes the GPU run the per-state kernel where it would run
/// the stencil one (to compare them): `per-state` or `stencil`.
pub const KERNEL_VARIABLE: &str = "MMGAME_GPU_KERNEL";

/// The kernel `MMGAME_GPU_KERNEL` asks for: the stencil one when it is not set.
pub fn kernel_wanted() -> Result<GpuKernel, Error> {
    match std::env::var(KERNEL_VARIABLE) {
        Err(_) => Ok(GpuKernel::Stencil),
        Ok(v) => [GpuKernel::Stencil, GpuKernel::PerState]
            .into_iter()
            .find(|k| k.name() == v.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                Error::Input(format!(
                    "{KERNEL_VARIABLE} = {v:?}: must be stencil or per-state"
                ))
            }),
    }
}

/// Sums the workgroups' diagnostics (`diag`, DIAGNOSTICS_STRIDE words each) of time step `t`.
fn sum_diagnostics(diag: &[u32], grid: &Grid, t: usize) -> StepDiagnostics {
    let mut d = StepDiagnostics {
        step: t,
        time: grid.time.nodes[t],
        ..Default::default()
    };
    for g in diag.chunks_exact(DIAGNOSTICS_STRIDE as usize) {
        d.no_pure_equilibrium += g[0] as u64;
        d.several_equilibria += g[1] as u64;
        d.max_exploitability = d.max_exploitability.max(f32::from_bits(g[2]) as f64);
        d.ambiguous += g[3] as u64;
    }
    d
}

/// Bytes of one workgroup's diagnostics (`DIAGNOSTICS_STRIDE` u32 words).
const DIAGNOSTICS_BYTES: u64 = DIAGNOSTICS_STRIDE as u64 * 4;

/// Timestamps per step: the kernel pass's beginning and end, and after the copies to staging.
const TIMESTAMPS: u32 = 3;

/// Bytes of the equilibrium scheme's tables in `precision`: the notebook scheme's gain tables
/// and the interpolation weights.
fn tables_bytes(grid: &Grid, precision: Precision) -> u64 {
    let weights = (grid.fee.len() * PAIR_CODES + grid.stake.len() * ACTION_CODES) as u64;
    super::notebook::tables_bytes(grid, precision) + weights * precision.bytes()
}

/// Whether the stencil kernel's buffers fit: an agent's three line slices (`slice` bytes each)
/// in one storage binding, and the six line slices beside the four value slices and `others`
/// (tables, pair codes) within the adapter's memory budget, where it is known. Where they do
/// not, the per-state kernel needs only the value slices.
fn stencil_fits(slice: u64, binding: u64, others: u64, budget: Option<u64>) -> bool {
    let lines = slice.saturating_mul(3);
    let device = slice.saturating_mul(10).saturating_add(others);
    lines <= binding && budget.is_none_or(|b| device <= b)
}

/// Bytes the host holds for a sweep's read-back beyond the value slices, at most: two staging
/// sets, and up to three steps on their way to the sink (one being read, one in the channel,
/// one being written), each a pair code per state plus both agents' values when the sink wants
/// them (`value_bytes` per state and agent, 0 otherwise); and the writer's two code rows.
pub fn host_readback_bytes(slice: u64, value_bytes: u64) -> u64 {
    let step = slice.saturating_mul(1 + 2 * value_bytes);
    step.saturating_mul(5)
        .saturating_add(slice.saturating_mul(2))
}

/// The device buffers of one sweep.
struct Buffers {
    step: wgpu::Buffer,
    /// [set][agent]: the slices t+1 and t swap sets every step.
    values: [[wgpu::Buffer; 2]; 2],
    /// One pair code (byte) per state, four to a word.
    actions: wgpu::Buffer,
    diagnostics: wgpu::Buffer,
    kernel: GpuKernel,
    /// Each step's dispatches in order (`equilibrium_lines`, then `equilibrium_step`; or
    /// `equilibrium_step` per state), each with its bind group per parity of the step.
    dispatches: Vec<(wgpu::ComputePipeline, [wgpu::BindGroup; 2])>,
    /// The stencil kernel's line slices (held here; the bind groups read them).
    _lines: Option<[wgpu::Buffer; 2]>,
    /// Two persistent read-back sets (`MAP_READ`), used by alternate steps.
    staging: [wgpu::Buffer; 2],
    layout: StagingLayout,
    /// Where the adapter has timestamp queries.
    timestamps: Option<Timestamps>,
}

struct Timestamps {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
}

impl Timestamps {
    fn new(ctx: &GpuContext) -> Self {
        Timestamps {
            set: ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("equilibrium_step timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: TIMESTAMPS,
            }),
            resolve: ctx.buffer(
                "timestamps",
                wgpu::QUERY_RESOLVE_BUFFER_ALIGNMENT,
                wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            ),
        }
    }
}

/// Where a step's results sit in a staging buffer (offsets multiples of 8, so that every copy
/// is aligned and f64 values start on their own alignment).
#[derive(Debug, Clone, Copy)]
struct StagingLayout {
    /// Bytes of the pair codes (a word per four states) at offset 0.
    codes: u64,
    diagnostics_at: u64,
    diagnostics: u64,
    /// Both agents' values, agent 0's first, when the sink wants them.
    values_at: Option<u64>,
    value_bytes: u64,
    timestamps_at: Option<u64>,
    size: u64,
}

impl StagingLayout {
    fn new(slice: u64, group_count: u64, value_bytes: u64, values: bool, stamps: bool) -> Self {
        let codes = slice.div_ceil(4) * 4;
        let diagnostics_at = codes.next_multiple_of(8);
        let diagnostics = group_count * DIAGNOSTICS_BYTES;
        let mut end = (diagnostics_at + diagnostics).next_multiple_of(8);
        let values_at = values.then(|| {
            let at = end;
            end = (at + 2 * value_bytes).next_multiple_of(8);
            at
        });
        let timestamps_at = stamps.then(|| {
            let at = end;
            end += TIMESTAMPS as u64 * 8;
            at
        });
        StagingLayout {
            codes,
            diagnostics_at,
            diagnostics,
            values_at,
            value_bytes,
            timestamps_at,
            size: end,
        }
    }

    /// Step `t`'s results out of a mapped staging buffer: what goes to the writer, the
    /// diagnostics words and the raw timestamps (empty without them).
    fn unpack(
        &self,
        view: &[u8],
        t: usize,
        slice: usize,
        precision: Precision,
    ) -> (StepOut, Vec<u32>, Vec<u64>) {
        let range = |at: u64, len: u64| &view[at as usize..(at + len) as usize];
        let values = match (self.values_at, precision) {
            (None, _) => StepValues::None,
            (Some(at), Precision::F32) => StepValues::F32(std::array::from_fn(|a| {
                bytemuck::pod_collect_to_vec(range(
                    at + a as u64 * self.value_bytes,
                    self.value_bytes,
                ))
            })),
            (Some(at), Precision::F64) => StepValues::F64(std::array::from_fn(|a| {
                bytemuck::pod_collect_to_vec(range(
                    at + a as u64 * self.value_bytes,
                    self.value_bytes,
                ))
            })),
        };
        let stamps = self.timestamps_at.map_or(Vec::new(), |at| {
            bytemuck::pod_collect_to_vec(range(at, TIMESTAMPS as u64 * 8))
        });
        let out = StepOut {
            t,
            pairs: view[..slice].to_vec(),
            values,
        };
        let diag = bytemuck::pod_collect_to_vec(range(self.diagnostics_at, self.diagnostics));
        (out, diag, stamps)
    }
}

/// A submitted step whose staging set is not read yet.
struct Pending {
    t: usize,
    set: usize,
    index: wgpu::SubmissionIndex,
    mapped: mpsc::Receiver<Result<(), wgpu::BufferAsyncError>>,
}

/// One step's results on their way to the sink.
struct StepOut {
    t: usize,
    /// One pair code per state.
    pairs: Vec<u8>,
    values: StepValues,
}

enum StepValues {
    None,
    F32([Vec<f32>; 2]),
    F64([Vec<f64>; 2]),
}

/// The writer thread: splits each step's pair codes into the agents' action codes and hands
/// the step to `sink`, until the sweep closes the channel. Returns the seconds it was busy.
/// Once `cancel` is set it hands over nothing more (a cancelled solve writes no further
/// output).
fn write_steps(
    sink: &mut (dyn StepSink + Send),
    steps: mpsc::Receiver<StepOut>,
    slice: usize,
    cancel: &Cancel,
) -> Result<f64, Error> {
    let (mut codes0, mut codes1) = (vec![0u8; slice], vec![0u8; slice]);
    let mask = (1u8 << ACTION_PACK_SHIFT) - 1;
    let mut busy = 0.0;
    for out in steps {
        if cancel.is_cancelled() {
            break;
        }
        let start = Instant::now();
        for ((c0, c1), &p) in codes0.iter_mut().zip(codes1.iter_mut()).zip(&out.pairs) {
            *c0 = p & mask;
            *c1 = p >> ACTION_PACK_SHIFT;
        }
        let actions = [&codes0[..], &codes1[..]];
        match &out.values {
            StepValues::None => sink.step(out.t, actions, SliceValues::F32([&[], &[]]))?,
            StepValues::F32([v0, v1]) => sink.step(out.t, actions, SliceValues::F32([v0, v1]))?,
            StepValues::F64([v0, v1]) => sink.step(out.t, actions, SliceValues::F64([v0, v1]))?,
        }
        busy += start.elapsed().as_secs_f64();
    }
    Ok(busy)
}

#[cfg(test)]
mod tests {
    use super::stencil_fits;

    #[test]
    fn stencils_need_three_slices_per_binding_and_ten_within_the_budget() {
        let mib = 1 << 20;
        // lavapipe's 128 MiB bindings hold three slices of 42 MiB, not of 43 MiB.
        assert!(stencil_fits(42 * mib, 128 * mib, 0, None));
        assert!(!stencil_fits(43 * mib, 128 * mib, 0, None));
        // Ten slices and the rest within the budget, where it is known.
        assert!(stencil_fits(mib, 128 * mib, 6, Some(10 * mib + 6)));
        assert!(!stencil_fits(mib, 128 * mib, 7, Some(10 * mib + 6)));
        // No overflow: three slices of half the address space saturate, past any binding.
        assert!(!stencil_fits(u64::MAX / 2, u64::MAX - 1, 0, None));
    }
}
