//! `mmgame refine`: the `equilibrium` scheme on successively refined grids, to see whether
//! the values at the path's start converge and at what order.

use std::path::Path;

use crate::api::{Output, Silent, SolveOptions, Solver};
use crate::config::{Scenario, Scheme};
use crate::error::Error;
use crate::io::csv::RefineRow;

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

/// Runs `levels` levels with `options` (its output is replaced by each level's folder
/// `out/level-K/`), calling `on_level` with the levels so far after each, and writes the table
/// to `out/refine.csv`.
pub fn refine(
    solver: &Solver,
    scenario: &Scenario,
    levels: u32,
    options: &SolveOptions,
    out: &Path,
    mut on_level: impl FnMut(&[Level]),
) -> Result<Vec<Level>, Error> {
    if levels == 0 || levels > 8 {
        return Err(Error::Input(format!(
            "--levels {levels}: give 1 to 8 levels"
        )));
    }
    crate::io::check_output_dir(out)?;
    // Refuse up front when the finest level would not fit, in memory or on disk (each level's
    // run is checked again as it starts; the finest is the largest).
    let mut options = options.clone();
    options.output = Output::Folder(out.join(format!("level-{}", levels - 1)));
    solver.check(&refined(scenario, levels - 1), &options)?;
    crate::io::create_output_dir(out)?;
    let mut rows: Vec<Level> = Vec::new();
    for k in 0..levels {
        let s = refined(scenario, k);
        options.output = Output::Folder(out.join(format!("level-{k}")));
        let run = solver.solve(&s, &options, &mut Silent)?;
        let several: u64 = run.equilibrium().map_or(0, |e| {
            e.diagnostics.iter().map(|d| d.several_equilibria).sum()
        });
        let last = crate::simulate::at_horizon(&run.path)
            .ok_or_else(|| Error::Internal("a folder run without its path".into()))?;
        rows.push(Level {
            level: k as usize,
            grid: [s.grid.fee_points, s.grid.stake_points, s.grid.time_points],
            seconds: run.solve_seconds,
            start_values: run.start_values(),
            end: (last.stakes, last.fee),
            several_share: several as f64 / run.cell_updates,
        });
        on_level(&rows);
    }
    crate::io::csv::write_refine(&out.join("refine.csv"), &table(&rows))?;
    Ok(rows)
}

/// Each level's differences to the one before and the observed orders, per agent.
pub fn columns(rows: &[Level]) -> [Vec<(Option<f64>, Option<f64>)>; 2] {
    [0, 1].map(|a| differences(&rows.iter().map(|r| r.start_values[a]).collect::<Vec<_>>()))
}

/// The rows of refine.csv.
fn table(rows: &[Level]) -> Vec<RefineRow> {
    let d = columns(rows);
    rows.iter()
        .enumerate()
        .map(|(i, r)| RefineRow {
            level: r.level,
            fee_points: r.grid[0],
            stake_points: r.grid[1],
            time_points: r.grid[2],
            solve_seconds: r.seconds,
            value0: r.start_values[0],
            value1: r.start_values[1],
            diff0: d[0][i].0,
            order0: d[0][i].1,
            diff1: d[1][i].0,
            order1: d[1][i].1,
            end_stake0: r.end.0[0],
            end_stake1: r.end.0[1],
            end_fee: r.end.1,
            several_share: r.several_share,
        })
        .collect()
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
