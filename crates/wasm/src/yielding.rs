//! [`Yielding`]: a backend that lets the worker's event loop run before every forward pass. The
//! CPU backend never waits, so without it a long speculate or branch run would hold the worker
//! until it ended and a "stop" message could not reach the engine in between. Every forward pass
//! goes through here, so this is also where a test's deliberate failure fires (`fault`).

use tokscope_model::{Backend, Config, ForwardFuture, LogitsFor, StepFuture, StepQuery};

/// Wraps a backend; `pause` is a JS function returning a promise that resolves once pending
/// messages have been handled (the worker's `yieldToMessages`). Without one it only delegates.
pub struct Yielding {
    inner: Box<dyn Backend>,
    pause: Option<js_sys::Function>,
}

impl Yielding {
    pub fn new(inner: Box<dyn Backend>, pause: Option<js_sys::Function>) -> Self {
        Self { inner, pause }
    }
}

/// Awaits the promise `pause()` returns; a pause that throws or returns no promise is skipped.
async fn pause(f: &js_sys::Function) {
    use wasm_bindgen::JsCast;
    if let Ok(value) = f.call0(&wasm_bindgen::JsValue::NULL)
        && let Ok(promise) = value.dyn_into::<js_sys::Promise>()
    {
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    }
}

impl Backend for Yielding {
    fn config(&self) -> &Config {
        self.inner.config()
    }

    fn n_ctx(&self) -> usize {
        self.inner.n_ctx()
    }

    fn cache_len(&self) -> usize {
        self.inner.cache_len()
    }

    fn truncate(&mut self, len: usize) {
        self.inner.truncate(len)
    }

    fn forward(&mut self, tokens: &[u32], which: LogitsFor) -> tokscope_model::Result<Vec<f32>> {
        crate::fault::fire();
        self.inner.forward(tokens, which)
    }

    fn forward_async<'a>(&'a mut self, tokens: &'a [u32], which: LogitsFor) -> ForwardFuture<'a> {
        Box::pin(async move {
            if let Some(f) = &self.pause {
                pause(f).await;
            }
            crate::fault::fire();
            self.inner.forward_async(tokens, which).await
        })
    }

    fn forward_step_async<'a>(
        &'a mut self,
        tokens: &'a [u32],
        query: &'a StepQuery,
    ) -> StepFuture<'a> {
        Box::pin(async move {
            if let Some(f) = &self.pause {
                pause(f).await;
            }
            crate::fault::fire();
            self.inner.forward_step_async(tokens, query).await
        })
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}
