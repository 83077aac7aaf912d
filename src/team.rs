//! A team of threads that sweeps the grid's time steps together, meeting at a spinning
//! barrier between steps. This is the crate's one threading primitive.
//!
//! Each time step depends on the whole previous one, so the solvers need a barrier per step,
//! and a step of a fine grid takes only a millisecond or two. Rayon parks idle workers and
//! waking them costs more than that on these virtual machines: measured on the 31×61×9
//! notebook grid, two rayon threads gave 1.35× one thread, while two independent one-thread
//! processes each kept full speed. Threads that spin between steps do not pay the wake-up.
//!
//! A thread that panics poisons the barrier, so the others stop waiting and the team's run
//! fails with [`Error::Internal`] instead of hanging; a [`Cancel`] flag is read at each
//! barrier, so every thread stops at the same time step.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use crate::error::Error;
use crate::scheme::Cancel;

/// Why a team's threads stopped before finishing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The run's [`Cancel`] flag was set.
    Cancelled,
    /// Another thread of the team panicked.
    Poisoned,
}

const RUNNING: u8 = 0;
const CANCELLED: u8 = 1;
const POISONED: u8 = 2;

/// A reusable barrier for `n` threads that spins (then yields) instead of sleeping.
pub struct SpinBarrier<'a> {
    n: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
    /// RUNNING, CANCELLED or POISONED; it only ever grows.
    state: AtomicU8,
    cancel: &'a Cancel,
}

impl<'a> SpinBarrier<'a> {
    pub fn new(n: usize, cancel: &'a Cancel) -> Self {
        SpinBarrier {
            n,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            state: AtomicU8::new(RUNNING),
            cancel,
        }
    }

    /// Waits until all `n` threads have called `wait`. Everything a thread wrote before its
    /// call is visible to every thread after the call returns. Every thread gets the same
    /// answer: the last one to arrive reads the cancel flag for all of them.
    pub fn wait(&self) -> Result<(), Stop> {
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.n {
            if self.cancel.is_cancelled() {
                self.state.fetch_max(CANCELLED, Ordering::AcqRel);
            }
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::AcqRel);
        } else {
            let mut spins = 0u32;
            while self.generation.load(Ordering::Acquire) == generation {
                if self.state.load(Ordering::Acquire) == POISONED {
                    return Err(Stop::Poisoned);
                }
                if spins < 1 << 16 {
                    std::hint::spin_loop();
                    spins += 1;
                } else {
                    // Oversubscribed (more threads than free cores): let the others run.
                    std::thread::yield_now();
                }
            }
        }
        match self.state.load(Ordering::Acquire) {
            RUNNING => Ok(()),
            CANCELLED => Err(Stop::Cancelled),
            _ => Err(Stop::Poisoned),
        }
    }

    fn poison(&self) {
        self.state.store(POISONED, Ordering::Release);
    }
}

/// The number of threads a solve uses unless told otherwise: the machine's cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The least work, in grid states per time step, worth a thread of its own: starting threads
/// costs more than a small time step (the default grid's 3375 states take about 30 µs).
pub const MIN_STATES_PER_THREAD: usize = 16 * 1024;

/// The threads worth using for `states` states per step in `rows` rows, at most `threads`.
pub fn threads_for(threads: usize, states: usize, rows: usize) -> usize {
    threads
        .min(states / MIN_STATES_PER_THREAD)
        .clamp(1, rows.max(1))
}

/// Fills `out` in parallel on up to `threads` threads: `fill(start, chunk)` writes `chunk`,
/// which begins at index `start` of `out`.
pub fn fill<T: Send>(
    threads: usize,
    out: &mut [T],
    fill: impl Fn(usize, &mut [T]) + Sync,
) -> Result<(), Error> {
    let threads = threads.min(out.len() / (64 * MIN_STATES_PER_THREAD)).max(1);
    let len = out.len();
    let mut chunks = Vec::with_capacity(threads);
    let mut rest = out;
    for rank in 0..threads {
        let (mine, tail) = rest.split_at_mut(share(len, rank, threads).len());
        chunks.push(std::sync::Mutex::new(Some(mine)));
        rest = tail;
    }
    run(threads, &Cancel::new(), |rank, _| {
        if let Some(chunk) = chunks[rank].lock().ok().and_then(|mut c| c.take()) {
            fill(share(len, rank, threads).start, chunk);
        }
        Ok(())
    })
    .map(|_| ())
}

/// A vector of zeros whose pages are already written. `vec![0.0; n]` maps the kernel's shared
/// zero page on first read and copies it on first write, and with several threads each such
/// copy sends a TLB-shootdown interrupt to the other cores: on the 31×121×9 notebook grid that
/// cost 17% of the solve. Writing the zeros up front (with a value the compiler cannot see,
/// so that it does not turn the fill back into `calloc`) makes every later access a plain one.
/// The pages are written in parallel, as first touches are what this costs.
pub fn zeroed_written(threads: usize, len: usize) -> Result<Vec<f64>, Error> {
    let mut v = vec![0.0; len];
    huge_pages(&mut v);
    let zero = std::hint::black_box(0.0);
    fill(threads, &mut v, |_, c| c.fill(zero))?;
    Ok(v)
}

/// Asks Linux to back `v` with 2 MiB pages where it can: a slice of a few MB is otherwise
/// hundreds of 4 KiB first-touch faults per MB.
/// A hint only: where it is refused (transparent huge pages off) the pages stay small.
fn huge_pages(v: &mut [f64]) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = v.as_mut_ptr() as usize;
        let (first, end) = (
            start.next_multiple_of(HUGE),
            start + std::mem::size_of_val(v),
        );
        if end >= first + HUGE {
            let len = (end - first) / HUGE * HUGE;
            // SAFETY: the range lies inside `v`'s allocation; MADV_HUGEPAGE changes how its
            // pages are backed, never their contents.
            unsafe {
                libc::madvise(first as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
            }
        }
    }
}

/// Runs `work(rank, barrier)` on `threads` threads (rank 0 on the caller's) and returns the
/// results in rank order. A panic in any thread fails the run with [`Error::Internal`] (the
/// others are released from the barrier); a cancelled run returns [`Error::Cancelled`].
pub fn run<R: Send>(
    threads: usize,
    cancel: &Cancel,
    work: impl Fn(usize, &SpinBarrier) -> Result<R, Stop> + Sync,
) -> Result<Vec<R>, Error> {
    let barrier = SpinBarrier::new(threads, cancel);
    let call = |rank: usize| -> Result<R, Failure> {
        match catch_unwind(AssertUnwindSafe(|| work(rank, &barrier))) {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(stop)) => Err(Failure::Stopped(stop)),
            Err(payload) => {
                barrier.poison();
                Err(Failure::Panicked(panic_message(payload.as_ref())))
            }
        }
    };
    let outcomes: Vec<Result<R, Failure>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..threads)
            .map(|rank| {
                let call = &call;
                scope.spawn(move || call(rank))
            })
            .collect();
        let mut outcomes = vec![call(0)];
        outcomes.extend(handles.into_iter().map(|h| {
            // `call` catches the work's panics, so a join error is a panic in the
            // bookkeeping itself.
            h.join()
                .unwrap_or_else(|p| Err(Failure::Panicked(panic_message(p.as_ref()))))
        }));
        outcomes
    });
    let mut results = Vec::with_capacity(threads);
    let mut cancelled = false;
    for outcome in outcomes {
        match outcome {
            Ok(r) => results.push(r),
            Err(Failure::Panicked(message)) => {
                return Err(Error::Internal(format!(
                    "a solver thread panicked: {message}"
                )))
            }
            Err(Failure::Stopped(Stop::Cancelled)) => cancelled = true,
            // The panicking thread reports itself above.
            Err(Failure::Stopped(Stop::Poisoned)) => {}
        }
    }
    if cancelled || results.len() < threads {
        return Err(Error::Cancelled);
    }
    Ok(results)
}

enum Failure {
    Stopped(Stop),
    Panicked(String),
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string())
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
        let sums = run(4, &Cancel::new(), |rank, barrier| {
            let mut seen = Vec::new();
            for phase in 1..=50u64 {
                cells[rank].store(phase, Ordering::Relaxed);
                barrier.wait()?;
                seen.push(cells.iter().map(|c| c.load(Ordering::Relaxed)).sum::<u64>());
                barrier.wait()?;
            }
            Ok(seen)
        })
        .unwrap();
        for s in sums {
            assert_eq!(s, (1..=50).map(|p| 4 * p).collect::<Vec<u64>>());
        }
    }

    #[test]
    fn a_panicking_thread_fails_the_run_instead_of_hanging() {
        // Rank 2 panics in phase 3 while the others wait at the barrier: they must be
        // released, and the run must say what happened.
        let r = run(4, &Cancel::new(), |rank, barrier| {
            for phase in 0..10 {
                if rank == 2 && phase == 3 {
                    panic!("deliberate panic in phase {phase}");
                }
                barrier.wait()?;
            }
            Ok(rank)
        });
        match r {
            Err(Error::Internal(m)) => assert!(m.contains("deliberate panic in phase 3"), "{m}"),
            other => panic!("expected Error::Internal, got {other:?}"),
        }
    }

    #[test]
    fn cancelling_stops_every_thread_at_the_same_step() {
        let cancel = Cancel::new();
        let steps: Vec<AtomicU64> = (0..3).map(|_| AtomicU64::new(0)).collect();
        let r = run(3, &cancel, |rank, barrier| {
            for step in 0..1000u64 {
                if rank == 1 && step == 7 {
                    cancel.cancel();
                }
                steps[rank].store(step, Ordering::Relaxed);
                barrier.wait()?;
            }
            Ok(())
        });
        assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
        let last: Vec<u64> = steps.iter().map(|s| s.load(Ordering::Relaxed)).collect();
        assert_eq!(last, [7, 7, 7]);
    }
}
