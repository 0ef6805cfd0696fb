//! The bridge between the web page's Web Worker and tokscope's Rust crates.
//!
//! The worker loads an [`Engine`] from a GGUF file's `Blob` (read slice by slice: `load`) on WebGPU or the CPU backend, asks it for
//! the model's facts, and runs generate through `tokscope_session::Generation` (one step per call,
//! so the worker can stop or pause between any two steps), score, speculate, compare and branch. Every failure comes back as a `JsError` with a readable message.
//! A panic cannot be caught on `wasm32-unknown-unknown` (it aborts the instance), so the panic hook
//! keeps its message for [`take_panic_message`] and the worker reports that instead of "unreachable";
//! running out of memory aborts without the hook, and the allocator notes it ([`failed_allocation`]).
//! Either way the worker is replaced.

mod alloc;
mod defaults;
mod engine;
mod fault;
mod inspect;
mod load;
mod options;
mod reference;
mod selfcheck;
mod threads;
mod yielding;

use std::sync::Mutex;
use wasm_bindgen::prelude::*;

pub use alloc::{failed_allocation, memory_bytes};
pub use defaults::PageDefaults;
pub use engine::{Engine, load_engine};
pub use fault::arm_fault;
pub use inspect::{HeaderFacts, inspect_model};
pub use options::{
    AdapterHint, BranchRequest, CompareRequest, DrafterKind, GenerateRequest, LoadRequest,
    PromptRequest, ScoreRequest, SpeculateRequest,
};
pub use reference::self_check_reference;

/// The last panic's message, kept by the hook until the worker asks for it.
static PANIC_MESSAGE: Mutex<Option<String>> = Mutex::new(None);

/// Runs once when the module is instantiated: installs the panic hook.
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut slot) = PANIC_MESSAGE.lock() {
            *slot = Some(format!("internal error in the engine: {info}"));
        }
    }));
}

/// The message of the panic that aborted the engine, if one did (then the wasm instance is dead
/// and the worker must be restarted).
#[wasm_bindgen]
pub fn take_panic_message() -> Option<String> {
    PANIC_MESSAGE.lock().ok().and_then(|mut slot| slot.take())
}

/// The version of this build, so the page can show which engine it loaded.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Log-sum-exp, entropy (nats) and largest logit of `softmax(logits)`, as a plain JS object
/// `{lse, entropy, max_logit}`; throws on NaN/+inf logits or when every logit is -inf.
#[wasm_bindgen]
pub fn summarize(logits: &[f32]) -> Result<JsValue, JsError> {
    let summary = tokscope_dist::summarize(logits).map_err(js_error)?;
    to_js(&summary)
}

/// Any displayable error as the JS error the worker posts to the page.
pub(crate) fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// Serialises to plain JS objects (maps as objects, not `Map`), the shape `JSON.parse` would give.
pub(crate) fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(js_error)
}
