//! Criterion benchmarks of a scheme on the CPU and on the GPU over a small, a medium and a large
//! grid (`cargo bench --bench notebook`; BENCHMARKS.md shows figures). Throughput is in cell
//! updates (docs/model.md: fee_points · stake_points² · (time_points − 1) · iterations), counted
//! from the iterations a first solve actually ran; the scenario asks for exactly
//! `mmgame::tools::bench::BENCH_ITERATIONS` of them (tolerance 0).
//!
//! The timed region is the solver's own time (`Run::solve_seconds`), as in `mmgame bench` (the
//! same `mmgame::tools::bench::time_solve`). One `Solver` serves every solve, so the GPU
//! context and the pipelines are built before timing; a GPU solve returns once the device has
//! finished and the results are on the host. Without a GPU adapter the GPU group prints why
//! and is skipped.
//!
//! Each benchmark measures for about ten solves' time (at least 2 s), so the whole run stays
//! within about three minutes even on a software Vulkan driver (lavapipe on 2 cores).

use std::time::Duration;

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use mmgame::api::{Resolved, Solver};
use mmgame::config::{Scenario, Scheme};
use mmgame::tools::bench::{scenario, time_solve, GridSize, Timed};
use mmgame::Error;

/// The schemes benchmarked here.
const SCHEMES: [Scheme; 2] = [Scheme::Notebook, Scheme::Equilibrium];

const GRIDS: [(&str, GridSize); 3] = [
    ("small", GridSize::new(15, 15, 5)),
    ("medium", GridSize::new(31, 61, 9)),
    ("large", GridSize::new(41, 121, 9)),
];

fn group(
    c: &mut Criterion,
    scheme: Scheme,
    backend: &str,
    solve: impl Fn(&Scenario) -> Result<Timed, Error>,
) {
    let mut group = c.benchmark_group(format!("{}/{backend}", scheme.name()));
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500));
    for (size, grid) in GRIDS {
        let scenario = scenario(scheme, grid).expect("a benchmark grid is a valid scenario");
        // The first solve is cold (page faults, shader compilation on some drivers); the
        // second gives the time per solve from which the measurement time is set: about nine
        // solves, so that criterion's ten samples take one solve each (it prints a warning
        // saying so) and the slowest group stays within a couple of minutes.
        let first = solve(&scenario).expect("the benchmark grid solves");
        let second = solve(&scenario).expect("the benchmark grid solves");
        assert_eq!(first.cell_updates, second.cell_updates);
        group.throughput(Throughput::Elements(first.cell_updates as u64));
        group.measurement_time(Duration::from_secs_f64((9.0 * second.seconds).max(2.0)));
        group.bench_function(BenchmarkId::new(size, grid), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let t = solve(&scenario).expect("the benchmark grid solves");
                        Duration::from_secs_f64(t.seconds)
                    })
                    .sum()
            })
        });
    }
    group.finish();
}

fn cpu(c: &mut Criterion) {
    let solver = Solver::new();
    for scheme in SCHEMES {
        group(c, scheme, "cpu", |s| {
            time_solve(&solver, s, Resolved::Cpu, None)
        });
    }
}

fn gpu(c: &mut Criterion) {
    let solver = Solver::new();
    let ctx = match solver.gpu(None) {
        Ok(gpu) => gpu.ctx.clone(),
        Err(e) => {
            println!("skipping the GPU benchmarks: {e}");
            return;
        }
    };
    println!(
        "GPU benchmarks on {} ({:?}, {:?})",
        ctx.info.name, ctx.info.device_type, ctx.info.backend
    );
    for scheme in SCHEMES {
        group(c, scheme, "gpu", |s| {
            time_solve(&solver, s, Resolved::Gpu, None)
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = cpu, gpu
}
criterion_main!(benches);
