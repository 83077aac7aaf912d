//! `mmgame sweep` and `sweep-merge`: the varied values, the CSV's columns, that shards
//! merged give the same CSV as one run, and that the merge refuses what is not one whole sweep
//! (checked against each part's sweep.json).

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
    // The sweep's end is the path at the horizon (the summary's `path_end`), not the
    // notebook's extra point past it.
    let end = &summary["path_end"];
    assert_eq!(end["time"].as_f64().unwrap(), 1.0);
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
    // The merged folder's sweep.json is the whole run's: shard 0/1 of the same sweep.
    let json = |d: &str| std::fs::read_to_string(dir.path().join(d).join("sweep.json")).unwrap();
    assert_eq!(json("whole"), json("merged"));
    let meta: serde_json::Value = serde_json::from_str(&json("part1")).unwrap();
    assert_eq!(meta["points"], 9);
    assert_eq!(meta["shard_count"], 3);
    assert_eq!(meta["shards"], serde_json::json!([1]));
    assert_eq!(
        meta["values"][1],
        serde_json::json!(["0.01", "0.03", "0.05"])
    );
    let part = std::fs::read_to_string(dir.path().join("part1/sweep.csv")).unwrap();
    assert_eq!(part.lines().count(), 1 + 3);
    // Overlapping parts are refused.
    let o = mmgame(
        &["sweep-merge", "part0", "part0", "--out", "bad"],
        dir.path(),
    );
    refused(&o, &["shard 0/3 is in both part0 and part0"]);
    assert!(!dir.path().join("bad").exists());
}

/// Asserts a refusal: exit code 2 and one line on stderr holding each of `expected`.
fn refused(o: &std::process::Output, expected: &[&str]) {
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    for x in expected {
        assert!(e.contains(x), "expected {x:?} in: {e}");
    }
}

/// Runs `mmgame sweep` with the default scenario (15 × 15² × 5, a few ms a point) and `args`.
fn sweep(dir: &std::path::Path, args: &[&str]) {
    let mut all = vec!["sweep"];
    all.extend(args);
    let o = mmgame(&all, dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The example: shards of two different sweeps used to merge into fee_speed 0.05,
/// 0.633, 0.15, 0.9. Other keys, another base scenario or another shard count are refused too.
#[test]
fn sweep_merge_refuses_parts_of_different_sweeps() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let shard = |vary: &str, extra: &[&str], shard: &str, out: &str| {
        let mut args = vec!["--vary", vary, "--shard", shard, "--out", out];
        args.extend(extra);
        sweep(d, &args);
    };
    shard("model.fee_speed=0.05:0.2:4", &[], "0/2", "p0");
    shard("model.fee_speed=0.5:0.9:4", &[], "1/2", "q1");
    shard(
        "model.fee_speed=0.05:0.2:4",
        &["--set", "model.risk_weight=0.2"],
        "1/2",
        "r1",
    );
    shard("model.fee_speed=0.05:0.2:4", &[], "1/3", "s1");
    shard("model.risk_weight=0.05:0.2:4", &[], "1/2", "t1");
    shard("model.fee_speed=0.05:0.2:4", &[], "1/2", "p1");
    for (other, expected) in [
        (
            "q1",
            "model.fee_speed is 0.05 … 0.2 (4 values) in p0 but 0.5 … ",
        ),
        ("r1", "their base scenarios differ"),
        ("s1", "p0 is split into 2 shards and s1 into 3"),
        ("t1", "they vary model.fee_speed and model.risk_weight"),
    ] {
        let o = mmgame(&["sweep-merge", "p0", other, "--out", "m"], d);
        refused(
            &o,
            &[
                &format!("sweep-merge: p0 and {other} are parts of different sweeps"),
                expected,
            ],
        );
        // --partial does not mix sweeps either.
        let o = mmgame(&["sweep-merge", "p0", other, "--partial", "--out", "m"], d);
        refused(&o, &[expected]);
        assert!(!d.join("m").exists(), "{other}");
    }
    // The matching shard merges.
    let o = mmgame(&["sweep-merge", "p0", "p1", "--out", "m"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(d.join("m/sweep.csv")).unwrap();
    let speeds: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(speeds, ["0.05", "0.1", "0.15000000000000002", "0.2"]);
}

/// A missing shard is refused, merged with --partial (whose sweep.json lists the shards
/// present), and the partial merge completed by the missing shard equals a whole run.
#[test]
fn a_missing_shard_is_refused_unless_partial() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let vary = ["--vary", "model.fee_speed=0.05:0.2:5"];
    for (shard, out) in [("0/3", "p0"), ("1/3", "p1"), ("2/3", "p2")] {
        sweep(d, &[&vary[..], &["--shard", shard, "--out", out]].concat());
    }
    sweep(d, &[&vary[..], &["--out", "whole"]].concat());
    let o = mmgame(&["sweep-merge", "p0", "p2", "--out", "m"], d);
    refused(
        &o,
        &[
            "1 of 3 shards missing (shard 1/3), 2 of the 5 points",
            "the parts given (p0, p2) hold shards 0, 2 of 3",
            "--partial",
        ],
    );
    assert!(!d.join("m").exists());
    let o = mmgame(&["sweep-merge", "p2", "p0", "--partial", "--out", "m"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("merged 3 of 5 points from 2 parts"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 of 3 shards missing (1), 2 points absent"),
        "{stdout}"
    );
    let csv = std::fs::read_to_string(d.join("m/sweep.csv")).unwrap();
    let indices: Vec<&str> = csv.lines().skip(1).map(|l| &l[..1]).collect();
    assert_eq!(indices, ["0", "2", "3"]);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("m/sweep.json")).unwrap()).unwrap();
    assert_eq!(meta["shard_count"], 3);
    assert_eq!(meta["shards"], serde_json::json!([0, 2]));
    assert_eq!(meta["points"], 5);
    // The partial merge is a part like any other: it still refuses a shard it holds, and with
    // the missing one gives the whole run.
    let o = mmgame(&["sweep-merge", "m", "p0", "p1", "--out", "bad"], d);
    refused(&o, &["shard 0/3 is in both m and p0"]);
    let o = mmgame(&["sweep-merge", "m", "p1", "--out", "full"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for file in ["sweep.csv", "sweep.json"] {
        assert_eq!(
            std::fs::read_to_string(d.join("whole").join(file)).unwrap(),
            std::fs::read_to_string(d.join("full").join(file)).unwrap(),
            "{file}"
        );
    }
}

/// A part without sweep.json (written before it existed), or with a malformed one, is refused.
#[test]
fn a_part_without_its_sweep_json_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sweep(d, &["--vary", "model.fee_speed=0.05:0.2:2", "--out", "p"]);
    std::fs::copy(d.join("p/sweep.csv"), d.join("old.csv")).unwrap();
    let o = mmgame(&["sweep-merge", "old.csv", "--out", "m"], d);
    refused(&o, &["sweep-merge: old.csv has no old.json beside it"]);
    let json = std::fs::read_to_string(d.join("p/sweep.json")).unwrap();
    std::fs::remove_file(d.join("p/sweep.json")).unwrap();
    let o = mmgame(&["sweep-merge", "p", "--out", "m"], d);
    refused(
        &o,
        &[
            "p/sweep.csv has no sweep.json beside it",
            "solve that shard again",
        ],
    );
    for (text, expected) in [
        ("{}".to_string(), "not a sweep.json"),
        (
            json.replace("\"points\": 2", "\"points\": 3"),
            "points = 3 but the values make 2",
        ),
        (
            json.replace("\"shard_count\": 1", "\"shard_count\": 0"),
            "shard count of at least 1",
        ),
        (
            json.replace("\"shards\": [\n    0\n  ]", "\"shards\": [\n    1\n  ]"),
            "shard 1 is not below shard_count 1",
        ),
        (
            json.replace("fee_points = 15", "fee_points = 1"),
            "grid.fee_points = 1: an axis needs at least 2 points",
        ),
    ] {
        assert_ne!(text, json, "{expected}");
        std::fs::write(d.join("p/sweep.json"), text).unwrap();
        let o = mmgame(&["sweep-merge", "p", "--out", "m"], d);
        refused(&o, &["p/sweep.json", expected]);
    }
    assert!(!d.join("m").exists());
}

/// Rows must be the points sweep.json says the part holds, at the sweep's values; outcomes
/// must be numbers (no NaN, inf or `maybe`).
#[test]
fn rows_that_disagree_with_sweep_json_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sweep(
        d,
        &[
            "--vary",
            "model.fee_speed=0.05:0.2:4",
            "--shard",
            "1/2",
            "--out",
            "p",
        ],
    );
    let csv = std::fs::read_to_string(d.join("p/sweep.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[1].starts_with("1,0.1,") && lines[2].starts_with("3,0.2,"),
        "{csv}"
    );
    let json = std::fs::read_to_string(d.join("p/sweep.json")).unwrap();
    let edit = |line: usize, from: &str, to: &str| {
        let mut l = lines.clone();
        let edited = l[line].replacen(from, to, 1);
        assert_ne!(edited, l[line], "{from}");
        l[line] = &edited;
        format!("{}\n", l.join("\n"))
    };
    let values = |line: usize| lines[line].split(',').collect::<Vec<_>>();
    for (name, text, expected) in [
        (
            "value",
            edit(2, ",0.2,", ",0.7,"),
            "point 3 has model.fee_speed = 0.7, but the sweep's value there is 0.2",
        ),
        (
            "maybe_value",
            edit(1, ",0.1,", ",maybe,"),
            "point 1 has model.fee_speed = maybe",
        ),
        (
            "index",
            edit(2, "3,", "2,"),
            "point 2 belongs to shard 0/2, but this part is shard 1/2",
        ),
        (
            "beyond",
            edit(2, "3,", "5,"),
            "point 5 is beyond the sweep's 4 points",
        ),
        (
            "missing",
            format!("{}\n{}\n", lines[0], lines[1]),
            "has 1 of the 2 points of shard 1/2 (point 3 is missing)",
        ),
        (
            "twice",
            format!("{}\n{}\n{}\n", lines[0], lines[1], lines[1]),
            "point 1 appears twice",
        ),
        (
            "nan",
            edit(1, values(1)[7], "NaN"),
            "line 2: value0 `NaN` is not a finite number",
        ),
        (
            "inf",
            edit(2, values(2)[4], "inf"),
            "line 3: end_stake0 `inf` is not a finite number",
        ),
        (
            "maybe",
            edit(1, ",true,", ",maybe,"),
            "line 2: converged `maybe` is not valid",
        ),
    ] {
        let part = d.join(name);
        std::fs::create_dir(&part).unwrap();
        std::fs::write(part.join("sweep.csv"), text).unwrap();
        std::fs::write(part.join("sweep.json"), &json).unwrap();
        let o = mmgame(&["sweep-merge", name, "--partial", "--out", "m"], d);
        refused(&o, &[&format!("{name}/sweep.csv"), expected]);
        assert!(!d.join("m").exists(), "{name}");
    }
}

/// Counts are bounded by what they cost, and refused before anything is allocated: a sweep's
/// points (each a whole solve) and bench's timed runs.
#[test]
fn huge_counts_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (args, expected) in [
        (
            vec![
                "sweep",
                "--vary",
                "model.fee_speed=0.05:0.2:1000000000",
                "--out",
                "x",
            ],
            "COUNT 1000000000 is above the limit of 1000000 points per sweep",
        ),
        (
            vec![
                "sweep",
                "--vary",
                "model.fee_speed=0.05:0.2:99999999999999999999999",
            ],
            "COUNT 99999999999999999999999 is above the limit of 1000000 points",
        ),
        (
            vec![
                "sweep",
                "--vary",
                "model.fee_speed=0.05:0.2:1000",
                "--vary",
                "model.risk_weight=0.1:0.2:1000",
                "--vary",
                "grid.stake_points=15:16:2",
                "--out",
                "x",
            ],
            "sweep: 1000 × 1000 × 2 = 2000000 points is above the limit of 1000000",
        ),
        (
            vec![
                "bench",
                "--runs",
                "1000000000",
                "--backend",
                "cpu",
                "--out",
                "x",
            ],
            "--runs 1000000000: above the limit of 1000 timed runs",
        ),
    ] {
        let start = std::time::Instant::now();
        let o = mmgame(&args, d);
        refused(&o, &[expected]);
        assert!(start.elapsed().as_secs_f64() < 10.0, "{args:?}");
    }
    let names: Vec<_> = std::fs::read_dir(d).unwrap().collect();
    assert!(names.is_empty(), "something was written: {names:?}");
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
