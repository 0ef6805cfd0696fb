//! What the adapter can hold, checked before asking for it: every buffer against the adapter's
//! size limits, and a context against the buffers that grow with it (KV cache, scores, RoPE
//! table), so that an oversized request is an error naming the limit, not a failed allocation.

use tokscope_model::context::human_bytes;
use tokscope_model::{Config, ModelError};

use crate::error::GpuError;
use crate::options::MAX_BATCH;

/// The largest buffer of `usage` this device creates and binds whole, with the limit's name.
fn largest(device: &wgpu::Device, usage: wgpu::BufferUsages) -> (u64, &'static str) {
    let limits = device.limits();
    let mut out = (limits.max_buffer_size, "max_buffer_size");
    if usage.contains(wgpu::BufferUsages::STORAGE) {
        let binding = limits.max_storage_buffer_binding_size;
        if binding < out.0 {
            out = (binding, "max_storage_buffer_binding_size");
        }
    }
    if usage.contains(wgpu::BufferUsages::UNIFORM) {
        let binding = limits.max_uniform_buffer_binding_size;
        if binding < out.0 {
            out = (binding, "max_uniform_buffer_binding_size");
        }
    }
    out
}

/// Refuses a buffer of `bytes` that the device could not create or bind whole.
pub(crate) fn check_buffer(
    device: &wgpu::Device,
    label: &str,
    bytes: u64,
    usage: wgpu::BufferUsages,
) -> Result<(), GpuError> {
    let (limit, name) = largest(device, usage);
    match bytes <= limit {
        true => Ok(()),
        false => Err(GpuError::BufferTooLarge {
            label: label.to_string(),
            bytes,
            limit,
            limit_name: name,
        }),
    }
}

/// Refuses a context whose buffers would not fit the device (or the model's memory budget,
/// [`Config::check_context`]), before anything is allocated.
pub(crate) fn check_context(
    device: &wgpu::Device,
    cfg: &Config,
    n_ctx: usize,
) -> Result<(), GpuError> {
    cfg.check_context(n_ctx)?;
    let (limit, name) = largest(device, wgpu::BufferUsages::STORAGE);
    // Bytes per position of each buffer that grows with the context.
    let growing = [
        ("the KV cache of each layer", cfg.kv_dim() * 4),
        ("the attention scores", MAX_BATCH * cfg.n_head * 4),
        ("the RoPE table", cfg.rope_dims / 2 * 8),
    ];
    for (what, per_position) in growing {
        let per_position = per_position.max(1) as u64;
        let fits = usize::try_from(limit / per_position).unwrap_or(usize::MAX);
        if n_ctx > fits {
            let bytes = u128::from(per_position) * n_ctx as u128;
            return Err(ModelError::ContextTooLarge {
                n_ctx,
                limit: fits,
                why: format!(
                    "{what} would take {} on the GPU, over this adapter's {name} of {}",
                    human_bytes(bytes),
                    human_bytes(limit.into()),
                ),
            }
            .into());
        }
    }
    Ok(())
}
