//! The running gain tabulated for the CPU solvers. A post-move point takes one of a few values
//! per node (one per action code, or per pair for the fee), so the gain is split into factors
//! (`Game::fee_factor`, `Game::stake_factor`) built once per solve and scaled once per time
//! step; the inner loops then do one multiply and one subtract per gain, with no `exp` and no
//! division. The factored gain equals the notebook's to about 1e-15 relative.

use crate::error::Error;
use crate::grid::{Grid, ACTION_CODES, PAIR_CODES};
use crate::model::Game;
use crate::team;

/// Gain factors that depend on the grid but not on time; built once per solve.
pub struct GainTables {
    /// f'·φ(f') at the post-move fee, per `fee_index · 16 + pair`.
    pub fee_factor: Vec<f64>,
    /// (S_i'/S')·N_i·ψ(S') at the post-move stakes, per agent, indexed by
    /// `(stake0 · 4 + code0) · (stake_points · 4) + stake1 · 4 + code1`.
    pub stake_factor: [Vec<f64>; 2],
}

impl GainTables {
    /// Tables for the post-move fees (per fee node and pair) and stakes (per stake node and
    /// code) of a scheme's transition, built on up to `threads` threads.
    pub fn new(
        game: &Game,
        grid: &Grid,
        fee_post: &[f64],
        stake_post: &[f64],
        threads: usize,
    ) -> Result<Self, Error> {
        let ns = grid.stake.len();
        let fee_factor = fee_post.iter().map(|&f| game.fee_factor(f)).collect();
        let width = stake_post.len();
        let mut stake_factor = [
            vec![0.0; ns * ns * PAIR_CODES],
            vec![0.0; ns * ns * PAIR_CODES],
        ];
        // Both agents' rows at once, so that ψ is evaluated once per entry.
        let [t0, t1] = &mut stake_factor;
        let mut rows: Vec<_> = t0.chunks_mut(width).zip(t1.chunks_mut(width)).collect();
        team::fill(threads, &mut rows, |start, chunk| {
            for (i, (r0, r1)) in chunk.iter_mut().enumerate() {
                let s0 = stake_post[start + i];
                for ((o0, o1), &s1) in r0.iter_mut().zip(r1.iter_mut()).zip(stake_post) {
                    [*o0, *o1] = game.stake_factors([s0, s1]);
                }
            }
        })?;
        Ok(GainTables {
            fee_factor,
            stake_factor,
        })
    }
}

/// The gain factors scaled for one time step (and by dt).
pub struct StepGains {
    /// e^(−r t)·dt·fee_factor, per `fee_index · 16 + pair`.
    pub fee_gain: Vec<f64>,
    /// holding_rate_i(t)·dt·S' per agent, per `stake_index · 4 + code`.
    pub holding: [Vec<f64>; 2],
}

impl StepGains {
    pub fn new(game: &Game, grid: &Grid, gains: &GainTables, stake_post: &[f64], t: usize) -> Self {
        let time = grid.time.nodes[t];
        let discount = game.discount(time) * grid.dt;
        debug_assert_eq!(stake_post.len(), grid.stake.len() * ACTION_CODES);
        StepGains {
            fee_gain: gains.fee_factor.iter().map(|&f| discount * f).collect(),
            holding: [0, 1].map(|agent| {
                let rate = game.holding_rate(agent, time) * grid.dt;
                stake_post.iter().map(|&s| rate * s).collect()
            }),
        }
    }

    /// gain_i·dt at the post-move point of (fee, stake0, stake1) under codes (c0, c1).
    #[inline(always)]
    pub fn gain_dt(
        &self,
        gains: &GainTables,
        agent: usize,
        ns: usize,
        fee: usize,
        s: [usize; 2],
        c: [u8; 2],
    ) -> f64 {
        let ns4 = ns * ACTION_CODES;
        let w = (s[0] * ACTION_CODES + c[0] as usize) * ns4 + s[1] * ACTION_CODES + c[1] as usize;
        self.fee_gain[fee * PAIR_CODES + crate::grid::pair(c[0], c[1])]
            * gains.stake_factor[agent][w]
            - self.holding[agent][s[agent] * ACTION_CODES + c[agent] as usize]
    }
}
