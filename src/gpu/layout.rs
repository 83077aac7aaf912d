//! Data shared with the WGSL kernels: the uniform structs (4-byte scalars, `#[repr(C)]`, Pod),
//! the constants and the arithmetic type prepended to every shader, the tables the kernels
//! read, and dispatch sizes. Both the solvers and the tests use these, so a size is computed in
//! one place.
//!
//! The model is defined once, on the host: the kernels read the running gain from the tables
//! the CPU solvers use (`crate::gain`, built in f64 and uploaded in the kernels' precision), so
//! they only add, multiply and compare. That is what lets them run in f64 where the adapter
//! has `SHADER_F64` (WGSL has no f64 `exp`).

use bytemuck::{Pod, Zeroable};

use crate::error::Error;
use crate::gain::{GainTables, StepGains};
use crate::grid::{ClampedTransitions, Grid, Transitions, ACTION_CODES, CONTROL_CODES, PAIR_CODES};
use crate::model::Game;
use crate::scheme::Precision;

/// Invocations per workgroup of every kernel.
pub const WORKGROUP_SIZE: u32 = 256;

/// Action pairs of the `equilibrium` stage game (3 × 3 controls).
pub const PAIRS: u32 = (CONTROL_CODES.len() * CONTROL_CODES.len()) as u32;

/// The `equilibrium` kernel packs both agents' codes of a state into one byte (a pair code,
/// four to a u32 word): agent 1's code is shifted by this many bits (codes are below 4).
pub const ACTION_PACK_SHIFT: u32 = 4;

/// u32 words per workgroup in the `equilibrium` diagnostics: states without a pure
/// equilibrium, states with several, the largest selected exploitability (f32 bits), states
/// whose selection the tolerance decided.
pub const DIAGNOSTICS_STRIDE: u32 = 4;

/// "No state": [`Params::perturbed_state`] when no kernel output is perturbed.
pub const NO_STATE: u32 = u32::MAX;

/// The per-solve parameters (`Params` in shaders/common.wgsl; a test compares the layouts
/// field by field): the grid's sizes and where each table sits in `indices` (u32) and `tables`
/// (the kernels' real type).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct Params {
    pub fee_points: u32,
    pub stake_points: u32,
    pub slice_len: u32,
    /// Test-only: the state whose chosen action a kernel deliberately gets wrong, so that a
    /// test can show that validation catches a wrong kernel. [`NO_STATE`] otherwise.
    pub perturbed_state: u32,
    pub fee_nearest_at: u32,
    pub fee_step_at: u32,
    pub stake_nearest_at: u32,
    pub stake_step_at: u32,
    pub action_change_at: u32,
    pub fee_lo_at: u32,
    pub fee_hi_at: u32,
    pub stake_lo_at: u32,
    pub stake_hi_at: u32,
    pub stake_factor0_at: u32,
    pub stake_factor1_at: u32,
    pub fee_gain_at: u32,
    pub holding_at: u32,
    pub fee_weight_at: u32,
    pub stake_weight_at: u32,
    pub _pad: u32,
}

/// One dispatch's time step (`Step` in shaders/common.wgsl): which slice of the per-step
/// tables it reads, and for the best response the agent and where its partial sums go.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct Step {
    pub time_index: u32,
    pub agent: u32,
    pub partials_at: u32,
    pub _pad: u32,
}

impl Step {
    pub fn new(time_index: usize, agent: u32, partials_at: u32) -> Self {
        Step {
            time_index: time_index as u32,
            agent,
            partials_at,
            _pad: 0,
        }
    }
}

/// Field names and byte offsets of a Pod struct, for the layout tests against WGSL.
macro_rules! fields {
    ($t:ty, $($f:ident),*) => {
        vec![$((stringify!($f), std::mem::offset_of!($t, $f))),*]
    };
}

/// Field names and byte offsets of [`Params`].
pub fn params_fields() -> Vec<(&'static str, usize)> {
    fields!(
        Params,
        fee_points,
        stake_points,
        slice_len,
        perturbed_state,
        fee_nearest_at,
        fee_step_at,
        stake_nearest_at,
        stake_step_at,
        action_change_at,
        fee_lo_at,
        fee_hi_at,
        stake_lo_at,
        stake_hi_at,
        stake_factor0_at,
        stake_factor1_at,
        fee_gain_at,
        holding_at,
        fee_weight_at,
        stake_weight_at,
        _pad
    )
}

/// Field names and byte offsets of [`Step`].
pub fn step_fields() -> Vec<(&'static str, usize)> {
    fields!(Step, time_index, agent, partials_at, _pad)
}

/// The tables the kernels read, flattened: `indices` holds nodes and action changes (u32),
/// `reals` the gain tables and interpolation weights, in f64 until uploaded in the kernels'
/// precision.
#[derive(Default)]
pub struct Tables {
    pub indices: Vec<u32>,
    pub reals: Vec<f64>,
}

impl Tables {
    fn index(&mut self, table: &[u32]) -> u32 {
        let start = self.indices.len() as u32;
        self.indices.extend_from_slice(table);
        start
    }

    fn real(&mut self, table: &[f64]) -> u32 {
        let start = self.reals.len() as u32;
        self.reals.extend_from_slice(table);
        start
    }

    /// `reals` as the bytes of an array of `precision`.
    pub fn real_bytes(&self, precision: Precision) -> Vec<u8> {
        match precision {
            Precision::F64 => bytemuck::cast_slice(&self.reals).to_vec(),
            Precision::F32 => {
                let narrow: Vec<f32> = self.reals.iter().map(|&x| x as f32).collect();
                bytemuck::cast_slice(&narrow).to_vec()
            }
        }
    }

    /// Bytes of `reals` in `precision`.
    pub fn real_len_bytes(&self, precision: Precision) -> u64 {
        self.reals.len() as u64 * precision.bytes()
    }

    /// The running gain's tables (the CPU's, `crate::gain`): each agent's stake factor, and
    /// per time step the scaled fee gain and both agents' holding costs, every step's after
    /// the previous one.
    fn gains(
        &mut self,
        params: &mut Params,
        game: &Game,
        grid: &Grid,
        (fee_post, stake_post): (&[f64], &[f64]),
    ) -> Result<(), Error> {
        let threads = crate::team::default_threads();
        let gains = GainTables::new(game, grid, fee_post, stake_post, threads)?;
        params.stake_factor0_at = self.real(&gains.stake_factor[0]);
        params.stake_factor1_at = self.real(&gains.stake_factor[1]);
        let steps: Vec<StepGains> = (0..grid.time.len() - 1)
            .map(|t| StepGains::new(game, grid, &gains, stake_post, t))
            .collect();
        params.fee_gain_at = self.reals.len() as u32;
        for s in &steps {
            self.real(&s.fee_gain);
        }
        params.holding_at = self.reals.len() as u32;
        for s in &steps {
            self.real(&s.holding[0]);
            self.real(&s.holding[1]);
        }
        Ok(())
    }
}

fn grid_params(grid: &Grid) -> Params {
    Params {
        fee_points: grid.fee.len() as u32,
        stake_points: grid.stake.len() as u32,
        slice_len: grid.slice_len() as u32,
        perturbed_state: NO_STATE,
        ..Zeroable::zeroed()
    }
}

/// The parameters and tables of a `notebook` solve.
pub fn notebook_tables(
    game: &Game,
    grid: &Grid,
    tr: &Transitions,
) -> Result<(Params, Tables), Error> {
    let mut params = grid_params(grid);
    let mut t = Tables::default();
    params.fee_nearest_at = t.index(&tr.fee_nearest);
    params.fee_step_at = t.index(&tr.fee_step);
    params.stake_nearest_at = t.index(&tr.stake_nearest);
    params.stake_step_at = t.index(&tr.stake_step);
    let change: Vec<u32> = (0..PAIR_CODES)
        .map(|p| {
            let v = |c: usize| grid.actions.value(c as u8);
            v(p / ACTION_CODES).abs_diff(v(p % ACTION_CODES)) as u32
        })
        .collect();
    params.action_change_at = t.index(&change);
    t.gains(&mut params, game, grid, (&tr.fee_post, &tr.stake_post))?;
    Ok((params, t))
}

/// The parameters and tables of an `equilibrium` sweep: the brackets' lo/hi nodes and
/// weights, and the gain at the clamped post-move points.
pub fn equilibrium_tables(
    game: &Game,
    grid: &Grid,
    tr: &ClampedTransitions,
) -> Result<(Params, Tables), Error> {
    let mut params = grid_params(grid);
    let mut t = Tables::default();
    params.fee_lo_at = t.index(&tr.fee.lo);
    params.fee_hi_at = t.index(&tr.fee.hi);
    params.stake_lo_at = t.index(&tr.stake.lo);
    params.stake_hi_at = t.index(&tr.stake.hi);
    params.fee_weight_at = t.real(&tr.fee.weight);
    params.stake_weight_at = t.real(&tr.stake.weight);
    t.gains(&mut params, game, grid, (&tr.fee_post, &tr.stake_post))?;
    Ok((params, t))
}

/// How a kernel binds a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Uniform,
    Read,
    ReadWrite,
}

/// A kernel's bindings in `@binding` order: the name its WGSL declares and how it binds it.
/// The pipeline's bind-group layout is built from this list (not inferred from the shader),
/// bind groups are made against it, and a test checks it against each kernel's WGSL
/// declarations with naga.
pub type Bindings = &'static [(&'static str, Access)];

use Access::{Read, ReadWrite, Uniform};

pub const NOTEBOOK_STEP_BINDINGS: Bindings = &[
    ("params", Uniform),
    ("step", Uniform),
    ("indices", Read),
    ("tables", Read),
    ("actions0", ReadWrite),
    ("actions1", ReadWrite),
    ("v_old_next0", Read),
    ("v_old_next1", Read),
    ("v_new_next0", Read),
    ("v_new_next1", Read),
    ("v_new0", ReadWrite),
    ("v_new1", ReadWrite),
    ("partials", ReadWrite),
];

pub const NOTEBOOK_EVALUATE_BINDINGS: Bindings = &[
    ("params", Uniform),
    ("step", Uniform),
    ("indices", Read),
    ("tables", Read),
    ("actions0", Read),
    ("actions1", Read),
    ("v_old_next0", Read),
    ("v_old_next1", Read),
    ("v_new0", ReadWrite),
    ("v_new1", ReadWrite),
];

pub const NOTEBOOK_BEST_RESPONSE_BINDINGS: Bindings = &[
    ("params", Uniform),
    ("step", Uniform),
    ("indices", Read),
    ("tables", Read),
    ("actions0", ReadWrite),
    ("actions1", ReadWrite),
    ("v_new_next0", Read),
    ("v_new_next1", Read),
    ("partials", ReadWrite),
];

pub const NOTEBOOK_POLICY_CHANGE_BINDINGS: Bindings = &[("partials", Read), ("sums", ReadWrite)];

/// Both entry points of the stencil kernel: the per-state kernel's bindings, then each
/// agent's three line slices (`lines0`, `lines1`), which `equilibrium_lines` writes and
/// `equilibrium_step` reads.
pub const EQUILIBRIUM_STENCIL_BINDINGS: Bindings = &[
    ("params", Uniform),
    ("step", Uniform),
    ("indices", Read),
    ("tables", Read),
    ("v_next0", Read),
    ("v_next1", Read),
    ("v_cur0", ReadWrite),
    ("v_cur1", ReadWrite),
    ("actions", ReadWrite),
    ("diagnostics", ReadWrite),
    ("lines0", ReadWrite),
    ("lines1", ReadWrite),
];

/// The per-state `equilibrium_step`: the stencil kernel's bindings without the lines.
pub const EQUILIBRIUM_STEP_BINDINGS: Bindings = EQUILIBRIUM_STENCIL_BINDINGS.split_at(10).0;

/// Storage buffers a kernel binds (what the adapter's per-stage limit counts).
pub fn storage_buffers(bindings: Bindings) -> u32 {
    bindings.iter().filter(|(_, a)| *a != Uniform).count() as u32
}

/// The explicit bind-group layout entries of `bindings`.
pub fn layout_entries(bindings: Bindings) -> Vec<wgpu::BindGroupLayoutEntry> {
    bindings
        .iter()
        .enumerate()
        .map(|(i, (_, access))| wgpu::BindGroupLayoutEntry {
            binding: i as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: match access {
                    Uniform => wgpu::BufferBindingType::Uniform,
                    Read => wgpu::BufferBindingType::Storage { read_only: true },
                    ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        })
        .collect()
}

/// The WGSL prelude of every kernel: the arithmetic type and the constants shared with Rust.
pub fn shader_prelude(precision: Precision) -> String {
    format!(
        "alias real = {real};\n\
         const WORKGROUP_SIZE: u32 = {WORKGROUP_SIZE}u;\n\
         const ACTION_CODES: u32 = {ACTION_CODES}u;\n\
         const PAIR_CODES: u32 = {PAIR_CODES}u;\n\
         const CONTROLS: u32 = {controls}u;\n\
         const PAIRS: u32 = {PAIRS}u;\n\
         const ACTION_PACK_SHIFT: u32 = {ACTION_PACK_SHIFT}u;\n\
         const DIAGNOSTICS_STRIDE: u32 = {DIAGNOSTICS_STRIDE}u;\n\
         const NO_STATE: u32 = {NO_STATE}u;\n\
         const TIE_TOLERANCE: real = {tie:e};\n\
         const ROUNDING_GAP: real = {gap:e};\n",
        real = precision.name(),
        controls = CONTROL_CODES.len(),
        tie = precision.tie_tolerance(),
        gap = crate::scheme::ROUNDING_GAP,
    )
}

/// A kernel's full source in `precision`: the prelude, common.wgsl, then `parts` (shared
/// per-state functions first, the kernel's own file last).
pub fn kernel_source(precision: Precision, parts: &[&str]) -> String {
    let mut source = shader_prelude(precision) + COMMON;
    for part in parts {
        source.push_str(part);
    }
    source
}

/// The notebook scheme's kernels, each as the parts of its source.
pub const NOTEBOOK_EVALUATE_KERNEL: [&str; 2] = [NOTEBOOK_EVALUATE_STATE, NOTEBOOK_EVALUATE];
pub const NOTEBOOK_BEST_RESPONSE_KERNEL: [&str; 2] =
    [NOTEBOOK_BEST_RESPONSE_STATE, NOTEBOOK_BEST_RESPONSE];
pub const NOTEBOOK_STEP_KERNEL: [&str; 3] = [
    NOTEBOOK_EVALUATE_STATE,
    NOTEBOOK_BEST_RESPONSE_STATE,
    NOTEBOOK_STEP,
];
/// The `equilibrium` scheme's kernels: per state (V(t+1) from eight corners; its first two
/// parts are the stage game the twin tests dispatch), and as stencils (one module, two entry
/// points: `equilibrium_lines`, then `equilibrium_step` on the lines).
pub const EQUILIBRIUM_STEP_KERNEL: [&str; 3] =
    [EQUILIBRIUM_STATE, EQUILIBRIUM_CORNERS, EQUILIBRIUM_STEP];
pub const EQUILIBRIUM_STENCIL_KERNEL: [&str; 3] =
    [EQUILIBRIUM_STATE, EQUILIBRIUM_STENCIL, EQUILIBRIUM_STEP];

/// A kernel that needs only the constants (no parameters): the prelude and its own file.
pub fn standalone_source(kernel: &str) -> String {
    format!("{}{}", shader_prelude(Precision::F32), kernel)
}

pub const COMMON: &str = include_str!("../../shaders/common.wgsl");
pub const NOTEBOOK_EVALUATE_STATE: &str =
    include_str!("../../shaders/notebook_evaluate_state.wgsl");
pub const NOTEBOOK_BEST_RESPONSE_STATE: &str =
    include_str!("../../shaders/notebook_best_response_state.wgsl");
pub const NOTEBOOK_STEP: &str = include_str!("../../shaders/notebook_step.wgsl");
pub const NOTEBOOK_EVALUATE: &str = include_str!("../../shaders/notebook_evaluate.wgsl");
pub const NOTEBOOK_BEST_RESPONSE: &str = include_str!("../../shaders/notebook_best_response.wgsl");
pub const EQUILIBRIUM_STATE: &str = include_str!("../../shaders/equilibrium_state.wgsl");
pub const EQUILIBRIUM_CORNERS: &str = include_str!("../../shaders/equilibrium_corners.wgsl");
pub const EQUILIBRIUM_STENCIL: &str = include_str!("../../shaders/equilibrium_stencil.wgsl");
pub const EQUILIBRIUM_STEP: &str = include_str!("../../shaders/equilibrium_step.wgsl");
pub const NOTEBOOK_POLICY_CHANGE: &str = include_str!("../../shaders/notebook_policy_change.wgsl");

/// Workgroups for `items` invocations: (x, y) with x ≤ `max_per_dimension`, so grids beyond
/// 65535 workgroups per dimension dispatch in two dimensions (kernels linearise y·x + x).
/// Balanced: y is the fewest rows that can hold the groups and x the fewest columns for y
/// rows, so fewer than y workgroups are empty (filling x to the limit first left up to x − 1
/// empty, a few percent of a slice).
pub fn workgroups(items: u64, max_per_dimension: u32) -> (u32, u32) {
    let groups = items.div_ceil(WORKGROUP_SIZE as u64).max(1);
    let y = groups.div_ceil(max_per_dimension.max(1) as u64);
    // x = ⌈groups / y⌉ ≤ max_per_dimension because y ≥ groups / max_per_dimension.
    let x = groups.div_ceil(y);
    (x as u32, y as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_covers_every_item_and_respects_the_limit() {
        assert_eq!(workgroups(1, 65535), (1, 1));
        assert_eq!(workgroups(256, 65535), (1, 1));
        assert_eq!(workgroups(257, 65535), (2, 1));
        let (x, y) = workgroups(20_000_000, 65535);
        assert!(x <= 65535 && (x as u64 * y as u64) * 256 >= 20_000_000);
        assert_eq!(workgroups(1000 * 256, 100), (100, 10));
    }

    #[test]
    fn two_dimensional_dispatches_leave_fewer_empty_workgroups_than_rows() {
        // 65536 groups: filling x first gave 65535 × 2 (65534 empty); balanced, 32768 × 2.
        assert_eq!(workgroups(65536 * 256, 65535), (32768, 2));
        for groups in [65_536u64, 100_000, 131_071, 1_000_003, 20_000_000] {
            for max in [65_535u32, 1000, 7] {
                let (x, y) = workgroups(groups * 256, max);
                let (x, y) = (x as u64, y as u64);
                assert!(
                    x <= max as u64 && x * y >= groups,
                    "{groups} {max}: {x}×{y}"
                );
                assert!(
                    x * y - groups < y,
                    "{groups} {max}: {x}×{y} leaves too many empty"
                );
            }
        }
    }
}
