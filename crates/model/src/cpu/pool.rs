//! A tiny persistent thread pool for the forward pass.
//!
//! A decode step runs ~150 parallel sections of a few microseconds each, so spawning threads or
//! queueing boxed jobs per section would cost more than the work. Workers stay alive, spin briefly
//! waiting for the next section, then sleep; the caller runs share 0 itself.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;

/// Starts a thread running the given work. Natively the pool uses `std::thread`; in a browser std
/// cannot start threads, so the embedder (crates/wasm) installs one that starts a Web Worker on the
/// same shared memory.
pub type Spawner = fn(Box<dyn FnOnce() + Send>) -> Result<(), String>;

static SPAWNER: OnceLock<Spawner> = OnceLock::new();

/// Installs the spawner every later pool uses instead of `std::thread`; false if one already was.
pub fn set_spawner(spawner: Spawner) -> bool {
    SPAWNER.set(spawner).is_ok()
}

/// How long an idle worker spins before it sleeps (iterations of `spin_loop`).
const SPIN_ITERATIONS: u32 = 200_000;

type Job = *const (dyn Fn(usize) + Sync);

struct Shared {
    /// Bumped once per section; workers run the section when it changes. `usize::MAX` = shut down.
    generation: AtomicUsize,
    /// Workers still running the current section.
    pending: AtomicUsize,
    job: Mutex<Option<SendJob>>,
    wake: Condvar,
    sleep_lock: Mutex<()>,
}

#[derive(Clone, Copy)]
struct SendJob(Job);
// SAFETY: the job pointer is only dereferenced while `run` keeps the closure alive and waits.
unsafe impl Send for SendJob {}

/// A fixed set of worker threads that run one closure over share indices `0..threads`.
pub struct Pool {
    threads: usize,
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    /// A pool of `threads` shares (the caller counts as one; `threads - 1` workers are spawned).
    pub fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            generation: AtomicUsize::new(0),
            pending: AtomicUsize::new(0),
            job: Mutex::new(None),
            wake: Condvar::new(),
            sleep_lock: Mutex::new(()),
        });
        // Shares must be contiguous: a spawn that fails ends the pool at the shares already running.
        let mut workers = Vec::new();
        let mut running = 1;
        while running < threads {
            let worker_shared = shared.clone();
            let share = running;
            let work = move || worker(&worker_shared, share);
            let started = match SPAWNER.get() {
                Some(spawn) => spawn(Box::new(work)).is_ok(),
                None => std::thread::Builder::new()
                    .name(format!("tokscope-cpu-{share}"))
                    .spawn(work)
                    .map(|handle| workers.push(handle))
                    .is_ok(),
            };
            if !started {
                break;
            }
            running += 1;
        }
        Self {
            threads: running,
            shared,
            workers,
        }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f(share)` for every share in `0..threads()` and returns when all are done.
    pub fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        if self.threads == 1 {
            f(0);
            return;
        }
        // SAFETY (lifetime erasure): the pointer is cleared and all workers have finished with it
        // before this function returns, so it never outlives `f`.
        let job: Job = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), Job>(f) };
        *self.shared.job.lock().unwrap() = Some(SendJob(job));
        self.shared
            .pending
            .store(self.threads - 1, Ordering::Release);
        {
            let _guard = self.shared.sleep_lock.lock().unwrap();
            self.shared.generation.fetch_add(1, Ordering::AcqRel);
            self.shared.wake.notify_all();
        }
        f(0);
        let mut spins = 0u32;
        while self.shared.pending.load(Ordering::Acquire) != 0 {
            // On an oversubscribed machine the worker may be descheduled: give it the core.
            if spins < SPIN_ITERATIONS / 20 {
                spins += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        *self.shared.job.lock().unwrap() = None;
    }
}

fn worker(shared: &Shared, share: usize) {
    let mut seen = 0usize;
    loop {
        let mut spins = 0u32;
        let generation = loop {
            let g = shared.generation.load(Ordering::Acquire);
            if g != seen {
                break g;
            }
            if spins < SPIN_ITERATIONS {
                spins += 1;
                std::hint::spin_loop();
            } else {
                let guard = shared.sleep_lock.lock().unwrap();
                if shared.generation.load(Ordering::Acquire) == seen {
                    drop(shared.wake.wait(guard).unwrap());
                }
            }
        };
        if generation == usize::MAX {
            return;
        }
        seen = generation;
        let job = shared
            .job
            .lock()
            .unwrap()
            .expect("a job is set for each generation");
        // SAFETY: `run` keeps the closure alive until `pending` reaches zero.
        unsafe { (*job.0)(share) };
        shared.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        {
            let _guard = self.shared.sleep_lock.lock().unwrap();
            self.shared.generation.store(usize::MAX, Ordering::Release);
            self.shared.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// The part of `0..len` that share `share` of `shares` handles, in units of `align` items.
pub fn share_range(
    len: usize,
    share: usize,
    shares: usize,
    align: usize,
) -> std::ops::Range<usize> {
    let units = len.div_ceil(align);
    let start = (units * share / shares * align).min(len);
    let end = (units * (share + 1) / shares * align).min(len);
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn every_share_runs_once_per_section() {
        for threads in 1..=4 {
            let pool = Pool::new(threads);
            let hits = AtomicU64::new(0);
            for _ in 0..1000 {
                pool.run(&|share| {
                    hits.fetch_add(1 << (share * 16), Ordering::Relaxed);
                });
            }
            let h = hits.load(Ordering::Relaxed);
            for share in 0..threads {
                assert_eq!(
                    (h >> (share * 16)) & 0xffff,
                    1000,
                    "threads {threads} share {share}"
                );
            }
        }
    }

    #[test]
    fn share_ranges_cover_exactly() {
        for len in [0, 1, 7, 64, 576, 1000] {
            for shares in 1..=5 {
                let mut next = 0;
                for s in 0..shares {
                    let r = share_range(len, s, shares, 4);
                    assert_eq!(r.start, next);
                    assert!(r.start.is_multiple_of(4) || r.start == len);
                    next = r.end;
                }
                assert_eq!(next, len);
            }
        }
    }
}
