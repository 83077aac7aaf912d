//! The `equilibrium` scheme on the CPU (the f64 reference): one backward sweep, at every
//! state the stage game over all action pairs, an explicit equilibrium selection, and memory
//! for two value slices (docs/model.md).
//!
//! `equilibrium_cell` is the CPU twin of `shaders/equilibrium_step.wgsl`. Each time step's
//! actions (and, if asked, values) go to a [`StepSink`] as soon as they exist, so a fine grid's
//! policy is streamed to disk rather than held.

use std::time::Instant;

use crate::error::Error;
use crate::gain::{GainTables, StepGains};
use crate::grid::{
    pair, Bracket, ClampedTransitions, Corners, Grid, Interpolation, ACTION_CODES, CONTROL_CODES,
    PAIR_CODES,
};
use crate::model::Game;
use crate::scheme::{
    Cancel, EquilibriumSolution, Event, Observer, Precision, SliceValues, StepDiagnostics,
    StepSink, Values, ROUNDING_GAP,
};
use crate::team;

use super::isa::Isa;
use super::stencil::{self, RowsOutput, Scratch, Stencil, StepInput};

/// Number of action pairs of the stage game (3 × 3 controls).
pub const PAIRS: usize = 9;

/// The CPU's tie tolerance, relative to max(1, largest |U|) at the state (docs/model.md).
pub const CPU_TIE_TOLERANCE: f64 = Precision::F64.tie_tolerance();

/// One state's outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    pub actions: [u8; 2],
    pub values: [f64; 2],
    /// Pairs with e ≤ τ (pure equilibria).
    pub equilibria: u32,
    /// The selected pair's exploitability, 0 when ≤ τ.
    pub exploitability: f64,
    /// Whether the tolerance decided the selection: with exact comparisons (τ = 0) another
    /// pair would have been chosen. Such a selection is ambiguous in this precision.
    pub ambiguous: bool,
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
    [corner.trilinear(v[0]), corner.trilinear(v[1])]
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

/// Each pair's exploitability e = max(D_0, D_1) (docs/model.md step 2).
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

/// Exploitability of every pair and the selection of docs/model.md step 3, with tie tolerance
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
    // With finite payoffs the candidate of the largest sum is a finalist. Non-finite payoffs
    // (an overflow) compare false everywhere: pick the first pair and let the solve's check of
    // its values report the overflow, rather than panic here.
    let chosen = (0..PAIRS)
        .find(|&n| candidate(n) && sum(n) >= best_sum - tau)
        .unwrap_or(0);
    // The same rule with exact comparisons (first of the least e, then first of the largest
    // sum among those): equal payoffs give the same pair, so only near ties count.
    let exact_sum = (0..PAIRS)
        .filter(|&n| e[n] <= e_min)
        .map(sum)
        .fold(f64::NEG_INFINITY, f64::max);
    let exact = (0..PAIRS).find(|&n| e[n] <= e_min && sum(n) >= exact_sum);
    // Ambiguous only when the two picks differ by more than rounding: pairs equal in exact
    // arithmetic (mirror images, moves the grid's edge makes identical) differ by ~1e-15·|U|
    // in f64, and τ exists to tie them.
    let gap = |n: usize| (e[n] - e[chosen]).abs().max((sum(n) - sum(chosen)).abs());
    Cell {
        ambiguous: exact.is_some_and(|n| n != chosen && gap(n) > ROUNDING_GAP * largest),
        actions: [CONTROL_CODES[chosen / 3], CONTROL_CODES[chosen % 3]],
        values: [u[0][chosen], u[1][chosen]],
        equilibria: e.iter().filter(|&&x| x <= tau).count() as u32,
        exploitability: if e[chosen] <= tau { 0.0 } else { e[chosen] },
    }
}

/// Runs the sweep on up to `threads` threads, handing each time step to `sink`; `observer`
/// hears of each time step, and `cancel` is read between them. Each step runs as stencils
/// (`stencil.rs`), which give `equilibrium_cell`'s result at every state. A sink that takes
/// only the actions gets them on a writer thread, while the next step is computed (two sets
/// of action slices take turns); one that also takes the values gets each step in line.
pub fn solve(
    game: &Game,
    grid: &Grid,
    mode: Interpolation,
    threads: usize,
    sink: &mut (dyn StepSink + Send),
    cancel: &Cancel,
    observer: &mut dyn Observer,
) -> Result<EquilibriumSolution, Error> {
    let start = Instant::now();
    let slice = grid.slice_len();
    let (values_t0, diagnostics) = if sink.wants_values() {
        let mut in_line = |t: usize, actions: Actions, values: SliceValues| {
            sink.step(t, [&actions[0], &actions[1]], values)?;
            Ok(actions)
        };
        sweep(game, grid, mode, threads, &mut in_line, cancel, observer)?
    } else {
        let (to_writer, steps) = std::sync::mpsc::sync_channel::<(usize, Actions)>(1);
        let (to_solver, spare) = std::sync::mpsc::sync_channel::<Actions>(2);
        let _ = to_solver.send([vec![0u8; slice], vec![0u8; slice]]);
        std::thread::scope(|scope| {
            let writer = scope.spawn(move || -> Result<(), Error> {
                for (t, actions) in steps {
                    sink.step(t, [&actions[0], &actions[1]], SliceValues::F64([&[], &[]]))?;
                    if to_solver.send(actions).is_err() {
                        break;
                    }
                }
                Ok(())
            });
            let stopped = || Error::Internal("the policy writer stopped".into());
            let mut hand_off = |t: usize, actions: Actions, _: SliceValues| {
                to_writer.send((t, actions)).map_err(|_| stopped())?;
                spare.recv().map_err(|_| stopped())
            };
            let swept = sweep(game, grid, mode, threads, &mut hand_off, cancel, observer);
            drop(to_writer);
            let written = writer.join().unwrap_or_else(|_| Err(stopped()));
            // The writer's error is the cause when the sweep stopped because it had.
            written.and(swept)
        })?
    };
    Ok(EquilibriumSolution {
        values_t0: Values::F64(values_t0),
        diagnostics,
        solve_seconds: start.elapsed().as_secs_f64(),
        gpu_time_split: None,
    })
}

/// Both agents' action codes of one time step.
type Actions = [Vec<u8>; 2];

/// Hands a step's actions (and values) on and returns the action slices to fill next.
type HandOff<'a> = dyn FnMut(usize, Actions, SliceValues) -> Result<Actions, Error> + 'a;

/// The backward sweep: each step's actions go to `hand_off`. Returns both agents' values at
/// t = 0, joined, and the diagnostics.
fn sweep(
    game: &Game,
    grid: &Grid,
    mode: Interpolation,
    threads: usize,
    hand_off: &mut HandOff,
    cancel: &Cancel,
    observer: &mut dyn Observer,
) -> Result<(Vec<f64>, Vec<StepDiagnostics>), Error> {
    let isa = Isa::selected()?;
    let (nt, slice) = (grid.time.len(), grid.slice_len());
    let (nf, ns) = (grid.fee.len(), grid.stake.len());
    let tr = ClampedTransitions::new(game, grid, mode);
    let mut gains = GainTables::new(game, grid, &tr.fee_post, &tr.stake_post, threads)?;
    let stencil = Stencil::new(&tr, &gains.stake_factor, nf, ns);
    // The stencil keeps its own copy of the stake factors, laid out along stake1.
    gains.stake_factor = [Vec::new(), Vec::new()];
    let threads = team::threads_for(threads, slice, ns);
    let scratch: Vec<_> = (0..threads)
        .map(|_| std::sync::Mutex::new(stencil.scratch()))
        .collect();
    // V(T) = 0; the two sets (both agents' slices, agent 0's first) swap roles every step.
    // Written, not just allocated: V(T) is read before it is written (see
    // `team::zeroed_written`). One array per set, so that the t = 0 set is the result as it
    // stands (joining two slices cost a copy and its page faults, a tenth of a small solve).
    let zeroed = || team::zeroed_written(threads, 2 * slice);
    let (mut v_next, mut v_cur) = (zeroed()?, zeroed()?);
    let mut actions = [vec![0u8; slice], vec![0u8; slice]];
    let mut diagnostics = vec![StepDiagnostics::default(); nt - 1];
    for t in (0..nt - 1).rev() {
        cancel.check()?;
        let gains = StepGains::new(game, grid, &gains, &tr.stake_post, t);
        let holding1 = StepInput::holding1(&gains, &stencil);
        let input = StepInput {
            stencil: &stencil,
            gains: &gains,
            holding1: &holding1,
            next: [&v_next[..slice], &v_next[slice..]],
        };
        let d = &mut diagnostics[t];
        *d = step(&input, isa, &scratch, &mut v_cur, &mut actions, cancel)?;
        (d.step, d.time) = (t, grid.time.nodes[t]);
        let (cur0, cur1) = v_cur.split_at(slice);
        actions = hand_off(t, actions, SliceValues::F64([cur0, cur1]))?;
        std::mem::swap(&mut v_next, &mut v_cur);
        observer.event(&Event::TimeStep {
            done: nt - 1 - t,
            total: nt - 1,
            states: slice,
        });
    }
    Ok((v_next, diagnostics))
}

/// One time step on the team: each thread solves a contiguous share of the rows
/// (fee, stake0) of every output slice, with its own scratch.
fn step(
    input: &StepInput,
    isa: Isa,
    scratch: &[std::sync::Mutex<Scratch>],
    v_cur: &mut [f64],
    actions: &mut [Vec<u8>; 2],
    cancel: &Cancel,
) -> Result<StepDiagnostics, Error> {
    let threads = scratch.len();
    let ns = input.stencil.ns();
    let (cur0, cur1) = v_cur.split_at_mut(v_cur.len() / 2);
    let [act0, act1] = actions;
    let parts: Vec<_> = stencil::split_rows([cur0, cur1], [act0, act1], ns, threads)
        .into_iter()
        .map(|p| std::sync::Mutex::new(Some(p)))
        .collect();
    let results = team::run(threads, cancel, |rank, _| {
        let Some((values, actions)) = parts[rank].lock().ok().and_then(|mut p| p.take()) else {
            return Ok(StepDiagnostics::default());
        };
        // Scratch is rewritten before it is read each step, so a poisoned lock's is usable.
        let mut scratch = scratch[rank].lock().unwrap_or_else(|p| p.into_inner());
        let out = RowsOutput {
            stake0: team::share(ns, rank, threads),
            values,
            actions,
        };
        Ok(stencil::rows(isa, input, &mut scratch, out))
    })?;
    let mut d = StepDiagnostics::default();
    for r in &results {
        d.merge(r);
    }
    Ok(d)
}
