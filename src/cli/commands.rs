//! The commands behind the CLI: each converts its arguments into the library's types, calls
//! the library, and prints the report.

use super::stdout::out_text;
use std::path::Path;

use super::args::{
    BackendChoice, BenchBackend, Cli, Command, DeviceArgs, PrecisionChoice, SavePolicyChoice,
    SaveValuesChoice, ScenarioArgs, SolveArgs,
};
use super::progress::Terminal;
use super::report::{self, Report};
use crate::api::{
    Backend, Cancel, Output, Precision, Resolved, SavePolicy, SaveValues, SolveOptions, Solver,
};
use crate::config::{Scenario, DEFAULT_SCENARIO};
use crate::error::Error;
use crate::io::lock::FolderWrite;
use crate::tools::{bench, plot, refine, sweep, validate};

impl From<BackendChoice> for Backend {
    fn from(b: BackendChoice) -> Self {
        match b {
            BackendChoice::Cpu => Backend::Cpu,
            BackendChoice::Gpu => Backend::Gpu,
            BackendChoice::Auto => Backend::Auto,
        }
    }
}

impl From<PrecisionChoice> for Precision {
    fn from(p: PrecisionChoice) -> Self {
        match p {
            PrecisionChoice::F32 => Precision::F32,
            PrecisionChoice::F64 => Precision::F64,
        }
    }
}

impl From<SavePolicyChoice> for SavePolicy {
    fn from(s: SavePolicyChoice) -> Self {
        match s {
            SavePolicyChoice::All => SavePolicy::All,
            SavePolicyChoice::T0 => SavePolicy::T0,
            SavePolicyChoice::None => SavePolicy::None,
        }
    }
}

impl From<SaveValuesChoice> for SaveValues {
    fn from(s: SaveValuesChoice) -> Self {
        match s {
            SaveValuesChoice::T0 => SaveValues::T0,
            SaveValuesChoice::All => SaveValues::All,
        }
    }
}

impl From<BenchBackend> for bench::Backends {
    fn from(b: BenchBackend) -> Self {
        match b {
            BenchBackend::Cpu => bench::Backends::Cpu,
            BenchBackend::Gpu => bench::Backends::Gpu,
            BenchBackend::Both => bench::Backends::Both,
        }
    }
}

pub fn run(cli: Cli) -> Result<(), Error> {
    let solver = Solver::new();
    report::set_quiet(cli.quiet);
    match cli.command {
        Command::Solve(args) => solve_command(&solver, args),
        Command::Validate {
            scenario,
            adapter,
            precision,
        } => validate(&solver, &load(&scenario)?, (adapter.as_deref(), precision)),
        Command::Bench {
            scheme,
            backend,
            grid,
            runs,
            out,
            adapter,
            precision,
            project,
        } => bench(
            &solver,
            &bench::Options {
                scheme,
                backends: backend.into(),
                grids: grid,
                runs: runs as usize,
                out,
                adapter,
                precisions: precision.map(|p| vec![p.into()]).unwrap_or_default(),
            },
            project,
        ),
        Command::Info => info(),
        Command::Sweep {
            scenario,
            vary,
            device,
            shard,
            out,
        } => {
            let scenario = load(&scenario)?;
            let options = options(&solver, device)?;
            sweep(&solver, &scenario, &vary, shard, &options, &out)
        }
        Command::SweepMerge {
            parts,
            partial,
            out,
        } => sweep::merge(&parts, &out, partial).map(|m| report::merged(&m, &out)),
        Command::Refine {
            scenario,
            levels,
            device,
            out,
        } => {
            let scenario = load(&scenario)?;
            let options = options(&solver, device)?;
            refine(&solver, &scenario, levels, &options, &out)
        }
        Command::Scenario => scenario(),
        Command::Plot {
            out,
            fix,
            array,
            agent,
            time,
        } => match fix {
            None => draw(&out),
            Some(fix) => {
                let slice = crate::tools::slice::Slice {
                    array,
                    agent,
                    time,
                    ..fix
                };
                draw_slice(&out, &slice)
            }
        },
    }
}

/// `mmgame solve`: its arguments into the library's options.
fn solve_command(solver: &Solver, args: SolveArgs) -> Result<(), Error> {
    let scenario = load(&args.scenario)?;
    let options = SolveOptions {
        save_values: args.save_values.into(),
        save_policy: args.save_policy.into(),
        output: Output::Folder(args.out.clone()),
        wait: args.wait,
        ..options(solver, args.device)?
    };
    let overrides = overrides(&args.scenario);
    let report = Report::new(args.json, report::quiet());
    let run = (&scenario, &overrides[..]);
    solve(solver, run, &options, &args.out, report, args.no_plots)
}

/// `mmgame solve`: the run's files first, then its plots (listed in summary.json with the
/// files), then the report. The folder stays locked from the first file to the last plot.
fn solve(
    solver: &Solver,
    (scenario, overrides): (&Scenario, &[String]),
    options: &SolveOptions,
    out: &Path,
    report: Report,
    no_plots: bool,
) -> Result<(), Error> {
    solver.check(scenario, options)?;
    let folder = FolderWrite::begin(out, options.wait)?;
    let mut observer = Terminal::new(report != Report::Full);
    let mut run = solver.solve(scenario, options, &mut observer)?;
    observer.finish();
    let plots = if no_plots {
        vec![]
    } else {
        plot::draw_run(&run, out)?
    };
    let names = plots.iter().filter_map(|p| p.file_name());
    run.add_files(names.map(|n| n.to_string_lossy().into_owned()))?;
    folder.finish(&run.files)?;
    report::solve(&run, overrides, out, &plots, report);
    Ok(())
}

/// `mmgame info`: the adapters wgpu sees.
fn info() -> Result<(), Error> {
    report::adapters(&crate::gpu::context::adapters());
    Ok(())
}

/// `mmgame scenario`: the default scenario file.
fn scenario() -> Result<(), Error> {
    out_text!("{DEFAULT_SCENARIO}");
    Ok(())
}

/// `mmgame plot`: a finished run's figures drawn again (the folder locked meanwhile).
fn draw(out: &Path) -> Result<(), Error> {
    if !out.is_dir() {
        return Err(Error::Input(format!(
            "{}: not a folder (give the --out folder of a finished `mmgame solve`)",
            out.display()
        )));
    }
    let _lock = crate::io::lock::FolderLock::acquire(out, false)?;
    let plots = plot::plot_run(out)?;
    report::plotted(&plots, out);
    Ok(())
}

/// `mmgame plot DIR --fix ...`: one slice (the folder locked meanwhile).
fn draw_slice(out: &Path, slice: &crate::tools::slice::Slice) -> Result<(), Error> {
    if !out.is_dir() {
        return Err(Error::Input(format!(
            "{}: not a folder (give the --out folder of a finished `mmgame solve`)",
            out.display()
        )));
    }
    let _lock = crate::io::lock::FolderLock::acquire(out, false)?;
    let plots = crate::tools::slice::plot_slice(out, slice)?;
    report::plotted(&plots, out);
    Ok(())
}

/// `mmgame validate`: the report, then exit 1 when the backends disagree.
fn validate(
    solver: &Solver,
    scenario: &Scenario,
    (adapter, precision): (Option<&str>, Option<PrecisionChoice>),
) -> Result<(), Error> {
    let precision = precision.map_or(Precision::F32, Into::into);
    let r = validate::validate(solver, scenario, adapter, precision)?;
    report::validation(scenario, &r);
    r.failure().map_or(Ok(()), Err)
}

fn refine(
    solver: &Solver,
    scenario: &Scenario,
    levels: u32,
    options: &SolveOptions,
    out: &Path,
) -> Result<(), Error> {
    let interpolation = scenario.solver.interpolation.name();
    refine::refine(solver, scenario, levels, options, out, |rows| {
        report::refine_level(rows, interpolation, levels)
    })?;
    report::refined(levels, out);
    Ok(())
}

fn bench(solver: &Solver, opts: &bench::Options, project: bool) -> Result<(), Error> {
    if project {
        report::bench_projections(opts.scheme, &bench::projections(opts)?);
        return Ok(());
    }
    let mut started = false;
    let r = bench::run(solver, opts, |p| {
        if !started {
            report::bench_start(opts);
            started = true;
        }
        report::bench_progress(p)
    })?;
    report::bench_table(&r);
    Ok(())
}

fn sweep(
    solver: &Solver,
    base: &Scenario,
    vary: &[String],
    shard: Option<sweep::Shard>,
    options: &SolveOptions,
    out: &Path,
) -> Result<(), Error> {
    let varies = vary
        .iter()
        .map(|v| sweep::Vary::parse(v))
        .collect::<Result<Vec<_>, _>>()?;
    // Before a GPU is opened: a sweep of too many points is refused at once.
    sweep::point_count(&varies)?;
    let device = match solver.resolve(options.backend)? {
        Resolved::Cpu => "the CPU".to_string(),
        Resolved::Gpu => solver
            .gpu(options.adapter.as_deref())?
            .ctx
            .info
            .name
            .clone(),
    };
    let swept = sweep::sweep(
        solver,
        base,
        &varies,
        shard,
        options,
        out,
        |plan| report::sweep_plan(plan, &varies, &device),
        |row| report::sweep_point(row, &varies),
    )?;
    report::swept(&swept, out);
    Ok(())
}

fn load(args: &ScenarioArgs) -> Result<Scenario, Error> {
    Scenario::load(args.scenario.as_deref(), &overrides(args))
}

/// The `--set` keys, with `--scheme` as the first (so that an explicit --set solver.scheme
/// wins).
fn overrides(args: &ScenarioArgs) -> Vec<String> {
    let scheme = args.scheme.map(|s| format!("solver.scheme={}", s.name()));
    scheme.into_iter().chain(args.set.iter().cloned()).collect()
}

/// The options of a command with `--backend`, `--adapter` and `--precision`.
fn options(solver: &Solver, device: DeviceArgs) -> Result<SolveOptions, Error> {
    Ok(SolveOptions {
        backend: resolve(solver, device.backend.into())?,
        adapter: device.adapter,
        precision: device.precision.map(Into::into),
        cancel: interrupt().clone(),
        ..Default::default()
    })
}

/// The flag Ctrl-C (SIGINT) and SIGTERM set: solves stop between time steps, their temporary
/// files are removed, and the command exits with 130.
pub fn interrupt() -> &'static Cancel {
    static INTERRUPT: std::sync::OnceLock<Cancel> = std::sync::OnceLock::new();
    INTERRUPT.get_or_init(Cancel::new)
}

/// The backend to solve on; for `auto`, says on stderr which one it chose.
fn resolve(solver: &Solver, backend: Backend) -> Result<Backend, Error> {
    if backend != Backend::Auto {
        return Ok(backend);
    }
    Ok(match solver.resolve(backend)? {
        Resolved::Gpu => {
            eprintln!("backend auto: a hardware GPU adapter is present, solving on the GPU");
            Backend::Gpu
        }
        Resolved::Cpu => {
            eprintln!("backend auto: no hardware GPU adapter, solving on the CPU");
            Backend::Cpu
        }
    })
}
