//! The forward path: the state simulated from the scenario's start under the solved policy.

use serde::Serialize;

use crate::config::PathConfig;
use crate::grid::Grid;
use crate::model::Game;
use crate::solution::Solution;

/// One point of the path, with the actions applied there (none on the last point).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathPoint {
    pub step: usize,
    pub time: f64,
    pub fee: f64,
    pub stakes: [f64; 2],
    pub actions: Option<[i64; 2]>,
}

/// The notebook's path (its cell 10): for steps 0..N_T−1, look both actions up at the nearest
/// node at time step k (the last step reads the never-improved slice), then move the fee and
/// stakes physically, unclamped. N_T + 1 points.
pub fn notebook_path(
    game: &Game,
    grid: &Grid,
    solution: &Solution,
    start: &PathConfig,
) -> Vec<PathPoint> {
    let nt = grid.time.len();
    let mut points = Vec::with_capacity(nt + 1);
    let (mut fee, mut stakes) = (start.fee, start.stakes);
    for step in 0..=nt {
        let time = step as f64 * grid.dt;
        if step == nt {
            points.push(PathPoint {
                step,
                time,
                fee,
                stakes,
                actions: None,
            });
            break;
        }
        let (fi, i0, i1) = (
            grid.fee.nearest(fee),
            grid.stake.nearest(stakes[0]),
            grid.stake.nearest(stakes[1]),
        );
        let a = [0, 1].map(|agent| {
            grid.actions
                .value(solution.policy[solution.index(agent, step, fi, i0, i1)])
        });
        points.push(PathPoint {
            step,
            time,
            fee,
            stakes,
            actions: Some(a),
        });
        let af = game.model.fee_rule.fee_action(a[0] as f64, a[1] as f64);
        fee -= game.model.fee_speed * af * grid.dt;
        stakes = [0, 1].map(|i| stakes[i] + a[i] as f64 * grid.dt);
    }
    points
}

/// The `equilibrium` scheme's path (MODEL.md): for steps 0..N_T−2, look both actions up at the
/// nearest node at time step k with `action(agent, k, fee, stake0, stake1)` (a code), then move
/// with the same clamped physical transition as the solver. N_T points.
pub fn equilibrium_path(
    game: &Game,
    grid: &Grid,
    start: &PathConfig,
    mut action: impl FnMut(usize, usize, usize, usize, usize) -> Result<u8, crate::Error>,
) -> Result<Vec<PathPoint>, crate::Error> {
    let nt = grid.time.len();
    let mut points = Vec::with_capacity(nt);
    let (mut fee, mut stakes) = (start.fee, start.stakes);
    for step in 0..nt {
        let time = step as f64 * grid.dt;
        if step == nt - 1 {
            points.push(PathPoint {
                step,
                time,
                fee,
                stakes,
                actions: None,
            });
            break;
        }
        let (fi, i0, i1) = (
            grid.fee.nearest(fee),
            grid.stake.nearest(stakes[0]),
            grid.stake.nearest(stakes[1]),
        );
        let a = [
            grid.actions.value(action(0, step, fi, i0, i1)?),
            grid.actions.value(action(1, step, fi, i0, i1)?),
        ];
        points.push(PathPoint {
            step,
            time,
            fee,
            stakes,
            actions: Some(a),
        });
        let af = game.model.fee_rule.fee_action(a[0] as f64, a[1] as f64);
        fee = (fee - game.model.fee_speed * af * grid.dt).clamp(0.0, grid.fee.max());
        stakes = [0, 1].map(|i| (stakes[i] + a[i] as f64 * grid.dt).clamp(0.0, grid.stake.max()));
    }
    Ok(points)
}
