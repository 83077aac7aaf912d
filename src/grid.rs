//! The fee × stake × stake × time grid: axes, nearest nodes, index steps, and the action codes.
//!
//! Pure f64 functions with no GPU code. The transition tables built here (where a move from a
//! grid node lands) are shared by the CPU and GPU solvers: the GPU uploads them rather than
//! recomputing the f64 rounding in f32, so both backends look up the same nodes.

use crate::model::{FeeRule, Game};

/// One axis 0..=max with `points` nodes, spaced as NumPy's `linspace(0, max, points)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub nodes: Vec<f64>,
    /// The notebook's `delta`: (max − min)/(points − 1), the minimum being 0.
    pub spacing: f64,
}

impl Axis {
    /// Nodes exactly as NumPy's `linspace(0, max, points)` computes them: `i·step`, with the
    /// last node set to `max`.
    pub fn new(max: f64, points: usize) -> Self {
        assert!(points >= 2, "an axis needs at least 2 points");
        let step = max / (points - 1) as f64;
        let mut nodes: Vec<f64> = (0..points).map(|i| i as f64 * step).collect();
        nodes[points - 1] = max;
        // The notebook's grid_idx_from recomputes the spacing from the first and last nodes.
        let spacing = (nodes[points - 1] - nodes[0]) / (points - 1) as f64;
        Axis { nodes, spacing }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn max(&self) -> f64 {
        self.nodes[self.nodes.len() - 1]
    }

    /// The notebook's `grid_idx_from`: round(x / spacing) with ties to even (Python's `round`),
    /// clamped to the axis.
    pub fn nearest(&self, x: f64) -> usize {
        let i = (x / self.spacing).round_ties_even();
        // Clamp in f64 first so that far-off points never overflow the integer conversion.
        i.clamp(0.0, (self.len() - 1) as f64) as usize
    }

    /// The node `cells` steps from node `index`, clamped to the axis (the notebook's best
    /// response moves by whole cells).
    pub fn step(&self, index: usize, cells: i64) -> usize {
        (index as i64 + cells).clamp(0, self.len() as i64 - 1) as usize
    }
}

/// Number of action codes: the three controls and the notebook's initial action.
pub const ACTION_CODES: usize = 4;
/// Code of the notebook's initial action 1 (not a control unless m = 1).
pub const INITIAL_ACTION: u8 = 3;
/// Codes of the controls (−m, 0, m), in the order the best response tries them.
pub const CONTROL_CODES: [u8; 3] = [0, 1, 2];

/// The actions an agent can hold, by code: 0 → −m, 1 → 0, 2 → +m, 3 → 1 (the notebook's
/// starting value for every action). Actions are stored as codes so that every table below can
/// be indexed by them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Actions {
    pub control: u32,
}

/// The largest control m: policy.npy stores actions as int8.
pub const MAX_CONTROL: i64 = i8::MAX as i64;

impl Actions {
    /// The action's value: a rate of stake change per unit time and, for the notebook's best
    /// response, a number of grid cells.
    pub fn value(&self, code: u8) -> i64 {
        let m = self.control as i64;
        match code {
            0 => -m,
            1 => 0,
            2 => m,
            _ => 1,
        }
    }

    /// The int8 action values of `codes`, into `out` (cleared first). Written as compares and
    /// wrapping adds rather than a table lookup, so that it runs on whole vectors of bytes: a
    /// fine grid's policy is 16 M actions per agent and step, converted between steps while
    /// the other threads wait (the lookup took about a quarter of the solve, measured).
    pub fn int8_values(&self, codes: &[u8], out: &mut Vec<i8>) {
        let [t0, t1, t2, t3] = self.int8_table();
        let (d1, d2, d3) = (
            t1.wrapping_sub(t0),
            t2.wrapping_sub(t1),
            t3.wrapping_sub(t2),
        );
        out.clear();
        out.extend(codes.iter().map(|&c| {
            let c = c & 3;
            t0.wrapping_add(d1 & -((c >= 1) as i8))
                .wrapping_add(d2 & -((c >= 2) as i8))
                .wrapping_add(d3 & -((c >= 3) as i8))
        }));
    }

    /// Each code's value as policy.npy stores it: int8 (the scenario keeps `control` ≤
    /// [`MAX_CONTROL`]).
    pub fn int8_table(&self) -> [i8; 4] {
        [0, 1, 2, 3].map(|c| self.value(c).clamp(i8::MIN as i64, i8::MAX as i64) as i8)
    }

    /// The code of a control value (−m, 0 or m) or of the initial action 1.
    pub fn code_of(&self, value: i64) -> Option<u8> {
        (0..ACTION_CODES as u8).find(|&c| self.value(c) == value)
    }
}

/// The fee action for the pair of codes, by the scenario's fee rule.
pub fn fee_action(rule: FeeRule, actions: Actions, c0: u8, c1: u8) -> i64 {
    rule.fee_action(actions.value(c0) as f64, actions.value(c1) as f64) as i64
}

/// The full grid of one scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub time: Axis,
    pub fee: Axis,
    pub stake: Axis,
    pub actions: Actions,
    /// dt = T/(time_points − 1).
    pub dt: f64,
}

impl Grid {
    pub fn new(
        horizon: f64,
        time_points: usize,
        fee_max: f64,
        fee_points: usize,
        stake_max: f64,
        stake_points: usize,
        control: u32,
    ) -> Self {
        Grid {
            time: Axis::new(horizon, time_points),
            fee: Axis::new(fee_max, fee_points),
            stake: Axis::new(stake_max, stake_points),
            actions: Actions { control },
            dt: horizon / (time_points - 1) as f64,
        }
    }

    /// States in one time slice: fee_points · stake_points².
    pub fn slice_len(&self) -> usize {
        self.fee.len() * self.stake.len() * self.stake.len()
    }

    /// Flat index of (fee, stake0, stake1) within a time slice; stake1 varies fastest.
    pub fn state_index(&self, fee: usize, stake0: usize, stake1: usize) -> usize {
        let ns = self.stake.len();
        (fee * ns + stake0) * ns + stake1
    }
}

/// Where the notebook scheme's moves land, for every node and action code. Both backends use
/// these tables so that the f64 rounding of the notebook decides every lookup.
///
/// Fee entries are indexed by `fee_index · 16 + c0 · 4 + c1` (the fee move depends on both
/// actions through the fee rule); stake entries by `stake_index · 4 + code`.
#[derive(Debug, Clone, PartialEq)]
pub struct Transitions {
    /// Fee after the physical move, f − γ·a_f·dt (evaluated as the notebook does, unclamped).
    pub fee_post: Vec<f64>,
    /// Nearest fee node of `fee_post` (the evaluation step's lookup).
    pub fee_nearest: Vec<u32>,
    /// Fee node stepped by −a_f cells (the best response's lookup).
    pub fee_step: Vec<u32>,
    /// Stake after the physical move, S + a·dt (unclamped: the gain may see a negative stake).
    pub stake_post: Vec<f64>,
    /// Nearest stake node of `stake_post`.
    pub stake_nearest: Vec<u32>,
    /// Stake node stepped by a cells.
    pub stake_step: Vec<u32>,
}

pub const PAIR_CODES: usize = ACTION_CODES * ACTION_CODES;

/// Index of the pair of action codes in the fee tables.
#[inline(always)]
pub fn pair(c0: u8, c1: u8) -> usize {
    (c0 as usize & 3) * ACTION_CODES + (c1 as usize & 3)
}

impl Transitions {
    pub fn notebook(game: &Game, grid: &Grid) -> Self {
        let (nf, ns) = (grid.fee.len(), grid.stake.len());
        let mut t = Transitions {
            fee_post: Vec::with_capacity(nf * PAIR_CODES),
            fee_nearest: Vec::with_capacity(nf * PAIR_CODES),
            fee_step: Vec::with_capacity(nf * PAIR_CODES),
            stake_post: Vec::with_capacity(ns * ACTION_CODES),
            stake_nearest: Vec::with_capacity(ns * ACTION_CODES),
            stake_step: Vec::with_capacity(ns * ACTION_CODES),
        };
        let gamma = game.model.fee_speed;
        for (fi, &f) in grid.fee.nodes.iter().enumerate() {
            for c0 in 0..ACTION_CODES as u8 {
                for c1 in 0..ACTION_CODES as u8 {
                    let af = fee_action(game.model.fee_rule, grid.actions, c0, c1);
                    let post = f - gamma * af as f64 * grid.dt;
                    t.fee_post.push(post);
                    t.fee_nearest.push(grid.fee.nearest(post) as u32);
                    t.fee_step.push(grid.fee.step(fi, -af) as u32);
                }
            }
        }
        for (si, &s) in grid.stake.nodes.iter().enumerate() {
            for c in 0..ACTION_CODES as u8 {
                let a = grid.actions.value(c);
                let post = s + a as f64 * grid.dt;
                t.stake_post.push(post);
                t.stake_nearest.push(grid.stake.nearest(post) as u32);
                t.stake_step.push(grid.stake.step(si, a) as u32);
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_values_are_the_table_lookup() {
        for control in [0, 1, 3, 100, 127] {
            let actions = Actions { control };
            let table = actions.int8_table();
            let codes: Vec<u8> = (0..=255).collect();
            let mut out = vec![7i8; 3];
            actions.int8_values(&codes, &mut out);
            let want: Vec<i8> = codes.iter().map(|&c| table[c as usize & 3]).collect();
            assert_eq!(out, want, "control {control}");
        }
    }

    #[test]
    fn axis_matches_numpy_linspace() {
        let a = Axis::new(120.0, 15);
        assert_eq!(a.nodes[0], 0.0);
        assert_eq!(a.nodes[1], 120.0 / 14.0);
        assert_eq!(a.nodes[7], 7.0 * (120.0 / 14.0));
        assert_eq!(a.nodes[14], 120.0);
        assert_eq!(a.spacing, 120.0 / 14.0);
        // linspace(0, 1, 15)[3] is 3 * (1/14), not 3/14.
        assert_eq!(Axis::new(1.0, 15).nodes[3], 3.0 * (1.0 / 14.0));
    }

    #[test]
    fn nearest_rounds_ties_to_even_and_clamps() {
        let a = Axis::new(10.0, 11); // spacing 1
        assert_eq!(a.nearest(0.5), 0);
        assert_eq!(a.nearest(1.5), 2);
        assert_eq!(a.nearest(2.5), 2);
        assert_eq!(a.nearest(3.5), 4);
        assert_eq!(a.nearest(2.4999), 2);
        assert_eq!(a.nearest(2.5001), 3);
        assert_eq!(a.nearest(-0.75), 0);
        assert_eq!(a.nearest(-0.5), 0);
        assert_eq!(a.nearest(10.6), 10);
        assert_eq!(a.nearest(1e300), 10);
        assert_eq!(a.nearest(-1e300), 0);
    }

    #[test]
    fn step_clamps_to_the_axis() {
        let a = Axis::new(120.0, 15);
        assert_eq!(a.step(0, -3), 0);
        assert_eq!(a.step(2, -3), 0);
        assert_eq!(a.step(5, 3), 8);
        assert_eq!(a.step(13, 3), 14);
        assert_eq!(a.step(14, 1), 14);
    }

    #[test]
    fn action_codes() {
        let a = Actions { control: 3 };
        assert_eq!(
            (0..4).map(|c| a.value(c)).collect::<Vec<_>>(),
            vec![-3, 0, 3, 1]
        );
        assert_eq!(a.code_of(3), Some(2));
        assert_eq!(a.code_of(1), Some(3));
        assert_eq!(a.code_of(2), None);
        // With m = 1 the initial action coincides with +m.
        assert_eq!(Actions { control: 1 }.code_of(1), Some(2));
    }

    #[test]
    fn notebook_transitions_on_the_default_grid() {
        let s = crate::config::Scenario::default();
        let (game, grid) = (s.game(), s.grid());
        let t = Transitions::notebook(&game, &grid);
        // From fee node 1 (1/14) with both agents at +m: 1/14 − 0.1·3·0.25 = −0.003571… → node 0.
        let p = 16 + pair(2, 2);
        assert_eq!(t.fee_post[p], 1.0 / 14.0 - 0.1 * 3.0 * 0.25);
        assert_eq!(t.fee_nearest[p], 0);
        assert_eq!(t.fee_step[p], 0);
        // Agent 0 at +m, agent 1 at 0: the agree rule leaves the fee where it is.
        assert_eq!(t.fee_post[16 + pair(2, 1)], 1.0 / 14.0);
        assert_eq!(t.fee_step[16 + pair(2, 1)], 1);
        // Stake node 1 (8.57…) at −m: 7.82… → node 1; the step goes 3 cells down, clamped to 0.
        assert_eq!(t.stake_post[4], 120.0 / 14.0 - 0.75);
        assert_eq!(t.stake_nearest[4], 1);
        assert_eq!(t.stake_step[4], 0);
        assert_eq!(t.stake_step[4 + 2], 4);
        assert_eq!(t.stake_step[4 + 3], 2);
    }
}

/// How the `equilibrium` scheme reads the next time slice off the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    /// Trilinear interpolation over (fee, stake0, stake1).
    Linear,
    /// The nearest node (ties to even).
    Nearest,
}

impl Interpolation {
    pub fn name(self) -> &'static str {
        match self {
            Interpolation::Linear => "linear",
            Interpolation::Nearest => "nearest",
        }
    }
}

/// Where an off-grid point falls on one axis: value = (1 − weight)·v[lo] + weight·v[hi].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bracket {
    pub lo: Vec<u32>,
    pub hi: Vec<u32>,
    pub weight: Vec<f64>,
}

/// The eight nodes around a point of a (fee, stake0, stake1) slice and its weights along each
/// axis: the one trilinear interpolation of the crate (the solvers' V(t+1), `refine` and
/// `sweep`'s start values), in the order of operations the WGSL `interpolate` mirrors.
pub struct Corners {
    pub ns: usize,
    pub f: [usize; 2],
    pub a: [usize; 2],
    pub b: [usize; 2],
    pub w: [f64; 3],
}

impl Corners {
    /// The corners of `point` (fee, [stake0, stake1]) on the grid, linear brackets.
    pub fn of(grid: &Grid, point: (f64, [f64; 2])) -> Corners {
        let (f0, f1, wf) = grid.fee.linear_bracket(point.0);
        let (a0, a1, wa) = grid.stake.linear_bracket(point.1[0]);
        let (b0, b1, wb) = grid.stake.linear_bracket(point.1[1]);
        Corners {
            ns: grid.stake.len(),
            f: [f0, f1],
            a: [a0, a1],
            b: [b0, b1],
            w: [wf, wa, wb],
        }
    }

    /// The interpolated value of slice `v`.
    #[inline(always)]
    pub fn trilinear(&self, v: &[f64]) -> f64 {
        self.trilinear_with(|i| v[i])
    }

    /// The interpolated value of the slice whose element `i` is `at(i)`.
    #[inline(always)]
    pub fn trilinear_with(&self, at: impl Fn(usize) -> f64) -> f64 {
        let [wf, wa, wb] = self.w;
        let ns = self.ns;
        let r00 = (self.f[0] * ns + self.a[0]) * ns;
        let r01 = (self.f[0] * ns + self.a[1]) * ns;
        let r10 = (self.f[1] * ns + self.a[0]) * ns;
        let r11 = (self.f[1] * ns + self.a[1]) * ns;
        let line = |r: usize| at(r + self.b[0]) * (1.0 - wb) + at(r + self.b[1]) * wb;
        let (l00, l01, l10, l11) = (line(r00), line(r01), line(r10), line(r11));
        let p0 = l00 * (1.0 - wa) + l01 * wa;
        let p1 = l10 * (1.0 - wa) + l11 * wa;
        p0 * (1.0 - wf) + p1 * wf
    }
}

impl Axis {
    /// The nodes around `x` and the weight of the upper one, for linear interpolation; `x` is
    /// clamped to the axis.
    pub fn linear_bracket(&self, x: f64) -> (usize, usize, f64) {
        let n = self.len();
        let u = x / self.spacing;
        let lo = u.floor().clamp(0.0, (n - 2) as f64);
        (lo as usize, lo as usize + 1, (u - lo).clamp(0.0, 1.0))
    }
}

impl Bracket {
    fn push(&mut self, axis: &Axis, x: f64, mode: Interpolation) {
        let (lo, hi, w) = match mode {
            Interpolation::Nearest => {
                let i = axis.nearest(x);
                (i, i, 0.0)
            }
            Interpolation::Linear => axis.linear_bracket(x),
        };
        self.lo.push(lo as u32);
        self.hi.push(hi as u32);
        self.weight.push(w);
    }
}

/// Where the `equilibrium` scheme's moves land: the same clamped physical transition for
/// payoff and choice. Indexed as [`Transitions`] (fee by node · 16 + pair, stake by
/// node · 4 + code); only the three controls occur.
#[derive(Debug, Clone, PartialEq)]
pub struct ClampedTransitions {
    /// clamp(f − γ·a_f·dt, 0, fee_max).
    pub fee_post: Vec<f64>,
    pub fee: Bracket,
    /// clamp(S + a·dt, 0, stake_max).
    pub stake_post: Vec<f64>,
    pub stake: Bracket,
}

impl ClampedTransitions {
    pub fn new(game: &Game, grid: &Grid, mode: Interpolation) -> Self {
        let mut t = ClampedTransitions {
            fee_post: Vec::new(),
            fee: Bracket::default(),
            stake_post: Vec::new(),
            stake: Bracket::default(),
        };
        for &f in &grid.fee.nodes {
            for c0 in 0..ACTION_CODES as u8 {
                for c1 in 0..ACTION_CODES as u8 {
                    let af = fee_action(game.model.fee_rule, grid.actions, c0, c1);
                    let post =
                        (f - game.model.fee_speed * af as f64 * grid.dt).clamp(0.0, grid.fee.max());
                    t.fee_post.push(post);
                    t.fee.push(&grid.fee, post, mode);
                }
            }
        }
        for &s in &grid.stake.nodes {
            for c in 0..ACTION_CODES as u8 {
                let post =
                    (s + grid.actions.value(c) as f64 * grid.dt).clamp(0.0, grid.stake.max());
                t.stake_post.push(post);
                t.stake.push(&grid.stake, post, mode);
            }
        }
        t
    }
}

#[cfg(test)]
mod clamped_tests {
    use super::*;

    #[test]
    fn brackets_interpolate_within_the_axis() {
        let axis = Axis::new(10.0, 11);
        let mut b = Bracket::default();
        for x in [0.0, 2.25, 10.0, 9.5] {
            b.push(&axis, x, Interpolation::Linear);
        }
        assert_eq!((b.lo[0], b.hi[0], b.weight[0]), (0, 1, 0.0));
        assert_eq!((b.lo[1], b.hi[1], b.weight[1]), (2, 3, 0.25));
        assert_eq!((b.lo[2], b.hi[2], b.weight[2]), (9, 10, 1.0));
        assert_eq!((b.lo[3], b.hi[3], b.weight[3]), (9, 10, 0.5));
        let mut n = Bracket::default();
        n.push(&axis, 2.5, Interpolation::Nearest);
        assert_eq!((n.lo[0], n.hi[0], n.weight[0]), (2, 2, 0.0));
    }

    #[test]
    fn clamped_moves_stay_on_the_grid() {
        let s = crate::config::Scenario::default();
        let t = ClampedTransitions::new(&s.game(), &s.grid(), Interpolation::Linear);
        // Stake node 0 at −m stays at 0; the top node at +m stays at the top.
        assert_eq!(t.stake_post[0], 0.0);
        assert_eq!(t.stake_post[14 * 4 + 2], 120.0);
        // Fee node 0 with both agents at +m would go negative: clamped to 0.
        assert_eq!(t.fee_post[pair(2, 2)], 0.0);
    }
}
