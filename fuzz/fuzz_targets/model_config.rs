//! A model from a file: `Config::from_metadata` (through `ModelFile::from_bytes`), then, for a
//! config that is accepted, the CPU backend's weight lookup and one forward pass of two tokens.
//! Whatever the metadata and tensor directory say, the answer is an error or a model whose
//! shapes agree with its config.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokscope_model::cpu::CpuBackend;
use tokscope_model::{Backend, LogitsFor, ModelBytes, ModelFile};

fuzz_target!(|data: &[u8]| {
    let Ok(file) = ModelFile::from_bytes(ModelBytes::Owned(data.to_vec())) else {
        return;
    };
    let c = file.config.clone();
    assert!(c.n_head > 0 && c.n_head_kv > 0 && c.n_head.is_multiple_of(c.n_head_kv));
    assert!(c.n_embd.is_multiple_of(c.n_head));
    assert!(c.rope_dims <= c.head_dim && c.rope_dims.is_multiple_of(2));
    assert_eq!(c.q_dim(), c.n_head * c.head_dim);
    assert_eq!(c.kv_dim(), c.n_head_kv * c.head_dim);

    let Ok(mut model) = CpuBackend::with_context(file, 1, 4) else {
        return;
    };
    let tokens = [0, (c.n_vocab - 1) as u32];
    let logits = model
        .forward(&tokens, LogitsFor::All)
        .expect("a model whose weights all match its config runs");
    assert_eq!(logits.len(), 2 * c.n_vocab);
    assert_eq!(model.cache_len(), 2);
});
