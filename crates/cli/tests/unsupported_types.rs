//! A model whose tensors tokscope cannot compute with (IQ2_XXS, IQ3_S, MXFP4) is still a file it can
//! read: it parses and tokenizes, and only loading it for compute fails, naming the tensor and
//! its type.

mod common;

use std::path::PathBuf;

use common::tokscope;
use tokscope_gguf::{GgmlType, Gguf, GgufWriter, Value};
use tokscope_model::cpu::CpuBackend;
use tokscope_model::{ModelBytes, ModelFile};
use tokscope_tokenizer::Tokenizer;

const WIDTH: u64 = 256;
const TEXT: &str = "<|im_start|>user\nHello, 123 wörld!";

/// The default model's metadata (so its real tokenizer) over one layer of width 256, all F32
/// but the token embedding (the tied LM head), which is `embd_type` (zero bytes).
fn model_with(embd_type: GgmlType) -> Vec<u8> {
    let original = std::fs::read(common::model()).unwrap();
    let g = Gguf::parse(&original).unwrap();
    let n_vocab = g.tensor("token_embd.weight").unwrap().dims[1];
    let arch = g
        .metadata
        .get_str("general.architecture")
        .unwrap()
        .to_string();
    let mut w = GgufWriter::new();
    for (k, v) in g.metadata.iter() {
        w.metadata(k, v.clone());
    }
    for (k, v) in [
        ("embedding_length", WIDTH),
        ("feed_forward_length", WIDTH),
        ("block_count", 1),
        ("attention.head_count", 4),
        ("attention.head_count_kv", 4),
        ("rope.dimension_count", WIDTH / 4),
    ] {
        w.metadata(&format!("{arch}.{k}"), Value::U32(v as u32));
    }
    let f32s = |n: u64| -> Vec<u8> {
        (0..n)
            .flat_map(|i| (1.0 / (1 + i % 7) as f32).to_le_bytes())
            .collect()
    };
    for name in ["attn_norm", "ffn_norm"] {
        w.tensor_raw(
            &format!("blk.0.{name}.weight"),
            &[WIDTH],
            GgmlType::F32,
            f32s(WIDTH),
        );
    }
    for name in [
        "attn_q",
        "attn_k",
        "attn_v",
        "attn_output",
        "ffn_gate",
        "ffn_up",
        "ffn_down",
    ] {
        let dims = [WIDTH, WIDTH];
        w.tensor_raw(
            &format!("blk.0.{name}.weight"),
            &dims,
            GgmlType::F32,
            f32s(WIDTH * WIDTH),
        );
    }
    w.tensor_raw("output_norm.weight", &[WIDTH], GgmlType::F32, f32s(WIDTH));
    let n_bytes = embd_type.bytes_for(WIDTH * n_vocab).unwrap();
    w.tensor_raw(
        "token_embd.weight",
        &[WIDTH, n_vocab],
        embd_type,
        vec![0; n_bytes as usize],
    );
    w.to_bytes()
}

/// A file in the system's temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn files_tokscope_cannot_compute_with_parse_and_tokenize() {
    let default = std::fs::read(common::model()).unwrap();
    let reference = Tokenizer::from_gguf(&Gguf::parse(&default).unwrap().metadata).unwrap();
    let want = reference.encode(TEXT, true).unwrap();
    let default_cli = tokscope(&[
        "tokenize",
        "--model",
        common::model().to_str().unwrap(),
        "--text",
        TEXT,
        "--special",
    ]);
    assert!(default_cli.status.success());

    for ty in [GgmlType::IQ2_XXS, GgmlType::IQ3_S] {
        let bytes = model_with(ty);
        let g = Gguf::parse(&bytes).unwrap_or_else(|e| panic!("{ty}: {e}"));
        assert_eq!(g.tensor("token_embd.weight").unwrap().ggml_type, ty);
        let ids = Tokenizer::from_gguf(&g.metadata)
            .unwrap()
            .encode(TEXT, true)
            .unwrap();
        assert_eq!(ids, want, "{ty}");

        let path = TempFile(std::env::temp_dir().join(format!(
            "tokscope-unsupported-{ty}-{}.gguf",
            std::process::id()
        )));
        std::fs::write(&path.0, &bytes).unwrap();
        let model = path.0.to_str().unwrap();
        let o = tokscope(&["tokenize", "--model", model, "--text", TEXT, "--special"]);
        assert!(
            o.status.success(),
            "{ty}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(o.stdout, default_cli.stdout, "{ty}");

        // Computing with it is refused, naming the tensor and its type.
        let o = tokscope(&[
            "generate",
            "--model",
            model,
            "--backend",
            "cpu",
            "--prompt",
            "Hi",
            "--max-tokens",
            "1",
        ]);
        assert!(!o.status.success(), "{ty}");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            stderr.contains("token_embd.weight") && stderr.contains(ty.name()),
            "{ty}: {stderr}"
        );
    }
}

#[test]
fn loading_for_compute_names_the_tensor_and_type() {
    for ty in [GgmlType::IQ2_XXS, GgmlType::IQ3_S, GgmlType::MXFP4] {
        let file = ModelFile::from_bytes(ModelBytes::Owned(model_with(ty)))
            .unwrap_or_else(|e| panic!("{ty}: the config reads: {e}"));
        assert_eq!(file.config.n_embd, WIDTH as usize);
        let Err(e) = CpuBackend::new(file, 1) else {
            panic!("{ty}: loaded for compute")
        };
        let message = e.to_string();
        assert!(
            message.contains("\"token_embd.weight\"") && message.contains(ty.name()),
            "{ty}: {message}"
        );
    }
}
