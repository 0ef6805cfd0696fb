//! The run loop over a model: generate, score, speculate, compare and branch, emitting [`Event`]s (the StepEvent
//! protocol of docs/architecture.md and docs/protocol.md). The CLI and the web worker are thin shells over this crate.

pub mod branch;
pub mod compare;
pub mod error;
pub mod event;
pub mod multidraft;
pub mod run;
pub mod speculate;
mod steps;

pub use branch::BranchOptions;
pub use compare::{CompareMode, CompareOptions, compare, compare_async};
pub use error::{Result, SessionError};
pub use event::{DoneEvent, Event, ModeName, StepEvent, StopReason};
pub use multidraft::{MAX_DRAFTS, MultiDraftOptions};
pub use run::{GenerateOptions, Generation, Prompt, ScoreOptions, Session};
pub use speculate::{DEFAULT_GAMMA, Drafter, MAX_GAMMA, SpeculateOptions};

use tokscope_model::ModelFile;
use tokscope_model::cpu::{CpuBackend, Precision};
use tokscope_tokenizer::{ChatTemplate, Tokenizer};

impl Session {
    /// A session on the CPU backend with `threads` threads and a context of `n_ctx` positions
    /// (at most the model's context length, which is the default: the CPU's cache grows as it
    /// fills), computing with `precision`.
    pub fn cpu(
        file: ModelFile,
        threads: usize,
        n_ctx: Option<usize>,
        precision: Precision,
    ) -> Result<Self> {
        let tokenizer = Tokenizer::from_gguf(&file.metadata)?;
        let template = ChatTemplate::for_model(&file.metadata, &tokenizer);
        let n_ctx = file.config.context_size(n_ctx, file.config.n_ctx_train)?;
        let mut backend = CpuBackend::with_context(file, threads, n_ctx)?;
        backend.set_precision(precision);
        Ok(Self::new(Box::new(backend), tokenizer, template))
    }

    /// A session on the GPU backend (f32 arithmetic) on an already opened device, with a context of
    /// `n_ctx` positions (at most the model's context length; by default
    /// [`DEFAULT_CONTEXT`](tokscope_model::context::DEFAULT_CONTEXT), as the GPU's cache is
    /// allocated whole).
    #[cfg(feature = "gpu")]
    pub fn gpu(
        ctx: &tokscope_gpu::GpuContext,
        file: ModelFile,
        n_ctx: Option<usize>,
    ) -> Result<Self> {
        let tokenizer = Tokenizer::from_gguf(&file.metadata)?;
        let template = ChatTemplate::for_model(&file.metadata, &tokenizer);
        let default = tokscope_model::context::DEFAULT_CONTEXT;
        let n_ctx = file.config.context_size(n_ctx, default)?;
        let backend = tokscope_gpu::GpuBackend::new(ctx, &file, n_ctx)
            .map_err(tokscope_model::ModelError::from)?;
        Ok(Self::new(Box::new(backend), tokenizer, template))
    }
}
