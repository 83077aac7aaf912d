//! The `equilibrium` scheme on the GPU (f32, or f64 where the adapter has `SHADER_F64`): one
//! `equilibrium_step` dispatch per time step
//! over the whole grid, two value slices per agent on the device (ping-pong), and each step's
//! actions and diagnostics read back as soon as they exist and handed to the sink.

use std::time::Instant;

use super::context::GpuContext;
use super::layout::{self, Params, Step, ACTION_PACK_SHIFT, DIAGNOSTICS_STRIDE};
use super::notebook::{check_fits, slice_bytes};
use crate::error::Error;
use crate::grid::{ClampedTransitions, Grid, Interpolation};
use crate::grid::{ACTION_CODES, PAIR_CODES};
use crate::model::Game;
use crate::scheme::{
    Cancel, EquilibriumSolution, Event, Observer, Precision, SliceValues, StepDiagnostics,
    StepSink, Values,
};

/// The GPU's tie tolerance in f32 (its default precision), relative to max(1, largest |U|) at
/// the state; in f64 it uses the CPU's.
pub const GPU_TIE_TOLERANCE: f64 = Precision::F32.tie_tolerance();

/// The `equilibrium_step` pipeline in one precision, built once per context and reused for
/// every solve.
pub struct EquilibriumGpu {
    ctx: GpuContext,
    precision: Precision,
    /// Test-only: see [`EquilibriumGpu::with_perturbed_state`].
    perturbed_state: u32,
    step: wgpu::ComputePipeline,
    max_workgroups_per_dimension: u32,
}

impl EquilibriumGpu {
    pub fn new(ctx: &GpuContext, precision: Precision) -> Result<Self, Error> {
        ctx.check_precision(precision)?;
        Ok(EquilibriumGpu {
            ctx: ctx.clone(),
            precision,
            perturbed_state: layout::NO_STATE,
            step: ctx.pipeline(
                "equilibrium_step",
                layout::kernel_source(precision, &layout::EQUILIBRIUM_STEP_KERNEL),
                layout::EQUILIBRIUM_STEP_BINDINGS,
            )?,
            max_workgroups_per_dimension: ctx.limits.max_compute_workgroups_per_dimension,
        })
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

    /// Runs the sweep, handing each time step to `sink`; `observer` hears of each time step,
    /// and `cancel` is read between them.
    pub fn solve(
        &self,
        game: &Game,
        grid: &Grid,
        mode: Interpolation,
        sink: &mut dyn StepSink,
        cancel: &Cancel,
        observer: &mut dyn Observer,
    ) -> Result<EquilibriumSolution, Error> {
        let precision = self.precision;
        check_fits(&self.ctx, grid, precision, tables_bytes(grid, precision))?;
        let start = Instant::now();
        let ctx = &self.ctx;
        let (nt, slice) = (grid.time.len(), grid.slice_len());
        let groups = layout::workgroups(slice as u64, self.max_workgroups_per_dimension);
        let tr = ClampedTransitions::new(game, grid, mode);
        let (mut params, tables) = layout::equilibrium_tables(game, grid, &tr)?;
        params.perturbed_state = self.perturbed_state;
        let b = ctx.checked("setting up the equilibrium sweep", || {
            self.buffers(grid, (&params, &tables), groups)
        })?;

        let mut diagnostics = vec![StepDiagnostics::default(); nt - 1];
        let mut cur = 0;
        let mut codes = [vec![0u8; slice], vec![0u8; slice]];
        let value_bytes = slice_bytes(grid, precision);
        for t in (0..nt - 1).rev() {
            cancel.check()?;
            cur = (nt - 2 - t) % 2;
            ctx.queue
                .write_buffer(&b.step, 0, bytemuck::bytes_of(&Step::new(t, 0, 0)));
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                pass.set_pipeline(&self.step);
                pass.set_bind_group(0, &b.bind_groups[cur], &[]);
                pass.dispatch_workgroups(groups.0, groups.1, 1);
            }
            ctx.queue.submit([encoder.finish()]);

            let packed: Vec<u32> = ctx.read_buffer(&b.actions, slice as u64 * 4)?;
            let mask = (1u32 << ACTION_PACK_SHIFT) - 1;
            for (i, &p) in packed.iter().enumerate() {
                codes[0][i] = (p & mask) as u8;
                codes[1][i] = (p >> ACTION_PACK_SHIFT) as u8;
            }
            diagnostics[t] = self.read_diagnostics(&b, grid, t)?;
            let actions = [&codes[0][..], &codes[1][..]];
            match (sink.wants_values(), precision) {
                (false, _) => sink.step(t, actions, SliceValues::F32([&[], &[]]))?,
                (true, Precision::F32) => {
                    let v0: Vec<f32> = ctx.read_buffer(&b.values[cur][0], value_bytes)?;
                    let v1: Vec<f32> = ctx.read_buffer(&b.values[cur][1], value_bytes)?;
                    sink.step(t, actions, SliceValues::F32([&v0, &v1]))?
                }
                (true, Precision::F64) => {
                    let v0: Vec<f64> = ctx.read_buffer(&b.values[cur][0], value_bytes)?;
                    let v1: Vec<f64> = ctx.read_buffer(&b.values[cur][1], value_bytes)?;
                    sink.step(t, actions, SliceValues::F64([&v0, &v1]))?
                }
            }
            observer.event(&Event::TimeStep {
                done: nt - 1 - t,
                total: nt - 1,
                states: slice,
            });
        }
        let values_t0 = match precision {
            Precision::F32 => Values::F32(self.read_pair::<f32>(&b.values[cur], value_bytes)?),
            Precision::F64 => Values::F64(self.read_pair::<f64>(&b.values[cur], value_bytes)?),
        };
        Ok(EquilibriumSolution {
            values_t0,
            diagnostics,
            solve_seconds: start.elapsed().as_secs_f64(),
        })
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

    /// The sweep's buffers and its two bind groups (one per parity of the step).
    fn buffers(
        &self,
        grid: &Grid,
        (params, tables): (&Params, &layout::Tables),
        groups: (u32, u32),
    ) -> Buffers {
        let device = &self.ctx.device;
        let group_count = groups.0 as u64 * groups.1 as u64;
        let ctx = &self.ctx;
        let init = |label: &str, contents: &[u8], usage| ctx.buffer_init(label, contents, usage);
        let buffer = |label: &str, size: u64, usage| ctx.buffer(label, size, usage);
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        let uniform = wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST;
        let params = init("params", bytemuck::bytes_of(params), uniform);
        let step = buffer("step", size_of::<Step>() as u64, uniform);
        let indices = init("indices", bytemuck::cast_slice(&tables.indices), storage);
        let tables = init("tables", &tables.real_bytes(self.precision), storage);
        // values[set][agent]; zero-initialised, which is V(T) = 0.
        let value_bytes = slice_bytes(grid, self.precision);
        let values: [[wgpu::Buffer; 2]; 2] = std::array::from_fn(|_| {
            std::array::from_fn(|_| buffer("values", value_bytes, storage))
        });
        let actions = buffer("actions", grid.slice_len() as u64 * 4, storage);
        let diagnostics = buffer("diagnostics", group_count * DIAGNOSTICS_BYTES, storage);
        let bind_groups = std::array::from_fn(|cur| {
            let next = 1 - cur;
            let resources = [
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
            let entries: Vec<wgpu::BindGroupEntry> = resources
                .iter()
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupEntry {
                    binding: i as u32,
                    resource: b.as_entire_binding(),
                })
                .collect();
            device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("equilibrium_step"),
                layout: &self.step.get_bind_group_layout(0),
                entries: &entries,
            })
        });
        Buffers {
            step,
            values,
            actions,
            diagnostics,
            group_count,
            bind_groups,
        }
    }

    /// Sums the workgroups' diagnostics of time step `t`.
    fn read_diagnostics(
        &self,
        b: &Buffers,
        grid: &Grid,
        t: usize,
    ) -> Result<StepDiagnostics, Error> {
        let diag: Vec<u32> = self
            .ctx
            .read_buffer(&b.diagnostics, b.group_count * DIAGNOSTICS_BYTES)?;
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
        Ok(d)
    }
}

/// Bytes of one workgroup's diagnostics (`DIAGNOSTICS_STRIDE` u32 words).
const DIAGNOSTICS_BYTES: u64 = DIAGNOSTICS_STRIDE as u64 * 4;

/// Bytes of the equilibrium scheme's tables in `precision`: the notebook scheme's gain tables
/// and the interpolation weights.
fn tables_bytes(grid: &Grid, precision: Precision) -> u64 {
    let weights = (grid.fee.len() * PAIR_CODES + grid.stake.len() * ACTION_CODES) as u64;
    super::notebook::tables_bytes(grid, precision) + weights * precision.bytes()
}

/// The device buffers of one sweep.
struct Buffers {
    step: wgpu::Buffer,
    /// [set][agent]: the slices t+1 and t swap sets every step.
    values: [[wgpu::Buffer; 2]; 2],
    actions: wgpu::Buffer,
    diagnostics: wgpu::Buffer,
    group_count: u64,
    bind_groups: [wgpu::BindGroup; 2],
}
