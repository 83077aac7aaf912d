//! Golden comparisons of the CPU `notebook` solver with the notebook's own outputs
//! (tests/data/*, written by shared/reference/run_notebook.py and numpy_port.py).

mod common;

use common::scenario;
use mmgame::api::{Cancel, Silent};
use mmgame::cpu::notebook;
use mmgame::simulate::notebook_path;
use mmgame::team::default_threads;

/// Solves reference configuration `name` on the CPU and checks it against the notebook.
fn check(name: &str) {
    let s = scenario(name, &[]);
    let (game, grid) = (s.game(), s.grid());
    let sol = notebook::solve(
        &game,
        &grid,
        &s.solver,
        default_threads(),
        &Cancel::new(),
        &mut Silent,
    )
    .unwrap();
    common::check_against_notebook(name, &s, &sol);
}

#[test]
fn default_scenario_matches_the_notebook() {
    check("default");
}

#[test]
fn asymmetric_agents_with_control_2_match_the_notebook() {
    check("asymmetric");
}

#[test]
fn fine_stake_grid_with_control_1_matches_the_notebook() {
    check("fine_m1");
}

#[test]
fn default_path_is_the_one_in_model_md() {
    let s = scenario("default", &[]);
    let (game, grid) = (s.game(), s.grid());
    let sol = notebook::solve(
        &game,
        &grid,
        &s.solver,
        default_threads(),
        &Cancel::new(),
        &mut Silent,
    )
    .unwrap();
    assert_eq!(sol.iterations(), 7);
    let path = notebook_path(&game, &grid, &sol, &s.path);
    let s1: Vec<f64> = path.iter().map(|p| p.stakes[1]).collect();
    assert_eq!(s1, vec![10.0, 10.75, 11.5, 12.25, 13.0, 13.25]);
    assert!(path.iter().all(|p| p.stakes[0] == 10.0 || p.step == 5));
    assert_eq!(path[4].fee, 0.1);
    assert!((path[5].fee - 0.075).abs() < 1e-15);
    assert_eq!(path[5].actions, None);
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    // Large enough (31·61² states per step) for the solver to use every thread it is given.
    let s = scenario(
        "asymmetric",
        &[
            "grid.fee_points=31",
            "grid.stake_points=61",
            "grid.time_points=5",
        ],
    );
    let (game, grid) = (s.game(), s.grid());
    let solve_on = |threads| {
        notebook::solve(
            &game,
            &grid,
            &s.solver,
            threads,
            &Cancel::new(),
            &mut Silent,
        )
        .unwrap()
    };
    let (one, three) = (solve_on(1), solve_on(3));
    assert_eq!(one.policy, three.policy);
    assert_eq!(one.values, three.values);
    assert_eq!(one.policy_change, three.policy_change);
}
