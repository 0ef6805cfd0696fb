//! What the golden tests share: the default model, the golden files, sha256 in hex.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

/// The default model's bytes (`cargo xtask setup` places it in models/); a missing file fails the
/// test with the command that fetches it.
pub fn model_bytes() -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/SmolLM2-135M-Instruct.Q4_1.gguf");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}: run `cargo xtask setup`", p.display()))
}

/// A file of tests/golden/quant.
pub fn golden(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/golden/quant")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn golden_json(name: &str) -> serde_json::Value {
    serde_json::from_slice(&golden(name)).expect("golden JSON parses")
}

/// A file of tests/golden/formats (llama.cpp's files of the default model in other formats).
#[allow(dead_code)] // each test file is its own crate
pub fn formats_json(name: &str) -> serde_json::Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/golden/formats")
        .join(name);
    let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_slice(&bytes).expect("golden JSON parses")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[allow(dead_code)] // each test file is its own crate
pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
