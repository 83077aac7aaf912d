//! CPU-versus-GPU agreement: the same scenario solved on both backends, compared state by
//! state, with every differing action judged by what it gives up in f64.

use crate::app::{solve_cpu, solve_gpu};
use crate::config::Scenario;
use crate::error::Error;
use crate::grid::{pair, Grid, Transitions, ACTION_CODES, CONTROL_CODES, PAIR_CODES};
use crate::model::Game;
use crate::solution::Solution;

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

/// `mmgame validate`: solves on both backends and prints the agreement report.
pub fn run(scenario: &Scenario, adapter: Option<&str>) -> Result<(), Error> {
    let (cpu, cpu_info) = solve_cpu(scenario, true)?;
    let (gpu, gpu_info) = solve_gpu(scenario, adapter, true)?;
    let (game, grid) = (scenario.game(), scenario.grid());
    let a = compare(&game, &grid, &cpu, &gpu);
    let g = &scenario.grid;
    println!(
        "validate: {} scheme, grid {} fee × {}² stake × {} time points",
        scenario.solver.scheme.name(),
        g.fee_points,
        g.stake_points,
        g.time_points
    );
    println!(
        "  cpu ({}, {}): {} iterations, {:.3} s, {:.3e} cell updates/s",
        cpu_info.device,
        cpu_info.precision,
        cpu.iterations(),
        cpu.solve_seconds,
        cpu.cell_updates_per_second()
    );
    println!(
        "  gpu ({}, {}, {}): {} iterations, {:.3} s, {:.3e} cell updates/s",
        gpu_info.device,
        gpu_info.device_type,
        gpu_info.precision,
        gpu.iterations(),
        gpu.solve_seconds,
        gpu.cell_updates_per_second()
    );
    println!(
        "  policy change: cpu {:?}\n                 gpu {:?}",
        cpu.policy_change, gpu.policy_change
    );
    println!(
        "  identical actions: {} of {} ({:.4}%)",
        a.identical,
        a.states,
        100.0 * a.identical as f64 / a.states as f64
    );
    println!(
        "  largest value difference: {:.3e} of the largest value (tolerance {VALUE_TOLERANCE:e})",
        a.value_difference
    );
    println!(
        "  differing actions: {} ({} ties within ε = {TIE_EPSILON:e}·max|v| = {:.3e}; largest f64 gain given up {:.3e})",
        a.differences.len(),
        a.ties(),
        a.epsilon,
        a.largest_loss()
    );
    for (at, loss) in a.differences.iter().take(20) {
        println!(
            "    agent {} t {} fee {} stake0 {} stake1 {}: gives up {loss:.3e}{}",
            at[0],
            at[1],
            at[2],
            at[3],
            at[4],
            if *loss <= a.epsilon { " (tie)" } else { "" }
        );
    }
    if a.differences.len() > 20 {
        println!("    … {} more", a.differences.len() - 20);
    }
    if a.passes() {
        println!("PASS");
        Ok(())
    } else {
        Err(Error::Disagreement(format!(
            "validate: the GPU disagrees with the CPU beyond tolerance ({} non-tie actions, value difference {:.3e})",
            a.differences.len() - a.ties(),
            a.value_difference
        )))
    }
}
