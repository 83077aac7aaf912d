//! The library's entry point, as a program (or the Python binding) uses it: `Solver`,
//! `SolveOptions`, `Run`, `Observer`, cancellation, and the files a run writes.

mod common;

use common::{npy, scenario};
use mmgame::api::{
    Backend, Cancel, Event, Output, Precision, SaveValues, Silent, SolveOptions, Solver,
};
use mmgame::Error;

#[test]
fn a_memory_run_is_the_notebooks_and_the_observer_hears_each_iteration() {
    let s = scenario("default", &[]);
    let mut changes = Vec::new();
    let mut observer = |e: &Event| {
        if let Event::Iteration {
            iteration,
            policy_change,
        } = *e
        {
            changes.push((iteration, policy_change));
        }
    };
    let run = Solver::new()
        .solve(&s, &SolveOptions::default(), &mut observer)
        .unwrap();
    // The notebook's changes, as NumPy computed them (sums of integers over 15·15 rows; NumPy's
    // division may land one unit in the last place off, so compare the integer sums).
    let trace = common::json("default", "numpy_port_summary.json");
    let expected: Vec<f64> = trace["diffs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v.as_f64().unwrap() * 225.0).round())
        .collect();
    let ours: Vec<f64> = changes.iter().map(|c| (c.1 * 225.0).round()).collect();
    assert_eq!(ours, expected);
    assert_eq!(
        changes.iter().map(|c| c.1).collect::<Vec<_>>(),
        run.notebook().unwrap().policy_change
    );
    assert_eq!(
        changes.iter().map(|c| c.0).collect::<Vec<_>>(),
        (1..=7).collect::<Vec<_>>()
    );
    assert_eq!(run.iterations(), 7);
    assert!(run.converged());
    assert_eq!(run.backend.backend, "cpu");
    assert_eq!(run.backend.precision, Precision::F64);
    assert!(run.files.is_empty() && run.folder.is_none());
    let solution = run.notebook().unwrap();
    let actions = s.grid().actions;
    let reference = npy("default", "a_vals.npy");
    assert!(solution
        .policy
        .iter()
        .zip(reference.iter())
        .all(|(&c, &r)| actions.value(c) as f64 == r));
    assert_eq!(run.path.len(), 6);
    assert_eq!(run.path[5].stakes, [10.25, 13.25]);
}

/// `Run::save` of a memory run writes exactly the files a folder output writes.
#[test]
fn save_writes_the_files_a_folder_run_writes() {
    let dir = tempfile::tempdir().unwrap();
    let solver = Solver::new();
    for scheme in ["notebook", "equilibrium"] {
        let s = scenario("default", &[&format!("solver.scheme={scheme}")]);
        let memory = solver
            .solve(&s, &SolveOptions::default(), &mut Silent)
            .unwrap();
        let saved = dir.path().join(format!("{scheme}-saved"));
        memory.save(&saved).unwrap();
        let folder = dir.path().join(format!("{scheme}-folder"));
        let options = SolveOptions {
            output: Output::Folder(folder.clone()),
            ..Default::default()
        };
        let written = solver.solve(&s, &options, &mut Silent).unwrap();
        assert_eq!(written.folder.as_deref(), Some(folder.as_path()));
        assert_eq!(written.path, memory.path);
        for file in ["values.npy", "policy.npy", "path.csv"] {
            let a = std::fs::read(saved.join(file)).unwrap();
            let b = std::fs::read(folder.join(file)).unwrap();
            assert!(a == b, "{scheme}: {file} differs");
        }
    }
}

#[test]
fn a_cancelled_solve_stops_between_time_steps_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let s = scenario(
        "default",
        &["solver.scheme=equilibrium", "grid.time_points=40"],
    );
    let cancel = Cancel::new();
    let options = SolveOptions {
        output: Output::Folder(out.clone()),
        save_values: SaveValues::All,
        cancel: cancel.clone(),
        ..Default::default()
    };
    let mut steps = 0;
    let mut observer = |e: &Event| {
        if let Event::TimeStep { done, .. } = *e {
            steps = done;
            if done == 3 {
                cancel.cancel();
            }
        }
    };
    let r = Solver::new().solve(&s, &options, &mut observer);
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    assert_eq!(steps, 3, "the sweep went on after the cancel");
    let left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    // Only the folder's lock file, which stays for the next run.
    assert_eq!(left, [".mmgame.lock"], "files left behind");

    // The notebook scheme on the thread team stops too (at a time step's barrier).
    let cancelled = Cancel::new();
    cancelled.cancel();
    let options = SolveOptions {
        cancel: cancelled,
        threads: Some(2),
        ..Default::default()
    };
    let s = scenario("default", &["grid.stake_points=61", "grid.fee_points=31"]);
    let r = Solver::new().solve(&s, &options, &mut Silent);
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
}

#[test]
fn bad_options_are_input_errors() {
    let s = scenario("default", &[]);
    let solver = Solver::new();
    let zero = SolveOptions {
        threads: Some(0),
        ..Default::default()
    };
    let e = solver.solve(&s, &zero, &mut Silent).unwrap_err();
    assert!(
        matches!(&e, Error::Input(m) if m.contains("threads")),
        "{e}"
    );
    let f32_on_cpu = SolveOptions {
        precision: Some(Precision::F32),
        backend: Backend::Cpu,
        ..Default::default()
    };
    let e = solver.solve(&s, &f32_on_cpu, &mut Silent).unwrap_err();
    assert_eq!(
        e.to_string(),
        "precision f32: the CPU backend computes in f64 only (f32 is for the GPU)"
    );
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn the_thread_count_does_not_change_the_result() {
    let s = scenario(
        "asymmetric",
        &[
            "grid.fee_points=31",
            "grid.stake_points=61",
            "grid.time_points=5",
        ],
    );
    let solver = Solver::new();
    let on = |threads| {
        let options = SolveOptions {
            threads: Some(threads),
            ..Default::default()
        };
        solver.solve(&s, &options, &mut Silent).unwrap()
    };
    let (one, three) = (on(1), on(3));
    let isa = mmgame::cpu::isa::Isa::selected().unwrap().name();
    assert_eq!(one.backend.device, format!("1 threads, {isa}"));
    let (a, b) = (one.notebook().unwrap(), three.notebook().unwrap());
    assert_eq!(a.values, b.values);
    assert_eq!(a.policy, b.policy);
}

/// One solver reuses its GPU context and pipelines across solves and schemes.
#[test]
fn a_solver_reuses_its_gpu() {
    if common::gpu().is_none() {
        return;
    }
    let solver = Solver::new();
    let first = solver.gpu(None).unwrap();
    let options = SolveOptions {
        backend: Backend::Gpu,
        ..Default::default()
    };
    for scheme in ["notebook", "equilibrium"] {
        let s = scenario("default", &[&format!("solver.scheme={scheme}")]);
        let run = solver.solve(&s, &options, &mut Silent).unwrap();
        assert_eq!(run.backend.backend, "gpu");
        assert_eq!(run.backend.precision, Precision::F32);
    }
    assert!(std::sync::Arc::ptr_eq(&first, &solver.gpu(None).unwrap()));
}
