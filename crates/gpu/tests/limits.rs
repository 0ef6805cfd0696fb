//! Contexts the adapter or the memory budget cannot hold are refused before anything is
//! allocated, with an error naming the limit; a context within them loads and runs. Runs on
//! whatever adapter wgpu finds (lavapipe on machines without a GPU); no adapter is a failure.

use std::time::Instant;

use tokscope_gpu::{GpuBackend, GpuContext, GpuError};
use tokscope_model::{Backend, LogitsFor, ModelBytes, ModelError, ModelFile};
use tokscope_reference::tiny::{TinySpec, tiny_llama_gguf};

/// A tiny model whose metadata claims 4.29 billion positions of context.
fn absurd_context_model() -> ModelFile {
    let spec = TinySpec {
        n_ctx: u32::MAX as usize,
        ..TinySpec::default()
    };
    ModelFile::from_bytes(ModelBytes::Owned(tiny_llama_gguf(&spec, 7))).unwrap()
}

fn context() -> GpuContext {
    GpuContext::new_blocking().unwrap_or_else(|e| panic!("{e}"))
}

/// The refusal of `n_ctx` positions: quick, and naming the limit it broke.
fn refusal(ctx: &GpuContext, file: &ModelFile, n_ctx: usize) -> (usize, String) {
    let start = Instant::now();
    let err = GpuBackend::new(ctx, file, n_ctx)
        .err()
        .unwrap_or_else(|| panic!("a context of {n_ctx} positions loaded"));
    assert!(
        start.elapsed().as_secs_f64() < 5.0,
        "took {:?}",
        start.elapsed()
    );
    let text = err.to_string();
    match err {
        GpuError::Model(ModelError::ContextTooLarge {
            n_ctx: n, limit, ..
        }) => {
            assert_eq!(n, n_ctx);
            assert!(limit < n_ctx);
            assert!(text.contains(&limit.to_string()), "{text}");
            (limit, text)
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_context_past_the_adapters_buffers_is_refused_naming_the_limit() {
    let ctx = context();
    let file = absurd_context_model();
    let cfg = &file.config;
    // Within the memory budget (the tiny model's positions are small) but past what this
    // adapter can bind: the attention scores take 32 · n_head · 4 bytes per position.
    let limits = ctx.device.limits();
    let binding = limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size);
    let n_ctx = (binding / (32 * cfg.n_head as u64 * 4) + 1) as usize;
    assert!(
        n_ctx <= cfg.max_context(),
        "the budget would refuse it first"
    );
    let (limit, text) = refusal(&ctx, &file, n_ctx);
    assert!(text.contains("adapter"), "{text}");
    // The limit itself loads and runs.
    let mut gpu = GpuBackend::new(&ctx, &file, limit.min(4096)).unwrap();
    let logits = gpu.forward(&[1, 2, 3], LogitsFor::Last).unwrap();
    assert_eq!(logits.len(), cfg.n_vocab);
}

#[test]
fn a_context_past_the_memory_budget_is_refused_naming_it() {
    let ctx = context();
    let file = absurd_context_model();
    let n_ctx = file.config.max_context() + 1;
    let (limit, text) = refusal(&ctx, &file, n_ctx);
    assert_eq!(limit, file.config.max_context());
    assert!(text.contains("KV cache"), "{text}");
}
