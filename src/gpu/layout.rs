//! Data shared with the WGSL kernels: the uniform structs (4-byte scalars, `#[repr(C)]`, Pod),
//! the constants prepended to every shader, the table layout, and dispatch sizes. Both the
//! solver and the tests use these, so a size is computed in one place.

use bytemuck::{Pod, Zeroable};

use crate::grid::{Grid, Transitions, ACTION_CODES, PAIR_CODES};
use crate::model::{FeeResponse, Game, StakeResponse};

/// Invocations per workgroup of every kernel.
pub const WORKGROUP_SIZE: u32 = 256;

/// The per-solve parameters (`Params` in shaders/common.wgsl; a test compares the layouts).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct Params {
    pub fee_points: u32,
    pub stake_points: u32,
    pub slice_len: u32,
    pub fee_nearest_at: u32,
    pub fee_step_at: u32,
    pub stake_nearest_at: u32,
    pub stake_step_at: u32,
    pub stake_post_at: u32,
    pub risk_weight: f32,
    pub fee_offset: f32,
    pub stake_slope: f32,
    pub stake_shift: f32,
    pub volatility0: f32,
    pub volatility1: f32,
    pub max_volume0: f32,
    pub max_volume1: f32,
    pub dt: f32,
    pub stake_response_at_zero: f32,
    pub action_change_at: u32,
    pub _pad: u32,
}

/// One dispatch's time step (`Step` in shaders/common.wgsl).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct Step {
    pub time_index: u32,
    pub agent: u32,
    pub partials_at: u32,
    pub _pad: u32,
    pub discount: f32,
    pub growth0: f32,
    pub growth1: f32,
    pub _pad1: f32,
}

/// Where the `equilibrium` scheme's tables sit (`Sweep` in shaders/equilibrium_step.wgsl).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct Sweep {
    pub fee_lo_at: u32,
    pub fee_hi_at: u32,
    pub stake_lo_at: u32,
    pub stake_hi_at: u32,
    pub fee_weight_at: u32,
    pub stake_weight_at: u32,
    pub stake_post_at: u32,
    pub tie_tolerance: f32,
}

impl Sweep {
    /// The parameters and tables of an `equilibrium` sweep: `indices` holds the brackets'
    /// lo/hi nodes, `posts` the clamped post-move fees (first) and stakes and the weights.
    pub fn new(
        game: &Game,
        grid: &Grid,
        tr: &crate::grid::ClampedTransitions,
        tie_tolerance: f64,
    ) -> (Params, Sweep, Tables) {
        // The model constants come from the notebook's parameters; their table offsets are
        // not used by the equilibrium kernel.
        let (params, _) = Params::notebook(game, grid, &Transitions::notebook(game, grid));
        let mut indices = Vec::new();
        let mut at = |table: &[u32]| {
            let start = indices.len() as u32;
            indices.extend_from_slice(table);
            start
        };
        let fee_lo_at = at(&tr.fee.lo);
        let fee_hi_at = at(&tr.fee.hi);
        let stake_lo_at = at(&tr.stake.lo);
        let stake_hi_at = at(&tr.stake.hi);
        let mut posts: Vec<f32> = tr.fee_post.iter().map(|&f| f as f32).collect();
        let mut at = |table: &[f64]| {
            let start = posts.len() as u32;
            posts.extend(table.iter().map(|&x| x as f32));
            start
        };
        let stake_post_at = at(&tr.stake_post);
        let fee_weight_at = at(&tr.fee.weight);
        let stake_weight_at = at(&tr.stake.weight);
        let sweep = Sweep {
            fee_lo_at,
            fee_hi_at,
            stake_lo_at,
            stake_hi_at,
            fee_weight_at,
            stake_weight_at,
            stake_post_at,
            tie_tolerance: tie_tolerance as f32,
        };
        (params, sweep, Tables { indices, posts })
    }
}

/// Field names and byte offsets of [`Params`], for the layout test against the WGSL struct.
pub fn params_fields() -> Vec<(&'static str, usize)> {
    use std::mem::offset_of;
    vec![
        ("fee_points", offset_of!(Params, fee_points)),
        ("stake_points", offset_of!(Params, stake_points)),
        ("slice_len", offset_of!(Params, slice_len)),
        ("fee_nearest_at", offset_of!(Params, fee_nearest_at)),
        ("fee_step_at", offset_of!(Params, fee_step_at)),
        ("stake_nearest_at", offset_of!(Params, stake_nearest_at)),
        ("stake_step_at", offset_of!(Params, stake_step_at)),
        ("stake_post_at", offset_of!(Params, stake_post_at)),
        ("risk_weight", offset_of!(Params, risk_weight)),
        ("fee_offset", offset_of!(Params, fee_offset)),
        ("stake_slope", offset_of!(Params, stake_slope)),
        ("stake_shift", offset_of!(Params, stake_shift)),
        ("volatility0", offset_of!(Params, volatility0)),
        ("volatility1", offset_of!(Params, volatility1)),
        ("max_volume0", offset_of!(Params, max_volume0)),
        ("max_volume1", offset_of!(Params, max_volume1)),
        ("dt", offset_of!(Params, dt)),
        (
            "stake_response_at_zero",
            offset_of!(Params, stake_response_at_zero),
        ),
        ("action_change_at", offset_of!(Params, action_change_at)),
        ("_pad", offset_of!(Params, _pad)),
    ]
}

/// The grid tables the kernels read, flattened: `indices` holds the nearest and stepped nodes
/// and the per-pair action changes (u32), `posts` the post-move fees and stakes (f32 of the
/// f64 values, so both backends move to the same points).
pub struct Tables {
    pub indices: Vec<u32>,
    pub posts: Vec<f32>,
}

impl Params {
    /// The parameters and tables of a `notebook` solve.
    pub fn notebook(game: &Game, grid: &Grid, tr: &Transitions) -> (Params, Tables) {
        let mut indices = Vec::new();
        let mut at = |table: &[u32]| {
            let start = indices.len() as u32;
            indices.extend_from_slice(table);
            start
        };
        let fee_nearest_at = at(&tr.fee_nearest);
        let fee_step_at = at(&tr.fee_step);
        let stake_nearest_at = at(&tr.stake_nearest);
        let stake_step_at = at(&tr.stake_step);
        let change: Vec<u32> = (0..PAIR_CODES)
            .map(|p| {
                let v = |c: usize| grid.actions.value(c as u8);
                v(p / ACTION_CODES).abs_diff(v(p % ACTION_CODES)) as u32
            })
            .collect();
        let action_change_at = at(&change);
        let mut posts: Vec<f32> = tr.fee_post.iter().map(|&f| f as f32).collect();
        let stake_post_at = posts.len() as u32;
        posts.extend(tr.stake_post.iter().map(|&s| s as f32));

        let FeeResponse::Reciprocal { offset } = game.model.fee_response;
        let StakeResponse::Logistic { slope, shift } = game.model.stake_response;
        let params = Params {
            fee_points: grid.fee.len() as u32,
            stake_points: grid.stake.len() as u32,
            slice_len: grid.slice_len() as u32,
            fee_nearest_at,
            fee_step_at,
            stake_nearest_at,
            stake_step_at,
            stake_post_at,
            risk_weight: game.model.risk_weight as f32,
            fee_offset: offset as f32,
            stake_slope: slope as f32,
            stake_shift: shift as f32,
            volatility0: game.agents[0].volatility as f32,
            volatility1: game.agents[1].volatility as f32,
            max_volume0: game.agents[0].max_volume as f32,
            max_volume1: game.agents[1].max_volume as f32,
            dt: grid.dt as f32,
            stake_response_at_zero: (1.0 / (1.0 + shift.exp())) as f32,
            action_change_at,
            _pad: 0,
        };
        (params, Tables { indices, posts })
    }
}

impl Step {
    pub fn new(game: &Game, grid: &Grid, time_index: usize, agent: u32, partials_at: u32) -> Self {
        let time = grid.time.nodes[time_index];
        Step {
            time_index: time_index as u32,
            agent,
            partials_at,
            _pad: 0,
            discount: game.discount(time) as f32,
            growth0: (game.agents[0].capital_cost * time).exp() as f32,
            growth1: (game.agents[1].capital_cost * time).exp() as f32,
            _pad1: 0.0,
        }
    }
}

/// The WGSL constants prepended to every kernel.
pub fn shader_prelude() -> String {
    format!(
        "const WORKGROUP_SIZE: u32 = {WORKGROUP_SIZE}u;\nconst ACTION_CODES: u32 = {ACTION_CODES}u;\nconst PAIR_CODES: u32 = {PAIR_CODES}u;\n"
    )
}

/// A kernel's full source: the prelude, common.wgsl, then `parts` (shared per-state functions
/// first, the kernel's own file last).
pub fn kernel_source(parts: &[&str]) -> String {
    let mut source = shader_prelude() + COMMON;
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

/// A kernel that needs only the constants (no parameters): the prelude and its own file.
pub fn standalone_source(kernel: &str) -> String {
    format!("{}{}", shader_prelude(), kernel)
}

pub const COMMON: &str = include_str!("../../shaders/common.wgsl");
pub const NOTEBOOK_EVALUATE_STATE: &str =
    include_str!("../../shaders/notebook_evaluate_state.wgsl");
pub const NOTEBOOK_BEST_RESPONSE_STATE: &str =
    include_str!("../../shaders/notebook_best_response_state.wgsl");
pub const NOTEBOOK_STEP: &str = include_str!("../../shaders/notebook_step.wgsl");
pub const NOTEBOOK_EVALUATE: &str = include_str!("../../shaders/notebook_evaluate.wgsl");
pub const NOTEBOOK_BEST_RESPONSE: &str = include_str!("../../shaders/notebook_best_response.wgsl");
pub const EQUILIBRIUM_STEP: &str = include_str!("../../shaders/equilibrium_step.wgsl");
pub const NOTEBOOK_POLICY_CHANGE: &str = include_str!("../../shaders/notebook_policy_change.wgsl");

/// Workgroups for `items` invocations: (x, y) with x ≤ `max_per_dimension`, so grids beyond
/// 65535 workgroups per dimension dispatch in two dimensions (kernels linearise y·x + x).
pub fn workgroups(items: u64, max_per_dimension: u32) -> (u32, u32) {
    let groups = items.div_ceil(WORKGROUP_SIZE as u64).max(1);
    let x = groups.min(max_per_dimension as u64);
    let y = groups.div_ceil(x);
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
}
