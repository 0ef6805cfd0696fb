//! The wgpu backend: the llama graph as hand-written WGSL kernels (shaders/) over the quantized
//! weights, natively on Vulkan/Metal/DX12 (lavapipe in the tests) and in the browser on WebGPU.
//!
//! A decode step is five launches per layer, recorded at load and submitted in pieces of
//! [`LAUNCHES_PER_SUBMIT`]: embedding gather, per layer q/k/v matvec (one launch over the stacked
//! matrices, the RMSNorm folded in) → attention (RoPE and the KV append folded in: each
//! workgroup rotates its query and the step's keys as it reads them; on hardware GPUs a long
//! context is split into chunks of positions, a workgroup each, whose partial softmaxes the o
//! matvec combines as it reads them: [`AttentionSplit`]) → o matvec (+ residual) →
//! gate/up matvec (stacked, norm folded in) → down matvec (silu(gate)·up computed as it reads
//! its input; + residual), then the LM head (final norm folded in); the rowwise matvec of
//! software adapters keeps the norms as launches of their own;
//! the logits are read back with `map_async`, or only their summary (LSE, entropy, top-N, a scored
//! token's logprob and rank, a drawn token: [`GpuBackend::forward_summary_with`]). Prompts run in
//! batches of up to [`MAX_BATCH`] tokens through launches of their own, also recorded at load:
//! each RMSNorm a launch that normalizes the batch once, and the projections a tiled matmul
//! (shaders/matmul.wgsl) that reads each weight block once per tile of tokens instead of once
//! per token; the rest is decode's launches.

mod backend;
mod context;
mod error;
pub mod formats;
pub mod kernels;
mod limits;
mod options;
pub mod pipelines;
mod readback;
mod step;
mod summary;
pub mod weights;

pub use backend::{GpuBackend, LaunchTime, StepProfile};
pub use context::GpuContext;
pub use error::GpuError;
pub use formats::Arithmetic;
pub use kernels::AttentionSplit;
pub use options::{LAUNCHES_PER_SUBMIT, LoadOptions, MAX_BATCH, MatvecVariant};
pub use summary::{
    GpuSample, GpuSampling, GpuSummary, MAX_TOP, SampledToken, SummaryRequest, TokenStats,
    Undecided, summarize_logits_async,
};

#[cfg(not(target_arch = "wasm32"))]
pub use summary::summarize_logits;
