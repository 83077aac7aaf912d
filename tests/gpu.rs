//! The GPU `notebook` solver against the notebook's outputs and the CPU reference. These run
//! for real on any adapter (CI: Mesa's lavapipe); without one they skip with a message, and
//! with REQUIRE_GPU=1 a missing adapter fails them.

mod common;

use common::{gpu, max_rel_diff, npy, scenario};
use mmgame::api::{Cancel, Silent};
use mmgame::config::Scenario;
use mmgame::cpu::notebook;
use mmgame::gpu::context::GpuContext;
use mmgame::gpu::equilibrium::EquilibriumGpu;
use mmgame::gpu::layout::{self, params_fields, Params, Step};
use mmgame::gpu::notebook::NotebookGpu;
use mmgame::scheme::{Precision, Solution};
use mmgame::simulate::notebook_path;
use mmgame::team::default_threads;
use mmgame::tools::validate;

fn solve_gpu(ctx: &GpuContext, s: &Scenario, max_dim: Option<u32>) -> Solution {
    solve_gpu_in(ctx, s, max_dim, Precision::F32)
}

fn solve_gpu_in(
    ctx: &GpuContext,
    s: &Scenario,
    max_dim: Option<u32>,
    precision: Precision,
) -> Solution {
    let mut solver = NotebookGpu::new(ctx, precision).expect("pipelines build");
    if let Some(m) = max_dim {
        solver = solver.with_max_workgroups_per_dimension(m);
    }
    solver
        .solve(&s.game(), &s.grid(), &s.solver, &Cancel::new(), &mut Silent)
        .expect("GPU solve")
}

/// Solves on both backends and checks the agreement: every differing action a tie within ε
/// (validate's rule), values within validate's tolerance. Returns the agreement.
fn check_agreement(s: &Scenario) -> Option<validate::Agreement> {
    let ctx = gpu()?;
    let (game, grid) = (s.game(), s.grid());
    let cpu = notebook::solve(
        &game,
        &grid,
        &s.solver,
        default_threads(),
        &Cancel::new(),
        &mut Silent,
    )
    .unwrap();
    let gpu = solve_gpu(&ctx, s, None);
    let a = validate::compare(&game, &grid, &cpu, &gpu);
    assert!(
        a.passes(),
        "{} of {} actions differ ({} ties), value difference {:e}",
        a.differences.len(),
        a.states,
        a.ties(),
        a.value_difference
    );
    Some(a)
}

#[test]
fn default_scenario_on_the_gpu_matches_the_notebook() {
    let Some(ctx) = gpu() else { return };
    let s = scenario("default", &[]);
    let (game, grid) = (s.game(), s.grid());
    let sol = solve_gpu(&ctx, &s, None);
    assert_eq!(sol.iterations(), 7);
    assert_eq!(sol.values.precision(), mmgame::scheme::Precision::F32);
    let actions = sol.policy.iter().map(|&c| grid.actions.value(c) as f64);
    let reference = npy("default", "a_vals.npy");
    assert!(
        actions.zip(reference.iter()).all(|(a, &r)| a == r),
        "actions differ from the notebook"
    );
    let reference = npy("default", "v_vals_new.npy");
    let values = (0..sol.values.len()).map(|i| sol.values.get(i));
    let rel = max_rel_diff(values, reference.iter().copied());
    assert!(rel <= 1e-5, "values differ by {rel:e} relative");
    let path = notebook_path(&game, &grid, &sol, &s.path);
    let fees: Vec<f64> = path.iter().map(|p| p.fee).collect();
    assert_eq!(fees, npy("default", "fees.npy").into_raw_vec_and_offset().0);
    let s1: Vec<f64> = path.iter().map(|p| p.stakes[1]).collect();
    assert_eq!(
        s1,
        npy("default", "stakes1.npy").into_raw_vec_and_offset().0
    );
}

#[test]
fn golden_configurations_agree_with_the_cpu() {
    for name in ["default", "asymmetric", "fine_m1"] {
        let Some(a) = check_agreement(&scenario(name, &[])) else {
            return;
        };
        assert_eq!(a.identical, a.states, "{name}: every action identical");
    }
}

#[test]
fn grids_that_do_not_divide_the_workgroup_size_agree() {
    for (f, s, t) in [(7, 9, 4), (5, 13, 3), (3, 17, 6), (2, 2, 2)] {
        let sc = scenario(
            "default",
            &[
                &format!("grid.fee_points={f}"),
                &format!("grid.stake_points={s}"),
                &format!("grid.time_points={t}"),
                "grid.control=1",
            ],
        );
        assert_ne!((f * s * s) % layout::WORKGROUP_SIZE as i64, 0);
        if check_agreement(&sc).is_none() {
            return;
        }
    }
}

#[test]
fn two_dimensional_dispatch_gives_the_same_result() {
    let Some(ctx) = gpu() else { return };
    let s = scenario("asymmetric", &[]);
    let one = solve_gpu(&ctx, &s, None);
    // 11·13² = 1859 states = 8 workgroups; at most 3 per dimension forces a 3×3 dispatch.
    let two = solve_gpu(&ctx, &s, Some(3));
    assert_eq!(one.policy, two.policy);
    assert_eq!(one.values, two.values);
    assert_eq!(one.policy_change, two.policy_change);
}

/// The full value array (2·3·15·701²·4 bytes = 177 MB) is larger than lavapipe's 128 MiB
/// storage binding; it solves because each (agent, time) slice is bound on its own.
#[test]
fn value_array_larger_than_a_storage_binding_solves() {
    let s = scenario("default", &["grid.stake_points=701", "grid.time_points=3"]);
    let total = 2 * 3 * 15 * 701 * 701 * 4;
    assert!(total > 128 << 20);
    check_agreement(&s);
}

#[test]
fn a_slice_beyond_the_binding_limit_is_refused_with_the_largest_grid() {
    let Some(ctx) = gpu() else { return };
    let limit = ctx.binding_limit();
    let stake = ((limit / 4 / 2) as f64).sqrt() as i64 + 2;
    let s = scenario(
        "default",
        &["grid.fee_points=2", &format!("grid.stake_points={stake}")],
    );
    let err = match NotebookGpu::new(&ctx, Precision::F32).unwrap().solve(
        &s.game(),
        &s.grid(),
        &s.solver,
        &Cancel::new(),
        &mut Silent,
    ) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a slice beyond the binding limit solved"),
    };
    assert!(
        err.contains(&limit.to_string()) && err.contains("largest stake_points"),
        "{err}"
    );
}

/// Every WGSL struct shared with Rust (`Params`, `Step`) has the Rust struct's fields, by name
/// and byte offset, and its size, in every kernel and in both precisions.
#[test]
fn wgsl_structs_match_the_rust_layout_field_by_field() {
    let kernels: [&[&str]; 5] = [
        &layout::NOTEBOOK_STEP_KERNEL,
        &layout::NOTEBOOK_EVALUATE_KERNEL,
        &layout::NOTEBOOK_BEST_RESPONSE_KERNEL,
        &layout::EQUILIBRIUM_STEP_KERNEL,
        &layout::EQUILIBRIUM_STENCIL_KERNEL,
    ];
    for precision in [Precision::F32, Precision::F64] {
        for parts in kernels {
            let module = naga::front::wgsl::parse_str(&layout::kernel_source(precision, parts))
                .expect("kernel parses");
            let members = |name: &str| {
                let (_, t) = module
                    .types
                    .iter()
                    .find(|(_, t)| t.name.as_deref() == Some(name))
                    .unwrap_or_else(|| panic!("no struct {name} in WGSL"));
                let naga::TypeInner::Struct { members, span } = &t.inner else {
                    panic!("{name} is a struct")
                };
                let fields: Vec<(String, usize)> = members
                    .iter()
                    .map(|m| (m.name.clone().unwrap(), m.offset as usize))
                    .collect();
                (fields, *span as usize)
            };
            let rust = |f: Vec<(&str, usize)>| -> Vec<(String, usize)> {
                f.into_iter().map(|(n, o)| (n.to_string(), o)).collect()
            };
            assert_eq!(
                members("Params"),
                (rust(params_fields()), std::mem::size_of::<Params>())
            );
            assert_eq!(
                members("Step"),
                (rust(layout::step_fields()), std::mem::size_of::<Step>())
            );
        }
    }
}

/// The fused `notebook_step` (one dispatch per time step) and the separate evaluation and
/// best-response kernels compute the same thing in the same order per state: identical bits.
#[test]
fn fused_and_separate_kernels_give_identical_results() {
    let Some(ctx) = gpu() else { return };
    let s = scenario("fine_m1", &[]);
    let (game, grid) = (s.game(), s.grid());
    let fused = NotebookGpu::new(&ctx, Precision::F32).unwrap();
    assert!(
        fused.fused(),
        "lavapipe and real GPUs allow 11 storage buffers per stage"
    );
    let a = fused
        .solve(&game, &grid, &s.solver, &Cancel::new(), &mut Silent)
        .unwrap();
    let b = NotebookGpu::new(&ctx, Precision::F32)
        .unwrap()
        .without_fusion()
        .solve(&game, &grid, &s.solver, &Cancel::new(), &mut Silent)
        .unwrap();
    assert_eq!(a.policy, b.policy);
    assert_eq!(a.values, b.values);
    assert_eq!(a.policy_change, b.policy_change);
}

/// In f64 (lavapipe has SHADER_F64) the GPU reproduces the notebook on every golden
/// configuration as the CPU does: actions and path identical, values within 1e-9 relative,
/// the policy-change trace equal.
#[test]
fn f64_gpu_reproduces_the_notebook_on_the_golden_configurations() {
    let Some(ctx) = gpu() else { return };
    if ctx.check_precision(Precision::F64).is_err() {
        assert!(
            std::env::var("REQUIRE_GPU").is_err(),
            "the CI adapter (lavapipe) has SHADER_F64"
        );
        eprintln!("skipping: {} has no f64", ctx.info.name);
        return;
    }
    for name in ["default", "asymmetric", "fine_m1"] {
        let s = scenario(name, &[]);
        let sol = solve_gpu_in(&ctx, &s, None, Precision::F64);
        assert_eq!(sol.values.precision(), Precision::F64);
        common::check_against_notebook(name, &s, &sol);
    }
}

/// Validation by step catches a wrong kernel: with agent 0's choice deliberately wrong at one
/// state (a test-only switch of the kernels), the check fails and names that state; the
/// unperturbed kernel passes.
#[test]
fn a_perturbed_notebook_kernel_fails_validation_and_is_named() {
    let Some(ctx) = gpu() else { return };
    let s = scenario("default", &[]);
    let (ns, state) = (15, 7 * 225 + 3 * 15 + 11);
    let good = NotebookGpu::new(&ctx, Precision::F32).unwrap();
    let (_, check) = validate::check_notebook_steps(&s, &good).unwrap();
    assert!(check.passes(), "{} errors", check.errors.len());
    let bad = NotebookGpu::new(&ctx, Precision::F32)
        .unwrap()
        .with_perturbed_state(state as u32);
    let (_, check) = validate::check_notebook_steps(&s, &bad).unwrap();
    assert!(!check.passes());
    let at = [state / (ns * ns), (state / ns) % ns, state % ns];
    assert!(!check.errors.is_empty());
    for (_, [agent, t, fee, s0, s1], loss) in &check.errors {
        assert_eq!((*agent, [*fee, *s0, *s1]), (0, at), "t {t}: loss {loss}");
    }
}

/// The same for the equilibrium kernel: a pair off the selection rule at one state is named.
#[test]
fn a_perturbed_equilibrium_kernel_fails_validation_and_is_named() {
    let Some(ctx) = gpu() else { return };
    let s = scenario("default", &["solver.scheme=equilibrium"]);
    let (game, grid) = (s.game(), s.grid());
    let state = 4 * 225 + 9 * 15 + 2;
    let mode = s.solver.interpolation;
    let run = |solver: mmgame::gpu::equilibrium::EquilibriumGpu| {
        let mut sink = mmgame::scheme::MemorySink::new(&grid);
        solver
            .solve(&game, &grid, mode, &mut sink, &Cancel::new(), &mut Silent)
            .unwrap();
        sink
    };
    let cpu = run(EquilibriumGpu::new(&ctx, Precision::F32).unwrap());
    let tau = Precision::F32.tie_tolerance();
    let good = validate::compare_equilibrium(&game, &grid, mode, &cpu, &cpu, tau).unwrap();
    assert!(good.passes());
    let bad = run(EquilibriumGpu::new(&ctx, Precision::F32)
        .unwrap()
        .with_perturbed_state(state as u32));
    let a = validate::compare_equilibrium(&game, &grid, mode, &cpu, &bad, tau).unwrap();
    assert!(!a.passes());
    let at = [state / 225, (state / 15) % 15, state % 15];
    assert!(!a.invalid.is_empty());
    assert!(
        a.invalid
            .iter()
            .all(|([_, f, s0, s1], _)| [*f, *s0, *s1] == at),
        "{:?}",
        a.invalid
    );
}

/// In f64 the GPU's equilibrium sweep is the CPU's: the same selections and values.
#[test]
fn f64_gpu_equilibrium_is_the_cpu_reference() {
    let Some(ctx) = gpu() else { return };
    if ctx.check_precision(Precision::F64).is_err() {
        return;
    }
    for extra in [
        vec![],
        vec!["solver.interpolation=nearest", "grid.stake_points=23"],
    ] {
        let mut o = vec!["solver.scheme=equilibrium"];
        o.extend(extra);
        let s = scenario("default", &o);
        let (game, grid) = (s.game(), s.grid());
        let mode = s.solver.interpolation;
        let mut gpu_sink = mmgame::scheme::MemorySink::new(&grid);
        EquilibriumGpu::new(&ctx, Precision::F64)
            .unwrap()
            .solve(
                &game,
                &grid,
                mode,
                &mut gpu_sink,
                &Cancel::new(),
                &mut Silent,
            )
            .unwrap();
        let mut cpu_sink = mmgame::scheme::MemorySink::new(&grid);
        mmgame::cpu::equilibrium::solve(
            &game,
            &grid,
            mode,
            default_threads(),
            &mut cpu_sink,
            &Cancel::new(),
            &mut Silent,
        )
        .unwrap();
        assert_eq!(gpu_sink.policy, cpu_sink.policy, "{o:?}");
        let rel = max_rel_diff(
            gpu_sink.values.iter().copied(),
            cpu_sink.values.iter().copied(),
        );
        assert!(rel <= 1e-12, "{o:?}: values {rel:e} apart");
    }
}

/// Each kernel's WGSL declares exactly the bindings its explicit bind-group layout lists: the
/// same names at the same `@binding`, uniform or storage, read-only or read-write.
#[test]
fn kernel_bindings_match_their_explicit_layouts() {
    use layout::Access;
    let kernels: [(&str, String, layout::Bindings); 6] = [
        (
            "notebook_step",
            layout::kernel_source(Precision::F32, &layout::NOTEBOOK_STEP_KERNEL),
            layout::NOTEBOOK_STEP_BINDINGS,
        ),
        (
            "notebook_evaluate",
            layout::kernel_source(Precision::F32, &layout::NOTEBOOK_EVALUATE_KERNEL),
            layout::NOTEBOOK_EVALUATE_BINDINGS,
        ),
        (
            "notebook_best_response",
            layout::kernel_source(Precision::F32, &layout::NOTEBOOK_BEST_RESPONSE_KERNEL),
            layout::NOTEBOOK_BEST_RESPONSE_BINDINGS,
        ),
        (
            "notebook_policy_change",
            layout::standalone_source(layout::NOTEBOOK_POLICY_CHANGE),
            layout::NOTEBOOK_POLICY_CHANGE_BINDINGS,
        ),
        (
            "equilibrium_step",
            layout::kernel_source(Precision::F64, &layout::EQUILIBRIUM_STEP_KERNEL),
            layout::EQUILIBRIUM_STEP_BINDINGS,
        ),
        (
            "equilibrium_lines and equilibrium_step (stencils)",
            layout::kernel_source(Precision::F64, &layout::EQUILIBRIUM_STENCIL_KERNEL),
            layout::EQUILIBRIUM_STENCIL_BINDINGS,
        ),
    ];
    for (name, source, bindings) in kernels {
        let module = naga::front::wgsl::parse_str(&source).expect("kernel parses");
        let mut declared: Vec<(u32, String, Access)> = module
            .global_variables
            .iter()
            .filter_map(|(_, g)| {
                let b = g.binding.as_ref()?;
                assert_eq!(b.group, 0, "{name}");
                let access = match g.space {
                    naga::AddressSpace::Uniform => Access::Uniform,
                    naga::AddressSpace::Storage { access }
                        if access.contains(naga::StorageAccess::STORE) =>
                    {
                        Access::ReadWrite
                    }
                    naga::AddressSpace::Storage { .. } => Access::Read,
                    other => panic!("{name}: unexpected space {other:?}"),
                };
                Some((b.binding, g.name.clone().unwrap(), access))
            })
            .collect();
        declared.sort_by_key(|d| d.0);
        let listed: Vec<(u32, String, Access)> = bindings
            .iter()
            .enumerate()
            .map(|(i, (n, a))| (i as u32, n.to_string(), *a))
            .collect();
        assert_eq!(declared, listed, "{name}");
    }
}

/// The pipelined GPU sweep's files: `--save-values all` streams float32 values (the kernel's
/// own, not widened) equal to a memory run's, the policy equals that run's, summary.json
/// splits the time, and `plot` reads the float32 values back.
#[test]
fn gpu_equilibrium_files_hold_f32_values_and_a_time_split() {
    use mmgame::api::{Backend, Output, SaveValues, SolveOptions, Solver};
    let Some(_) = gpu() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_mmgame"))
        .args(["solve", "--scheme", "equilibrium", "--backend", "gpu", "-q"])
        .args([
            "--set",
            "grid.stake_points=21",
            "--set",
            "grid.time_points=6",
        ])
        .args(["--save-values", "all", "--no-plots", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let values: ndarray::ArrayD<f32> = ndarray_npy::read_npy(out.join("values.npy")).unwrap();
    let policy: ndarray::ArrayD<i8> = ndarray_npy::read_npy(out.join("policy.npy")).unwrap();
    assert_eq!(values.shape(), [2, 6, 15, 21, 21]);

    let s = scenario(
        "default",
        &[
            "solver.scheme=equilibrium",
            "grid.stake_points=21",
            "grid.time_points=6",
        ],
    );
    let options = SolveOptions {
        backend: Backend::Gpu,
        output: Output::Memory,
        save_values: SaveValues::All,
        ..Default::default()
    };
    let run = Solver::new().solve(&s, &options, &mut Silent).unwrap();
    let memory = run.equilibrium().unwrap().memory.as_ref().unwrap();
    let widened: Vec<f64> = values.iter().map(|&v| v as f64).collect();
    assert_eq!(widened, memory.values);
    let table = s.grid().actions.int8_table();
    let codes: Vec<i8> = memory
        .policy
        .iter()
        .map(|&c| table[c as usize & 3])
        .collect();
    assert_eq!(policy.iter().copied().collect::<Vec<i8>>(), codes);

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let split = &summary["gpu_time_split"];
    assert!(["timestamps", "host clock"].contains(&split["source"].as_str().unwrap()));
    assert_eq!(split["steps"], 5);
    for key in [
        "kernel_seconds",
        "transfer_seconds",
        "host_seconds",
        "wait_seconds",
    ] {
        let x = split[key].as_f64().unwrap();
        assert!(x >= 0.0 && x.is_finite(), "{key} = {x}");
    }
    assert!(split["kernel_seconds"].as_f64().unwrap() > 0.0);
    assert!(split["host_seconds"].as_f64().unwrap() > 0.0);

    let o = std::process::Command::new(env!("CARGO_BIN_EXE_mmgame"))
        .args(["plot", "--fix", "stake1=0", "--time", "1"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
