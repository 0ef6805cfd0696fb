//! Loading the models' metadata for tests.

use std::path::PathBuf;

use tokscope_gguf::{Gguf, Metadata};

/// Path of a file relative to the repository root.
pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

/// The default model's metadata; fails (never skips) when the model is not set up.
pub fn default_model_metadata() -> Metadata {
    model_metadata("SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// The metadata of a model that `cargo xtask setup` places in models/; fails (never skips) when
/// it is not there.
pub fn model_metadata(file: &str) -> Metadata {
    let path = repo_path("models").join(file);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the model at {}: {e}. Run `cargo xtask setup` first.",
            path.display()
        )
    });
    Gguf::parse(&bytes)
        .unwrap_or_else(|e| panic!("{} is not a valid GGUF file: {e}", path.display()))
        .metadata
}
