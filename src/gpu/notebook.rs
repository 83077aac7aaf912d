//! The `notebook` scheme on the GPU: the same iteration as `cpu::notebook`, with each time
//! step's evaluation and best responses as compute dispatches over the whole grid (f32).
//!
//! Every (agent, time) slice of the values and actions is its own buffer, so a grid works
//! whenever one agent's time slice fits in a storage binding, however many time points it has.
//! One iteration is one submission: for t = N_T−2 down to 0, `notebook_evaluate`, then
//! `notebook_best_response` for agent 0 and for agent 1 (the order of the CPU kernels), then
//! `notebook_policy_change`; the policy change is read back once per iteration.

use std::time::Instant;

use wgpu::util::DeviceExt;

use super::context::GpuContext;
use super::layout::{self, Params, Step, WORKGROUP_SIZE};
use crate::config::SolverConfig;
use crate::error::Error;
use crate::grid::{Grid, Transitions, INITIAL_ACTION};
use crate::model::Game;
use crate::solution::{Solution, Values};

/// The notebook scheme's pipelines, built once per context and reused for every solve.
pub struct NotebookGpu<'a> {
    ctx: &'a GpuContext,
    /// Workgroups per dispatch dimension: the adapter's limit, lowered in tests to force
    /// two-dimensional dispatches on small grids.
    max_workgroups_per_dimension: u32,
    evaluate: wgpu::ComputePipeline,
    best_response: wgpu::ComputePipeline,
    /// `notebook_step` (evaluation and both best responses in one dispatch), where the adapter
    /// allows its 11 storage buffers per stage.
    step: Option<wgpu::ComputePipeline>,
    policy_change: wgpu::ComputePipeline,
}

/// Storage buffers `notebook_step` binds.
pub const STEP_STORAGE_BUFFERS: u32 = 11;

/// Bytes of one agent's time slice (f32 values, u32 actions).
pub fn slice_bytes(grid: &Grid) -> u64 {
    grid.slice_len() as u64 * 4
}

/// Checks that one agent's time slice fits in a storage binding of this adapter; the error
/// names the limit and the largest grid that fits.
pub fn check_fits(ctx: &GpuContext, grid: &Grid) -> Result<(), Error> {
    let limit = ctx
        .limits
        .max_storage_buffer_binding_size
        .min(ctx.limits.max_buffer_size);
    let needed = slice_bytes(grid);
    if needed <= limit && grid.slice_len() < u32::MAX as usize {
        return Ok(());
    }
    let nf = grid.fee.len() as u64;
    let largest_stake = ((limit / 4 / nf) as f64).sqrt().floor() as u64;
    Err(Error::TooLarge(format!(
        "grid: one agent's time slice needs {needed} bytes ({} fee × {}² stake × 4), but adapter {} binds at most {limit} bytes per storage buffer; at fee_points = {nf} the largest stake_points that fits is {largest_stake}",
        nf,
        grid.stake.len(),
        ctx.info.name
    )))
}

impl<'a> NotebookGpu<'a> {
    pub fn new(ctx: &'a GpuContext) -> Result<Self, Error> {
        Ok(NotebookGpu {
            ctx,
            max_workgroups_per_dimension: ctx.limits.max_compute_workgroups_per_dimension,
            evaluate: ctx.pipeline(
                "notebook_evaluate",
                layout::kernel_source(&layout::NOTEBOOK_EVALUATE_KERNEL),
            )?,
            best_response: ctx.pipeline(
                "notebook_best_response",
                layout::kernel_source(&layout::NOTEBOOK_BEST_RESPONSE_KERNEL),
            )?,
            step: if ctx.limits.max_storage_buffers_per_shader_stage >= STEP_STORAGE_BUFFERS {
                Some(ctx.pipeline(
                    "notebook_step",
                    layout::kernel_source(&layout::NOTEBOOK_STEP_KERNEL),
                )?)
            } else {
                None
            },
            policy_change: ctx.pipeline(
                "notebook_policy_change",
                layout::standalone_source(layout::NOTEBOOK_POLICY_CHANGE),
            )?,
        })
    }

    /// Runs the separate `notebook_evaluate` and `notebook_best_response` dispatches even where
    /// the fused `notebook_step` is available (tests compare the two; results are identical).
    pub fn without_fusion(mut self) -> Self {
        self.step = None;
        self
    }

    /// Whether each time step runs as one fused dispatch.
    pub fn fused(&self) -> bool {
        self.step.is_some()
    }

    /// Caps the workgroups per dispatch dimension below the adapter's limit.
    pub fn with_max_workgroups_per_dimension(mut self, max: u32) -> Self {
        self.max_workgroups_per_dimension = max.clamp(1, self.max_workgroups_per_dimension);
        self
    }

    /// Solves the `notebook` scheme; `progress` is called after each iteration.
    pub fn solve(
        &self,
        game: &Game,
        grid: &Grid,
        solver: &SolverConfig,
        mut progress: impl FnMut(usize, f64),
    ) -> Result<Solution, Error> {
        check_fits(self.ctx, grid)?;
        let start = Instant::now();
        let ctx = self.ctx;
        ctx.checked("solving the notebook scheme", || {
            self.solve_unchecked(game, grid, solver, &mut progress, start)
        })?
    }

    fn solve_unchecked(
        &self,
        game: &Game,
        grid: &Grid,
        solver: &SolverConfig,
        progress: &mut impl FnMut(usize, f64),
        start: Instant,
    ) -> Result<Solution, Error> {
        let device = &self.ctx.device;
        let (nt, nf, ns) = (grid.time.len(), grid.fee.len(), grid.stake.len());
        let slice = grid.slice_len();
        let steps = nt - 1;
        let max_dim = self.max_workgroups_per_dimension;
        let slice_groups = layout::workgroups(slice as u64, max_dim);
        let groups_per_slice = slice_groups.0 as usize * slice_groups.1 as usize;

        let tr = Transitions::notebook(game, grid);
        let (params, tables) = Params::notebook(game, grid, &tr);
        let init = |label: &str, contents: &[u8], usage| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage,
            })
        };
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        let params_buf = init(
            "params",
            bytemuck::bytes_of(&params),
            wgpu::BufferUsages::UNIFORM,
        );
        let indices = init("indices", bytemuck::cast_slice(&tables.indices), storage);
        let posts = init("posts", bytemuck::cast_slice(&tables.posts), storage);

        // values[set][agent][t]: two sets, v_old and v_new, whose roles swap every iteration.
        // wgpu zero-initialises buffers, which is the notebook's start.
        let value_slice = |label: String| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(&label),
                size: slice_bytes(grid),
                usage: storage,
                mapped_at_creation: false,
            })
        };
        let values: Vec<Vec<Vec<wgpu::Buffer>>> = (0..2)
            .map(|set| {
                (0..2)
                    .map(|agent| {
                        (0..nt)
                            .map(|t| value_slice(format!("values {set} {agent} {t}")))
                            .collect()
                    })
                    .collect()
            })
            .collect();
        // The notebook starts every action at 1 (code INITIAL_ACTION).
        let initial = vec![INITIAL_ACTION as u32; slice];
        let actions: Vec<Vec<wgpu::Buffer>> = (0..2)
            .map(|agent| {
                (0..nt)
                    .map(|t| {
                        init(
                            &format!("actions {agent} {t}"),
                            bytemuck::cast_slice(&initial),
                            storage,
                        )
                    })
                    .collect()
            })
            .collect();
        drop(initial);

        let partials_len = 2 * steps * groups_per_slice;
        let partials = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("partials"),
            size: partials_len as u64 * 4,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        let sums_len = partials_len.div_ceil(WORKGROUP_SIZE as usize);
        let sums = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("sums"),
            size: sums_len as u64 * 4,
            usage: storage,
            mapped_at_creation: false,
        });
        let sums_groups = layout::workgroups(partials_len as u64, max_dim);

        let step_buf = |t: usize, agent: u32| {
            let partials_at = ((agent as usize * steps + t) * groups_per_slice) as u32;
            init(
                "step",
                bytemuck::bytes_of(&Step::new(game, grid, t, agent, partials_at)),
                wgpu::BufferUsages::UNIFORM,
            )
        };
        let eval_steps: Vec<wgpu::Buffer> = (0..steps).map(|t| step_buf(t, 0)).collect();
        let br_steps: Vec<Vec<wgpu::Buffer>> = (0..2)
            .map(|agent| (0..steps).map(|t| step_buf(t, agent)).collect())
            .collect();

        let bind = |pipeline: &wgpu::ComputePipeline, buffers: &[&wgpu::Buffer]| {
            let entries: Vec<wgpu::BindGroupEntry> = buffers
                .iter()
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupEntry {
                    binding: i as u32,
                    resource: b.as_entire_binding(),
                })
                .collect();
            device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &pipeline.get_bind_group_layout(0),
                entries: &entries,
            })
        };
        // Bind groups per parity: in iteration i, set i % 2 is v_new and the other v_old.
        let plan = match &self.step {
            Some(step) => Plan::Fused(
                step,
                (0..2)
                    .map(|new| {
                        let old = 1 - new;
                        (0..steps)
                            .map(|t| {
                                bind(
                                    step,
                                    &[
                                        &params_buf,
                                        &eval_steps[t],
                                        &indices,
                                        &posts,
                                        &actions[0][t],
                                        &actions[1][t],
                                        &values[old][0][t + 1],
                                        &values[old][1][t + 1],
                                        &values[new][0][t + 1],
                                        &values[new][1][t + 1],
                                        &values[new][0][t],
                                        &values[new][1][t],
                                        &partials,
                                    ],
                                )
                            })
                            .collect()
                    })
                    .collect(),
            ),
            None => Plan::Separate {
                evaluate: (0..2)
                    .map(|new| {
                        let old = 1 - new;
                        (0..steps)
                            .map(|t| {
                                bind(
                                    &self.evaluate,
                                    &[
                                        &params_buf,
                                        &eval_steps[t],
                                        &indices,
                                        &posts,
                                        &actions[0][t],
                                        &actions[1][t],
                                        &values[old][0][t + 1],
                                        &values[old][1][t + 1],
                                        &values[new][0][t],
                                        &values[new][1][t],
                                    ],
                                )
                            })
                            .collect()
                    })
                    .collect(),
                best_response: (0..2)
                    .map(|new| {
                        (0..2)
                            .map(|agent| {
                                (0..steps)
                                    .map(|t| {
                                        bind(
                                            &self.best_response,
                                            &[
                                                &params_buf,
                                                &br_steps[agent][t],
                                                &indices,
                                                &posts,
                                                &actions[0][t],
                                                &actions[1][t],
                                                &values[new][0][t + 1],
                                                &values[new][1][t + 1],
                                                &partials,
                                            ],
                                        )
                                    })
                                    .collect()
                            })
                            .collect()
                    })
                    .collect(),
            },
        };
        let sums_group = bind(&self.policy_change, &[&partials, &sums]);

        let mut policy_change = Vec::new();
        let mut converged = false;
        let mut last_new = 0;
        for iteration in 0..solver.max_iterations as usize {
            let new = iteration % 2;
            last_new = new;
            let mut encoder = device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                for t in (0..steps).rev() {
                    match &plan {
                        Plan::Fused(step, groups) => {
                            pass.set_pipeline(step);
                            pass.set_bind_group(0, &groups[new][t], &[]);
                            pass.dispatch_workgroups(slice_groups.0, slice_groups.1, 1);
                        }
                        Plan::Separate {
                            evaluate,
                            best_response,
                        } => {
                            pass.set_pipeline(&self.evaluate);
                            pass.set_bind_group(0, &evaluate[new][t], &[]);
                            pass.dispatch_workgroups(slice_groups.0, slice_groups.1, 1);
                            pass.set_pipeline(&self.best_response);
                            for agent in &best_response[new] {
                                pass.set_bind_group(0, &agent[t], &[]);
                                pass.dispatch_workgroups(slice_groups.0, slice_groups.1, 1);
                            }
                        }
                    }
                }
                pass.set_pipeline(&self.policy_change);
                pass.set_bind_group(0, &sums_group, &[]);
                pass.dispatch_workgroups(sums_groups.0, sums_groups.1, 1);
            }
            self.ctx.queue.submit([encoder.finish()]);
            let counts: Vec<u32> = self.ctx.read_buffer(&sums, sums_len as u64 * 4)?;
            let changed: u64 = counts.iter().map(|&s| s as u64).sum();
            let change = changed as f64 / (nf * ns) as f64;
            policy_change.push(change);
            progress(iteration + 1, change);
            if change < solver.tolerance {
                converged = true;
                break;
            }
        }

        let mut out_values = Vec::with_capacity(2 * nt * slice);
        let mut out_policy = Vec::with_capacity(2 * nt * slice);
        for agent in 0..2 {
            for t in 0..nt {
                let v: Vec<f32> = self
                    .ctx
                    .read_buffer(&values[last_new][agent][t], slice_bytes(grid))?;
                out_values.extend_from_slice(&v);
                let a: Vec<u32> = self
                    .ctx
                    .read_buffer(&actions[agent][t], slice_bytes(grid))?;
                out_policy.extend(a.iter().map(|&c| c as u8));
            }
        }
        Ok(Solution {
            shape: [2, nt, nf, ns, ns],
            values: Values::F32(out_values),
            policy: out_policy,
            policy_change,
            converged,
            solve_seconds: start.elapsed().as_secs_f64(),
        })
    }
}

/// The bind groups of one solve, per parity of the iteration and per time step.
enum Plan<'p> {
    /// The `notebook_step` pipeline and its bind groups: [parity][t].
    Fused(&'p wgpu::ComputePipeline, Vec<Vec<wgpu::BindGroup>>),
    /// `notebook_evaluate`: [parity][t]; `notebook_best_response`: [parity][agent][t].
    Separate {
        evaluate: Vec<Vec<wgpu::BindGroup>>,
        best_response: Vec<Vec<Vec<wgpu::BindGroup>>>,
    },
}
