//! The `equilibrium` scheme: a hand-checked tiny game, exact properties of the selection,
//! the fee rule, independence of the thread count and of the GPU's dispatch shape, and CPU
//! vs GPU agreement by validate's rule.

mod common;

use common::{gpu, scenario};
use mmgame::api::{Cancel, Silent};
use mmgame::config::Scenario;
use mmgame::cpu::equilibrium::{self, select, PAIRS};
use mmgame::gpu::equilibrium::EquilibriumGpu;
use mmgame::grid::{pair, ClampedTransitions, Interpolation};
use mmgame::scheme::{EquilibriumSolution, MemorySink, Precision};
use mmgame::team::default_threads;
use mmgame::tools::validate;

fn solve_cpu_on(s: &Scenario, threads: usize) -> (EquilibriumSolution, MemorySink) {
    let grid = s.grid();
    let mut sink = MemorySink::new(&grid);
    let sol = equilibrium::solve(
        &s.game(),
        &grid,
        s.solver.interpolation,
        threads,
        &mut sink,
        &Cancel::new(),
        &mut Silent,
    )
    .unwrap();
    (sol, sink)
}

fn solve_cpu(s: &Scenario) -> (EquilibriumSolution, MemorySink) {
    solve_cpu_on(s, default_threads())
}

fn solve_gpu(solver: EquilibriumGpu, s: &Scenario) -> (EquilibriumSolution, MemorySink) {
    let grid = s.grid();
    let mut sink = MemorySink::new(&grid);
    let sol = solver
        .solve(
            &s.game(),
            &grid,
            s.solver.interpolation,
            &mut sink,
            &Cancel::new(),
            &mut Silent,
        )
        .unwrap();
    (sol, sink)
}

/// The GPU comparisons' scenarios, with their overrides for messages: odd sizes, both
/// interpolations, both fee rules.
fn gpu_scenarios(default: &[&'static str]) -> Vec<(Vec<&'static str>, Scenario)> {
    let odd = [
        (default.to_vec(), "linear"),
        (
            vec![
                "grid.fee_points=11",
                "grid.stake_points=23",
                "grid.time_points=6",
            ],
            "nearest",
        ),
        (
            vec![
                "grid.fee_points=7",
                "grid.stake_points=19",
                "grid.time_points=5",
                "model.fee_rule=sum",
            ],
            "linear",
        ),
    ];
    odd.into_iter()
        .map(|(mut o, interpolation)| {
            o.push("solver.scheme=equilibrium");
            o.push(match interpolation {
                "nearest" => "solver.interpolation=nearest",
                _ => "solver.interpolation=linear",
            });
            let s = scenario("default", &o);
            (o, s)
        })
        .collect()
}

/// 2 fee × 2 stake × 2 stake states, 2 time points (dt = 1), nobody expects any volume: the
/// gain is −(λσ_i + e^(ρ_i·0))·S_i'·dt, so each agent wants as little stake as it can get.
/// Worked out by hand:
/// - stake nodes are 0 and 120; with m = 3 a move of −m takes 120 to 117 and 0 to 0 (clamped);
/// - at stake 120, −m is strictly best (payoff −1.01·117 against −1.01·120 or −1.01·123→120);
/// - at stake 0, −m and 0 both land on 0: the agent is indifferent, so a state where k agents
///   sit at 0 has 2^k pure equilibria, all with the same payoffs; the first in order, (−m, −m),
///   is selected.
#[test]
fn hand_checked_tiny_game() {
    let s = scenario(
        "default",
        &[
            "grid.fee_points=2",
            "grid.stake_points=2",
            "grid.time_points=2",
            "agents.0.max_volume=0",
            "agents.1.max_volume=0",
        ],
    );
    let grid = s.grid();
    assert_eq!(grid.dt, 1.0);
    let (sol, sink) = solve_cpu(&s);
    let cost = 0.1 * 0.1 + 1.0; // λσ_i + e^0
    for fee in 0..2 {
        for s0 in 0..2 {
            for s1 in 0..2 {
                let state = grid.state_index(fee, s0, s1);
                for agent in 0..2 {
                    assert_eq!(sink.policy[sink.index(agent, 0, state)], 0, "−m everywhere");
                    let own = [s0, s1][agent];
                    let expected = if own == 1 { -cost * 117.0 } else { 0.0 };
                    let v = sink.values[sink.index(agent, 0, state)];
                    assert!(
                        (v - expected).abs() < 1e-12,
                        "agent {agent} at {state}: {v} vs {expected}"
                    );
                    // No action at the horizon.
                    assert_eq!(sink.policy[sink.index(agent, 1, state)], 1);
                }
            }
        }
    }
    let d = &sol.diagnostics[0];
    // Per fee node: (0,0) has 4 equilibria, (0,120) and (120,0) two, (120,120) one.
    assert_eq!(d.several_equilibria, 2 * 3);
    assert_eq!(d.no_pure_equilibrium, 0);
    assert_eq!(d.max_exploitability, 0.0);
}

#[test]
fn a_selected_pure_equilibrium_has_exploitability_exactly_zero() {
    // Random stage games: whenever a pure equilibrium exists, the selection reports e = 0.
    let mut seed = 0x2545f4914f6cdd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64 * 2000.0 - 1000.0
    };
    let mut with_equilibrium = 0;
    for _ in 0..2000 {
        let u: [[f64; PAIRS]; 2] = std::array::from_fn(|_| std::array::from_fn(|_| next()));
        let cell = select(&u, 1e-9);
        let e = equilibrium::exploitability(&u);
        if e.iter().any(|&x| x <= 1e-9 * 1000.0) {
            with_equilibrium += 1;
            assert_eq!(cell.exploitability, 0.0);
            let chosen = cell.actions[0] as usize * 3 + cell.actions[1] as usize;
            assert_eq!(
                e[chosen], 0.0,
                "a pure equilibrium's deviation gains are exactly 0"
            );
        } else {
            assert!(cell.exploitability > 0.0);
            assert_eq!(cell.equilibria, 0);
        }
    }
    assert!(with_equilibrium > 100);
    // On the default scenario every state has a pure equilibrium.
    let (sol, _) = solve_cpu(&scenario("default", &["solver.scheme=equilibrium"]));
    for d in &sol.diagnostics {
        assert_eq!((d.no_pure_equilibrium, d.max_exploitability), (0, 0.0));
    }
}

#[test]
fn sum_rule_moves_the_fee_when_only_one_agent_moves() {
    let agree = scenario("default", &[]);
    let sum = scenario("default", &["model.fee_rule=sum"]);
    let fee_node = 7; // 0.5
    let f = agree.grid().fee.nodes[fee_node];
    let at = |s: &Scenario, c0: u8, c1: u8| {
        ClampedTransitions::new(&s.game(), &s.grid(), Interpolation::Linear).fee_post
            [fee_node * 16 + pair(c0, c1)]
    };
    // Agent 0 raises its stake (+m = code 2), agent 1 holds (code 1).
    assert_eq!(at(&agree, 2, 1), f);
    assert_eq!(at(&sum, 2, 1), f - 0.1 * 3.0 * 0.25);
    assert_eq!(at(&sum, 1, 0), f + 0.1 * 3.0 * 0.25);
    assert_eq!(at(&sum, 2, 0), f);
    // And the solved game differs.
    let (a, _) = solve_cpu(&scenario("default", &["solver.scheme=equilibrium"]));
    let (b, _) = solve_cpu(&scenario(
        "default",
        &["solver.scheme=equilibrium", "model.fee_rule=sum"],
    ));
    assert_ne!(a.values_t0, b.values_t0);
}

#[test]
fn cpu_results_do_not_depend_on_the_thread_count() {
    let s = scenario(
        "default",
        &[
            "solver.scheme=equilibrium",
            "grid.fee_points=9",
            "grid.stake_points=61",
            "grid.time_points=4",
        ],
    );
    let run = |threads| solve_cpu_on(&s, threads);
    let ((a, sa), (b, sb)) = (run(1), run(2));
    assert_eq!(a.values_t0, b.values_t0);
    assert_eq!(sa.policy, sb.policy);
    assert_eq!(a.diagnostics, b.diagnostics);
}

#[test]
fn gpu_agrees_with_the_cpu_by_validates_rule() {
    let Some(ctx) = gpu() else { return };
    for (o, s) in gpu_scenarios(&[]) {
        let (game, grid) = (s.game(), s.grid());
        let (_, cpu) = solve_cpu(&s);
        let (_, gpu) = solve_gpu(EquilibriumGpu::new(&ctx, Precision::F32).unwrap(), &s);
        let a = validate::compare_equilibrium(
            &game,
            &grid,
            s.solver.interpolation,
            &cpu,
            &gpu,
            Precision::F32.tie_tolerance(),
        )
        .unwrap();
        assert!(
            a.passes(),
            "{o:?}: {} invalid selections, value error {:e}",
            a.invalid.len(),
            a.value_error
        );
        assert!(
            a.identical as f64 >= 0.99 * a.states as f64,
            "{o:?}: {} of {}",
            a.identical,
            a.states
        );
    }
}

/// The stencil kernel (`equilibrium_lines`, then `equilibrium_step` on the lines) does the
/// per-state kernel's operations in the same order: the same actions, diagnostics and values,
/// bit for bit, in both precisions, on odd grids with both interpolations and both fee rules.
#[test]
fn gpu_stencil_and_per_state_kernels_agree_bit_for_bit() {
    use mmgame::scheme::GpuKernel;
    let Some(ctx) = gpu() else { return };
    for (o, s) in gpu_scenarios(&["grid.stake_points=31"]) {
        for precision in [Precision::F32, Precision::F64] {
            if ctx.check_precision(precision).is_err() {
                continue;
            }
            let (a, sa) = solve_gpu(EquilibriumGpu::new(&ctx, precision).unwrap(), &s);
            let (b, sb) = solve_gpu(EquilibriumGpu::per_state(&ctx, precision).unwrap(), &s);
            let kernel = |x: &EquilibriumSolution| x.gpu_time_split.map(|t| t.kernel);
            assert_eq!(
                (kernel(&a), kernel(&b)),
                (Some(GpuKernel::Stencil), Some(GpuKernel::PerState))
            );
            // The first difference, not the whole arrays, in the message.
            let at = |x: &[f64], y: &[f64]| {
                (x.len() != y.len())
                    .then_some(usize::MAX)
                    .or_else(|| (0..x.len()).find(|&i| x[i].to_bits() != y[i].to_bits()))
            };
            let codes = |x: &[u8], y: &[u8]| (0..x.len().min(y.len())).find(|&i| x[i] != y[i]);
            let what = format!("{o:?} {precision:?}");
            assert_eq!(sa.policy.len(), sb.policy.len(), "{what}");
            assert_eq!(
                codes(&sa.policy, &sb.policy),
                None,
                "{what}: first differing action"
            );
            assert_eq!(
                at(&sa.values, &sb.values),
                None,
                "{what}: first differing value"
            );
            let t0 =
                |v: &mmgame::scheme::Values| (0..v.len()).map(|i| v.get(i)).collect::<Vec<_>>();
            assert_eq!(
                at(&t0(&a.values_t0), &t0(&b.values_t0)),
                None,
                "{what}: values at t = 0"
            );
            assert_eq!(a.diagnostics, b.diagnostics, "{what}");
        }
    }
}

/// The stencil kernel runs on small grids, and the per-state kernel where an agent's three
/// line slices exceed a storage binding (checked at the adapter's own limit; no buffer is
/// made) or where it was asked for.
#[test]
fn gpu_equilibrium_runs_per_state_where_the_line_slices_exceed_a_binding() {
    use mmgame::scheme::GpuKernel;
    let Some(ctx) = gpu() else { return };
    let limit = ctx.binding_limit();
    let solver = EquilibriumGpu::new(&ctx, Precision::F32).unwrap();
    let kernel = |overrides: &[&str]| solver.kernel(&scenario("default", overrides).grid());
    assert_eq!(kernel(&[]), GpuKernel::Stencil);
    // The smallest stake_points whose three f32 slices at 101 fee points exceed the binding.
    let beyond = ((limit / (3 * 4 * 101)) as f64).sqrt().floor() as usize + 1;
    let stake = format!("grid.stake_points={beyond}");
    assert_eq!(
        kernel(&["grid.fee_points=101", stake.as_str()]),
        GpuKernel::PerState,
        "limit {limit}"
    );
    let per_state = EquilibriumGpu::per_state(&ctx, Precision::F32).unwrap();
    assert_eq!(
        per_state.kernel(&scenario("default", &[]).grid()),
        GpuKernel::PerState
    );
}

#[test]
fn gpu_results_do_not_depend_on_how_the_grid_is_split() {
    let Some(ctx) = gpu() else { return };
    let s = scenario(
        "default",
        &["solver.scheme=equilibrium", "grid.stake_points=21"],
    );
    let run = |max_dim: Option<u32>| {
        let mut solver = EquilibriumGpu::new(&ctx, Precision::F32).unwrap();
        if let Some(m) = max_dim {
            solver = solver.with_max_workgroups_per_dimension(m);
        }
        solve_gpu(solver, &s)
    };
    // 15·21² = 6615 states = 26 workgroups: at most 4 per dimension gives a 4×7 dispatch.
    let ((a, sa), (b, sb)) = (run(None), run(Some(4)));
    assert_eq!(sa.policy, sb.policy);
    assert_eq!(sa.values, sb.values);
    assert_eq!(a.diagnostics, b.diagnostics);
}

/// A sink that records the time steps it is handed (checking that they hold controls only)
/// and fails with "disk full" at step `.0`.
struct FailAt(usize, Vec<usize>);

impl mmgame::scheme::StepSink for FailAt {
    fn step(
        &mut self,
        t: usize,
        a: [&[u8]; 2],
        _: mmgame::scheme::SliceValues<'_>,
    ) -> Result<(), mmgame::error::Error> {
        assert!(a[0].iter().chain(a[1]).all(|&c| c < 3), "controls only");
        self.1.push(t);
        if t == self.0 {
            return Err(mmgame::error::Error::Input("disk full".into()));
        }
        Ok(())
    }
}

/// The GPU hands steps to the sink on a writer thread: a sink's error still ends the solve
/// with that error, after the steps before it, in order (t descending).
#[test]
fn a_failing_sink_stops_the_gpu_sweep_with_its_error() {
    use mmgame::error::Error;
    let Some(ctx) = gpu() else { return };
    let s = scenario(
        "default",
        &["solver.scheme=equilibrium", "grid.time_points=9"],
    );
    let (game, grid) = (s.game(), s.grid());
    let mut sink = FailAt(4, Vec::new());
    let r = EquilibriumGpu::new(&ctx, Precision::F32).unwrap().solve(
        &game,
        &grid,
        s.solver.interpolation,
        &mut sink,
        &Cancel::new(),
        &mut Silent,
    );
    assert!(matches!(r, Err(Error::Input(m)) if m == "disk full"));
    assert_eq!(sink.1, [7, 6, 5, 4]);
}

/// The CPU hands each step's actions to a sink that takes no values on a writer thread: a
/// sink's error still ends the solve with that error, after the steps before it, in order.
#[test]
fn a_failing_sink_stops_the_cpu_sweep_with_its_error() {
    use mmgame::error::Error;
    let s = scenario(
        "default",
        &["solver.scheme=equilibrium", "grid.time_points=9"],
    );
    let (game, grid) = (s.game(), s.grid());
    let mut sink = FailAt(4, Vec::new());
    let r = mmgame::cpu::equilibrium::solve(
        &game,
        &grid,
        s.solver.interpolation,
        2,
        &mut sink,
        &Cancel::new(),
        &mut Silent,
    );
    assert!(matches!(r, Err(Error::Input(m)) if m == "disk full"));
    assert_eq!(sink.1, [7, 6, 5, 4]);
}
