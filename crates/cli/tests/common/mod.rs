//! What the CLI's integration tests share.

use std::path::PathBuf;
use std::process::{Command, Output};

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

/// Runs the `tokscope` binary with `args`, uncoloured, and gives back what it printed.
#[allow(dead_code)] // each test file is its own crate, and not every one runs the binary this way
pub fn tokscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tokscope"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}
