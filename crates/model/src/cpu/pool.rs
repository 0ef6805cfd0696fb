//! A tiny persistent thread pool for the forward pass.
//!
//! A decode step runs ~150 parallel sections of a few microseconds each, so spawning threads or
//! queueing boxed jobs per section would cost more than the work. Workers stay alive, spin briefly
//! waiting for the next section, then sleep. A section is cut into a few pieces per thread, which
//! the caller and the workers claim one at a time: when the OS sets a thread aside (another
//! process, or in a browser the page drawing), the others take its pieces instead of waiting for
//! it. Only a piece already started is waited for.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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

/// Pieces per thread a section is cut into: more balance the load when a thread stalls, fewer
/// cost less claiming.
const PIECES_PER_THREAD: usize = 4;

type Job = *const (dyn Fn(usize) + Sync);

/// The section being run: its tag (the low 32 bits of its generation), its piece count, its job.
#[derive(Clone, Copy)]
struct Section {
    tag: u32,
    pieces: usize,
    job: SendJob,
}

struct Shared {
    /// Bumped once per section; workers look for work when it changes. `usize::MAX` = shut down.
    generation: AtomicUsize,
    /// The current section's tag in the high 32 bits and its next unclaimed piece in the low 32:
    /// a claim succeeds only for the section it was read for.
    claims: AtomicU64,
    /// Pieces of the current section finished.
    done: AtomicUsize,
    section: Mutex<Option<Section>>,
    wake: Condvar,
    sleep_lock: Mutex<()>,
}

#[derive(Clone, Copy)]
struct SendJob(Job);
// SAFETY: the job pointer is only dereferenced for a piece claimed in its own section, and `run`
// keeps the closure alive until every piece of it is done.
unsafe impl Send for SendJob {}

/// A fixed set of worker threads that run one closure over piece indices `0..shares()`.
pub struct Pool {
    threads: usize,
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    /// A pool of `threads` threads (the caller counts as one; `threads - 1` workers are spawned).
    pub fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            generation: AtomicUsize::new(0),
            claims: AtomicU64::new(0),
            done: AtomicUsize::new(0),
            section: Mutex::new(None),
            wake: Condvar::new(),
            sleep_lock: Mutex::new(()),
        });
        // Threads must be contiguous: a spawn that fails ends the pool at the threads running.
        let mut workers = Vec::new();
        let mut running = 1;
        while running < threads {
            let worker_shared = shared.clone();
            let work = move || worker(&worker_shared);
            let started = match SPAWNER.get() {
                Some(spawn) => spawn(Box::new(work)).is_ok(),
                None => std::thread::Builder::new()
                    .name(format!("tokscope-cpu-{running}"))
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

    /// Pieces a section is cut into: `f` gets each index in `0..shares()` once.
    pub fn shares(&self) -> usize {
        if self.threads == 1 {
            1
        } else {
            self.threads * PIECES_PER_THREAD
        }
    }

    /// Runs `f(piece)` for every piece in `0..shares()`, on whichever threads claim them, and
    /// returns when all are done.
    pub fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        if self.threads == 1 {
            f(0);
            return;
        }
        let shared = &*self.shared;
        let pieces = self.shares();
        // SAFETY (lifetime erasure): a piece runs the job only once claimed in this section, and
        // this function returns only when every piece has finished, so it never outlives `f`.
        let job: Job = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), Job>(f) };
        let generation = shared.generation.load(Ordering::Relaxed).wrapping_add(1);
        let tag = generation as u32;
        let section = Section {
            tag,
            pieces,
            job: SendJob(job),
        };
        *shared.section.lock().unwrap() = Some(section);
        shared.done.store(0, Ordering::Relaxed);
        shared.claims.store(u64::from(tag) << 32, Ordering::Release);
        {
            let _guard = shared.sleep_lock.lock().unwrap();
            shared.generation.store(generation, Ordering::Release);
            shared.wake.notify_all();
        }
        work_on(shared, section);
        let mut spins = 0u32;
        while shared.done.load(Ordering::Acquire) != pieces {
            // On an oversubscribed machine a worker may be descheduled mid-piece: give it the core.
            if spins < SPIN_ITERATIONS / 20 {
                spins += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        *shared.section.lock().unwrap() = None;
    }
}

/// Claims and runs pieces of `section` until none is left. A claim is a compare-and-swap on the
/// tagged counter, so a thread still holding an earlier section claims nothing of a later one.
fn work_on(shared: &Shared, section: Section) {
    let mut claims = shared.claims.load(Ordering::Acquire);
    loop {
        let (tag, piece) = ((claims >> 32) as u32, claims as u32 as usize);
        if tag != section.tag || piece >= section.pieces {
            return;
        }
        match shared.claims.compare_exchange_weak(
            claims,
            claims + 1,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                // SAFETY: the piece was claimed in this section, whose `run` waits for it.
                unsafe { (*section.job.0)(piece) };
                shared.done.fetch_add(1, Ordering::Release);
                claims = shared.claims.load(Ordering::Acquire);
            }
            Err(now) => claims = now,
        }
    }
}

fn worker(shared: &Shared) {
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
        // None when the caller finished the section before this worker looked.
        let section = *shared.section.lock().unwrap();
        if let Some(section) = section {
            work_on(shared, section);
        }
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

    #[test]
    fn every_piece_runs_once_per_section() {
        for threads in 1..=4 {
            let pool = Pool::new(threads);
            let pieces = pool.shares();
            assert_eq!(pieces, if threads == 1 { 1 } else { 4 * threads });
            let hits: Vec<AtomicUsize> = (0..pieces).map(|_| AtomicUsize::new(0)).collect();
            for _ in 0..1000 {
                pool.run(&|piece| {
                    hits[piece].fetch_add(1, Ordering::Relaxed);
                });
            }
            for (piece, h) in hits.iter().enumerate() {
                assert_eq!(
                    h.load(Ordering::Relaxed),
                    1000,
                    "threads {threads} piece {piece}"
                );
            }
        }
    }

    #[test]
    fn a_stalled_piece_does_not_hold_the_others() {
        // One piece blocks until every other piece has run: with fixed shares per thread this
        // would deadlock whenever the blocked thread owned another piece; with claimed pieces the
        // other threads take them all.
        let pool = Pool::new(3);
        let pieces = pool.shares();
        let others = AtomicUsize::new(0);
        for _ in 0..50 {
            others.store(0, Ordering::SeqCst);
            pool.run(&|piece| {
                if piece == 0 {
                    while others.load(Ordering::SeqCst) != pieces - 1 {
                        std::thread::yield_now();
                    }
                } else {
                    others.fetch_add(1, Ordering::SeqCst);
                }
            });
            assert_eq!(others.load(Ordering::SeqCst), pieces - 1);
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
