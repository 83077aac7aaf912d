"""The Python package against the notebook's golden outputs (tests/data in the repository),
the CLI's files, and its error, executor and interrupt contracts."""

import concurrent.futures
import json
import os
import pathlib
import signal
import subprocess
import threading

import numpy as np
import pytest

import mmgame

DATA = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data"
GPU = bool(mmgame.adapters())
REQUIRE_GPU = os.environ.get("REQUIRE_GPU") == "1"


def gpu_or_skip():
    if not GPU:
        if REQUIRE_GPU:
            pytest.fail("REQUIRE_GPU=1 but no GPU adapter")
        pytest.skip("no GPU adapter")


def check_golden(run, name):
    """Actions and path identical to the notebook's, values within 1e-9 relative, the policy
    change trace equal."""
    ref = DATA / name
    a_ref = np.load(ref / "a_vals.npy")
    assert run.policy.shape == a_ref.shape
    assert np.array_equal(run.policy, a_ref)
    v_ref = np.load(ref / "v_vals_new.npy")
    rel = np.max(np.abs(run.values - v_ref) / np.maximum(np.abs(v_ref), 1.0))
    assert rel <= 1e-9, rel
    assert np.array_equal(run.path["fee"], np.load(ref / "fees.npy"))
    assert np.array_equal(run.path["stake0"], np.load(ref / "stakes0.npy"))
    assert np.array_equal(run.path["stake1"], np.load(ref / "stakes1.npy"))
    diffs = json.loads((ref / "numpy_port_summary.json").read_text())["diffs"]
    cells = run.summary["scenario"]["grid"]["fee_points"] * run.summary["scenario"]["grid"]["stake_points"]
    ours = np.round(np.array(run.summary["policy_change"]) * cells)
    assert np.array_equal(ours, np.round(np.array(diffs) * cells))


def test_default_run_is_the_notebooks():
    run = mmgame.solve()
    assert run.iterations == 7 and run.converged
    assert run.values.dtype == np.float64
    assert not run.values.flags.owndata, "values are handed over without a copy"
    check_golden(run, "default")
    assert np.array_equal(run.fee_grid, np.linspace(0, 1, 15))
    assert np.array_equal(run.stake_grid, np.linspace(0, 120, 15))
    assert np.array_equal(run.times, np.linspace(0, 1, 5))
    assert "notebook on cpu f64" in repr(run)


def test_default_run_on_the_gpu():
    gpu_or_skip()
    run = mmgame.solve(backend="gpu", precision="f64")
    check_golden(run, "default")
    f32 = mmgame.solve(backend="gpu")
    assert f32.values.dtype == np.float32
    assert np.array_equal(f32.policy, np.load(DATA / "default" / "a_vals.npy"))


# The asymmetric golden configuration as --set overrides (tests/data/asymmetric/scenario.toml).
ASYMMETRIC = {
    "grid.fee_points": 11, "grid.stake_points": 13, "grid.time_points": 4, "grid.control": 2,
    "agents.1.volatility": 0.3, "agents.1.capital_cost": 0.02, "agents.1.max_volume": 15000,
    "model.fee_speed": 0.2, "path.stakes": [20, 5], "path.fee": 0.3,
}


def test_a_golden_configuration_through_overrides_a_dict_and_a_toml_path():
    by_overrides = mmgame.solve(overrides=ASYMMETRIC)
    check_golden(by_overrides, "asymmetric")
    scenario = mmgame.default_scenario()
    for key, value in ASYMMETRIC.items():
        table = scenario
        *parents, last = key.split(".")
        for p in parents:
            table = table[int(p)] if isinstance(table, list) else table[p]
        table[last] = value
    by_dict = mmgame.solve(scenario)
    by_path = mmgame.solve(DATA / "asymmetric" / "scenario.toml")
    for run in (by_dict, by_path):
        assert np.array_equal(run.values, by_overrides.values)
        assert np.array_equal(run.policy, by_overrides.policy)


def test_errors_name_the_key_and_have_the_documented_types():
    with pytest.raises(mmgame.ScenarioError, match="grid.fee_points = 1") as e:
        mmgame.solve(overrides={"grid.fee_points": 1})
    assert isinstance(e.value, ValueError)
    with pytest.raises(ValueError, match="model.fee_rule"):
        mmgame.solve(overrides={"model.fee_rule": "median"})
    with pytest.raises(mmgame.ScenarioError, match="backend"):
        mmgame.solve(backend="tpu")
    with pytest.raises(mmgame.ScenarioError, match="needs .* available"):
        mmgame.solve(overrides={"grid.stake_points": 200000})
    with pytest.raises(mmgame.GpuUnavailableError) as e:
        mmgame.solve(backend="gpu", adapter="no such adapter")
    assert isinstance(e.value, RuntimeError)


def test_equilibrium_scheme_and_diagnostics():
    run = mmgame.solve(overrides={"solver.scheme": "equilibrium"})
    assert run.values.shape == (2, 15, 15, 15)
    assert len(run.diagnostics) == 4
    assert sum(d["several_equilibria"] for d in run.diagnostics) == 1794
    every = mmgame.solve(overrides={"solver.scheme": "equilibrium"}, save_values="all")
    assert every.values.shape == (2, 5, 15, 15, 15)
    assert np.array_equal(every.values[:, 0], run.values)


def test_save_policy_t0_and_none(tmp_path):
    for scheme in ("notebook", "equilibrium"):
        overrides = {"solver.scheme": scheme}
        every = mmgame.solve(overrides=overrides)
        first = mmgame.solve(overrides=overrides, save_policy="t0")
        assert first.policy.dtype == np.int8 and first.policy.shape == (2, 15, 15, 15)
        assert np.array_equal(first.policy, every.policy[:, 0])
        none = mmgame.solve(overrides=overrides, save_policy="none")
        assert none.policy is None
        assert np.array_equal(none.values, every.values)
        none.save(tmp_path / scheme)
        assert not (tmp_path / scheme / "policy.npy").exists()
        assert mmgame.load(tmp_path / scheme).policy is None
    with pytest.raises(ValueError):
        mmgame.solve(save_policy="some")


def test_save_writes_the_clis_files_and_load_reads_them(tmp_path):
    run = mmgame.solve()
    run.save(tmp_path / "py")
    cli = pathlib.Path(os.environ.get("MMGAME_BIN", DATA.parents[1] / "target" / "release" / "mmgame"))
    if cli.exists():
        subprocess.run([str(cli), "solve", "--out", str(tmp_path / "cli"), "-q", "--no-plots"], check=True,
                       capture_output=True)
        for name in ("values.npy", "policy.npy", "path.csv"):
            assert (tmp_path / "py" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name
    back = mmgame.load(tmp_path / "py")
    assert np.array_equal(back.values, run.values)
    assert np.array_equal(back.policy, run.policy)
    for key in run.path:
        assert np.array_equal(back.path[key], run.path[key], equal_nan=True)
    assert back.summary["scenario"] == run.summary["scenario"]
    assert np.allclose(back.start_values(), run.start_values(), rtol=1e-12, atol=0)
    back.save(tmp_path / "again")
    assert (tmp_path / "again" / "values.npy").read_bytes() == (tmp_path / "py" / "values.npy").read_bytes()


def test_validate_returns_the_report_as_data():
    gpu_or_skip()
    report = mmgame.validate(precision="f64")
    assert report["passes"] and report["scheme"] == "notebook"
    assert report["identical_actions"] == report["states"] == 33750
    assert report["errors"] == [] and report["value_difference"] == 0.0


def test_sweep_on_a_process_pool_equals_the_in_process_sweep():
    vary = {"model.fee_speed": [0.05, 0.125, 0.2], "agents.1.capital_cost": [0.01, 0.05]}
    here = mmgame.sweep(vary=vary)
    assert len(here["index"]) == 6
    assert np.array_equal(here["model.fee_speed"], [0.05, 0.05, 0.125, 0.125, 0.2, 0.2])
    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as pool:
        there = mmgame.sweep(vary=vary, executor=pool)
    assert here.keys() == there.keys()
    for key in here:
        assert np.array_equal(here[key], there[key]), key


def test_progress_callback_hears_each_iteration():
    events = []
    mmgame.solve(progress=events.append)
    assert [e["iteration"] for e in events] == list(range(1, 8))
    assert events[-1]["policy_change"] == 0.0


def test_ctrl_c_stops_a_long_solve():
    # A background shell may start Python with SIGINT ignored: restore Python's handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        mmgame.solve(overrides={"solver.scheme": "equilibrium", "grid.fee_points": 31,
                                "grid.stake_points": 121, "grid.time_points": 400})
    timer.join()
