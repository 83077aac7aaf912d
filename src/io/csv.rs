//! Every CSV file the tool reads or writes, through the `csv` crate and serde: `path.csv`,
//! `refine.csv`, `bench.csv` and `sweep.csv`.
//!
//! Headers are written as records of their own rather than from the first row, so a file with
//! no rows still has its header, as it always had.

use std::fs::File;
use std::io::{BufWriter, ErrorKind};
use std::path::Path;

use csv::{QuoteStyle, StringRecord};
use serde::{Deserialize, Serialize, Serializer};

use crate::error::Error;
use crate::io::write_atomic;
use crate::simulate::PathPoint;

// Floats are written with Rust's `Display` (`10`, `0.07500000000000001`) rather than the csv
// serializer's ryu (`10.0`), so files stay byte-identical to earlier versions; both are the
// shortest text that reads back to the same f64.
fn display<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(x)
}

fn display_opt<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match x {
        Some(x) => s.collect_str(x),
        None => s.serialize_none(),
    }
}

// bench.csv has always given its measurements as `{:e}` (`1.5e-3`); kept for the same reason.
fn exponent<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{x:e}"))
}

fn exponent_opt<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match x {
        Some(x) => s.collect_str(&format_args!("{x:e}")),
        None => s.serialize_none(),
    }
}

// bench.csv has always quoted the device name, whatever it holds, and tests/bench.rs finds
// the name by its quotes. csv quotes per writer, not per field (`NonNumeric` would quote the
// scheme, backend and grid too), so bench.csv is written with `QuoteStyle::Never` and this
// field quotes itself; its other fields are numbers and fixed names that never need quotes.
fn always_quoted<S: Serializer>(x: &str, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("\"{}\"", x.replace('"', "\"\"")))
}

type CsvWriter<'a, 'b> = csv::Writer<&'a mut BufWriter<&'b mut File>>;

/// Writes `path` atomically: `header`, then the records `body` writes.
fn write_csv<H: AsRef<[u8]>>(
    path: &Path,
    quote: QuoteStyle,
    header: impl IntoIterator<Item = H>,
    body: impl FnOnce(&mut CsvWriter) -> std::io::Result<()>,
) -> Result<(), Error> {
    write_atomic(path, |w| {
        let mut csv = csv::WriterBuilder::new()
            .has_headers(false)
            .quote_style(quote)
            .from_writer(w);
        csv.write_record(header)?;
        body(&mut csv)?;
        csv.flush()
    })
}

/// Writes `path` atomically: `header`, then one serialized record per row.
fn write_rows<H: AsRef<[u8]>, T: serde::Serialize>(
    path: &Path,
    quote: QuoteStyle,
    header: impl IntoIterator<Item = H>,
    rows: &[T],
) -> Result<(), Error> {
    write_csv(path, quote, header, |w| {
        for r in rows {
            w.serialize(r)?;
        }
        Ok(())
    })
}

/// The reader's error as `Error::Input` naming the file (csv's own message names the line).
/// Readers here are flexible and read strings, so only I/O and UTF-8 errors reach this.
fn read_error(file: &Path, e: csv::Error) -> Error {
    let why = match e.kind() {
        csv::ErrorKind::Io(e) => format!("cannot read ({e})"),
        _ => e.to_string(),
    };
    Error::Input(format!("{}: {why}", file.display()))
}

/// A record's fields as they read, on one line, for messages.
fn row_text(record: &StringRecord) -> String {
    let text = record.iter().collect::<Vec<_>>().join(",");
    text.replace('\r', "\\r").replace('\n', "\\n")
}

fn line_of(record: &StringRecord) -> u64 {
    record.position().map_or(0, |p| p.line())
}

// ---------------------------------------------------------------------------------------------
// path.csv

/// The columns of `path.csv`.
pub const PATH_COLUMNS: [&str; 8] = [
    "step",
    "time",
    "fee",
    "stake0",
    "stake1",
    "action0",
    "action1",
    "beyond_horizon",
];

#[derive(Serialize, Deserialize)]
struct PathRow {
    step: usize,
    #[serde(serialize_with = "display")]
    time: f64,
    #[serde(serialize_with = "display")]
    fee: f64,
    #[serde(serialize_with = "display")]
    stake0: f64,
    #[serde(serialize_with = "display")]
    stake1: f64,
    action0: Option<i64>,
    action1: Option<i64>,
    beyond_horizon: bool,
}

/// `path.csv`: `step,time,fee,stake0,stake1,action0,action1`; the last row has no actions.
pub fn write_path(path: &Path, points: &[PathPoint]) -> Result<(), Error> {
    write_csv(path, QuoteStyle::Necessary, PATH_COLUMNS, |w| {
        for p in points {
            w.serialize(PathRow {
                step: p.step,
                time: p.time,
                fee: p.fee,
                stake0: p.stakes[0],
                stake1: p.stakes[1],
                action0: p.actions.map(|a| a[0]),
                action1: p.actions.map(|a| a[1]),
                beyond_horizon: p.beyond_horizon,
            })?;
        }
        Ok(())
    })
}

/// `path.csv` as [`write_path`] writes it (fields may carry spaces around them).
pub fn read_path(file: &Path) -> Result<Vec<PathPoint>, Error> {
    let bad = |why: String| Error::Input(format!("{}: {why}", file.display()));
    let f = File::open(file).map_err(|e| bad(format!("cannot read ({e})")))?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(f);
    let header = reader.headers().map_err(|e| read_error(file, e))?;
    // Files written before `beyond_horizon` lack that column: their last point is past the
    // horizon exactly when the path has time_points + 1 points (the notebook scheme's), which
    // the caller knows; here it reads as within.
    let columns = if header.iter().eq(PATH_COLUMNS) {
        PATH_COLUMNS.len()
    } else if header.iter().eq(PATH_COLUMNS[..7].iter().copied()) {
        7
    } else {
        return Err(bad(format!("header is not {}", PATH_COLUMNS.join(","))));
    };
    let mut points = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| read_error(file, e))?;
        let malformed = || {
            bad(format!(
                "line {}: malformed row `{}`",
                line_of(&record),
                row_text(&record)
            ))
        };
        if record.len() != columns {
            return Err(malformed());
        }
        let mut full = record.clone();
        if columns == 7 {
            full.push_field("false");
        }
        let row: PathRow = full.deserialize(None).map_err(|_| malformed())?;
        let actions = match (row.action0, row.action1) {
            (Some(a0), Some(a1)) => Some([a0, a1]),
            (None, None) => None,
            _ => return Err(malformed()),
        };
        points.push(PathPoint {
            step: row.step,
            time: row.time,
            fee: row.fee,
            stakes: [row.stake0, row.stake1],
            actions,
            beyond_horizon: row.beyond_horizon,
        });
    }
    if points.is_empty() {
        return Err(bad("has no rows".into()));
    }
    Ok(points)
}

// ---------------------------------------------------------------------------------------------
// refine.csv

/// The columns of `refine.csv`.
pub const REFINE_COLUMNS: [&str; 15] = [
    "level",
    "fee_points",
    "stake_points",
    "time_points",
    "solve_seconds",
    "value0",
    "value1",
    "diff0",
    "order0",
    "diff1",
    "order1",
    "end_stake0",
    "end_stake1",
    "end_fee",
    "several_share",
];

/// One level of `mmgame refine`; a difference or order a level does not have is left empty.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefineRow {
    pub level: usize,
    pub fee_points: i64,
    pub stake_points: i64,
    pub time_points: i64,
    #[serde(serialize_with = "display")]
    pub solve_seconds: f64,
    #[serde(serialize_with = "display")]
    pub value0: f64,
    #[serde(serialize_with = "display")]
    pub value1: f64,
    #[serde(serialize_with = "display_opt")]
    pub diff0: Option<f64>,
    #[serde(serialize_with = "display_opt")]
    pub order0: Option<f64>,
    #[serde(serialize_with = "display_opt")]
    pub diff1: Option<f64>,
    #[serde(serialize_with = "display_opt")]
    pub order1: Option<f64>,
    #[serde(serialize_with = "display")]
    pub end_stake0: f64,
    #[serde(serialize_with = "display")]
    pub end_stake1: f64,
    #[serde(serialize_with = "display")]
    pub end_fee: f64,
    #[serde(serialize_with = "display")]
    pub several_share: f64,
}

/// `refine.csv`: one row per level.
pub fn write_refine(path: &Path, rows: &[RefineRow]) -> Result<(), Error> {
    write_rows(path, QuoteStyle::Necessary, REFINE_COLUMNS, rows)
}

// ---------------------------------------------------------------------------------------------
// bench.csv

/// The columns of `bench.csv`, one row per (grid, backend).
pub const BENCH_COLUMNS: [&str; 31] = [
    "scheme",
    "backend",
    "device",
    "threads",
    "grid",
    "fee_points",
    "stake_points",
    "time_points",
    "iterations",
    "cell_updates",
    "runs",
    "median_s",
    "min_s",
    "max_s",
    "cell_updates_per_s",
    "cell_updates_per_s_min",
    "cell_updates_per_s_max",
    "gpu_cpu_ratio",
    "bytes_per_update",
    "table_bytes_per_update",
    "flops_per_update",
    "flops_per_s",
    "copy_bytes",
    "copy_bandwidth_bytes_per_s",
    "copy_bandwidth_bytes_per_s_min",
    "bound_cell_updates_per_s",
    "efficiency",
    "bound_s",
    "kernel_s",
    "transfer_s",
    "host_s",
];

/// One (grid, backend) measurement of `mmgame bench`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchRow {
    pub scheme: String,
    pub backend: String,
    #[serde(serialize_with = "always_quoted")]
    pub device: String,
    pub threads: Option<usize>,
    /// `31x61x9`.
    pub grid: String,
    pub fee_points: usize,
    pub stake_points: usize,
    pub time_points: usize,
    pub iterations: usize,
    #[serde(serialize_with = "display")]
    pub cell_updates: f64,
    pub runs: usize,
    #[serde(serialize_with = "exponent")]
    pub median_s: f64,
    #[serde(serialize_with = "exponent")]
    pub min_s: f64,
    #[serde(serialize_with = "exponent")]
    pub max_s: f64,
    #[serde(serialize_with = "exponent")]
    pub cell_updates_per_s: f64,
    #[serde(serialize_with = "exponent")]
    pub cell_updates_per_s_min: f64,
    #[serde(serialize_with = "exponent")]
    pub cell_updates_per_s_max: f64,
    #[serde(serialize_with = "exponent_opt")]
    pub gpu_cpu_ratio: Option<f64>,
    pub bytes_per_update: u64,
    pub table_bytes_per_update: u64,
    pub flops_per_update: u64,
    #[serde(serialize_with = "exponent")]
    pub flops_per_s: f64,
    pub copy_bytes: u64,
    #[serde(serialize_with = "exponent")]
    pub copy_bandwidth_bytes_per_s: f64,
    #[serde(serialize_with = "exponent")]
    pub copy_bandwidth_bytes_per_s_min: f64,
    #[serde(serialize_with = "exponent")]
    pub bound_cell_updates_per_s: f64,
    #[serde(serialize_with = "exponent")]
    pub efficiency: f64,
    /// The solve at the bandwidth bound: cell updates ÷ bound_cell_updates_per_s.
    #[serde(serialize_with = "exponent")]
    pub bound_s: f64,
    /// A GPU `equilibrium` run's split (the last timed run; empty otherwise): see
    /// `GpuTimeSplit`.
    #[serde(serialize_with = "exponent_opt")]
    pub kernel_s: Option<f64>,
    #[serde(serialize_with = "exponent_opt")]
    pub transfer_s: Option<f64>,
    #[serde(serialize_with = "exponent_opt")]
    pub host_s: Option<f64>,
}

/// `bench.csv`: one row per (grid, backend).
pub fn write_bench(path: &Path, rows: &[BenchRow]) -> Result<(), Error> {
    write_rows(path, QuoteStyle::Never, BENCH_COLUMNS, rows)
}

// ---------------------------------------------------------------------------------------------
// sweep.csv

/// The columns of `sweep.csv` after the index and the varied keys.
pub const SWEEP_OUTCOME_COLUMNS: [&str; 7] = [
    "iterations",
    "converged",
    "end_stake0",
    "end_stake1",
    "end_fee",
    "value0",
    "value1",
];

/// One solved point of a sweep: the columns after its index and varied values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepOutcome {
    pub iterations: usize,
    pub converged: bool,
    #[serde(serialize_with = "display")]
    pub end_stake0: f64,
    #[serde(serialize_with = "display")]
    pub end_stake1: f64,
    #[serde(serialize_with = "display")]
    pub end_fee: f64,
    #[serde(serialize_with = "display")]
    pub value0: f64,
    #[serde(serialize_with = "display")]
    pub value1: f64,
}

/// One row of `sweep.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepRow {
    pub index: usize,
    /// The varied keys' values as written (TOML literals), one per key.
    pub values: Vec<String>,
    pub outcome: SweepOutcome,
}

/// `sweep.csv`: `index,<varied keys…>,iterations,converged,end_stake0,end_stake1,end_fee,
/// value0,value1`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SweepTable {
    pub keys: Vec<String>,
    pub rows: Vec<SweepRow>,
}

/// Writes `table` to `path`; every row must have one value per key.
pub fn write_sweep(path: &Path, table: &SweepTable) -> Result<(), Error> {
    let header = std::iter::once("index")
        .chain(table.keys.iter().map(String::as_str))
        .chain(SWEEP_OUTCOME_COLUMNS);
    write_csv(path, QuoteStyle::Necessary, header, |w| {
        for r in &table.rows {
            if r.values.len() != table.keys.len() {
                return Err(std::io::Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "point {} has {} values for {} varied keys",
                        r.index,
                        r.values.len(),
                        table.keys.len()
                    ),
                ));
            }
            w.serialize((r.index, &r.values, &r.outcome))?;
        }
        Ok(())
    })
}

/// `sweep.csv` as [`write_sweep`] writes it.
pub fn read_sweep(file: &Path) -> Result<SweepTable, Error> {
    let bad = |why: String| Error::Input(format!("{}: {why}", file.display()));
    let f = File::open(file).map_err(|e| bad(format!("cannot read ({e})")))?;
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(f);
    let header = reader.headers().map_err(|e| read_error(file, e))?.clone();
    let n = header.len();
    let outcome_at = n.saturating_sub(SWEEP_OUTCOME_COLUMNS.len());
    if n < 1 + SWEEP_OUTCOME_COLUMNS.len()
        || &header[0] != "index"
        || header.iter().skip(outcome_at).ne(SWEEP_OUTCOME_COLUMNS)
    {
        return Err(bad(format!(
            "header is not index,<varied keys…>,{} (not a sweep.csv?)",
            SWEEP_OUTCOME_COLUMNS.join(",")
        )));
    }
    let keys: Vec<String> = header
        .iter()
        .take(outcome_at)
        .skip(1)
        .map(String::from)
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| read_error(file, e))?;
        let line = line_of(&record);
        let row = |why: String| bad(format!("line {line}: {why} in row `{}`", row_text(&record)));
        if record.len() != n {
            return Err(row(format!("{} fields, expected {n}", record.len())));
        }
        let index = record[0]
            .parse()
            .map_err(|_| row(format!("index `{}` is not a whole number", &record[0])))?;
        let outcome: StringRecord = record.iter().skip(outcome_at).collect();
        let outcome: SweepOutcome = outcome.deserialize(None).map_err(|e| {
            let column = match e.kind() {
                csv::ErrorKind::Deserialize { err, .. } => err.field(),
                _ => None,
            };
            match column {
                Some(c) => {
                    let c = outcome_at + c as usize;
                    let (name, value) = (header.get(c), record.get(c));
                    row(format!(
                        "{} `{}` is not valid",
                        name.unwrap_or("?"),
                        value.unwrap_or("")
                    ))
                }
                None => row(format!("malformed outcome ({e})")),
            }
        })?;
        // `NaN` and `inf` parse as f64, but no solve writes them: such a row was edited or
        // corrupted, and would pass silently into a merge and its plots.
        if let Some(c) =
            (outcome_at..n).find(|&c| record[c].parse::<f64>().is_ok_and(|x| !x.is_finite()))
        {
            return Err(row(format!(
                "{} `{}` is not a finite number",
                &header[c], &record[c]
            )));
        }
        rows.push(SweepRow {
            index,
            values: record
                .iter()
                .take(outcome_at)
                .skip(1)
                .map(String::from)
                .collect(),
            outcome,
        });
    }
    Ok(SweepTable { keys, rows })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The hand-written writers this module replaces, kept to compare bytes with.
    mod old {
        use super::super::{BenchRow, RefineRow, SweepTable};
        use crate::io::write_atomic;
        use crate::simulate::PathPoint;
        use std::io::Write;
        use std::path::Path;

        /// output.rs `write_path`.
        pub fn write_path(path: &Path, points: &[PathPoint]) {
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
            .unwrap()
        }

        /// refine.rs `write_csv`, reading its figures from the rows.
        pub fn write_refine(path: &Path, rows: &[RefineRow]) {
            let opt = |x: Option<f64>| x.map_or(String::new(), |v| v.to_string());
            write_atomic(path, |w| {
                writeln!(
                    w,
                    "level,fee_points,stake_points,time_points,solve_seconds,value0,value1,diff0,order0,diff1,order1,end_stake0,end_stake1,end_fee,several_share"
                )?;
                for r in rows {
                    writeln!(
                        w,
                        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                        r.level,
                        r.fee_points,
                        r.stake_points,
                        r.time_points,
                        r.solve_seconds,
                        r.value0,
                        r.value1,
                        opt(r.diff0),
                        opt(r.order0),
                        opt(r.diff1),
                        opt(r.order1),
                        r.end_stake0,
                        r.end_stake1,
                        r.end_fee,
                        r.several_share
                    )?;
                }
                Ok(())
            })
            .unwrap()
        }

        /// bench.rs `write_csv`, reading its figures from the rows.
        pub fn write_bench(path: &Path, columns: &[&str], rows: &[BenchRow]) {
            write_atomic(path, |w| {
                writeln!(w, "{}", columns.join(","))?;
                for r in rows {
                    let cells = [
                        r.scheme.clone(),
                        r.backend.clone(),
                        format!("\"{}\"", r.device.replace('"', "\"\"")),
                        r.threads.map(|t| t.to_string()).unwrap_or_default(),
                        r.grid.clone(),
                        r.fee_points.to_string(),
                        r.stake_points.to_string(),
                        r.time_points.to_string(),
                        r.iterations.to_string(),
                        format!("{}", r.cell_updates),
                        r.runs.to_string(),
                        format!("{:e}", r.median_s),
                        format!("{:e}", r.min_s),
                        format!("{:e}", r.max_s),
                        format!("{:e}", r.cell_updates_per_s),
                        format!("{:e}", r.cell_updates_per_s_min),
                        format!("{:e}", r.cell_updates_per_s_max),
                        r.gpu_cpu_ratio
                            .map(|x| format!("{x:e}"))
                            .unwrap_or_default(),
                        r.bytes_per_update.to_string(),
                        r.table_bytes_per_update.to_string(),
                        r.flops_per_update.to_string(),
                        format!("{:e}", r.flops_per_s),
                        r.copy_bytes.to_string(),
                        format!("{:e}", r.copy_bandwidth_bytes_per_s),
                        format!("{:e}", r.copy_bandwidth_bytes_per_s_min),
                        format!("{:e}", r.bound_cell_updates_per_s),
                        format!("{:e}", r.efficiency),
                        format!("{:e}", r.bound_s),
                        r.kernel_s.map(|x| format!("{x:e}")).unwrap_or_default(),
                        r.transfer_s.map(|x| format!("{x:e}")).unwrap_or_default(),
                        r.host_s.map(|x| format!("{x:e}")).unwrap_or_default(),
                    ];
                    writeln!(w, "{}", cells.join(","))?;
                }
                Ok(())
            })
            .unwrap()
        }

        /// sweep.rs: the header and rows `run` formats, written by `write_rows`.
        pub fn write_sweep(path: &Path, t: &SweepTable) {
            let header = format!(
                "index,{},iterations,converged,end_stake0,end_stake1,end_fee,value0,value1",
                t.keys.join(",")
            );
            let rows: Vec<String> = t
                .rows
                .iter()
                .map(|r| {
                    let o = &r.outcome;
                    format!(
                        "{},{},{},{},{},{},{},{},{}",
                        r.index,
                        r.values.join(","),
                        o.iterations,
                        o.converged,
                        o.end_stake0,
                        o.end_stake1,
                        o.end_fee,
                        o.value0,
                        o.value1
                    )
                })
                .collect();
            write_atomic(path, |w| {
                writeln!(w, "{header}")?;
                for r in &rows {
                    writeln!(w, "{r}")?;
                }
                Ok(())
            })
            .unwrap()
        }
    }

    /// Floats whose `Display` and ryu texts differ, and a few that stress either.
    const FLOATS: [f64; 12] = [
        10.0,
        0.0,
        -0.0,
        0.07500000000000001,
        1.0 / 3.0,
        1e-7,
        -2.5e-12,
        1e21,
        123456789.125,
        f64::MAX,
        f64::MIN_POSITIVE,
        -7.0,
    ];

    fn points() -> Vec<PathPoint> {
        let mut points: Vec<PathPoint> = FLOATS
            .iter()
            .enumerate()
            .map(|(i, &x)| PathPoint {
                step: i,
                time: i as f64 * 0.075,
                fee: x,
                stakes: [-x, x * 0.5],
                actions: Some([i as i64 - 3, 1]),
                beyond_horizon: false,
            })
            .collect();
        let last = points.last_mut().unwrap();
        last.actions = None;
        last.beyond_horizon = true;
        points
    }

    fn write_text(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::File::create(&p)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        p
    }

    fn input_error(e: Error, file: &Path, expected: &str) {
        let text = e.to_string();
        assert!(matches!(e, Error::Input(_)), "{text}");
        assert!(text.starts_with(&format!("{}: ", file.display())), "{text}");
        assert!(text.contains(expected), "expected `{expected}` in: {text}");
        assert_eq!(text.lines().count(), 1, "{text}");
    }

    #[test]
    fn path_csv_is_the_old_writers_plus_beyond_horizon_and_reads_both() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
        for points in [points(), vec![], points()[11..].to_vec()] {
            write_path(&a, &points).unwrap();
            old::write_path(&b, &points);
            // Every field of the old writer, then the new column.
            let ours = std::fs::read_to_string(&a).unwrap();
            let theirs = std::fs::read_to_string(&b).unwrap();
            let trimmed: Vec<&str> = ours.lines().map(|l| &l[..l.rfind(',').unwrap()]).collect();
            assert_eq!(trimmed, theirs.lines().collect::<Vec<_>>());
        }
        let points = points();
        write_path(&a, &points).unwrap();
        let text = std::fs::read_to_string(&a).unwrap();
        assert!(text.contains("\n0,0,10,-10,5,-3,1,false\n"), "{text}");
        assert!(text.contains(",0.07500000000000001,"), "{text}");
        assert!(text.ends_with(",,true\n"), "{text}");
        assert_eq!(read_path(&a).unwrap(), points);
        // A file from before the column reads with every point within the horizon.
        old::write_path(&b, &points);
        let within: Vec<PathPoint> = points
            .iter()
            .map(|p| PathPoint {
                beyond_horizon: false,
                ..p.clone()
            })
            .collect();
        assert_eq!(read_path(&b).unwrap(), within);
    }

    #[test]
    fn path_csv_reads_spaced_fields_and_skips_blank_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_text(
            dir.path(),
            "p.csv",
            "step, time,fee,stake0,stake1,action0,action1\n\n0, 0 ,0.1,1,2, -1 ,1\n1,0.5,0.2,3,4, , \n",
        );
        let points = read_path(&p).unwrap();
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].actions, Some([-1, 1]));
        assert_eq!(points[1].stakes, [3.0, 4.0]);
        assert_eq!(points[1].actions, None);
    }

    #[test]
    fn path_csv_errors_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let header = "step,time,fee,stake0,stake1,action0,action1\n";
        let cases = [
            (
                "",
                "header is not step,time,fee,stake0,stake1,action0,action1",
            ),
            ("index,a\n0,1\n", "header is not step,time"),
            (header, "has no rows"),
            ("step,time,fee,stake0,stake1,action0\n", "header is not"),
            (
                &format!("{header}0,0,0.1,1,2,1,1\n7\n"),
                "line 3: malformed row `7`",
            ),
            (
                &format!("{header}0,0,0.1,1,2,1\n"),
                "line 2: malformed row `0,0,0.1,1,2,1`",
            ),
            (
                &format!("{header}0,0,0.1,1,2,1,1,9\n"),
                "line 2: malformed row",
            ),
            (
                &format!("{header}0,0,x,1,2,1,1\n"),
                "line 2: malformed row `0,0,x,1,2,1,1`",
            ),
            (
                &format!("{header}-1,0,0.1,1,2,1,1\n"),
                "line 2: malformed row",
            ),
            (
                &format!("{header}0,0,0.1,1,2,1.5,1\n"),
                "line 2: malformed row",
            ),
            (
                &format!("{header}0,0,0.1,1,2,1,\n"),
                "line 2: malformed row",
            ),
            (
                &format!("{header}0,0,0.1,1,2,,1\n"),
                "line 2: malformed row",
            ),
        ];
        for (text, expected) in cases {
            let p = write_text(dir.path(), "path.csv", text);
            input_error(read_path(&p).unwrap_err(), &p, expected);
        }
        let p = dir.path().join("bad.csv");
        std::fs::write(
            &p,
            b"step,time,fee,stake0,stake1,action0,action1\n0,\xff,0,0,0,1,1\n",
        )
        .unwrap();
        input_error(read_path(&p).unwrap_err(), &p, "line 2");
        let p = dir.path().join("missing.csv");
        input_error(read_path(&p).unwrap_err(), &p, "cannot read (");
    }

    fn refine_rows() -> Vec<RefineRow> {
        (0..3)
            .map(|k| RefineRow {
                level: k,
                fee_points: 5 * (k as i64 + 1),
                stake_points: 7,
                time_points: 3,
                solve_seconds: FLOATS[k + 3],
                value0: FLOATS[k],
                value1: -FLOATS[k + 5],
                diff0: (k > 0).then_some(FLOATS[k + 6]),
                order0: (k > 1).then_some(2.0),
                diff1: (k > 0).then_some(0.1 + 0.2),
                order1: (k > 1).then_some(-1.5),
                end_stake0: 10.0,
                end_stake1: FLOATS[k + 8],
                end_fee: 0.075,
                several_share: 0.0,
            })
            .collect()
    }

    #[test]
    fn refine_csv_is_byte_identical_to_the_old_writer() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
        for rows in [refine_rows(), vec![]] {
            write_refine(&a, &rows).unwrap();
            old::write_refine(&b, &rows);
            assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        }
        write_refine(&a, &refine_rows()).unwrap();
        let text = std::fs::read_to_string(&a).unwrap();
        assert!(text.lines().nth(1).unwrap().contains(",,,,"), "{text}");
    }

    fn bench_rows() -> Vec<BenchRow> {
        ["Intel(R) Xeon(R) CPU @ 2.20GHz", "GPU \"big\", v2", ""]
            .iter()
            .enumerate()
            .map(|(i, name)| BenchRow {
                scheme: "notebook".into(),
                backend: if i == 1 { "gpu" } else { "cpu" }.into(),
                device: name.to_string(),
                threads: (i != 1).then_some(16),
                grid: "5x7x3".into(),
                fee_points: 5,
                stake_points: 7,
                time_points: 3,
                iterations: 10,
                cell_updates: 4900.0,
                runs: 2,
                median_s: 1.5e-3,
                min_s: FLOATS[i + 3],
                max_s: 2.0,
                cell_updates_per_s: 3266666.6666666665,
                cell_updates_per_s_min: FLOATS[i + 5],
                cell_updates_per_s_max: 1e21,
                gpu_cpu_ratio: (i == 1).then_some(12.25),
                bytes_per_update: 41,
                table_bytes_per_update: 64,
                flops_per_update: 120,
                flops_per_s: 3.9e8,
                copy_bytes: 1 << 30,
                copy_bandwidth_bytes_per_s: 2.0e10,
                copy_bandwidth_bytes_per_s_min: -0.0,
                bound_cell_updates_per_s: 4.878048780487805e8,
                efficiency: 0.0066966666,
                bound_s: 1.0e-5,
                kernel_s: (i == 1).then_some(1.25e-3),
                transfer_s: (i == 1).then_some(2.0e-5),
                host_s: (i == 1).then_some(1.0e-4),
            })
            .collect()
    }

    #[test]
    fn bench_csv_is_byte_identical_to_the_old_writer() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
        for rows in [bench_rows(), vec![]] {
            write_bench(&a, &rows).unwrap();
            old::write_bench(&b, &BENCH_COLUMNS, &rows);
            assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        }
    }

    #[test]
    fn bench_csv_reads_as_tests_bench_rs_reads_it() {
        // tests/bench.rs: the device is the only quoted field; split on its quotes first.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bench.csv");
        write_bench(&p, &bench_rows()[..1]).unwrap();
        let csv = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0].split(',').collect::<Vec<_>>(), BENCH_COLUMNS);
        assert_eq!(lines.len(), 2);
        let (before, rest) = lines[1].split_once('"').unwrap();
        let (device, after) = rest.split_once('"').unwrap();
        assert_eq!(device, "Intel(R) Xeon(R) CPU @ 2.20GHz");
        let mut cells: Vec<&str> = before.trim_end_matches(',').split(',').collect();
        cells.push("device");
        cells.extend(after.trim_start_matches(',').split(','));
        assert_eq!(cells.len(), BENCH_COLUMNS.len());
        let cell = |name: &str| cells[BENCH_COLUMNS.iter().position(|c| *c == name).unwrap()];
        assert_eq!(cell("scheme"), "notebook");
        assert_eq!(cell("cell_updates"), "4900");
        assert_eq!(cell("median_s"), "1.5e-3");
        assert_eq!(cell("gpu_cpu_ratio"), "");
        // And any CSV reader reads it, quotes in the name included.
        write_bench(&p, &bench_rows()).unwrap();
        let mut r = csv::Reader::from_path(&p).unwrap();
        assert_eq!(
            r.headers().unwrap().iter().collect::<Vec<_>>(),
            BENCH_COLUMNS
        );
        let records: Vec<StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(&records[1][2], "GPU \"big\", v2");
        assert_eq!(&records[1][17], "1.225e1");
        assert!(records.iter().all(|r| r.len() == BENCH_COLUMNS.len()));
    }

    #[test]
    fn column_constants_are_the_serialized_field_names() {
        fn header<T: Serialize>(row: &T) -> String {
            let mut w = csv::Writer::from_writer(vec![]);
            w.serialize(row).unwrap();
            let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
            text.lines().next().unwrap().to_string()
        }
        assert_eq!(header(&bench_rows()[0]), BENCH_COLUMNS.join(","));
        assert_eq!(header(&refine_rows()[0]), REFINE_COLUMNS.join(","));
        assert_eq!(
            header(&sweep_table().rows[0].outcome),
            SWEEP_OUTCOME_COLUMNS.join(",")
        );
        let p = &points()[0];
        let row = PathRow {
            step: p.step,
            time: p.time,
            fee: p.fee,
            stake0: 0.0,
            stake1: 0.0,
            action0: None,
            action1: None,
            beyond_horizon: false,
        };
        assert_eq!(header(&row), PATH_COLUMNS.join(","));
    }

    fn sweep_table() -> SweepTable {
        let keys = vec![
            "model.fee_speed".to_string(),
            "grid.stake_points".to_string(),
        ];
        let mut rows = Vec::new();
        for (i, (a, b)) in [("0.05", "15"), ("0.1", "23"), ("0.15000000000000002", "31")]
            .iter()
            .enumerate()
        {
            rows.push(SweepRow {
                index: i * 3 + 1,
                values: vec![a.to_string(), b.to_string()],
                outcome: SweepOutcome {
                    iterations: i + 1,
                    converged: i != 1,
                    end_stake0: FLOATS[i],
                    end_stake1: FLOATS[i + 3],
                    end_fee: FLOATS[i + 6],
                    value0: FLOATS[i + 8],
                    value1: -FLOATS[i + 9],
                },
            });
        }
        SweepTable { keys, rows }
    }

    #[test]
    fn sweep_csv_is_byte_identical_to_the_old_writer_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
        let one_key = SweepTable {
            keys: vec!["model.fee_speed".into()],
            rows: sweep_table()
                .rows
                .into_iter()
                .map(|mut r| {
                    r.values.truncate(1);
                    r
                })
                .collect(),
        };
        let no_rows = SweepTable {
            keys: sweep_table().keys,
            rows: vec![],
        };
        for t in [sweep_table(), one_key, no_rows] {
            write_sweep(&a, &t).unwrap();
            old::write_sweep(&b, &t);
            assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
            assert_eq!(read_sweep(&a).unwrap(), t);
        }
        let text = std::fs::read_to_string(&a).unwrap();
        assert_eq!(
            text,
            "index,model.fee_speed,grid.stake_points,iterations,converged,end_stake0,end_stake1,end_fee,value0,value1\n"
        );
    }

    #[test]
    fn sweep_values_that_need_quotes_get_them_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.csv");
        let mut t = sweep_table();
        t.rows[0].values[0] = "\"a, b\"".into();
        write_sweep(&p, &t).unwrap();
        assert_eq!(read_sweep(&p).unwrap(), t);
        t.rows[1].values.pop();
        let e = write_sweep(&p, &t).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
    }

    #[test]
    fn sweep_csv_errors_name_the_file_and_line_and_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        let header = "index,model.fee_speed,iterations,converged,end_stake0,end_stake1,end_fee,value0,value1\n";
        let good = "0,0.05,10,true,1,2,0.1,0.5,0.25\n";
        let cases = [
            (
                "",
                "header is not index,<varied keys…>,iterations,converged",
            ),
            ("index\n", "header is not"),
            (
                "step,time,fee,stake0,stake1,action0,action1\n",
                "header is not",
            ),
            (
                "idx,k,iterations,converged,end_stake0,end_stake1,end_fee,value0,value1\n",
                "header is not",
            ),
            (
                "index,k,iterations,converged,end_stake0,end_stake1,end_fee,value0\n",
                "header is not",
            ),
            (
                &format!("{header}{good}5\n"),
                "line 3: 1 fields, expected 9 in row `5`",
            ),
            (
                &format!("{header}0,0.05,10,true,1,2,0.1,0.5\n"),
                "line 2: 8 fields, expected 9",
            ),
            (
                &format!("{header}{good}{good}0,0.05,10,true,1,2,0.1,0.5,0.25,\n"),
                "line 4: 10 fields, expected 9",
            ),
            (
                &format!("{header}x,0.05,10,true,1,2,0.1,0.5,0.25\n"),
                "line 2: index `x` is not a whole number",
            ),
            (
                &format!("{header}-1,0.05,10,true,1,2,0.1,0.5,0.25\n"),
                "line 2: index `-1` is not a whole number",
            ),
            (
                &format!("{header}0,0.05,10,true,1,2,abc,0.5,0.25\n"),
                "line 2: end_fee `abc` is not valid",
            ),
            (
                &format!("{header}0,0.05,10,yes,1,2,0.1,0.5,0.25\n"),
                "line 2: converged `yes` is not valid",
            ),
            (
                &format!("{header}0,0.05,1.5,true,1,2,0.1,0.5,0.25\n"),
                "line 2: iterations `1.5` is not valid",
            ),
            (
                &format!("{header}0,0.05,10,true,1,2,0.1,0.5,\n"),
                "line 2: value1 `` is not valid",
            ),
            (
                &format!("{header}{good}1,0.05,10,true,1,2,0.1,NaN,0.25\n"),
                "line 3: value0 `NaN` is not a finite number",
            ),
            (
                &format!("{header}0,0.05,10,true,inf,2,0.1,0.5,0.25\n"),
                "line 2: end_stake0 `inf` is not a finite number",
            ),
            (
                &format!("{header}0,0.05,10,true,1,2,0.1,0.5,-infinity\n"),
                "line 2: value1 `-infinity` is not a finite number",
            ),
            (
                &format!("{header}0,0.05,10,maybe,1,2,0.1,0.5,0.25\n"),
                "line 2: converged `maybe` is not valid",
            ),
        ];
        for (text, expected) in cases {
            let p = write_text(dir.path(), "sweep.csv", text);
            input_error(read_sweep(&p).unwrap_err(), &p, expected);
        }
        let p = dir.path().join("bad.csv");
        std::fs::write(
            &p,
            [header.as_bytes(), b"0,\xff,10,true,1,2,0.1,0.5,0.25\n"].concat(),
        )
        .unwrap();
        input_error(read_sweep(&p).unwrap_err(), &p, "line 2");
        let p = dir.path().join("missing.csv");
        input_error(read_sweep(&p).unwrap_err(), &p, "cannot read (");
        // Blank lines are skipped, as sweep-merge skipped them.
        let p = write_text(dir.path(), "ok.csv", &format!("{header}\n{good}\n"));
        assert_eq!(read_sweep(&p).unwrap().rows.len(), 1);
    }
}
