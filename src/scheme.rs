//! What the two schemes' solvers share, whichever the backend: the results they return, the
//! sink that receives each `equilibrium` time step, its diagnostics, and the precisions.
//! `cpu/` and `gpu/` both build on this module and never on each other.

use serde::Serialize;

use crate::error::Error;
use crate::grid::{Grid, CONTROL_CODES};

/// The arithmetic a solve runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    F32,
    F64,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }

    /// Bytes of one value.
    pub fn bytes(self) -> u64 {
        match self {
            Precision::F32 => 4,
            Precision::F64 => 8,
        }
    }

    /// The `equilibrium` scheme's tie tolerance in this precision, relative to
    /// max(1, largest |U|) at the state (docs/model.md). f32 carries about 6e-8 relative error per
    /// operation and a few hundred operations reach a payoff, so pairs that are equal in exact
    /// arithmetic can differ by ~1e-6 relative; 1e-5 keeps them tied.
    pub const fn tie_tolerance(self) -> f64 {
        match self {
            Precision::F32 => 1e-5,
            Precision::F64 => 1e-9,
        }
    }
}

/// Gaps between payoffs below this share of max(1, largest |U|) are rounding, not a choice
/// (f64 rounds a payoff of a few hundred operations to ~1e-14 relative): a near tie that the
/// `equilibrium` scheme's τ decides is counted as ambiguous only beyond it.
pub const ROUNDING_GAP: f64 = 1e-12;

/// Value arrays: f64 from the CPU, f32 from the GPU.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    F64(Vec<f64>),
    F32(Vec<f32>),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::F64(v) => v.len(),
            Values::F32(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, i: usize) -> f64 {
        match self {
            Values::F64(v) => v[i],
            Values::F32(v) => v[i] as f64,
        }
    }

    pub fn precision(&self) -> Precision {
        match self {
            Values::F64(_) => Precision::F64,
            Values::F32(_) => Precision::F32,
        }
    }

    /// Elements `range` as a new array of the same precision.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Values {
        match self {
            Values::F64(v) => Values::F64(v[range].to_vec()),
            Values::F32(v) => Values::F32(v[range].to_vec()),
        }
    }
}

/// A solved `notebook` scenario: the values and the policy over (agent, time, fee, stake0,
/// stake1), and how the iteration went.
#[derive(Debug, Clone)]
pub struct Solution {
    /// Shape of `values` and `policy`: (2, time_points, fee_points, stake_points, stake_points).
    pub shape: [usize; 5],
    pub values: Values,
    /// Action codes (see [`crate::grid::Actions`]), same layout as `values`.
    pub policy: Vec<u8>,
    /// The policy change of each iteration (the notebook's `diff_pol`).
    pub policy_change: Vec<f64>,
    pub converged: bool,
    pub solve_seconds: f64,
}

impl Solution {
    pub fn iterations(&self) -> usize {
        self.policy_change.len()
    }

    /// Cell updates: one grid state at one time step for both agents (docs/model.md).
    pub fn cell_updates(&self) -> f64 {
        let [_, nt, nf, ns, _] = self.shape;
        (nf * ns * ns) as f64 * (nt - 1) as f64 * self.iterations() as f64
    }

    /// Flat index of (agent, time, fee, stake0, stake1).
    pub fn index(&self, agent: usize, time: usize, fee: usize, s0: usize, s1: usize) -> usize {
        let [_, nt, nf, ns, _] = self.shape;
        (((agent * nt + time) * nf + fee) * ns + s0) * ns + s1
    }
}

/// What one time step's selection found (docs/model.md step 4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StepDiagnostics {
    pub step: usize,
    pub time: f64,
    /// States where no action pair is a pure equilibrium (none with e ≤ τ).
    pub no_pure_equilibrium: u64,
    /// States with more than one pure equilibrium.
    pub several_equilibria: u64,
    /// The largest exploitability of a selected pair (0 when ≤ τ).
    pub max_exploitability: f64,
    /// States whose selection the tie tolerance τ decided (exact comparisons would pick
    /// another pair): ambiguous in this precision. Many of them in f32 call for f64.
    pub ambiguous: u64,
}

impl StepDiagnostics {
    /// Counts one state whose stage game had `equilibria` pure equilibria and whose selected
    /// pair has `exploitability`.
    pub fn add(&mut self, equilibria: u32, exploitability: f64, ambiguous: bool) {
        self.ambiguous += ambiguous as u64;
        self.no_pure_equilibrium += (equilibria == 0) as u64;
        self.several_equilibria += (equilibria > 1) as u64;
        self.max_exploitability = self.max_exploitability.max(exploitability);
    }

    pub fn merge(&mut self, other: &StepDiagnostics) {
        self.no_pure_equilibrium += other.no_pure_equilibrium;
        self.several_equilibria += other.several_equilibria;
        self.max_exploitability = self.max_exploitability.max(other.max_exploitability);
        self.ambiguous += other.ambiguous;
    }
}

/// One time step's values, borrowed: f64 from the CPU, f32 from the GPU.
#[derive(Debug, Clone, Copy)]
pub enum SliceValues<'a> {
    F64([&'a [f64]; 2]),
    F32([&'a [f32]; 2]),
}

/// Receives each `equilibrium` time step as it is solved, t descending from time_points − 2
/// to 0.
pub trait StepSink {
    /// Whether `step` needs the values (the GPU reads them back only then; otherwise it
    /// passes empty slices).
    fn wants_values(&self) -> bool {
        true
    }

    fn step(&mut self, t: usize, actions: [&[u8]; 2], values: SliceValues<'_>)
        -> Result<(), Error>;
}

/// A sink that drops each time step (benchmarks time the sweep, not the disk).
pub struct Discard;

impl StepSink for Discard {
    fn wants_values(&self) -> bool {
        false
    }

    fn step(&mut self, _: usize, _: [&[u8]; 2], _: SliceValues<'_>) -> Result<(), Error> {
        Ok(())
    }
}

/// A sink that keeps every time step in memory, laid out as (agent, time, fee, stake0,
/// stake1) like the notebook scheme's arrays: the actions always, the values when asked.
#[derive(Debug, Clone)]
pub struct MemorySink {
    pub slice: usize,
    pub time_points: usize,
    pub policy: Vec<u8>,
    /// Empty unless the sink was made with values.
    pub values: Vec<f64>,
}

impl MemorySink {
    /// A sink for both actions and values.
    pub fn new(grid: &Grid) -> Self {
        Self::with_values(grid, true)
    }

    pub fn with_values(grid: &Grid, values: bool) -> Self {
        let (slice, nt) = (grid.slice_len(), grid.time.len());
        MemorySink {
            slice,
            time_points: nt,
            // No action is taken at the horizon: the last slice holds 0.
            policy: vec![CONTROL_CODES[1]; 2 * nt * slice],
            values: if values {
                vec![0.0; 2 * nt * slice]
            } else {
                Vec::new()
            },
        }
    }

    pub fn index(&self, agent: usize, t: usize, state: usize) -> usize {
        (agent * self.time_points + t) * self.slice + state
    }
}

impl StepSink for MemorySink {
    fn wants_values(&self) -> bool {
        !self.values.is_empty()
    }

    fn step(
        &mut self,
        t: usize,
        actions: [&[u8]; 2],
        values: SliceValues<'_>,
    ) -> Result<(), Error> {
        for agent in 0..2 {
            let at = self.index(agent, t, 0);
            self.policy[at..at + self.slice].copy_from_slice(actions[agent]);
            if self.values.is_empty() {
                continue;
            }
            let out = &mut self.values[at..at + self.slice];
            match values {
                SliceValues::F64(v) => out.copy_from_slice(v[agent]),
                SliceValues::F32(v) => out
                    .iter_mut()
                    .zip(v[agent])
                    .for_each(|(o, &x)| *o = x as f64),
            }
        }
        Ok(())
    }
}

/// The result of an `equilibrium` sweep: the t = 0 values and the diagnostics per time step
/// (ascending t). The actions and other slices went to the sink.
#[derive(Debug, Clone)]
pub struct EquilibriumSolution {
    /// (agent, fee, stake0, stake1) at t = 0.
    pub values_t0: Values,
    pub diagnostics: Vec<StepDiagnostics>,
    pub solve_seconds: f64,
    /// Where a GPU sweep's time went; `None` on the CPU.
    pub gpu_time_split: Option<GpuTimeSplit>,
}

/// How a [`GpuTimeSplit`] was measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum TimeSource {
    /// GPU timestamp queries around the kernel and the copies to staging.
    #[serde(rename = "timestamps")]
    Timestamps,
    /// The adapter has no timestamp queries: the host's clock only.
    #[default]
    #[serde(rename = "host clock")]
    HostClock,
}

/// Which kernel ran a GPU `equilibrium` sweep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum GpuKernel {
    /// `equilibrium_lines` (V(t+1) blended along stake1), then `equilibrium_step` on the lines.
    #[serde(rename = "stencil")]
    Stencil,
    /// `equilibrium_step` alone, eight corners of V(t+1) per payoff.
    #[default]
    #[serde(rename = "per-state")]
    PerState,
}

impl GpuKernel {
    /// The name `bench` and `summary.json` report, and `MMGAME_GPU_KERNEL` takes.
    pub fn name(self) -> &'static str {
        match self {
            GpuKernel::Stencil => "stencil",
            GpuKernel::PerState => "per-state",
        }
    }
}

/// Where a GPU `equilibrium` sweep's time went, summed over its time steps. The parts overlap
/// (the kernel of one step runs while the host reads the step before and the writer thread
/// writes the one before that), so they add up to more than the solve's wall time when the
/// pipeline works.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct GpuTimeSplit {
    pub source: TimeSource,
    pub kernel: GpuKernel,
    /// With timestamps, the kernels' time on the GPU. With the host clock, the time the host
    /// waited for the GPU (kernels and copies, less what ran while the host worked).
    pub kernel_seconds: f64,
    /// Read-back: with timestamps, the GPU's copies into staging; in both cases, the host's
    /// copying out of the mapped staging buffers.
    pub transfer_seconds: f64,
    /// The writer thread's time: splitting the pair codes into actions, converting and
    /// writing each step (the sink).
    pub host_seconds: f64,
    /// The time the host waited for the GPU (host clock), whatever the source.
    pub wait_seconds: f64,
    /// Time steps.
    pub steps: usize,
}

impl GpuTimeSplit {
    pub fn new(timestamps: bool) -> Self {
        GpuTimeSplit {
            source: if timestamps {
                TimeSource::Timestamps
            } else {
                TimeSource::HostClock
            },
            ..Default::default()
        }
    }

    /// Adds a step whose staging the host copied out in `read_seconds`, with the step's raw
    /// timestamps `stamps` (the kernel pass's beginning and end, after the copies; empty
    /// without them) in ticks of `period_ns` nanoseconds.
    pub fn add_step(&mut self, read_seconds: f64, stamps: &[u64], period_ns: f32) {
        self.transfer_seconds += read_seconds;
        let seconds = |a: u64, b: u64| b.saturating_sub(a) as f64 * period_ns as f64 * 1e-9;
        match (self.source, stamps) {
            (TimeSource::Timestamps, &[begin, end, copied]) => {
                self.kernel_seconds += seconds(begin, end);
                self.transfer_seconds += seconds(end, copied);
            }
            _ => self.kernel_seconds = self.wait_seconds,
        }
    }

    /// Seconds per time step of everything but the kernel that the run's wall time
    /// (`solve_seconds`) did not hide: read-back, conversion and writing not overlapped with
    /// the GPU, and set-up.
    pub fn exposed_host_per_step(&self, solve_seconds: f64) -> f64 {
        (solve_seconds - self.kernel_seconds).max(0.0) / self.steps.max(1) as f64
    }
}

impl EquilibriumSolution {
    /// Cell updates: every state at every time step but the last (docs/model.md).
    pub fn cell_updates(grid: &Grid) -> f64 {
        grid.slice_len() as f64 * (grid.time.len() - 1) as f64
    }
}

/// A flag that stops a solve between time steps: a caller keeps a clone and calls
/// [`Cancel::cancel`] (from another thread, a signal handler's thread or a Python callback);
/// the solve then returns [`Error::Cancelled`] and writes no further output.
#[derive(Debug, Clone, Default)]
pub struct Cancel(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }

    /// `Err(Error::Cancelled)` once cancelled.
    pub fn check(&self) -> Result<(), Error> {
        if self.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// What a solve reports while it runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event {
    /// `notebook` scheme: iteration `iteration` (from 1) finished with this policy change.
    Iteration {
        iteration: usize,
        policy_change: f64,
    },
    /// `equilibrium` scheme: `done` of `total` time steps are solved, each of `states` states.
    TimeStep {
        done: usize,
        total: usize,
        states: usize,
    },
}

/// Receives a solve's events (the CLI prints them; a Python caller can forward them).
pub trait Observer {
    fn event(&mut self, event: &Event);
}

/// An observer that ignores every event.
pub struct Silent;

impl Observer for Silent {
    fn event(&mut self, _: &Event) {}
}

impl<F: FnMut(&Event)> Observer for F {
    fn event(&mut self, event: &Event) {
        self(event)
    }
}

/// Where a solve ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackendInfo {
    /// "cpu" or "gpu".
    pub backend: String,
    /// The adapter's name, or the CPU's thread count.
    pub device: String,
    /// "cpu", or the adapter's device type (discrete, integrated, virtual, cpu).
    pub device_type: String,
    pub precision: Precision,
}
