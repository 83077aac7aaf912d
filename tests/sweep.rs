//! `mmgame sweep` and `sweep-merge`: the varied values, the CSV's columns, and that shards
//! merged give the same CSV as one run.

mod common;

use common::mmgame;

const VARY: [&str; 4] = [
    "--vary",
    "model.fee_speed=0.05:0.2:3",
    "--vary",
    "agents.1.capital_cost=0.01:0.05:3",
];

#[test]
fn sweep_writes_every_point_with_its_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["sweep"];
    args.extend(VARY);
    args.extend(["--out", "one"]);
    let o = mmgame(&args, dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(dir.path().join("one/sweep.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "index,model.fee_speed,agents.1.capital_cost,iterations,converged,end_stake0,end_stake1,end_fee,value0,value1"
    );
    assert_eq!(lines.len(), 1 + 9);
    let rows: Vec<Vec<&str>> = lines[1..].iter().map(|l| l.split(',').collect()).collect();
    let speeds: Vec<f64> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    let costs: Vec<f64> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
    assert_eq!(
        speeds,
        [0.05, 0.05, 0.05, 0.125, 0.125, 0.125, 0.2, 0.2, 0.2]
    );
    assert_eq!(&costs[..3], [0.01, 0.03, 0.05]);
    // The point with the notebook's parameters is not on this grid, but fee_speed = 0.125 and
    // capital cost 0.01 must match a direct solve.
    let direct = mmgame(
        &[
            "solve",
            "--set",
            "model.fee_speed=0.125",
            "--set",
            "agents.1.capital_cost=0.01",
            "--out",
            "d",
            "--no-plots",
            "-q",
        ],
        dir.path(),
    );
    assert!(direct.status.success());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("d/summary.json")).unwrap())
            .unwrap();
    assert_eq!(rows[3][3], summary["iterations"].to_string());
    let end = summary["path"].as_array().unwrap().last().unwrap();
    assert_eq!(
        rows[3][5].parse::<f64>().unwrap(),
        end["stakes"][0].as_f64().unwrap()
    );
    assert_eq!(
        rows[3][7].parse::<f64>().unwrap(),
        end["fee"].as_f64().unwrap()
    );
    // The outcome changes along the first key.
    assert_ne!(rows[0][8], rows[3][8]);
    for plot in [
        "sweep_value0.png",
        "sweep_value1.svg",
        "sweep_end_stakes.png",
    ] {
        assert!(
            std::fs::metadata(dir.path().join("one").join(plot))
                .unwrap()
                .len()
                > 1000
        );
    }
}

#[test]
fn shards_merged_equal_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str], out: &str| {
        let mut args = vec!["sweep", "--set", "solver.scheme=equilibrium"];
        args.extend(VARY);
        args.extend(extra);
        args.extend(["--out", out]);
        let o = mmgame(&args, dir.path());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(&[], "whole");
    for i in 0..3 {
        run(&["--shard", &format!("{i}/3")], &format!("part{i}"));
    }
    let o = mmgame(
        &[
            "sweep-merge",
            "part2",
            "part0",
            "part1/sweep.csv",
            "--out",
            "merged",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let whole = std::fs::read_to_string(dir.path().join("whole/sweep.csv")).unwrap();
    let merged = std::fs::read_to_string(dir.path().join("merged/sweep.csv")).unwrap();
    assert_eq!(whole, merged);
    let part = std::fs::read_to_string(dir.path().join("part1/sweep.csv")).unwrap();
    assert_eq!(part.lines().count(), 1 + 3);
    // Overlapping parts are refused.
    let o = mmgame(
        &["sweep-merge", "part0", "part0", "--out", "bad"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(!dir.path().join("bad").exists());
}

#[test]
fn bad_sweeps_exit_2_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["sweep", "--vary", "model.fee_speed=0.1:0.2", "--out", "x"],
        vec!["sweep", "--vary", "model.no_such_key=1:2:2", "--out", "x"],
        vec!["sweep", "--vary", "grid.stake_points=1:3:3", "--out", "x"],
        vec![
            "sweep",
            "--vary",
            "model.fee_speed=0.1:0.2:2",
            "--shard",
            "3/3",
            "--out",
            "x",
        ],
    ] {
        let o = mmgame(&args, dir.path());
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&o.stderr)
                .trim_end()
                .lines()
                .count(),
            1,
            "{args:?}"
        );
        assert!(!dir.path().join("x").exists(), "{args:?}");
    }
}

/// A part that is not a well-formed sweep.csv is refused with one line naming the file and the
/// line, never a panic.
#[test]
fn sweep_merge_refuses_malformed_parts() {
    let dir = tempfile::tempdir().unwrap();
    let header =
        "index,model.fee_speed,iterations,converged,end_stake0,end_stake1,end_fee,value0,value1";
    let good = "0,0.1,3,true,10,11,0.1,1.5,2.5";
    for (name, text, expected) in [
        ("one_field.csv", format!("{header}\n7\n"), "line 2"),
        (
            "bad_index.csv",
            format!("{header}\nx,0.1,3,true,10,11,0.1,1.5,2.5\n"),
            "line 2",
        ),
        (
            "bad_value.csv",
            format!("{header}\n{good}\n1,0.2,3,true,10,eleven,0.1,1.5,2.5\n"),
            "line 3",
        ),
        (
            "not_a_sweep.csv",
            "step,time\n0,0\n".to_string(),
            "not_a_sweep.csv",
        ),
        ("empty.csv", String::new(), "empty.csv"),
    ] {
        std::fs::write(dir.path().join(name), text).unwrap();
        let o = mmgame(&["sweep-merge", name, "--out", "m"], dir.path());
        let e = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(2), "{name}: {e}");
        assert_eq!(e.trim_end().lines().count(), 1, "{name}: {e}");
        assert!(e.contains(name) && e.contains(expected), "{name}: {e}");
        assert!(!dir.path().join("m").exists(), "{name}");
    }
}
