"""Type stubs of the mmgame package (see __init__.py for the documentation)."""

import os
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Union

import numpy as np

ScenarioLike = Union[None, Mapping[str, Any], str, "os.PathLike[str]"]

class MmgameError(Exception): ...
class ScenarioError(MmgameError, ValueError): ...
class GpuUnavailableError(MmgameError, RuntimeError): ...

class Run:
    values: np.ndarray
    """(agent, time, fee, stake0, stake1), or (agent, fee, stake0, stake1) at t = 0 for an
    equilibrium run that kept only that slice; float64 (float32 from the GPU in f32)."""
    policy: Optional[np.ndarray]
    """int8 actions (−m, 0, m, or the notebook's initial 1), (agent, time, fee, stake0, stake1)."""
    path: Dict[str, np.ndarray]
    """path.csv's columns: step, time, fee, stake0, stake1, action0, action1 (NaN: no action)."""
    summary: Dict[str, Any]
    """summary.json."""
    fee_grid: np.ndarray
    stake_grid: np.ndarray
    times: np.ndarray
    @property
    def scheme(self) -> str: ...
    @property
    def iterations(self) -> int: ...
    @property
    def converged(self) -> bool: ...
    @property
    def diagnostics(self) -> Optional[List[Dict[str, Any]]]: ...
    def start_values(self) -> tuple: ...
    def save(self, folder: Union[str, "os.PathLike[str]"]) -> None: ...

def default_scenario() -> Dict[str, Any]: ...
def solve(
    scenario: ScenarioLike = None,
    *,
    overrides: Optional[Mapping[str, Any]] = None,
    backend: str = "cpu",
    precision: Optional[str] = None,
    adapter: Optional[str] = None,
    save_values: str = "t0",
    save_policy: str = "all",
    progress: Union[None, bool, Callable[[Dict[str, Any]], None]] = None,
) -> Run: ...
def load(folder: Union[str, "os.PathLike[str]"]) -> Run: ...
def validate(
    scenario: ScenarioLike = None,
    *,
    overrides: Optional[Mapping[str, Any]] = None,
    precision: Optional[str] = None,
    adapter: Optional[str] = None,
) -> Dict[str, Any]: ...
def sweep(
    scenario: ScenarioLike = None,
    *,
    vary: Mapping[str, Iterable[Any]],
    overrides: Optional[Mapping[str, Any]] = None,
    backend: str = "cpu",
    precision: Optional[str] = None,
    executor: Any = None,
) -> Dict[str, np.ndarray]: ...
def adapters() -> List[Dict[str, Any]]: ...
