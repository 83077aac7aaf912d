//! The `mmgame` binary end to end: files written and readable, exit codes, bad input.

mod common;

use common::{mmgame, stderr};

use ndarray::ArrayD;
use ndarray_npy::read_npy;

#[test]
fn solve_with_no_arguments_writes_the_notebook_run() {
    let dir = tempfile::tempdir().unwrap();
    let o = mmgame(&["solve"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("converged after 7 iterations"), "{stdout}");
    assert!(stdout.contains("mmgame-out"), "{stdout}");
    let out = dir.path().join("mmgame-out");

    let values: ArrayD<f64> = read_npy(out.join("values.npy")).unwrap();
    assert_eq!(values.shape(), &[2, 5, 15, 15, 15]);
    let reference = common::npy("default", "v_vals_new.npy");
    let rel = common::max_rel_diff(values.iter().copied(), reference.iter().copied());
    assert!(rel <= 1e-9, "values differ by {rel:e}");

    let policy: ArrayD<i8> = read_npy(out.join("policy.npy")).unwrap();
    assert_eq!(policy.shape(), &[2, 5, 15, 15, 15]);
    let reference = common::npy("default", "a_vals.npy");
    assert!(policy
        .iter()
        .zip(reference.iter())
        .all(|(&a, &r)| a as f64 == r));

    let csv = std::fs::read_to_string(out.join("path.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "step,time,fee,stake0,stake1,action0,action1,beyond_horizon"
    );
    assert_eq!(lines.len(), 1 + 6);
    assert_eq!(lines[1], "0,0,0.1,10,10,0,3,false");
    // The notebook's extra point, one step past the horizon, is kept and marked.
    assert_eq!(lines[6], "5,1.25,0.07500000000000001,10.25,13.25,,,true");

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["iterations"], 7);
    assert_eq!(summary["converged"], true);
    assert_eq!(summary["scheme"], "notebook");
    assert_eq!(summary["backend"], "cpu");
    assert_eq!(summary["policy_change"].as_array().unwrap().len(), 7);
    assert_eq!(summary["scenario"]["grid"]["stake_points"], 15);
    assert!(summary["cell_updates_per_second"].as_f64().unwrap() > 0.0);
    assert!(summary["solve_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(summary["version"], env!("CARGO_PKG_VERSION"));
    // The axes' node values, and each array's axis names.
    let axis = |name: &str| -> Vec<f64> {
        summary["axes"][name]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    assert_eq!(axis("time"), [0.0, 0.25, 0.5, 0.75, 1.0]);
    assert_eq!(axis("fee").len(), 15);
    assert_eq!(axis("fee")[14], 1.0);
    assert_eq!(axis("stake")[1], 120.0 / 14.0);
    assert_eq!(
        summary["dims"]["values"],
        serde_json::json!(["agent", "time", "fee", "stake0", "stake1"])
    );
    // No temporary files are left behind.
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // The folder's lock file stays (removing a lock file others may wait on is a race).
    let mut expected: Vec<String> = [
        ".mmgame.lock",
        "path.csv",
        "policy.npy",
        "summary.json",
        "values.npy",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(
        mmgame::tools::plot::PLOT_NAMES
            .iter()
            .flat_map(|p| [format!("{p}.png"), format!("{p}.svg")]),
    )
    .collect();
    expected.sort();
    assert_eq!(names, expected);
}

#[test]
fn scenario_file_and_overrides_are_applied() {
    let dir = tempfile::tempdir().unwrap();
    let file = common::data_dir("asymmetric").join("scenario.toml");
    let o = mmgame(
        &[
            "solve",
            file.to_str().unwrap(),
            "--set",
            "grid.time_points=3",
            "--out",
            "run",
            "-q",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let values: ArrayD<f64> = read_npy(dir.path().join("run/values.npy")).unwrap();
    assert_eq!(values.shape(), &[2, 3, 11, 13, 13]);
}

#[test]
fn scenario_command_prints_the_default_as_toml() {
    let dir = tempfile::tempdir().unwrap();
    let o = mmgame(&["scenario"], dir.path());
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("# "), "commented");
    std::fs::write(dir.path().join("s.toml"), &text).unwrap();
    let parsed = mmgame::config::Scenario::load(Some(&dir.path().join("s.toml")), &[]).unwrap();
    assert_eq!(parsed, mmgame::config::Scenario::default());
}

/// Each bad input exits with code 2, prints one line naming the problem, and writes nothing.
#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("malformed.toml"), "[grid]\nfee_points = \n").unwrap();
    std::fs::write(dir.path().join("unknown.toml"), "[model]\nhorizn = 1.0\n").unwrap();
    std::fs::write(
        dir.path().join("three.toml"),
        "[[agents]]\n[[agents]]\n[[agents]]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("one.toml"),
        "[[agents]]\nvolatility = 0.2\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("a_file"), "not a folder").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--set", "model.fee_sped=0.1"], "model.fee_sped"),
        (&["unknown.toml"], "horizn"),
        (&["--set", "grid.fee_points=abc"], "grid.fee_points"),
        (&["--set", "grid.fee_points=2.5"], "grid.fee_points"),
        (&["--set", "model.horizon=inf"], "finite"),
        (&["--set", "agents.0.volatility=nan"], "agents.0.volatility"),
        (&["--set", "grid.stake_points=1"], "at least 2"),
        (&["--set", "grid.time_points=0"], "grid.time_points"),
        (&["--set", "model.horizon=0"], "model.horizon"),
        (&["--set", "grid.fee_max=-1"], "grid.fee_max"),
        (&["--set", "grid.stake_max=0"], "grid.stake_max"),
        (&["--set", "grid.control=-3"], "grid.control"),
        (&["--set", "agents.1.max_volume=-5"], "agents.1.max_volume"),
        (
            &["--set", "agents.0.volatility=-0.1"],
            "agents.0.volatility",
        ),
        (&["--set", "solver.scheme=magic"], "solver.scheme"),
        (&["--set", "model.fee_rule=median"], "model.fee_rule"),
        (
            &["--set", "model.fee_response.kind=power"],
            "model.fee_response",
        ),
        (
            &["--set", "model.stake_response.kind=cubic"],
            "model.stake_response",
        ),
        (&["malformed.toml"], "line 2"),
        (&["missing.toml"], "missing.toml"),
        (&["--out", "a_file"], "not a folder"),
        (&["three.toml"], "exactly two"),
        (&["one.toml"], "exactly two"),
        (&["--set", "agents.2.volatility=0.1"], "out of range"),
        (
            &[
                "--set",
                "grid.fee_points=100000",
                "--set",
                "grid.stake_points=100000",
            ],
            "bytes",
        ),
        (&["--set", "grid"], "KEY=VALUE"),
    ];
    for (args, expected) in cases {
        let mut full = vec!["solve"];
        full.extend_from_slice(args);
        if !args.contains(&"--out") {
            full.extend_from_slice(&["--out", "out"]);
        }
        let o = mmgame(&full, dir.path());
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(expected),
            "{args:?}: `{err}` should mention `{expected}`"
        );
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line: {err}"
        );
        assert!(o.stdout.is_empty(), "{args:?}: nothing on stdout");
        assert!(
            !dir.path().join("out").exists(),
            "{args:?}: nothing written"
        );
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a_file")).unwrap(),
        "not a folder"
    );
}

#[test]
fn unknown_backend_and_arguments_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let o = mmgame(&["solve", "--backend", "tpu"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    let o = mmgame(&["frobnicate"], dir.path());
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn equilibrium_solve_writes_the_t0_slice_and_the_streamed_policy() {
    let dir = tempfile::tempdir().unwrap();
    let o = mmgame(
        &[
            "solve",
            "--set",
            "solver.scheme=equilibrium",
            "--out",
            "eq",
            "--no-plots",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("several eq."), "{stdout}");
    let out = dir.path().join("eq");
    let values: ArrayD<f64> = read_npy(out.join("values.npy")).unwrap();
    assert_eq!(values.shape(), &[2, 15, 15, 15]);
    let policy: ArrayD<i8> = read_npy(out.join("policy.npy")).unwrap();
    assert_eq!(policy.shape(), &[2, 5, 15, 15, 15]);
    assert!(policy.iter().all(|&a| a == -3 || a == 0 || a == 3));
    // No action at the horizon.
    assert!(policy
        .slice(ndarray::s![.., 4, .., .., ..])
        .iter()
        .all(|&a| a == 0));
    let csv = std::fs::read_to_string(out.join("path.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 5, "time_points points");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["scheme"], "equilibrium");
    assert_eq!(summary["values_saved"], "t0");
    assert_eq!(summary["diagnostics"].as_array().unwrap().len(), 4);
    assert_eq!(summary["no_pure_equilibrium"], 0);
    assert!(summary["several_equilibria"].as_u64().unwrap() > 0);

    let o = mmgame(
        &[
            "solve",
            "--set",
            "solver.scheme=equilibrium",
            "--save-values",
            "all",
            "--out",
            "all",
            "--no-plots",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let all: ArrayD<f64> = read_npy(dir.path().join("all/values.npy")).unwrap();
    assert_eq!(all.shape(), &[2, 5, 15, 15, 15]);
    assert_eq!(
        all.slice(ndarray::s![.., 0, .., .., ..]),
        values.view().into_dimensionality().unwrap()
    );
}

#[test]
fn save_policy_writes_every_slice_t0_or_nothing_and_the_same_path() {
    let dir = tempfile::tempdir().unwrap();
    for scheme in ["notebook", "equilibrium"] {
        let solve = |policy: &str| {
            let out = format!("{scheme}-{policy}");
            let set = format!("solver.scheme={scheme}");
            let args = [
                "solve",
                "--set",
                &set,
                "--save-policy",
                policy,
                "--out",
                &out,
            ];
            let o = mmgame(&args, dir.path());
            assert!(o.status.success(), "{}", stderr(&o));
            dir.path().join(out)
        };
        let (all, t0, none) = (solve("all"), solve("t0"), solve("none"));
        let every: ArrayD<i8> = read_npy(all.join("policy.npy")).unwrap();
        let first: ArrayD<i8> = read_npy(t0.join("policy.npy")).unwrap();
        assert_eq!(first.shape(), &[2, 15, 15, 15], "{scheme}");
        assert_eq!(
            first,
            every.slice(ndarray::s![.., 0, .., .., ..]).into_dyn()
        );
        assert!(!none.join("policy.npy").exists(), "{scheme}");
        // Nothing left behind: the streamed policy of an equilibrium run is deleted.
        let names: Vec<_> = std::fs::read_dir(&none)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains("policy")), "{names:?}");
        let read = |d: &std::path::Path, f: &str| std::fs::read(d.join(f)).unwrap();
        for dir in [&t0, &none] {
            assert_eq!(read(dir, "path.csv"), read(&all, "path.csv"), "{scheme}");
            assert_eq!(
                read(dir, "values.npy"),
                read(&all, "values.npy"),
                "{scheme}"
            );
        }
        let summary = |d: &std::path::Path| -> serde_json::Value {
            serde_json::from_str(&String::from_utf8(read(d, "summary.json")).unwrap()).unwrap()
        };
        assert_eq!(summary(&t0)["policy_saved"], "t0");
        assert_eq!(
            summary(&t0)["policy_shape"],
            serde_json::json!([2, 15, 15, 15])
        );
        assert_eq!(summary(&none)["policy_shape"], serde_json::Value::Null);
        // `mmgame plot` redraws from a t0 policy, and without one (no action map).
        for d in [&t0, &none] {
            let o = mmgame(&["plot", d.to_str().unwrap()], dir.path());
            assert!(o.status.success(), "{}", stderr(&o));
        }
        assert!(t0.join("action_map.png").exists());
        assert_eq!(none.join("action_map.png").exists(), scheme == "notebook");
    }
    let o = mmgame(&["solve", "--save-policy", "some"], dir.path());
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn refine_writes_a_table_and_each_level() {
    let dir = tempfile::tempdir().unwrap();
    let o = mmgame(
        &[
            "refine",
            "--levels",
            "2",
            "--set",
            "agents.1.max_volume=0",
            "--out",
            "r",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(dir.path().join("r/refine.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("level,fee_points,stake_points,time_points"));
    assert!(lines[2].starts_with("1,29,29,9,"));
    // docs/model.md: agent 0's start value 1754.97 then 1707.29 on these grids.
    let v0: Vec<f64> = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(5).unwrap().parse().unwrap())
        .collect();
    assert!(
        (v0[0] - 1754.97).abs() < 0.01 && (v0[1] - 1707.29).abs() < 0.01,
        "{v0:?}"
    );
    assert!(dir.path().join("r/level-1/policy.npy").exists());
}

#[test]
fn an_equilibrium_run_that_cannot_fit_is_refused_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let o = mmgame(
        &[
            "solve",
            "--set",
            "solver.scheme=equilibrium",
            "--set",
            "grid.stake_points=200000",
            "--out",
            "big",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("bytes"), "{}", stderr(&o));
    assert!(!dir.path().join("big").exists());
}

/// Every command that solves refuses an oversized grid inside the library's `solve` (or its
/// `check`), with the same one line as `solve` and exit 2, before allocating or writing.
#[test]
fn every_command_refuses_an_oversized_grid_with_the_same_line() {
    let dir = tempfile::tempdir().unwrap();
    let big = "grid.stake_points=200000";
    let solve = mmgame(&["solve", "--set", big, "--out", "s"], dir.path());
    assert_eq!(solve.status.code(), Some(2), "{}", stderr(&solve));
    let line = stderr(&solve);
    assert!(
        line.starts_with("error: this grid on the CPU needs ") && line.contains(" available"),
        "{line}"
    );
    assert_eq!(line.lines().count(), 1, "{line}");
    // The figure of available memory moves between runs: compare up to it.
    let head = &line[..line.find(" available").unwrap()];
    let head = &head[..head.rfind(',').unwrap()];
    for args in [
        vec![
            "sweep",
            "--vary",
            "grid.stake_points=200000:200000:1",
            "--out",
            "w",
        ],
        vec![
            "bench",
            "--grid",
            "15x200000x5",
            "--backend",
            "cpu",
            "--out",
            "b",
        ],
        vec![
            "sweep",
            "--set",
            "grid.stake_points=15",
            "--vary",
            "grid.stake_points=15:200000:2",
            "--out",
            "w2",
        ],
    ] {
        let o = mmgame(&args, dir.path());
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.starts_with(head), "{args:?}: {e}");
        assert_eq!(e.lines().count(), 1, "{args:?}: {e}");
    }
    let refine = mmgame(
        &["refine", "--set", "grid.stake_points=20000", "--out", "r"],
        dir.path(),
    );
    assert_eq!(refine.status.code(), Some(2), "{}", stderr(&refine));
    assert!(
        stderr(&refine).starts_with("error: this equilibrium run's working memory needs "),
        "{}",
        stderr(&refine)
    );
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(names.is_empty(), "something was written: {names:?}");
}

#[test]
fn json_prints_the_summary_and_the_report_has_the_path_table() {
    let dir = tempfile::tempdir().unwrap();
    let o = mmgame(&["solve", "--json", "--no-plots"], dir.path());
    assert!(o.status.success());
    let summary: serde_json::Value =
        serde_json::from_slice(&o.stdout).expect("stdout is summary.json");
    assert_eq!(summary["iterations"], 7);
    let o = mmgame(&["solve", "-q", "--no-plots"], dir.path());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        !stdout.contains("iteration   1"),
        "quiet hides the iterations"
    );
    assert!(stdout.contains("step     time"), "{stdout}");
    assert!(
        stdout.contains("policy change per iteration: 245.95556, 37.48000"),
        "{stdout}"
    );
}

#[test]
#[cfg(target_os = "linux")]
fn gpu_backend_without_an_adapter_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    // No Metal on Linux, so wgpu finds no adapter at all.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_mmgame"))
        .args(["solve", "--backend", "gpu", "--out", "g"])
        .env("WGPU_BACKEND", "metal")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("no GPU adapter"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"));
    assert!(!dir.path().join("g").exists());
}
