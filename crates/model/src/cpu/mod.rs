//! The CPU backend: quantized kernels straight from the GGUF blocks, SIMD, a persistent thread pool.

mod backend;
pub mod kernels;
pub mod ops;
pub mod pool;

pub use backend::{CpuBackend, Precision};
