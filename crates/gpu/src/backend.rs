//! The llama graph on the GPU: weights uploaded once in their quantized form, every buffer and bind
//! group made at load, a step (a decoded token, or a batch of up to [`crate::MAX_BATCH`] prompt tokens)
//! recorded from those launches with no round trip inside it, only the logits or their summary
//! read back. Upload (upload.rs), the backend's buffers and recorded launches (graph.rs), running
//! (run.rs) and profiling (profile.rs) each have a file; this one holds loading and the
//! [`Backend`] face.

mod graph;
mod profile;
mod run;
mod upload;

pub use profile::{LaunchTime, StepProfile};

pub use graph::GpuBackend;

use crate::context::GpuContext;
use crate::error::GpuError;
use crate::formats::Arithmetic;
use crate::options::LoadOptions;
use tokscope_model::file::TensorSource;
use tokscope_model::{Backend, Config, LogitsFor, ModelFile};

impl GpuBackend {
    /// Uploads the model to the GPU with a cache of `n_ctx` positions.
    pub fn new(ctx: &GpuContext, file: &ModelFile, n_ctx: usize) -> Result<Self, GpuError> {
        Self::with_options(ctx, file, n_ctx, LoadOptions::default())
    }

    /// As [`GpuBackend::new`] with explicit [`LoadOptions`].
    pub fn with_options(
        ctx: &GpuContext,
        file: &ModelFile,
        n_ctx: usize,
        options: LoadOptions,
    ) -> Result<Self, GpuError> {
        Self::with_source(ctx, file, file, n_ctx, options)
    }

    /// As [`GpuBackend::with_options`], each weight read from `source` just before its upload
    /// and dropped after it (`file` may hold only its header: the browser streams a `Blob`).
    pub fn with_source(
        ctx: &GpuContext,
        file: &ModelFile,
        source: &dyn TensorSource,
        n_ctx: usize,
        options: LoadOptions,
    ) -> Result<Self, GpuError> {
        let extensions = file.config.graph_extensions();
        if !extensions.is_empty() {
            return Err(GpuError::Unsupported(format!(
                "{} files need {}, which only the CPU backend computes",
                file.config.arch,
                extensions.join(", ")
            )));
        }
        // Before anything is allocated (the RoPE table alone grows with the context).
        crate::limits::check_context(&ctx.device, &file.config, n_ctx.max(1))?;
        let choice = options.resolve(ctx)?;
        let device = &ctx.device;
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let built = Self::build(ctx, (file, source), n_ctx.max(1), choice);
        let invalid = pollster_free_pop(validation.pop());
        let out_of_memory = pollster_free_pop(oom.pop());
        if let Some(e) = out_of_memory {
            return Err(GpuError::OutOfMemory(format!("uploading the model: {e}")));
        }
        if let Some(e) = invalid {
            return Err(GpuError::Wgpu(e.to_string()));
        }
        built
    }

    /// How the weights' block scales are held on the GPU.
    pub fn arithmetic(&self) -> Arithmetic {
        self.arithmetic
    }
}

/// Pops an error scope natively, where the future is ready at once (wgpu-core resolves scopes
/// synchronously); in the browser the scope's result would need awaiting and is not waited for.
fn pollster_free_pop(
    fut: impl std::future::Future<Output = Option<wgpu::Error>>,
) -> Option<wgpu::Error> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        pollster::block_on(fut)
    }
    #[cfg(target_arch = "wasm32")]
    {
        drop(fut);
        None
    }
}

impl Backend for GpuBackend {
    fn config(&self) -> &Config {
        &self.cfg
    }

    fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    fn cache_len(&self) -> usize {
        self.len
    }

    /// Positions past `len` stay in GPU memory and are overwritten as the cache grows again.
    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    fn forward(&mut self, tokens: &[u32], which: LogitsFor) -> tokscope_model::Result<Vec<f32>> {
        #[cfg(not(target_arch = "wasm32"))]
        {
            Ok(pollster::block_on(self.forward_async(tokens, which))?)
        }
        #[cfg(target_arch = "wasm32")]
        {
            let _ = (tokens, which);
            Err(tokscope_model::ModelError::Invalid(
                "the GPU backend is asynchronous in the browser: call forward_async".into(),
            ))
        }
    }

    /// The browser's path: awaits the readback instead of blocking on it.
    fn forward_async<'a>(
        &'a mut self,
        tokens: &'a [u32],
        which: LogitsFor,
    ) -> tokscope_model::ForwardFuture<'a> {
        Box::pin(async move { Ok(GpuBackend::forward_async(self, tokens, which).await?) })
    }

    /// The GPU's answer: the summary kernel's few hundred bytes instead of the logits.
    fn forward_step_async<'a>(
        &'a mut self,
        tokens: &'a [u32],
        query: &'a tokscope_model::StepQuery,
    ) -> tokscope_model::StepFuture<'a> {
        Box::pin(async move { Ok(self.step_async(tokens, query).await?) })
    }

    fn describe(&self) -> String {
        format!(
            "gpu: {} ({} scales, f32 arithmetic{})",
            self.ctx.describe(),
            self.arithmetic().name(),
            if self.subgroups { ", subgroups" } else { "" }
        )
    }
}
