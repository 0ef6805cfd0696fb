//! Weights are checked where they are loaded: a block with a NaN or infinite scale is an error that
//! names the tensor, not a model whose every logit is NaN.

use tokscope_gguf::{GgmlType, GgufWriter, Value};
use tokscope_model::cpu::CpuBackend;
use tokscope_model::{ModelBytes, ModelFile};

const D: u64 = 64;
const N_VOCAB: u64 = 8;

/// A one-layer llama of width 64 with Q8_0 weights; `corrupt` gets the f16 `bits` as the scale
/// of its fourth block.
fn tiny_model(corrupt: Option<(&str, [u8; 2])>) -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.metadata("general.architecture", Value::String("llama".into()));
    for (k, v) in [
        ("vocab_size", N_VOCAB),
        ("embedding_length", D),
        ("feed_forward_length", D),
        ("block_count", 1),
        ("attention.head_count", 2),
    ] {
        w.metadata(&format!("llama.{k}"), Value::U32(v as u32));
    }
    let values = |n: u64| -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) / 16.0)
            .collect()
    };
    let mut matrix = |name: &str, rows: u64| {
        let mut bytes = Vec::new();
        for row in values(D * rows).chunks(D as usize) {
            bytes.extend(tokscope_gguf::blocks::quantize_row(GgmlType::Q8_0, row).unwrap());
        }
        if let Some((_, bits)) = corrupt.filter(|(n, _)| *n == name) {
            bytes[3 * 34..3 * 34 + 2].copy_from_slice(&bits);
        }
        w.tensor_raw(name, &[D, rows], GgmlType::Q8_0, bytes);
    };
    matrix("token_embd.weight", N_VOCAB);
    for name in [
        "attn_q",
        "attn_k",
        "attn_v",
        "attn_output",
        "ffn_gate",
        "ffn_up",
        "ffn_down",
    ] {
        matrix(&format!("blk.0.{name}.weight"), D);
    }
    for name in [
        "blk.0.attn_norm.weight",
        "blk.0.ffn_norm.weight",
        "output_norm.weight",
    ] {
        w.tensor_f32(name, &[D], GgmlType::F32, &values(D)).unwrap();
    }
    w.to_bytes()
}

fn load(bytes: Vec<u8>) -> Result<CpuBackend, String> {
    let file = ModelFile::from_bytes(ModelBytes::Owned(bytes)).map_err(|e| e.to_string())?;
    CpuBackend::new(file, 1).map_err(|e| e.to_string())
}

#[test]
fn weights_with_non_finite_scales_are_refused_at_load() {
    assert!(load(tiny_model(None)).is_ok());
    for name in ["token_embd.weight", "blk.0.ffn_down.weight"] {
        for (what, bits) in [("NaN", [0x00, 0x7e]), ("inf", [0x00, 0x7c])] {
            let Err(message) = load(tiny_model(Some((name, bits)))) else {
                panic!("{name} with a {what} scale loaded")
            };
            assert!(
                message.contains(&format!("{name:?}"))
                    && message.contains("block 3")
                    && message.contains("non-finite"),
                "{message}"
            );
        }
    }
}
