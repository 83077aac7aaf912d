//! The command line (clap derive); no logic lives here. Its enums are the CLI's own and are
//! converted into the library's at the boundary (`commands.rs`).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "mmgame",
    version,
    about = "Solver for the two-market-maker liquidity game"
)]
pub struct Cli {
    /// Print only the final result and errors (no per-iteration, per-point or per-level
    /// lines, no diagnostics table).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// The f64 reference solver on all CPU cores.
    Cpu,
    /// The wgpu compute-shader solver (f32).
    Gpu,
    /// The GPU when a hardware adapter is present, else the CPU.
    Auto,
}

/// `--precision`: the GPU's arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrecisionChoice {
    /// Single precision (the GPU's default; the CPU always computes in f64).
    F32,
    /// Double precision, where the adapter has SHADER_F64 (lavapipe, most discrete GPUs on
    /// Vulkan and DX12; not Metal).
    F64,
}

/// `--save-policy`: which action slices a run writes to policy.npy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SavePolicyChoice {
    /// Every time slice: shape (2, time_points, fee_points, stake_points, stake_points).
    All,
    /// Only t = 0: shape (2, fee_points, stake_points, stake_points).
    T0,
    /// No policy.npy (the path and plots are still drawn; an equilibrium run has no action map).
    None,
}

/// `--save-values`: which value slices an `equilibrium` run writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SaveValuesChoice {
    /// Only t = 0: values.npy has shape (2, fee_points, stake_points, stake_points).
    T0,
    /// Every time slice: shape (2, time_points, fee_points, stake_points, stake_points).
    All,
}

/// Where `mmgame bench` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchBackend {
    Cpu,
    Gpu,
    /// The CPU, and the GPU when an adapter is present.
    Both,
}

/// Where a command solves: shared by `solve`, `sweep` and `refine`.
#[derive(Debug, Clone, clap::Args)]
pub struct DeviceArgs {
    /// Where to solve.
    #[arg(long, value_enum, default_value = "cpu")]
    pub backend: BackendChoice,
    /// GPU adapter to use: the first whose name contains this (see `mmgame info`).
    #[arg(long)]
    pub adapter: Option<String>,
    /// The GPU's arithmetic (default f32); f64 needs an adapter with SHADER_F64.
    #[arg(long, value_enum)]
    pub precision: Option<PrecisionChoice>,
}

/// Options shared by the commands that read a scenario.
#[derive(Debug, Clone, clap::Args)]
pub struct ScenarioArgs {
    /// Scenario file (TOML); the notebook's scenario when left out (see `mmgame scenario`).
    pub scenario: Option<PathBuf>,
    /// Override a scenario key, e.g. --set grid.fee_points=31 --set agents.1.volatility=0.3.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The scheme: shorthand for --set solver.scheme=notebook|equilibrium.
    #[arg(long, value_parser = crate::tools::bench::parse_scheme)]
    pub scheme: Option<crate::config::Scheme>,
}

/// `mmgame solve`'s arguments.
#[derive(Debug, clap::Args)]
pub struct SolveArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Output folder (created if absent).
    #[arg(long, default_value = "mmgame-out")]
    pub out: PathBuf,
    /// Print summary.json on stdout instead of the report.
    #[arg(long)]
    pub json: bool,
    /// Equilibrium scheme: write the t = 0 value slice only, or all of them.
    #[arg(long, value_enum, default_value = "t0")]
    pub save_values: SaveValuesChoice,
    /// Which action slices to write to policy.npy (int8): all, t = 0 only, or none.
    #[arg(long, value_enum, default_value = "all")]
    pub save_policy: SavePolicyChoice,
    /// Do not draw the plots (PNG and SVG of the notebook's figures).
    #[arg(long)]
    pub no_plots: bool,
    /// If another mmgame run is writing into --out, wait for it instead of failing.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Solve a scenario and write values.npy, policy.npy, path.csv, summary.json and the plots.
    Solve(SolveArgs),
    /// Solve on the CPU and on the GPU and report how far they agree (exit 1 when beyond
    /// tolerance).
    Validate {
        #[command(flatten)]
        scenario: ScenarioArgs,
        /// GPU adapter to use (see `mmgame info`).
        #[arg(long)]
        adapter: Option<String>,
        /// The GPU's arithmetic (default f32); f64 needs an adapter with SHADER_F64.
        #[arg(long, value_enum)]
        precision: Option<PrecisionChoice>,
    },
    /// Solve the equilibrium scheme on successively refined grids (each axis about doubled per
    /// level) and show how the values at the path's start converge.
    Refine {
        #[command(flatten)]
        scenario: ScenarioArgs,
        /// Number of grids: the scenario's and K − 1 refinements.
        #[arg(long, default_value_t = 3)]
        levels: u32,
        #[command(flatten)]
        device: DeviceArgs,
        /// Output folder: refine.csv and each level's run (level-K/).
        #[arg(long, default_value = "mmgame-refine")]
        out: PathBuf,
    },
    /// Time a scheme on the CPU and the GPU over a few grids, with each device's copy
    /// bandwidth; prints a table and writes bench.csv (see BENCHMARKS.md).
    Bench {
        /// The scheme to time.
        #[arg(long, default_value = "notebook", value_parser = crate::tools::bench::parse_scheme)]
        scheme: crate::config::Scheme,
        /// Where to run.
        #[arg(long, value_enum, default_value = "both")]
        backend: BenchBackend,
        /// Grids as fee x stake x time points, e.g. 31x61x9 [default: 15x15x5 31x61x9 41x121x9].
        #[arg(long, value_name = "FxSxT", num_args = 1..)]
        grid: Vec<crate::tools::bench::GridSize>,
        /// Timed runs per grid and backend, after one warm-up.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
        runs: u32,
        /// Output folder for bench.csv (created if absent).
        #[arg(long, default_value = "mmgame-bench")]
        out: PathBuf,
        /// GPU adapter to use (see `mmgame info`).
        #[arg(long)]
        adapter: Option<String>,
        /// The GPU's arithmetic (default f32); f64 needs an adapter with SHADER_F64.
        #[arg(long, value_enum)]
        precision: Option<PrecisionChoice>,
        /// Time nothing: print what the grids would take on the reference GPUs (an H100 and
        /// a 1 TB/s workstation card) with kernels at their bounds, and the read-back and
        /// disk time of the policy.
        #[arg(long)]
        project: bool,
    },
    /// Solve a scenario for every combination of varied keys; writes sweep.csv and a plot of
    /// the outcomes against the first key.
    Sweep {
        #[command(flatten)]
        scenario: ScenarioArgs,
        /// A key to vary: KEY=START:STOP:COUNT (evenly spaced; integers stay integers).
        #[arg(long, value_name = "KEY=START:STOP:COUNT", required = true)]
        vary: Vec<String>,
        #[command(flatten)]
        device: DeviceArgs,
        /// Solve only the points whose index is i modulo n (for batch schedulers); join the
        /// parts with `mmgame sweep-merge`.
        #[arg(long, value_name = "i/n")]
        shard: Option<crate::tools::sweep::Shard>,
        /// Output folder.
        #[arg(long, default_value = "mmgame-sweep")]
        out: PathBuf,
    },
    /// Join the sweep.csv of each shard (files or folders) into one sweep.csv and its plot;
    /// the parts must be every shard of one sweep (see --partial).
    SweepMerge {
        /// The shards' sweep.csv files or output folders (each with the sweep.json its
        /// `mmgame sweep` wrote beside it).
        #[arg(required = true)]
        parts: Vec<PathBuf>,
        /// Merge even if shards are missing; the merged sweep.json lists the shards present.
        #[arg(long)]
        partial: bool,
        /// Output folder.
        #[arg(long, default_value = "mmgame-sweep")]
        out: PathBuf,
    },
    /// List the GPU adapters wgpu sees, with the limits that matter for grids.
    Info,
    /// Print the default scenario (the notebook's) as a commented TOML file to start from.
    Scenario,
    /// Draw the notebook's figures from a finished run (PNG and SVG, into its folder).
    Plot {
        /// The run's folder (the --out of `mmgame solve`).
        out: PathBuf,
        /// Draw one 2-D slice instead of the notebook's figures: hold AXIS (fee, stake0 or
        /// stake1) at the node nearest VALUE, e.g. --fix stake1=0.
        #[arg(long, value_name = "AXIS=VALUE")]
        fix: Option<crate::tools::slice::Slice>,
        /// The slice's array: values or policy.
        #[arg(long, default_value = "values", requires = "fix")]
        array: String,
        /// The slice's agent (0 or 1).
        #[arg(long, default_value_t = 0, requires = "fix")]
        agent: usize,
        /// The slice's time node (0 is t = 0).
        #[arg(long, default_value_t = 0, requires = "fix")]
        time: usize,
    },
}
