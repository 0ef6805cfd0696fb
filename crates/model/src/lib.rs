//! The llama-family models (llama, mistral, qwen2, qwen3, gemma3): its config from GGUF metadata, the [`Backend`] trait the session runs
//! models through, and the CPU backend (quantized kernels straight from the GGUF blocks, SIMD, threads).

pub mod backend;
pub mod config;
pub mod context;
pub mod cpu;
pub mod error;
pub mod file;

pub use backend::{
    Backend, Draw, Drawn, ForwardFuture, LogitsFor, StepAnswer, StepFuture, StepOutput, StepQuery,
};
pub use config::{Config, FfnActivation, RopeStyle, SlidingWindow};
pub use error::{ModelError, Result};
pub use file::{ModelBytes, ModelFile, WeightRef};
