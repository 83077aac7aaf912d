//! The `equilibrium` scheme's time step as constant-offset stencils: how the CPU solver runs
//! it, equal in every bit to [`equilibrium_cell`](super::equilibrium::equilibrium_cell) at
//! every state (tested below on grids with odd sizes, both interpolations and both fee rules).
//!
//! For a fixed control, a move lands the same distance from every node away from the grid's
//! edge, so V(t+1) at the moved states is a stencil of fixed offsets along each axis. The
//! trilinear interpolation (`Corners::trilinear`) is separable, stake1 first, then stake0, then
//! fee, and a step does the same operations in the same order as passes over contiguous rows:
//!
//! 1. stake1, "lines": for each fee plane a row needs, each agent and each of agent 1's three
//!    controls, every row (fee, stake0) of V(t+1) blended at the moved stake1. Along a row the
//!    bracket is a fixed shift of the node except within a shift of the edge, so a row is a
//!    few runs of plain shifted loads. The weights are read per node: they differ in their
//!    last bits from node to node, and the result must not.
//! 2. stake0 and fee, per output row (fee, stake0) and action pair: two blends of line rows
//!    along stake0 and one along fee, plus the gain, give U_i of all nine pairs along the row.
//! 3. the stage game (exploitability and selection, `select`) for [`LANES`] states at once,
//!    without branches.
//!
//! Nothing is gathered: every load is contiguous, so the passes vectorise. Line planes are
//! computed when a row first needs them and kept in a small ring per thread (the fee planes
//! a row reads move forward with the row), so each is computed about once per step.

use crate::gain::StepGains;
use crate::grid::{pair, Bracket, ClampedTransitions, ACTION_CODES, CONTROL_CODES, PAIR_CODES};
use crate::scheme::{StepDiagnostics, ROUNDING_GAP};

use super::equilibrium::{CPU_TIE_TOLERANCE, PAIRS};
use super::isa::dispatch;

/// Lanes of the widest vectors: eight f64, one AVX-512 register.
pub const LANES: usize = 8;

/// Row arrays are padded to a multiple of this, and the stage-game loops run over the padded
/// row: the compiler's vector loops step by four vectors, and a row of 121 or 401 states
/// would otherwise leave up to 31 of them to its scalar remainder (measured: the remainder
/// was most of the stage game's time). The padding lanes hold harmless zeros.
const ROW_ALIGN: usize = 4 * LANES;

/// The three controls (codes 0, 1, 2).
const CONTROLS: usize = 3;
const _: () = assert!(CONTROL_CODES[0] == 0 && CONTROL_CODES[1] == 1 && CONTROL_CODES[2] == 2);

/// The bracket of one control at one node: value = (1 − weight)·v[lo] + weight·v[hi].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Blend {
    lo: usize,
    hi: usize,
    weight: f64,
}

/// Nodes `start..end` of the stake1 axis where a control's bracket is a fixed shift:
/// lo = node + `lo`, hi = node + `hi`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Run {
    start: usize,
    end: usize,
    lo: isize,
    hi: isize,
}

/// The tables of a solve's stencils, built once from its transition and gain tables.
pub struct Stencil {
    ns: usize,
    /// Stake1 brackets per control: runs of fixed shift, and the weight per node.
    line_runs: [Vec<Run>; CONTROLS],
    line_weight: [Vec<f64>; CONTROLS],
    /// Stake0 bracket per node and control.
    stake0: Vec<[Blend; CONTROLS]>,
    /// Fee bracket per fee node and pair (in selection order).
    fee: Vec<[Blend; PAIRS]>,
    /// Agent i's stake factor (`GainTables::stake_factor`) per pair and (stake0, stake1),
    /// contiguous along stake1.
    stake_factor: [Vec<f64>; 2],
    /// The fee planes output fee node f reads: first..=last.
    window: Vec<(usize, usize)>,
    /// Line planes a thread keeps: the widest window.
    slots: usize,
}

fn blend(b: &Bracket, entry: usize) -> Blend {
    Blend {
        lo: b.lo[entry] as usize,
        hi: b.hi[entry] as usize,
        weight: b.weight[entry],
    }
}

/// The controls' codes of pair `n` (selection order: agent 0 major).
fn codes(n: usize) -> (u8, u8) {
    (CONTROL_CODES[n / CONTROLS], CONTROL_CODES[n % CONTROLS])
}

/// Splits an axis into runs where the bracket is a fixed shift of the node.
fn runs(brackets: &[Blend]) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for (i, b) in brackets.iter().enumerate() {
        let (lo, hi) = (b.lo as isize - i as isize, b.hi as isize - i as isize);
        match runs.last_mut() {
            Some(r) if r.lo == lo && r.hi == hi => r.end = i + 1,
            _ => runs.push(Run {
                start: i,
                end: i + 1,
                lo,
                hi,
            }),
        }
    }
    runs
}

impl Stencil {
    /// The stencils of transition `tr` with agent i's stake factors `stake_factor[i]`
    /// (indexed as `GainTables::stake_factor`).
    pub fn new(
        tr: &ClampedTransitions,
        stake_factor: &[Vec<f64>; 2],
        nf: usize,
        ns: usize,
    ) -> Self {
        let stake = |node: usize, code: u8| blend(&tr.stake, node * ACTION_CODES + code as usize);
        let line: [Vec<Blend>; CONTROLS] =
            std::array::from_fn(|c| (0..ns).map(|b| stake(b, CONTROL_CODES[c])).collect());
        let fee: Vec<[Blend; PAIRS]> = (0..nf)
            .map(|f| {
                std::array::from_fn(|n| {
                    let (c0, c1) = codes(n);
                    blend(&tr.fee, f * PAIR_CODES + pair(c0, c1))
                })
            })
            .collect();
        let window: Vec<(usize, usize)> = fee
            .iter()
            .map(|b| {
                let first = b.iter().map(|x| x.lo.min(x.hi)).min().unwrap_or(0);
                let last = b.iter().map(|x| x.lo.max(x.hi)).max().unwrap_or(0);
                (first, last)
            })
            .collect();
        let ns4 = ns * ACTION_CODES;
        let stake_factor = std::array::from_fn(|agent| {
            let mut rows = Vec::with_capacity(PAIRS * ns * ns);
            for n in 0..PAIRS {
                let (c0, c1) = codes(n);
                for a in 0..ns {
                    let row = (a * ACTION_CODES + c0 as usize) * ns4 + c1 as usize;
                    rows.extend((0..ns).map(|b| stake_factor[agent][row + b * ACTION_CODES]));
                }
            }
            rows
        });
        Stencil {
            ns,
            line_runs: std::array::from_fn(|c| runs(&line[c])),
            line_weight: std::array::from_fn(|c| line[c].iter().map(|b| b.weight).collect()),
            stake0: (0..ns)
                .map(|a| std::array::from_fn(|c| stake(a, CONTROL_CODES[c])))
                .collect(),
            fee,
            slots: window.iter().map(|(a, b)| b - a + 1).max().unwrap_or(1),
            window,
            stake_factor,
        }
    }

    /// Stake points (the length of a row).
    pub fn ns(&self) -> usize {
        self.ns
    }

    /// Bytes of the tables (beside the solver's slices), for the memory check.
    pub fn bytes(nf: usize, ns: usize) -> u64 {
        (2 * PAIRS * ns * ns * 8 + nf * PAIRS * 24 + ns * 6 * 24) as u64
    }

    /// Bytes of one thread's working memory: its ring of line planes and one row of payoffs.
    pub fn scratch_bytes(&self) -> u64 {
        (self.slots * self.plane_len() * 8 + 2 * PAIRS * self.padded_row() * 8) as u64
    }

    fn plane_len(&self) -> usize {
        2 * CONTROLS * self.ns * self.ns
    }

    fn padded_row(&self) -> usize {
        self.ns.div_ceil(ROW_ALIGN) * ROW_ALIGN
    }

    /// A thread's working memory.
    pub fn scratch(&self) -> Scratch {
        Scratch {
            lines: vec![0.0; self.slots * self.plane_len()],
            held: vec![usize::MAX; self.slots],
            payoffs: vec![0.0; 2 * PAIRS * self.padded_row()],
            cells: RowCells::new(self.padded_row()),
        }
    }
}

/// One thread's working memory, kept across time steps.
pub struct Scratch {
    /// Line planes: slot → agent → control of agent 1 → (stake0, stake1).
    lines: Vec<f64>,
    /// The fee plane each slot holds in this step (`usize::MAX`: none).
    held: Vec<usize>,
    /// U_i of the nine pairs along one output row: agent → pair → stake1 (padded to ROW_ALIGN).
    payoffs: Vec<f64>,
    cells: RowCells,
}

/// What a time step reads: the stencils, the step's gains and V(t+1) of both agents.
pub struct StepInput<'a> {
    pub stencil: &'a Stencil,
    pub gains: &'a StepGains,
    /// Agent 1's holding cost per control, contiguous along stake1 (`StepGains::holding[1]`
    /// is indexed by node · 4 + code).
    pub holding1: &'a [Vec<f64>; CONTROLS],
    pub next: [&'a [f64]; 2],
}

impl<'a> StepInput<'a> {
    /// Agent 1's holding cost per control along stake1, from the step's gains.
    pub fn holding1(gains: &StepGains, ns: usize) -> [Vec<f64>; CONTROLS] {
        std::array::from_fn(|c| {
            (0..ns)
                .map(|b| gains.holding[1][b * ACTION_CODES + CONTROL_CODES[c] as usize])
                .collect()
        })
    }
}

/// One thread's share of a time step: output rows (fee, stake0) `first_row..` (as many as
/// `values[0].len() / ns`), values and action codes of both agents.
pub struct RowsOutput<'a> {
    pub first_row: usize,
    pub values: [&'a mut [f64]; 2],
    pub actions: [&'a mut [u8]; 2],
}

dispatch!(pub fn rows(input: &StepInput, scratch: &mut Scratch, out: RowsOutput) -> StepDiagnostics = rows_body);

/// Solves the stage games of a thread's rows (see the module's comment).
#[inline(always)]
fn rows_body(input: &StepInput, scratch: &mut Scratch, out: RowsOutput) -> StepDiagnostics {
    let st = input.stencil;
    let ns = st.ns;
    let mut d = StepDiagnostics::default();
    scratch.held.fill(usize::MAX);
    let RowsOutput {
        first_row,
        values: [v0, v1],
        actions: [g0, g1],
    } = out;
    let rows = v0.len() / ns;
    for i in 0..rows {
        let (f, a) = ((first_row + i) / ns, (first_row + i) % ns);
        let (first, last) = st.window[f];
        for plane in first..=last {
            let slot = plane % st.slots;
            if scratch.held[slot] != plane {
                line_plane(
                    input,
                    plane,
                    &mut scratch.lines[slot * st.plane_len()..][..st.plane_len()],
                );
                scratch.held[slot] = plane;
            }
        }
        row_payoffs(input, f, a, &scratch.lines, &mut scratch.payoffs);
        let span = i * ns..(i + 1) * ns;
        let out = RowOut {
            values: [&mut v0[span.clone()], &mut v1[span.clone()]],
            actions: [&mut g0[span.clone()], &mut g1[span]],
        };
        row_stage_games(
            &scratch.payoffs,
            st.padded_row(),
            out,
            &mut scratch.cells,
            &mut d,
        );
    }
    d
}

/// Pass 1: the line plane of fee node `plane` (both agents, three controls), into `out`.
#[inline(always)]
fn line_plane(input: &StepInput, plane: usize, out: &mut [f64]) {
    let st = input.stencil;
    let ns = st.ns;
    for (agent, v) in input.next.iter().enumerate() {
        for c in 0..CONTROLS {
            let w = &st.line_weight[c][..];
            for a in 0..ns {
                let v = &v[(plane * ns + a) * ns..][..ns];
                let o = &mut out[((agent * CONTROLS + c) * ns + a) * ns..][..ns];
                for r in &st.line_runs[c] {
                    let len = r.end - r.start;
                    let lo = &v[(r.start as isize + r.lo) as usize..][..len];
                    let hi = &v[(r.start as isize + r.hi) as usize..][..len];
                    let (w, o) = (&w[r.start..r.end], &mut o[r.start..r.end]);
                    for j in 0..len {
                        o[j] = lo[j] * (1.0 - w[j]) + hi[j] * w[j];
                    }
                }
            }
        }
    }
}

/// Pass 2: U_i of the nine pairs along output row (f, a), into `payoffs` (agent → pair →
/// stake1), from the line planes.
#[inline(always)]
fn row_payoffs(input: &StepInput, f: usize, a: usize, lines: &[f64], payoffs: &mut [f64]) {
    let st = input.stencil;
    let (ns, slots, plane) = (st.ns, st.slots, st.plane_len());
    let width = st.padded_row();
    for n in 0..PAIRS {
        let (c0, c1) = codes(n);
        let (c0u, c1u) = (c0 as usize, c1 as usize);
        let sa = st.stake0[a][n / CONTROLS];
        let sf = st.fee[f][n];
        let fee_gain = input.gains.fee_gain[f * PAIR_CODES + pair(c0, c1)];
        let (wa, wf) = (sa.weight, sf.weight);
        for agent in 0..2 {
            let line = |fee: usize, s0: usize| {
                let at = (fee % slots) * plane + ((agent * CONTROLS + n % CONTROLS) * ns + s0) * ns;
                &lines[at..][..ns]
            };
            let (l00, l01) = (line(sf.lo, sa.lo), line(sf.lo, sa.hi));
            let (l10, l11) = (line(sf.hi, sa.lo), line(sf.hi, sa.hi));
            let factor = &st.stake_factor[agent][(n * ns + a) * ns..][..ns];
            let u = &mut payoffs[(agent * PAIRS + n) * width..][..ns];
            // The same operations in the same order as `payoffs`: gain·dt, then + V(t+1).
            let next = |b: usize| {
                let p0 = l00[b] * (1.0 - wa) + l01[b] * wa;
                let p1 = l10[b] * (1.0 - wa) + l11[b] * wa;
                p0 * (1.0 - wf) + p1 * wf
            };
            if agent == 0 {
                let holding = input.gains.holding[0][a * ACTION_CODES + c0u];
                for b in 0..ns {
                    u[b] = (fee_gain * factor[b] - holding) + next(b);
                }
            } else {
                let holding = &input.holding1[c1u][..ns];
                for b in 0..ns {
                    u[b] = (fee_gain * factor[b] - holding[b]) + next(b);
                }
            }
        }
    }
}

/// One output row's values and action codes.
struct RowOut<'a> {
    values: [&'a mut [f64]; 2],
    actions: [&'a mut [u8]; 2],
}

/// Pass 3: the stage games along a row, as `select` does them state by state, but each step
/// a loop along the row over contiguous arrays (struct of arrays), which the compiler
/// vectorises; "the first pair such that" is found by walking the pairs backwards and
/// keeping the last match, with selects. The same operations in the same order on every
/// state, so the same result as `select` (tested). Each loop is a function of its slices so
/// that the compiler knows they do not overlap (no run-time alias checks).
#[inline(always)]
fn row_stage_games(
    payoffs: &[f64],
    width: usize,
    out: RowOut,
    w: &mut RowCells,
    d: &mut StepDiagnostics,
) {
    let ns = out.values[0].len();
    let u = |agent: usize, n: usize| payoff_row(payoffs, width, width, agent, n);
    let (largest, tau) = (&mut w.largest[..width], &mut w.tau[..width]);
    largest.fill(1.0);
    for agent in 0..2 {
        for n in 0..PAIRS {
            fold_abs_max(largest, u(agent, n));
        }
    }
    scale(tau, largest, CPU_TIE_TOLERANCE);
    // best[other]: agent 0's best payoff against agent 1's control `other`; best[3 + other]:
    // agent 1's against agent 0's.
    for other in 0..CONTROLS {
        let (b0, b1) = w.best.split_at_mut(CONTROLS * width);
        let (b0, b1) = (
            &mut b0[other * width..][..width],
            &mut b1[other * width..][..width],
        );
        b0.fill(f64::NEG_INFINITY);
        b1.fill(f64::NEG_INFINITY);
        for own in 0..CONTROLS {
            fold_max(b0, u(0, own * CONTROLS + other));
            fold_max(b1, u(1, other * CONTROLS + own));
        }
    }
    let e_min = &mut w.e_min[..width];
    e_min.fill(f64::INFINITY);
    for n in 0..PAIRS {
        let b0 = &w.best[(n % CONTROLS) * width..][..width];
        let b1 = &w.best[(CONTROLS + n / CONTROLS) * width..][..width];
        let (en, sn) = (
            &mut w.e[n * width..][..width],
            &mut w.sum[n * width..][..width],
        );
        exploitability_row(en, sn, e_min, [b0, b1], [u(0, n), u(1, n)]);
    }
    // The largest sum among the candidates (e ≤ e_min + τ), and among the exact minimisers.
    let (best_sum, exact_sum) = (&mut w.best_sum[..width], &mut w.exact_sum[..width]);
    best_sum.fill(f64::NEG_INFINITY);
    exact_sum.fill(f64::NEG_INFINITY);
    for n in 0..PAIRS {
        let (en, sn) = (&w.e[n * width..][..width], &w.sum[n * width..][..width]);
        candidate_sums(best_sum, exact_sum, en, sn, e_min, tau);
    }
    let p = &mut w.pick;
    let (v0, v1) = p.values.split_at_mut(width);
    let mut pick = PickRow {
        chosen: &mut p.chosen[..width],
        ch_e: &mut p.ch_e[..width],
        ch_sum: &mut p.ch_sum[..width],
        v0: &mut v0[..width],
        v1: &mut v1[..width],
        exact: &mut p.exact[..width],
        ex_e: &mut p.ex_e[..width],
        ex_sum: &mut p.ex_sum[..width],
        equilibria: &mut p.equilibria[..width],
    };
    pick.chosen.fill(0.0);
    pick.ch_e.copy_from_slice(&w.e[..width]);
    pick.ch_sum.copy_from_slice(&w.sum[..width]);
    pick.v0.copy_from_slice(u(0, 0));
    pick.v1.copy_from_slice(u(1, 0));
    pick.exact.fill(-1.0);
    pick.equilibria.fill(0.0);
    for n in (0..PAIRS).rev() {
        let (en, sn) = (&w.e[n * width..][..width], &w.sum[n * width..][..width]);
        let walk = Walk {
            n: n as f64,
            e: en,
            sum: sn,
            u: [u(0, n), u(1, n)],
            e_min,
            tau,
            best_sum,
            exact_sum,
        };
        pick_pair(&mut pick, &walk);
    }
    let (ambiguous, exploitability) = (&mut w.ambiguous[..width], &mut w.exploitability[..width]);
    outcomes(&pick, largest, tau, ambiguous, exploitability);
    report_row(&pick, &ambiguous[..ns], &exploitability[..ns], out, d);
}

/// U of `agent` for pair `n` along the row.
#[inline(always)]
fn payoff_row(payoffs: &[f64], width: usize, ns: usize, agent: usize, n: usize) -> &[f64] {
    &payoffs[(agent * PAIRS + n) * width..][..ns]
}

#[inline(always)]
fn fold_abs_max(m: &mut [f64], x: &[f64]) {
    for (m, x) in m.iter_mut().zip(x) {
        *m = m.max(x.abs());
    }
}

#[inline(always)]
fn fold_max(m: &mut [f64], x: &[f64]) {
    for (m, x) in m.iter_mut().zip(x) {
        *m = m.max(*x);
    }
}

#[inline(always)]
fn scale(out: &mut [f64], x: &[f64], factor: f64) {
    for (o, x) in out.iter_mut().zip(x) {
        *o = factor * x;
    }
}

/// e and the sum of one pair along the row, and the running least e.
#[inline(always)]
fn exploitability_row(
    e: &mut [f64],
    sum: &mut [f64],
    e_min: &mut [f64],
    [b0, b1]: [&[f64]; 2],
    [u0, u1]: [&[f64]; 2],
) {
    let ns = e.len();
    let (sum, e_min, b0, b1, u0, u1) = (
        &mut sum[..ns],
        &mut e_min[..ns],
        &b0[..ns],
        &b1[..ns],
        &u0[..ns],
        &u1[..ns],
    );
    for b in 0..ns {
        e[b] = (b0[b] - u0[b]).max(b1[b] - u1[b]);
        sum[b] = u0[b] + u1[b];
        e_min[b] = e_min[b].min(e[b]);
    }
}

/// Folds one pair into the largest candidate sum and the largest exact-minimiser sum.
#[inline(always)]
fn candidate_sums(
    best_sum: &mut [f64],
    exact_sum: &mut [f64],
    e: &[f64],
    sum: &[f64],
    e_min: &[f64],
    tau: &[f64],
) {
    let ns = best_sum.len();
    let (exact_sum, e, sum, e_min, tau) = (
        &mut exact_sum[..ns],
        &e[..ns],
        &sum[..ns],
        &e_min[..ns],
        &tau[..ns],
    );
    for b in 0..ns {
        let candidate = best_sum[b].max(sum[b]);
        best_sum[b] = if e[b] <= e_min[b] + tau[b] {
            candidate
        } else {
            best_sum[b]
        };
        let exact = exact_sum[b].max(sum[b]);
        exact_sum[b] = if e[b] <= e_min[b] {
            exact
        } else {
            exact_sum[b]
        };
    }
}

/// What the backward walk over the pairs keeps per state (f64 lanes throughout, pair
/// numbers included, so that every select is one vector wide).
struct PickRow<'a> {
    chosen: &'a mut [f64],
    ch_e: &'a mut [f64],
    ch_sum: &'a mut [f64],
    v0: &'a mut [f64],
    v1: &'a mut [f64],
    /// −1 when no pair is an exact minimiser with the largest sum.
    exact: &'a mut [f64],
    ex_e: &'a mut [f64],
    ex_sum: &'a mut [f64],
    equilibria: &'a mut [f64],
}

/// What one step of the backward walk reads: pair `n`'s e, sum and payoffs along the row,
/// and the row's bounds.
struct Walk<'a> {
    n: f64,
    e: &'a [f64],
    sum: &'a [f64],
    u: [&'a [f64]; 2],
    e_min: &'a [f64],
    tau: &'a [f64],
    best_sum: &'a [f64],
    exact_sum: &'a [f64],
}

/// One step of the backward walk: pair `n` replaces the kept finalist where it is one, and
/// the kept exact pick likewise; it counts as an equilibrium where e ≤ τ.
#[inline(always)]
fn pick_pair(p: &mut PickRow, w: &Walk) {
    let PickRow {
        chosen,
        ch_e,
        ch_sum,
        v0,
        v1,
        exact,
        ex_e,
        ex_sum,
        equilibria,
    } = p;
    walk_finalists(chosen, ch_e, ch_sum, v0, v1, w);
    walk_exact(exact, ex_e, ex_sum, equilibria, w);
}

/// The written slices are parameters (not fields), and each loop writes few of them, so
/// that the compiler vectorises it: with more arrays it gave up on the run-time overlap
/// checks and left the loop scalar (measured).
#[inline(always)]
fn walk_finalists(
    chosen: &mut [f64],
    ch_e: &mut [f64],
    ch_sum: &mut [f64],
    v0: &mut [f64],
    v1: &mut [f64],
    w: &Walk,
) {
    let ns = chosen.len();
    let (e, sum, e_min, tau, best_sum) = (
        &w.e[..ns],
        &w.sum[..ns],
        &w.e_min[..ns],
        &w.tau[..ns],
        &w.best_sum[..ns],
    );
    let finalist = |b: usize| (e[b] <= e_min[b] + tau[b]) & (sum[b] >= best_sum[b] - tau[b]);
    let (ch_e, ch_sum) = (&mut ch_e[..ns], &mut ch_sum[..ns]);
    for b in 0..ns {
        let f = finalist(b);
        chosen[b] = if f { w.n } else { chosen[b] };
        ch_e[b] = if f { e[b] } else { ch_e[b] };
        ch_sum[b] = if f { sum[b] } else { ch_sum[b] };
    }
    let (u0, u1, v0, v1) = (&w.u[0][..ns], &w.u[1][..ns], &mut v0[..ns], &mut v1[..ns]);
    for b in 0..ns {
        let f = finalist(b);
        v0[b] = if f { u0[b] } else { v0[b] };
        v1[b] = if f { u1[b] } else { v1[b] };
    }
}

#[inline(always)]
fn walk_exact(
    exact: &mut [f64],
    ex_e: &mut [f64],
    ex_sum: &mut [f64],
    equilibria: &mut [f64],
    w: &Walk,
) {
    let ns = exact.len();
    let (e, sum, e_min, tau, exact_sum) = (
        &w.e[..ns],
        &w.sum[..ns],
        &w.e_min[..ns],
        &w.tau[..ns],
        &w.exact_sum[..ns],
    );
    let (ex_e, ex_sum, equilibria) = (&mut ex_e[..ns], &mut ex_sum[..ns], &mut equilibria[..ns]);
    for b in 0..ns {
        let first = (e[b] <= e_min[b]) & (sum[b] >= exact_sum[b]);
        exact[b] = if first { w.n } else { exact[b] };
        ex_e[b] = if first { e[b] } else { ex_e[b] };
        ex_sum[b] = if first { sum[b] } else { ex_sum[b] };
        equilibria[b] += if e[b] <= tau[b] { 1.0 } else { 0.0 };
    }
}

/// Whether the tolerance decided each state's selection (1.0 or 0.0) and the selected
/// pair's exploitability (0 when ≤ τ).
#[inline(always)]
fn outcomes(
    p: &PickRow,
    largest: &[f64],
    tau: &[f64],
    ambiguous: &mut [f64],
    exploitability: &mut [f64],
) {
    let ns = ambiguous.len();
    let (largest, tau, exploitability) = (&largest[..ns], &tau[..ns], &mut exploitability[..ns]);
    let (chosen, exact, ch_e, ch_sum, ex_e, ex_sum) = (
        &p.chosen[..ns],
        &p.exact[..ns],
        &p.ch_e[..ns],
        &p.ch_sum[..ns],
        &p.ex_e[..ns],
        &p.ex_sum[..ns],
    );
    for b in 0..ns {
        let gap = (ex_e[b] - ch_e[b]).abs().max((ex_sum[b] - ch_sum[b]).abs());
        let differs = exact[b] >= 0.0 && exact[b] != chosen[b] && gap > ROUNDING_GAP * largest[b];
        ambiguous[b] = if differs { 1.0 } else { 0.0 };
        exploitability[b] = if ch_e[b] <= tau[b] { 0.0 } else { ch_e[b] };
    }
}

/// Pair n is (control n / 3, control n % 3), and control i has code i.
#[inline(always)]
fn action_codes(g0: &mut [u8], g1: &mut [u8], chosen: &[f64]) {
    let ns = g0.len();
    let (g1, chosen) = (&mut g1[..ns], &chosen[..ns]);
    for b in 0..ns {
        let n = chosen[b] as u8;
        g0[b] = n / CONTROLS as u8;
        g1[b] = n % CONTROLS as u8;
    }
}

/// Writes a row's values and action codes and adds its states to the diagnostics.
#[inline(always)]
fn report_row(
    p: &PickRow,
    ambiguous: &[f64],
    exploitability: &[f64],
    out: RowOut,
    d: &mut StepDiagnostics,
) {
    let ns = ambiguous.len();
    let RowOut {
        values: [v0, v1],
        actions: [g0, g1],
    } = out;
    v0.copy_from_slice(&p.v0[..ns]);
    v1.copy_from_slice(&p.v1[..ns]);
    action_codes(g0, g1, p.chosen);
    let (mut none, mut several, mut amb) = (0.0f64, 0.0f64, 0.0f64);
    let mut worst = [0.0f64; LANES];
    for b in 0..ns {
        let eq = p.equilibria[b];
        none += if eq == 0.0 { 1.0 } else { 0.0 };
        several += if eq > 1.0 { 1.0 } else { 0.0 };
        amb += ambiguous[b];
        worst[b % LANES] = worst[b % LANES].max(exploitability[b]);
    }
    d.no_pure_equilibrium += none as u64;
    d.several_equilibria += several as u64;
    d.ambiguous += amb as u64;
    for w in worst {
        d.max_exploitability = d.max_exploitability.max(w);
    }
}

/// Per-state working arrays of one row (struct of arrays, each `width` long).
pub struct RowCells {
    largest: Vec<f64>,
    tau: Vec<f64>,
    best: Vec<f64>,
    e: Vec<f64>,
    sum: Vec<f64>,
    e_min: Vec<f64>,
    best_sum: Vec<f64>,
    exact_sum: Vec<f64>,
    ambiguous: Vec<f64>,
    exploitability: Vec<f64>,
    pick: Picks,
}

/// The storage of a [`PickRow`].
struct Picks {
    chosen: Vec<f64>,
    ch_e: Vec<f64>,
    ch_sum: Vec<f64>,
    /// Agent 0's then agent 1's payoff of the chosen pair.
    values: Vec<f64>,
    exact: Vec<f64>,
    ex_e: Vec<f64>,
    ex_sum: Vec<f64>,
    equilibria: Vec<f64>,
}

impl RowCells {
    fn new(width: usize) -> Self {
        let f = |n: usize| vec![0.0f64; n * width];
        RowCells {
            largest: f(1),
            tau: f(1),
            best: f(2 * CONTROLS),
            e: f(PAIRS),
            sum: f(PAIRS),
            e_min: f(1),
            best_sum: f(1),
            exact_sum: f(1),
            ambiguous: f(1),
            exploitability: f(1),
            pick: Picks {
                chosen: f(1),
                ch_e: f(1),
                ch_sum: f(1),
                values: f(2),
                exact: f(1),
                ex_e: f(1),
                ex_sum: f(1),
                equilibria: f(1),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Scenario;
    use crate::cpu::equilibrium::{equilibrium_cell, Kernel};
    use crate::cpu::isa::Isa;
    use crate::gain::GainTables;
    use crate::grid::Interpolation;

    /// V(t+1) with structure (smooth in the state) plus noise, and exact ties: every fifth
    /// entry repeats its neighbour, so that equal payoffs and the tolerance get exercised.
    fn next_slice(len: usize, seed: u64) -> Vec<f64> {
        let mut x = seed;
        let mut v: Vec<f64> = (0..len)
            .map(|i| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (i % 37) as f64 * 3.0 + (x >> 11) as f64 / (1u64 << 53) as f64 * 50.0
            })
            .collect();
        for i in (5..len).step_by(5) {
            v[i] = v[i - 1];
        }
        v
    }

    /// Every state of one time step, by stencils (on `threads` row shares, each instruction
    /// set this CPU has) and by `equilibrium_cell`: the same values (every bit), actions and
    /// diagnostics.
    fn check(overrides: &[&str], mode: Interpolation, threads: usize) {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        let sc = Scenario::from_toml("", "test", &o).expect("scenario");
        let (game, grid) = (sc.game(), sc.grid());
        let (nf, ns, slice) = (grid.fee.len(), grid.stake.len(), grid.slice_len());
        let tr = ClampedTransitions::new(&game, &grid, mode);
        let tables = GainTables::new(&game, &grid, &tr.fee_post, &tr.stake_post, 1).unwrap();
        let stencil = Stencil::new(&tr, &tables.stake_factor, nf, ns);
        let t = grid.time.len() - 2;
        let gains = StepGains::new(&game, &grid, &tables, &tr.stake_post, t);
        let holding1 = StepInput::holding1(&gains, ns);
        let (n0, n1) = (next_slice(slice, 1), next_slice(slice, 2));
        let input = StepInput {
            stencil: &stencil,
            gains: &gains,
            holding1: &holding1,
            next: [&n0, &n1],
        };
        let kernel = Kernel {
            ns,
            tr: &tr,
            gains: &tables,
            step: StepGains::new(&game, &grid, &tables, &tr.stake_post, t),
        };
        let mut expected = StepDiagnostics::default();
        let cells: Vec<_> = (0..slice)
            .map(|i| {
                let c = equilibrium_cell(&kernel, i / (ns * ns), (i / ns) % ns, i % ns, [&n0, &n1]);
                expected.add(c.equilibria, c.exploitability, c.ambiguous);
                c
            })
            .collect();
        for isa in [Isa::Baseline, Isa::Avx2, Isa::Avx512] {
            if isa > Isa::best() {
                continue;
            }
            let (mut v0, mut v1) = (vec![0.0; slice], vec![0.0; slice]);
            let (mut g0, mut g1) = (vec![9u8; slice], vec![9u8; slice]);
            let mut d = StepDiagnostics::default();
            let rows = nf * ns;
            let (mut rest_v0, mut rest_v1) = (&mut v0[..], &mut v1[..]);
            let (mut rest_g0, mut rest_g1) = (&mut g0[..], &mut g1[..]);
            for rank in 0..threads {
                let share = crate::team::share(rows, rank, threads);
                let n = share.len() * ns;
                let (a, b) = std::mem::take(&mut rest_v0).split_at_mut(n);
                let (c, e) = std::mem::take(&mut rest_v1).split_at_mut(n);
                let (g, h) = std::mem::take(&mut rest_g0).split_at_mut(n);
                let (k, m) = std::mem::take(&mut rest_g1).split_at_mut(n);
                let out = RowsOutput {
                    first_row: share.start,
                    values: [a, c],
                    actions: [g, k],
                };
                d.merge(&rows_fn(isa, &input, &mut stencil.scratch(), out));
                (rest_v0, rest_v1, rest_g0, rest_g1) = (b, e, h, m);
            }
            for (i, c) in cells.iter().enumerate() {
                let got = ([v0[i].to_bits(), v1[i].to_bits()], [g0[i], g1[i]]);
                let want = ([c.values[0].to_bits(), c.values[1].to_bits()], c.actions);
                assert_eq!(got, want, "{overrides:?} {mode:?} {isa:?}: state {i}");
            }
            assert_eq!(d, expected, "{overrides:?} {mode:?} {isa:?}: diagnostics");
        }
    }

    fn rows_fn(isa: Isa, input: &StepInput, s: &mut Scratch, out: RowsOutput) -> StepDiagnostics {
        rows(isa, input, s, out)
    }

    #[test]
    fn stencils_equal_the_cell_kernel_in_every_bit() {
        let odd = [
            "grid.fee_points=7",
            "grid.stake_points=13",
            "grid.time_points=4",
        ];
        for mode in [Interpolation::Linear, Interpolation::Nearest] {
            check(&odd, mode, 1);
            check(&odd, mode, 3);
        }
        // Large moves: several cells per step along every axis, so the runs and the fee
        // window are wide; the sum rule moves the fee when one agent moves.
        let wide = [
            "grid.fee_points=9",
            "grid.stake_points=21",
            "grid.time_points=3",
            "grid.control=40",
            "model.fee_speed=3",
            "model.fee_rule=\"sum\"",
        ];
        check(&wide, Interpolation::Linear, 2);
        check(
            &[
                "grid.fee_points=2",
                "grid.stake_points=2",
                "grid.time_points=2",
            ],
            Interpolation::Linear,
            1,
        );
    }
}
