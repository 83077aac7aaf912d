//! Every scenario in scenarios/ loads, and all but the fine GPU grid solve as they are.

use std::path::{Path, PathBuf};
use std::process::Command;

use mmgame::config::{Scenario, DEFAULT_SCENARIO};

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_scenario_loads_and_says_what_it_is() {
    let files = scenario_files();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "default.toml",
        "asymmetric.toml",
        "sum_rule.toml",
        "fine_gpu.toml",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "scenarios/{expected} missing: {names:?}"
        );
    }
    for file in &files {
        let scenario =
            Scenario::load(Some(file), &[]).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            text.starts_with("# mmgame scenario: "),
            "{}: no comment header",
            file.display()
        );
        match file.file_name().unwrap().to_str().unwrap() {
            "default.toml" => {
                assert_eq!(
                    text, DEFAULT_SCENARIO,
                    "the embedded default is scenarios/default.toml"
                );
                assert_eq!(scenario, Scenario::default());
            }
            "asymmetric.toml" => {
                let (a0, a1) = (scenario.agents[0], scenario.agents[1]);
                assert!(a1.volatility > a0.volatility);
                assert!(a1.capital_cost > a0.capital_cost);
                assert!(a1.max_volume < a0.max_volume);
            }
            "sum_rule.toml" => {
                assert_eq!(scenario.model.fee_rule, mmgame::model::FeeRule::Sum);
            }
            "fine_gpu.toml" => {
                assert_eq!(
                    (
                        scenario.grid.fee_points,
                        scenario.grid.stake_points,
                        scenario.grid.time_points
                    ),
                    (41, 81, 11)
                );
            }
            _ => {}
        }
    }
}

#[test]
fn every_small_scenario_solves_on_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    for file in scenario_files() {
        if file.file_name().is_some_and(|n| n == "fine_gpu.toml") {
            continue;
        }
        let out = dir.path().join(file.file_stem().unwrap());
        let o = Command::new(env!("CARGO_BIN_EXE_mmgame"))
            .arg("solve")
            .arg(&file)
            .args(["--backend", "cpu", "--no-plots", "-q", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(
            summary["converged"],
            true,
            "{} did not converge",
            file.display()
        );
    }
}
