//! Golden comparisons of the CPU `notebook` solver with the notebook's own outputs
//! (tests/data/*, written by shared/reference/run_notebook.py and numpy_port.py).

mod common;

use common::{json, max_rel_diff, npy, scenario};
use mmgame::api::{Cancel, Silent};
use mmgame::cpu::notebook;
use mmgame::cpu::team::default_threads;
use mmgame::simulate::notebook_path;

/// Solves reference configuration `name` and checks it against the notebook: actions and path
/// identical, values within 1e-9 relative, the policy-change trace equal.
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

    let a_ref = npy(name, "a_vals.npy");
    assert_eq!(a_ref.shape(), &sol.shape[..], "{name}: shape");
    let actions = sol.policy.iter().map(|&c| grid.actions.value(c) as f64);
    let mismatched = actions.zip(a_ref.iter()).filter(|(a, r)| a != *r).count();
    assert_eq!(mismatched, 0, "{name}: actions differing from the notebook");

    let v_ref = npy(name, "v_vals_new.npy");
    let values = (0..sol.values.len()).map(|i| sol.values.get(i));
    let rel = max_rel_diff(values, v_ref.iter().copied());
    assert!(rel <= 1e-9, "{name}: values differ by {rel:e} relative");

    let port = json(name, "numpy_port_summary.json");
    let diffs: Vec<f64> = port["diffs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_f64().unwrap())
        .collect();
    // The change is a sum of integers over fee_points·stake_points; NumPy's division lands one
    // unit in the last place off the correctly rounded quotient on some iterations.
    assert_eq!(sol.policy_change.len(), diffs.len(), "{name}: iterations");
    let cells = (s.grid.fee_points * s.grid.stake_points) as f64;
    for (ours, theirs) in sol.policy_change.iter().zip(&diffs) {
        assert_eq!(
            (ours * cells).round(),
            (theirs * cells).round(),
            "{name}: {ours} vs {theirs}"
        );
        assert!(
            (ours - theirs).abs() <= 1e-15 * theirs.abs(),
            "{name}: {ours} vs {theirs}"
        );
    }
    let printed = json(name, "trace.json");
    let printed: Vec<f64> = printed["policy_change"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_f64().unwrap())
        .collect();
    assert_eq!(printed.len(), sol.iterations(), "{name}: iterations");
    for (ours, theirs) in sol.policy_change.iter().zip(&printed) {
        // The notebook printed 6 significant digits.
        assert!(
            (ours - theirs).abs() <= 5e-6 * theirs.abs(),
            "{name}: {ours} vs printed {theirs}"
        );
    }
    assert!(sol.converged);

    let path = notebook_path(&game, &grid, &sol, &s.path);
    assert_eq!(path.len(), grid.time.len() + 1);
    let fees: Vec<f64> = path.iter().map(|p| p.fee).collect();
    let s0: Vec<f64> = path.iter().map(|p| p.stakes[0]).collect();
    let s1: Vec<f64> = path.iter().map(|p| p.stakes[1]).collect();
    assert_eq!(
        fees,
        npy(name, "fees.npy").into_raw_vec_and_offset().0,
        "{name}: fee path"
    );
    assert_eq!(
        s0,
        npy(name, "stakes0.npy").into_raw_vec_and_offset().0,
        "{name}: stake0 path"
    );
    assert_eq!(
        s1,
        npy(name, "stakes1.npy").into_raw_vec_and_offset().0,
        "{name}: stake1 path"
    );
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
