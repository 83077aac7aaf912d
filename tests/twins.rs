//! Twin tests (vello's pattern): each WGSL per-state function that has a Rust twin is
//! dispatched alone, through a test-only entry point, on random inputs and on grids whose state
//! count does not divide the workgroup size (also in 2-D dispatches), and compared with its
//! twin: `evaluate_state`/`best_response_state` with `evaluate_at`/`best_response_at`
//! (cpu/notebook.rs), `equilibrium_state` (payoffs through `gain_dt` and `interpolate`,
//! exploitability, selection) with `equilibrium_cell` (cpu/equilibrium.rs). In f64 the twins
//! must make the same choices with values bit for bit (the notebook kernels) or within a few
//! units in the last place (the equilibrium kernel: one state differed by one unit on
//! lavapipe, as a driver may fuse a multiply and an add); in
//! f32 within f32 rounding.

mod common;

use common::{gpu, scenario};
use mmgame::config::Scenario;
use mmgame::cpu::{equilibrium, notebook};
use mmgame::gain::{GainTables, StepGains};
use mmgame::gpu::context::GpuContext;
use mmgame::gpu::layout::{self, Access, Bindings, Step};
use mmgame::grid::{ClampedTransitions, Transitions, CONTROL_CODES, INITIAL_ACTION};
use mmgame::scheme::Precision;
use wgpu::util::DeviceExt;

use Access::{Read, ReadWrite, Uniform};

const NOTEBOOK_TWIN: &str = r#"
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> indices: array<u32>;
@group(0) @binding(3) var<storage, read> tables: array<real>;
@group(0) @binding(4) var<storage, read> actions0: array<u32>;
@group(0) @binding(5) var<storage, read> actions1: array<u32>;
@group(0) @binding(6) var<storage, read> v_old_next0: array<real>;
@group(0) @binding(7) var<storage, read> v_old_next1: array<real>;
@group(0) @binding(8) var<storage, read> v_new_next0: array<real>;
@group(0) @binding(9) var<storage, read> v_new_next1: array<real>;
@group(0) @binding(10) var<storage, read_write> values: array<real>;
@group(0) @binding(11) var<storage, read_write> chosen: array<u32>;
@group(0) @binding(12) var<storage, read_write> partials: array<u32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn twin_notebook(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let state = state_index(workgroup, workgroups, local);
    if (state >= params.slice_len) {
        return;
    }
    let ns = params.stake_points;
    let fee = state / (ns * ns);
    let s0 = (state / ns) % ns;
    let s1 = state % ns;
    let v = evaluate_state(fee, s0, s1, actions0[state], actions1[state]);
    values[2u * state] = v[0];
    values[2u * state + 1u] = v[1];
    chosen[2u * state] = best_response_state(0u, fee, s0, s1, actions1[state]);
    chosen[2u * state + 1u] = best_response_state(1u, fee, s0, s1, actions0[state]);
}
"#;

const NOTEBOOK_TWIN_BINDINGS: Bindings = &[
    ("params", Uniform),
    ("step", Uniform),
    ("indices", Read),
    ("tables", Read),
    ("actions0", Read),
    ("actions1", Read),
    ("v_old_next0", Read),
    ("v_old_next1", Read),
    ("v_new_next0", Read),
    ("v_new_next1", Read),
    ("values", ReadWrite),
    ("chosen", ReadWrite),
    ("partials", ReadWrite),
];

const EQUILIBRIUM_TWIN: &str = r#"
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> indices: array<u32>;
@group(0) @binding(3) var<storage, read> tables: array<real>;
@group(0) @binding(4) var<storage, read> v_next0: array<real>;
@group(0) @binding(5) var<storage, read> v_next1: array<real>;
@group(0) @binding(6) var<storage, read_write> values: array<real>;
@group(0) @binding(7) var<storage, read_write> outcome: array<u32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn twin_equilibrium(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let state = state_index(workgroup, workgroups, local);
    if (state >= params.slice_len) {
        return;
    }
    let ns = params.stake_points;
    let cell = equilibrium_state(state / (ns * ns), (state / ns) % ns, state % ns);
    values[2u * state] = cell.values[0];
    values[2u * state + 1u] = cell.values[1];
    outcome[3u * state] = cell.chosen;
    outcome[3u * state + 1u] = cell.equilibria;
    outcome[3u * state + 2u] = cell.ambiguous;
}
"#;

const EQUILIBRIUM_TWIN_BINDINGS: Bindings = &[
    ("params", Uniform),
    ("step", Uniform),
    ("indices", Read),
    ("tables", Read),
    ("v_next0", Read),
    ("v_next1", Read),
    ("values", ReadWrite),
    ("outcome", ReadWrite),
];

/// Deterministic pseudo-random numbers (a 64-bit LCG): the same inputs on every run.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// A value in [−1000, 1000], representable in `precision` (so both twins read the same).
    fn value(&mut self, precision: Precision) -> f64 {
        let x = (self.next() as f64 / (1u64 << 31) as f64) * 2000.0 - 1000.0;
        match precision {
            Precision::F32 => x as f32 as f64,
            Precision::F64 => x,
        }
    }
}

fn reals(values: &[f64], precision: Precision) -> Vec<u8> {
    match precision {
        Precision::F64 => bytemuck::cast_slice(values).to_vec(),
        Precision::F32 => {
            let narrow: Vec<f32> = values.iter().map(|&x| x as f32).collect();
            bytemuck::cast_slice(&narrow).to_vec()
        }
    }
}

/// Dispatches `entry` over `states` states (at most 2 workgroups per dimension, so larger
/// grids dispatch in 2-D) with `inputs` bound in order, then the outputs (zeroed buffers of
/// the given sizes); returns the outputs' bytes.
fn dispatch(
    ctx: &GpuContext,
    entry: &str,
    source: String,
    bindings: Bindings,
    inputs: &[(&[u8], bool)],
    outputs: &[u64],
    states: usize,
) -> Vec<Vec<u8>> {
    let pipeline = ctx
        .pipeline(entry, source, bindings)
        .expect("twin kernel builds");
    let device = &ctx.device;
    let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
    let mut buffers: Vec<wgpu::Buffer> = inputs
        .iter()
        .map(|(bytes, uniform)| {
            let usage = if *uniform {
                wgpu::BufferUsages::UNIFORM
            } else {
                storage
            };
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: None,
                contents: bytes,
                usage,
            })
        })
        .collect();
    for &size in outputs {
        buffers.push(device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: size.max(4),
            usage: storage,
            mapped_at_creation: false,
        }));
    }
    let group = ctx.bind_group(None, &pipeline, &buffers.iter().collect::<Vec<_>>());
    let (x, y) = layout::workgroups(states as u64, 2);
    let mut encoder = device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &group, &[]);
        pass.dispatch_workgroups(x, y, 1);
    }
    ctx.queue.submit([encoder.finish()]);
    let first = inputs.len();
    outputs
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            ctx.read_buffer::<u8>(&buffers[first + i], size.max(4))
                .unwrap()
        })
        .collect()
}

fn read_reals(bytes: &[u8], precision: Precision) -> Vec<f64> {
    match precision {
        Precision::F64 => bytemuck::pod_collect_to_vec(bytes),
        Precision::F32 => bytemuck::pod_collect_to_vec::<u8, f32>(bytes)
            .into_iter()
            .map(f64::from)
            .collect(),
    }
}

fn grids() -> Vec<Scenario> {
    // 5·7² = 245 and 3·13² = 507 states: neither divides the workgroup size.
    vec![
        scenario(
            "default",
            &[
                "grid.fee_points=5",
                "grid.stake_points=7",
                "grid.time_points=4",
            ],
        ),
        scenario(
            "asymmetric",
            &[
                "grid.fee_points=3",
                "grid.stake_points=13",
                "grid.time_points=3",
            ],
        ),
    ]
}

fn check_notebook(ctx: &GpuContext, s: &Scenario, precision: Precision, t: usize) {
    let (game, grid) = (s.game(), s.grid());
    let slice = grid.slice_len();
    let tr = Transitions::notebook(&game, &grid);
    let (params, tables) = layout::notebook_tables(&game, &grid, &tr).unwrap();
    let mut rng = Random(17 + t as u64);
    let codes = [
        CONTROL_CODES[0],
        CONTROL_CODES[1],
        CONTROL_CODES[2],
        INITIAL_ACTION,
    ];
    let actions: [Vec<u32>; 2] = std::array::from_fn(|_| {
        (0..slice)
            .map(|_| codes[rng.next() as usize % 4] as u32)
            .collect()
    });
    let v: [Vec<f64>; 4] =
        std::array::from_fn(|_| (0..slice).map(|_| rng.value(precision)).collect());
    let step = Step::new(t, 0, 0);
    let real_tables = tables.real_bytes(precision);
    let (a0, a1) = (
        bytemuck::cast_slice(&actions[0]),
        bytemuck::cast_slice(&actions[1]),
    );
    let v_bytes: Vec<Vec<u8>> = v.iter().map(|x| reals(x, precision)).collect();
    let inputs: Vec<(&[u8], bool)> = vec![
        (bytemuck::bytes_of(&params), true),
        (bytemuck::bytes_of(&step), true),
        (bytemuck::cast_slice(&tables.indices), false),
        (&real_tables, false),
        (a0, false),
        (a1, false),
        (&v_bytes[0], false),
        (&v_bytes[1], false),
        (&v_bytes[2], false),
        (&v_bytes[3], false),
    ];
    let source =
        layout::kernel_source(precision, &layout::NOTEBOOK_STEP_KERNEL[..2]) + NOTEBOOK_TWIN;
    let out = dispatch(
        ctx,
        "twin_notebook",
        source,
        NOTEBOOK_TWIN_BINDINGS,
        &inputs,
        &[
            2 * slice as u64 * precision.bytes(),
            2 * slice as u64 * 4,
            4 * 64,
        ],
        slice,
    );
    let values = read_reals(&out[0], precision);
    let chosen: Vec<u32> = bytemuck::pod_collect_to_vec(&out[1]);

    let gains = GainTables::new(&game, &grid, &tr.fee_post, &tr.stake_post, 1).unwrap();
    let k = notebook::StepKernel::new(&game, &grid, &tr, &gains, t);
    let (ns, mut differing) = (grid.stake.len(), 0);
    for state in 0..slice {
        let at = [state / (ns * ns), (state / ns) % ns, state % ns];
        let c = [actions[0][state] as u8, actions[1][state] as u8];
        let cpu_v = notebook::evaluate_at(&k, at, c, [&v[0], &v[1]]);
        let cpu_c = [
            notebook::best_response_at(&k, 0, at, c[1], &v[2]),
            notebook::best_response_at(&k, 1, at, c[0], &v[3]),
        ];
        for agent in 0..2 {
            let gpu_v = values[2 * state + agent];
            match precision {
                Precision::F64 => assert_eq!(
                    gpu_v.to_bits(),
                    cpu_v[agent].to_bits(),
                    "{precision:?} state {state} agent {agent}"
                ),
                Precision::F32 => assert!(
                    (gpu_v - cpu_v[agent]).abs() <= 1e-5 * cpu_v[agent].abs().max(1000.0),
                    "state {state}: {gpu_v} vs {}",
                    cpu_v[agent]
                ),
            }
            differing += (chosen[2 * state + agent] != cpu_c[agent] as u32) as usize;
        }
    }
    match precision {
        Precision::F64 => assert_eq!(differing, 0, "f64 best responses differ"),
        // f32 rounding may flip a near tie, not more.
        Precision::F32 => assert!(
            differing * 100 <= 2 * slice,
            "{differing} of {} differ",
            2 * slice
        ),
    }
}

#[test]
fn evaluate_and_best_response_kernels_match_their_twins() {
    let Some(ctx) = gpu() else { return };
    for s in grids() {
        for t in 0..s.grid.time_points as usize - 1 {
            check_notebook(&ctx, &s, Precision::F32, t);
            if ctx.check_precision(Precision::F64).is_ok() {
                check_notebook(&ctx, &s, Precision::F64, t);
            }
        }
    }
}

fn check_equilibrium(ctx: &GpuContext, s: &Scenario, precision: Precision, t: usize) {
    let (game, grid) = (s.game(), s.grid());
    let slice = grid.slice_len();
    let tr = ClampedTransitions::new(&game, &grid, s.solver.interpolation);
    let (params, tables) = layout::equilibrium_tables(&game, &grid, &tr).unwrap();
    let mut rng = Random(91 + t as u64);
    let v: [Vec<f64>; 2] =
        std::array::from_fn(|_| (0..slice).map(|_| rng.value(precision)).collect());
    let step = Step::new(t, 0, 0);
    let real_tables = tables.real_bytes(precision);
    let v_bytes: Vec<Vec<u8>> = v.iter().map(|x| reals(x, precision)).collect();
    let inputs: Vec<(&[u8], bool)> = vec![
        (bytemuck::bytes_of(&params), true),
        (bytemuck::bytes_of(&step), true),
        (bytemuck::cast_slice(&tables.indices), false),
        (&real_tables, false),
        (&v_bytes[0], false),
        (&v_bytes[1], false),
    ];
    let source =
        layout::kernel_source(precision, &layout::EQUILIBRIUM_STEP_KERNEL[..2]) + EQUILIBRIUM_TWIN;
    let out = dispatch(
        ctx,
        "twin_equilibrium",
        source,
        EQUILIBRIUM_TWIN_BINDINGS,
        &inputs,
        &[2 * slice as u64 * precision.bytes(), 3 * slice as u64 * 4],
        slice,
    );
    let values = read_reals(&out[0], precision);
    let outcome: Vec<u32> = bytemuck::pod_collect_to_vec(&out[1]);

    let gains = GainTables::new(&game, &grid, &tr.fee_post, &tr.stake_post, 1).unwrap();
    let k = equilibrium::Kernel {
        ns: grid.stake.len(),
        tr: &tr,
        gains: &gains,
        step: StepGains::new(&game, &grid, &gains, &tr.stake_post, t),
    };
    let (ns, mut differing) = (grid.stake.len(), 0);
    for state in 0..slice {
        let cell = equilibrium::equilibrium_cell(
            &k,
            state / (ns * ns),
            (state / ns) % ns,
            state % ns,
            [&v[0], &v[1]],
        );
        let pair = (cell.actions[0] * 3 + cell.actions[1]) as u32;
        if precision == Precision::F64 {
            assert_eq!(
                (
                    outcome[3 * state],
                    outcome[3 * state + 1],
                    outcome[3 * state + 2]
                ),
                (pair, cell.equilibria, cell.ambiguous as u32),
                "state {state}"
            );
            // The same operations in the same order; the driver may still fuse a multiply
            // and an add in its code generation: a few units in the last place.
            for agent in 0..2 {
                let (g, c) = (values[2 * state + agent], cell.values[agent]);
                assert!(
                    (g - c).abs() <= 1e-14 * c.abs().max(1.0),
                    "state {state}: {g:e} vs {c:e}"
                );
            }
        } else {
            differing += (outcome[3 * state] != pair) as usize;
            if outcome[3 * state] == pair {
                for agent in 0..2 {
                    let (g, c) = (values[2 * state + agent], cell.values[agent]);
                    assert!(
                        (g - c).abs() <= 1e-5 * c.abs().max(1000.0),
                        "state {state}: {g} vs {c}"
                    );
                }
            }
        }
    }
    // f32 (with its own, wider tolerance) may select another pair where payoffs nearly tie.
    assert!(
        differing * 20 <= slice,
        "{differing} of {slice} selections differ in {precision:?}"
    );
}

#[test]
fn equilibrium_state_kernel_matches_its_twin() {
    let Some(ctx) = gpu() else { return };
    for mut s in grids() {
        for interpolation in ["linear", "nearest"] {
            s.solver.scheme = mmgame::config::Scheme::Equilibrium;
            s.solver.interpolation = match interpolation {
                "linear" => mmgame::grid::Interpolation::Linear,
                _ => mmgame::grid::Interpolation::Nearest,
            };
            for t in 0..s.grid.time_points as usize - 1 {
                check_equilibrium(&ctx, &s, Precision::F32, t);
                if ctx.check_precision(Precision::F64).is_ok() {
                    check_equilibrium(&ctx, &s, Precision::F64, t);
                }
            }
        }
    }
}
