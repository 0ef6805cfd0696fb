//! What the session's integration tests share: the default model, loaded from the source tree.

use std::path::PathBuf;

use tokscope_model::ModelFile;

/// The workspace root (where models/ and tests/golden/ live).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The default model that `cargo xtask setup` places in models/; a missing file fails the test
/// with the command that fetches it.
pub fn default_model() -> ModelFile {
    let path = root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo xtask setup`",
        path.display()
    );
    ModelFile::open(&path).expect("the default model loads")
}
