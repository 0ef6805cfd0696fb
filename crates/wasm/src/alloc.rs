//! The global allocator of the wasm build: the system one, noting the size of an allocation it
//! could not make. Running out of memory aborts the instance without running the panic hook, so
//! the worker asks [`failed_allocation`] after the trap to say "out of memory" rather than
//! "unreachable".

use std::sync::atomic::{AtomicUsize, Ordering};
use wasm_bindgen::prelude::*;

/// Bytes of the last allocation that failed (0: none since the instance started).
static FAILED: AtomicUsize = AtomicUsize::new(0);

#[cfg(target_arch = "wasm32")]
mod noting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::Ordering;

    struct Noting;

    // SAFETY: every call goes to `System` unchanged; only a null result is noted.
    unsafe impl GlobalAlloc for Noting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: the caller's contract is `System`'s.
            noted(unsafe { System.alloc(layout) }, layout.size())
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: as `alloc`.
            noted(unsafe { System.alloc_zeroed(layout) }, layout.size())
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: as `alloc`.
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: as `alloc`.
            noted(unsafe { System.realloc(ptr, layout, new_size) }, new_size)
        }
    }

    fn noted(ptr: *mut u8, size: usize) -> *mut u8 {
        if ptr.is_null() {
            super::FAILED.store(size.max(1), Ordering::Relaxed);
        }
        ptr
    }

    #[global_allocator]
    static ALLOCATOR: Noting = Noting;

    /// Pages of 64 KiB the instance's memory has.
    pub fn pages() -> usize {
        core::arch::wasm32::memory_size(0)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod noting {
    pub fn pages() -> usize {
        0
    }
}

/// The size in bytes of the last allocation that failed, if one did. A fallible allocation (a
/// model too large for memory) fails without a trap too, so the worker reads this only after one.
#[wasm_bindgen(js_name = failedAllocation)]
pub fn failed_allocation() -> Option<f64> {
    match FAILED.load(Ordering::Relaxed) {
        0 => None,
        n => Some(n as f64),
    }
}

/// The size in bytes of the instance's memory (at most 4 GiB on wasm32; 0 natively).
#[wasm_bindgen(js_name = memoryBytes)]
pub fn memory_bytes() -> f64 {
    noting::pages() as f64 * 65536.0
}
