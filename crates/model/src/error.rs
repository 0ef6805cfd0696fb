//! Why a model cannot be loaded or run.

use thiserror::Error;
use tokscope_gguf::GgmlType;

/// Errors of loading and running a model: each says what to do about it where it can.
#[derive(Debug, Error)]
pub enum ModelError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Gguf(#[from] tokscope_gguf::GgufError),
    #[error(
        "unsupported architecture {0:?} (supported: llama, mistral, smollm, qwen2, granite-free llama-likes)"
    )]
    UnsupportedArchitecture(String),
    #[error("metadata key {0:?} is missing or has the wrong type")]
    MissingKey(String),
    #[error("invalid model: {0}")]
    Invalid(String),
    #[error("tensor {0:?} is missing")]
    MissingTensor(String),
    #[error("tensor {name:?} has shape {found:?}, expected {expected:?}")]
    BadShape {
        name: String,
        found: Vec<u64>,
        expected: Vec<u64>,
    },
    #[error(
        "tensor {name:?} has type {ty}, which tokscope cannot compute with yet (supported: {})",
        crate::file::computable_names()
    )]
    UnsupportedType { name: String, ty: GgmlType },
    #[error("a context of {n_ctx} positions is more than the limit of {limit}: {why}")]
    ContextTooLarge {
        n_ctx: usize,
        limit: usize,
        why: String,
    },
    #[error("context overflow: {needed} positions needed, the context holds {n_ctx}")]
    ContextOverflow { needed: usize, n_ctx: usize },
    #[error("token id {id} is outside the vocabulary of {n_vocab}")]
    BadToken { id: u32, n_vocab: usize },
    /// The compute device failed (a GPU lost, out of memory, a rejected kernel): the model may
    /// run on another backend.
    #[error("the GPU failed: {0}")]
    Device(String),
}

pub type Result<T> = std::result::Result<T, ModelError>;
