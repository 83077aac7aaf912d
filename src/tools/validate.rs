//! CPU-versus-GPU agreement: the same scenario solved on both backends, compared state by
//! state, with every differing action judged by what it gives up in f64.

use crate::api::{Backend, Output, Run, SaveValues, Silent, SolveOptions, Solver};
use crate::config::{Scenario, Scheme};
use crate::error::Error;
use crate::grid::{pair, Grid, Transitions, ACTION_CODES, CONTROL_CODES, PAIR_CODES};
use crate::model::Game;
use crate::scheme::{MemorySink, Solution};

/// A GPU action within this share of the largest |value| of the best response's total is a
/// tie, not an error: f32 values carry about 1e-7 relative error per step, and the totals of
/// two controls that differ by less cannot be told apart in f32.
pub const TIE_EPSILON: f64 = 1e-5;

/// The largest value difference, relative to the largest |value|, that passes.
pub const VALUE_TOLERANCE: f64 = 1e-4;

/// How far two solutions of one scenario agree.
#[derive(Debug, Clone)]
pub struct Agreement {
    pub states: usize,
    pub identical: usize,
    /// max |v_gpu − v_cpu| / max |v_cpu|.
    pub value_difference: f64,
    /// ε = TIE_EPSILON · max |v_cpu|.
    pub epsilon: f64,
    /// For each differing action: (agent, time, fee, stake0, stake1, f64 loss of the GPU's choice).
    pub differences: Vec<([usize; 5], f64)>,
}

impl Agreement {
    pub fn ties(&self) -> usize {
        self.differences
            .iter()
            .filter(|d| d.1 <= self.epsilon)
            .count()
    }

    pub fn largest_loss(&self) -> f64 {
        self.differences.iter().map(|d| d.1).fold(0.0, f64::max)
    }

    pub fn passes(&self) -> bool {
        self.ties() == self.differences.len() && self.value_difference <= VALUE_TOLERANCE
    }
}

/// The f64 best-response total of each control for `agent` at a state, scored as the
/// notebook's best response does, against `reference`'s other action and values at t+1.
fn totals(
    game: &Game,
    grid: &Grid,
    tr: &Transitions,
    reference: &Solution,
    agent: usize,
    at: [usize; 4],
) -> [f64; 3] {
    let [t, f, s0, s1] = at;
    let other = reference.policy[reference.index(1 - agent, t, f, s0, s1)];
    CONTROL_CODES.map(|own| {
        let c = if agent == 0 {
            [own, other]
        } else {
            [other, own]
        };
        let fe = f * PAIR_CODES + pair(c[0], c[1]);
        let post = [
            tr.stake_post[s0 * ACTION_CODES + c[0] as usize],
            tr.stake_post[s1 * ACTION_CODES + c[1] as usize],
        ];
        let gain = game.running_gain(agent, grid.time.nodes[t], tr.fee_post[fe], post) * grid.dt;
        let (nf, n0, n1) = (
            tr.fee_step[fe] as usize,
            tr.stake_step[s0 * ACTION_CODES + c[0] as usize] as usize,
            tr.stake_step[s1 * ACTION_CODES + c[1] as usize] as usize,
        );
        gain + reference
            .values
            .get(reference.index(agent, t + 1, nf, n0, n1))
    })
}

/// Compares a GPU solution with the CPU reference of the same scenario.
pub fn compare(game: &Game, grid: &Grid, cpu: &Solution, gpu: &Solution) -> Agreement {
    let tr = Transitions::notebook(game, grid);
    let n = cpu.values.len();
    let largest = (0..n)
        .map(|i| cpu.values.get(i).abs())
        .fold(0.0, f64::max)
        .max(1e-300);
    let value_difference = (0..n)
        .map(|i| (cpu.values.get(i) - gpu.values.get(i)).abs())
        .fold(0.0, f64::max)
        / largest;
    let [_, nt, nf, ns, _] = cpu.shape;
    let mut differences = Vec::new();
    let mut identical = 0;
    for agent in 0..2 {
        for t in 0..nt {
            for f in 0..nf {
                for s0 in 0..ns {
                    for s1 in 0..ns {
                        let i = cpu.index(agent, t, f, s0, s1);
                        if cpu.policy[i] == gpu.policy[i] {
                            identical += 1;
                            continue;
                        }
                        let loss = if t + 1 < nt {
                            let tot = totals(game, grid, &tr, cpu, agent, [t, f, s0, s1]);
                            let best = tot.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                            let chosen = CONTROL_CODES.iter().position(|&c| c == gpu.policy[i]);
                            chosen.map_or(f64::INFINITY, |k| best - tot[k])
                        } else {
                            // The last slice is never improved: any difference is an error.
                            f64::INFINITY
                        };
                        differences.push(([agent, t, f, s0, s1], loss));
                    }
                }
            }
        }
    }
    Agreement {
        states: n,
        identical,
        value_difference,
        epsilon: TIE_EPSILON * largest,
        differences,
    }
}

/// How a GPU `equilibrium` sweep compares with the CPU's.
#[derive(Debug, Clone)]
pub struct EquilibriumAgreement {
    pub states: usize,
    /// Action entries equal to the CPU's.
    pub identical: usize,
    /// max |v_gpu − v_cpu| / max |v_cpu| over all slices (information: where a tie is broken
    /// the other way the selected equilibrium, and so the values, may move, docs/model.md).
    pub value_difference: f64,
    /// States where the GPU's pair is not a valid selection in f64 on the GPU's own V(t+1)
    /// (more than ε from the rule): the GPU's kernel errors.
    pub invalid: Vec<([usize; 4], f64)>,
    /// The largest relative error of a GPU value against the f64 payoff of its selected pair.
    pub value_error: f64,
    /// The largest amount by which a GPU selection misses the rule (≤ ε passes).
    pub largest_miss: f64,
    /// The first time step of the backward sweep (the largest t) where the GPU's actions
    /// differ from the CPU's: from there the two sweeps may follow different equilibria.
    pub first_parting: Option<usize>,
}

impl EquilibriumAgreement {
    pub fn passes(&self) -> bool {
        self.invalid.is_empty() && self.value_error <= VALUE_TOLERANCE
    }
}

/// Checks a GPU `equilibrium` sweep state by state. Each state's payoffs are recomputed in f64
/// from the GPU's own V(t+1); the GPU's pair must be a finalist of the selection rule for some
/// tie tolerance between half and twice the GPU's (f32 rounding moves pairs across the
/// threshold), and its values must equal that pair's payoffs to VALUE_TOLERANCE.
/// Agreement with the CPU's actions and values is reported alongside: once a tie is broken
/// differently, the two sweeps may follow different (equally valid) equilibria.
pub fn compare_equilibrium(
    game: &Game,
    grid: &Grid,
    mode: crate::grid::Interpolation,
    cpu: &MemorySink,
    gpu: &MemorySink,
    tolerance: f64,
) -> Result<EquilibriumAgreement, Error> {
    use crate::cpu::equilibrium::{payoffs, Kernel};
    use crate::gain::{GainTables, StepGains};
    let tr = crate::grid::ClampedTransitions::new(game, grid, mode);
    let threads = crate::team::default_threads();
    let gains = GainTables::new(game, grid, &tr.fee_post, &tr.stake_post, threads)?;
    let n = cpu.values.len();
    let largest = cpu
        .values
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(1e-300);
    let value_difference = cpu
        .values
        .iter()
        .zip(&gpu.values)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
        / largest;
    let identical = cpu
        .policy
        .iter()
        .zip(&gpu.policy)
        .filter(|(a, b)| a == b)
        .count();
    let (nt, ns, slice) = (grid.time.len(), grid.stake.len(), grid.slice_len());
    let (mut invalid, mut value_error, mut largest_miss) = (Vec::new(), 0.0f64, 0.0f64);
    for t in 0..nt - 1 {
        let k = Kernel {
            ns,
            tr: &tr,
            gains: &gains,
            step: StepGains::new(game, grid, &gains, &tr.stake_post, t),
        };
        let next =
            [0, 1].map(|a| &gpu.values[gpu.index(a, t + 1, 0)..gpu.index(a, t + 1, 0) + slice]);
        for state in 0..slice {
            let (fee, s0, s1) = (state / (ns * ns), (state / ns) % ns, state % ns);
            let u = payoffs(&k, fee, s0, s1, next);
            let chosen = [0, 1].map(|a| gpu.policy[gpu.index(a, t, state)] as usize);
            // A code that is not a control is an error of the kernel, never an index.
            let Some(pair) = (chosen[0] < 3 && chosen[1] < 3).then(|| chosen[0] * 3 + chosen[1])
            else {
                invalid.push(([t, fee, s0, s1], f64::INFINITY));
                continue;
            };
            let (miss, scale) = selection_miss(&u, pair, tolerance);
            largest_miss = largest_miss.max(miss / scale);
            if miss > 0.0 || miss.is_nan() {
                invalid.push(([t, fee, s0, s1], miss));
            }
            for (agent, payoff) in u.iter().enumerate() {
                let v = gpu.values[gpu.index(agent, t, state)];
                value_error = value_error.max((v - payoff[pair]).abs() / scale);
            }
        }
    }
    let first_parting = (0..nt - 1).rev().find(|&t| {
        (0..2).any(|a| {
            let at = cpu.index(a, t, 0);
            cpu.policy[at..at + slice] != gpu.policy[at..at + slice]
        })
    });
    Ok(EquilibriumAgreement {
        states: n,
        identical,
        value_difference,
        invalid,
        value_error,
        largest_miss,
        first_parting,
    })
}

/// How far pair `g` is from being a finalist of the selection rule on payoffs `u`, and the
/// state's scale max(1, largest |U|). Rounding moves pairs across the GPU's threshold
/// (`tolerance`, relative) either way: the pick is valid (miss 0) if it is a finalist for some
/// tolerance between half and twice the GPU's.
fn selection_miss(u: &[[f64; 9]; 2], g: usize, tolerance: f64) -> (f64, f64) {
    use crate::cpu::equilibrium::{exploitability, PAIRS};
    let e = exploitability(u);
    let scale = u.iter().flatten().fold(1.0f64, |m, x| m.max(x.abs()));
    let e_min = e.iter().copied().fold(f64::INFINITY, f64::min);
    let sum = |p: usize| u[0][p] + u[1][p];
    let miss_at = |tau: f64| {
        let best_sum = (0..PAIRS)
            .filter(|&p| e[p] <= e_min + tau)
            .map(sum)
            .fold(f64::NEG_INFINITY, f64::max);
        (e[g] - e_min - tau).max(best_sum - tau - sum(g)).max(0.0)
    };
    let miss = [0.5, 1.0, 1.5, 2.0]
        .map(|m| miss_at(m * tolerance * scale))
        .into_iter()
        .fold(f64::INFINITY, f64::min);
    (miss, scale)
}

/// A GPU notebook solve judged step by step: every GPU choice of every iteration against the
/// f64 best response computed from the GPU's own inputs (the other agent's GPU action and the
/// GPU's values at t + 1), and every GPU value against the f64 evaluation of the GPU's own
/// previous actions and values. f32 drift between the two complete runs is not an error here;
/// a GPU action that gives up more than ε against its own inputs is.
#[derive(Debug, Clone, Default)]
pub struct StepCheck {
    pub iterations: usize,
    /// Agent decisions checked (2 per state and time step per iteration).
    pub decisions: usize,
    /// Decisions where the GPU's choice is not the f64 argmax on its own inputs but within ε.
    pub ties: usize,
    /// Decisions that give up more than ε: (iteration, [agent, t, fee, stake0, stake1], loss).
    pub errors: Vec<(usize, [usize; 5], f64)>,
    pub largest_loss: f64,
    /// ε = TIE_EPSILON · max |v| (the GPU's values).
    pub epsilon: f64,
    /// max |v_gpu − f64 evaluation of the GPU's inputs| / max |v|.
    pub value_error: f64,
    /// The first iteration with a GPU choice other than the f64 argmax (a tie broken the
    /// other way, or an error): from there the GPU's run may part from the CPU's.
    pub first_parting: Option<usize>,
}

impl StepCheck {
    pub fn passes(&self) -> bool {
        self.errors.is_empty() && self.value_error <= VALUE_TOLERANCE
    }
}

/// The f64 tables a step check reads: the notebook's transitions and the CPU's gain tables.
struct CheckTables {
    ns: usize,
    tr: Transitions,
    gains: crate::gain::GainTables,
    steps: Vec<crate::gain::StepGains>,
}

impl CheckTables {
    fn new(game: &Game, grid: &Grid) -> Result<Self, Error> {
        let tr = Transitions::notebook(game, grid);
        let threads = crate::team::default_threads();
        let gains =
            crate::gain::GainTables::new(game, grid, &tr.fee_post, &tr.stake_post, threads)?;
        let steps = (0..grid.time.len() - 1)
            .map(|t| crate::gain::StepGains::new(game, grid, &gains, &tr.stake_post, t))
            .collect();
        Ok(CheckTables {
            ns: grid.stake.len(),
            tr,
            gains,
            steps,
        })
    }

    /// gain_i·dt + V at the node `nodes` picks, for codes `c` at state (fee, s0, s1), time t.
    fn total(&self, t: usize, agent: usize, at: [usize; 3], c: [u8; 2], next: f64) -> f64 {
        let [fee, s0, s1] = at;
        self.steps[t].gain_dt(&self.gains, agent, self.ns, fee, [s0, s1], c) + next
    }

    /// The flat index in a slice of the node reached from (fee, s0, s1) under `c`, through
    /// the nearest-node (evaluation) or stepped-node (best response) tables.
    fn next(&self, at: [usize; 3], c: [u8; 2], nearest: bool) -> usize {
        let [fee, s0, s1] = at;
        let tr = &self.tr;
        let (f, s) = if nearest {
            (&tr.fee_nearest, &tr.stake_nearest)
        } else {
            (&tr.fee_step, &tr.stake_step)
        };
        let ns = self.ns;
        let fe = fee * PAIR_CODES + pair(c[0], c[1]);
        (f[fe] as usize * ns + s[s0 * ACTION_CODES + c[0] as usize] as usize) * ns
            + s[s1 * ACTION_CODES + c[1] as usize] as usize
    }
}

/// Judges GPU iteration `iteration` (`cur`) against f64 from its inputs: the previous
/// iteration's actions and values (`prev`), and its own values at t + 1.
fn check_iteration(
    k: &CheckTables,
    prev: &Solution,
    cur: &Solution,
    iteration: usize,
    acc: &mut StepCheck,
) {
    let [_, nt, nf, ns, _] = cur.shape;
    let largest = (0..cur.values.len())
        .map(|i| cur.values.get(i).abs())
        .fold(1e-300, f64::max);
    acc.epsilon = acc.epsilon.max(TIE_EPSILON * largest);
    for t in 0..nt - 1 {
        for (fee, s0, s1) in
            (0..nf).flat_map(|f| (0..ns).flat_map(move |a| (0..ns).map(move |b| (f, a, b))))
        {
            let at = [fee, s0, s1];
            let old = [0, 1].map(|a| prev.policy[prev.index(a, t, fee, s0, s1)]);
            let new = [0, 1].map(|a| cur.policy[cur.index(a, t, fee, s0, s1)]);
            // The evaluation of the previous actions on the previous values.
            let next = k.next(at, old, true);
            for agent in 0..2 {
                let v_old = prev.values.get(prev.index(agent, t + 1, 0, 0, 0) + next);
                let expected = k.total(t, agent, at, old, v_old);
                let v = cur.values.get(cur.index(agent, t, fee, s0, s1));
                acc.value_error = acc.value_error.max((v - expected).abs() / largest);
            }
            // Agent 0 answers agent 1's previous action, agent 1 answers agent 0's new one.
            for (agent, other) in [(0, old[1]), (1, new[0])] {
                let totals = CONTROL_CODES.map(|own| {
                    let c = if agent == 0 {
                        [own, other]
                    } else {
                        [other, own]
                    };
                    let at_next = cur.index(agent, t + 1, 0, 0, 0) + k.next(at, c, false);
                    k.total(t, agent, at, c, cur.values.get(at_next))
                });
                let mut best = 0;
                for i in 1..3 {
                    if totals[i] > totals[best] {
                        best = i;
                    }
                }
                acc.decisions += 1;
                let chosen = CONTROL_CODES.iter().position(|&c| c == new[agent]);
                let loss = chosen.map_or(f64::INFINITY, |i| totals[best] - totals[i]);
                if chosen == Some(best) {
                    continue;
                }
                acc.first_parting.get_or_insert(iteration);
                acc.largest_loss = acc.largest_loss.max(loss);
                if loss <= TIE_EPSILON * largest {
                    acc.ties += 1;
                } else {
                    acc.errors.push((iteration, [agent, t, fee, s0, s1], loss));
                }
            }
        }
    }
}

/// Solves `scenario` on `gpu`, judging every iteration as it comes (see [`StepCheck`]).
pub fn check_notebook_steps(
    scenario: &Scenario,
    gpu: &crate::gpu::notebook::NotebookGpu,
) -> Result<(Solution, StepCheck), Error> {
    let (game, grid) = (scenario.game(), scenario.grid());
    let k = CheckTables::new(&game, &grid)?;
    let n = 2 * grid.time.len() * grid.slice_len();
    let [nt, nf, ns] = [grid.time.len(), grid.fee.len(), grid.stake.len()];
    // Iteration 0: the notebook's initial actions and zero values.
    let mut prev = Solution {
        shape: [2, nt, nf, ns, ns],
        values: crate::scheme::Values::F64(vec![0.0; n]),
        policy: vec![crate::grid::INITIAL_ACTION; n],
        policy_change: Vec::new(),
        converged: false,
        solve_seconds: 0.0,
    };
    let mut acc = StepCheck::default();
    let mut record = |cur: &Solution| -> Result<(), Error> {
        acc.iterations += 1;
        check_iteration(&k, &prev, cur, acc.iterations, &mut acc);
        prev = cur.clone();
        Ok(())
    };
    let (cancel, mut silent) = (crate::scheme::Cancel::new(), Silent);
    let solution = gpu.solve_recorded(
        &game,
        &grid,
        &scenario.solver,
        &cancel,
        &mut silent,
        Some(&mut record),
    )?;
    Ok((solution, acc))
}

/// What `mmgame validate` found: both runs and how far they agree.
pub enum Report {
    Notebook {
        cpu: Box<Run>,
        gpu: Box<Run>,
        /// The GPU judged step by step against f64 from its own inputs (pass or fail).
        steps: StepCheck,
        /// The two complete runs compared (information: drift).
        drift: Agreement,
    },
    Equilibrium {
        cpu: Box<Run>,
        gpu: Box<Run>,
        agreement: EquilibriumAgreement,
    },
}

impl Report {
    pub fn passes(&self) -> bool {
        match self {
            Report::Notebook { steps, .. } => steps.passes(),
            Report::Equilibrium { agreement, .. } => agreement.passes(),
        }
    }

    /// The error a failed validation exits with (`None` when it passes), naming the first
    /// states at fault.
    pub fn failure(&self) -> Option<Error> {
        if self.passes() {
            return None;
        }
        Some(Error::Disagreement(match self {
            Report::Notebook { steps, .. } => {
                let first = steps.errors.iter().take(3).map(|(k, [a, t, f, s0, s1], loss)| {
                    format!("iteration {k} agent {a} t {t} fee {f} stake0 {s0} stake1 {s1} gives up {loss:.3e}")
                });
                format!(
                    "validate: {} GPU choices give up more than ε against their own inputs ({}), value error {:.3e}",
                    steps.errors.len(),
                    first.collect::<Vec<_>>().join("; "),
                    steps.value_error
                )
            }
            Report::Equilibrium { agreement: a, .. } => {
                let first = a.invalid.iter().take(3).map(|([t, f, s0, s1], miss)| {
                    format!("t {t} fee {f} stake0 {s0} stake1 {s1} misses by {miss:.3e}")
                });
                format!(
                    "validate: {} GPU selections break the equilibrium rule in f64 ({}), value error {:.3e}",
                    a.invalid.len(),
                    first.collect::<Vec<_>>().join("; "),
                    a.value_error
                )
            }
        }))
    }
}

/// Solves `scenario` on the CPU and on the GPU (`adapter`, `precision`), judges the GPU step
/// by step against f64 from its own inputs, and compares the two runs.
pub fn validate(
    solver: &Solver,
    scenario: &Scenario,
    adapter: Option<&str>,
    precision: crate::scheme::Precision,
) -> Result<Report, Error> {
    let options = |backend, precision| SolveOptions {
        backend,
        adapter: adapter.map(str::to_string),
        precision,
        // The equilibrium check reads every value slice.
        save_values: SaveValues::All,
        output: Output::Memory,
        ..Default::default()
    };
    // The checks first (oversized grids, overflowing payoffs, no adapter), before any solve.
    let gpu_options = options(Backend::Gpu, Some(precision));
    solver.check(scenario, &gpu_options)?;
    let cpu = solver.solve(scenario, &options(Backend::Cpu, None), &mut Silent)?;
    match scenario.solver.scheme {
        Scheme::Notebook => {
            let gpu_solver = solver.gpu(adapter)?.notebook(precision)?;
            let gpu = solver.solve(scenario, &gpu_options, &mut Silent)?;
            let (_, steps) = check_notebook_steps(scenario, &gpu_solver)?;
            let missing = || Error::Internal("a memory run without its arrays".into());
            let (c, g) = (
                cpu.notebook().ok_or_else(missing)?,
                gpu.notebook().ok_or_else(missing)?,
            );
            let drift = compare(&scenario.game(), &scenario.grid(), c, g);
            Ok(Report::Notebook {
                cpu: Box::new(cpu),
                gpu: Box::new(gpu),
                steps,
                drift,
            })
        }
        Scheme::Equilibrium => {
            let gpu = solver.solve(scenario, &gpu_options, &mut Silent)?;
            let (game, grid) = (scenario.game(), scenario.grid());
            let missing = || Error::Internal("a memory run without its arrays".into());
            let c = cpu.equilibrium().and_then(|e| e.memory.as_ref());
            let g = gpu.equilibrium().and_then(|e| e.memory.as_ref());
            let (c, g) = (c.ok_or_else(missing)?, g.ok_or_else(missing)?);
            let mode = scenario.solver.interpolation;
            let tolerance = gpu.backend.precision.tie_tolerance();
            let agreement = compare_equilibrium(&game, &grid, mode, c, g, tolerance)?;
            Ok(Report::Equilibrium {
                cpu: Box::new(cpu),
                gpu: Box::new(gpu),
                agreement,
            })
        }
    }
}
