//! Why the GPU backend cannot start or run: each error says what to do about it where it can.

use thiserror::Error;
use tokscope_gguf::GgmlType;

/// Errors of finding a GPU, loading a model onto it and running it.
#[derive(Debug, Error)]
pub enum GpuError {
    #[error(
        "no GPU adapter: {0} (without a GPU, install Mesa's lavapipe: apt-get install mesa-vulkan-drivers libvulkan1)"
    )]
    NoAdapter(String),
    #[error("the GPU adapter refused a device: {0}")]
    RequestDevice(String),
    #[error("the GPU device was lost: {0}")]
    DeviceLost(String),
    #[error("GPU out of memory while {0}")]
    OutOfMemory(String),
    /// A wgpu validation or internal error: a bug in tokscope, or a limit of this adapter.
    #[error("GPU error: {0}")]
    Wgpu(String),
    #[error(
        "the GPU buffer {label:?} would take {bytes} bytes, over this adapter's {limit_name} of {limit} bytes"
    )]
    BufferTooLarge {
        label: String,
        bytes: u64,
        limit: u64,
        limit_name: &'static str,
    },
    #[error("reading results back from the GPU failed: {0}")]
    Readback(String),
    #[error(
        "tensor {name:?} has type {ty}, which the GPU backend does not compute with (it reads {})",
        crate::formats::names()
    )]
    UnsupportedType { name: String, ty: GgmlType },
    #[error("the GPU backend cannot run this model: {0}")]
    Unsupported(String),
    #[error(transparent)]
    Model(#[from] tokscope_model::ModelError),
    /// Sampling settings out of range.
    #[error(transparent)]
    Sampling(#[from] tokscope_dist::DistError),
}

impl From<GpuError> for tokscope_model::ModelError {
    /// The `Backend` trait speaks `ModelError`; GPU failures travel as its `Device` variant
    /// with the GPU error's text, and model errors unchanged.
    fn from(e: GpuError) -> Self {
        match e {
            GpuError::Model(m) => m,
            other => tokscope_model::ModelError::Device(other.to_string()),
        }
    }
}
