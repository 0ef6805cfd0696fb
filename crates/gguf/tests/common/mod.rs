//! The allocation tracker the parsing tests share: a hostile count must be refused before it is
//! used as a capacity, which shows as the largest single allocation a parse makes; and what a
//! parse holds at once, which shows as the high-water mark of its live bytes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Records the largest single allocation made on the current thread, and its live bytes.
struct PeakAlloc;

thread_local! {
    static PEAK: Cell<usize> = const { Cell::new(0) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static HIGH: Cell<isize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = PEAK.try_with(|p| p.set(p.get().max(size)));
}

/// `delta` bytes more (or fewer) live on this thread.
fn live(delta: isize) {
    let _ = LIVE.try_with(|l| {
        let now = l.get() + delta;
        l.set(now);
        let _ = HIGH.try_with(|h| h.set(h.get().max(now)));
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for PeakAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        live(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        live(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        live(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

/// Runs `f` and gives back its result with the largest single allocation it made, in bytes.
#[allow(dead_code)]
pub fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    PEAK.with(|p| p.set(0));
    let result = f();
    (result, PEAK.with(Cell::get))
}

/// Runs `f` and gives back its result with the most bytes it held allocated at once (on this
/// thread, its result included while it was being built).
// Each test binary compiles this module; not every one measures both ways (nor this one).
#[allow(dead_code)]
pub fn peak_live_bytes<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    HIGH.with(|h| h.set(base));
    let result = f();
    (result, (HIGH.with(Cell::get) - base).max(0) as usize)
}
