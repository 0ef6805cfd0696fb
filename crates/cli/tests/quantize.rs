//! `tokscope quantize`: the written file holds the types the report names, the fallbacks are
//! reported, and bad input is a clear error.

mod common;

use common::{model, tokscope};
use tokscope_gguf::Gguf;

#[test]
fn quantize_writes_the_file_it_reports() {
    let dir = std::env::temp_dir().join(format!("tokscope-quantize-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("q4_0.gguf");
    let m = model();
    let o = tokscope(&[
        "quantize",
        "--model",
        m.to_str().unwrap(),
        "--to",
        "q4_0",
        "--write",
        out.to_str().unwrap(),
        "--format",
        "jsonl",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (done, tensors) = lines.split_last().unwrap();
    assert_eq!(done["event"], "done");
    assert_eq!(done["ftype"], "Q4_0");
    assert_eq!(done["ftype_id"], 2);
    assert_eq!(done["tensors"], 272);
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(done["file_bytes"], bytes.len() as u64);
    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!(g.tensors.len(), tensors.len());
    for t in tensors {
        assert_eq!(t["event"], "tensor");
        let info = g.tensor(t["name"].as_str().unwrap()).unwrap();
        assert_eq!(info.ggml_type.name(), t["to"], "{}", info.name);
        assert_eq!(info.n_bytes, t["bytes"].as_u64().unwrap(), "{}", info.name);
    }
    // The one fallback: the tied embedding wants Q6_K, whose blocks do not fit 576-wide rows.
    let fallbacks: Vec<&serde_json::Value> = tensors
        .iter()
        .filter(|t| !t["fallback"].is_null())
        .collect();
    assert_eq!(done["fallbacks"], 1);
    assert_eq!(fallbacks[0]["name"], "token_embd.weight");
    assert_eq!(fallbacks[0]["fallback"]["wanted"], "Q6_K");
    assert_eq!(fallbacks[0]["fallback"]["block"], 256);
    assert_eq!(fallbacks[0]["to"], "Q8_0");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn quantize_refuses_bad_input_clearly() {
    let dir = std::env::temp_dir().join(format!("tokscope-quantize-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let not_gguf = dir.join("not.gguf");
    std::fs::write(&not_gguf, b"definitely not a model").unwrap();
    let out = dir.join("out.gguf");
    let o = tokscope(&[
        "quantize",
        "--model",
        not_gguf.to_str().unwrap(),
        "--to",
        "Q4_K_M",
        "--write",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a GGUF file"));
    assert!(!out.exists(), "nothing is written");
    let o = tokscope(&[
        "quantize",
        "--to",
        "Q2_K_S",
        "--write",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown file type \"Q2_K_S\""));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs `quantize --compare` and gives back (the quantize done line, step lines, the run's done).
fn compare_run(to: &str) -> (serde_json::Value, Vec<serde_json::Value>, serde_json::Value) {
    let m = model();
    let o = tokscope(&[
        "quantize",
        "--model",
        m.to_str().unwrap(),
        "--to",
        to,
        "--compare",
        "--prompt",
        "The capital of France is",
        "--max-tokens",
        "3",
        "--threads",
        "2",
        "--format",
        "jsonl",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let quantized = lines.iter().find(|l| l["event"] == "done").unwrap().clone();
    let steps: Vec<_> = lines
        .iter()
        .filter(|l| l["type"] == "step")
        .cloned()
        .collect();
    let done = lines.iter().find(|l| l["type"] == "done").unwrap().clone();
    assert!(
        quantized["file"].is_null(),
        "nothing is written without --write"
    );
    (quantized, steps, done)
}

#[test]
fn compare_against_a_file_type_that_keeps_every_tensor_is_kl_zero() {
    // Q4_1 keeps the default model's Q4_1 weights and its Q8_0 embedding: the same model.
    let (quantized, steps, done) = compare_run("Q4_1");
    assert_eq!(quantized["file_bytes"], quantized["loaded_bytes"]);
    assert_eq!(steps.len(), 3);
    for s in &steps {
        assert_eq!(s["compare"]["kl_ab"], 0.0, "{s}");
    }
    assert_eq!(done["compare"]["mean_kl_ab"], 0.0);
    assert_eq!(done["compare"]["argmax_disagreements"], 0);
}

#[test]
fn compare_against_q4_0_measures_the_damage() {
    let (quantized, steps, done) = compare_run("Q4_0");
    assert!(quantized["file_bytes"].as_u64() < quantized["loaded_bytes"].as_u64());
    assert_eq!(steps.len(), 3);
    for s in &steps {
        let kl = s["compare"]["kl_ab"].as_f64().unwrap();
        assert!(kl > 0.0 && kl.is_finite(), "{s}");
    }
    let mean = done["compare"]["mean_kl_ab"].as_f64().unwrap();
    // Requantizing 4-bit weights to another 4-bit format damages this small model badly (about
    // 1.4 nats on this prompt); only the sign and finiteness are asserted.
    assert!(mean > 0.0 && mean.is_finite(), "{done}");
}
