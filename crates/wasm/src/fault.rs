//! Deliberate failures for the page's tests: a panic, or running out of memory, inside the next
//! forward pass. The worker arms one only when the page was opened with its test flag (web/src/lib/testHooks.ts);
//! either one kills the wasm instance as a real bug would, so the tests see the page recover.

use std::sync::atomic::{AtomicU8, Ordering};
use wasm_bindgen::prelude::*;

const NONE: u8 = 0;
const PANIC: u8 = 1;
const OUT_OF_MEMORY: u8 = 2;

/// The failure the next forward pass meets.
static ARMED: AtomicU8 = AtomicU8::new(NONE);

/// Arms a failure for the next forward pass: "panic" or "oom" (allocating until the allocator fails).
#[wasm_bindgen(js_name = armFault)]
pub fn arm_fault(kind: &str) -> Result<(), JsError> {
    let fault = match kind {
        "panic" => PANIC,
        "oom" => OUT_OF_MEMORY,
        other => {
            return Err(JsError::new(&format!(
                "unknown fault `{other}`: panic or oom"
            )));
        }
    };
    ARMED.store(fault, Ordering::SeqCst);
    Ok(())
}

/// Fails as armed, once; does nothing when nothing is armed.
pub fn fire() {
    match ARMED.swap(NONE, Ordering::SeqCst) {
        PANIC => panic!("a deliberate panic (the page's test hook)"),
        OUT_OF_MEMORY => exhaust_memory(),
        _ => {}
    }
}

/// Allocates 1 GiB blocks and keeps them until one fails, which aborts the instance the way any
/// allocation failure does (the blocks are never written, so the host commits no real memory).
fn exhaust_memory() {
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        kept.push(Vec::with_capacity(1 << 30));
        std::hint::black_box(&kept);
    }
}
