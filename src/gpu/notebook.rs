//! The `notebook` scheme on the GPU: the same iteration as `cpu::notebook`, with each time
//! step's evaluation and best responses as compute dispatches over the whole grid, in f32 or
//! (where the adapter has `SHADER_F64`) f64.
//!
//! Every (agent, time) slice of the values and actions is its own buffer, so a grid works
//! whenever one agent's time slice fits in a storage binding, however many time points it has.
//! The values live in a ring of N_T + 1 slices per agent ([`ValueRing`]) and the actions one
//! byte per state, four to a word; [`device_bytes`] counts every buffer, and [`check`]
//! refuses a solve beyond the adapter's memory before anything is allocated.
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
use crate::resources::human_bytes;
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

/// Bytes of one agent's time slice of values in `precision`.
pub fn slice_bytes(grid: &Grid, precision: Precision) -> u64 {
    grid.slice_len() as u64 * precision.bytes()
}

/// Bytes of one agent's time slice of action codes as the notebook kernels hold them: one
/// byte per state, four to a u32 word (state s in byte s % 4 of word s / 4).
fn packed_action_bytes(slice_len: u64) -> u64 {
    slice_len.div_ceil(4) * 4
}

/// Checks that one agent's time slice, and the tables (`tables_bytes`), each fit in a storage
/// binding of this adapter; the error names the limit and the largest grid that fits.
pub fn check_fits(
    ctx: &GpuContext,
    grid: &Grid,
    precision: Precision,
    tables_bytes: u64,
) -> Result<(), Error> {
    check_slice_fits(ctx, grid, precision)?;
    check_tables_fit(ctx, grid, precision, tables_bytes)
}

/// One agent's time slice (values; the `equilibrium` kernels' u32 actions, 4 bytes a state)
/// fits in a storage binding.
fn check_slice_fits(ctx: &GpuContext, grid: &Grid, precision: Precision) -> Result<(), Error> {
    ctx.check_precision(precision)?;
    let limit = ctx.binding_limit();
    let needed = slice_bytes(grid, precision).max(grid.slice_len() as u64 * 4);
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
    Ok(())
}

fn check_tables_fit(
    ctx: &GpuContext,
    grid: &Grid,
    precision: Precision,
    tables_bytes: u64,
) -> Result<(), Error> {
    let limit = ctx.binding_limit();
    if tables_bytes > limit {
        // The stake factors dominate: 2 agents × (4·stake_points)² values.
        let largest_stake = ((limit / precision.bytes() / 32) as f64).sqrt().floor() as u64;
        return Err(Error::TooLarge(format!(
            "grid: the gain tables need {tables_bytes} bytes in {} (2 × (4·{}²) stake factors), but adapter {} binds at most {limit} bytes per storage buffer; the largest stake_points that fits is about {largest_stake}",
            precision.name(),
            grid.stake.len(),
            ctx.info.name
        )));
    }
    Ok(())
}

/// Bytes of the notebook scheme's gain tables in `precision` (what [`check_fits`] checks
/// before anything is built): both stake factors and every step's fee gains and holdings.
pub fn tables_bytes(grid: &Grid, precision: Precision) -> u64 {
    Sizes::of(grid).tables_bytes(precision)
}

/// A grid's sizes, all that the device memory depends on: time, fee and stake points.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    nt: u64,
    nf: u64,
    ns: u64,
}

impl Sizes {
    fn of(grid: &Grid) -> Self {
        Sizes {
            nt: grid.time.len() as u64,
            nf: grid.fee.len() as u64,
            ns: grid.stake.len() as u64,
        }
    }

    /// The same grid with two time points (one step), the fewest there can be.
    fn at_two_times(self) -> Self {
        Sizes { nt: 2, ..self }
    }

    fn slice_len(&self) -> u64 {
        self.nf.saturating_mul(self.ns).saturating_mul(self.ns)
    }

    fn tables_bytes(&self, precision: Precision) -> u64 {
        let (nf, ns4, steps) = (self.nf, self.ns * ACTION_CODES as u64, self.nt - 1);
        let per_step = nf * PAIR_CODES as u64 + 2 * ns4;
        let reals = crate::resources::bytes(&[2, ns4, ns4])
            .saturating_add(steps.saturating_mul(per_step))
            .saturating_add(2 * ns4);
        reals.saturating_mul(precision.bytes())
    }

    /// Bytes of `indices` (u32): the nearest and stepped nodes of the fee (per pair of action
    /// codes) and of the stake (per action code), and the action changes.
    fn indices_bytes(&self) -> u64 {
        let (pairs, codes) = (PAIR_CODES as u64, ACTION_CODES as u64);
        4 * (2 * self.nf * pairs + 2 * self.ns * codes + pairs)
    }
}

/// The device memory of a notebook solve, in bytes, by what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceBytes {
    /// Each agent's ring of value slices and the shared zeros of the last time (see
    /// [`ValueRing`]).
    pub values: u64,
    /// Each agent's packed action codes at the times that are improved (0..N_T−2).
    pub actions: u64,
    /// The gain tables, node indices, parameters and per-step uniforms.
    pub tables: u64,
    /// The policy change's partial sums and their sums.
    pub reduction: u64,
    /// The largest transient buffer at any moment: an upload's staging copy or a readback's.
    pub staging: u64,
}

impl DeviceBytes {
    pub fn total(&self) -> u64 {
        [
            self.values,
            self.actions,
            self.tables,
            self.reduction,
            self.staging,
        ]
        .iter()
        .fold(0u64, |a, &b| a.saturating_add(b))
    }
}

/// Uniform buffers are tiny but each takes at least one allocation granule; 256 bytes is the
/// usual offset alignment, so count that much for each.
const UNIFORM_BYTES: u64 = 256;

/// The device memory a notebook solve of `grid` in `precision` allocates, computed from the
/// sizes alone (nothing is built): what [`check_device_memory`] compares with the adapter's
/// budget. `max_dim` is the workgroups per dispatch dimension (the partial sums are one per
/// workgroup).
pub fn device_bytes(grid: &Grid, precision: Precision, max_dim: u32) -> DeviceBytes {
    device_bytes_of(Sizes::of(grid), precision, max_dim)
}

fn device_bytes_of(z: Sizes, precision: Precision, max_dim: u32) -> DeviceBytes {
    let slice = z.slice_len();
    let value_slice = slice.saturating_mul(precision.bytes());
    let action_slice = packed_action_bytes(slice);
    let steps = z.nt - 1;
    let plan = DispatchPlan::of(z, max_dim);
    let tables = z.tables_bytes(precision);
    let reduction = (plan.partials_len as u64 + plan.sums_len as u64) * 4;
    DeviceBytes {
        values: crate::resources::bytes(&[
            2,
            ValueRing::len_for(z.nt as usize) as u64,
            value_slice,
        ])
        .saturating_add(value_slice),
        actions: crate::resources::bytes(&[2, steps, action_slice]),
        tables: tables
            .saturating_add(z.indices_bytes())
            .saturating_add(UNIFORM_BYTES.saturating_mul(1 + 3 * steps)),
        reduction,
        // Uploads: the tables, and the initial actions (their buffer and its staging copy);
        // readbacks: one value or action slice, or the sums.
        staging: [
            tables,
            z.indices_bytes(),
            2 * action_slice,
            value_slice,
            reduction,
        ]
        .into_iter()
        .max()
        .unwrap_or(0),
    }
}

/// Bytes the host holds while the device's buffers are alive: the values and actions read
/// back (one byte each), for an adapter whose memory is the host's.
fn host_results_bytes(z: Sizes, precision: Precision) -> u64 {
    crate::resources::bytes(&[2, z.nt, z.slice_len(), precision.bytes() + 1])
}

/// Refuses, before anything is allocated, a notebook solve whose buffers exceed the
/// adapter's memory budget (`GpuContext::memory`; unknown budgets are not checked), naming the
/// bytes needed, the bytes available and the largest grid.time_points that fits.
pub fn check_device_memory(
    ctx: &GpuContext,
    grid: &Grid,
    precision: Precision,
    max_dim: u32,
) -> Result<(), Error> {
    let Some(available) = ctx.memory.available() else {
        return Ok(());
    };
    let shared = ctx.memory.shared_with_host();
    let z = Sizes::of(grid);
    let needed = |z: Sizes| {
        let device = device_bytes_of(z, precision, max_dim).total();
        let host = if shared {
            host_results_bytes(z, precision)
        } else {
            0
        };
        device.saturating_add(host)
    };
    if needed(z) <= available {
        return Ok(());
    }
    let bytes = device_bytes_of(z, precision, max_dim);
    let limit = ctx.binding_limit();
    let fits = |nt: u64| {
        let z = Sizes { nt, ..z };
        needed(z) <= available && z.tables_bytes(precision) <= limit
    };
    // Both sizes grow with the time points: the largest that fits, by bisection.
    let (mut lo, mut hi) = (1u64, z.nt);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) {
            lo = mid
        } else {
            hi = mid
        }
    }
    let most = if lo >= 2 && fits(lo) {
        format!("grid.time_points = {lo} is the most that fits with this fee and stake grid")
    } else {
        "no grid.time_points fits with this fee and stake grid: use fewer fee_points or stake_points".into()
    };
    let host = if shared {
        format!(
            " and {} of host memory for the results (a CPU adapter's memory is the host's)",
            short_bytes(host_results_bytes(z, precision))
        )
    } else {
        String::new()
    };
    Err(Error::TooLarge(format!(
        "the notebook scheme on GPU {} needs {} of device memory ({} values, {} actions, {} tables and sums, {} staging){host}, it has {}; {most}",
        ctx.info.name,
        human_bytes(bytes.total()),
        short_bytes(bytes.values),
        short_bytes(bytes.actions),
        short_bytes(bytes.tables.saturating_add(bytes.reduction)),
        short_bytes(bytes.staging),
        human_bytes(available),
    )))
}

/// `b` in the largest binary unit, without the exact count (for the parts of a total).
fn short_bytes(b: u64) -> String {
    let full = human_bytes(b);
    full.split(" (").next().unwrap_or(&full).to_string()
}

/// Everything the notebook scheme checks on the GPU before it allocates: one slice per
/// storage binding, the whole solve in the adapter's memory, the tables in a binding.
pub fn check(ctx: &GpuContext, grid: &Grid, precision: Precision) -> Result<(), Error> {
    check_slice_fits(ctx, grid, precision)?;
    // The tables' part that no number of time points changes (the stake factors) first, so
    // that the device memory's advice (the largest time_points) is one that works.
    check_tables_fit(
        ctx,
        grid,
        precision,
        Sizes::of(grid).at_two_times().tables_bytes(precision),
    )?;
    let max_dim = ctx.limits.max_compute_workgroups_per_dimension;
    check_device_memory(ctx, grid, precision, max_dim)?;
    check_tables_fit(ctx, grid, precision, tables_bytes(grid, precision))
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
        check(&self.ctx, grid, self.precision)?;
        let max_dim = self.max_workgroups_per_dimension;
        let start = Instant::now();
        let tr = Transitions::notebook(game, grid);
        let (mut params, tables) = layout::notebook_tables(game, grid, &tr)?;
        params.perturbed_state = self.perturbed_state;
        self.ctx.checked("solving the notebook scheme", || {
            let plan = DispatchPlan::new(grid, max_dim);
            let buffers = Buffers::new(&self.ctx, grid, &plan, (&params, &tables), self.precision);
            let (policy_change, converged, last) =
                self.iterate(grid, solver, (&plan, &buffers), cancel, observer, record)?;
            let (values, policy) = self.read_back(grid, &buffers, last)?;
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
    /// ring offset of the values the last one wrote.
    fn iterate(
        &self,
        grid: &Grid,
        solver: &SolverConfig,
        (plan, b): (&DispatchPlan, &Buffers),
        cancel: &Cancel,
        observer: &mut dyn Observer,
        mut record: Option<IterationRecord>,
    ) -> Result<(Vec<f64>, bool, usize), Error> {
        let mut policy_change = Vec::new();
        let mut last = 0;
        for iteration in 0..solver.max_iterations as usize {
            cancel.check()?;
            let new = b.values.offset(iteration);
            last = new;
            // The ring's slots move every iteration, so the bind groups are made per iteration
            // (a few per time step: cheap next to the dispatches).
            let groups = self.bind_groups(b, plan, new, b.values.offset_before(new));
            self.ctx.queue.submit([self.encode(plan, &groups)?]);
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
                return Ok((policy_change, true, last));
            }
        }
        Ok((policy_change, false, last))
    }

    /// One iteration's commands: for t = N_T−2 down to 0 the time step's dispatches, then the
    /// policy change's second-level sums.
    fn encode(
        &self,
        plan: &DispatchPlan,
        groups: &BindGroups,
    ) -> Result<wgpu::CommandBuffer, Error> {
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
                        pass.set_bind_group(0, &step[t], &[]);
                        pass.dispatch_workgroups(x, y, 1);
                    }
                    BindGroups::Separate {
                        evaluate,
                        best_response,
                        ..
                    } => {
                        pass.set_pipeline(&self.evaluate);
                        pass.set_bind_group(0, &evaluate[t], &[]);
                        pass.dispatch_workgroups(x, y, 1);
                        pass.set_pipeline(&self.best_response);
                        for agent in best_response {
                            pass.set_bind_group(0, &agent[t], &[]);
                            pass.dispatch_workgroups(x, y, 1);
                        }
                    }
                }
            }
            pass.set_pipeline(&self.policy_change);
            pass.set_bind_group(0, groups.sums(), &[]);
            pass.dispatch_workgroups(plan.sums_groups.0, plan.sums_groups.1, 1);
        }
        Ok(encoder.finish())
    }

    /// The state after an iteration that wrote its values at ring offset `offset`, for
    /// validation by step.
    fn snapshot(
        &self,
        grid: &Grid,
        b: &Buffers,
        offset: usize,
        changes: &[f64],
    ) -> Result<Solution, Error> {
        let (values, policy) = self.read_back(grid, b, offset)?;
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

    /// Every slice of the values at ring offset `offset` and of the actions, in (agent, time)
    /// order.
    fn read_back(
        &self,
        grid: &Grid,
        b: &Buffers,
        offset: usize,
    ) -> Result<(Values, Vec<u8>), Error> {
        let (nt, slice) = (grid.time.len(), grid.slice_len());
        let mut policy = Vec::with_capacity(2 * nt * slice);
        let (mut wide, mut narrow) = (Vec::new(), Vec::new());
        let bytes = slice_bytes(grid, self.precision);
        for agent in 0..2 {
            for t in 0..nt {
                let buffer = b.values.slice(agent, offset, t);
                match self.precision {
                    Precision::F64 => wide.extend(self.ctx.read_buffer::<f64>(buffer, bytes)?),
                    Precision::F32 => narrow.extend(self.ctx.read_buffer::<f32>(buffer, bytes)?),
                }
                match b.actions[agent].get(t) {
                    Some(codes) => {
                        let packed = packed_action_bytes(slice as u64);
                        let codes: Vec<u8> = self.ctx.read_buffer(codes, packed)?;
                        policy.extend_from_slice(&codes[..slice]);
                    }
                    // The last time is never improved: it keeps the initial action.
                    None => policy.resize(policy.len() + slice, INITIAL_ACTION),
                }
            }
        }
        let values = match self.precision {
            Precision::F64 => Values::F64(wide),
            Precision::F32 => Values::F32(narrow),
        };
        Ok((values, policy))
    }

    /// The bind groups of one iteration's dispatches, per time step: it writes v_new at ring
    /// offset `new` and reads v_old (the previous iteration's) at offset `old`.
    fn bind_groups(&self, b: &Buffers, plan: &DispatchPlan, new: usize, old: usize) -> BindGroups {
        let sums = self
            .ctx
            .bind_group(None, &self.policy_change, &[&b.partials, &b.sums]);
        let per_step = |f: &dyn Fn(usize) -> wgpu::BindGroup| (0..plan.steps).map(f).collect();
        let (v, a) = (
            |agent, offset, t| b.values.slice(agent, offset, t),
            &b.actions,
        );
        let Some(step) = &self.step else {
            return BindGroups::Separate {
                evaluate: per_step(&|t| {
                    self.ctx.bind_group(
                        None,
                        &self.evaluate,
                        &[
                            &b.params,
                            &b.eval_steps[t],
                            &b.indices,
                            &b.tables,
                            &a[0][t],
                            &a[1][t],
                            v(0, old, t + 1),
                            v(1, old, t + 1),
                            v(0, new, t),
                            v(1, new, t),
                        ],
                    )
                }),
                best_response: std::array::from_fn(|agent| {
                    per_step(&|t| {
                        self.ctx.bind_group(
                            None,
                            &self.best_response,
                            &[
                                &b.params,
                                &b.br_steps[agent][t],
                                &b.indices,
                                &b.tables,
                                &a[0][t],
                                &a[1][t],
                                v(0, new, t + 1),
                                v(1, new, t + 1),
                                &b.partials,
                            ],
                        )
                    })
                }),
                sums,
            };
        };
        let fused = per_step(&|t| {
            self.ctx.bind_group(
                None,
                step,
                &[
                    &b.params,
                    &b.eval_steps[t],
                    &b.indices,
                    &b.tables,
                    &a[0][t],
                    &a[1][t],
                    v(0, old, t + 1),
                    v(1, old, t + 1),
                    v(0, new, t + 1),
                    v(1, new, t + 1),
                    v(0, new, t),
                    v(1, new, t),
                    &b.partials,
                ],
            )
        });
        BindGroups::Fused(fused, sums)
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
        Self::of(Sizes::of(grid), max_dim)
    }

    fn of(z: Sizes, max_dim: u32) -> Self {
        let steps = z.nt as usize - 1;
        let slice_groups = layout::workgroups(z.slice_len(), max_dim);
        let groups_per_slice = slice_groups.0 as usize * slice_groups.1 as usize;
        let partials_len = 2usize
            .saturating_mul(steps)
            .saturating_mul(groups_per_slice);
        DispatchPlan {
            steps,
            rows: (z.nf * z.ns) as usize,
            slice_groups,
            groups_per_slice,
            partials_len,
            sums_len: partials_len.div_ceil(WORKGROUP_SIZE as usize),
            sums_groups: layout::workgroups(partials_len as u64, max_dim),
        }
    }
}

/// Each agent's value slices on the device: a ring of N_T slices for the times 0..N_T−2 of two
/// iterations, and one slice of zeros for the last time, which no iteration writes (V = 0 at
/// T) and both agents share. That is N_T + 1 slices per agent where keeping v_old and v_new
/// whole took 2·N_T.
///
/// Iteration i keeps its v_new[t] in slot (t + 2i) mod N_T, so its v_old[t] (iteration i−1's)
/// is in slot (t + 2i − 2) mod N_T. The step at t reads v_old[t+1] and v_new[t+1] and writes
/// v_new[t] into the slot of v_old[t+2], which the step at t+1 was the last to read (the
/// evaluation at t reads v_old[t+1] only), or, at t = N_T−2, v_old[0], which no step reads;
/// at t = N_T−3 that slot is the spare one, as v_old[N_T−1] is the zeros. The three slots
/// of one step are distinct (offsets t−1, t, t+1 mod N_T with N_T ≥ 3), so no dispatch reads
/// a slice it writes, and the results are those of two whole value sets. With N_T = 2 the
/// only step reads the zeros and one slot is enough.
struct ValueRing {
    slots: [Vec<wgpu::Buffer>; 2],
    zeros: wgpu::Buffer,
    time_points: usize,
}

impl ValueRing {
    /// Slots per agent for `time_points` time points.
    fn len_for(time_points: usize) -> usize {
        if time_points >= 3 {
            time_points
        } else {
            1
        }
    }

    fn new(ctx: &GpuContext, grid: &Grid, precision: Precision) -> Self {
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        let bytes = slice_bytes(grid, precision);
        let nt = grid.time.len();
        // wgpu zero-initialises buffers, which is the notebook's start for the values.
        ValueRing {
            slots: std::array::from_fn(|agent| {
                (0..Self::len_for(nt))
                    .map(|slot| ctx.buffer(&format!("values {agent} slot {slot}"), bytes, storage))
                    .collect()
            }),
            zeros: ctx.buffer("values at the last time", bytes, storage),
            time_points: nt,
        }
    }

    /// The ring offset of iteration `iteration`'s v_new.
    fn offset(&self, iteration: usize) -> usize {
        ring_offset(self.time_points, iteration)
    }

    /// The offset of the iteration before the one writing at `offset`.
    fn offset_before(&self, offset: usize) -> usize {
        ring_offset_before(self.time_points, offset)
    }

    /// `agent`'s value slice at time `t` of the values at ring offset `offset`.
    fn slice(&self, agent: usize, offset: usize, t: usize) -> &wgpu::Buffer {
        match ring_slot(self.time_points, offset, t) {
            Some(slot) => &self.slots[agent][slot],
            None => &self.zeros,
        }
    }
}

fn ring_offset(time_points: usize, iteration: usize) -> usize {
    (2 * iteration) % ValueRing::len_for(time_points)
}

fn ring_offset_before(time_points: usize, offset: usize) -> usize {
    let len = ValueRing::len_for(time_points);
    (offset + len - 2 % len) % len
}

/// The ring slot of time `t` at ring offset `offset`; `None` for the last time (the zeros).
fn ring_slot(time_points: usize, offset: usize, t: usize) -> Option<usize> {
    (t + 1 < time_points).then(|| (t + offset) % ValueRing::len_for(time_points))
}

/// The device buffers of one solve.
struct Buffers {
    params: wgpu::Buffer,
    indices: wgpu::Buffer,
    /// The gain tables in the kernels' precision.
    tables: wgpu::Buffer,
    values: ValueRing,
    /// actions[agent][t] for the times improved, t < N_T−1: one byte per state, four to a
    /// u32 word (the last time keeps its initial actions and is not on the device).
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
        let init = |label: &str, contents: &[u8], usage| ctx.buffer_init(label, contents, usage);
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        let uniform = wgpu::BufferUsages::UNIFORM;
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
            values: ValueRing::new(ctx, grid, precision),
            actions: initial_actions(ctx, grid, plan.steps),
            partials: ctx.buffer(
                "partials",
                plan.partials_len as u64 * 4,
                wgpu::BufferUsages::STORAGE,
            ),
            sums: ctx.buffer("sums", plan.sums_len as u64 * 4, storage),
            eval_steps: (0..plan.steps).map(|t| step(t, 0)).collect(),
            br_steps: std::array::from_fn(|agent| {
                (0..plan.steps).map(|t| step(t, agent as u32)).collect()
            }),
        }
    }
}

/// Each agent's packed action slices for the `steps` times improved, all at the notebook's
/// start (code INITIAL_ACTION). One slice is uploaded and copied on the device into the others,
/// so that the upload's staging memory is one slice, not one per slice.
fn initial_actions(ctx: &GpuContext, grid: &Grid, steps: usize) -> [Vec<wgpu::Buffer>; 2] {
    let bytes = packed_action_bytes(grid.slice_len() as u64);
    let usage =
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
    let source = ctx.buffer_init(
        "initial actions",
        &vec![INITIAL_ACTION; bytes as usize],
        wgpu::BufferUsages::COPY_SRC,
    );
    let actions: [Vec<wgpu::Buffer>; 2] = std::array::from_fn(|agent| {
        (0..steps)
            .map(|t| ctx.buffer(&format!("actions {agent} {t}"), bytes, usage))
            .collect()
    });
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    for buffer in actions.iter().flatten() {
        encoder.copy_buffer_to_buffer(&source, 0, buffer, 0, bytes);
    }
    ctx.queue.submit([encoder.finish()]);
    actions
}

/// One iteration's bind groups, per time step.
enum BindGroups {
    /// `notebook_step`: [t]; and the policy-change sums.
    Fused(Vec<wgpu::BindGroup>, wgpu::BindGroup),
    /// `notebook_evaluate`: [t]; `notebook_best_response`: [agent][t].
    Separate {
        evaluate: Vec<wgpu::BindGroup>,
        best_response: [Vec<wgpu::BindGroup>; 2],
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

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(nt: u64, nf: u64, ns: u64) -> Grid {
        let sets = [
            format!("grid.time_points={nt}"),
            format!("grid.fee_points={nf}"),
            format!("grid.stake_points={ns}"),
        ];
        crate::config::Scenario::load(None, &sets).unwrap().grid()
    }

    #[test]
    fn device_bytes_count_a_ring_of_values_and_packed_actions() {
        let (nt, nf, ns) = (101u64, 201, 801);
        let s = nf * ns * ns;
        let b = device_bytes(&grid(nt, nf, ns), Precision::F32, 65535);
        // Per agent N_T ring slots, and one slice of zeros for both.
        assert_eq!(b.values, (2 * nt + 1) * 4 * s);
        // One byte per state (rounded up to whole words) at the N_T − 1 improved times.
        assert_eq!(b.actions, 2 * (nt - 1) * s.div_ceil(4) * 4);
        // Before: two whole value sets and u32 actions at every time.
        let before = 2 * 2 * nt * 4 * s + 2 * nt * 4 * s;
        assert!(b.total() < before * 45 / 100, "{b:?} vs {before}");
        let small = device_bytes(&grid(9, 31, 61), Precision::F32, 65535);
        assert_eq!(small.values, 19 * 4 * 31 * 61 * 61);
    }

    /// Simulates the ring's slots over iterations, tracking which logical slice each slot
    /// holds: every step reads the slices it should, and never one it writes.
    #[test]
    fn the_ring_reads_what_two_whole_value_sets_would() {
        for nt in [2usize, 3, 4, 5, 9, 10] {
            let len = ValueRing::len_for(nt);
            // held[slot] = (iteration, t) of the slice the slot holds; none yet: zeros.
            let mut held: Vec<Option<(usize, usize)>> = vec![None; len];
            let read = |held: &[Option<(usize, usize)>], offset, t| {
                ring_slot(nt, offset, t).map(|slot| held[slot])
            };
            for iteration in 0..2 * nt + 3 {
                let new = ring_offset(nt, iteration);
                let old = ring_offset_before(nt, new);
                if iteration > 0 {
                    assert_eq!(old, ring_offset(nt, iteration - 1), "nt {nt}");
                }
                for t in (0..nt - 1).rev() {
                    let written = ring_slot(nt, new, t).unwrap();
                    // v_old[t+1]: the previous iteration's (zeros before the first one or at
                    // the last time); v_new[t+1]: this iteration's.
                    let want_old =
                        (iteration > 0 && t + 1 < nt - 1).then(|| (iteration - 1, t + 1));
                    let want_new = (t + 1 < nt - 1).then_some((iteration, t + 1));
                    let got_old = read(&held, old, t + 1).flatten();
                    let got_new = read(&held, new, t + 1).flatten();
                    assert_eq!(got_old, want_old, "nt {nt} iteration {iteration} t {t}");
                    assert_eq!(got_new, want_new, "nt {nt} iteration {iteration} t {t}");
                    for (offset, at) in [(old, t + 1), (new, t + 1)] {
                        assert_ne!(ring_slot(nt, offset, at), Some(written), "nt {nt} t {t}");
                    }
                    held[written] = Some((iteration, t));
                }
                // After the iteration, v_new is whole at its offset.
                for t in 0..nt - 1 {
                    assert_eq!(read(&held, new, t), Some(Some((iteration, t))), "nt {nt}");
                }
            }
        }
    }
}
