//! The forward path: the state simulated from the scenario's start under the solved policy.

use serde::Serialize;

use crate::config::PathConfig;
use crate::grid::Grid;
use crate::model::Game;
use crate::scheme::Solution;

/// One point of the path, with the actions applied there (none on the last point).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathPoint {
    pub step: usize,
    pub time: f64,
    pub fee: f64,
    pub stakes: [f64; 2],
    pub actions: Option<[i64; 2]>,
    /// The notebook's path has one point past the horizon (reached with the never-improved
    /// last slice's actions); it is kept, marked, and left out of the path's headline.
    pub beyond_horizon: bool,
}

/// The path's point at t = horizon: its last point that is not beyond it.
pub fn at_horizon(path: &[PathPoint]) -> Option<&PathPoint> {
    path.iter().rev().find(|p| !p.beyond_horizon)
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
    let lookup = |agent, t, f, s0, s1| {
        Ok::<u8, std::convert::Infallible>(solution.policy[solution.index(agent, t, f, s0, s1)])
    };
    match simulate(game, grid, start, grid.time.len() + 1, false, lookup) {
        Ok(points) => points,
        Err(never) => match never {},
    }
}

/// The `equilibrium` scheme's path (docs/model.md): for steps 0..N_T−2, look both actions up at the
/// nearest node at time step k with `action(agent, k, fee, stake0, stake1)` (a code), then move
/// with the same clamped physical transition as the solver. N_T points.
pub fn equilibrium_path(
    game: &Game,
    grid: &Grid,
    start: &PathConfig,
    action: impl FnMut(usize, usize, usize, usize, usize) -> Result<u8, crate::Error>,
) -> Result<Vec<PathPoint>, crate::Error> {
    simulate(game, grid, start, grid.time.len(), true, action)
}

/// `points` points from `start`: at each step but the last, both actions looked up (as codes)
/// at the nearest node, then the fee and stakes moved by the fee rule, clamped to the grid when
/// `clamp`.
fn simulate<E>(
    game: &Game,
    grid: &Grid,
    start: &PathConfig,
    points: usize,
    clamp: bool,
    mut action: impl FnMut(usize, usize, usize, usize, usize) -> Result<u8, E>,
) -> Result<Vec<PathPoint>, E> {
    let bound = |x: f64, max: f64| if clamp { x.clamp(0.0, max) } else { x };
    let mut path = Vec::with_capacity(points);
    let (mut fee, mut stakes) = (start.fee, start.stakes);
    for step in 0..points {
        let time = step as f64 * grid.dt;
        if step + 1 == points {
            path.push(PathPoint {
                step,
                time,
                fee,
                stakes,
                actions: None,
                beyond_horizon: step >= grid.time.len(),
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
        path.push(PathPoint {
            step,
            time,
            fee,
            stakes,
            actions: Some(a),
            beyond_horizon: step >= grid.time.len(),
        });
        // The notebook's order of operations: f − (γ·a_f)·dt, S + a·dt.
        let af = game.model.fee_rule.fee_action(a[0] as f64, a[1] as f64);
        fee = bound(fee - game.model.fee_speed * af * grid.dt, grid.fee.max());
        stakes = [0, 1].map(|i| bound(stakes[i] + a[i] as f64 * grid.dt, grid.stake.max()));
    }
    Ok(path)
}
