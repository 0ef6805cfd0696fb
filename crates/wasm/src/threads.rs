//! Wasm threads for the CPU backend, where the page is cross-origin isolated.
//!
//! Only the threaded build (compiled with `+atomics` and shared memory; web/src/worker.ts loads it
//! when `crossOriginIsolated` is true) uses them. There the CPU pool's shares run on Web Workers
//! that instantiate this module on the same memory: `spawn` hands the work to
//! `globalThis.tokscopeSpawnThread(work)` (the engine worker's JS), whose Web Worker calls
//! [`run_thread`] with it. A new Web Worker starts only once its parent yields to its event loop,
//! so after making a threaded pool the engine awaits `globalThis.tokscopeThreadsStarted()` before
//! computing anything with it.

use wasm_bindgen::prelude::*;

/// Threads the CPU backend gets when the page asks for `requested`: all of them in the threaded
/// build (whose spawner this installs), one otherwise.
pub fn available(requested: usize) -> usize {
    #[cfg(target_feature = "atomics")]
    if requested > 1 {
        tokscope_model::cpu::pool::set_spawner(shared::spawn);
        return requested;
    }
    let _ = requested;
    1
}

/// Resolves once every thread spawned so far runs (at once in the single-threaded build).
pub async fn started() -> Result<(), JsError> {
    #[cfg(target_feature = "atomics")]
    shared::started().await?;
    Ok(())
}

/// What only the build with shared memory has.
#[cfg(target_feature = "atomics")]
mod shared {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(catch, js_namespace = globalThis, js_name = tokscopeSpawnThread)]
        fn spawn_thread(work: u32) -> Result<(), JsValue>;

        #[wasm_bindgen(catch, js_namespace = globalThis, js_name = tokscopeThreadsStarted)]
        fn threads_started() -> Result<js_sys::Promise, JsValue>;
    }

    type Work = Box<dyn FnOnce() + Send>;

    pub async fn started() -> Result<(), JsError> {
        let promise = threads_started().map_err(|e| JsError::new(&format!("threads: {e:?}")))?;
        wasm_bindgen_futures::JsFuture::from(promise)
            .await
            .map_err(|e| JsError::new(&format!("a CPU thread failed to start: {e:?}")))?;
        Ok(())
    }

    pub fn spawn(work: Work) -> Result<(), String> {
        let work = Box::into_raw(Box::new(work));
        spawn_thread(work as u32).map_err(|e| {
            // SAFETY: the JS side failed, so nothing else owns the pointer.
            drop(unsafe { Box::from_raw(work) });
            format!("{e:?}")
        })
    }

    /// A thread's entry point: its Web Worker calls this with the pointer `spawn` handed out, once.
    #[wasm_bindgen(js_name = runThread)]
    pub fn run_thread(work: u32) {
        // SAFETY: `work` came from `Box::into_raw` in `spawn`, and each pointer goes to one Web
        // Worker, which calls this once.
        let work = unsafe { Box::from_raw(work as *mut Work) };
        work();
    }
}
