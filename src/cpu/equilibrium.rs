//! The `equilibrium` scheme on the CPU (the f64 reference): one backward sweep, at every
//! state the stage game over all action pairs, an explicit equilibrium selection, and memory
//! for two value slices (MODEL.md).
//!
//! `equilibrium_cell` is the CPU twin of `shaders/equilibrium_step.wgsl`. Each time step's
//! actions (and, if asked, values) go to a [`StepSink`] as soon as they exist, so a fine grid's
//! policy is streamed to disk rather than held.

use std::time::Instant;

use serde::Serialize;

use super::gain::{GainTables, StepGains};
use super::team;
use crate::error::Error;
use crate::grid::{
    pair, Bracket, ClampedTransitions, Grid, Interpolation, ACTION_CODES, CONTROL_CODES, PAIR_CODES,
};
use crate::model::Game;

/// Number of action pairs of the stage game (3 × 3 controls).
pub const PAIRS: usize = 9;

/// The CPU's tie tolerance, relative to max(1, largest |U|) at the state (MODEL.md).
pub const CPU_TIE_TOLERANCE: f64 = 1e-9;

/// What one time step's selection found (MODEL.md step 4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StepDiagnostics {
    pub step: usize,
    pub time: f64,
    /// States where no action pair is a pure equilibrium (none with e ≤ τ).
    pub no_pure_equilibrium: u64,
    /// States with more than one pure equilibrium.
    pub several_equilibria: u64,
    /// The largest exploitability of a selected pair (0 when ≤ τ).
    pub max_exploitability: f64,
}

impl StepDiagnostics {
    fn add(&mut self, cell: &Cell) {
        self.no_pure_equilibrium += (cell.equilibria == 0) as u64;
        self.several_equilibria += (cell.equilibria > 1) as u64;
        self.max_exploitability = self.max_exploitability.max(cell.exploitability);
    }

    fn merge(&mut self, other: &StepDiagnostics) {
        self.no_pure_equilibrium += other.no_pure_equilibrium;
        self.several_equilibria += other.several_equilibria;
        self.max_exploitability = self.max_exploitability.max(other.max_exploitability);
    }
}

/// One time step's values, borrowed: f64 from the CPU, f32 from the GPU.
#[derive(Debug, Clone, Copy)]
pub enum SliceValues<'a> {
    F64([&'a [f64]; 2]),
    F32([&'a [f32]; 2]),
}

/// Receives each time step as it is solved, t descending from time_points − 2 to 0.
pub trait StepSink {
    /// Whether `step` needs the values (the GPU reads them back only then; otherwise it
    /// passes empty slices).
    fn wants_values(&self) -> bool {
        true
    }

    fn step(&mut self, t: usize, actions: [&[u8]; 2], values: SliceValues<'_>)
        -> Result<(), Error>;
}

/// A sink that keeps everything in memory, laid out as (agent, time, fee, stake0, stake1)
/// like the notebook scheme's arrays (for tests, `validate` and small grids).
pub struct MemorySink {
    pub slice: usize,
    pub time_points: usize,
    pub policy: Vec<u8>,
    pub values: Vec<f64>,
}

impl MemorySink {
    pub fn new(grid: &Grid) -> Self {
        let (slice, nt) = (grid.slice_len(), grid.time.len());
        MemorySink {
            slice,
            time_points: nt,
            // No action is taken at the horizon: the last slice holds 0 (code 1).
            policy: vec![CONTROL_CODES[1]; 2 * nt * slice],
            values: vec![0.0; 2 * nt * slice],
        }
    }

    pub fn index(&self, agent: usize, t: usize, state: usize) -> usize {
        (agent * self.time_points + t) * self.slice + state
    }
}

impl StepSink for MemorySink {
    fn step(
        &mut self,
        t: usize,
        actions: [&[u8]; 2],
        values: SliceValues<'_>,
    ) -> Result<(), Error> {
        for agent in 0..2 {
            let at = self.index(agent, t, 0);
            self.policy[at..at + self.slice].copy_from_slice(actions[agent]);
            let out = &mut self.values[at..at + self.slice];
            match values {
                SliceValues::F64(v) => out.copy_from_slice(v[agent]),
                SliceValues::F32(v) => out
                    .iter_mut()
                    .zip(v[agent])
                    .for_each(|(o, &x)| *o = x as f64),
            }
        }
        Ok(())
    }
}

/// The result of a sweep: the t = 0 values, the diagnostics per time step (ascending t).
#[derive(Debug, Clone)]
pub struct EquilibriumSolution {
    /// (agent, fee, stake0, stake1) at t = 0.
    pub values_t0: crate::solution::Values,
    pub diagnostics: Vec<StepDiagnostics>,
    pub solve_seconds: f64,
}

impl EquilibriumSolution {
    /// Cell updates: every state at every time step but the last (MODEL.md).
    pub fn cell_updates(grid: &Grid) -> f64 {
        grid.slice_len() as f64 * (grid.time.len() - 1) as f64
    }
}

/// One state's outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    pub actions: [u8; 2],
    pub values: [f64; 2],
    /// Pairs with e ≤ τ (pure equilibria).
    pub equilibria: u32,
    /// The selected pair's exploitability, 0 when ≤ τ.
    pub exploitability: f64,
}

/// The tables of a sweep: the clamped transition and the gain factors.
pub struct Kernel<'a> {
    pub ns: usize,
    pub tr: &'a ClampedTransitions,
    pub gains: &'a GainTables,
    pub step: StepGains,
}

/// Linear interpolation along one axis entry of a bracket.
#[inline(always)]
fn corners(b: &Bracket, i: usize) -> (usize, usize, f64) {
    (b.lo[i] as usize, b.hi[i] as usize, b.weight[i])
}

/// V(t+1) at the post-move point of entries (fee entry, stake0 entry, stake1 entry) of the
/// brackets, for both agents: trilinear interpolation (the nearest node when the brackets say
/// so: weight 0, lo = hi).
#[inline(always)]
fn interpolate(tr: &ClampedTransitions, ns: usize, e: [usize; 3], v: [&[f64]; 2]) -> [f64; 2] {
    let (f0, f1, wf) = corners(&tr.fee, e[0]);
    let (a0, a1, wa) = corners(&tr.stake, e[1]);
    let (b0, b1, wb) = corners(&tr.stake, e[2]);
    // Plain functions rather than closures or `array::map`, which the compiler did not inline
    // here (measured: more than half of the sweep's time went to the calls).
    let corner = Corners {
        ns,
        f: [f0, f1],
        a: [a0, a1],
        b: [b0, b1],
        w: [wf, wa, wb],
    };
    [trilinear(&corner, v[0]), trilinear(&corner, v[1])]
}

/// The eight corners around a point and its weights along (fee, stake0, stake1).
struct Corners {
    ns: usize,
    f: [usize; 2],
    a: [usize; 2],
    b: [usize; 2],
    w: [f64; 3],
}

#[inline(always)]
fn trilinear(c: &Corners, v: &[f64]) -> f64 {
    let [wf, wa, wb] = c.w;
    let r00 = (c.f[0] * c.ns + c.a[0]) * c.ns;
    let r01 = (c.f[0] * c.ns + c.a[1]) * c.ns;
    let r10 = (c.f[1] * c.ns + c.a[0]) * c.ns;
    let r11 = (c.f[1] * c.ns + c.a[1]) * c.ns;
    let line = |r: usize| v[r + c.b[0]] * (1.0 - wb) + v[r + c.b[1]] * wb;
    let (l00, l01, l10, l11) = (line(r00), line(r01), line(r10), line(r11));
    let p0 = l00 * (1.0 - wa) + l01 * wa;
    let p1 = l10 * (1.0 - wa) + l11 * wa;
    p0 * (1.0 - wf) + p1 * wf
}

/// `equilibrium_step` at one state: payoffs of all action pairs, exploitability, selection.
pub fn equilibrium_cell(k: &Kernel, fee: usize, s0: usize, s1: usize, v_next: [&[f64]; 2]) -> Cell {
    select(&payoffs(k, fee, s0, s1, v_next), CPU_TIE_TOLERANCE)
}

/// U_i(a0, a1) for the nine pairs (in selection order) at one state.
pub fn payoffs(
    k: &Kernel,
    fee: usize,
    s0: usize,
    s1: usize,
    v_next: [&[f64]; 2],
) -> [[f64; PAIRS]; 2] {
    let mut u = [[0.0f64; PAIRS]; 2];
    for n in 0..PAIRS {
        let (c0, c1) = (CONTROL_CODES[n / 3], CONTROL_CODES[n % 3]);
        let fe = fee * PAIR_CODES + pair(c0, c1);
        let e = [
            fe,
            s0 * ACTION_CODES + c0 as usize,
            s1 * ACTION_CODES + c1 as usize,
        ];
        let next = interpolate(k.tr, k.ns, e, v_next);
        for agent in 0..2 {
            u[agent][n] = k
                .step
                .gain_dt(k.gains, agent, k.ns, fee, [s0, s1], [c0, c1])
                + next[agent];
        }
    }
    u
}

/// Each pair's exploitability e = max(D_0, D_1) (MODEL.md step 2).
pub fn exploitability(u: &[[f64; PAIRS]; 2]) -> [f64; PAIRS] {
    std::array::from_fn(|n| {
        let (a0, a1) = (n / 3, n % 3);
        let best0 = (0..3)
            .map(|b| u[0][b * 3 + a1])
            .fold(f64::NEG_INFINITY, f64::max);
        let best1 = (0..3)
            .map(|b| u[1][a0 * 3 + b])
            .fold(f64::NEG_INFINITY, f64::max);
        (best0 - u[0][n]).max(best1 - u[1][n])
    })
}

/// Exploitability of every pair and the selection of MODEL.md step 3, with tie tolerance
/// `relative`·max(1, largest |U|).
pub fn select(u: &[[f64; PAIRS]; 2], relative: f64) -> Cell {
    let largest = u.iter().flatten().fold(1.0f64, |m, x| m.max(x.abs()));
    let tau = relative * largest;
    let e = exploitability(u);
    let e_min = e.iter().copied().fold(f64::INFINITY, f64::min);
    let candidate = |n: usize| e[n] <= e_min + tau;
    let sum = |n: usize| u[0][n] + u[1][n];
    let best_sum = (0..PAIRS)
        .filter(|&n| candidate(n))
        .map(sum)
        .fold(f64::NEG_INFINITY, f64::max);
    let chosen = (0..PAIRS)
        .find(|&n| candidate(n) && sum(n) >= best_sum - tau)
        .expect("the candidate with the largest sum is a finalist");
    Cell {
        actions: [CONTROL_CODES[chosen / 3], CONTROL_CODES[chosen % 3]],
        values: [u[0][chosen], u[1][chosen]],
        equilibria: e.iter().filter(|&&x| x <= tau).count() as u32,
        exploitability: if e[chosen] <= tau { 0.0 } else { e[chosen] },
    }
}

/// Runs the sweep, handing each time step to `sink`; `progress(done, total)` after each step.
pub fn solve(
    game: &Game,
    grid: &Grid,
    mode: Interpolation,
    sink: &mut dyn StepSink,
    mut progress: impl FnMut(usize, usize),
) -> Result<EquilibriumSolution, Error> {
    let start = Instant::now();
    let (nt, ns) = (grid.time.len(), grid.stake.len());
    let slice = grid.slice_len();
    let rows = grid.fee.len() * ns;
    let tr = ClampedTransitions::new(game, grid, mode);
    let gains = GainTables::new(game, grid, &tr.fee_post, &tr.stake_post);
    let threads = team::team_size()
        .min(slice / team::MIN_STATES_PER_THREAD)
        .clamp(1, rows);

    // V(T) = 0; the two slices swap roles every step.
    let mut v_next = [vec![0.0f64; slice], vec![0.0f64; slice]];
    let mut v_cur = [vec![0.0f64; slice], vec![0.0f64; slice]];
    let mut actions = [vec![0u8; slice], vec![0u8; slice]];
    let mut diagnostics = vec![StepDiagnostics::default(); nt - 1];

    for t in (0..nt - 1).rev() {
        let k = Kernel {
            ns,
            tr: &tr,
            gains: &gains,
            step: StepGains::new(game, grid, &gains, &tr.stake_post, t),
        };
        let next = [&v_next[0][..], &v_next[1][..]];
        // Each thread takes a contiguous share of the rows of every output slice.
        let [cur0, cur1] = &mut v_cur;
        let [act0, act1] = &mut actions;
        let mut parts = Vec::with_capacity(threads);
        let (mut c0, mut c1, mut a0, mut a1) =
            (&mut cur0[..], &mut cur1[..], &mut act0[..], &mut act1[..]);
        for rank in 0..threads {
            let n = team::share(rows, rank, threads).len() * ns;
            let (h0, t0) = c0.split_at_mut(n);
            let (h1, t1) = c1.split_at_mut(n);
            let (g0, u0) = a0.split_at_mut(n);
            let (g1, u1) = a1.split_at_mut(n);
            parts.push(std::sync::Mutex::new(Some((h0, h1, g0, g1))));
            (c0, c1, a0, a1) = (t0, t1, u0, u1);
        }
        let results = team::run(threads, |rank, _| {
            let (o0, o1, g0, g1) = parts[rank]
                .lock()
                .expect("unpoisoned")
                .take()
                .expect("one use");
            let first = team::share(rows, rank, threads).start * ns;
            let mut d = StepDiagnostics::default();
            for (i, (((o0, o1), g0), g1)) in o0
                .iter_mut()
                .zip(o1.iter_mut())
                .zip(g0.iter_mut())
                .zip(g1.iter_mut())
                .enumerate()
            {
                let state = first + i;
                let (fee, s0, s1) = (state / (ns * ns), (state / ns) % ns, state % ns);
                let cell = equilibrium_cell(&k, fee, s0, s1, next);
                [*o0, *o1] = cell.values;
                [*g0, *g1] = cell.actions;
                d.add(&cell);
            }
            d
        });
        let d = &mut diagnostics[t];
        d.step = t;
        d.time = grid.time.nodes[t];
        for r in &results {
            d.merge(r);
        }
        sink.step(
            t,
            [&actions[0], &actions[1]],
            SliceValues::F64([&v_cur[0], &v_cur[1]]),
        )?;
        std::mem::swap(&mut v_next, &mut v_cur);
        progress(nt - 1 - t, nt - 1);
    }
    let [v0, v1] = v_next;
    let mut values_t0 = v0;
    values_t0.extend_from_slice(&v1);
    Ok(EquilibriumSolution {
        values_t0: crate::solution::Values::F64(values_t0),
        diagnostics,
        solve_seconds: start.elapsed().as_secs_f64(),
    })
}
