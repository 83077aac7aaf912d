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

/// The reader's error as `Error::Input` naming the file (csv's own message names the line).
/// Readers here are flexible and read strings, so only I/O and UTF-8 errors reach this.
fn read_error(file: &Path, e: csv::Error) -> Error {
    let why = match e.kind() {
        csv::ErrorKind::Io(e) => format!("cannot read ({e})"),
        _ => e.to_string(),
    };
    Error::Input(format!("{}: {why}", file.display()))
}

/// A record's fields as they read, for messages.
fn row_text(record: &StringRecord) -> String {
    record.iter().collect::<Vec<_>>().join(",")
}

fn line_of(record: &StringRecord) -> u64 {
    record.position().map_or(0, |p| p.line())
}

// ---------------------------------------------------------------------------------------------
// path.csv

/// The columns of `path.csv`.
pub const PATH_COLUMNS: [&str; 7] = [
    "step", "time", "fee", "stake0", "stake1", "action0", "action1",
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
    if header.iter().ne(PATH_COLUMNS) {
        return Err(bad(format!("header is not {}", PATH_COLUMNS.join(","))));
    }
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
        if record.len() != PATH_COLUMNS.len() {
            return Err(malformed());
        }
        let row: PathRow = record.deserialize(None).map_err(|_| malformed())?;
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
    write_csv(path, QuoteStyle::Necessary, REFINE_COLUMNS, |w| {
        for r in rows {
            w.serialize(r)?;
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// bench.csv

/// The columns of `bench.csv`, one row per (grid, backend).
pub const BENCH_COLUMNS: [&str; 27] = [
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
}

/// `bench.csv`: one row per (grid, backend).
pub fn write_bench(path: &Path, rows: &[BenchRow]) -> Result<(), Error> {
    write_csv(path, QuoteStyle::Never, BENCH_COLUMNS, |w| {
        for r in rows {
            w.serialize(r)?;
        }
        Ok(())
    })
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
            .map_err(|_| row(format!("index `{}` is not an integer", &record[0])))?;
        let outcome: StringRecord = record.iter().skip(outcome_at).collect();
        let outcome: SweepOutcome = outcome.deserialize(None).map_err(|e| {
            let column = match e.kind() {
                csv::ErrorKind::Deserialize { err, .. } => err.field(),
                _ => None,
            };
            match column {
                Some(c) => {
                    let c = outcome_at + c as usize;
                    row(format!("{} `{}` is not valid", &header[c], &record[c]))
                }
                None => row(format!("malformed outcome ({e})")),
            }
        })?;
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
