//! `mmgame sweep`: one scenario solved for every combination of varied keys, reusing one GPU
//! context and its pipelines, with shards for batch schedulers and a merge of their parts.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::config::{Scenario, Scheme};
use crate::cpu::equilibrium::StepSink;
use crate::equilibrium_run::value_at;
use crate::error::Error;
use crate::gpu::context::GpuContext;
use crate::output;
use crate::simulate::{equilibrium_path, notebook_path};

/// One `--vary KEY=START:STOP:COUNT`.
#[derive(Debug, Clone, PartialEq)]
pub struct Vary {
    pub key: String,
    /// The values as TOML literals (integers stay integers: `grid.stake_points=15:31:3`).
    pub values: Vec<String>,
}

impl Vary {
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = |why: &str| {
            Error::Input(format!("--vary {text}: {why} (expected KEY=START:STOP:COUNT, e.g. model.fee_speed=0.05:0.2:3)"))
        };
        let (key, range) = text.split_once('=').ok_or_else(|| bad("no `=`"))?;
        let parts: Vec<&str> = range.split(':').collect();
        let [start, stop, count] = parts[..] else {
            return Err(bad("need three parts"));
        };
        let count: usize = count
            .trim()
            .parse()
            .map_err(|_| bad("COUNT must be a positive integer"))?;
        if count == 0 {
            return Err(bad("COUNT must be a positive integer"));
        }
        let integer = |s: &str| s.trim().parse::<i64>().ok();
        let values = match (integer(start), integer(stop)) {
            (Some(a), Some(b)) if count == 1 || (b - a) % (count as i64 - 1) == 0 => {
                let step = if count == 1 {
                    0
                } else {
                    (b - a) / (count as i64 - 1)
                };
                (0..count as i64)
                    .map(|i| (a + i * step).to_string())
                    .collect()
            }
            _ => {
                let a: f64 = start
                    .trim()
                    .parse()
                    .map_err(|_| bad("START is not a number"))?;
                let b: f64 = stop
                    .trim()
                    .parse()
                    .map_err(|_| bad("STOP is not a number"))?;
                if !a.is_finite() || !b.is_finite() {
                    return Err(bad("START and STOP must be finite"));
                }
                (0..count)
                    .map(|i| {
                        let x = if count == 1 {
                            a
                        } else {
                            a + (b - a) * i as f64 / (count - 1) as f64
                        };
                        format!("{x:?}")
                    })
                    .collect()
            }
        };
        Ok(Vary {
            key: key.trim().to_string(),
            values,
        })
    }
}

/// `--shard i/n`: this machine solves the points whose index is i modulo n.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (i, n) = s.split_once('/').ok_or("expected i/n, e.g. 0/4")?;
        let (index, count): (usize, usize) = (
            i.parse().map_err(|_| "i must be an integer")?,
            n.parse().map_err(|_| "n must be an integer")?,
        );
        if count == 0 || index >= count {
            return Err(format!("need 0 ≤ i < n, got {index}/{count}"));
        }
        Ok(Shard { index, count })
    }
}

/// The sweep's points: every combination of the varied values, the first key major.
pub fn points(varies: &[Vary]) -> Vec<Vec<String>> {
    varies.iter().fold(vec![vec![]], |acc, v| {
        acc.iter()
            .flat_map(|p| {
                v.values.iter().map(move |x| {
                    let mut q = p.clone();
                    q.push(x.clone());
                    q
                })
            })
            .collect()
    })
}

/// One solved point: the columns after the index and the varied values.
#[derive(Debug, Clone)]
struct Outcome {
    iterations: usize,
    converged: bool,
    end: ([f64; 2], f64),
    start_values: [f64; 2],
}

/// A sink that keeps only what the path needs: each step's actions at every state (u8).
struct PolicySink {
    policy: Vec<u8>,
    slice: usize,
    time_points: usize,
}

impl StepSink for PolicySink {
    fn wants_values(&self) -> bool {
        false
    }

    fn step(
        &mut self,
        t: usize,
        actions: [&[u8]; 2],
        _: crate::cpu::equilibrium::SliceValues<'_>,
    ) -> Result<(), Error> {
        for (agent, a) in actions.iter().enumerate() {
            let at = (agent * self.time_points + t) * self.slice;
            self.policy[at..at + self.slice].copy_from_slice(a);
        }
        Ok(())
    }
}

fn solve_point(s: &Scenario, gpu: Option<&Solvers>) -> Result<Outcome, Error> {
    let (game, grid) = (s.game(), s.grid());
    let start = (s.path.fee, s.path.stakes);
    match s.solver.scheme {
        Scheme::Notebook => {
            let sol = match gpu {
                Some(g) => g.notebook.solve(&game, &grid, &s.solver, |_, _| {})?,
                None => crate::cpu::notebook::solve(&game, &grid, &s.solver, |_, _| {}),
            };
            let path = notebook_path(&game, &grid, &sol, &s.path);
            let last = &path[path.len() - 1];
            // The t = 0 slice of each agent, laid out as the equilibrium scheme's values_t0.
            let slice = grid.slice_len();
            let t0: Vec<f64> = (0..2)
                .flat_map(|a| {
                    let at = sol.index(a, 0, 0, 0, 0);
                    (at..at + slice)
                        .map(|i| sol.values.get(i))
                        .collect::<Vec<_>>()
                })
                .collect();
            Ok(Outcome {
                iterations: sol.iterations(),
                converged: sol.converged,
                end: (last.stakes, last.fee),
                start_values: value_at(&grid, &crate::solution::Values::F64(t0), start),
            })
        }
        Scheme::Equilibrium => {
            let mode = s.solver.interpolation;
            let mut sink = PolicySink {
                // No action at the horizon: 0 is code 1.
                policy: vec![1; 2 * grid.time.len() * grid.slice_len()],
                slice: grid.slice_len(),
                time_points: grid.time.len(),
            };
            let sol = match gpu {
                Some(g) => g
                    .equilibrium
                    .solve(&game, &grid, mode, &mut sink, |_, _| {})?,
                None => crate::cpu::equilibrium::solve(&game, &grid, mode, &mut sink, |_, _| {})?,
            };
            let path = equilibrium_path(&game, &grid, &s.path, |a, t, f, s0, s1| {
                Ok(sink.policy
                    [(a * grid.time.len() + t) * grid.slice_len() + grid.state_index(f, s0, s1)])
            })?;
            let last = &path[path.len() - 1];
            Ok(Outcome {
                iterations: 1,
                converged: true,
                end: (last.stakes, last.fee),
                start_values: value_at(&grid, &sol.values_t0, start),
            })
        }
    }
}

/// The GPU solvers, built once for the whole sweep.
struct Solvers<'a> {
    notebook: crate::gpu::notebook::NotebookGpu<'a>,
    equilibrium: crate::gpu::equilibrium::EquilibriumGpu<'a>,
}

const OUTCOME_COLUMNS: &str = "iterations,converged,end_stake0,end_stake1,end_fee,value0,value1";

/// Runs the sweep (or this shard of it) and writes `sweep.csv` and its plot to `out`.
pub fn run(
    base: &Scenario,
    varies: &[Vary],
    shard: Option<Shard>,
    gpu: Option<&GpuContext>,
    out: &Path,
) -> Result<(), Error> {
    if varies.is_empty() {
        return Err(Error::Input(
            "sweep: give at least one --vary KEY=START:STOP:COUNT".into(),
        ));
    }
    let all = points(varies);
    // Every point's scenario is built and validated before anything is solved or written.
    let mut scenarios = Vec::with_capacity(all.len());
    let text = base.to_toml();
    for p in &all {
        let o: Vec<String> = varies
            .iter()
            .zip(p)
            .map(|(v, x)| format!("{}={x}", v.key))
            .collect();
        scenarios.push(Scenario::from_toml(&text, "sweep", &o)?);
    }
    output::check_output_dir(out)?;
    let solvers = gpu
        .map(|ctx| -> Result<Solvers, Error> {
            Ok(Solvers {
                notebook: crate::gpu::notebook::NotebookGpu::new(ctx)?,
                equilibrium: crate::gpu::equilibrium::EquilibriumGpu::new(ctx)?,
            })
        })
        .transpose()?;
    let shard = shard.unwrap_or(Shard { index: 0, count: 1 });
    let mine: Vec<usize> = (0..all.len())
        .filter(|i| i % shard.count == shard.index)
        .collect();
    println!(
        "sweep: {} points ({}), this shard {}/{} solves {} of them on {}",
        all.len(),
        varies
            .iter()
            .map(|v| format!("{} × {}", v.values.len(), v.key))
            .collect::<Vec<_>>()
            .join(", "),
        shard.index,
        shard.count,
        mine.len(),
        gpu.map_or("the CPU".to_string(), |c| c.info.name.clone())
    );
    let start = Instant::now();
    let mut rows = Vec::with_capacity(mine.len());
    for &i in &mine {
        let o = solve_point(&scenarios[i], solvers.as_ref())?;
        println!(
            "  {i:>4}  {}  → values ({:.4}, {:.4}), end stakes ({}, {}) fee {}",
            varies
                .iter()
                .zip(&all[i])
                .map(|(v, x)| format!("{}={x}", v.key))
                .collect::<Vec<_>>()
                .join(" "),
            o.start_values[0],
            o.start_values[1],
            o.end.0[0],
            o.end.0[1],
            o.end.1
        );
        rows.push(format!(
            "{i},{},{},{},{},{},{},{},{}",
            all[i].join(","),
            o.iterations,
            o.converged,
            o.end.0[0],
            o.end.0[1],
            o.end.1,
            o.start_values[0],
            o.start_values[1]
        ));
    }
    let header = format!(
        "index,{},{OUTCOME_COLUMNS}",
        varies
            .iter()
            .map(|v| v.key.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    output::create_output_dir(out)?;
    let csv = out.join("sweep.csv");
    write_rows(&csv, &header, &rows)?;
    let plots = plot(out, &header, &rows)?;
    println!(
        "solved {} points in {:.2} s; wrote sweep.csv and {} plot files to {}",
        rows.len(),
        start.elapsed().as_secs_f64(),
        plots.len(),
        out.display()
    );
    Ok(())
}

fn write_rows(path: &Path, header: &str, rows: &[String]) -> Result<(), Error> {
    output::write_atomic(path, |w| {
        writeln!(w, "{header}")?;
        for r in rows {
            writeln!(w, "{r}")?;
        }
        Ok(())
    })
}

/// `mmgame sweep-merge`: joins the `sweep.csv` of each shard (files or folders) into one,
/// ordered by index; the parts must share their columns and not overlap.
pub fn merge(parts: &[PathBuf], out: &Path) -> Result<(), Error> {
    if parts.is_empty() {
        return Err(Error::Input(
            "sweep-merge: give the shards' sweep.csv files or folders".into(),
        ));
    }
    let mut header: Option<String> = None;
    let mut rows: Vec<(usize, String)> = Vec::new();
    for part in parts {
        let file = if part.is_dir() {
            part.join("sweep.csv")
        } else {
            part.clone()
        };
        let text = std::fs::read_to_string(&file).map_err(|e| {
            Error::Input(format!("sweep-merge: cannot read {}: {e}", file.display()))
        })?;
        let mut lines = text.lines();
        let h = lines.next().unwrap_or_default().to_string();
        if !h.starts_with("index,") || !h.ends_with(OUTCOME_COLUMNS) {
            return Err(Error::Input(format!(
                "sweep-merge: {} is not a sweep.csv",
                file.display()
            )));
        }
        match &header {
            Some(first) if *first != h => {
                return Err(Error::Input(format!(
                    "sweep-merge: {} has other columns than the first part",
                    file.display()
                )))
            }
            _ => header = Some(h),
        }
        for line in lines.filter(|l| !l.is_empty()) {
            let index = line
                .split(',')
                .next()
                .and_then(|i| i.parse().ok())
                .ok_or_else(|| {
                    Error::Input(format!("sweep-merge: {}: bad row `{line}`", file.display()))
                })?;
            rows.push((index, line.to_string()));
        }
    }
    rows.sort_by_key(|r| r.0);
    if let Some(w) = rows.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::Input(format!(
            "sweep-merge: point {} appears in two parts",
            w[0].0
        )));
    }
    let header = header.expect("at least one part");
    let rows: Vec<String> = rows.into_iter().map(|r| r.1).collect();
    output::check_output_dir(out)?;
    output::create_output_dir(out)?;
    write_rows(&out.join("sweep.csv"), &header, &rows)?;
    plot(out, &header, &rows)?;
    println!(
        "merged {} points from {} parts into {}",
        rows.len(),
        parts.len(),
        out.join("sweep.csv").display()
    );
    Ok(())
}

/// The outcomes against the first varied key, one line per combination of the other keys:
/// each agent's value at the start state, and the path's end stakes.
fn plot(out: &Path, header: &str, rows: &[String]) -> Result<Vec<PathBuf>, Error> {
    let columns: Vec<&str> = header.split(',').collect();
    let varied = columns.len() - 1 - OUTCOME_COLUMNS.split(',').count();
    let col = |name: &str| {
        columns
            .iter()
            .position(|c| *c == name)
            .expect("known column")
    };
    let first_key = columns[1];
    // (label of the other keys' values, rows in order)
    let mut groups: Vec<(String, Vec<Vec<&str>>)> = Vec::new();
    for r in rows {
        let cells: Vec<&str> = r.split(',').collect();
        let label = (2..1 + varied)
            .map(|k| format!("{}={}", columns[k], cells[k]))
            .collect::<Vec<_>>()
            .join(" ");
        match groups.iter_mut().find(|g| g.0 == label) {
            Some(g) => g.1.push(cells),
            None => groups.push((label, vec![cells])),
        }
    }
    let series = |name: &str, prefix: &str| -> Vec<(String, Vec<(f64, f64)>)> {
        groups
            .iter()
            .map(|(label, cells)| {
                let points = cells
                    .iter()
                    .map(|c| {
                        (
                            c[1].parse().unwrap_or(f64::NAN),
                            c[col(name)].parse().unwrap_or(f64::NAN),
                        )
                    })
                    .collect();
                let name = match (prefix.is_empty(), label.is_empty()) {
                    (true, _) => label.clone(),
                    (false, true) => prefix.to_string(),
                    (false, false) => format!("{prefix}, {label}"),
                };
                (
                    if name.is_empty() {
                        "all".to_string()
                    } else {
                        name
                    },
                    points,
                )
            })
            .collect()
    };
    let mut files = Vec::new();
    for agent in 0..2 {
        files.extend(crate::plot::line_chart(
            &out.join(format!("sweep_value{agent}")),
            &format!("Value of agent {agent} at the start state"),
            first_key,
            "value",
            &series(&format!("value{agent}"), ""),
        )?);
    }
    let mut ends = series("end_stake0", "agent 0");
    ends.extend(series("end_stake1", "agent 1"));
    files.extend(crate::plot::line_chart(
        &out.join("sweep_end_stakes"),
        "Stakes at the end of the path",
        first_key,
        "stake",
        &ends,
    )?);
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vary_keeps_integers_and_spaces_floats_evenly() {
        let v = Vary::parse("grid.stake_points=15:31:3").unwrap();
        assert_eq!(v.values, ["15", "23", "31"]);
        let v = Vary::parse("model.fee_speed=0.05:0.15:3").unwrap();
        assert_eq!(v.values.len(), 3);
        assert_eq!(v.values[0].parse::<f64>().unwrap(), 0.05);
        assert!((v.values[1].parse::<f64>().unwrap() - 0.1).abs() < 1e-15);
        assert!(Vary::parse("x=1:2").is_err());
        assert!(Vary::parse("x=1:2:0").is_err());
        assert!(Vary::parse("x=a:2:3").is_err());
    }

    #[test]
    fn points_are_the_product_first_key_major() {
        let a = Vary {
            key: "a".into(),
            values: vec!["1".into(), "2".into()],
        };
        let b = Vary {
            key: "b".into(),
            values: vec!["x".into(), "y".into(), "z".into()],
        };
        let p = points(&[a, b]);
        assert_eq!(p.len(), 6);
        assert_eq!(p[0], ["1", "x"]);
        assert_eq!(p[1], ["1", "y"]);
        assert_eq!(p[3], ["2", "x"]);
    }

    #[test]
    fn shards_parse() {
        assert_eq!(
            "1/4".parse::<Shard>().unwrap(),
            Shard { index: 1, count: 4 }
        );
        assert!("4/4".parse::<Shard>().is_err());
        assert!("1".parse::<Shard>().is_err());
    }
}
