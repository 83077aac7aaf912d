//! The `notebook` scheme on the GPU: the same iteration as `cpu::notebook`, with each time
//! step's evaluation and best responses as compute dispatches over the whole grid, in f32 or
//! (where the adapter has `SHADER_F64`) f64.
//!
//! Every (agent, time) slice of the values and actions is its own buffer, so a grid works
//! whenever one agent's time slice fits in a storage binding, however many time points it has.
//! One iteration is one submission: for t = N_T−2 down to 0, either one `notebook_step`
//! dispatch (evaluation and both best responses fused, where the adapter allows its 11 storage
//! buffers per stage) or `notebook_evaluate` then `notebook_best_response` for agent 0 and for
//! agent 1 (the order of the CPU kernels); then `notebook_policy_change`. The policy change is
//! read back once per iteration, and the caller's cancel flag is read between iterations.

use std::time::Instant;

use super::context::GpuContext;
use super::layout::{self, Params, Step, WORKGROUP_SIZE};
use crate::config::SolverConfig;
use crate::error::Error;
use crate::grid::{Grid, Transitions, INITIAL_ACTION};
use crate::grid::{ACTION_CODES, PAIR_CODES};
use crate::model::Game;
use crate::scheme::{Cancel, Event, Observer, Precision, Solution, Values};

/// The notebook scheme's pipelines in one precision, built once per context and reused for
/// every solve.
pub struct NotebookGpu {
    ctx: GpuContext,
    precision: Precision,
    /// Test-only: see [`NotebookGpu::with_perturbed_state`].
    perturbed_state: u32,
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

/// Bytes of one agent's time slice of values in `precision` (u32 actions take 4 per state).
pub fn slice_bytes(grid: &Grid, precision: Precision) -> u64 {
    grid.slice_len() as u64 * precision.bytes()
}

/// Bytes of one agent's time slice of u32 action codes.
fn action_bytes(grid: &Grid) -> u64 {
    grid.slice_len() as u64 * 4
}

/// Checks that one agent's time slice, and the tables (`tables_bytes`), each fit in a storage
/// binding of this adapter; the error names the limit and the largest grid that fits.
pub fn check_fits(
    ctx: &GpuContext,
    grid: &Grid,
    precision: Precision,
    tables_bytes: u64,
) -> Result<(), Error> {
    ctx.check_precision(precision)?;
    let limit = ctx
        .limits
        .max_storage_buffer_binding_size
        .min(ctx.limits.max_buffer_size);
    let needed = slice_bytes(grid, precision).max(action_bytes(grid));
    let nf = grid.fee.len() as u64;
    let ns = grid.stake.len();
    if needed > limit || grid.slice_len() >= u32::MAX as usize {
        let largest_stake = ((limit / precision.bytes().max(4) / nf) as f64)
            .sqrt()
            .floor() as u64;
        return Err(Error::TooLarge(format!(
            "grid: one agent's time slice needs {needed} bytes ({nf} fee × {ns}² stake × {}), but adapter {} binds at most {limit} bytes per storage buffer; at fee_points = {nf} the largest stake_points that fits is {largest_stake}",
            precision.bytes().max(4),
            ctx.info.name
        )));
    }
    if tables_bytes > limit {
        // The stake factors dominate: 2 agents × (4·stake_points)² values.
        let largest_stake = ((limit / precision.bytes() / 32) as f64).sqrt().floor() as u64;
        return Err(Error::TooLarge(format!(
            "grid: the gain tables need {tables_bytes} bytes in {} (2 × (4·{ns})² stake factors), but adapter {} binds at most {limit} bytes per storage buffer; the largest stake_points that fits is about {largest_stake}",
            precision.name(),
            ctx.info.name
        )));
    }
    Ok(())
}

/// Bytes of the notebook scheme's gain tables in `precision` (what [`check_fits`] checks
/// before anything is built): both stake factors and every step's fee gains and holdings.
pub fn tables_bytes(grid: &Grid, precision: Precision) -> u64 {
    let (nf, ns4, steps) = (
        grid.fee.len() as u64,
        (grid.stake.len() * ACTION_CODES) as u64,
        grid.time.len() as u64 - 1,
    );
    let reals = 2 * ns4 * ns4 + steps * (nf * PAIR_CODES as u64 + 2 * ns4) + 2 * ns4;
    reals * precision.bytes()
}

/// One iteration's results, read back for validation: every action and value slice.
pub type IterationRecord<'a> = &'a mut dyn FnMut(&Solution) -> Result<(), Error>;

impl NotebookGpu {
    pub fn new(ctx: &GpuContext, precision: Precision) -> Result<Self, Error> {
        ctx.check_precision(precision)?;
        Ok(NotebookGpu {
            ctx: ctx.clone(),
            precision,
            perturbed_state: layout::NO_STATE,
            max_workgroups_per_dimension: ctx.limits.max_compute_workgroups_per_dimension,
            evaluate: ctx.pipeline(
                "notebook_evaluate",
                layout::kernel_source(precision, &layout::NOTEBOOK_EVALUATE_KERNEL),
                layout::NOTEBOOK_EVALUATE_BINDINGS,
            )?,
            best_response: ctx.pipeline(
                "notebook_best_response",
                layout::kernel_source(precision, &layout::NOTEBOOK_BEST_RESPONSE_KERNEL),
                layout::NOTEBOOK_BEST_RESPONSE_BINDINGS,
            )?,
            step: if ctx.limits.max_storage_buffers_per_shader_stage
                >= layout::storage_buffers(layout::NOTEBOOK_STEP_BINDINGS)
            {
                Some(ctx.pipeline(
                    "notebook_step",
                    layout::kernel_source(precision, &layout::NOTEBOOK_STEP_KERNEL),
                    layout::NOTEBOOK_STEP_BINDINGS,
                )?)
            } else {
                None
            },
            policy_change: ctx.pipeline(
                "notebook_policy_change",
                layout::standalone_source(layout::NOTEBOOK_POLICY_CHANGE),
                layout::NOTEBOOK_POLICY_CHANGE_BINDINGS,
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

    /// Test-only: agent 0's best response at slice state `state` takes the next control
    /// instead of the best one, at every time step, so that a test can show that validation
    /// catches a wrong kernel and names the state.
    pub fn with_perturbed_state(mut self, state: u32) -> Self {
        self.perturbed_state = state;
        self
    }

    /// Caps the workgroups per dispatch dimension below the adapter's limit.
    pub fn with_max_workgroups_per_dimension(mut self, max: u32) -> Self {
        self.max_workgroups_per_dimension = max.clamp(1, self.max_workgroups_per_dimension);
        self
    }

    /// Solves the `notebook` scheme; `observer` hears of each iteration, and `cancel` is read
    /// between iterations.
    pub fn solve(
        &self,
        game: &Game,
        grid: &Grid,
        solver: &SolverConfig,
        cancel: &Cancel,
        observer: &mut dyn Observer,
    ) -> Result<Solution, Error> {
        self.solve_recorded(game, grid, solver, cancel, observer, None)
    }

    /// [`NotebookGpu::solve`], reading back every action and value slice after each
    /// iteration for `record` (what validation by step needs; costly on fine grids).
    pub fn solve_recorded(
        &self,
        game: &Game,
        grid: &Grid,
        solver: &SolverConfig,
        cancel: &Cancel,
        observer: &mut dyn Observer,
        record: Option<IterationRecord>,
    ) -> Result<Solution, Error> {
        check_fits(
            &self.ctx,
            grid,
            self.precision,
            tables_bytes(grid, self.precision),
        )?;
        let start = Instant::now();
        let tr = Transitions::notebook(game, grid);
        let (mut params, tables) = layout::notebook_tables(game, grid, &tr)?;
        params.perturbed_state = self.perturbed_state;
        self.ctx.checked("solving the notebook scheme", || {
            let plan = DispatchPlan::new(grid, self.max_workgroups_per_dimension);
            let buffers = Buffers::new(&self.ctx, grid, &plan, (&params, &tables), self.precision);
            let bind_groups = self.bind_groups(&buffers, &plan);
            let run = (&plan, &buffers, &bind_groups);
            let (policy_change, converged, last_new) =
                self.iterate(grid, solver, run, cancel, observer, record)?;
            let (values, policy) = self.read_back(grid, &buffers, last_new)?;
            Ok(Solution {
                shape: [
                    2,
                    grid.time.len(),
                    grid.fee.len(),
                    grid.stake.len(),
                    grid.stake.len(),
                ],
                values,
                policy,
                policy_change,
                converged,
                solve_seconds: start.elapsed().as_secs_f64(),
            })
        })?
    }

    /// Runs the iterations: one submission and one policy-change readback each (and, when
    /// recording, every slice). Returns the policy changes, whether they converged, and the
    /// value set the last one wrote.
    fn iterate(
        &self,
        grid: &Grid,
        solver: &SolverConfig,
        (plan, b, groups): (&DispatchPlan, &Buffers, &BindGroups),
        cancel: &Cancel,
        observer: &mut dyn Observer,
        mut record: Option<IterationRecord>,
    ) -> Result<(Vec<f64>, bool, usize), Error> {
        let mut policy_change = Vec::new();
        let mut last_new = 0;
        for iteration in 0..solver.max_iterations as usize {
            cancel.check()?;
            let new = iteration % 2;
            last_new = new;
            let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                let (x, y) = plan.slice_groups;
                for t in (0..plan.steps).rev() {
                    match groups {
                        BindGroups::Fused(step, _) => {
                            let pipeline = self.step.as_ref().ok_or_else(|| {
                                Error::Internal("fused bind groups without the fused kernel".into())
                            })?;
                            pass.set_pipeline(pipeline);
                            pass.set_bind_group(0, &step[new][t], &[]);
                            pass.dispatch_workgroups(x, y, 1);
                        }
                        BindGroups::Separate {
                            evaluate,
                            best_response,
                            ..
                        } => {
                            pass.set_pipeline(&self.evaluate);
                            pass.set_bind_group(0, &evaluate[new][t], &[]);
                            pass.dispatch_workgroups(x, y, 1);
                            pass.set_pipeline(&self.best_response);
                            for agent in best_response {
                                pass.set_bind_group(0, &agent[new][t], &[]);
                                pass.dispatch_workgroups(x, y, 1);
                            }
                        }
                    }
                }
                pass.set_pipeline(&self.policy_change);
                pass.set_bind_group(0, groups.sums(), &[]);
                pass.dispatch_workgroups(plan.sums_groups.0, plan.sums_groups.1, 1);
            }
            self.ctx.queue.submit([encoder.finish()]);
            let counts: Vec<u32> = self.ctx.read_buffer(&b.sums, plan.sums_len as u64 * 4)?;
            let changed: u64 = counts.iter().map(|&s| s as u64).sum();
            let change = changed as f64 / plan.rows as f64;
            policy_change.push(change);
            if let Some(record) = record.as_mut() {
                record(&self.snapshot(grid, b, new, &policy_change)?)?;
            }
            observer.event(&Event::Iteration {
                iteration: iteration + 1,
                policy_change: change,
            });
            if change < solver.tolerance {
                return Ok((policy_change, true, last_new));
            }
        }
        Ok((policy_change, false, last_new))
    }

    /// The state after an iteration that wrote value set `set`, for validation by step.
    fn snapshot(
        &self,
        grid: &Grid,
        b: &Buffers,
        set: usize,
        changes: &[f64],
    ) -> Result<Solution, Error> {
        let (values, policy) = self.read_back(grid, b, set)?;
        let (nt, nf, ns) = (grid.time.len(), grid.fee.len(), grid.stake.len());
        Ok(Solution {
            shape: [2, nt, nf, ns, ns],
            values,
            policy,
            policy_change: changes.to_vec(),
            converged: false,
            solve_seconds: 0.0,
        })
    }

    /// Every slice of value set `set` and of the actions, in (agent, time) order.
    fn read_back(&self, grid: &Grid, b: &Buffers, set: usize) -> Result<(Values, Vec<u8>), Error> {
        let nt = grid.time.len();
        let len = 2 * nt * grid.slice_len();
        let mut policy = Vec::with_capacity(len);
        let (mut wide, mut narrow) = (Vec::new(), Vec::new());
        for agent in 0..2 {
            for t in 0..nt {
                let buffer = &b.values[set][agent][t];
                let bytes = slice_bytes(grid, self.precision);
                match self.precision {
                    Precision::F64 => wide.extend(self.ctx.read_buffer::<f64>(buffer, bytes)?),
                    Precision::F32 => narrow.extend(self.ctx.read_buffer::<f32>(buffer, bytes)?),
                }
                let a: Vec<u32> = self
                    .ctx
                    .read_buffer(&b.actions[agent][t], action_bytes(grid))?;
                policy.extend(a.iter().map(|&c| c as u8));
            }
        }
        let values = match self.precision {
            Precision::F64 => Values::F64(wide),
            Precision::F32 => Values::F32(narrow),
        };
        Ok((values, policy))
    }

    /// The bind groups of every dispatch, per parity of the iteration (in iteration i, value set
    /// i % 2 is v_new and the other v_old) and per time step.
    fn bind_groups(&self, b: &Buffers, plan: &DispatchPlan) -> BindGroups {
        let sums = self.bind(&self.policy_change, &[&b.partials, &b.sums]);
        let per_step = |f: &dyn Fn(usize, usize) -> wgpu::BindGroup| -> [Vec<wgpu::BindGroup>; 2] {
            std::array::from_fn(|new| (0..plan.steps).map(|t| f(new, t)).collect())
        };
        let (v, a) = (&b.values, &b.actions);
        let Some(step) = &self.step else {
            return BindGroups::Separate {
                evaluate: per_step(&|new, t| {
                    let old = 1 - new;
                    self.bind(
                        &self.evaluate,
                        &[
                            &b.params,
                            &b.eval_steps[t],
                            &b.indices,
                            &b.tables,
                            &a[0][t],
                            &a[1][t],
                            &v[old][0][t + 1],
                            &v[old][1][t + 1],
                            &v[new][0][t],
                            &v[new][1][t],
                        ],
                    )
                }),
                best_response: std::array::from_fn(|agent| {
                    per_step(&|new, t| {
                        self.bind(
                            &self.best_response,
                            &[
                                &b.params,
                                &b.br_steps[agent][t],
                                &b.indices,
                                &b.tables,
                                &a[0][t],
                                &a[1][t],
                                &v[new][0][t + 1],
                                &v[new][1][t + 1],
                                &b.partials,
                            ],
                        )
                    })
                }),
                sums,
            };
        };
        let fused = per_step(&|new, t| {
            let old = 1 - new;
            self.bind(
                step,
                &[
                    &b.params,
                    &b.eval_steps[t],
                    &b.indices,
                    &b.tables,
                    &a[0][t],
                    &a[1][t],
                    &v[old][0][t + 1],
                    &v[old][1][t + 1],
                    &v[new][0][t + 1],
                    &v[new][1][t + 1],
                    &v[new][0][t],
                    &v[new][1][t],
                    &b.partials,
                ],
            )
        });
        BindGroups::Fused(fused, sums)
    }

    /// A bind group of `buffers` at bindings 0, 1, … of `pipeline`'s group 0.
    fn bind(&self, pipeline: &wgpu::ComputePipeline, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        self.ctx
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &pipeline.get_bind_group_layout(0),
                entries: &entries,
            })
    }
}

/// The dispatch sizes of one solve.
struct DispatchPlan {
    steps: usize,
    /// Rows (fee, stake0) of a slice: the policy change is per row, as the notebook's.
    rows: usize,
    /// Workgroups of a dispatch over one slice, 2-D beyond the per-dimension limit.
    slice_groups: (u32, u32),
    groups_per_slice: usize,
    /// Partial sums of the policy change: one per workgroup of each best response.
    partials_len: usize,
    /// Their second-level sums, read back once per iteration.
    sums_len: usize,
    sums_groups: (u32, u32),
}

impl DispatchPlan {
    fn new(grid: &Grid, max_dim: u32) -> Self {
        let steps = grid.time.len() - 1;
        let slice_groups = layout::workgroups(grid.slice_len() as u64, max_dim);
        let groups_per_slice = slice_groups.0 as usize * slice_groups.1 as usize;
        let partials_len = 2 * steps * groups_per_slice;
        DispatchPlan {
            steps,
            rows: grid.fee.len() * grid.stake.len(),
            slice_groups,
            groups_per_slice,
            partials_len,
            sums_len: partials_len.div_ceil(WORKGROUP_SIZE as usize),
            sums_groups: layout::workgroups(partials_len as u64, max_dim),
        }
    }
}

/// The device buffers of one solve.
struct Buffers {
    params: wgpu::Buffer,
    indices: wgpu::Buffer,
    /// The gain tables in the kernels' precision.
    tables: wgpu::Buffer,
    /// values[set][agent][t]: two sets, v_old and v_new, whose roles swap every iteration.
    values: [[Vec<wgpu::Buffer>; 2]; 2],
    /// actions[agent][t], u32 action codes.
    actions: [Vec<wgpu::Buffer>; 2],
    partials: wgpu::Buffer,
    sums: wgpu::Buffer,
    /// The `Step` uniform of each time step for the evaluation (and the fused kernel), and
    /// for each agent's best response.
    eval_steps: Vec<wgpu::Buffer>,
    br_steps: [Vec<wgpu::Buffer>; 2],
}

impl Buffers {
    fn new(
        ctx: &GpuContext,
        grid: &Grid,
        plan: &DispatchPlan,
        (params, tables): (&Params, &layout::Tables),
        precision: Precision,
    ) -> Self {
        let nt = grid.time.len();
        let init = |label: &str, contents: &[u8], usage| ctx.buffer_init(label, contents, usage);
        let buffer = |label: &str, size: u64, usage| ctx.buffer(label, size, usage);
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        let uniform = wgpu::BufferUsages::UNIFORM;
        // wgpu zero-initialises buffers, which is the notebook's start for the values.
        let values = std::array::from_fn(|set| {
            std::array::from_fn(|agent| {
                (0..nt)
                    .map(|t| {
                        let label = format!("values {set} {agent} {t}");
                        buffer(&label, slice_bytes(grid, precision), storage)
                    })
                    .collect()
            })
        });
        // The notebook starts every action at 1 (code INITIAL_ACTION).
        let initial = vec![INITIAL_ACTION as u32; grid.slice_len()];
        let actions = std::array::from_fn(|agent| {
            (0..nt)
                .map(|t| {
                    let label = format!("actions {agent} {t}");
                    init(&label, bytemuck::cast_slice(&initial), storage)
                })
                .collect()
        });
        let step = |t: usize, agent: u32| {
            let partials_at = ((agent as usize * plan.steps + t) * plan.groups_per_slice) as u32;
            init(
                "step",
                bytemuck::bytes_of(&Step::new(t, agent, partials_at)),
                uniform,
            )
        };
        Buffers {
            params: init("params", bytemuck::bytes_of(params), uniform),
            indices: init("indices", bytemuck::cast_slice(&tables.indices), storage),
            tables: init("tables", &tables.real_bytes(precision), storage),
            values,
            actions,
            partials: buffer(
                "partials",
                plan.partials_len as u64 * 4,
                wgpu::BufferUsages::STORAGE,
            ),
            sums: buffer("sums", plan.sums_len as u64 * 4, storage),
            eval_steps: (0..plan.steps).map(|t| step(t, 0)).collect(),
            br_steps: std::array::from_fn(|agent| {
                (0..plan.steps).map(|t| step(t, agent as u32)).collect()
            }),
        }
    }
}

/// The bind groups of one solve, per parity of the iteration and per time step.
enum BindGroups {
    /// `notebook_step`: [parity][t]; and the policy-change sums.
    Fused([Vec<wgpu::BindGroup>; 2], wgpu::BindGroup),
    /// `notebook_evaluate`: [parity][t]; `notebook_best_response`: [agent][parity][t].
    Separate {
        evaluate: [Vec<wgpu::BindGroup>; 2],
        best_response: [[Vec<wgpu::BindGroup>; 2]; 2],
        sums: wgpu::BindGroup,
    },
}

impl BindGroups {
    fn sums(&self) -> &wgpu::BindGroup {
        match self {
            BindGroups::Fused(_, sums) | BindGroups::Separate { sums, .. } => sums,
        }
    }
}
