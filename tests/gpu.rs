//! The GPU `notebook` solver against the notebook's outputs and the CPU reference. These run
//! for real on any adapter (CI: Mesa's lavapipe); without one they skip with a message, and
//! with REQUIRE_GPU=1 a missing adapter fails them.

mod common;

use common::{gpu, max_rel_diff, npy, scenario};
use mmgame::api::{Cancel, Silent};
use mmgame::config::Scenario;
use mmgame::cpu::notebook;
use mmgame::cpu::team::default_threads;
use mmgame::gpu::context::GpuContext;
use mmgame::gpu::layout::{self, params_fields, Params, Step};
use mmgame::gpu::notebook::NotebookGpu;
use mmgame::scheme::Solution;
use mmgame::simulate::notebook_path;
use mmgame::tools::validate;

fn solve_gpu(ctx: &GpuContext, s: &Scenario, max_dim: Option<u32>) -> Solution {
    let mut solver = NotebookGpu::new(ctx).expect("pipelines build");
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
    let limit = ctx
        .limits
        .max_storage_buffer_binding_size
        .min(ctx.limits.max_buffer_size);
    let stake = ((limit / 4 / 2) as f64).sqrt() as i64 + 2;
    let s = scenario(
        "default",
        &["grid.fee_points=2", &format!("grid.stake_points={stake}")],
    );
    let err = match NotebookGpu::new(&ctx).unwrap().solve(
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

/// The WGSL `Params` and `Step` structs have the Rust structs' fields at the same offsets.
#[test]
fn wgsl_structs_match_the_rust_layout() {
    let module =
        naga::front::wgsl::parse_str(&layout::kernel_source(&layout::NOTEBOOK_STEP_KERNEL))
            .expect("kernel parses");
    let find = |name: &str| {
        module
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some(name))
            .map(|(_, t)| t.inner.clone())
            .unwrap_or_else(|| panic!("no struct {name} in WGSL"))
    };
    let naga::TypeInner::Struct { members, span } = find("Params") else {
        panic!("Params is a struct")
    };
    let wgsl: Vec<(String, usize)> = members
        .iter()
        .map(|m| (m.name.clone().unwrap(), m.offset as usize))
        .collect();
    let rust: Vec<(String, usize)> = params_fields()
        .into_iter()
        .map(|(n, o)| (n.to_string(), o))
        .collect();
    assert_eq!(wgsl, rust);
    assert_eq!(span as usize, std::mem::size_of::<Params>());
    let naga::TypeInner::Struct { span, members } = find("Step") else {
        panic!("Step is a struct")
    };
    assert_eq!(span as usize, std::mem::size_of::<Step>());
    assert_eq!(members.len(), 8);
}

/// The fused `notebook_step` (one dispatch per time step) and the separate evaluation and
/// best-response kernels compute the same thing in the same order per state: identical bits.
#[test]
fn fused_and_separate_kernels_give_identical_results() {
    let Some(ctx) = gpu() else { return };
    let s = scenario("fine_m1", &[]);
    let (game, grid) = (s.game(), s.grid());
    let fused = NotebookGpu::new(&ctx).unwrap();
    assert!(
        fused.fused(),
        "lavapipe and real GPUs allow 11 storage buffers per stage"
    );
    let a = fused
        .solve(&game, &grid, &s.solver, &Cancel::new(), &mut Silent)
        .unwrap();
    let b = NotebookGpu::new(&ctx)
        .unwrap()
        .without_fusion()
        .solve(&game, &grid, &s.solver, &Cancel::new(), &mut Silent)
        .unwrap();
    assert_eq!(a.policy, b.policy);
    assert_eq!(a.values, b.values);
    assert_eq!(a.policy_change, b.policy_change);
}
