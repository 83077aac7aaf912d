//! `mmgame sweep`: one scenario solved for every combination of varied keys, reusing one GPU
//! context and its pipelines, with shards for batch schedulers and a merge of their parts.
//! Every part carries a `sweep.json` saying which sweep and shard it is, so that the merge can
//! refuse parts of different sweeps, a shard given twice or one missing.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::api::{Output, Silent, SolveOptions, Solver};
use crate::config::Scenario;
use crate::error::Error;
use crate::io::csv::{read_sweep, write_sweep, SweepOutcome, SweepRow, SweepTable};
use crate::io::sweep_meta::{read_sweep_meta, write_sweep_meta, SweepMeta, SWEEP_META_FILE};

/// Points one sweep may have. Each point is a whole solve and a row of sweep.csv: a million
/// points is hours of solving even on the default 15×15²×5 grid (and about a minute to
/// validate every point's scenario before the first solve). Above it, a mistyped COUNT would
/// otherwise allocate gigabytes of values before anything is refused.
pub const MAX_POINTS: usize = 1_000_000;

/// The error for a sweep of more than [`MAX_POINTS`] points; `what` names the figure.
fn too_many(what: &str) -> Error {
    Error::Input(format!(
        "{what} is above the limit of {MAX_POINTS} points per sweep (each point is a whole \
         solve and a row of sweep.csv)"
    ))
}

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
        let count_text = count.trim();
        let count: usize = match count_text.parse() {
            Ok(0) => return Err(bad("COUNT must be a positive integer")),
            Ok(n) => n,
            Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => usize::MAX,
            Err(_) => return Err(bad("COUNT must be a positive integer")),
        };
        // Checked before the values are listed: one key cannot have more values than the
        // whole sweep may have points.
        if count > MAX_POINTS {
            return Err(too_many(&format!("--vary {text}: COUNT {count_text}")));
        }
        // In i128, so that no START and STOP (i64) overflow the step; the values lie between
        // them, so they fit in i64 again.
        let integer = |s: &str| s.trim().parse::<i64>().ok().map(i128::from);
        let values = match (integer(start), integer(stop)) {
            (Some(a), Some(b)) if count == 1 || (b - a) % (count as i128 - 1) == 0 => {
                let step = if count == 1 {
                    0
                } else {
                    (b - a) / (count as i128 - 1)
                };
                (0..count as i128)
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

/// The number of points of the sweep: the product of the value counts, multiplied checked
/// before any list of points is built, and refused above [`MAX_POINTS`].
pub fn point_count(varies: &[Vary]) -> Result<usize, Error> {
    if let Some(v) = varies.iter().find(|v| v.values.is_empty()) {
        return Err(Error::Input(format!(
            "sweep: --vary {} has no values (COUNT must be at least 1)",
            v.key
        )));
    }
    let product = varies
        .iter()
        .try_fold(1usize, |n, v| n.checked_mul(v.values.len()));
    match product {
        Some(n) if n <= MAX_POINTS => Ok(n),
        _ => {
            let factors: Vec<String> = varies.iter().map(|v| v.values.len().to_string()).collect();
            let total =
                product.map_or_else(|| format!("more than {}", usize::MAX), |n| n.to_string());
            Err(too_many(&format!(
                "sweep: {} = {total} points",
                factors.join(" × ")
            )))
        }
    }
}

/// The values of point `index`, one per key: every combination of the varied values in
/// order, the first key major (the last key's value changes from one point to the next).
pub fn point_values(varies: &[Vary], mut index: usize) -> Vec<&str> {
    let mut values = vec![""; varies.len()];
    for (slot, v) in values.iter_mut().zip(varies).rev() {
        // `max(1)`: a key without values (which `point_count` refuses) gives "" here rather
        // than a division by zero.
        let n = v.values.len().max(1);
        *slot = v.values.get(index % n).map_or("", String::as_str);
        index /= n;
    }
    values
}

/// What a sweep (or this shard of it) is about to do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Points in the whole sweep.
    pub points: usize,
    /// The points this shard solves.
    pub mine: Vec<usize>,
    pub shard: Shard,
}

/// What a sweep did.
#[derive(Debug, Clone)]
pub struct Swept {
    pub table: SweepTable,
    pub seconds: f64,
    pub plots: Vec<PathBuf>,
}

/// Solves one point: its scenario with `options` (a memory output keeps the policy the path
/// needs and the t = 0 values).
fn solve_point(
    solver: &Solver,
    s: &Scenario,
    options: &SolveOptions,
) -> Result<SweepOutcome, Error> {
    let run = solver.solve(s, options, &mut Silent)?;
    // The path at the horizon (not the notebook's extra point past it).
    let last = crate::simulate::at_horizon(&run.path)
        .ok_or_else(|| Error::Internal("a memory run without its path".into()))?;
    let [value0, value1] = run.start_values();
    Ok(SweepOutcome {
        iterations: run.iterations(),
        converged: run.converged(),
        end_stake0: last.stakes[0],
        end_stake1: last.stakes[1],
        end_fee: last.fee,
        value0,
        value1,
    })
}

/// Point `i`'s scenario: the base scenario's TOML `text` with each varied key set to the
/// point's value.
fn point_scenario(text: &str, varies: &[Vary], i: usize) -> Result<Scenario, Error> {
    let o: Vec<String> = varies
        .iter()
        .zip(point_values(varies, i))
        .map(|(v, x)| format!("{}={x}", v.key))
        .collect();
    Scenario::from_toml(text, "sweep", &o)
}

/// The shard (the whole sweep when `None`) and the points it solves: i, i + n, … below
/// `total`.
fn shard_points(shard: Option<Shard>, total: usize) -> Result<(Shard, Vec<usize>), Error> {
    let shard = shard.unwrap_or(Shard { index: 0, count: 1 });
    // `Shard`'s fields are public: one built by hand is checked as `--shard` parses it.
    if shard.index >= shard.count {
        return Err(Error::Input(format!(
            "--shard {}/{}: need 0 ≤ i < n",
            shard.index, shard.count
        )));
    }
    Ok((shard, (shard.index..total).step_by(shard.count).collect()))
}

/// Runs the sweep (or this shard of it) with `options` (the backend and its settings; the
/// output is each point's memory) and writes `sweep.csv`, its `sweep.json` (the whole sweep
/// and this shard, for `sweep-merge`) and its plots to `out`. `on_plan` is called once every
/// point's scenario is valid, `on_point` after each point.
#[allow(clippy::too_many_arguments)]
pub fn sweep(
    solver: &Solver,
    base: &Scenario,
    varies: &[Vary],
    shard: Option<Shard>,
    options: &SolveOptions,
    out: &Path,
    on_plan: impl FnOnce(&Plan),
    mut on_point: impl FnMut(&SweepRow),
) -> Result<Swept, Error> {
    if varies.is_empty() {
        return Err(Error::Input(
            "sweep: give at least one --vary KEY=START:STOP:COUNT".into(),
        ));
    }
    let total = point_count(varies)?;
    let text = base.to_toml();
    // Each point's scenario is built again where it is needed rather than kept: the build is
    // nothing beside a solve, and a million scenarios kept would be hundreds of MB.
    let scenario = |i: usize| point_scenario(&text, varies, i);
    // Every point's scenario is validated before anything is solved or written.
    for i in 0..total {
        scenario(i)?;
    }
    crate::io::check_output_dir(out)?;
    let (shard, mine) = shard_points(shard, total)?;
    let mut options = options.clone();
    options.output = Output::Memory;
    // Every point this shard solves must fit before the first is solved.
    for &i in &mine {
        solver.check(&scenario(i)?, &options)?;
    }
    on_plan(&Plan {
        points: total,
        mine: mine.clone(),
        shard,
    });
    let start = Instant::now();
    let mut table = SweepTable {
        keys: varies.iter().map(|v| v.key.clone()).collect(),
        rows: Vec::with_capacity(mine.len()),
    };
    for &i in &mine {
        let row = SweepRow {
            index: i,
            values: point_values(varies, i)
                .into_iter()
                .map(String::from)
                .collect(),
            outcome: solve_point(solver, &scenario(i)?, &options)?,
        };
        on_point(&row);
        table.rows.push(row);
    }
    let meta = SweepMeta {
        scenario: text,
        keys: table.keys.clone(),
        values: varies.iter().map(|v| v.values.clone()).collect(),
        points: total,
        shard_count: shard.count,
        shards: vec![shard.index],
    };
    crate::io::create_output_dir(out)?;
    write_sweep(&out.join("sweep.csv"), &table)?;
    write_sweep_meta(&out.join(SWEEP_META_FILE), &meta)?;
    let plots = plot(out, &table)?;
    Ok(Swept {
        table,
        seconds: start.elapsed().as_secs_f64(),
        plots,
    })
}

/// What `sweep-merge` did.
#[derive(Debug, Clone)]
pub struct Merged {
    pub table: SweepTable,
    /// The merged folder's sweep.json: shard 0/1 when complete, else the shards present.
    pub meta: SweepMeta,
    pub parts: usize,
    /// Points in the whole sweep (the table has fewer when shards are missing).
    pub points: usize,
    /// Shards no part held (only with `partial`), of `shard_count`.
    pub missing_shards: usize,
    pub shard_count: usize,
    /// The first few missing shards, for the report.
    pub first_missing: Vec<usize>,
}

/// How many shards messages and reports name before `…`.
const NAMED_SHARDS: usize = 5;

/// `mmgame sweep-merge`: joins the `sweep.csv` of each shard (files or folders) into one,
/// ordered by index, with its own sweep.json. Each part's sweep.json says which sweep and
/// shard it is; the parts must be of one sweep (base scenario, keys, values, shard count),
/// hold each shard once and, unless `partial`, every shard. Every check is done before
/// anything is written.
pub fn merge(parts: &[PathBuf], out: &Path, partial: bool) -> Result<Merged, Error> {
    let prefixed = |e: Error| match e {
        Error::Input(m) => Error::Input(format!("sweep-merge: {m}")),
        e => e,
    };
    if parts.is_empty() {
        return Err(Error::Input(
            "sweep-merge: give the shards' sweep.csv files or folders".into(),
        ));
    }
    let read = parts
        .iter()
        .map(|p| read_part(p).map_err(prefixed))
        .collect::<Result<Vec<_>, _>>()?;
    let first = &read[0];
    for p in &read[1..] {
        same_sweep(first, p).map_err(prefixed)?;
    }
    let (present, first_missing) = shards_present(&read, partial).map_err(prefixed)?;
    let (n, points) = (first.meta.shard_count, first.meta.points);
    let complete = present.len() == n;
    let meta = SweepMeta {
        shard_count: if complete { 1 } else { n },
        shards: if complete { vec![0] } else { present.clone() },
        ..first.meta.clone()
    };
    let mut table = SweepTable {
        keys: first.meta.keys.clone(),
        rows: read.into_iter().flat_map(|p| p.table.rows).collect(),
    };
    table.rows.sort_by_key(|r| r.index);
    crate::io::check_output_dir(out)?;
    crate::io::create_output_dir(out)?;
    write_sweep(&out.join("sweep.csv"), &table)?;
    write_sweep_meta(&out.join(SWEEP_META_FILE), &meta)?;
    plot(out, &table)?;
    Ok(Merged {
        table,
        meta,
        parts: parts.len(),
        points,
        missing_shards: n - present.len(),
        shard_count: n,
        first_missing,
    })
}

/// One part of a merge, checked against its own sweep.json.
struct Part {
    /// As given on the command line.
    name: String,
    meta: SweepMeta,
    base: Scenario,
    varies: Vec<Vary>,
    table: SweepTable,
}

/// Reads a part (a folder, or its sweep.csv with the sweep.json beside it) and checks its
/// sweep.json and its rows against each other.
fn read_part(part: &Path) -> Result<Part, Error> {
    let (csv, json) = if part.is_dir() {
        (part.join("sweep.csv"), part.join(SWEEP_META_FILE))
    } else {
        (part.to_path_buf(), part.with_extension("json"))
    };
    // The CSV first, so that a malformed file is named with its line.
    let table = read_sweep(&csv)?;
    let meta = read_sweep_meta(&json)?.ok_or_else(|| {
        Error::Input(format!(
            "{} has no {} beside it, so the sweep and shard it belongs to are unknown (parts \
             written before sweep.json existed cannot be merged: solve that shard again)",
            csv.display(),
            json.file_name().unwrap_or_default().to_string_lossy()
        ))
    })?;
    let (base, varies) = check_meta(&meta, &json)?;
    check_rows(&table, &meta, &varies, &csv)?;
    Ok(Part {
        name: part.display().to_string(),
        meta,
        base,
        varies,
        table,
    })
}

/// Checks that a sweep.json's figures agree with each other; returns its base scenario and
/// its varied keys.
fn check_meta(meta: &SweepMeta, json: &Path) -> Result<(Scenario, Vec<Vary>), Error> {
    let bad = |why: String| Error::Input(format!("{}: {why}", json.display()));
    if meta.keys.is_empty() || meta.keys.len() != meta.values.len() {
        return Err(bad(format!(
            "{} varied keys with {} lists of values (need one list per key, at least one key)",
            meta.keys.len(),
            meta.values.len()
        )));
    }
    let varies: Vec<Vary> = meta
        .keys
        .iter()
        .zip(&meta.values)
        .map(|(key, values)| Vary {
            key: key.clone(),
            values: values.clone(),
        })
        .collect();
    let total = point_count(&varies).map_err(|e| bad(e.to_string()))?;
    if meta.points != total {
        return Err(bad(format!(
            "points = {} but the values make {total} points",
            meta.points
        )));
    }
    let n = meta.shard_count;
    if n == 0 || meta.shards.is_empty() || meta.shards.windows(2).any(|w| w[0] >= w[1]) {
        return Err(bad(format!(
            "shards {:?} of shard_count {n}: need at least one shard, ascending, and a shard \
             count of at least 1",
            meta.shards
        )));
    }
    if let Some(s) = meta.shards.iter().find(|&&s| s >= n) {
        return Err(bad(format!("shard {s} is not below shard_count {n}")));
    }
    // Validation errors name the key but not the text's origin: the file is named here.
    let base = Scenario::from_toml(&meta.scenario, "scenario", &[]).map_err(|e| match e {
        Error::Input(m) => bad(m),
        e => e,
    })?;
    Ok((base, varies))
}

/// Points of shard `s` of `n` in a sweep of `points`: the indices s, s + n, … below points.
fn points_in_shard(points: usize, n: usize, s: usize) -> usize {
    if s >= points {
        0
    } else {
        (points - 1 - s) / n + 1
    }
}

/// Checks that a part's rows are exactly the points of its shards, at the sweep's values.
fn check_rows(
    table: &SweepTable,
    meta: &SweepMeta,
    varies: &[Vary],
    csv: &Path,
) -> Result<(), Error> {
    let bad = |why: String| Error::Input(format!("{}: {why}", csv.display()));
    let (n, points) = (meta.shard_count, meta.points);
    let shards = shards_text(&meta.shards, meta.shards.len(), n);
    if table.keys != meta.keys {
        return Err(bad(format!(
            "columns {} are not the varied keys {} of its {SWEEP_META_FILE}",
            table.keys.join(","),
            meta.keys.join(",")
        )));
    }
    let mut indices = Vec::with_capacity(table.rows.len());
    for r in &table.rows {
        if r.index >= points {
            return Err(bad(format!(
                "point {} is beyond the sweep's {points} points",
                r.index
            )));
        }
        if meta.shards.binary_search(&(r.index % n)).is_err() {
            return Err(bad(format!(
                "point {} belongs to shard {}/{n}, but this part is {shards}",
                r.index,
                r.index % n
            )));
        }
        let want = point_values(varies, r.index);
        let mut pairs = r.values.iter().zip(&want).zip(&meta.keys);
        if let Some(((got, want), key)) = pairs.find(|((g, w), _)| g.as_str() != **w) {
            return Err(bad(format!(
                "point {} has {key} = {got}, but the sweep's value there is {want}",
                r.index
            )));
        }
        indices.push(r.index);
    }
    indices.sort_unstable();
    if let Some(w) = indices.windows(2).find(|w| w[0] == w[1]) {
        return Err(bad(format!("point {} appears twice", w[0])));
    }
    let expected: usize = meta
        .shards
        .iter()
        .map(|&s| points_in_shard(points, n, s))
        .sum();
    if indices.len() != expected {
        let missing = meta
            .shards
            .iter()
            .flat_map(|&s| (s..points).step_by(n))
            .filter(|i| indices.binary_search(i).is_err())
            .min()
            .unwrap_or_default();
        return Err(bad(format!(
            "has {} of the {expected} points of {shards} (point {missing} is missing)",
            indices.len()
        )));
    }
    Ok(())
}

/// `shard 1/4`, or `shards 0, 2, 3 of 4`: the first [`NAMED_SHARDS`] of `shards`, then `…`
/// when the list is longer or has `count` shards in all.
fn shards_text(shards: &[usize], count: usize, n: usize) -> String {
    match shards {
        [s] if count == 1 => format!("shard {s}/{n}"),
        _ => {
            let mut list: Vec<String> = shards
                .iter()
                .take(NAMED_SHARDS)
                .map(usize::to_string)
                .collect();
            if count > list.len() {
                list.push("…".into());
            }
            format!("shards {} of {n}", list.join(", "))
        }
    }
}

/// `0.05 … 0.2 (4 values)`, or the one value.
fn values_text(values: &[String]) -> String {
    match values {
        [] => "no values".into(),
        [v] => v.clone(),
        [a, .., b] => format!("{a} … {b} ({} values)", values.len()),
    }
}

/// Checks that `b` is a part of the same sweep as `a`: base scenario, keys, values and shard
/// count.
fn same_sweep(a: &Part, b: &Part) -> Result<(), Error> {
    let differ = |why: String| {
        Error::Input(format!(
            "{} and {} are parts of different sweeps: {why} (merge only the parts of one sweep)",
            a.name, b.name
        ))
    };
    if a.meta.keys != b.meta.keys {
        return Err(differ(format!(
            "they vary {} and {}",
            a.meta.keys.join(","),
            b.meta.keys.join(",")
        )));
    }
    if let Some((va, vb)) = a.varies.iter().zip(&b.varies).find(|(x, y)| x != y) {
        return Err(differ(format!(
            "{} is {} in {} but {} in {}",
            va.key,
            values_text(&va.values),
            a.name,
            values_text(&vb.values),
            b.name
        )));
    }
    if a.base != b.base {
        return Err(differ("their base scenarios differ".into()));
    }
    if a.meta.shard_count != b.meta.shard_count {
        return Err(differ(format!(
            "{} is split into {} shards and {} into {}",
            a.name, a.meta.shard_count, b.name, b.meta.shard_count
        )));
    }
    Ok(())
}

/// The shards the parts hold, ascending, each held once; and the first few missing. Missing
/// shards are refused unless `partial`.
fn shards_present(parts: &[Part], partial: bool) -> Result<(Vec<usize>, Vec<usize>), Error> {
    let n = parts[0].meta.shard_count;
    let mut owners: Vec<(usize, &str)> = parts
        .iter()
        .flat_map(|p| p.meta.shards.iter().map(|&s| (s, p.name.as_str())))
        .collect();
    owners.sort();
    if let Some(w) = owners.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::Input(format!(
            "shard {}/{n} is in both {} and {} (give each shard once)",
            w[0].0, w[0].1, w[1].1
        )));
    }
    let present: Vec<usize> = owners.iter().map(|o| o.0).collect();
    let missing = n - present.len();
    let first_missing: Vec<usize> = (0..n)
        .filter(|s| present.binary_search(s).is_err())
        .take(NAMED_SHARDS)
        .collect();
    if missing > 0 && !partial {
        let points = parts[0].meta.points;
        let held: usize = present.iter().map(|&s| points_in_shard(points, n, s)).sum();
        let names: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
        return Err(Error::Input(format!(
            "{missing} of {n} shards missing ({}), {} of the {points} points; the parts given \
             ({}) hold {}: give every shard, or --partial to merge only these",
            shards_text(&first_missing, missing, n),
            points - held,
            names.join(", "),
            shards_text(&present, present.len(), n)
        )));
    }
    Ok((present, first_missing))
}

/// The outcomes against the first varied key, one line per combination of the other keys:
/// each agent's value at the start state, and the path's end stakes.
fn plot(out: &Path, table: &SweepTable) -> Result<Vec<PathBuf>, Error> {
    let first_key = &table.keys[0];
    // (label of the other keys' values, rows in order)
    let mut groups: Vec<(String, Vec<&SweepRow>)> = Vec::new();
    for r in &table.rows {
        let label = table.keys[1..]
            .iter()
            .zip(&r.values[1..])
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        match groups.iter_mut().find(|g| g.0 == label) {
            Some(g) => g.1.push(r),
            None => groups.push((label, vec![r])),
        }
    }
    let series =
        |value: fn(&SweepOutcome) -> f64, prefix: &str| -> Vec<(String, Vec<(f64, f64)>)> {
            groups
                .iter()
                .map(|(label, rows)| {
                    let points = rows
                        .iter()
                        .map(|r| (r.values[0].parse().unwrap_or(f64::NAN), value(&r.outcome)))
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
    let values: [fn(&SweepOutcome) -> f64; 2] = [|o| o.value0, |o| o.value1];
    for (agent, value) in values.into_iter().enumerate() {
        files.extend(crate::tools::plot::line_chart(
            &out.join(format!("sweep_value{agent}")),
            &format!("Value of agent {agent} at the start state"),
            first_key,
            "value",
            &series(value, ""),
        )?);
    }
    let mut ends = series(|o| o.end_stake0, "agent 0");
    ends.extend(series(|o| o.end_stake1, "agent 1"));
    files.extend(crate::tools::plot::line_chart(
        &out.join("sweep_end_stakes"),
        "Stakes at the horizon (the path's end)",
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
        let v = [a, b];
        assert_eq!(point_count(&v).unwrap(), 6);
        assert_eq!(point_values(&v, 0), ["1", "x"]);
        assert_eq!(point_values(&v, 1), ["1", "y"]);
        assert_eq!(point_values(&v, 3), ["2", "x"]);
        assert_eq!(point_values(&v, 5), ["2", "z"]);
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
