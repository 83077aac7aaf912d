//! Output files: NumPy arrays, the path as CSV, the run summary as JSON.
//!
//! Every file is written to a temporary file in the output folder and renamed into place once
//! complete, so an interrupted run never leaves a truncated file under its final name.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use ndarray::ArrayView;
use ndarray_npy::WriteNpyExt;
use serde::Serialize;

use crate::config::Scenario;
use crate::error::Error;
use crate::grid::Actions;
use crate::simulate::PathPoint;
use crate::solution::{Solution, Values};

/// Checks, before any work, that `dir` can be an output folder: absent (it will be created)
/// or an existing folder.
pub fn check_output_dir(dir: &Path) -> Result<(), Error> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Input(format!(
            "--out {}: exists and is not a folder (give a folder, new or existing)",
            dir.display()
        )));
    }
    Ok(())
}

/// Creates the output folder (and its parents).
pub fn create_output_dir(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
}

/// A temporary file beside an output, renamed into place when complete. Output files are
/// readable by all (0644) as `File::create` would make them under the usual umask; a
/// temporary file alone would be private (0600).
pub fn temp_file_in(dir: &Path) -> Result<tempfile::NamedTempFile, Error> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".mmgame-").suffix(".partial");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    builder.tempfile_in(dir).map_err(|e| Error::io(dir, e))
}

/// Writes `path` through `body`, atomically: a temporary file beside it, renamed when complete.
pub fn write_atomic(
    path: &Path,
    body: impl FnOnce(&mut BufWriter<&mut File>) -> std::io::Result<()>,
) -> Result<(), Error> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = temp_file_in(dir)?;
    {
        let mut w = BufWriter::new(tmp.as_file_mut());
        body(&mut w).map_err(|e| Error::io(path, e))?;
        w.flush().map_err(|e| Error::io(path, e))?;
    }
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

fn npy_error(e: ndarray_npy::WriteNpyError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// `values.npy`: float64 from the CPU, float32 from the GPU.
pub fn write_values(path: &Path, shape: &[usize], values: &Values) -> Result<(), Error> {
    write_atomic(path, |w| {
        match values {
            Values::F64(v) => ArrayView::from_shape(shape, v).expect("shape").write_npy(w),
            Values::F32(v) => ArrayView::from_shape(shape, v).expect("shape").write_npy(w),
        }
        .map_err(npy_error)
    })
}

/// `policy.npy`: the actions as float32 values (−m, 0, m, or the notebook's initial 1).
pub fn write_policy(
    path: &Path,
    shape: &[usize],
    codes: &[u8],
    actions: Actions,
) -> Result<(), Error> {
    let table = [0, 1, 2, 3].map(|c| actions.value(c) as f32);
    let values: Vec<f32> = codes.iter().map(|&c| table[c as usize]).collect();
    write_atomic(path, |w| {
        ArrayView::from_shape(shape, &values[..])
            .expect("shape")
            .write_npy(w)
            .map_err(npy_error)
    })
}

/// `path.csv`: `step,time,fee,stake0,stake1,action0,action1`; the last row has no actions.
pub fn write_path(path: &Path, points: &[PathPoint]) -> Result<(), Error> {
    write_atomic(path, |w| {
        writeln!(w, "step,time,fee,stake0,stake1,action0,action1")?;
        for p in points {
            write!(
                w,
                "{},{},{},{},{},",
                p.step, p.time, p.fee, p.stakes[0], p.stakes[1]
            )?;
            match p.actions {
                Some([a0, a1]) => writeln!(w, "{a0},{a1}")?,
                None => writeln!(w, ",")?,
            }
        }
        Ok(())
    })
}

/// Where the run happened.
#[derive(Debug, Clone, Serialize)]
pub struct BackendInfo {
    /// "cpu" or "gpu".
    pub backend: String,
    /// The adapter's name, or the CPU's thread count.
    pub device: String,
    /// "cpu", or the adapter's device type (discrete, integrated, virtual, cpu).
    pub device_type: String,
    /// "f64" or "f32".
    pub precision: String,
}

/// `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub version: String,
    pub scheme: String,
    #[serde(flatten)]
    pub backend: BackendInfo,
    pub iterations: usize,
    pub converged: bool,
    pub policy_change: Vec<f64>,
    pub solve_seconds: f64,
    pub cell_updates: f64,
    pub cell_updates_per_second: f64,
    pub path: Vec<PathPoint>,
    pub files: Vec<String>,
    pub scenario: Scenario,
}

impl Summary {
    pub fn new(
        scenario: &Scenario,
        backend: BackendInfo,
        solution: &Solution,
        path: Vec<PathPoint>,
        files: Vec<String>,
    ) -> Self {
        Summary {
            version: env!("CARGO_PKG_VERSION").to_string(),
            scheme: scenario.solver.scheme.name().to_string(),
            backend,
            iterations: solution.iterations(),
            converged: solution.converged,
            policy_change: solution.policy_change.clone(),
            solve_seconds: solution.solve_seconds,
            cell_updates: solution.cell_updates(),
            cell_updates_per_second: solution.cell_updates_per_second(),
            path,
            files,
            scenario: scenario.clone(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a summary serialises to JSON")
    }
}

/// Writes a solved run's files into `dir`; returns their paths.
pub fn write_run(
    dir: &Path,
    scenario: &Scenario,
    solution: &Solution,
    summary: &Summary,
    path: &[PathPoint],
) -> Result<Vec<PathBuf>, Error> {
    create_output_dir(dir)?;
    let files: Vec<PathBuf> = summary.files.iter().map(|f| dir.join(f)).collect();
    write_values(&files[0], &solution.shape, &solution.values)?;
    write_policy(
        &files[1],
        &solution.shape,
        &solution.policy,
        scenario.grid().actions,
    )?;
    write_path(&files[2], path)?;
    write_atomic(&files[3], |w| writeln!(w, "{}", summary.to_json()))?;
    Ok(files)
}

/// The files `write_run` writes, in order.
pub const RUN_FILES: [&str; 4] = ["values.npy", "policy.npy", "path.csv", "summary.json"];
