"""mmgame: the two-market-maker liquidity game, solved on the CPU (f64) or the GPU, from Python.

A thin layer over the Rust library (``mmgame::api``): every function here calls it, and every
array is a NumPy array with the same dtype, shape and axis order as the CLI's files.

>>> import mmgame
>>> run = mmgame.solve(overrides={"grid.stake_points": 31})
>>> run.values.shape        # (agent, time, fee, stake0, stake1)
(2, 5, 15, 31, 31)
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import shutil
import sys
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np

from . import _native

__all__ = [
    "MmgameError",
    "ScenarioError",
    "GpuUnavailableError",
    "Run",
    "adapters",
    "default_scenario",
    "load",
    "solve",
    "sweep",
    "validate",
]


class MmgameError(Exception):
    """An mmgame error that is neither bad input nor a missing GPU (I/O, a failed validation,
    an overflow, a cancelled solve)."""


class ScenarioError(MmgameError, ValueError):
    """Bad input: a scenario key, a value, an option or a grid too large; the message names the
    key and what is allowed, as the CLI's one-line error does."""


class GpuUnavailableError(MmgameError, RuntimeError):
    """The GPU backend cannot be used: no adapter, no f64 in shaders, or a GPU failure."""


def _raise(e: _native.NativeError) -> None:
    kind, message = e.args
    if kind == "scenario":
        raise ScenarioError(message) from None
    if kind == "gpu":
        raise GpuUnavailableError(message) from None
    if kind == "cancelled":
        raise KeyboardInterrupt(message) from None
    raise MmgameError(message) from None


def _literal(value: Any) -> str:
    """A value as the TOML literal `--set` takes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    raise ScenarioError(f"{value!r}: an override value must be a number, a string, a bool or a list")


def _overrides(overrides: Optional[Mapping[str, Any]]) -> List[str]:
    if overrides is None:
        return []
    if not isinstance(overrides, Mapping):
        raise ScenarioError("overrides: give a dict of dotted keys, e.g. {'grid.stake_points': 31}")
    return [f"{key}={_literal(value)}" for key, value in overrides.items()]


def _scenario(scenario: Union[None, Mapping[str, Any], str, "os.PathLike[str]"]):
    """(JSON of a dict, path of a TOML file) for the native side."""
    if scenario is None:
        return None, None
    if isinstance(scenario, Mapping):
        return json.dumps(scenario), None
    if isinstance(scenario, (str, os.PathLike)):
        return None, os.fspath(scenario)
    raise ScenarioError("scenario: give None (the default), a dict, or the path of a TOML file")


_SOLVER: Optional[Any] = None


def _solver():
    """The session's solver: its GPU context and pipelines are reused by every solve."""
    global _SOLVER
    if _SOLVER is None:
        _SOLVER = _native.Solver()
    return _SOLVER


def default_scenario() -> Dict[str, Any]:
    """The embedded default scenario (the notebook's), with the same keys as the TOML file."""
    return json.loads(_native.default_scenario_json())


class _Bar:
    """A progress line on stderr: iterations, or time step k of N."""

    def __call__(self, event: Dict[str, Any]) -> None:
        if event["kind"] == "iteration":
            text = f"iteration {event['iteration']}: policy change {event['policy_change']:.6g}"
        else:
            text = f"time step {event['done']} of {event['total']}"
        sys.stderr.write("\r" + text + " " * 8)
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")


class Run:
    """A solved scenario: NumPy arrays with the CLI's dtypes, shapes and axis order, the path,
    the summary (``summary.json``) and the coordinates of every axis."""

    def __init__(self, *, values: np.ndarray, policy: Optional[np.ndarray],
                 path: Dict[str, np.ndarray], summary: Dict[str, Any],
                 native: Any = None, folder: Optional[str] = None) -> None:
        self.values = values
        self.policy = policy
        self.path = path
        self.summary = summary
        self._native = native
        self._folder = folder
        axes = summary.get("axes")
        if axes is not None:
            self.fee_grid = np.array(axes["fee"])
            self.stake_grid = np.array(axes["stake"])
            self.times = np.array(axes["time"])
        else:  # a summary.json written before the axes were recorded
            grid = summary["scenario"]["grid"]
            horizon = summary["scenario"]["model"]["horizon"]
            self.fee_grid = np.linspace(0.0, grid["fee_max"], grid["fee_points"])
            self.stake_grid = np.linspace(0.0, grid["stake_max"], grid["stake_points"])
            self.times = np.linspace(0.0, horizon, grid["time_points"])

    @property
    def scheme(self) -> str:
        return self.summary["scheme"]

    @property
    def iterations(self) -> int:
        return int(self.summary.get("iterations", 1))

    @property
    def converged(self) -> bool:
        return bool(self.summary.get("converged", True))

    @property
    def diagnostics(self) -> Optional[List[Dict[str, Any]]]:
        """Per time step of the equilibrium scheme: states without a pure equilibrium, with
        several, the largest selected exploitability, ambiguous selections (None otherwise)."""
        return self.summary.get("diagnostics")

    def start_values(self) -> tuple:
        """Both agents' values at t = 0 at the path's start state (fee, stake0, stake1),
        interpolated trilinearly between the nodes (what ``refine`` and ``sweep`` report)."""
        if self._native is not None:
            return self._native.start_values()
        start = self.summary["scenario"]["path"]
        t0 = self.values[:, 0] if self.values.ndim == 5 else self.values
        out = []
        for agent in range(2):
            v = t0[agent]
            for axis, x in ((self.fee_grid, start["fee"]), (self.stake_grid, start["stakes"][0]),
                            (self.stake_grid, start["stakes"][1])):
                u = min(max(x / axis[1], 0.0), len(axis) - 1.0)
                lo = min(int(np.floor(u)), len(axis) - 2)
                w = u - lo
                v = v[lo] * (1.0 - w) + v[lo + 1] * w
            out.append(float(v))
        return tuple(out)

    def save(self, folder: Union[str, "os.PathLike[str]"]) -> None:
        """Writes exactly the CLI's files (values.npy, policy.npy, path.csv, summary.json)."""
        folder = os.fspath(folder)
        if self._native is not None:
            try:
                self._native.save(folder)
            except _native.NativeError as e:
                _raise(e)
            return
        os.makedirs(folder, exist_ok=True)
        for name in ("values.npy", "policy.npy", "path.csv", "summary.json"):
            if name == "policy.npy" and self.policy is None:
                continue
            shutil.copyfile(os.path.join(self._folder, name), os.path.join(folder, name))

    def __repr__(self) -> str:
        g = self.summary["scenario"]["grid"]
        where = f"{self.summary['backend']} {self.summary['precision']}"
        return (f"<mmgame.Run {self.scheme} on {where}: {g['fee_points']} fee x "
                f"{g['stake_points']}^2 stake x {g['time_points']} time points, "
                f"{self.iterations} iterations, {self.summary['solve_seconds']:.3g} s>")


def _path_arrays(points: Sequence[Dict[str, Any]]) -> Dict[str, np.ndarray]:
    """path.csv's columns as 1-D arrays (actions NaN where the path takes none)."""
    def action(p, i):
        return float(p["actions"][i]) if p.get("actions") is not None else np.nan
    return {
        "step": np.array([p["step"] for p in points], dtype=np.int64),
        "time": np.array([p["time"] for p in points], dtype=np.float64),
        "fee": np.array([p["fee"] for p in points], dtype=np.float64),
        "stake0": np.array([p["stakes"][0] for p in points], dtype=np.float64),
        "stake1": np.array([p["stakes"][1] for p in points], dtype=np.float64),
        "action0": np.array([action(p, 0) for p in points], dtype=np.float64),
        "action1": np.array([action(p, 1) for p in points], dtype=np.float64),
        "beyond_horizon": np.array([bool(p.get("beyond_horizon", False)) for p in points]),
    }


def _run(native: Any) -> Run:
    summary = json.loads(native.summary_json())
    return Run(values=native.values(), policy=native.policy(), path=_path_arrays(summary["path"]),
               summary=summary, native=native)


def solve(scenario: Union[None, Mapping[str, Any], str, "os.PathLike[str]"] = None, *,
          overrides: Optional[Mapping[str, Any]] = None, backend: str = "cpu",
          precision: Optional[str] = None, adapter: Optional[str] = None,
          save_values: str = "t0", save_policy: str = "all",
          progress: Union[None, bool, Callable[[Dict[str, Any]], None]] = None) -> Run:
    """Solves a scenario: None (the default), a dict of scenario keys, or the path of a TOML
    file; ``overrides`` as ``--set`` (``{"agents.1.volatility": 0.3}``). ``backend`` is "cpu",
    "gpu" or "auto"; ``precision`` "f32" or "f64" (the GPU; the CPU is f64). ``progress``: True
    for a line on stderr, or a callable receiving each event as a dict. ``save_values``
    ("t0" or "all": the equilibrium scheme's value slices) and ``save_policy`` ("all", "t0" or
    "none") choose what ``values``, ``policy`` and ``Run.save`` hold. The GIL is released
    while solving; Ctrl-C stops the solve at its next time step (KeyboardInterrupt)."""
    json_text, path = _scenario(scenario)
    bar = _Bar() if progress is True else None
    callback = bar if bar is not None else (progress or None)
    try:
        native = _solver().solve(json_text, path, _overrides(overrides), backend, precision,
                                 adapter, save_values, save_policy, callback)
    except _native.NativeError as e:
        _raise(e)
    finally:
        if bar is not None:
            bar.close()
    return _run(native)


def load(folder: Union[str, "os.PathLike[str]"]) -> Run:
    """Reads a run written by the CLI (``mmgame solve --out``) or by ``Run.save``."""
    folder = os.fspath(folder)
    try:
        with open(os.path.join(folder, "summary.json")) as f:
            summary = json.load(f)
        values = np.load(os.path.join(folder, "values.npy"))
        policy_file = os.path.join(folder, "policy.npy")
        # Absent when the run was written with --save-policy none.
        policy = np.load(policy_file) if os.path.exists(policy_file) else None
    except (OSError, ValueError) as e:
        raise MmgameError(f"{folder}: not a finished mmgame run ({e})") from None
    return Run(values=values, policy=policy, path=_path_arrays(summary["path"]), summary=summary,
               folder=folder)


def validate(scenario: Union[None, Mapping[str, Any], str, "os.PathLike[str]"] = None, *,
             overrides: Optional[Mapping[str, Any]] = None, precision: Optional[str] = None,
             adapter: Optional[str] = None) -> Dict[str, Any]:
    """The report of ``mmgame validate`` as data: both runs' summaries, the GPU judged step by
    step against f64 from its own inputs (``passes``, ``errors``, ...) and the drift."""
    json_text, path = _scenario(scenario)
    try:
        return json.loads(_solver().validate(json_text, path, _overrides(overrides), precision,
                                             adapter))
    except _native.NativeError as e:
        _raise(e)


_SWEEP_COLUMNS = ("iterations", "converged", "end_stake0", "end_stake1", "end_fee", "value0",
                  "value1")


def _sweep_point(args) -> Dict[str, Any]:
    """One sweep point, in this process (what an executor's worker runs)."""
    scenario, overrides, backend, precision = args
    run = solve(scenario, overrides=overrides, backend=backend, precision=precision)
    # The path at the horizon, as sweep.csv has it (not the notebook's point past it).
    at = int(np.flatnonzero(~run.path["beyond_horizon"])[-1])
    end = {key: run.path[key][at] for key in ("stake0", "stake1", "fee")}
    value0, value1 = run.start_values()
    return {"iterations": run.iterations, "converged": run.converged,
            "end_stake0": end["stake0"], "end_stake1": end["stake1"], "end_fee": end["fee"],
            "value0": value0, "value1": value1}


def sweep(scenario: Union[None, Mapping[str, Any], str, "os.PathLike[str]"] = None, *,
          vary: Mapping[str, Iterable[Any]], overrides: Optional[Mapping[str, Any]] = None,
          backend: str = "cpu", precision: Optional[str] = None,
          executor: Any = None) -> Dict[str, np.ndarray]:
    """Solves the scenario at every combination of the ``vary`` values (the first key major),
    in this process with one reused solver, or on ``executor`` (any
    ``concurrent.futures.Executor``: a ``ProcessPoolExecutor``, or a Dask / Ray one for a
    cluster). Returns sweep.csv's columns as 1-D arrays."""
    if not vary:
        raise ScenarioError("sweep: give at least one key to vary, e.g. vary={'model.fee_speed': [0.1, 0.2]}")
    keys = list(vary)
    values = [list(vary[k]) for k in keys]
    points = list(itertools.product(*values))
    base = dict(overrides or {})
    tasks = [(scenario, {**base, **dict(zip(keys, p))}, backend, precision) for p in points]
    if executor is None:
        outcomes = [_sweep_point(t) for t in tasks]
    else:
        outcomes = list(executor.map(_sweep_point, tasks))
    table: Dict[str, np.ndarray] = {"index": np.arange(len(points))}
    for i, k in enumerate(keys):
        table[k] = np.array([p[i] for p in points])
    for column in _SWEEP_COLUMNS:
        table[column] = np.array([o[column] for o in outcomes])
    return table


def adapters() -> List[Dict[str, Any]]:
    """The GPU adapters wgpu sees, with the limits that matter (what ``mmgame info`` shows)."""
    return json.loads(_native.adapters_json())
