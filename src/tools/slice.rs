//! `mmgame plot DIR --agent A --time T --fix AXIS=X`: any 2-D slice of a finished run's values
//! or policy as a heat map, the fixed axis and the free axes named on the figure.

use std::path::{Path, PathBuf};

use ndarray::Array2;

use crate::error::Error;
use crate::io::npy::NpyFile;

/// Which slice to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    /// "values" or "policy".
    pub array: String,
    pub agent: usize,
    /// The time node's index (t = 0 is 0).
    pub time: usize,
    /// The axis held fixed ("fee", "stake0" or "stake1") and its value (the nearest node is
    /// taken).
    pub fixed: (String, f64),
}

/// The axis names of a (fee, stake0, stake1) slice.
const AXES: [&str; 3] = ["fee", "stake0", "stake1"];

impl std::str::FromStr for Slice {
    type Err = String;

    /// `AXIS=X`, for `--fix` (the other fields are set by their own flags).
    fn from_str(s: &str) -> Result<Self, String> {
        let (axis, x) = s
            .split_once('=')
            .ok_or("expected AXIS=VALUE, e.g. stake0=120")?;
        if !AXES.contains(&axis) {
            return Err(format!("{axis}: give fee, stake0 or stake1"));
        }
        let x: f64 = x.parse().map_err(|_| format!("{x}: not a number"))?;
        Ok(Slice {
            array: "values".into(),
            agent: 0,
            time: 0,
            fixed: (axis.into(), x),
        })
    }
}

/// The slice's array file and how many time slices it holds; an error unless the slice's time
/// is among them.
fn open_array(
    dir: &Path,
    slice: &Slice,
    grid: &crate::grid::Grid,
) -> Result<(NpyFile, usize), Error> {
    let bad = |why: String| Error::Input(format!("plot: {why}"));
    let path = dir.join(format!("{}.npy", slice.array));
    if !path.exists() && slice.array == "policy" {
        return Err(bad(format!(
            "{} is absent (a run written with --save-policy none); solve with --save-policy \
             all or t0 to plot the policy",
            path.display()
        )));
    }
    let file = NpyFile::open(&path)?;
    let (nt, nf, ns) = (grid.time.len(), grid.fee.len(), grid.stake.len());
    let times = match file.shape() {
        s if s == [2, nt, nf, ns, ns] => nt,
        s if s == [2, nf, ns, ns] => 1,
        s => {
            return Err(bad(format!(
                "{}.npy has shape {s:?}, not the run's grid",
                slice.array
            )))
        }
    };
    if slice.time >= times {
        return Err(bad(format!(
            "--time {}: {}.npy holds {times} time slice{} (0..{})",
            slice.time,
            slice.array,
            if times == 1 { "" } else { "s" },
            times - 1
        )));
    }
    Ok((file, times))
}

/// Draws `slice` of the run in `dir` into `dir` (PNG and SVG); returns the files.
pub fn plot_slice(dir: &Path, slice: &Slice) -> Result<Vec<PathBuf>, Error> {
    let scenario = crate::io::summary::read_scenario(&dir.join("summary.json"))?;
    let grid = scenario.grid();
    let bad = |why: String| Error::Input(format!("plot: {why}"));
    if !["values", "policy"].contains(&slice.array.as_str()) {
        return Err(bad(format!(
            "--array {}: give values or policy",
            slice.array
        )));
    }
    if slice.agent > 1 {
        return Err(bad(format!("--agent {}: give 0 or 1", slice.agent)));
    }
    let (file, times) = open_array(dir, slice, &grid)?;
    let (axis, x) = (&slice.fixed.0, slice.fixed.1);
    let fixed = AXES
        .iter()
        .position(|a| a == axis)
        .ok_or_else(|| bad(format!("--fix {axis}")))?;
    let axes = [&grid.fee, &grid.stake, &grid.stake];
    let node = axes[fixed].nearest(x);
    // The free axes in order: rows the first, columns the second.
    let free: Vec<usize> = (0..3).filter(|&a| a != fixed).collect();
    let (rows, cols) = (axes[free[0]].len(), axes[free[1]].len());
    let (nf, ns) = (grid.fee.len(), grid.stake.len());
    let base = (slice.agent * times + slice.time) * nf * ns * ns;
    let whole = file.read(base, nf * ns * ns)?;
    let data = Array2::from_shape_fn((rows, cols), |(r, c)| {
        let mut at = [0; 3];
        at[fixed] = node;
        at[free[0]] = r;
        at[free[1]] = c;
        whole[(at[0] * ns + at[1]) * ns + at[2]]
    });
    let what = if slice.array == "values" {
        "Value"
    } else {
        "Action"
    };
    let title = format!(
        "{what} of agent {} at t = {}, {axis} = {}",
        slice.agent,
        crate::config::number(grid.time.nodes[slice.time]),
        crate::config::number(axes[fixed].nodes[node])
    );
    let stem = dir.join(format!(
        "{}_agent{}_t{}_{axis}-node{node}",
        slice.array, slice.agent, slice.time
    ));
    let range = |a: usize| (0.0, axes[a].max());
    let mut files = Vec::new();
    for ext in ["png", "svg"] {
        let file = stem.with_extension(ext);
        let (x_label, y_label) = (AXES[free[1]], AXES[free[0]]);
        super::plot::heat_map(
            &file,
            &title,
            x_label,
            y_label,
            &data,
            range(free[1]),
            range(free[0]),
        )?;
        files.push(file);
    }
    Ok(files)
}
