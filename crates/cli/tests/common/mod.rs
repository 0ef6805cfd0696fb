//! What the CLI's integration tests share.

use std::path::PathBuf;

/// The default model that `cargo xtask setup` places in models/; a missing file fails the test
/// with the command that fetches it.
pub fn model() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        p.is_file(),
        "{} is missing: run `cargo xtask setup`",
        p.display()
    );
    p
}
