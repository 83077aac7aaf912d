//! The `equilibrium` scheme's time step as constant-offset stencils: how the CPU solver runs
//! it, equal in every bit to [`equilibrium_cell`](super::equilibrium::equilibrium_cell) at
//! every state (tested below on grids with odd sizes, both interpolations and both fee rules).
//!
//! For a fixed control, a move lands the same distance from every node away from the grid's
//! edge, so V(t+1) at the moved states is a stencil of fixed offsets along each axis. The
//! trilinear interpolation (`Corners::trilinear`) is separable, stake1 first, then stake0, then
//! fee, and a step does the same operations in the same order as passes over contiguous rows:
//!
//! 1. stake1, "lines": for each agent and each of agent 1's three controls, every row
//!    (fee, stake0) of V(t+1) blended at the moved stake1. Along a row the bracket is a fixed
//!    shift of the node except within a shift of the edge, so a row is a few runs of plain
//!    shifted loads. The weights are read per node: they differ in their last bits from node
//!    to node, and the result must not.
//! 2. stake0 and fee, per output row (fee, stake0) and action pair: two blends of line rows
//!    along stake0 and one along fee, plus the gain, give U_i of all nine pairs; and
//! 3. the stage game (exploitability and selection, `select`), both for a vector of states
//!    at once, in registers, without branches (`simd.rs`).
//!
//! Nothing is gathered: every load is contiguous. Stake0 is the outer loop of a thread's
//! share and fee the inner one: the stake factors of a stake0 node are the same for every
//! fee node and stay in cache, and the lines of the few stake0 nodes a row reads are kept in
//! a ring per thread (every fee plane of each), computed once per step.

use crate::gain::StepGains;
use crate::grid::{pair, Bracket, ClampedTransitions, ACTION_CODES, CONTROL_CODES, PAIR_CODES};
use crate::scheme::{StepDiagnostics, ROUNDING_GAP};

use super::aligned::AlignedRows;
use super::equilibrium::{CPU_TIE_TOLERANCE, PAIRS};
use super::isa::dispatch;
use super::simd::Simd;

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
    stake_factor: [AlignedRows; 2],
    /// The stake0 nodes output stake0 node a reads: first..=last.
    stake0_window: Vec<(usize, usize)>,
    /// Stake0 nodes whose lines a thread keeps: the widest stake0 window.
    rows: usize,
    nf: usize,
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

/// The nodes each node's brackets read, first..=last.
fn windows<const K: usize>(brackets: &[[Blend; K]]) -> Vec<(usize, usize)> {
    brackets
        .iter()
        .map(|b| {
            let first = b.iter().map(|x| x.lo.min(x.hi)).min().unwrap_or(0);
            let last = b.iter().map(|x| x.lo.max(x.hi)).max().unwrap_or(0);
            (first, last)
        })
        .collect()
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
        let ns4 = ns * ACTION_CODES;
        let width = ns.div_ceil(ROW_ALIGN) * ROW_ALIGN;
        let stake_factor = std::array::from_fn(|agent| {
            let mut rows = AlignedRows::zeros(PAIRS * ns * width);
            for n in 0..PAIRS {
                let (c0, c1) = codes(n);
                for a in 0..ns {
                    let row = (a * ACTION_CODES + c0 as usize) * ns4 + c1 as usize;
                    let out = &mut rows[(n * ns + a) * width..][..ns];
                    for (b, o) in out.iter_mut().enumerate() {
                        *o = stake_factor[agent][row + b * ACTION_CODES];
                    }
                }
            }
            rows
        });
        let stake0: Vec<[Blend; CONTROLS]> = (0..ns)
            .map(|a| std::array::from_fn(|c| stake(a, CONTROL_CODES[c])))
            .collect();
        let stake0_window = windows(&stake0);
        Stencil {
            nf,
            ns,
            rows: stake0_window
                .iter()
                .map(|(a, b)| b - a + 1)
                .max()
                .unwrap_or(1),
            stake0_window,
            line_runs: std::array::from_fn(|c| runs(&line[c])),
            line_weight: std::array::from_fn(|c| line[c].iter().map(|b| b.weight).collect()),
            stake0,
            fee,
            stake_factor,
        }
    }

    /// Stake points (the length of a row).
    pub fn ns(&self) -> usize {
        self.ns
    }

    /// Bytes of the tables (beside the solver's slices), for the memory check.
    pub fn bytes(nf: usize, ns: usize) -> u64 {
        let width = ns.div_ceil(ROW_ALIGN) * ROW_ALIGN;
        (2 * PAIRS * ns * width * 8 + nf * PAIRS * 24 + ns * 6 * 24) as u64
    }

    /// Bytes of one thread's working memory on `grid` (before the stencil exists): its ring
    /// of line rows, as many stake0 nodes as a move of m·dt spans and its neighbours, and one
    /// row of outcomes.
    pub fn scratch_bytes(grid: &crate::grid::Grid) -> u64 {
        let (nf, ns) = (grid.fee.len(), grid.stake.len());
        let width = ns.div_ceil(ROW_ALIGN) * ROW_ALIGN;
        let moves = grid.actions.value(CONTROL_CODES[2]) as f64 * grid.dt / grid.stake.spacing;
        let rows = (2.0 * moves.ceil() + 2.0).min(ns as f64) as usize;
        (rows * nf * 2 * CONTROLS * width * 8 + 4 * width * 8) as u64
    }

    /// Length of one stake0 node's line rows (every fee plane) in a thread's ring.
    fn lines_len(&self) -> usize {
        self.nf * 2 * CONTROLS * self.padded_row()
    }

    fn padded_row(&self) -> usize {
        self.ns.div_ceil(ROW_ALIGN) * ROW_ALIGN
    }

    /// A thread's working memory.
    pub fn scratch(&self) -> Scratch {
        Scratch {
            lines: AlignedRows::zeros(self.rows * self.lines_len()),
            held: vec![usize::MAX; self.rows],
            cells: RowCells::new(self.padded_row()),
        }
    }
}

/// One thread's working memory, kept across time steps.
pub struct Scratch {
    /// Line rows: slot (fee plane) → agent → control of agent 1 → stake0 row → stake1.
    lines: AlignedRows,
    /// The fee plane each slot holds in this step (`usize::MAX`: none).
    held: Vec<usize>,
    cells: RowCells,
}

/// What a time step reads: the stencils, the step's gains and V(t+1) of both agents.
pub struct StepInput<'a> {
    pub stencil: &'a Stencil,
    pub gains: &'a StepGains,
    /// Agent 1's holding cost per control, contiguous along stake1 (`StepGains::holding[1]`
    /// is indexed by node · 4 + code).
    pub holding1: &'a [AlignedRows; CONTROLS],
    pub next: [&'a [f64]; 2],
}

impl<'a> StepInput<'a> {
    /// Agent 1's holding cost per control along stake1, from the step's gains, padded with
    /// zeros to the stencil's row width.
    pub fn holding1(gains: &StepGains, stencil: &Stencil) -> [AlignedRows; CONTROLS] {
        std::array::from_fn(|c| {
            let mut row = AlignedRows::zeros(stencil.padded_row());
            for (b, h) in row[..stencil.ns].iter_mut().enumerate() {
                *h = gains.holding[1][b * ACTION_CODES + CONTROL_CODES[c] as usize];
            }
            row
        })
    }
}

/// One thread's share of a time step: the output rows (fee, stake0) of every fee node and
/// the stake0 nodes `stake0`, values and action codes of both agents; row (f, a) is entry
/// `f · stake0.len() + (a − stake0.start)` of each list.
pub struct RowsOutput<'a> {
    pub stake0: std::ops::Range<usize>,
    pub values: [Vec<&'a mut [f64]>; 2],
    pub actions: [Vec<&'a mut [u8]>; 2],
}

/// The rows of a step's outputs (values and action codes of both agents), handed to
/// `threads` threads by stake0 shares (`team::share(ns, rank, threads)`), as `RowsOutput`
/// lists them.
#[allow(clippy::type_complexity)]
pub fn split_rows<'a>(
    values: [&'a mut [f64]; 2],
    actions: [&'a mut [u8]; 2],
    ns: usize,
    threads: usize,
) -> Vec<([Vec<&'a mut [f64]>; 2], [Vec<&'a mut [u8]>; 2])> {
    let owner: Vec<usize> = (0..threads)
        .flat_map(|rank| std::iter::repeat_n(rank, crate::team::share(ns, rank, threads).len()))
        .collect();
    let mut parts: Vec<_> = (0..threads)
        .map(|_| ([Vec::new(), Vec::new()], [Vec::new(), Vec::new()]))
        .collect();
    let [v0, v1] = values;
    let [g0, g1] = actions;
    let rows = v0
        .chunks_mut(ns)
        .zip(v1.chunks_mut(ns))
        .zip(g0.chunks_mut(ns).zip(g1.chunks_mut(ns)));
    for (i, ((v0, v1), (g0, g1))) in rows.enumerate() {
        let (values, actions): &mut ([Vec<_>; 2], [Vec<_>; 2]) = &mut parts[owner[i % ns]];
        values[0].push(v0);
        values[1].push(v1);
        actions[0].push(g0);
        actions[1].push(g1);
    }
    parts
}

dispatch!(pub fn rows(input: &StepInput, scratch: &mut Scratch, out: RowsOutput) -> StepDiagnostics = rows_body);

/// Solves the stage games of a thread's rows (see the module's comment). Measured on
/// 41×121²×9, with fee as the outer loop and whole line planes in the ring the stake factors
/// were streamed from memory once per fee node; recomputing each stake0 node's lines for
/// every row that reads them (three times) cost more than it saved.
#[inline(always)]
fn rows_body<S: Simd>(
    input: &StepInput,
    scratch: &mut Scratch,
    out: RowsOutput,
) -> StepDiagnostics {
    let st = input.stencil;
    let mut d = StepDiagnostics::default();
    let RowsOutput {
        stake0,
        values: [mut v0, mut v1],
        actions: [mut g0, mut g1],
    } = out;
    let count = stake0.len();
    scratch.held.fill(usize::MAX);
    for a in stake0.clone() {
        let (first, last) = st.stake0_window[a];
        for row in first..=last {
            let slot = row % st.rows;
            if scratch.held[slot] != row {
                let len = st.lines_len();
                line_rows(input, row, &mut scratch.lines[slot * len..][..len]);
                scratch.held[slot] = row;
            }
        }
        // Filled in place, element by element: built as a whole array (`array::from_fn`) and
        // moved, the 2.5 KB of the pairs was copied once per row (5% of a solve, measured).
        let mut pairs = [[pair_row(input, 0, a, 0, 0, &scratch.lines); PAIRS]; 2];
        for f in 0..st.nf {
            for (agent, row) in pairs.iter_mut().enumerate() {
                for (n, p) in row.iter_mut().enumerate() {
                    *p = pair_row(input, f, a, agent, n, &scratch.lines);
                }
            }
            let i = f * count + (a - stake0.start);
            let out = RowOut {
                values: [&mut *v0[i], &mut *v1[i]],
                actions: [&mut *g0[i], &mut *g1[i]],
            };
            row_stage_games::<S>(&pairs, st.padded_row(), out, &mut scratch.cells, &mut d);
        }
    }
    d
}

/// Pass 1: the line rows of stake0 node `row` in every fee plane (both agents, three
/// controls), into `out` (fee → agent → control → stake1).
#[inline(always)]
fn line_rows(input: &StepInput, row: usize, out: &mut [f64]) {
    let st = input.stencil;
    let (ns, width) = (st.ns, st.padded_row());
    for plane in 0..st.nf {
        for (agent, v) in input.next.iter().enumerate() {
            let v = &v[(plane * ns + row) * ns..][..ns];
            for c in 0..CONTROLS {
                let w = &st.line_weight[c][..];
                let o = &mut out[((plane * 2 + agent) * CONTROLS + c) * width..][..ns];
                for run in &st.line_runs[c] {
                    let len = run.end - run.start;
                    let lo = &v[(run.start as isize + run.lo) as usize..][..len];
                    let hi = &v[(run.start as isize + run.hi) as usize..][..len];
                    let (w, o) = (&w[run.start..run.end], &mut o[run.start..run.end]);
                    for j in 0..len {
                        o[j] = lo[j] * (1.0 - w[j]) + hi[j] * w[j];
                    }
                }
            }
        }
    }
}

/// Pass 2's inputs for one pair and agent along an output row: the four line rows around
/// the moved (fee, stake0), the blend weights, and the gain's pieces.
#[derive(Clone, Copy)]
struct PairRow<'a> {
    lines: [&'a [f64]; 4],
    /// 1 − w and w along stake0, then along fee.
    stake0: [f64; 2],
    fee: [f64; 2],
    fee_gain: f64,
    factor: &'a [f64],
    /// Agent 0's holding cost (one per row), or agent 1's along stake1.
    holding: Holding<'a>,
}

/// A blend (1 − w)·x + w·y whose weight is exactly 0 or 1 is exactly x or y: the other
/// product is ±0, and x + ±0 = x unless x is −0, which no value, line or blend here can be
/// (a gain is never −0, so no value is; a sum of two products is −0 only if both are, which
/// would need w = 0 and w = 1 at once). So such a blend is skipped: the moves that leave an
/// axis alone (7 of the 9 pairs keep the fee under the `agree` rule, 3 keep stake0) read one
/// row instead of two. Only non-finite values, which fail the solve anyway, could tell.
fn exact_side(w: [f64; 2]) -> Option<usize> {
    if w[1] == 0.0 {
        Some(0)
    } else if w[0] == 0.0 {
        Some(1)
    } else {
        None
    }
}

impl PairRow<'_> {
    /// Whether every row is at least `width` long.
    fn fits(&self, width: usize) -> bool {
        let holding = match self.holding {
            Holding::Row(_) => width,
            Holding::Along(h) => h.len(),
        };
        self.lines.iter().all(|l| l.len() >= width)
            && self.factor.len() >= width
            && holding >= width
    }
}

#[derive(Clone, Copy)]
enum Holding<'a> {
    Row(f64),
    Along(&'a [f64]),
}

/// Pass 2's inputs of output row (f, a) for one agent and pair; every slice is `width` long.
#[inline(always)]
fn pair_row<'a>(
    input: &'a StepInput,
    f: usize,
    a: usize,
    agent: usize,
    n: usize,
    lines: &'a [f64],
) -> PairRow<'a> {
    let st = input.stencil;
    let (width, len, rows) = (st.padded_row(), st.lines_len(), st.rows);
    let (c0, c1) = codes(n);
    let (sa, sf) = (st.stake0[a][n / CONTROLS], st.fee[f][n]);
    let line = |fee: usize, s0: usize| {
        let at = (s0 % rows) * len + ((fee * 2 + agent) * CONTROLS + n % CONTROLS) * width;
        &lines[at..][..width]
    };
    PairRow {
        lines: [
            line(sf.lo, sa.lo),
            line(sf.lo, sa.hi),
            line(sf.hi, sa.lo),
            line(sf.hi, sa.hi),
        ],
        stake0: [1.0 - sa.weight, sa.weight],
        fee: [1.0 - sf.weight, sf.weight],
        fee_gain: input.gains.fee_gain[f * PAIR_CODES + pair(c0, c1)],
        factor: &st.stake_factor[agent][(n * st.ns + a) * width..][..width],
        holding: if agent == 0 {
            Holding::Row(input.gains.holding[0][a * ACTION_CODES + c0 as usize])
        } else {
            Holding::Along(&input.holding1[c1 as usize][..width])
        },
    }
}

/// U of one pair and agent for the `S::N` states from `at`: the same operations in the same
/// order as `payoffs` (trilinear blend along stake1 (the lines), stake0, then fee; gain·dt,
/// then + V(t+1)).
///
/// # Safety
/// `at + S::N` is at most the length of every row of `p` (`PairRow::fits`).
#[inline(always)]
unsafe fn payoff<S: Simd>(p: &PairRow, at: usize) -> S::V {
    // Element by element, not `array::map`: the compiler left that closure out of line, and
    // the intrinsics in it with it (measured: the solve took twice as long).
    let next = match exact_side(p.fee) {
        Some(side) => unsafe { stake0_blend::<S>(p, 2 * side, at) },
        None => {
            let (p0, p1) = unsafe { (stake0_blend::<S>(p, 0, at), stake0_blend::<S>(p, 2, at)) };
            let (f0, f1) = (S::splat(p.fee[0]), S::splat(p.fee[1]));
            S::add(S::mul(p0, f0), S::mul(p1, f1))
        }
    };
    let holding = match p.holding {
        Holding::Row(h) => S::splat(h),
        Holding::Along(h) => unsafe { S::load_unchecked(h, at) },
    };
    prefetch(p.factor, at);
    let gain = S::sub(
        S::mul(S::splat(p.fee_gain), unsafe {
            S::load_unchecked(p.factor, at)
        }),
        holding,
    );
    S::add(gain, next)
}

/// How far ahead of the vector being computed `prefetch` asks for a row's data: two cache
/// lines (two AVX-512 vectors, four AVX2 ones). 16 and 24 measured alike, 48 and 80 slower.
const PREFETCH_AHEAD: usize = 16;

/// Asks for `x[at + PREFETCH_AHEAD..]` to be brought into L1 (a hint: it never faults, and
/// past the end of `x` it reads nothing the program sees). Pass 2 reads ~60 rows per output
/// row (line rows and stake factors, 2–4 per payoff), one cache line of each per AVX-512
/// vector; the hardware's prefetchers do not follow that many streams from one loop, and
/// asking measured 12–20% faster on 101×401²×5 with AVX-512, 10% with AVX2 (1–2% with SSE2).
#[inline(always)]
fn prefetch(x: &[f64], at: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch has no architectural effect; `wrapping_add` forms the address
    // without the in-bounds requirement of `add`.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(x.as_ptr().wrapping_add(at + PREFETCH_AHEAD).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (x, at);
}

/// The blend along stake0 of line rows `first` and `first + 1` (one fee side).
///
/// # Safety
/// As for `payoff`.
#[inline(always)]
unsafe fn stake0_blend<S: Simd>(p: &PairRow, first: usize, at: usize) -> S::V {
    match exact_side(p.stake0) {
        Some(side) => {
            prefetch(p.lines[first + side], at);
            unsafe { S::load_unchecked(p.lines[first + side], at) }
        }
        None => {
            prefetch(p.lines[first], at);
            prefetch(p.lines[first + 1], at);
            let (lo, hi) = unsafe {
                (
                    S::load_unchecked(p.lines[first], at),
                    S::load_unchecked(p.lines[first + 1], at),
                )
            };
            let (a0, a1) = (S::splat(p.stake0[0]), S::splat(p.stake0[1]));
            S::add(S::mul(lo, a0), S::mul(hi, a1))
        }
    }
}

/// One output row's values and action codes.
struct RowOut<'a> {
    values: [&'a mut [f64]; 2],
    actions: [&'a mut [u8]; 2],
}

/// Passes 2 and 3: the payoffs and stage games along a row, `S::N` states at a time with
/// everything in registers; the outcomes go to the row arrays of `w`, then to the output and
/// diagnostics. Rows are padded to `width`; the padding lanes compute harmless garbage.
#[inline(always)]
fn row_stage_games<S: Simd>(
    pairs: &[[PairRow; PAIRS]; 2],
    width: usize,
    out: RowOut,
    w: &mut RowCells,
    d: &mut StepDiagnostics,
) {
    let ns = out.values[0].len();
    let (zero, one, three) = (S::splat(0.0), S::splat(1.0), S::splat(3.0));
    let lane = S::load(&LANE_INDEX);
    let mut sums = Diagnostics::<S::V> {
        no_pure: zero,
        several: zero,
        ambiguous: zero,
        worst: zero,
    };
    let mut u = [[zero; PAIRS]; 2];
    // Checked once per row, so that the ~100 loads per vector below need no checks.
    assert!(width.is_multiple_of(S::N) && pairs.iter().flatten().all(|p| p.fits(width)));
    for at in (0..width).step_by(S::N) {
        for (agent, ua) in u.iter_mut().enumerate() {
            for (n, un) in ua.iter_mut().enumerate() {
                // SAFETY: at + S::N ≤ width (width is a multiple of S::N), and every row
                // of the pair is at least `width` long (asserted above).
                *un = unsafe { payoff::<S>(&pairs[agent][n], at) };
            }
        }
        let g = stage_games::<S>(&u);
        // Pair n is (control n / 3, control n % 3), and control i has code i.
        let c0 = S::add(
            S::select(S::le(three, g.chosen), one, zero),
            S::select(S::le(S::splat(6.0), g.chosen), one, zero),
        );
        let c1 = S::sub(g.chosen, S::mul(three, c0));
        // Straight into the output row, but for its last, partial vector.
        if at + S::N <= ns {
            S::store(g.values[0], &mut out.values[0][at..]);
            S::store(g.values[1], &mut out.values[1][at..]);
            S::store_bytes(c0, &mut out.actions[0][at..]);
            S::store_bytes(c1, &mut out.actions[1][at..]);
        } else {
            S::store(g.values[0], &mut w.values[at..]);
            S::store(g.values[1], &mut w.values[width + at..]);
            S::store_bytes(c0, &mut w.codes[at..]);
            S::store_bytes(c1, &mut w.codes[width + at..]);
        }
        // The padding lanes past the row's end count for nothing. (No closures here: the
        // compiler left them out of line, and the vector instructions in them with them.)
        let valid = S::lt(S::add(lane, S::splat(at as f64)), S::splat(ns as f64));
        let none = S::and(valid, S::le(g.equilibria, zero));
        let several = S::and(valid, S::lt(one, g.equilibria));
        sums.no_pure = S::add_where(none, sums.no_pure, one);
        sums.several = S::add_where(several, sums.several, one);
        sums.ambiguous = S::add_where(valid, sums.ambiguous, g.ambiguous);
        sums.worst = S::max(sums.worst, S::select(valid, g.exploitability, zero));
    }
    report_row::<S>(w, width, out, &sums, d);
}

/// Lane numbers 0, 1, …, as f64.
const LANE_INDEX: [f64; LANES] = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];

/// A row's diagnostics, per lane: states without a pure equilibrium, with several, whose
/// selection the tolerance decided, and the largest selected exploitability.
struct Diagnostics<V> {
    no_pure: V,
    several: V,
    ambiguous: V,
    worst: V,
}

/// The outcome of `S::N` stage games, one lane each (pair numbers and counts as f64).
struct StageGames<V> {
    chosen: V,
    values: [V; 2],
    equilibria: V,
    exploitability: V,
    /// 1 where the tolerance decided the selection, else 0.
    ambiguous: V,
}

/// `select` for `S::N` states at once: lane by lane the same operations in the same order,
/// and so the same result (tested). "The first pair such that" is found by walking the
/// pairs backwards and keeping the last match.
#[inline(always)]
fn stage_games<S: Simd>(u: &[[S::V; PAIRS]; 2]) -> StageGames<S::V> {
    let (zero, one) = (S::splat(0.0), S::splat(1.0));
    let mut largest = one;
    for ua in u {
        for &x in ua {
            largest = S::max(largest, S::abs(x));
        }
    }
    let tau = S::mul(S::splat(CPU_TIE_TOLERANCE), largest);
    // best0[a1]: agent 0's best payoff against agent 1's control a1; best1[a0] likewise.
    let mut best0 = [S::splat(f64::NEG_INFINITY); CONTROLS];
    let mut best1 = best0;
    for other in 0..CONTROLS {
        for own in 0..CONTROLS {
            best0[other] = S::max(best0[other], u[0][own * CONTROLS + other]);
            best1[other] = S::max(best1[other], u[1][other * CONTROLS + own]);
        }
    }
    let (mut e, mut sum) = ([zero; PAIRS], [zero; PAIRS]);
    let mut e_min = S::splat(f64::INFINITY);
    for n in 0..PAIRS {
        let d0 = S::sub(best0[n % CONTROLS], u[0][n]);
        let d1 = S::sub(best1[n / CONTROLS], u[1][n]);
        e[n] = S::max(d0, d1);
        sum[n] = S::add(u[0][n], u[1][n]);
        e_min = S::min(e_min, e[n]);
    }
    // The largest sum among the candidates (e ≤ e_min + τ), and among the exact minimisers.
    let limit = S::add(e_min, tau);
    let mut best_sum = S::splat(f64::NEG_INFINITY);
    let mut exact_sum = best_sum;
    for n in 0..PAIRS {
        best_sum = S::max_where(S::le(e[n], limit), best_sum, sum[n]);
        exact_sum = S::max_where(S::le(e[n], e_min), exact_sum, sum[n]);
    }
    let floor = S::sub(best_sum, tau);
    // The first finalist (pair 0 when there is none), and the first exact pick (−1: none).
    // An exact pick's e is e_min and its sum is exact_sum (each is ≤ and ≥ it), so only its
    // pair number is kept.
    let (mut chosen, mut ch_e, mut ch_sum) = (zero, e[0], sum[0]);
    let mut values = [u[0][0], u[1][0]];
    let mut exact = S::splat(-1.0);
    let mut equilibria = zero;
    for n in (0..PAIRS).rev() {
        let pair = S::splat(n as f64);
        let finalist = S::and(S::le(e[n], limit), S::le(floor, sum[n]));
        chosen = S::select(finalist, pair, chosen);
        ch_e = S::select(finalist, e[n], ch_e);
        ch_sum = S::select(finalist, sum[n], ch_sum);
        values[0] = S::select(finalist, u[0][n], values[0]);
        values[1] = S::select(finalist, u[1][n], values[1]);
        let first = S::and(S::le(e[n], e_min), S::le(exact_sum, sum[n]));
        exact = S::select(first, pair, exact);
        equilibria = S::add_where(S::le(e[n], tau), equilibria, one);
    }
    let gap = S::max(
        S::abs(S::sub(e_min, ch_e)),
        S::abs(S::sub(exact_sum, ch_sum)),
    );
    let differs = S::or(S::lt(exact, chosen), S::lt(chosen, exact));
    let decided = S::and(
        S::and(S::le(zero, exact), differs),
        S::lt(S::mul(S::splat(ROUNDING_GAP), largest), gap),
    );
    StageGames {
        chosen,
        values,
        equilibria,
        exploitability: S::select(S::le(ch_e, tau), zero, ch_e),
        ambiguous: S::select(decided, one, zero),
    }
}
/// Writes a row's values and action codes and adds its states to the diagnostics.
#[inline(always)]
fn report_row<S: Simd>(
    w: &mut RowCells,
    width: usize,
    out: RowOut,
    sums: &Diagnostics<S::V>,
    d: &mut StepDiagnostics,
) {
    let RowOut {
        values: [v0, v1],
        actions: [g0, g1],
    } = out;
    let ns = v0.len();
    let tail = ns - ns % S::N;
    v0[tail..].copy_from_slice(&w.values[tail..ns]);
    v1[tail..].copy_from_slice(&w.values[width + tail..][..ns - tail]);
    g0[tail..].copy_from_slice(&w.codes[tail..ns]);
    g1[tail..].copy_from_slice(&w.codes[width + tail..][..ns - tail]);
    let lanes = &mut w.lanes;
    for (v, total) in [
        (sums.no_pure, &mut d.no_pure_equilibrium),
        (sums.several, &mut d.several_equilibria),
        (sums.ambiguous, &mut d.ambiguous),
    ] {
        S::store(v, &mut lanes[..]);
        *total += lanes[..S::N].iter().sum::<f64>() as u64;
    }
    S::store(sums.worst, &mut lanes[..]);
    for &x in &lanes[..S::N] {
        d.max_exploitability = d.max_exploitability.max(x);
    }
}

/// A row's stage-game outcomes (each array `width` long, two of them for both agents).
pub struct RowCells {
    /// The last, partial vector's action codes (agent 0's, then agent 1's).
    codes: Vec<u8>,
    values: Vec<f64>,
    /// One vector's lanes, for the diagnostics' sums.
    lanes: [f64; LANES],
}

impl RowCells {
    fn new(width: usize) -> Self {
        RowCells {
            codes: vec![0; 2 * width],
            values: vec![0.0; 2 * width],
            lanes: [0.0; LANES],
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
        let holding1 = StepInput::holding1(&gains, &stencil);
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
            let mut parts = split_rows([&mut v0, &mut v1], [&mut g0, &mut g1], ns, threads);
            for (rank, (values, actions)) in parts.drain(..).enumerate() {
                let out = RowsOutput {
                    stake0: crate::team::share(ns, rank, threads),
                    values,
                    actions,
                };
                d.merge(&rows(isa, &input, &mut stencil.scratch(), out));
            }
            for (i, c) in cells.iter().enumerate() {
                let got = ([v0[i].to_bits(), v1[i].to_bits()], [g0[i], g1[i]]);
                let want = ([c.values[0].to_bits(), c.values[1].to_bits()], c.actions);
                assert_eq!(got, want, "{overrides:?} {mode:?} {isa:?}: state {i}");
            }
            assert_eq!(d, expected, "{overrides:?} {mode:?} {isa:?}: diagnostics");
        }
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
