//! Property-based: random scenario files and random `--set` keys and values never panic; the
//! run either solves (finite values) or fails with exit 2 and one line.

mod common;

use proptest::prelude::*;

/// Keys of the scenario (and a few that do not exist), the grid kept small so that a case
/// that solves takes milliseconds.
const KEYS: [&str; 24] = [
    "model.horizon",
    "model.fee_speed",
    "model.risk_weight",
    "model.discount_rate",
    "model.fee_rule",
    "model.fee_response.offset",
    "model.stake_response.slope",
    "model.stake_response.shift",
    "agents.0.volatility",
    "agents.1.capital_cost",
    "agents.1.max_volume",
    "agents.2.volatility",
    "grid.time_points",
    "grid.fee_points",
    "grid.stake_points",
    "grid.fee_max",
    "grid.stake_max",
    "grid.control",
    "solver.scheme",
    "solver.max_iterations",
    "solver.tolerance",
    "solver.interpolation",
    "path.stakes",
    "path.fee",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        (-3i64..12).prop_map(|i| i.to_string()),
        prop_oneof![
            Just(0.0f64),
            Just(-1.0),
            Just(1e308),
            Just(-1e300),
            Just(1e-320),
            -1000.0f64..1000.0
        ]
        .prop_map(|x| format!("{x:e}")),
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("-inf".to_string()),
        Just("equilibrium".to_string()),
        Just("sum".to_string()),
        Just("nearest".to_string()),
        Just("[10, 5]".to_string()),
        Just("[1e308, -3]".to_string()),
        Just("\"text\"".to_string()),
        Just("{ kind = \"reciprocal\", offset = 0 }".to_string()),
        "[a-z=\\[\\]{}\"., 0-9]{0,12}",
    ]
}

fn check(args: &[String], dir: &std::path::Path) -> Result<(), TestCaseError> {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = common::mmgame(&refs, dir);
    let e = common::stderr(&o);
    prop_assert!(!e.contains("panicked"), "{args:?}: {e}");
    match o.status.code() {
        Some(0) => {
            let v: ndarray::ArrayD<f64> = match ndarray_npy::read_npy(dir.join("x/values.npy")) {
                Ok(v) => v,
                Err(_) => return Ok(()),
            };
            prop_assert!(
                v.iter().all(|x| x.is_finite()),
                "{args:?}: non-finite values"
            );
        }
        Some(2) => prop_assert_eq!(e.trim_end().lines().count(), 1, "{:?}: {}", args, e),
        other => prop_assert!(false, "{args:?}: exit {other:?}: {e}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_overrides_never_panic(
        sets in proptest::collection::vec((0..KEYS.len(), value()), 1..4)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = ["solve", "--out", "x", "-q", "--no-plots"]
            .map(String::from)
            .to_vec();
        // Small grids unless a case sets them.
        for small in ["grid.stake_points=7", "grid.fee_points=5", "grid.time_points=3"] {
            args.extend(["--set".to_string(), small.to_string()]);
        }
        for (k, v) in sets {
            args.extend(["--set".to_string(), format!("{}={v}", KEYS[k])]);
        }
        check(&args, dir.path())?;
    }

    #[test]
    fn random_scenario_files_never_panic(
        entries in proptest::collection::vec((0..KEYS.len(), value()), 0..5)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("[grid]\nstake_points = 7\nfee_points = 5\ntime_points = 3\n");
        for (k, v) in entries {
            // As a table entry of its section, which is how a user writes a file.
            let (section, key) = KEYS[k].split_once('.').unwrap();
            text.push_str(&format!("[{section}]\n{key} = {v}\n"));
        }
        std::fs::write(dir.path().join("s.toml"), &text).unwrap();
        let args: Vec<String> = ["solve", "s.toml", "--out", "x", "-q", "--no-plots"]
            .map(String::from)
            .to_vec();
        check(&args, dir.path())?;
    }
}
