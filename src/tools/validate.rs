//! CPU-versus-GPU agreement: the same scenario solved on both backends, compared state by
//! state, with every differing action judged by what it gives up in f64.

use crate::api::{Backend, Output, Run, SaveValues, Silent, SolveOptions, Solver};
use crate::config::{Scenario, Scheme};
use crate::error::Error;
use crate::gpu::equilibrium::GPU_TIE_TOLERANCE;
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
    /// the other way the selected equilibrium, and so the values, may move, MODEL.md).
    pub value_difference: f64,
    /// States where the GPU's pair is not a valid selection in f64 on the GPU's own V(t+1)
    /// (more than ε from the rule): the GPU's kernel errors.
    pub invalid: Vec<([usize; 4], f64)>,
    /// The largest relative error of a GPU value against the f64 payoff of its selected pair.
    pub value_error: f64,
    /// The largest amount by which a GPU selection misses the rule (≤ ε passes).
    pub largest_miss: f64,
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
) -> Result<EquilibriumAgreement, Error> {
    use crate::cpu::equilibrium::{payoffs, Kernel};
    use crate::cpu::gain::{GainTables, StepGains};
    let tr = crate::grid::ClampedTransitions::new(game, grid, mode);
    let threads = crate::cpu::team::default_threads();
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
            let (miss, scale) = selection_miss(&u, pair);
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
    Ok(EquilibriumAgreement {
        states: n,
        identical,
        value_difference,
        invalid,
        value_error,
        largest_miss,
    })
}

/// How far pair `g` is from being a finalist of the selection rule on payoffs `u`, and the
/// state's scale max(1, largest |U|). f32 rounding moves pairs across the GPU's threshold either
/// way: the pick is valid (miss 0) if it is a finalist for some tolerance between half and
/// twice the GPU's.
fn selection_miss(u: &[[f64; 9]; 2], g: usize) -> (f64, f64) {
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
        .map(|m| miss_at(m * GPU_TIE_TOLERANCE * scale))
        .into_iter()
        .fold(f64::INFINITY, f64::min);
    (miss, scale)
}

/// What `mmgame validate` found: both runs and how far they agree.
pub enum Report {
    Notebook {
        cpu: Box<Run>,
        gpu: Box<Run>,
        agreement: Agreement,
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
            Report::Notebook { agreement, .. } => agreement.passes(),
            Report::Equilibrium { agreement, .. } => agreement.passes(),
        }
    }

    /// The error a failed validation exits with (`None` when it passes).
    pub fn failure(&self) -> Option<Error> {
        if self.passes() {
            return None;
        }
        Some(Error::Disagreement(match self {
            Report::Notebook { agreement: a, .. } => format!(
                "validate: the GPU disagrees with the CPU beyond tolerance ({} non-tie actions, value difference {:.3e})",
                a.differences.len() - a.ties(),
                a.value_difference
            ),
            Report::Equilibrium { agreement: a, .. } => format!(
                "validate: {} GPU selections break the equilibrium rule in f64, value error {:.3e}",
                a.invalid.len(),
                a.value_error
            ),
        }))
    }
}

/// Solves `scenario` on the CPU and on the GPU (`adapter`) and compares them state by state.
pub fn validate(
    solver: &Solver,
    scenario: &Scenario,
    adapter: Option<&str>,
) -> Result<Report, Error> {
    let options = |backend| SolveOptions {
        backend,
        adapter: adapter.map(str::to_string),
        // The equilibrium check reads every value slice.
        save_values: SaveValues::All,
        output: Output::Memory,
        ..Default::default()
    };
    // The GPU first: without an adapter there is nothing to compare, so fail before the CPU
    // solve.
    let gpu = solver.solve(scenario, &options(Backend::Gpu), &mut Silent)?;
    let cpu = solver.solve(scenario, &options(Backend::Cpu), &mut Silent)?;
    let (game, grid) = (scenario.game(), scenario.grid());
    let missing = || Error::Internal("a memory run without its arrays".into());
    Ok(match scenario.solver.scheme {
        Scheme::Notebook => {
            let (c, g) = (
                cpu.notebook().ok_or_else(missing)?,
                gpu.notebook().ok_or_else(missing)?,
            );
            let agreement = compare(&game, &grid, c, g);
            Report::Notebook {
                cpu: Box::new(cpu),
                gpu: Box::new(gpu),
                agreement,
            }
        }
        Scheme::Equilibrium => {
            let c = cpu.equilibrium().and_then(|e| e.memory.as_ref());
            let g = gpu.equilibrium().and_then(|e| e.memory.as_ref());
            let (c, g) = (c.ok_or_else(missing)?, g.ok_or_else(missing)?);
            let mode = scenario.solver.interpolation;
            let agreement = compare_equilibrium(&game, &grid, mode, c, g)?;
            Report::Equilibrium {
                cpu: Box::new(cpu),
                gpu: Box::new(gpu),
                agreement,
            }
        }
    })
}
