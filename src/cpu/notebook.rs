//! The `notebook` scheme on the CPU: the notebook's policy iteration, f64, parallel over the
//! grid's rows on the thread team (`team`), which meets at a spinning barrier per time step.
//!
//! Each iteration walks t = N_T−2 down to 0 once and runs three kernels per time step at every
//! state: `evaluate_cell` (both agents' values), then `best_response_cell` for agent 0 and for
//! agent 1. They are the CPU twins of `shaders/notebook_evaluate.wgsl` and
//! `shaders/notebook_best_response.wgsl`. Fusing the notebook's two sweeps this way gives the
//! same result (docs/model.md): evaluation at t reads only a[·, t] and v_old[t+1], the best
//! response at t only v_new[t+1] and a[·, t]; and since each state reads only its own
//! actions, the three kernels run back to back per state, rows in parallel.
//!
//! Speed comes from not recomputing what does not change. A post-move point takes one of a few
//! values per node (4 action codes per agent), so the running gain is split into factors
//! tabulated once per solve (`fee_factor` per fee node and action pair, `stake_factor` per
//! stake pair and action pair) and scaled once per time step; the inner loop then does one
//! multiply and two adds per gain, with no `exp` and no division. The factored gain equals the
//! notebook's to about 1e-15 relative, which is below the 1e-14 at which NumPy's `exp` already
//! differs from the C library's.

use std::time::Instant;

use crate::gain::{GainTables, StepGains};
use crate::team;

use super::isa::Isa;
use super::notebook_rows::{self, ChunkTables, RowIo};

use crate::config::SolverConfig;
use crate::error::Error;
use crate::grid::{
    pair, Grid, Transitions, ACTION_CODES, CONTROL_CODES, INITIAL_ACTION, PAIR_CODES,
};
use crate::model::Game;
use crate::scheme::{Cancel, Event, Observer, Solution, Values};

/// Everything the kernels read at one time step: the transition tables and the gain factors
/// scaled by that step's discount and holding rates (and by dt).
pub struct StepKernel<'a> {
    pub ns: usize,
    pub tr: &'a Transitions,
    pub gains: &'a GainTables,
    /// |value(a) − value(b)| per pair of codes (a, b): one step of the policy change.
    pub action_change: [u64; PAIR_CODES],
    /// The action value of each code (−m, 0, m, and the initial 1).
    pub action_value: [f64; ACTION_CODES],
    /// e^(−r t)·dt·fee_factor, per `fee_index · 16 + pair`.
    pub fee_gain: Vec<f64>,
    /// holding_rate_i(t)·dt·S' per agent, per `stake_index · 4 + code`.
    pub holding: [Vec<f64>; 2],
    /// Agent 1's holding cost per code, contiguous along stake1 (for the vector path).
    pub holding1: [Vec<f64>; ACTION_CODES],
}

impl<'a> StepKernel<'a> {
    pub fn new(
        game: &Game,
        grid: &Grid,
        tr: &'a Transitions,
        gains: &'a GainTables,
        t: usize,
    ) -> Self {
        let StepGains { fee_gain, holding } = StepGains::new(game, grid, gains, &tr.stake_post, t);
        let ns = grid.stake.len();
        let holding1 = std::array::from_fn(|c| {
            (0..ns)
                .map(|s1| holding[1][s1 * ACTION_CODES + c])
                .collect()
        });
        StepKernel {
            holding1,
            ns: grid.stake.len(),
            tr,
            gains,
            action_value: std::array::from_fn(|c| grid.actions.value(c as u8) as f64),
            action_change: std::array::from_fn(|p| {
                let value = |c: usize| grid.actions.value(c as u8);
                value(p / ACTION_CODES).abs_diff(value(p % ACTION_CODES))
            }),
            fee_gain,
            holding,
        }
    }

    /// What the kernels read for one stake1 node.
    fn stake1(&self, s1: usize) -> Stake1<'_> {
        let codes = s1 * ACTION_CODES..(s1 + 1) * ACTION_CODES;
        let four = |t: &'a [u32]| -> &'a [u32; ACTION_CODES] {
            t[codes.clone()].try_into().expect("4 codes")
        };
        Stake1 {
            nearest: four(&self.tr.stake_nearest),
            step: four(&self.tr.stake_step),
            holding: self.holding[1][codes.clone()].try_into().expect("4 codes"),
        }
    }

    /// What the kernels read for one row (fee, stake0), gathered once so that the loop over
    /// stake1 indexes small fixed-size arrays.
    pub(super) fn row(&self, fee: usize, s0: usize) -> StepRow<'_> {
        let (ns, tr) = (self.ns, self.tr);
        let pairs = fee * PAIR_CODES..(fee + 1) * PAIR_CODES;
        let codes = s0 * ACTION_CODES..(s0 + 1) * ACTION_CODES;
        let slice_offsets = |t: &[u32]| -> [usize; PAIR_CODES] {
            std::array::from_fn(|p| t[pairs.start + p] as usize * ns * ns)
        };
        let row_offsets = |t: &[u32]| -> [usize; ACTION_CODES] {
            std::array::from_fn(|c| t[codes.start + c] as usize * ns)
        };
        let width = ns * ACTION_CODES;
        let stake_factor = |agent: usize| -> [&[[f64; ACTION_CODES]]; ACTION_CODES] {
            std::array::from_fn(|c| {
                let start = (s0 * ACTION_CODES + c) * width;
                self.gains.stake_factor[agent][start..start + width]
                    .as_chunks()
                    .0
            })
        };
        StepRow {
            kernel: self,
            s0,
            fee_gain: self.fee_gain[pairs.clone()].try_into().expect("16 pairs"),
            fee_nearest: slice_offsets(&tr.fee_nearest),
            fee_step: slice_offsets(&tr.fee_step),
            s0_nearest: row_offsets(&tr.stake_nearest),
            s0_step: row_offsets(&tr.stake_step),
            s0_holding: self.holding[0][codes].try_into().expect("4 codes"),
            stake_factor: [stake_factor(0), stake_factor(1)],
        }
    }
}

/// `evaluate_cell` at one state alone: both agents' values at time t of state `at` (fee,
/// stake0, stake1) under codes `c`, from V(t+1) `v_next`. For the twin tests against the WGSL
/// `evaluate_state`; the solver runs the kernels row by row.
pub fn evaluate_at(k: &StepKernel, at: [usize; 3], c: [u8; 2], v_next: [&[f64]; 2]) -> [f64; 2] {
    evaluate_cell(&k.row(at[0], at[1]), at[2], &k.stake1(at[2]), c, v_next)
}

/// `best_response_cell` at one state alone: `agent`'s best control at state `at` against the
/// other agent's code `other`, from V(t+1) `v_next`. For the twin tests against the WGSL
/// `best_response_state`.
pub fn best_response_at(
    k: &StepKernel,
    agent: usize,
    at: [usize; 3],
    other: u8,
    v_next: &[f64],
) -> u8 {
    let (row, st) = (k.row(at[0], at[1]), k.stake1(at[2]));
    match agent {
        0 => best_response_cell::<0>(&row, at[2], &st, other, v_next),
        _ => best_response_cell::<1>(&row, at[2], &st, other, v_next),
    }
}

/// One row's share of the step tables. Offsets are premultiplied into flat slice indices.
pub struct StepRow<'a> {
    kernel: &'a StepKernel<'a>,
    pub(super) s0: usize,
    /// e^(−r t)·dt·f'·φ(f') per action pair.
    fee_gain: [f64; PAIR_CODES],
    /// Nearest fee node of the post-move fee, per pair, times stake_points².
    fee_nearest: [usize; PAIR_CODES],
    /// Stepped fee node, per pair, times stake_points².
    fee_step: [usize; PAIR_CODES],
    /// Nearest / stepped stake0 node per code, times stake_points.
    s0_nearest: [usize; ACTION_CODES],
    s0_step: [usize; ACTION_CODES],
    /// Agent 0's holding cost·dt at stake0 per code.
    s0_holding: [f64; ACTION_CODES],
    /// stake_factor[agent][code0][stake1][code1].
    stake_factor: [[&'a [[f64; ACTION_CODES]]; ACTION_CODES]; 2],
}

/// Per-stake1 entries of the step tables (four action codes each).
struct Stake1<'a> {
    nearest: &'a [u32; ACTION_CODES],
    step: &'a [u32; ACTION_CODES],
    holding: &'a [f64; ACTION_CODES],
}

impl StepRow<'_> {
    /// Agent 0's holding cost·dt at this row's stake0 under its code `c0`.
    pub(super) fn s0_holding(&self, c0: usize) -> f64 {
        self.s0_holding[c0]
    }

    /// e^(−r t)·dt·f'·φ(f') under codes `c`.
    pub(super) fn fee_gain(&self, c: [u8; 2]) -> f64 {
        self.fee_gain[pair(c[0], c[1])]
    }

    /// The flat index of (nearest fee node, nearest stake0 node, stake1 = 0) under codes
    /// (c0, c1): the evaluation's lookup is this plus the nearest stake1 node.
    pub(super) fn nearest_base(&self, c0: u8, c1: u8) -> usize {
        self.fee_nearest[pair(c0, c1)] + self.s0_nearest[c0 as usize]
    }

    /// The same for the best response's stepped nodes.
    pub(super) fn step_base(&self, c0: u8, c1: u8) -> usize {
        self.fee_step[pair(c0, c1)] + self.s0_step[c0 as usize]
    }

    /// One state alone (stake1 node `s1`, old codes `old`): both agents' values and new
    /// codes, by the state-by-state kernels.
    pub(super) fn state(
        &self,
        s1: usize,
        old: [u8; 2],
        v_old_next: [&[f64]; 2],
        v_new_next: [&[f64]; 2],
    ) -> ([f64; 2], [u8; 2]) {
        let st = self.kernel.stake1(s1);
        let values = evaluate_cell(self, s1, &st, old, v_old_next);
        let new0 = best_response_cell::<0>(self, s1, &st, old[1], v_new_next[0]);
        let new1 = best_response_cell::<1>(self, s1, &st, new0 & 3, v_new_next[1]);
        (values, [new0, new1])
    }

    /// gain_i·dt at the post-move point of this row's stake1 node `s1` under codes (c0, c1).
    #[inline(always)]
    fn gain_dt<const AGENT: usize>(
        &self,
        s1: usize,
        s1_holding: &[f64; ACTION_CODES],
        c: [u8; 2],
    ) -> f64 {
        let row = self.stake_factor[AGENT][c[0] as usize];
        debug_assert!(s1 < row.len());
        // SAFETY: `s1` is a stake node of this grid and every row has one entry per node.
        let stake_factor = unsafe { row.get_unchecked(s1) }[c[1] as usize];
        let holding = if AGENT == 0 {
            self.s0_holding[c[0] as usize]
        } else {
            s1_holding[c[1] as usize]
        };
        self.fee_gain[pair(c[0], c[1])] * stake_factor - holding
    }
}

/// A value at t+1. Every index comes from the transition tables, whose nodes are clamped to
/// the grid when they are built (`Transitions::notebook`), so it is always in the slice; the
/// unchecked read saves eight bounds checks per state in the hottest loop.
#[inline(always)]
fn lookup(v: &[f64], i: usize) -> f64 {
    debug_assert!(i < v.len());
    // SAFETY: `i` is a node of the grid (see above) and `v` is a whole time slice.
    unsafe { *v.get_unchecked(i) }
}

/// `notebook_evaluate` at one state: both agents' values at time t from the actions a[·, t]
/// and the previous iteration's values at t+1, looked up at the nearest node of the physical
/// post-move point.
#[inline(always)]
fn evaluate_cell(
    row: &StepRow,
    s1: usize,
    st: &Stake1,
    c: [u8; 2],
    v_next: [&[f64]; 2],
) -> [f64; 2] {
    let next = row.fee_nearest[pair(c[0], c[1])]
        + row.s0_nearest[c[0] as usize]
        + st.nearest[c[1] as usize] as usize;
    [
        row.gain_dt::<0>(s1, st.holding, c) + lookup(v_next[0], next),
        row.gain_dt::<1>(s1, st.holding, c) + lookup(v_next[1], next),
    ]
}

/// `notebook_best_response` at one state: agent `AGENT`'s best control at time t against the
/// other agent's current action `other`, scored by the gain at the physical post-move point
/// plus this iteration's value at t+1 on the node stepped by whole cells. The first control
/// with the largest total wins.
#[inline(always)]
fn best_response_cell<const AGENT: usize>(
    row: &StepRow,
    s1: usize,
    st: &Stake1,
    other: u8,
    v_next: &[f64],
) -> u8 {
    let total = |own: u8| {
        let c = if AGENT == 0 {
            [own, other]
        } else {
            [other, own]
        };
        let next = row.fee_step[pair(c[0], c[1])]
            + row.s0_step[c[0] as usize]
            + st.step[c[1] as usize] as usize;
        row.gain_dt::<AGENT>(s1, st.holding, c) + lookup(v_next, next)
    };
    // Called one by one rather than through `array::map`, whose closure the compiler stopped
    // inlining as the crate grew (that alone halved the solver's speed).
    let totals = [
        total(CONTROL_CODES[0]),
        total(CONTROL_CODES[1]),
        total(CONTROL_CODES[2]),
    ];
    // Strictly greater replaces, as NumPy's argmax: the first of equal totals wins. Written
    // without a loop so that it compiles to conditional moves, not unpredictable branches.
    let (mut best, mut best_total) = (CONTROL_CODES[0], totals[0]);
    if totals[1] > best_total {
        (best, best_total) = (CONTROL_CODES[1], totals[1]);
    }
    if totals[2] > best_total {
        best = CONTROL_CODES[2];
    }
    best
}

/// One time step for one row (fee, stake0): evaluate, then agent 0's and agent 1's best
/// responses (each state reads only its own actions, so the three kernels can run back to
/// back per state), on vectors of states where they allow it (`notebook_rows`). Returns
/// Σ|a_new − a_old| over the row.
fn step_row(k: &StepKernel, run: &RowRun, fee: usize, s0: usize, io: RowIo) -> u64 {
    let row = k.row(fee, s0);
    notebook_rows::step_row(run.isa, k, run.chunks, &row, io)
}

/// What every row of a solve shares: the vector path's tables and instruction set.
struct RowRun<'a> {
    chunks: &'a ChunkTables,
    isa: Isa,
}

/// Solves the `notebook` scheme on up to `threads` threads. `observer` hears of each
/// iteration; `cancel` is read at every time step's barrier.
pub fn solve(
    game: &Game,
    grid: &Grid,
    solver: &SolverConfig,
    threads: usize,
    cancel: &Cancel,
    observer: &mut dyn Observer,
) -> Result<Solution, Error> {
    let start = Instant::now();
    let isa = Isa::selected()?;
    let (nt, nf, ns) = (grid.time.len(), grid.fee.len(), grid.stake.len());
    let slice = grid.slice_len();
    let per_agent = nt * slice;
    let tr = Transitions::notebook(game, grid);
    let gains = GainTables::new(game, grid, &tr.fee_post, &tr.stake_post, threads)?;
    let chunks = ChunkTables::new(&tr, &gains.stake_factor, ns);
    let run = RowRun {
        chunks: &chunks,
        isa,
    };
    let kernels: Vec<StepKernel> = (0..nt - 1)
        .map(|t| StepKernel::new(game, grid, &tr, &gains, t))
        .collect();

    let mut ring = team::zeroed_written(threads, 2 * per_agent)?;
    let zeros = team::zeroed_written(threads, slice)?;
    // The notebook starts every action at 1, which is not a control (unless m = 1).
    let mut actions = vec![INITIAL_ACTION; 2 * per_agent];
    let mut policy_change = Vec::new();
    let mut converged = false;
    let threads = team::threads_for(threads, slice, nf * ns);

    for iteration in 0..solver.max_iterations as usize {
        let shared = Shared {
            ring: ring.as_mut_ptr(),
            zeros: &zeros,
            actions: actions.as_mut_ptr(),
            iteration,
            nt,
            slice,
        };
        let changed = iteration_on_team(&kernels, &run, &shared, threads, ns, cancel)?;
        let change = changed as f64 / (nf * ns) as f64;
        policy_change.push(change);
        observer.event(&Event::Iteration {
            iteration: iteration + 1,
            policy_change: change,
        });
        if change < solver.tolerance {
            converged = true;
            break;
        }
    }

    Ok(Solution {
        shape: [2, nt, nf, ns, ns],
        // No iteration leaves the ring at zero, which is the answer.
        values: Values::F64(match policy_change.len() {
            0 => ring,
            done => unroll(ring, done - 1, nt, slice),
        }),
        policy: actions,
        policy_change,
        converged,
        solve_seconds: start.elapsed().as_secs_f64(),
    })
}

/// One iteration on `threads` threads of the team, each over a contiguous share of the rows
/// (fee, stake0), t = N_T−2 down to 0 with a barrier after each time step. Returns
/// Σ|a_new − a_old| over the grid.
fn iteration_on_team(
    kernels: &[StepKernel],
    run: &RowRun,
    shared: &Shared,
    threads: usize,
    ns: usize,
    cancel: &Cancel,
) -> Result<u64, Error> {
    let rows = shared.slice / ns;
    let changed = team::run(threads, cancel, |rank, barrier| {
        let mine = team::share(rows, rank, threads);
        let mut changed = 0;
        for (t, k) in kernels.iter().enumerate().rev() {
            // SAFETY: see `Shared`.
            let (actions, [v_old_next, v_new_next], out) =
                unsafe { shared.step(t, mine.clone(), ns) };
            let cells = actions.into_iter().zip(out);
            for (n, ((a0, a1), (o0, o1))) in cells.enumerate() {
                let row = mine.start + n;
                let io = RowIo {
                    actions: [a0, a1],
                    v_old_next,
                    v_new_next,
                    out: [o0, o1],
                };
                changed += step_row(k, run, row / ns, row % ns, io);
            }
            barrier.wait()?;
        }
        Ok(changed)
    })?;
    Ok(changed.into_iter().sum())
}

/// The arrays of one iteration, shared by the team's threads.
///
/// Values live in one ring of N_T − 1 + 1 slices per agent instead of two whole value sets
/// (old and new): iteration i keeps v_new[t] in slot (t + 2i) mod N_T, so that step t writes
/// over v_old[t + 2], which step t + 1 read last, and reads v_old[t + 1] and v_new[t + 1]
/// from the other two slots it touches. The last time slice is 0 in every iteration and is
/// one shared slice of zeros. Less memory to stream through the caches: on 31×61²×9 the ring
/// is 16.6 MB where the two value sets were 33 MB.
///
/// Within time step t, each thread writes only its own rows of slot (t + 2i) and of the
/// actions at t, and every thread reads the slots of v_old[t + 1] and v_new[t + 1], which
/// nobody writes during step t; the barrier after each step orders the steps. So the mutable
/// row ranges handed out by [`Shared::step`] never alias each other or the shared slices.
struct Shared<'a> {
    ring: *mut f64,
    zeros: &'a [f64],
    actions: *mut u8,
    iteration: usize,
    nt: usize,
    slice: usize,
}

// SAFETY: the raw pointers are only dereferenced through `Shared::step`, whose contract keeps
// the threads' accesses disjoint (see the type's documentation).
unsafe impl Sync for Shared<'_> {}

type RowPairs<'a, T> =
    std::iter::Zip<std::slice::ChunksExactMut<'a, T>, std::slice::ChunksExactMut<'a, T>>;

/// The ring slot of time slice `t` of the value set computed in iteration `iteration` (the
/// values before the first iteration count as iteration −1: all zeros, any slot will do).
fn slot(t: usize, iteration: isize, nt: usize) -> usize {
    (t as isize + 2 * iteration).rem_euclid(nt as isize) as usize
}

impl<'a> Shared<'a> {
    /// Time slice `t` of the values computed in iteration `iteration`, both agents.
    ///
    /// SAFETY: nobody may write that slot while the slices are in use.
    unsafe fn values(&self, t: usize, iteration: isize) -> [&'a [f64]; 2] {
        if t == self.nt - 1 {
            return [self.zeros, self.zeros];
        }
        let at = |agent: usize| -> &'a [f64] {
            let start = (agent * self.nt + slot(t, iteration, self.nt)) * self.slice;
            std::slice::from_raw_parts(self.ring.add(start), self.slice)
        };
        [at(0), at(1)]
    }

    /// The rows `rows` of step t (both agents' actions and values, row by row), and the
    /// previous and this iteration's values at t+1.
    ///
    /// SAFETY: during step t no other thread may hold rows overlapping `rows`, and nobody may
    /// write the slots of t+1.
    #[allow(clippy::type_complexity)]
    unsafe fn step(
        &self,
        t: usize,
        rows: std::ops::Range<usize>,
        ns: usize,
    ) -> (RowPairs<'a, u8>, [[&'a [f64]; 2]; 2], RowPairs<'a, f64>) {
        let i = self.iteration as isize;
        let span = rows.start * ns..rows.end * ns;
        let len = span.len();
        let act = |agent: usize| {
            let start = (agent * self.nt + t) * self.slice + span.start;
            std::slice::from_raw_parts_mut(self.actions.add(start), len)
        };
        let out = |agent: usize| {
            let start = (agent * self.nt + slot(t, i, self.nt)) * self.slice + span.start;
            std::slice::from_raw_parts_mut(self.ring.add(start), len)
        };
        (
            act(0).chunks_exact_mut(ns).zip(act(1).chunks_exact_mut(ns)),
            [self.values(t + 1, i - 1), self.values(t + 1, i)],
            out(0).chunks_exact_mut(ns).zip(out(1).chunks_exact_mut(ns)),
        )
    }
}

/// The ring after iteration `last` as whole value sets in time order, (agent, time, …), in
/// place: each agent's slots rotated so that t = 0 comes first, and the last slice zeroed.
fn unroll(mut ring: Vec<f64>, last: usize, nt: usize, slice: usize) -> Vec<f64> {
    for agent in ring.chunks_exact_mut(nt * slice) {
        agent.rotate_left(slot(0, last as isize, nt) * slice);
        agent[(nt - 1) * slice..].fill(0.0);
    }
    ring
}
