//! What a hostile but realistic user does: closed pipes, overflowing parameters, a path off the
//! grid, two runs into one folder, interrupted runs, stale files, unwritable folders, memory
//! limits. Each gives one line and its exit code, or correct output, never a panic or a hang.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{mmgame, stderr};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mmgame"))
}

/// One line on stderr, exit `code`, no panic.
fn assert_fails(o: &std::process::Output, code: i32, what: &str) -> String {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(code), "{what}: {e}");
    assert_eq!(e.trim_end().lines().count(), 1, "{what}: {e}");
    assert!(!e.contains("panicked"), "{what}: {e}");
    e
}

fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    n.sort();
    n
}

/// Every subcommand's output survives a reader that closes the pipe at once: it exits as if
/// nothing happened (as `ls | head` does) and its files are whole.
#[test]
fn every_command_survives_a_closed_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let commands: Vec<Vec<&str>> = vec![
        vec!["solve", "--out", "run"],
        vec!["solve", "--set", "solver.scheme=equilibrium", "--out", "eq"],
        vec!["scenario"],
        vec!["info"],
        vec![
            "sweep",
            "--vary",
            "model.fee_speed=0.05:0.2:4",
            "--out",
            "sw",
        ],
        vec!["refine", "--levels", "2", "--out", "rf"],
        vec![
            "bench",
            "--backend",
            "cpu",
            "--grid",
            "5x7x3",
            "--runs",
            "1",
            "--out",
            "bn",
        ],
        vec!["plot", "run"],
    ];
    for args in &commands {
        let mut child = bin()
            .args(args)
            .current_dir(d)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {e}");
        assert!(!e.contains("panicked"), "{args:?}: {e}");
    }
    for file in [
        "values.npy",
        "policy.npy",
        "path.csv",
        "summary.json",
        "action_map.png",
    ] {
        assert!(d.join("run").join(file).is_file(), "run/{file}");
        assert!(d.join("eq").join(file).is_file(), "eq/{file}");
    }
    assert!(d.join("sw/sweep.csv").is_file());
    assert!(d.join("rf/refine.csv").is_file());
    assert!(d.join("bn/bench.csv").is_file());
    // A full disk behind stdout is an error, after the work.
    let full = std::fs::File::create("/dev/full");
    if let Ok(full) = full {
        let o = bin().arg("scenario").stdout(full).output().unwrap();
        let e = assert_fails(&o, 1, "scenario > /dev/full");
        assert!(e.contains("stdout") && e.contains("space"), "{e}");
    }
}

/// Parameters whose payoffs overflow are refused before solving, naming the parameter; the
/// commands that solve several grids refuse them the same way.
#[test]
fn overflowing_parameters_are_refused_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["model.horizon=1e308"], "model.horizon = 1e308"),
        (
            &[
                "solver.scheme=equilibrium",
                "model.discount_rate=-1",
                "model.horizon=1000",
            ],
            "model.discount_rate = -1 with model.horizon = 1000",
        ),
        (
            &["agents.1.capital_cost=1e300"],
            "agents.1.capital_cost = 1e300",
        ),
        (
            &["model.discount_rate=-1", "model.horizon=1000"],
            "model.discount_rate = -1",
        ),
    ];
    for (sets, named) in cases {
        let mut args = vec![];
        for s in sets {
            args.extend(["--set", s]);
        }
        for command in [
            vec!["solve", "--out", "x"],
            vec!["refine", "--levels", "2", "--out", "x"],
            vec!["sweep", "--vary", "model.fee_speed=0.1:0.2:2", "--out", "x"],
        ] {
            let mut full = command.clone();
            full.extend(&args);
            let o = mmgame(&full, dir.path());
            let e = assert_fails(&o, 2, &format!("{full:?}"));
            assert!(e.contains(named) && e.contains("f64"), "{full:?}: {e}");
            assert!(!dir.path().join("x").exists(), "{full:?} wrote x");
        }
    }
}

/// The GPU computes in f32: payoffs within f64's range but beyond f32's are refused for the
/// GPU (solve, validate) with what to do instead; the CPU solves them.
#[test]
fn payoffs_beyond_f32_are_refused_on_the_gpu() {
    if common::gpu().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for sets in [
        vec![
            "--set",
            "solver.scheme=equilibrium",
            "--set",
            "model.discount_rate=-1",
            "--set",
            "model.horizon=200",
        ],
        vec!["--set", "agents.0.max_volume=1e39"],
    ] {
        for command in [
            vec!["solve", "--backend", "gpu", "--out", "g"],
            vec!["validate"],
        ] {
            let mut args = command.clone();
            args.extend(&sets);
            let o = mmgame(&args, dir.path());
            let e = assert_fails(&o, 2, &format!("{args:?}"));
            assert!(e.contains("f32") && e.contains("CPU"), "{args:?}: {e}");
        }
    }
    // The CPU holds them: finite values, exit 0.
    let o = mmgame(
        &[
            "solve",
            "--set",
            "solver.scheme=equilibrium",
            "--set",
            "model.discount_rate=-1",
            "--set",
            "model.horizon=200",
            "--out",
            "c",
            "--no-plots",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: ndarray::ArrayD<f64> = ndarray_npy::read_npy(dir.path().join("c/values.npy")).unwrap();
    assert!(v.iter().all(|x| x.is_finite()));
    assert!(
        v.iter().any(|x| x.abs() > 1e60),
        "the scenario should reach large payoffs"
    );
}

#[test]
fn the_path_must_start_on_the_grid() {
    let dir = tempfile::tempdir().unwrap();
    for (set, named) in [
        ("path.fee=-0.5", "path.fee = -0.5"),
        ("path.fee=5", "path.fee = 5"),
        ("path.stakes=[-10,5]", "path.stakes.0 = -10"),
        ("path.stakes=[1.7e308,1e10]", "path.stakes.0 = 1.7e308"),
    ] {
        let o = mmgame(&["solve", "--set", set, "--out", "x"], dir.path());
        let e = assert_fails(&o, 2, set);
        assert!(e.contains(named) && e.contains("grid"), "{set}: {e}");
    }
    assert!(!dir.path().join("x").exists());
}

/// A folder another run is writing is refused at once (exit 2); the lock is the folder's
/// `.mmgame.lock`, held here by this test process.
#[test]
fn a_locked_output_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("busy");
    std::fs::create_dir(&out).unwrap();
    let lock = mmgame::io::lock::FolderLock::acquire(&out, false).unwrap();
    let o = mmgame(&["solve", "--out", "busy"], dir.path());
    let e = assert_fails(&o, 2, "locked");
    assert!(
        e.contains("another mmgame run") && e.contains("--wait"),
        "{e}"
    );
    assert_eq!(names(&out), [".mmgame.lock"]);
    drop(lock);
    let o = mmgame(&["solve", "--out", "busy", "-q"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
}

/// SIGTERM stops a run between time steps: exit 130 and no temporary file; a temporary file
/// that an earlier (killed) run left is removed by the next run into the folder.
#[test]
fn an_interrupted_run_leaves_nothing_and_the_next_run_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let child = bin()
        .args([
            "solve",
            "--set",
            "solver.scheme=equilibrium",
            "--set",
            "grid.fee_points=31",
            "--set",
            "grid.stake_points=121",
            "--set",
            "grid.time_points=200",
            "--out",
            "run",
            "-q",
            "--no-plots",
        ])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the streamed policy exists, then interrupt.
    let start = std::time::Instant::now();
    while !(out.is_dir() && names(&out).iter().any(|n| n.ends_with(".partial"))) {
        assert!(
            start.elapsed().as_secs() < 60,
            "the run never started streaming"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let o = child.wait_with_output().unwrap();
    let e = assert_fails(&o, 130, "SIGTERM");
    assert!(e.contains("cancelled"), "{e}");
    assert_eq!(names(&out), [".mmgame.lock"], "left behind");

    std::fs::write(out.join(".mmgame-left.partial"), b"stale").unwrap();
    std::fs::write(out.join("notes.txt"), b"mine").unwrap();
    let o = mmgame(&["solve", "--out", "run", "-q", "--no-plots"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        names(&out),
        [
            ".mmgame.lock",
            "notes.txt",
            "path.csv",
            "policy.npy",
            "summary.json",
            "values.npy"
        ]
    );
}

/// A later run into a folder removes the files of an earlier mmgame run that it does not write
/// (here the plots), and nothing else; summary.json lists the run's files.
#[test]
fn files_of_an_earlier_run_do_not_stay_beside_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = mmgame(&["solve", "--out", "run", "-q"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let listed: Vec<String> = summary["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    let mut on_disk: Vec<String> = names(&out)
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect();
    let mut sorted = listed.clone();
    sorted.sort();
    on_disk.sort();
    assert_eq!(
        sorted, on_disk,
        "summary.json lists exactly the run's files"
    );
    assert_eq!(listed.len(), 4 + 12);

    std::fs::write(out.join("mine.png"), b"not mmgame's").unwrap();
    let o = mmgame(
        &[
            "solve",
            "--set",
            "solver.scheme=equilibrium",
            "--out",
            "run",
            "-q",
            "--no-plots",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        names(&out),
        [
            ".mmgame.lock",
            "mine.png",
            "path.csv",
            "policy.npy",
            "summary.json",
            "values.npy"
        ]
    );
}

#[test]
fn an_unwritable_output_folder_is_refused_before_the_work() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("afile"), b"x").unwrap();
    for out in ["afile/sub", "/proc/mmgame-cannot-be-here"] {
        for command in [
            vec!["solve", "--out", out],
            vec!["refine", "--levels", "2", "--out", out],
            vec!["sweep", "--vary", "model.fee_speed=0.1:0.2:2", "--out", out],
            vec![
                "bench",
                "--backend",
                "cpu",
                "--grid",
                "5x7x3",
                "--runs",
                "1",
                "--out",
                out,
            ],
        ] {
            let o = mmgame(&command, dir.path());
            let e = assert_fails(&o, 2, &format!("{command:?}"));
            assert!(e.contains(out), "{command:?}: {e}");
            // Refused before the work: nothing was printed on stdout.
            assert!(
                o.stdout.is_empty(),
                "{command:?}: {}",
                String::from_utf8_lossy(&o.stdout)
            );
        }
    }
}

/// The memory check takes the address-space limit (`ulimit -v`) into account: grids that
/// would abort in an allocation are refused with exit 2, and grids just below the limit solve
/// (none aborts).
#[test]
fn the_memory_check_respects_ulimit_v() {
    let dir = tempfile::tempdir().unwrap();
    for (scheme, stake) in [
        ("notebook", 1200),
        ("notebook", 2600),
        ("equilibrium", 1600),
        ("equilibrium", 2600),
    ] {
        let script = format!(
            "ulimit -v 2000000 && exec '{}' solve --set solver.scheme={scheme} --set grid.stake_points={stake} --set grid.time_points=3 --out x -q --no-plots",
            env!("CARGO_BIN_EXE_mmgame")
        );
        let o = Command::new("bash")
            .args(["-c", &script])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let e = assert_fails(&o, 2, &format!("{scheme} {stake}"));
        assert!(
            e.contains("needs") && e.contains("available") || e.contains("ulimit"),
            "{e}"
        );
    }
    for (scheme, stake) in [("notebook", 900), ("equilibrium", 1300)] {
        let script = format!(
            "ulimit -v 2000000 && exec '{}' solve --set solver.scheme={scheme} --set grid.stake_points={stake} --set grid.time_points=3 --out y -q --no-plots",
            env!("CARGO_BIN_EXE_mmgame")
        );
        let o = Command::new("bash")
            .args(["-c", &script])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{scheme} {stake}: {}", stderr(&o));
    }
}

/// A notebook grid whose values, actions and tables on the device would exceed the adapter's
/// memory (on lavapipe the host's: 12 TiB here, far beyond any host) is refused before
/// anything is allocated: exit 2, one line naming the bytes needed and available and the
/// largest grid.time_points that fits; and about that many time points pass the same check.
#[test]
fn a_notebook_grid_beyond_the_device_memory_is_refused_before_it_starts() {
    let Some(ctx) = common::gpu() else {
        return;
    };
    let overrides = |time_points: u64| {
        ["grid.fee_points=2", "grid.stake_points=801"]
            .map(String::from)
            .into_iter()
            .chain([format!("grid.time_points={time_points}")])
            .collect::<Vec<_>>()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "solve",
        "--backend",
        "gpu",
        "--out",
        "x",
        "-q",
        "--no-plots",
    ];
    let sets = overrides(1_000_000);
    for set in &sets {
        args.extend(["--set", set]);
    }
    let start = std::time::Instant::now();
    let o = mmgame(&args, dir.path());
    let e = assert_fails(&o, 2, "a grid beyond the device memory");
    // Nothing of that size was allocated: refused at once.
    assert!(start.elapsed().as_secs() < 20, "took {:?}", start.elapsed());
    assert!(!dir.path().join("x").exists(), "wrote x");
    assert!(e.contains("the notebook scheme on GPU"), "{e}");
    assert!(
        e.contains("TiB (") && e.contains("bytes) of device memory"),
        "{e}"
    );
    assert!(
        e.contains("it has") && e.contains("is the most that fits"),
        "{e}"
    );
    let most: u64 = e
        .split("grid.time_points = ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no largest time_points in: {e}"));
    assert!((2..1_000_000).contains(&most), "{e}");

    // The advice holds, up to what other tests allocate meanwhile: 10% fewer time points
    // pass the check `solve` makes, 10% more do not.
    let check = |time_points: u64| {
        let s = mmgame::config::Scenario::load(None, &overrides(time_points)).unwrap();
        mmgame::gpu::notebook::check(&ctx, &s.grid(), mmgame::scheme::Precision::F32)
    };
    check((most * 9 / 10).max(2)).expect("fewer time points than advised fit");
    let e = check(most * 11 / 10 + 10).unwrap_err().to_string();
    assert!(e.contains("of device memory"), "{e}");
}
