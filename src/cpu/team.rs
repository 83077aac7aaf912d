//! A team of threads that sweeps the grid's time steps together, meeting at a spinning
//! barrier between steps.
//!
//! Each time step depends on the whole previous one, so the solvers need a barrier per step,
//! and a step of a fine grid takes only a millisecond or two. Rayon parks idle workers and
//! waking them costs more than that on these virtual machines: measured on the 31×61×9
//! notebook grid, two rayon threads gave 1.35× one thread, while two independent one-thread
//! processes each kept full speed. Threads that spin between steps do not pay the wake-up.

use std::sync::atomic::{AtomicUsize, Ordering};

/// A reusable barrier for `n` threads that spins (then yields) instead of sleeping.
pub struct SpinBarrier {
    n: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
}

impl SpinBarrier {
    pub fn new(n: usize) -> Self {
        SpinBarrier {
            n,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
        }
    }

    /// Waits until all `n` threads have called `wait`. Everything a thread wrote before its
    /// call is visible to every thread after the call returns.
    pub fn wait(&self) {
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.n {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::AcqRel);
            return;
        }
        let mut spins = 0u32;
        while self.generation.load(Ordering::Acquire) == generation {
            if spins < 1 << 16 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                // Oversubscribed (more threads than free cores): let the others run.
                std::thread::yield_now();
            }
        }
    }
}

/// The number of threads a team uses: inside a rayon pool, that pool's size; else
/// RAYON_NUM_THREADS when set, else the machine's cores. It does not start rayon's global
/// pool: idle rayon workers spinning beside the team's threads on a 2-core machine made
/// half of the default grid's solves 10× slower.
pub fn team_size() -> usize {
    if rayon::current_thread_index().is_some() {
        return rayon::current_num_threads().max(1);
    }
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The least work, in grid states per time step, worth a thread of its own.
pub const MIN_STATES_PER_THREAD: usize = 16 * 1024;

/// Fills `out` in parallel on the team: `fill(start, chunk)` writes `chunk`, which begins at
/// index `start` of `out`.
pub fn fill<T: Send>(out: &mut [T], fill: impl Fn(usize, &mut [T]) + Sync) {
    let threads = team_size()
        .min(out.len() / (64 * MIN_STATES_PER_THREAD))
        .max(1);
    let len = out.len();
    let mut chunks = Vec::with_capacity(threads);
    let mut rest = out;
    for rank in 0..threads {
        let (mine, tail) = rest.split_at_mut(share(len, rank, threads).len());
        chunks.push(std::sync::Mutex::new(Some(mine)));
        rest = tail;
    }
    run(threads, |rank, _| {
        let chunk = chunks[rank]
            .lock()
            .expect("unpoisoned")
            .take()
            .expect("one use");
        fill(share(len, rank, threads).start, chunk);
    });
}

/// Runs `work(rank, barrier)` on `threads` threads (rank 0 on the caller's) and returns the
/// results in rank order.
pub fn run<R: Send>(threads: usize, work: impl Fn(usize, &SpinBarrier) -> R + Sync) -> Vec<R> {
    let barrier = SpinBarrier::new(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (1..threads)
            .map(|rank| {
                let (work, barrier) = (&work, &barrier);
                scope.spawn(move || work(rank, barrier))
            })
            .collect();
        let mut results = vec![work(0, &barrier)];
        results.extend(
            handles
                .into_iter()
                .map(|h| h.join().expect("a team thread panicked")),
        );
        results
    })
}

/// The share of `0..len` that `rank` of `threads` handles: contiguous, sizes differing by 1.
pub fn share(len: usize, rank: usize, threads: usize) -> std::ops::Range<usize> {
    (len * rank / threads)..(len * (rank + 1) / threads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn shares_cover_the_range_once() {
        for threads in 1..6 {
            let mut next = 0;
            for rank in 0..threads {
                let r = share(17, rank, threads);
                assert_eq!(r.start, next);
                next = r.end;
            }
            assert_eq!(next, 17);
        }
    }

    #[test]
    fn barrier_orders_phases() {
        // Each phase reads what all threads wrote in the previous one.
        let cells: Vec<AtomicU64> = (0..4).map(|_| AtomicU64::new(0)).collect();
        let sums = run(4, |rank, barrier| {
            let mut seen = Vec::new();
            for phase in 1..=50u64 {
                cells[rank].store(phase, Ordering::Relaxed);
                barrier.wait();
                seen.push(cells.iter().map(|c| c.load(Ordering::Relaxed)).sum::<u64>());
                barrier.wait();
            }
            seen
        });
        for s in sums {
            assert_eq!(s, (1..=50).map(|p| 4 * p).collect::<Vec<u64>>());
        }
    }
}
