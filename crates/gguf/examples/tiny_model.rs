//! Writes tiny llama-shaped GGUF files (every supported tensor type, a few metadata kinds) into a
//! directory: seeds for the fuzzer and small inputs for trying the tools.
//!
//! usage: cargo run -p tokscope-gguf --example tiny_model -- OUT_DIR
use tokscope_gguf::{Array, GgmlType, GgufWriter, Value};

fn tiny_model(version: u32, alignment: Option<u32>) -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.version(version)
        .metadata("general.architecture", Value::String("llama".into()))
        .metadata("llama.block_count", Value::U32(1))
        .metadata("llama.embedding_length", Value::U32(32))
        .metadata("llama.rope.freq_base", Value::F32(10000.0))
        .metadata("tokenizer.ggml.model", Value::String("gpt2".into()))
        .metadata(
            "tokenizer.ggml.tokens",
            Value::strings(["<s>", "</s>", "a", "b"]),
        )
        .metadata(
            "tokenizer.ggml.token_type",
            Value::Array(Array::I32(vec![3, 3, 1, 1])),
        )
        .metadata("tokenizer.ggml.add_bos_token", Value::Bool(false));
    if let Some(a) = alignment {
        w.metadata("general.alignment", Value::U32(a));
    }
    let values = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 37) % 23) as f32 / 11.0 - 1.0)
            .collect()
    };
    let tensors = [
        ("token_embd.weight", GgmlType::Q8_0),
        ("blk.0.attn_q.weight", GgmlType::Q4_1),
        ("blk.0.attn_k.weight", GgmlType::Q4_0),
        ("blk.0.ffn_up.weight", GgmlType::F16),
        ("blk.0.ffn_down.weight", GgmlType::BF16),
        ("blk.0.attn_v.weight", GgmlType::Q8_1),
    ];
    for (name, t) in tensors {
        w.tensor_f32(name, &[32, 4], t, &values(128))
            .expect("whole blocks");
    }
    w.tensor_f32("output_norm.weight", &[32], GgmlType::F32, &values(32))
        .expect("f32");
    w.to_bytes()
}

fn main() -> std::io::Result<()> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: tiny_model OUT_DIR"));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("tiny_v3.gguf"), tiny_model(3, None))?;
    std::fs::write(dir.join("tiny_v2.gguf"), tiny_model(2, None))?;
    std::fs::write(dir.join("tiny_align8.gguf"), tiny_model(3, Some(8)))?;
    Ok(())
}
