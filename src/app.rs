//! The commands behind the CLI: each takes parsed arguments, does the work, prints a report.

use std::path::Path;

use crate::cli::{BackendChoice, Cli, Command, ScenarioArgs};
use crate::config::{Scenario, Scheme, DEFAULT_SCENARIO};
use crate::equilibrium_run::SaveValues;
use crate::error::Error;
use crate::gpu::context::{adapters, device_type, hardware_adapter_present, GpuContext};
use crate::gpu::notebook::NotebookGpu;
use crate::output::{self, BackendInfo, Summary, RUN_FILES};
use crate::resources::{check_memory, human_bytes};
use crate::simulate::{notebook_path, PathPoint};
use crate::solution::Solution;

pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Solve {
            scenario,
            backend,
            out,
            adapter,
            quiet,
            json,
            save_values,
            no_plots,
        } => {
            let report = match (json, quiet) {
                (true, _) => Report::Json,
                (false, true) => Report::Summary,
                (false, false) => Report::Full,
            };
            solve(
                &scenario,
                backend,
                adapter.as_deref(),
                &out,
                report,
                save_values,
                no_plots,
            )
        }
        Command::Validate { scenario, adapter } => {
            crate::validate::run(&load(&scenario)?, adapter.as_deref())
        }
        Command::Bench {
            scheme,
            backend,
            grid,
            runs,
            out,
            adapter,
        } => crate::bench::run(&crate::bench::Options {
            scheme,
            backend,
            grids: grid,
            runs: runs as usize,
            out,
            adapter,
        }),
        Command::Info => info(),
        Command::Sweep {
            scenario,
            vary,
            backend,
            adapter,
            shard,
            out,
        } => {
            let base = load(&scenario)?;
            let varies = vary
                .iter()
                .map(|v| crate::sweep::Vary::parse(v))
                .collect::<Result<Vec<_>, _>>()?;
            let ctx = choose_gpu(backend, adapter.as_deref())?;
            crate::sweep::run(&base, &varies, shard, ctx.as_ref(), &out)
        }
        Command::SweepMerge { parts, out } => crate::sweep::merge(&parts, &out),
        Command::Refine {
            scenario,
            levels,
            backend,
            adapter,
            out,
        } => {
            let scenario = load(&scenario)?;
            let ctx = choose_gpu(backend, adapter.as_deref())?;
            crate::refine::run(&scenario, levels, ctx.as_ref(), &out).map(|_| ())
        }
        Command::Scenario => {
            print!("{DEFAULT_SCENARIO}");
            Ok(())
        }
        Command::Plot { out } => {
            let plots = crate::plot::plot_run(&out)?;
            println!(
                "wrote {} to {}",
                crate::plot::describe(&plots),
                out.display()
            );
            Ok(())
        }
    }
}

fn load(args: &ScenarioArgs) -> Result<Scenario, Error> {
    Scenario::load(args.scenario.as_deref(), &args.set)
}

/// Memory the CPU `notebook` solver holds: two value arrays (f64), the actions (one byte
/// each), the float32 policy written out, and the gain tables.
pub fn notebook_cpu_bytes(s: &Scenario) -> u64 {
    let g = &s.grid;
    g.all_states()
        .saturating_mul(2 * 8 + 1 + 4)
        .saturating_add(g.gain_table_bytes())
}

/// Solves the `notebook` scheme on the CPU, printing each iteration's policy change unless
/// `quiet`.
pub fn solve_cpu(scenario: &Scenario, quiet: bool) -> Result<(Solution, BackendInfo), Error> {
    check_memory("this grid on the CPU", notebook_cpu_bytes(scenario))?;
    let (game, grid) = (scenario.game(), scenario.grid());
    let solution = crate::cpu::notebook::solve(&game, &grid, &scenario.solver, |it, change| {
        if !quiet {
            println!("iteration {it:>3}: policy change {change:.6e}");
        }
    });
    let info = BackendInfo {
        backend: "cpu".into(),
        device: format!("{} threads", crate::cpu::team::team_size()),
        device_type: "cpu".into(),
        precision: solution.values.precision().into(),
    };
    Ok((solution, info))
}

/// Solves the `notebook` scheme on the GPU (f32), printing each iteration's policy change
/// unless `quiet`.
pub fn solve_gpu(
    scenario: &Scenario,
    ctx: &GpuContext,
    quiet: bool,
) -> Result<(Solution, BackendInfo), Error> {
    // The values (f32) and actions read back, and the float32 policy written out.
    check_memory(
        "this grid's results",
        scenario.grid.all_states().saturating_mul(4 + 1 + 4),
    )?;
    let (game, grid) = (scenario.game(), scenario.grid());
    let solution = NotebookGpu::new(ctx)?.solve(&game, &grid, &scenario.solver, |it, change| {
        if !quiet {
            println!("iteration {it:>3}: policy change {change:.6e}");
        }
    })?;
    let info = BackendInfo {
        backend: "gpu".into(),
        device: ctx.info.name.clone(),
        device_type: device_type(ctx.info.device_type).into(),
        precision: solution.values.precision().into(),
    };
    Ok((solution, info))
}

fn info() -> Result<(), Error> {
    let adapters = adapters();
    if adapters.is_empty() {
        println!("no GPU adapters found (install a Vulkan driver, e.g. mesa-vulkan-drivers)");
    }
    for a in adapters {
        println!(
            "{} ({}, {}, driver {} {})",
            a.name, a.backend, a.device_type, a.driver, a.driver_info
        );
        println!(
            "  max_storage_buffer_binding_size {}  max_buffer_size {}",
            human_bytes(a.max_storage_buffer_binding_size),
            human_bytes(a.max_buffer_size)
        );
        println!(
            "  max_storage_buffers_per_shader_stage {}  max_compute_workgroups_per_dimension {}  max_compute_invocations_per_workgroup {}",
            a.max_storage_buffers_per_shader_stage,
            a.max_compute_workgroups_per_dimension,
            a.max_compute_invocations_per_workgroup
        );
        let largest = ((a.max_storage_buffer_binding_size.min(a.max_buffer_size) / 4 / 15) as f64)
            .sqrt() as u64;
        println!("  largest notebook grid at fee_points = 15: stake_points = {largest} (one agent's time slice per binding)");
    }
    Ok(())
}

/// The GPU context a backend choice asks for: none for `cpu`, the adapter for `gpu` (an error
/// when there is none), and for `auto` a hardware adapter when one is present (saying which).
pub fn choose_gpu(
    backend: BackendChoice,
    adapter: Option<&str>,
) -> Result<Option<GpuContext>, Error> {
    match backend {
        BackendChoice::Cpu => Ok(None),
        BackendChoice::Gpu => GpuContext::new(adapter).map(Some),
        BackendChoice::Auto if hardware_adapter_present() => {
            eprintln!("backend auto: a hardware GPU adapter is present, solving on the GPU");
            GpuContext::new(adapter).map(Some)
        }
        BackendChoice::Auto => {
            eprintln!("backend auto: no hardware GPU adapter, solving on the CPU");
            Ok(None)
        }
    }
}

fn solve(
    args: &ScenarioArgs,
    backend: BackendChoice,
    adapter: Option<&str>,
    out: &Path,
    report: Report,
    save_values: SaveValues,
    no_plots: bool,
) -> Result<(), Error> {
    let scenario = load(args)?;
    output::check_output_dir(out)?;
    let ctx = choose_gpu(backend, adapter)?;
    let quiet = report != Report::Full;
    if scenario.solver.scheme == Scheme::Equilibrium {
        let summary =
            crate::equilibrium_run::solve(&scenario, ctx.as_ref(), out, quiet, save_values)?;
        let plots = if no_plots {
            vec![]
        } else {
            crate::plot::plot_run(out)?
        };
        match report {
            Report::Json => println!(
                "{}",
                serde_json::to_string_pretty(&summary).expect("a summary serialises")
            ),
            _ => crate::equilibrium_run::print_report(&summary, out, &plots),
        }
        return Ok(());
    }
    let (solution, info) = match &ctx {
        None => solve_cpu(&scenario, quiet)?,
        Some(ctx) => solve_gpu(&scenario, ctx, quiet)?,
    };
    let path = notebook_path(
        &scenario.game(),
        &scenario.grid(),
        &solution,
        &scenario.path,
    );
    let files = RUN_FILES.iter().map(|s| s.to_string()).collect();
    let summary = Summary::new(&scenario, info, &solution, path.clone(), files);
    output::write_run(out, &scenario, &solution, &summary, &path)?;
    let plots = if no_plots {
        vec![]
    } else {
        crate::plot::write_plots(out, &scenario, &solution, &path)?
    };
    match report {
        Report::Json => println!("{}", summary.to_json()),
        _ => print_report(&scenario, &summary, &path, out, &plots),
    }
    Ok(())
}

/// What `solve` prints on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// Each iteration's policy change, then the summary.
    Full,
    /// The summary only (`--quiet`).
    Summary,
    /// summary.json (`--json`).
    Json,
}

fn print_report(
    scenario: &Scenario,
    s: &Summary,
    path: &[PathPoint],
    out: &Path,
    plots: &[std::path::PathBuf],
) {
    let g = &scenario.grid;
    println!(
        "{} scheme on {} ({}, {}): grid {} fee × {}² stake × {} time points, control {}",
        s.scheme,
        s.backend.backend,
        s.backend.device,
        s.backend.precision,
        g.fee_points,
        g.stake_points,
        g.time_points,
        g.control
    );
    println!(
        "{} after {} iterations (last policy change {}), {:.3} s, {:.3e} cell updates/s",
        if s.converged {
            "converged"
        } else {
            "not converged"
        },
        s.iterations,
        s.policy_change.last().copied().unwrap_or(f64::NAN),
        s.solve_seconds,
        s.cell_updates_per_second
    );
    let changes: Vec<String> = s.policy_change.iter().map(|c| format!("{c:.5}")).collect();
    println!("policy change per iteration: {}", changes.join(", "));
    crate::report::print_path(path);
    crate::report::print_written(&s.files, plots, out, "");
}
