//! The `notebook` scheme on the CPU: the notebook's policy iteration, f64, parallel over the
//! grid with rayon.
//!
//! Each iteration walks t = N_T−2 down to 0 once and runs three kernels per time step, row by
//! row (a row is one (fee, stake0) pair, all stake1 nodes): [`evaluate_row`] (both agents'
//! values), then [`best_response_row`] for agent 0 and for agent 1. They are the CPU twins of
//! `shaders/notebook_evaluate.wgsl` and `shaders/notebook_best_response.wgsl`. Fusing the
//! notebook's two sweeps this way gives the same result (MODEL.md): evaluation at t reads only
//! a[·, t] and v_old[t+1], the best response at t only v_new[t+1] and a[·, t].
//!
//! Speed comes from not recomputing what does not change. A post-move point takes one of a few
//! values per node (4 action codes per agent), so the running gain is split into factors
//! tabulated once per solve (`fee_factor` per fee node and action pair, `stake_factor` per
//! stake pair and action pair) and scaled once per time step; the inner loop then does one
//! multiply and two adds per gain, with no `exp` and no division. The factored gain equals the
//! notebook's to about 1e-15 relative, which is below the 1e-14 at which NumPy's `exp` already
//! differs from the C library's.

use std::time::Instant;

use rayon::prelude::*;

use crate::config::SolverConfig;
use crate::grid::{
    pair, Grid, Transitions, ACTION_CODES, CONTROL_CODES, INITIAL_ACTION, PAIR_CODES,
};
use crate::model::Game;
use crate::solution::{Solution, Values};

/// Gain factors that depend on the grid but not on time; built once per solve.
pub struct GainTables {
    /// f'·φ(f') at the post-move fee, per `fee_index · 16 + pair`.
    pub fee_factor: Vec<f64>,
    /// (S_i'/S')·N_i·ψ(S') at the post-move stakes, per agent, indexed by
    /// `(stake0 · 4 + code0) · (stake_points · 4) + stake1 · 4 + code1`.
    pub stake_factor: [Vec<f64>; 2],
}

impl GainTables {
    pub fn new(game: &Game, grid: &Grid, tr: &Transitions) -> Self {
        let ns = grid.stake.len();
        let fee_factor = tr.fee_post.iter().map(|&f| game.fee_factor(f)).collect();
        let stake_factor = [0, 1].map(|agent| {
            let mut t = Vec::with_capacity(ns * ns * PAIR_CODES);
            for s0 in &tr.stake_post {
                for s1 in &tr.stake_post {
                    t.push(game.stake_factor(agent, [*s0, *s1]));
                }
            }
            t
        });
        GainTables {
            fee_factor,
            stake_factor,
        }
    }
}

/// Everything the kernels read at one time step: the transition tables and the gain factors
/// scaled by that step's discount and holding rates (and by dt).
pub struct StepKernel<'a> {
    pub ns: usize,
    pub tr: &'a Transitions,
    pub gains: &'a GainTables,
    pub action_values: [i64; ACTION_CODES],
    /// e^(−r t)·dt·fee_factor, per `fee_index · 16 + pair`.
    pub fee_gain: Vec<f64>,
    /// holding_rate_i(t)·dt·S' per agent, per `stake_index · 4 + code`.
    pub holding: [Vec<f64>; 2],
}

impl<'a> StepKernel<'a> {
    pub fn new(
        game: &Game,
        grid: &Grid,
        tr: &'a Transitions,
        gains: &'a GainTables,
        t: usize,
    ) -> Self {
        let time = grid.time.nodes[t];
        let discount = game.discount(time) * grid.dt;
        let holding = [0, 1].map(|agent| {
            let rate = game.holding_rate(agent, time) * grid.dt;
            tr.stake_post.iter().map(|&s| rate * s).collect()
        });
        StepKernel {
            ns: grid.stake.len(),
            tr,
            gains,
            action_values: [0, 1, 2, 3].map(|c| grid.actions.value(c)),
            fee_gain: gains.fee_factor.iter().map(|&f| discount * f).collect(),
            holding,
        }
    }

    /// gain_i·dt at the post-move point of (fee, stake0, stake1) under codes (c0, c1).
    #[inline(always)]
    fn gain_dt<const AGENT: usize>(&self, fee: usize, s: [usize; 2], c: [u8; 2]) -> f64 {
        let ns4 = self.ns * ACTION_CODES;
        let w = (s[0] * ACTION_CODES + c[0] as usize) * ns4 + s[1] * ACTION_CODES + c[1] as usize;
        let own = s[AGENT] * ACTION_CODES + c[AGENT] as usize;
        self.fee_gain[fee * PAIR_CODES + pair(c[0], c[1])] * self.gains.stake_factor[AGENT][w]
            - self.holding[AGENT][own]
    }
}

/// `notebook_evaluate`: both agents' values at time t for one row (fee, stake0), from the
/// actions a[·, t] and the previous iteration's values at t+1, looked up at the nearest node
/// of the physical post-move point.
pub fn evaluate_row(
    k: &StepKernel,
    fee: usize,
    s0: usize,
    actions: [&[u8]; 2],
    v_next: [&[f64]; 2],
    out: [&mut [f64]; 2],
) {
    let ns = k.ns;
    let tr = k.tr;
    let [out0, out1] = out;
    for s1 in 0..ns {
        let c = [actions[0][s1], actions[1][s1]];
        let nf = tr.fee_nearest[fee * PAIR_CODES + pair(c[0], c[1])] as usize;
        let n0 = tr.stake_nearest[s0 * ACTION_CODES + c[0] as usize] as usize;
        let n1 = tr.stake_nearest[s1 * ACTION_CODES + c[1] as usize] as usize;
        let next = (nf * ns + n0) * ns + n1;
        out0[s1] = k.gain_dt::<0>(fee, [s0, s1], c) + v_next[0][next];
        out1[s1] = k.gain_dt::<1>(fee, [s0, s1], c) + v_next[1][next];
    }
}

/// `notebook_best_response`: agent `AGENT`'s best control at time t for one row, against the
/// other agent's current action, scored by the gain at the physical post-move point plus this
/// iteration's value at t+1 on the node stepped by whole cells. The first control with the
/// largest total wins. Returns Σ|a_new − a_old| over the row (the policy-change numerator).
pub fn best_response_row<const AGENT: usize>(
    k: &StepKernel,
    fee: usize,
    s0: usize,
    own: &mut [u8],
    other: &[u8],
    v_next: &[f64],
) -> u64 {
    let ns = k.ns;
    let tr = k.tr;
    let mut change = 0;
    for s1 in 0..ns {
        let old = own[s1];
        let mut best = CONTROL_CODES[0];
        let mut best_total = f64::NEG_INFINITY;
        for (n, &ctl) in CONTROL_CODES.iter().enumerate() {
            let c = if AGENT == 0 {
                [ctl, other[s1]]
            } else {
                [other[s1], ctl]
            };
            let nf = tr.fee_step[fee * PAIR_CODES + pair(c[0], c[1])] as usize;
            let n0 = tr.stake_step[s0 * ACTION_CODES + c[0] as usize] as usize;
            let n1 = tr.stake_step[s1 * ACTION_CODES + c[1] as usize] as usize;
            let total = k.gain_dt::<AGENT>(fee, [s0, s1], c) + v_next[(nf * ns + n0) * ns + n1];
            if n == 0 || total > best_total {
                best = ctl;
                best_total = total;
            }
        }
        own[s1] = best;
        change += k.action_values[old as usize].abs_diff(k.action_values[best as usize]);
    }
    change
}

/// Solves the `notebook` scheme. `progress` is called after each iteration with its number and
/// policy change.
pub fn solve(
    game: &Game,
    grid: &Grid,
    solver: &SolverConfig,
    mut progress: impl FnMut(usize, f64),
) -> Solution {
    let start = Instant::now();
    let (nt, nf, ns) = (grid.time.len(), grid.fee.len(), grid.stake.len());
    let slice = grid.slice_len();
    let per_agent = nt * slice;
    let tr = Transitions::notebook(game, grid);
    let gains = GainTables::new(game, grid, &tr);
    let kernels: Vec<StepKernel> = (0..nt - 1)
        .map(|t| StepKernel::new(game, grid, &tr, &gains, t))
        .collect();

    let mut v_old = vec![0.0f64; 2 * per_agent];
    let mut v_new = vec![0.0f64; 2 * per_agent];
    // The notebook starts every action at 1, which is not a control (unless m = 1).
    let mut actions = vec![INITIAL_ACTION; 2 * per_agent];
    let mut policy_change = Vec::new();
    let mut converged = false;
    // Rows are short; batching them keeps rayon's overhead below the work.
    let min_rows = (2048 / ns).max(1);

    for iteration in 0..solver.max_iterations as usize {
        let mut changed: u64 = 0;
        for t in (0..nt - 1).rev() {
            let k = &kernels[t];
            let (old0, old1) = v_old.split_at(per_agent);
            let v_old_next = [
                &old0[(t + 1) * slice..(t + 2) * slice],
                &old1[(t + 1) * slice..(t + 2) * slice],
            ];
            let (new0, new1) = v_new.split_at_mut(per_agent);
            let (new0_t, new0_next) = new0[t * slice..(t + 2) * slice].split_at_mut(slice);
            let (new1_t, new1_next) = new1[t * slice..(t + 2) * slice].split_at_mut(slice);
            let (act0, act1) = actions.split_at_mut(per_agent);
            let act0_t = &mut act0[t * slice..(t + 1) * slice];
            let act1_t = &mut act1[t * slice..(t + 1) * slice];
            let (new0_next, new1_next) = (&*new0_next, &*new1_next);

            changed += act0_t
                .par_chunks_mut(ns)
                .zip(act1_t.par_chunks_mut(ns))
                .zip(new0_t.par_chunks_mut(ns))
                .zip(new1_t.par_chunks_mut(ns))
                .with_min_len(min_rows)
                .enumerate()
                .map(|(row, (((a0, a1), out0), out1))| {
                    let (fee, s0) = (row / ns, row % ns);
                    evaluate_row(k, fee, s0, [a0, a1], v_old_next, [out0, out1]);
                    best_response_row::<0>(k, fee, s0, a0, a1, new0_next)
                        + best_response_row::<1>(k, fee, s0, a1, a0, new1_next)
                })
                .sum::<u64>();
        }
        let change = changed as f64 / (nf * ns) as f64;
        policy_change.push(change);
        progress(iteration + 1, change);
        // v_old = v_new. Swapping is enough: the next iteration rewrites every slice t < N_T−1
        // of v_new before reading it, and the last slice is 0 in both.
        std::mem::swap(&mut v_old, &mut v_new);
        if change < solver.tolerance {
            converged = true;
            break;
        }
    }

    Solution {
        shape: [2, nt, nf, ns, ns],
        values: Values::F64(v_old),
        policy: actions,
        policy_change,
        converged,
        solve_seconds: start.elapsed().as_secs_f64(),
    }
}
