//! Everything the CLI prints on stdout: each command's report, built from what the library
//! returned.

use super::stdout::out;
use std::path::{Path, PathBuf};

use crate::api::{Run, SavePolicy, SaveValues};
use crate::gpu::context::AdapterReport;
use crate::resources::human_bytes;
use crate::simulate::PathPoint;
use crate::tools::bench::{self, Device, Row};
use crate::tools::projection;
use crate::tools::refine::{columns, Level};
use crate::tools::validate::{self, Agreement, EquilibriumAgreement, TIE_EPSILON, VALUE_TOLERANCE};
use crate::tools::{plot, sweep};

static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `-q`: only final results (and errors) from here on.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

pub fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

/// How much `solve` prints on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// Each iteration's policy change, then the summary.
    Full,
    /// The summary only (`--quiet`).
    Summary,
    /// summary.json (`--json`).
    Json,
}

impl Report {
    /// The report `--json` and `--quiet` ask for (`--json` wins).
    pub fn new(json: bool, quiet: bool) -> Self {
        match (json, quiet) {
            (true, _) => Report::Json,
            (false, true) => Report::Summary,
            (false, false) => Report::Full,
        }
    }
}

/// `solve`'s report of a run written to `out`, with its plots.
pub fn solve(run: &Run, overrides: &[String], out: &Path, plots: &[PathBuf], report: Report) {
    if report == Report::Json {
        out!("{}", run.summary().to_json());
        return;
    }
    match run.equilibrium() {
        None => notebook(run, overrides, out, plots),
        Some(e) => {
            let g = &run.scenario.grid;
            out!(
                "equilibrium scheme on {} ({}, {}), {} interpolation: grid {} fee × {}² stake × {} time points, control {}",
                run.backend.backend,
                run.backend.device,
                run.backend.precision.name(),
                e.interpolation.name(),
                g.fee_points,
                g.stake_points,
                g.time_points,
                g.control
            );
            echo_overrides(overrides);
            if report == Report::Full {
                diagnostics(&e.diagnostics);
            }
            let several: u64 = e.diagnostics.iter().map(|d| d.several_equilibria).sum();
            let no_pure: u64 = e.diagnostics.iter().map(|d| d.no_pure_equilibrium).sum();
            out!(
                "solved in {:.3} s, {:.3e} cell updates/s; states with several equilibria {several}, without a pure one {no_pure}",
                run.solve_seconds,
                run.cell_updates_per_second(),
            );
            let ambiguous = e.diagnostics.iter().map(|d| d.ambiguous).sum();
            let advice = crate::io::summary::precision_advice(
                ambiguous,
                run.cell_updates,
                run.backend.precision,
            );
            if let Some(advice) = advice {
                out!("note: {advice}");
            }
            path(&run.path);
            let saved = match e.save_values {
                SaveValues::T0 => "values at t = 0",
                SaveValues::All => "values at every time step",
            };
            let note = format!(" ({saved}{})", policy_note(run.save_policy));
            written(&run.files, plots, out, &note);
        }
    }
}

/// The keys the command line changed, so that a run shows what it solved.
fn echo_overrides(overrides: &[String]) {
    if !overrides.is_empty() {
        out!("with --set {}", overrides.join(" --set "));
    }
}

/// The equilibrium scheme's table of diagnostics per time step.
fn diagnostics(d: &[crate::api::StepDiagnostics]) {
    out!("  step   time  no pure eq.  several eq.  max exploitability  ambiguous");
    for d in d {
        out!(
            "  {:>4} {:>6.3} {:>12} {:>12} {:>19.3e} {:>10}",
            d.step,
            d.time,
            d.no_pure_equilibrium,
            d.several_equilibria,
            d.max_exploitability,
            d.ambiguous
        );
    }
}

/// A coordinate for a report: 12 significant digits, so that 0.07500000000000001 reads 0.075
/// and a rounding residue such as −6.9e-18 reads 0 (the files keep every digit).
fn number(x: f64) -> String {
    if !x.is_finite() || x == 0.0 {
        return format!("{x}");
    }
    let digits = 11 - x.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits.clamp(-300, 300));
    let rounded = (x * scale).round() / scale;
    if rounded == 0.0 {
        "0".to_string()
    } else {
        format!("{rounded}")
    }
}

fn notebook(run: &Run, overrides: &[String], out: &Path, plots: &[PathBuf]) {
    let g = &run.scenario.grid;
    let policy_change = run.notebook().map_or(&[][..], |s| &s.policy_change[..]);
    out!(
        "{} scheme on {} ({}, {}): grid {} fee × {}² stake × {} time points, control {}",
        run.scenario.solver.scheme.name(),
        run.backend.backend,
        run.backend.device,
        run.backend.precision.name(),
        g.fee_points,
        g.stake_points,
        g.time_points,
        g.control
    );
    out!(
        "{} after {} iterations (last policy change {}), {:.3} s, {:.3e} cell updates/s",
        if run.converged() {
            "converged"
        } else {
            "not converged"
        },
        run.iterations(),
        policy_change.last().copied().unwrap_or(f64::NAN),
        run.solve_seconds,
        run.cell_updates_per_second()
    );
    echo_overrides(overrides);
    let changes: Vec<String> = policy_change.iter().map(|c| format!("{c:.5}")).collect();
    out!("policy change per iteration: {}", changes.join(", "));
    path(&run.path);
    let note = policy_note(run.save_policy);
    let note = note.strip_prefix("; ").map(|n| format!(" ({n})"));
    written(&run.files, plots, out, note.as_deref().unwrap_or(""));
}

/// The path's start and end on one line, then the path as a small aligned table.
fn path(path: &[PathPoint]) {
    // The headline ends at the horizon; the table shows the notebook's extra point too.
    let (Some(first), Some(last)) = (path.first(), crate::simulate::at_horizon(path)) else {
        return;
    };
    out!(
        "path: stakes ({}, {}) fee {} at t = {} → stakes ({}, {}) fee {} at t = {}",
        number(first.stakes[0]),
        number(first.stakes[1]),
        number(first.fee),
        number(first.time),
        number(last.stakes[0]),
        number(last.stakes[1]),
        number(last.fee),
        number(last.time)
    );
    out!(
        "  {:>4} {:>8} {:>10} {:>10} {:>10} {:>7} {:>7}",
        "step",
        "time",
        "fee",
        "stake0",
        "stake1",
        "action0",
        "action1"
    );
    let show = |p: &PathPoint| {
        let (a0, a1) = p.actions.map_or((String::new(), String::new()), |a| {
            (a[0].to_string(), a[1].to_string())
        });
        out!(
            "  {:>4} {:>8.4} {:>10.5} {:>10.4} {:>10.4} {:>7} {:>7}",
            p.step,
            p.time,
            p.fee,
            p.stakes[0],
            p.stakes[1],
            a0,
            a1
        );
    };
    if path.len() <= 12 {
        path.iter().for_each(show);
    } else {
        path[..5].iter().for_each(show);
        out!("  {:>4}", "…");
        path[path.len() - 5..].iter().for_each(show);
    }
}

/// What `--save-policy` left out, if anything, as "; …".
fn policy_note(policy: SavePolicy) -> &'static str {
    match policy {
        SavePolicy::All => "",
        SavePolicy::T0 => "; policy at t = 0",
        SavePolicy::None => "; no policy.npy",
    }
}

/// "wrote FILES and plots … to DIR", with `note` appended.
fn written(files: &[String], plots: &[PathBuf], out: &Path, note: &str) {
    // The run's files list its plots too; they are named once, as plots.
    let plot_names: Vec<_> = plots.iter().filter_map(|p| p.file_name()).collect();
    let data: Vec<&str> = files
        .iter()
        .map(String::as_str)
        .filter(|f| !plot_names.iter().any(|p| p == f))
        .collect();
    let mut list = data.join(", ");
    if !plots.is_empty() {
        list = format!("{list} and {}", plot::describe(plots));
    }
    out!("wrote {list} to {}{note}", out.display());
}

/// `mmgame plot`.
pub fn plotted(plots: &[PathBuf], out: &Path) {
    out!("wrote {} to {}", plot::describe(plots), out.display());
}

/// `mmgame info`.
pub fn adapters(adapters: &[AdapterReport]) {
    if adapters.is_empty() {
        out!("no GPU adapters found (install a Vulkan driver, e.g. mesa-vulkan-drivers)");
    }
    for a in adapters {
        out!(
            "{} ({}, {}, driver {} {})",
            a.name,
            a.backend,
            a.device_type,
            a.driver,
            a.driver_info
        );
        out!(
            "  f64 in shaders (--precision f64): {}; timestamp queries (GPU time split): {}",
            if a.shader_f64 { "yes" } else { "no" },
            if a.timestamp_query { "yes" } else { "no" }
        );
        out!(
            "  max_storage_buffer_binding_size {}  max_buffer_size {}",
            human_bytes(a.max_storage_buffer_binding_size),
            human_bytes(a.max_buffer_size)
        );
        out!(
            "  max_storage_buffers_per_shader_stage {}  max_compute_workgroups_per_dimension {}  max_compute_invocations_per_workgroup {}",
            a.max_storage_buffers_per_shader_stage,
            a.max_compute_workgroups_per_dimension,
            a.max_compute_invocations_per_workgroup
        );
        let largest = ((a.max_storage_buffer_binding_size.min(a.max_buffer_size) / 4 / 15) as f64)
            .sqrt() as u64;
        out!("  largest notebook grid at fee_points = 15: stake_points = {largest} (one agent's time slice per binding)");
    }
}

/// `mmgame validate`.
pub fn validation(scenario: &crate::config::Scenario, report: &validate::Report) {
    if quiet() {
        if report.passes() {
            out!("PASS");
        }
        return;
    }
    let g = &scenario.grid;
    match report {
        validate::Report::Notebook {
            cpu,
            gpu,
            steps,
            drift,
        } => {
            out!(
                "validate: {} scheme, grid {} fee × {}² stake × {} time points",
                scenario.solver.scheme.name(),
                g.fee_points,
                g.stake_points,
                g.time_points
            );
            notebook_runs(cpu, gpu);
            notebook_steps(steps);
            notebook_drift(drift, steps.first_parting);
        }
        validate::Report::Equilibrium {
            cpu,
            gpu,
            agreement,
        } => {
            out!(
                "validate: equilibrium scheme, grid {} fee × {}² stake × {} time points",
                g.fee_points,
                g.stake_points,
                g.time_points
            );
            equilibrium_runs(cpu, gpu);
            equilibrium_agreement(agreement, gpu.backend.precision.tie_tolerance());
        }
    }
    if report.passes() {
        out!("PASS");
    }
}

fn notebook_runs(cpu: &Run, gpu: &Run) {
    let b = &gpu.backend;
    let gpu_detail = format!("{}, {}, {}", b.device, b.device_type, b.precision.name());
    let cpu_detail = format!("{}, {}", cpu.backend.device, cpu.backend.precision.name());
    for (name, run, detail) in [("cpu", cpu, cpu_detail), ("gpu", gpu, gpu_detail)] {
        out!(
            "  {name} ({detail}): {} iterations, {:.3} s, {:.3e} cell updates/s",
            run.iterations(),
            run.solve_seconds,
            run.cell_updates_per_second()
        );
    }
    let change = |r: &Run| {
        r.notebook()
            .map(|s| s.policy_change.clone())
            .unwrap_or_default()
    };
    out!(
        "  policy change: cpu {:?}\n                 gpu {:?}",
        change(cpu),
        change(gpu)
    );
}

fn equilibrium_runs(cpu: &Run, gpu: &Run) {
    out!(
        "  cpu (f64): {:.3} s, {:.3e} cell updates/s",
        cpu.solve_seconds,
        cpu.cell_updates_per_second()
    );
    out!(
        "  gpu ({}, {}): {:.3} s, {:.3e} cell updates/s",
        gpu.backend.device,
        gpu.backend.precision.name(),
        gpu.solve_seconds,
        gpu.cell_updates_per_second()
    );
    let several = |r: &Run| {
        r.equilibrium().map_or(0, |e| {
            e.diagnostics
                .iter()
                .map(|s| s.several_equilibria)
                .sum::<u64>()
        })
    };
    out!(
        "  states with several equilibria: cpu {}, gpu {}",
        several(cpu),
        several(gpu)
    );
}

/// The pass/fail part: every GPU step against f64 from its own inputs.
fn notebook_steps(c: &validate::StepCheck) {
    out!(
        "  step by step ({} iterations, {} decisions, each GPU choice against the f64 best response to its own inputs):",
        c.iterations,
        c.decisions
    );
    out!(
        "    {} errors (giving up more than ε = {TIE_EPSILON:e}·max|v| = {:.3e}), {} ties broken the other way within ε; largest gain given up {:.3e}",
        c.errors.len(),
        c.epsilon,
        c.ties,
        c.largest_loss
    );
    out!(
        "    largest value error against the f64 evaluation of its own inputs: {:.3e} of the largest value (tolerance {VALUE_TOLERANCE:e})",
        c.value_error
    );
    for (k, at, loss) in c.errors.iter().take(20) {
        out!(
            "    iteration {k} agent {} t {} fee {} stake0 {} stake1 {}: gives up {loss:.3e}",
            at[0],
            at[1],
            at[2],
            at[3],
            at[4]
        );
    }
    if c.errors.len() > 20 {
        out!("    … {} more", c.errors.len() - 20);
    }
}

/// Information: how far the two complete runs drifted apart.
fn notebook_drift(a: &Agreement, first_parting: Option<usize>) {
    let parting = first_parting.map_or("they never part".to_string(), |k| {
        format!("they part at iteration {k} (the first GPU choice other than the f64 argmax on its inputs)")
    });
    out!(
        "  drift from the CPU's run (information): {} of {} actions identical ({:.4}%), values {:.3e} of the largest apart; {parting}",
        a.identical,
        a.states,
        100.0 * a.identical as f64 / a.states as f64,
        a.value_difference
    );
}

fn equilibrium_agreement(a: &EquilibriumAgreement, tau: f64) {
    let parting = a.first_parting.map_or("they never part".to_string(), |t| {
        format!("they part at time step {t}")
    });
    out!(
        "  actions identical to the cpu's: {} of {} ({:.4}%); values differ by up to {:.3e} of the largest; {parting}",
        a.identical,
        a.states,
        100.0 * a.identical as f64 / a.states as f64,
        a.value_difference
    );
    out!(
        "  gpu selections checked in f64 on the gpu's own V(t+1): {} invalid (no tolerance between ½ and 2× the GPU's τ = {tau:e}·max(1, |U|) makes them a finalist; largest miss {:.3e}); largest value error {:.3e} (tolerance {VALUE_TOLERANCE:e})",
        a.invalid.len(),
        a.largest_miss,
        a.value_error
    );
    for (at, miss) in a.invalid.iter().take(20) {
        out!(
            "    t {} fee {} stake0 {} stake1 {}: misses the rule by {miss:.3e}",
            at[0],
            at[1],
            at[2],
            at[3]
        );
    }
}

/// `mmgame refine`: the newest level's row (and the header before the first).
pub fn refine_level(rows: &[Level], interpolation: &str, levels: u32) {
    if quiet() {
        return;
    }
    let d = columns(rows);
    let opt = |x: Option<f64>, p: usize| x.map_or("—".to_string(), |v| format!("{v:.p$}"));
    if rows.len() == 1 {
        out!(
            "refine: equilibrium scheme ({interpolation} interpolation), {levels} levels, each axis doubled per level"
        );
        out!(
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
    let r = &rows[i];
    out!(
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

pub fn refined(levels: u32, out: &Path) {
    out!(
        "wrote refine.csv and level-0 … level-{} to {}",
        levels - 1,
        out.display()
    );
}

/// `mmgame sweep`: what it is about to solve.
pub fn sweep_plan(plan: &sweep::Plan, varies: &[sweep::Vary], device: &str) {
    if quiet() {
        return;
    }
    out!(
        "sweep: {} points ({}), this shard {}/{} solves {} of them on {device}",
        plan.points,
        varies
            .iter()
            .map(|v| format!("{} × {}", v.values.len(), v.key))
            .collect::<Vec<_>>()
            .join(", "),
        plan.shard.index,
        plan.shard.count,
        plan.mine.len(),
    );
}

/// `mmgame sweep`: one solved point.
pub fn sweep_point(row: &crate::io::csv::SweepRow, varies: &[sweep::Vary]) {
    if quiet() {
        return;
    }
    let o = &row.outcome;
    out!(
        "  {:>4}  {}  → values ({:.4}, {:.4}), end stakes ({}, {}) fee {}",
        row.index,
        varies
            .iter()
            .zip(&row.values)
            .map(|(v, x)| format!("{}={x}", v.key))
            .collect::<Vec<_>>()
            .join(" "),
        o.value0,
        o.value1,
        o.end_stake0,
        o.end_stake1,
        o.end_fee
    );
}

pub fn swept(s: &sweep::Swept, out: &Path) {
    out!(
        "solved {} points in {:.2} s; wrote sweep.csv, sweep.json and {} plot files to {}",
        s.table.rows.len(),
        s.seconds,
        s.plots.len(),
        out.display()
    );
}

pub fn merged(m: &sweep::Merged, out: &Path) {
    out!(
        "merged {} of {} points from {} parts into {}",
        m.table.rows.len(),
        m.points,
        m.parts,
        out.join("sweep.csv").display()
    );
    if m.missing_shards > 0 {
        let mut named: Vec<String> = m.first_missing.iter().map(|s| s.to_string()).collect();
        if m.missing_shards > named.len() {
            named.push("…".into());
        }
        out!(
            "partial: {} of {} shards missing ({}), {} points absent; sweep.json lists the \
             shards present",
            m.missing_shards,
            m.shard_count,
            named.join(", "),
            m.points - m.table.rows.len()
        );
    }
}

/// `mmgame bench`: its first line.
pub fn bench_start(opts: &bench::Options) {
    if quiet() {
        return;
    }
    let per_solve = match opts.scheme {
        crate::config::Scheme::Notebook => {
            format!("{} iterations per solve", bench::BENCH_ITERATIONS)
        }
        crate::config::Scheme::Equilibrium => "one backward sweep per solve".to_string(),
    };
    let runs = opts.runs.max(1);
    out!(
        "{} scheme: {per_solve}, 1 warm-up + {runs} timed run{} per grid and backend",
        opts.scheme.name(),
        if runs == 1 { "" } else { "s" }
    );
}

/// `mmgame bench`: what it reports as it goes.
pub fn bench_progress(p: bench::Progress) {
    if quiet() {
        return;
    }
    match p {
        bench::Progress::GpuSkipped(e) => out!("gpu: skipped ({e})"),
        bench::Progress::Device(d) => bench_device(d),
        bench::Progress::Measured(r, d) => {
            out!(
                "  {} on {} ({}): median {:.4} s, {:.3e} cell updates/s",
                r.grid.pretty(),
                d.backend.name(),
                d.precision.name(),
                r.seconds.median,
                r.rate.median
            );
            if let Some(s) = &r.split {
                bench_split(r, d, s);
            }
        }
    }
}

/// A GPU row's time split beside what the kernels would take at the measured bandwidth.
fn bench_split(r: &Row, d: &Device, s: &crate::scheme::GpuTimeSplit) {
    let source = match s.source {
        crate::scheme::TimeSource::Timestamps => "GPU timestamps",
        crate::scheme::TimeSource::HostClock => "host clock: kernel = waiting for the GPU",
    };
    let solve = r.seconds.median;
    out!(
        "    split ({source}, {} kernel): kernel {:.4} s, read-back {:.4} s, writer {:.4} s (overlapped), waiting {:.4} s; host work not hidden {:.2} ms per step",
        s.kernel.name(),
        s.kernel_seconds,
        s.transfer_seconds,
        s.host_seconds,
        s.wait_seconds,
        1e3 * s.exposed_host_per_step(solve)
    );
    out!(
        "    kernels at the measured bandwidth bound: {:.4} s ({:.1}× faster than measured)",
        r.bound_seconds(d),
        s.kernel_seconds / r.bound_seconds(d).max(1e-12)
    );
}

/// `mmgame bench`: each grid on the reference devices.
pub fn bench_projections(scheme: crate::config::Scheme, grids: &[projection::GridProjection]) {
    let Some(first) = grids.first() else { return };
    out!();
    out!(
        "{} scheme projected on reference GPUs ({} kernels at their bound; read-back over {} GB/s, disk {} GB/s; policy.npy 1 B per action):",
        scheme.name(),
        first.precision.name(),
        projection::HOST_LINK_BYTES_PER_S / 1e9,
        projection::DISK_BYTES_PER_S / 1e9
    );
    let head = [
        "grid",
        "device",
        "B/update",
        "memory",
        "compute",
        "read-back",
        "transfer",
        "disk",
        "disk time",
        "overlapped",
        "serial",
        "bound",
    ];
    let mut table = vec![head.map(String::from).to_vec()];
    let gb = |bytes: f64| format!("{:.3} GB", bytes / 1e9);
    for g in grids {
        for (d, p) in &g.devices {
            table.push(vec![
                g.grid.pretty(),
                d.name.to_string(),
                g.work.array_bytes.to_string(),
                seconds(p.memory_seconds),
                p.compute_seconds.map_or(String::new(), seconds),
                gb(g.traffic.readback_bytes),
                seconds(p.transfer_seconds),
                gb(g.traffic.disk_bytes),
                seconds(p.disk_seconds),
                seconds(p.overlapped_seconds()),
                seconds(p.serial_seconds()),
                p.bound().name().to_string(),
            ]);
        }
    }
    let mut right = [true; 12];
    right[..2].copy_from_slice(&[false, false]);
    right[11] = false;
    columns_padded(&table, &right);
    out!("memory, compute: the kernels at the bandwidth and at the f32 peak; overlapped: the slowest part (the pipelined GPU sweep); serial: the sum");
}

/// Seconds with a unit that keeps three significant digits readable.
fn seconds(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

fn bench_device(d: &Device) {
    let bw = &d.bandwidth;
    let threads = d
        .threads
        .map(|t| format!(", {t} thread{}", if t == 1 { "" } else { "s" }))
        .unwrap_or_default();
    let copies = if bw.copies == 1 {
        String::new()
    } else {
        format!("{} × ", bw.copies)
    };
    let isa = d
        .isa
        .map(|i| format!(", {} kernels", i.name()))
        .unwrap_or_default();
    out!("{}: {}{threads}{isa}", d.backend.name(), d.name);
    out!(
        "  copy bandwidth ({copies}{} MiB, read + written bytes): {:.2} GB/s (min–max {:.2}–{:.2})",
        bw.copy_bytes >> 20,
        bw.bytes_per_second.median / 1e9,
        bw.bytes_per_second.min / 1e9,
        bw.bytes_per_second.max / 1e9,
    );
    out!(
        "  one cell update: {} B of grid arrays (+{} B of cached tables), {} flops; bandwidth bound {:.3e} cell updates/s",
        d.work.array_bytes,
        d.work.table_bytes,
        d.work.flops,
        d.bound()
    );
}

/// Prints `rows` as columns padded to their widest cell (left-aligned text, right-aligned
/// numbers).
fn columns_padded(rows: &[Vec<String>], right: &[bool]) {
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, s)| {
                let pad = " ".repeat(widths[c] - s.chars().count());
                if right[c] {
                    format!("{pad}{s}")
                } else {
                    format!("{s}{pad}")
                }
            })
            .collect();
        out!("{}", cells.join("  ").trim_end());
    }
}

/// `mmgame bench`: the final table.
pub fn bench_table(report: &bench::Report) {
    out!();
    let mut table = vec![[
        "grid",
        "backend",
        "iterations",
        "cell updates",
        "median s",
        "min–max s",
        "cell updates/s",
        "min–max",
        "GPU/CPU",
        "efficiency",
    ]
    .map(String::from)
    .to_vec()];
    for r in &report.rows {
        table.push(bench_row(r, &report.devices[r.device]));
    }
    columns_padded(
        &table,
        &[false, false, true, true, true, true, true, true, true, true],
    );
    out!("efficiency = cell updates/s ÷ (copy bandwidth ÷ bytes of grid arrays per cell update)");
    bench_projections(report.scheme, &report.projections);
    out!("wrote {}", report.csv.display());
}

fn bench_row(r: &Row, d: &Device) -> Vec<String> {
    vec![
        r.grid.pretty(),
        format!("{} {}", d.backend.name(), d.precision.name()),
        r.iterations.to_string(),
        format!("{:.3e}", r.cell_updates),
        format!("{:.4}", r.seconds.median),
        format!("{:.4}–{:.4}", r.seconds.min, r.seconds.max),
        format!("{:.3e}", r.rate.median),
        format!("{:.2e}–{:.2e}", r.rate.min, r.rate.max),
        match (r.ratio, d.backend) {
            (Some(x), crate::api::Resolved::Gpu) => format!("{x:.3}×"),
            _ => String::new(),
        },
        format!("{:.1}%", 100.0 * r.rate.median / r.bound(d)),
    ]
}
