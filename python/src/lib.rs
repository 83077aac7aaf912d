//! The Python binding of mmgame: a thin layer over `mmgame::api` (no logic the Rust API
//! lacks). The Python package `mmgame` (python/mmgame/__init__.py) wraps this native module
//! `mmgame._native` with the documented functions, classes and exceptions.

use std::sync::mpsc;
use std::time::Duration;

use mmgame::api::{
    Backend, Cancel, Event, Output, Precision, Run, SavePolicy, SaveValues, SolveOptions, Solver,
    Values,
};
use mmgame::config::Scenario;
use mmgame::Error;
use numpy::{PyArray1, PyArrayDyn, PyArrayMethods};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyDict;

pyo3::create_exception!(
    _native,
    NativeError,
    PyException,
    "An mmgame error: args are (kind, message); the Python package maps it to its classes."
);

/// The Python exception for `e`: (kind, one-line message), kind one of "scenario", "gpu",
/// "cancelled", "error".
fn to_py(e: Error) -> PyErr {
    let kind = match &e {
        Error::Input(_) | Error::TooLarge(_) => "scenario",
        Error::Gpu(_) => "gpu",
        Error::Cancelled => "cancelled",
        _ => "error",
    };
    NativeError::new_err((kind, e.to_string()))
}

/// The scenario from the caller's choice: a JSON text of a dict, a TOML file's path, or the
/// embedded default; then the `--set`-style overrides.
fn scenario(
    json: Option<&str>,
    path: Option<&str>,
    overrides: Vec<String>,
) -> Result<Scenario, Error> {
    match (json, path) {
        (Some(json), _) => {
            let value: serde_json::Value = serde_json::from_str(json)
                .map_err(|e| Error::Input(format!("scenario: not a table of keys ({e})")))?;
            let table: toml::Table = serde_json::from_value(value)
                .map_err(|e| Error::Input(format!("scenario: {e}")))?;
            let text =
                toml::to_string(&table).map_err(|e| Error::Input(format!("scenario: {e}")))?;
            Scenario::from_toml(&text, "scenario", &overrides)
        }
        (None, Some(path)) => Scenario::load(Some(std::path::Path::new(path)), &overrides),
        (None, None) => Scenario::load(None, &overrides),
    }
}

/// The option `key`'s value `value` among `allowed`, or an input error naming them all:
/// `backend "tpu": give "cpu", "gpu" or "auto"`.
fn choice<T: Copy>(key: &str, value: &str, allowed: &[(&str, T)]) -> Result<T, Error> {
    if let Some((_, v)) = allowed.iter().find(|(name, _)| *name == value) {
        return Ok(*v);
    }
    let names: Vec<String> = allowed.iter().map(|(n, _)| format!("{n:?}")).collect();
    let (last, rest) = names.split_last().expect("at least one choice");
    let listed = if rest.is_empty() {
        last.clone()
    } else {
        format!("{} or {last}", rest.join(", "))
    };
    Err(Error::Input(format!("{key} {value:?}: give {listed}")))
}

fn options(
    backend: &str,
    precision: Option<&str>,
    adapter: Option<String>,
    save_values: &str,
    save_policy: &str,
) -> Result<SolveOptions, Error> {
    use Backend::{Auto, Cpu, Gpu};
    let backend = choice(
        "backend",
        backend,
        &[("cpu", Cpu), ("gpu", Gpu), ("auto", Auto)],
    )?;
    let precision = match precision {
        None => None,
        Some(p) => Some(choice(
            "precision",
            p,
            &[("f32", Precision::F32), ("f64", Precision::F64)],
        )?),
    };
    let save_values = choice(
        "save_values",
        save_values,
        &[("t0", SaveValues::T0), ("all", SaveValues::All)],
    )?;
    let save_policy = choice(
        "save_policy",
        save_policy,
        &[
            ("all", SavePolicy::All),
            ("t0", SavePolicy::T0),
            ("none", SavePolicy::None),
        ],
    )?;
    Ok(SolveOptions {
        backend,
        adapter,
        precision,
        save_values,
        save_policy,
        output: Output::Memory,
        ..Default::default()
    })
}

/// An event as a dict for the caller's progress callback.
fn event_dict<'py>(py: Python<'py>, e: &Event) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    match *e {
        Event::Iteration {
            iteration,
            policy_change,
        } => {
            d.set_item("kind", "iteration")?;
            d.set_item("iteration", iteration)?;
            d.set_item("policy_change", policy_change)?;
        }
        Event::TimeStep {
            done,
            total,
            states,
        } => {
            d.set_item("kind", "time_step")?;
            d.set_item("done", done)?;
            d.set_item("total", total)?;
            d.set_item("states", states)?;
        }
    }
    Ok(d)
}

/// Solves on a worker thread with the GIL released. This thread waits for the solve's events,
/// forwards them to `progress`, and checks for Ctrl-C every 50 ms: a KeyboardInterrupt (or an
/// exception from `progress`) cancels the solve, which stops at its next time step.
fn solve_detached(
    py: Python<'_>,
    solver: &Solver,
    scenario: &Scenario,
    options: &SolveOptions,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<Run> {
    let cancel: Cancel = options.cancel.clone();
    let (tx, rx) = mpsc::channel::<Event>();
    // Waited on with the GIL released, from this thread only: the Mutex makes the receiver
    // shareable, as releasing the GIL requires.
    let rx = std::sync::Mutex::new(rx);
    std::thread::scope(|s| {
        let worker = s.spawn(move || {
            let mut observer = |e: &Event| {
                let _ = tx.send(*e);
            };
            solver.solve(scenario, options, &mut observer)
        });
        let mut failure: Option<PyErr> = None;
        loop {
            let next = py.detach(|| match rx.lock() {
                Ok(rx) => rx.recv_timeout(Duration::from_millis(50)),
                Err(_) => Err(mpsc::RecvTimeoutError::Disconnected),
            });
            match next {
                Ok(event) => {
                    if let (Some(callback), None) = (progress, &failure) {
                        if let Err(e) = event_dict(py, &event).and_then(|d| callback.call1((d,))) {
                            cancel.cancel();
                            failure = Some(e);
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if failure.is_none() {
                if let Err(e) = py.check_signals() {
                    cancel.cancel();
                    failure = Some(e);
                }
            }
        }
        let result = py.detach(|| worker.join());
        match (failure, result) {
            (Some(e), _) => Err(e),
            (None, Ok(run)) => run.map_err(to_py),
            (None, Err(_)) => Err(to_py(Error::Internal("the solve's thread panicked".into()))),
        }
    })
}

/// A solver kept for a Python session: its GPU contexts and pipelines are reused by every solve.
#[pyclass(name = "Solver", module = "mmgame._native", frozen)]
struct PySolver {
    solver: Solver,
}

#[pymethods]
impl PySolver {
    #[new]
    fn new() -> Self {
        PySolver {
            solver: Solver::new(),
        }
    }

    /// Solves a scenario (JSON of a dict, or a TOML path, or the default) with overrides
    /// ("key=value" as `--set`); returns a NativeRun.
    #[pyo3(signature = (scenario_json, scenario_path, overrides, backend, precision, adapter, save_values, save_policy, progress))]
    #[allow(clippy::too_many_arguments)]
    fn solve(
        &self,
        py: Python<'_>,
        scenario_json: Option<&str>,
        scenario_path: Option<&str>,
        overrides: Vec<String>,
        backend: &str,
        precision: Option<&str>,
        adapter: Option<String>,
        save_values: &str,
        save_policy: &str,
        progress: Option<Bound<'_, PyAny>>,
    ) -> PyResult<NativeRun> {
        let s = scenario(scenario_json, scenario_path, overrides).map_err(to_py)?;
        let options =
            options(backend, precision, adapter, save_values, save_policy).map_err(to_py)?;
        let run = solve_detached(py, &self.solver, &s, &options, progress.as_ref())?;
        Ok(NativeRun { run })
    }

    /// `mmgame validate` as JSON text.
    #[pyo3(signature = (scenario_json, scenario_path, overrides, precision, adapter))]
    fn validate(
        &self,
        py: Python<'_>,
        scenario_json: Option<&str>,
        scenario_path: Option<&str>,
        overrides: Vec<String>,
        precision: Option<&str>,
        adapter: Option<String>,
    ) -> PyResult<String> {
        let s = scenario(scenario_json, scenario_path, overrides).map_err(to_py)?;
        let precision = match precision {
            Some("f64") => Precision::F64,
            Some("f32") | None => Precision::F32,
            Some(other) => {
                return Err(to_py(Error::Input(format!(
                    "precision {other:?}: give \"f32\" or \"f64\""
                ))))
            }
        };
        let report = py
            .detach(|| {
                mmgame::tools::validate::validate(&self.solver, &s, adapter.as_deref(), precision)
            })
            .map_err(to_py)?;
        Ok(validation_json(&report).to_string())
    }
}

fn validation_json(report: &mmgame::tools::validate::Report) -> serde_json::Value {
    use mmgame::tools::validate::Report;
    use serde_json::json;
    match report {
        Report::Notebook {
            cpu,
            gpu,
            steps,
            drift,
        } => json!({
            "scheme": "notebook",
            "passes": report.passes(),
            "cpu": cpu.summary(),
            "gpu": gpu.summary(),
            "iterations": steps.iterations,
            "decisions": steps.decisions,
            "errors": steps.errors.iter().map(|(k, at, loss)| json!({
                "iteration": k, "agent": at[0], "time": at[1], "fee": at[2], "stake0": at[3], "stake1": at[4], "loss": loss
            })).collect::<Vec<_>>(),
            "ties": steps.ties,
            "epsilon": steps.epsilon,
            "largest_loss": steps.largest_loss,
            "value_error": steps.value_error,
            "first_parting_iteration": steps.first_parting,
            "identical_actions": drift.identical,
            "states": drift.states,
            "value_difference": drift.value_difference,
        }),
        Report::Equilibrium {
            cpu,
            gpu,
            agreement: a,
        } => json!({
            "scheme": "equilibrium",
            "passes": report.passes(),
            "cpu": cpu.summary(),
            "gpu": gpu.summary(),
            "invalid": a.invalid.iter().map(|(at, miss)| json!({
                "time": at[0], "fee": at[1], "stake0": at[2], "stake1": at[3], "miss": miss
            })).collect::<Vec<_>>(),
            "value_error": a.value_error,
            "largest_miss": a.largest_miss,
            "first_parting_time_step": a.first_parting,
            "identical_actions": a.identical,
            "states": a.states,
            "value_difference": a.value_difference,
        }),
    }
}

/// A solved run, holding the Rust `Run`; its arrays are handed to NumPy without copies.
#[pyclass(name = "NativeRun", module = "mmgame._native", frozen)]
struct NativeRun {
    run: Run,
}

/// A NumPy array viewing `values` (owned by `owner`, a NativeRun) with `shape`, no copy.
fn view<'py, T: numpy::Element>(
    values: &[T],
    shape: &[usize],
    owner: &Bound<'py, NativeRun>,
) -> PyResult<Bound<'py, PyAny>> {
    let array = ndarray::ArrayView::from_shape(shape, values)
        .map_err(|e| to_py(Error::Internal(format!("array shape: {e}"))))?;
    // SAFETY: the NativeRun is frozen and owns `values`, so the memory lives and does not
    // change as long as the NumPy array (which keeps `owner` alive) exists.
    let a =
        unsafe { PyArrayDyn::<T>::borrow_from_array(&array.into_dyn(), owner.clone().into_any()) };
    a.readwrite().make_nonwriteable();
    Ok(a.into_any())
}

#[pymethods]
impl NativeRun {
    /// The values: (2, time, fee, stake0, stake1) for the notebook scheme and for an
    /// equilibrium run that kept every slice, else (2, fee, stake0, stake1) at t = 0; float64
    /// from the CPU (and f64 GPU runs), float32 from the GPU in f32.
    fn values<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let run = &slf.get().run;
        let g = run.grid();
        let (nt, nf, ns) = (g.time.len(), g.fee.len(), g.stake.len());
        let full = [2, nt, nf, ns, ns];
        match &run.outcome {
            mmgame::api::Outcome::Notebook(s) => match &s.values {
                Values::F64(v) => view(v, &full, slf),
                Values::F32(v) => view(v, &full, slf),
            },
            mmgame::api::Outcome::Equilibrium(e) => match (&e.memory, e.save_values) {
                (Some(m), SaveValues::All) => view(&m.values, &full, slf),
                _ => match &e.values_t0 {
                    Values::F64(v) => view(
                        v,
                        &full[..1]
                            .iter()
                            .chain(&full[2..])
                            .copied()
                            .collect::<Vec<_>>(),
                        slf,
                    ),
                    Values::F32(v) => view(
                        v,
                        &full[..1]
                            .iter()
                            .chain(&full[2..])
                            .copied()
                            .collect::<Vec<_>>(),
                        slf,
                    ),
                },
            },
        }
    }

    /// The policy as int8 action values (−m, 0, m, or the notebook's initial 1), as
    /// policy.npy holds it: shape (2, time, fee, stake0, stake1), (2, fee, stake0, stake1)
    /// with save_policy "t0", None with "none".
    fn policy<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let run = &self.run;
        let g = run.grid();
        let codes: &[u8] = match &run.outcome {
            mmgame::api::Outcome::Notebook(s) => &s.policy,
            mmgame::api::Outcome::Equilibrium(e) => match &e.memory {
                Some(m) => &m.policy,
                None => return Err(to_py(Error::Internal("this run kept no policy".into()))),
            },
        };
        let Some(shape) = run.save_policy.shape(&g) else {
            return Ok(None);
        };
        // t = 0 is the first slice of each agent's block of time slices.
        let kept = shape.iter().product::<usize>() / 2;
        let table = g.actions.int8_table();
        let actions: Vec<i8> = [0, codes.len() / 2]
            .iter()
            .flat_map(|&start| &codes[start..start + kept])
            .map(|&c| table[c as usize & 3])
            .collect();
        let a = PyArray1::from_vec(py, actions);
        Ok(Some(a.reshape(shape)?.into_any()))
    }

    /// summary.json, as JSON text.
    fn summary_json(&self) -> String {
        self.run.summary().to_json()
    }

    /// Both agents' values at the path's start (interpolated at t = 0).
    fn start_values(&self) -> (f64, f64) {
        let [a, b] = self.run.start_values();
        (a, b)
    }

    /// Writes the CLI's files into `folder`.
    fn save(&self, py: Python<'_>, folder: &str) -> PyResult<()> {
        py.detach(|| self.run.save(std::path::Path::new(folder)))
            .map_err(to_py)
    }
}

/// The embedded default scenario as JSON text.
#[pyfunction]
fn default_scenario_json() -> PyResult<String> {
    serde_json::to_string(&Scenario::default()).map_err(|e| to_py(Error::Internal(e.to_string())))
}

/// The scenario (resolved and validated) as JSON text.
#[pyfunction]
#[pyo3(signature = (scenario_json, scenario_path, overrides))]
fn resolve_scenario_json(
    scenario_json: Option<&str>,
    scenario_path: Option<&str>,
    overrides: Vec<String>,
) -> PyResult<String> {
    let s = scenario(scenario_json, scenario_path, overrides).map_err(to_py)?;
    serde_json::to_string(&s).map_err(|e| to_py(Error::Internal(e.to_string())))
}

/// `mmgame info` as JSON text: every adapter wgpu sees.
#[pyfunction]
fn adapters_json() -> String {
    serde_json::to_string(&mmgame::gpu::context::adapters()).unwrap_or_else(|_| "[]".into())
}

#[pymodule(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // rust-numpy loads NumPy's C API lazily by running Python code; do it now, so that a
    // Ctrl-C pending later cannot interrupt that load.
    let _ = PyArray1::<f64>::zeros(m.py(), 0, false);
    m.add("NativeError", m.py().get_type::<NativeError>())?;
    m.add_class::<PySolver>()?;
    m.add_class::<NativeRun>()?;
    m.add_function(wrap_pyfunction!(default_scenario_json, m)?)?;
    m.add_function(wrap_pyfunction!(resolve_scenario_json, m)?)?;
    m.add_function(wrap_pyfunction!(adapters_json, m)?)?;
    Ok(())
}
