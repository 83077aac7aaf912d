//! `mmgame refine`: the `equilibrium` scheme on successively refined grids, to see whether
//! the values at the path's start converge and at what order.

use std::io::Write;
use std::path::Path;

use crate::config::{Scenario, Scheme};
use crate::equilibrium_run::{self, SaveValues};
use crate::error::Error;
use crate::gpu::context::GpuContext;
use crate::output;

/// One level's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    pub level: usize,
    pub grid: [i64; 3],
    pub seconds: f64,
    /// Both agents' values at the path's start state, t = 0 (trilinear interpolation).
    pub start_values: [f64; 2],
    /// The path's end: stakes and fee.
    pub end: ([f64; 2], f64),
    /// Share of cell updates whose stage game had several pure equilibria.
    pub several_share: f64,
}

/// The grid of level `k`: every axis doubled k times, nodes nested (n → 2(n − 1) + 1).
pub fn refined(scenario: &Scenario, k: u32) -> Scenario {
    let mut s = scenario.clone();
    let up = |n: i64| (n - 1) * (1i64 << k) + 1;
    s.grid.fee_points = up(s.grid.fee_points);
    s.grid.stake_points = up(s.grid.stake_points);
    s.grid.time_points = up(s.grid.time_points);
    s.solver.scheme = Scheme::Equilibrium;
    s
}

/// Successive differences |x_k − x_{k−1}| and the observed order log2(d_{k−1}/d_k).
pub fn differences(values: &[f64]) -> Vec<(Option<f64>, Option<f64>)> {
    let d: Vec<Option<f64>> = (0..values.len())
        .map(|k| (k > 0).then(|| (values[k] - values[k - 1]).abs()))
        .collect();
    (0..values.len())
        .map(|k| {
            let order = match (k.checked_sub(1).and_then(|j| d[j]), d[k]) {
                (Some(prev), Some(cur)) if cur > 0.0 && prev > 0.0 => Some((prev / cur).log2()),
                _ => None,
            };
            (d[k], order)
        })
        .collect()
}

/// Runs `levels` levels, writing each level's run to `out/level-K/` and the table to
/// `out/refine.csv`.
pub fn run(
    scenario: &Scenario,
    levels: u32,
    gpu: Option<&GpuContext>,
    out: &Path,
) -> Result<Vec<Level>, Error> {
    if levels == 0 || levels > 8 {
        return Err(Error::Input(format!(
            "--levels {levels}: give 1 to 8 levels"
        )));
    }
    // Refuse up front when the finest level would not fit, in memory or on disk (each level's
    // run is checked again as it starts; the finest is the largest).
    output::check_output_dir(out)?;
    equilibrium_run::check_fits(
        &refined(scenario, levels - 1),
        out,
        SaveValues::T0,
        gpu.is_some(),
    )?;
    output::create_output_dir(out)?;
    println!(
        "refine: equilibrium scheme ({} interpolation), {levels} levels, each axis doubled per level",
        scenario.solver.interpolation.name()
    );
    let mut rows: Vec<Level> = Vec::new();
    for k in 0..levels {
        let s = refined(scenario, k);
        let dir = out.join(format!("level-{k}"));
        let summary = equilibrium_run::solve(&s, gpu, &dir, true, SaveValues::T0)?;
        let values: ndarray::ArrayD<f64> = match summary.backend.precision.as_str() {
            "f64" => ndarray_npy::read_npy(dir.join("values.npy")),
            _ => ndarray_npy::read_npy::<_, ndarray::ArrayD<f32>>(dir.join("values.npy"))
                .map(|a| a.mapv(|x| x as f64)),
        }
        .map_err(|e| Error::Input(format!("{}: {e}", dir.join("values.npy").display())))?;
        let grid = s.grid();
        let v = crate::solution::Values::F64(values.into_raw_vec_and_offset().0);
        let start_values = equilibrium_run::value_at(&grid, &v, (s.path.fee, s.path.stakes));
        let last = &summary.path[summary.path.len() - 1];
        rows.push(Level {
            level: k as usize,
            grid: [s.grid.fee_points, s.grid.stake_points, s.grid.time_points],
            seconds: summary.solve_seconds,
            start_values,
            end: (last.stakes, last.fee),
            several_share: summary.several_equilibria as f64 / summary.cell_updates,
        });
        print_row(&rows);
    }
    write_csv(&out.join("refine.csv"), &rows)?;
    println!(
        "wrote refine.csv and level-0 … level-{} to {}",
        levels - 1,
        out.display()
    );
    Ok(rows)
}

fn columns(rows: &[Level]) -> [Vec<(Option<f64>, Option<f64>)>; 2] {
    [0, 1].map(|a| differences(&rows.iter().map(|r| r.start_values[a]).collect::<Vec<_>>()))
}

/// Prints the newest level's row (and the header before the first).
fn print_row(rows: &[Level]) {
    let d = columns(rows);
    let opt = |x: Option<f64>, p: usize| x.map_or("—".to_string(), |v| format!("{v:.p$}"));
    if rows.len() == 1 {
        println!(
            "{:>5} {:>16} {:>9} {:>12} {:>12} {:>10} {:>6} {:>10} {:>6} {:>24} {:>8}",
            "level",
            "grid f×s²×t",
            "time s",
            "value 0",
            "value 1",
            "|Δ0|",
            "order",
            "|Δ1|",
            "order",
            "path end (s0, s1, fee)",
            "several"
        );
    }
    let i = rows.len() - 1;
    {
        let r = &rows[i];
        println!(
            "{:>5} {:>16} {:>9.2} {:>12.4} {:>12.4} {:>10} {:>6} {:>10} {:>6} {:>24} {:>7.2}%",
            r.level,
            format!("{}×{}²×{}", r.grid[0], r.grid[1], r.grid[2]),
            r.seconds,
            r.start_values[0],
            r.start_values[1],
            opt(d[0][i].0, 3),
            opt(d[0][i].1, 2),
            opt(d[1][i].0, 3),
            opt(d[1][i].1, 2),
            format!("({:.3}, {:.3}, {:.4})", r.end.0[0], r.end.0[1], r.end.1),
            100.0 * r.several_share
        );
    }
}

fn write_csv(path: &Path, rows: &[Level]) -> Result<(), Error> {
    let d = columns(rows);
    let opt = |x: Option<f64>| x.map_or(String::new(), |v| v.to_string());
    output::write_atomic(path, |w| {
        writeln!(
            w,
            "level,fee_points,stake_points,time_points,solve_seconds,value0,value1,diff0,order0,diff1,order1,end_stake0,end_stake1,end_fee,several_share"
        )?;
        for (i, r) in rows.iter().enumerate() {
            writeln!(
                w,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                r.level,
                r.grid[0],
                r.grid[1],
                r.grid[2],
                r.seconds,
                r.start_values[0],
                r.start_values[1],
                opt(d[0][i].0),
                opt(d[0][i].1),
                opt(d[1][i].0),
                opt(d[1][i].1),
                r.end.0[0],
                r.end.0[1],
                r.end.1,
                r.several_share
            )?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_nest_the_grid() {
        let s = Scenario::default();
        let r = refined(&s, 3);
        assert_eq!(
            (r.grid.fee_points, r.grid.stake_points, r.grid.time_points),
            (113, 113, 33)
        );
        assert_eq!(r.solver.scheme, Scheme::Equilibrium);
    }

    #[test]
    fn observed_order_of_a_first_order_sequence() {
        // x_k = 1 + 2^-k: differences halve, order 1.
        let d = differences(&[2.0, 1.5, 1.25, 1.125]);
        assert_eq!(d[0], (None, None));
        assert_eq!(d[1], (Some(0.5), None));
        assert_eq!(d[2], (Some(0.25), Some(1.0)));
        assert_eq!(d[3], (Some(0.125), Some(1.0)));
    }
}
