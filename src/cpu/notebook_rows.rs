//! The `notebook` scheme's time step for one row (fee, stake0) on vectors of states: how the
//! CPU solver runs it, equal in every bit to the state-by-state kernels of `notebook.rs`
//! (tested below, and by the golden tests against the notebook).
//!
//! The moves are index steps, so along a row the node a state looks up is the state's own
//! stake1 node plus a shift that is the same for every node away from the edge. Where a
//! vector of `S::N` states holds the same old actions (almost everywhere once the policy
//! settles: the first iterations start from one action everywhere), their evaluation and both
//! best responses read V(t+1) with plain shifted loads: one load per agent for the
//! evaluation, one per candidate control for each best response. Agent 1 answers agent 0's
//! new action, which may differ between the states: each of agent 0's actions present is
//! tried for the whole vector and the lanes that hold it are kept. Vectors whose old actions
//! differ, or that reach the edge of the row, go state by state.
//!
//! The arithmetic is the state-by-state kernels', in the same order: gain·dt as
//! fee_gain·stake_factor − holding, plus V(t+1); the first control with the largest total.

use super::isa::dispatch;
use super::notebook::{StepKernel, StepRow};
use super::simd::Simd;
use crate::grid::{pair, Transitions, ACTION_CODES, CONTROL_CODES};

/// Stake1 tables of the vector path, built once per solve.
pub struct ChunkTables {
    ns: usize,
    /// Agent i's stake factor per code pair and (stake0, stake1), contiguous along stake1:
    /// `((c0 · 4 + c1) · ns + s0) · ns + s1`.
    stake_factor: [Vec<f64>; 2],
    /// Nearest and stepped stake1 node minus the node, per code and node.
    near_shift: [Vec<isize>; ACTION_CODES],
    step_shift: [Vec<isize>; ACTION_CODES],
    /// Per old code of agent 1 and node: the end of the run of nodes from this one where
    /// every shift a vector reads is the same (the nearest and stepped shift of that code,
    /// and the stepped shifts of the three controls).
    uniform_end: [Vec<usize>; ACTION_CODES],
}

impl ChunkTables {
    pub fn new(tr: &Transitions, stake_factor: &[Vec<f64>; 2], ns: usize) -> Self {
        let shift = |t: &[u32], c: usize| -> Vec<isize> {
            (0..ns)
                .map(|s| t[s * ACTION_CODES + c] as isize - s as isize)
                .collect()
        };
        let near_shift: [Vec<isize>; ACTION_CODES] =
            std::array::from_fn(|c| shift(&tr.stake_nearest, c));
        let step_shift: [Vec<isize>; ACTION_CODES] =
            std::array::from_fn(|c| shift(&tr.stake_step, c));
        let uniform_end = std::array::from_fn(|c1| {
            let read: Vec<&Vec<isize>> = [&near_shift[c1], &step_shift[c1]]
                .into_iter()
                .chain(CONTROL_CODES.iter().map(|&c| &step_shift[c as usize]))
                .collect();
            let mut end = vec![ns; ns];
            for s in (0..ns.saturating_sub(1)).rev() {
                let same = read.iter().all(|t| t[s] == t[s + 1]);
                end[s] = if same { end[s + 1] } else { s + 1 };
            }
            end
        });
        let ns4 = ns * ACTION_CODES;
        let stake_factor = std::array::from_fn(|agent| {
            let mut rows = Vec::with_capacity(ACTION_CODES * ACTION_CODES * ns * ns);
            for c0 in 0..ACTION_CODES {
                for c1 in 0..ACTION_CODES {
                    for s0 in 0..ns {
                        let row = (s0 * ACTION_CODES + c0) * ns4 + c1;
                        rows.extend((0..ns).map(|s1| stake_factor[agent][row + s1 * ACTION_CODES]));
                    }
                }
            }
            rows
        });
        ChunkTables {
            ns,
            stake_factor,
            near_shift,
            step_shift,
            uniform_end,
        }
    }

    /// Agent `agent`'s stake factors along row `s0` under codes (c0, c1).
    fn factors(&self, agent: usize, c: [usize; 2], s0: usize) -> &[f64] {
        let ns = self.ns;
        &self.stake_factor[agent][((c[0] * ACTION_CODES + c[1]) * ns + s0) * ns..][..ns]
    }
}

/// One row's inputs and outputs at one time step, as `notebook::step_row` has them.
pub struct RowIo<'a> {
    pub actions: [&'a mut [u8]; 2],
    pub v_old_next: [&'a [f64]; 2],
    pub v_new_next: [&'a [f64]; 2],
    pub out: [&'a mut [f64]; 2],
}

dispatch!(pub fn step_row(k: &StepKernel, t: &ChunkTables, row: &StepRow, io: RowIo) -> u64 = step_row_body);

/// Evaluation and both best responses along the row; returns Σ|a_new − a_old| over it.
#[inline(always)]
fn step_row_body<S: Simd>(k: &StepKernel, t: &ChunkTables, row: &StepRow, io: RowIo) -> u64 {
    let ns = t.ns;
    let RowIo {
        actions: [a0, a1],
        v_old_next,
        v_new_next,
        out: [o0, o1],
    } = io;
    let mut change = 0;
    // The vector path's share of the policy change, per lane (whole numbers: exact in f64).
    let mut vector_change = S::splat(0.0);
    let mut lanes = [[0.0f64; 8]; 4];
    let mut b = 0;
    while b < ns {
        // A row's last states go as the last S::N of the row; the lanes before `b` are done
        // (their actions are already new) and are computed again but not kept.
        let start = if b + S::N <= ns || ns < S::N {
            b
        } else {
            ns - S::N
        };
        let (c0, c1) = (a0[b] & 3, a1[b] & 3);
        let uniform = start + S::N <= ns
            && a0[b..start + S::N].iter().all(|&c| c & 3 == c0)
            && a1[b..start + S::N].iter().all(|&c| c & 3 == c1);
        if !uniform {
            let old = [c0, c1];
            let (v, new) = row.state(b, old, v_old_next, v_new_next);
            [o0[b], o1[b]] = v;
            [a0[b], a1[b]] = new;
            change += k.action_change[pair(old[0], new[0])] + k.action_change[pair(old[1], new[1])];
            b += 1;
            continue;
        }
        let chunk = Chunk {
            k,
            t,
            row,
            b: start,
            old: [c0, c1],
            interior: t.uniform_end[c1 as usize][start] >= start + S::N,
        };
        let v = chunk.evaluate::<S>(v_old_next);
        let new0 = chunk.best_response0::<S>(v_new_next[0]);
        let new1 = chunk.best_response1::<S>(new0, v_new_next[1]);
        // |value(new) − value(old)|, with a control's value (code − 1)·m.
        let one = S::splat(1.0);
        let mut step = S::splat(0.0);
        for (new, old) in [(new0, c0), (new1, c1)] {
            let value = S::mul(S::sub(new, one), S::splat(k.action_value[2]));
            let moved = S::abs(S::sub(value, S::splat(k.action_value[old as usize])));
            step = S::add(step, moved);
        }
        let keep = b - start..S::N;
        if keep.start == 0 {
            S::store_bytes(new0, &mut a0[start..]);
            S::store_bytes(new1, &mut a1[start..]);
            S::store(v[0], &mut o0[start..]);
            S::store(v[1], &mut o1[start..]);
            vector_change = S::add(vector_change, step);
        } else {
            let mut codes = [[0u8; 8]; 2];
            S::store_bytes(new0, &mut codes[0]);
            S::store_bytes(new1, &mut codes[1]);
            a0[b..].copy_from_slice(&codes[0][keep.clone()]);
            a1[b..].copy_from_slice(&codes[1][keep.clone()]);
            S::store(v[0], &mut lanes[2]);
            S::store(v[1], &mut lanes[3]);
            S::store(step, &mut lanes[0]);
            o0[b..].copy_from_slice(&lanes[2][keep.clone()]);
            o1[b..].copy_from_slice(&lanes[3][keep.clone()]);
            change += lanes[0][keep].iter().sum::<f64>() as u64;
        }
        b = start + S::N;
    }
    S::store(vector_change, &mut lanes[0]);
    change + lanes[0][..S::N].iter().sum::<f64>() as u64
}

/// `S::N` states from stake1 node `b` of a row, all with the old codes `old`.
struct Chunk<'a> {
    k: &'a StepKernel<'a>,
    t: &'a ChunkTables,
    row: &'a StepRow<'a>,
    b: usize,
    old: [u8; 2],
    /// Whether every stake1 shift the chunk reads is the same for all its nodes (away from
    /// the row's edges): then a lookup is one shifted load, else one load per node.
    interior: bool,
}

impl Chunk<'_> {
    /// gain_i·dt under codes `c` for the chunk's states.
    #[inline(always)]
    fn gain<S: Simd>(&self, agent: usize, c: [u8; 2]) -> S::V {
        let (b, cu) = (self.b, [c[0] as usize, c[1] as usize]);
        let factor = S::load(&self.t.factors(agent, cu, self.row.s0)[b..]);
        let holding = if agent == 0 {
            S::splat(self.row.s0_holding(cu[0]))
        } else {
            S::load(&self.k.holding1[cu[1]][b..])
        };
        S::sub(S::mul(S::splat(self.row.fee_gain(c)), factor), holding)
    }

    /// Both agents' values under the old codes, from the previous iteration's V(t+1) at the
    /// nearest node.
    #[inline(always)]
    fn evaluate<S: Simd>(&self, v_old_next: [&[f64]; 2]) -> [S::V; 2] {
        let [c0, c1] = self.old;
        let base = self.row.nearest_base(c0, c1);
        let shifts = &self.t.near_shift[c1 as usize];
        [
            S::add(
                self.gain::<S>(0, self.old),
                self.lookup::<S>(v_old_next[0], base, shifts),
            ),
            S::add(
                self.gain::<S>(1, self.old),
                self.lookup::<S>(v_old_next[1], base, shifts),
            ),
        ]
    }

    /// V(t+1) at `base` plus each state's stake1 node moved by its shift in `shifts`.
    #[inline(always)]
    fn lookup<S: Simd>(&self, v: &[f64], base: usize, shifts: &[isize]) -> S::V {
        let b = self.b;
        if self.interior {
            return S::load(&v[(base as isize + b as isize + shifts[b]) as usize..]);
        }
        let mut lanes = [0.0f64; 8];
        for (l, x) in lanes[..S::N].iter_mut().enumerate() {
            *x = v[(base as isize + (b + l) as isize + shifts[b + l]) as usize];
        }
        S::load(&lanes)
    }

    /// Agent `AGENT`'s total under codes `c`: gain·dt plus this iteration's V(t+1) at the
    /// stepped node. A method, not a closure: the compiler left closures here out of line,
    /// and the vector intrinsics in them with them.
    #[inline(always)]
    fn total<S: Simd, const AGENT: usize>(&self, c: [u8; 2], v_next: &[f64]) -> S::V {
        let shifts = &self.t.step_shift[c[1] as usize];
        let next = self.lookup::<S>(v_next, self.row.step_base(c[0], c[1]), shifts);
        S::add(self.gain::<S>(AGENT, c), next)
    }

    /// Agent 0's best control against agent 1's old code (codes as f64 lanes).
    #[inline(always)]
    fn best_response0<S: Simd>(&self, v_next: &[f64]) -> S::V {
        let other = self.old[1];
        let [a, b, c] = CONTROL_CODES;
        argmax::<S>([
            self.total::<S, 0>([a, other], v_next),
            self.total::<S, 0>([b, other], v_next),
            self.total::<S, 0>([c, other], v_next),
        ])
    }

    /// Agent 1's best control against agent 0's new codes `new0`: each of agent 0's codes
    /// present is tried for the whole chunk, and kept in the lanes that hold it.
    #[inline(always)]
    fn best_response1<S: Simd>(&self, new0: S::V, v_next: &[f64]) -> S::V {
        let mut best = S::splat(0.0);
        let [a, b, c] = CONTROL_CODES;
        for other in CONTROL_CODES {
            let code = S::splat(other as f64);
            let here = S::and(S::le(new0, code), S::le(code, new0));
            if !S::any(here) {
                continue;
            }
            let pick = argmax::<S>([
                self.total::<S, 1>([other, a], v_next),
                self.total::<S, 1>([other, b], v_next),
                self.total::<S, 1>([other, c], v_next),
            ]);
            best = S::select(here, pick, best);
        }
        best
    }
}

/// The first of the three controls with the largest total (strictly greater replaces), as a
/// code in f64 lanes.
#[inline(always)]
fn argmax<S: Simd>(totals: [S::V; 3]) -> S::V {
    let (mut best, mut best_total) = (S::splat(CONTROL_CODES[0] as f64), totals[0]);
    let better = S::lt(best_total, totals[1]);
    best = S::select(better, S::splat(CONTROL_CODES[1] as f64), best);
    best_total = S::select(better, totals[1], best_total);
    S::select(
        S::lt(best_total, totals[2]),
        S::splat(CONTROL_CODES[2] as f64),
        best,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Scenario;
    use crate::cpu::isa::Isa;
    use crate::gain::GainTables;

    /// One time step of every row, on vectors (each instruction set this CPU has) and state
    /// by state (`StepRow::state`): the same values in every bit, the same new actions and
    /// the same policy change. The old actions mix runs of equal codes (the vector path)
    /// with odd ones (the state-by-state path), and include the initial code.
    fn check(overrides: &[&str]) {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        let sc = Scenario::from_toml("", "test", &o).expect("scenario");
        let (game, grid) = (sc.game(), sc.grid());
        let (nf, ns, slice) = (grid.fee.len(), grid.stake.len(), grid.slice_len());
        let tr = Transitions::notebook(&game, &grid);
        let gains = GainTables::new(&game, &grid, &tr.fee_post, &tr.stake_post, 1).unwrap();
        let tables = ChunkTables::new(&tr, &gains.stake_factor, ns);
        let k = StepKernel::new(&game, &grid, &tr, &gains, grid.time.len() - 2);
        let mut x = 7u64;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 33
        };
        let v: Vec<Vec<f64>> = (0..4)
            .map(|_| (0..slice).map(|_| (next() % 1000) as f64 * 0.37).collect())
            .collect();
        let codes: Vec<Vec<u8>> = (0..2)
            .map(|_| {
                (0..slice)
                    .map(|i| {
                        if next() % 7 == 0 {
                            (next() % 4) as u8
                        } else {
                            (i / 20 % 3) as u8
                        }
                    })
                    .collect()
            })
            .collect();
        for isa in [Isa::Baseline, Isa::Avx2, Isa::Avx512] {
            if isa > Isa::best() {
                continue;
            }
            for r in 0..nf * ns {
                let row = k.row(r / ns, r % ns);
                let span = r * ns..(r + 1) * ns;
                let (mut a0, mut a1) = (
                    codes[0][span.clone()].to_vec(),
                    codes[1][span.clone()].to_vec(),
                );
                let (mut o0, mut o1) = (vec![0.0; ns], vec![0.0; ns]);
                let io = RowIo {
                    actions: [&mut a0, &mut a1],
                    v_old_next: [&v[0], &v[1]],
                    v_new_next: [&v[2], &v[3]],
                    out: [&mut o0, &mut o1],
                };
                let change = step_row(isa, &k, &tables, &row, io);
                let mut expected = 0;
                for s1 in 0..ns {
                    let old = [codes[0][r * ns + s1] & 3, codes[1][r * ns + s1] & 3];
                    let (values, new) = row.state(s1, old, [&v[0], &v[1]], [&v[2], &v[3]]);
                    let got = ([o0[s1].to_bits(), o1[s1].to_bits()], [a0[s1], a1[s1]]);
                    let want = ([values[0].to_bits(), values[1].to_bits()], new);
                    assert_eq!(got, want, "{overrides:?} {isa:?}: row {r}, stake1 {s1}");
                    expected += k.action_change[pair(old[0], new[0])]
                        + k.action_change[pair(old[1], new[1])];
                }
                assert_eq!(change, expected, "{overrides:?} {isa:?}: row {r}");
            }
        }
    }

    #[test]
    fn vector_rows_equal_the_state_by_state_kernels_in_every_bit() {
        check(&[
            "grid.fee_points=5",
            "grid.stake_points=61",
            "grid.time_points=4",
        ]);
        check(&[
            "grid.fee_points=3",
            "grid.stake_points=37",
            "grid.time_points=9",
            "grid.control=1",
        ]);
        check(&[
            "grid.fee_points=4",
            "grid.stake_points=29",
            "grid.time_points=3",
            "model.fee_rule=\"sum\"",
        ]);
    }
}
