//! The `equilibrium` scheme on the GPU (f32): one `equilibrium_step` dispatch per time step
//! over the whole grid, two value slices per agent on the device (ping-pong), and each step's
//! actions and diagnostics read back as soon as they exist and handed to the sink.

use std::time::Instant;

use wgpu::util::DeviceExt;

use super::context::GpuContext;
use super::layout::{self, Step, Sweep};
use super::notebook::{check_fits, slice_bytes};
use crate::error::Error;
use crate::grid::{ClampedTransitions, Grid, Interpolation};
use crate::model::Game;
use crate::scheme::{
    Cancel, EquilibriumSolution, Event, Observer, Precision, SliceValues, StepDiagnostics,
    StepSink, Values,
};

/// The GPU's tie tolerance (it computes in f32), relative to max(1, largest |U|) at the state.
pub const GPU_TIE_TOLERANCE: f64 = Precision::F32.tie_tolerance();

/// The `equilibrium_step` pipeline, built once per context and reused for every solve.
pub struct EquilibriumGpu {
    ctx: GpuContext,
    step: wgpu::ComputePipeline,
    max_workgroups_per_dimension: u32,
}

impl EquilibriumGpu {
    pub fn new(ctx: &GpuContext) -> Result<Self, Error> {
        Ok(EquilibriumGpu {
            ctx: ctx.clone(),
            step: ctx.pipeline(
                "equilibrium_step",
                layout::kernel_source(&[layout::EQUILIBRIUM_STEP]),
            )?,
            max_workgroups_per_dimension: ctx.limits.max_compute_workgroups_per_dimension,
        })
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
        check_fits(&self.ctx, grid)?;
        let start = Instant::now();
        let ctx = &self.ctx;
        let (nt, slice) = (grid.time.len(), grid.slice_len());
        let groups = layout::workgroups(slice as u64, self.max_workgroups_per_dimension);
        let tr = ClampedTransitions::new(game, grid, mode);
        let b = ctx.checked("setting up the equilibrium sweep", || {
            self.buffers(game, grid, &tr, groups)
        })?;

        let mut diagnostics = vec![StepDiagnostics::default(); nt - 1];
        let mut cur = 0;
        let mut codes = [vec![0u8; slice], vec![0u8; slice]];
        for t in (0..nt - 1).rev() {
            cancel.check()?;
            cur = (nt - 2 - t) % 2;
            let step = Step::new(game, grid, t, 0, 0);
            ctx.queue
                .write_buffer(&b.step, 0, bytemuck::bytes_of(&step));
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                pass.set_pipeline(&self.step);
                pass.set_bind_group(0, &b.bind_groups[cur], &[]);
                pass.dispatch_workgroups(groups.0, groups.1, 1);
            }
            ctx.queue.submit([encoder.finish()]);

            let packed: Vec<u32> = ctx.read_buffer(&b.actions, slice_bytes(grid))?;
            for (i, &p) in packed.iter().enumerate() {
                codes[0][i] = (p & 0xff) as u8;
                codes[1][i] = (p >> 8) as u8;
            }
            diagnostics[t] = self.read_diagnostics(&b, grid, t)?;
            if sink.wants_values() {
                let v0: Vec<f32> = ctx.read_buffer(&b.values[cur][0], slice_bytes(grid))?;
                let v1: Vec<f32> = ctx.read_buffer(&b.values[cur][1], slice_bytes(grid))?;
                sink.step(t, [&codes[0], &codes[1]], SliceValues::F32([&v0, &v1]))?;
            } else {
                sink.step(t, [&codes[0], &codes[1]], SliceValues::F32([&[], &[]]))?;
            }
            observer.event(&Event::TimeStep {
                done: nt - 1 - t,
                total: nt - 1,
                states: slice,
            });
        }
        let mut values_t0 = Vec::with_capacity(2 * slice);
        for buffer in &b.values[cur] {
            let v: Vec<f32> = ctx.read_buffer(buffer, slice_bytes(grid))?;
            values_t0.extend_from_slice(&v);
        }
        Ok(EquilibriumSolution {
            values_t0: Values::F32(values_t0),
            diagnostics,
            solve_seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// The sweep's buffers and its two bind groups (one per parity of the step).
    fn buffers(
        &self,
        game: &Game,
        grid: &Grid,
        tr: &ClampedTransitions,
        groups: (u32, u32),
    ) -> Buffers {
        let device = &self.ctx.device;
        let group_count = groups.0 as u64 * groups.1 as u64;
        let (params, sweep, tables) = Sweep::new(game, grid, tr, GPU_TIE_TOLERANCE);
        let init = |label: &str, contents: &[u8], usage| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage,
            })
        };
        let buffer = |label: &str, size: u64, usage| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage,
                mapped_at_creation: false,
            })
        };
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        let uniform = wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST;
        let params = init("params", bytemuck::bytes_of(&params), uniform);
        let step = buffer("step", size_of::<Step>() as u64, uniform);
        let sweep = init("sweep", bytemuck::bytes_of(&sweep), uniform);
        let indices = init("indices", bytemuck::cast_slice(&tables.indices), storage);
        let posts = init("posts", bytemuck::cast_slice(&tables.posts), storage);
        // values[set][agent]; zero-initialised, which is V(T) = 0.
        let values: [[wgpu::Buffer; 2]; 2] = std::array::from_fn(|_| {
            std::array::from_fn(|_| buffer("values", slice_bytes(grid), storage))
        });
        let actions = buffer("actions", slice_bytes(grid), storage);
        let diagnostics = buffer("diagnostics", group_count * DIAGNOSTICS_BYTES, storage);
        let bind_groups = std::array::from_fn(|cur| {
            let next = 1 - cur;
            let resources = [
                &params,
                &step,
                &sweep,
                &indices,
                &posts,
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
        for g in diag.chunks_exact(3) {
            d.no_pure_equilibrium += g[0] as u64;
            d.several_equilibria += g[1] as u64;
            d.max_exploitability = d.max_exploitability.max(f32::from_bits(g[2]) as f64);
        }
        Ok(d)
    }
}

/// Bytes of one workgroup's diagnostics: states without a pure equilibrium, states with
/// several (u32 each), and the largest selected exploitability (f32).
const DIAGNOSTICS_BYTES: u64 = 12;

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
