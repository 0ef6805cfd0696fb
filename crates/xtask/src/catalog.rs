//! The models `cargo xtask serve` offers the page: the one list of them, served as JSON at
//! [`INDEX_PATH`] so the page's model bar never keeps a copy.

use crate::setup::{GEMMA3_MODEL_FILE, MODEL_FILE};
use serde_json::{Value, json};
use std::path::Path;

/// Where the page asks for the list (under `serve::MODELS_PREFIX`).
pub const INDEX_PATH: &str = "/models/index.json";

/// One model the page offers by name.
pub struct Served {
    /// File name in `models/`.
    pub file: &'static str,
    /// What the model bar calls it.
    pub label: &'static str,
    /// Said beside it in the model bar (what kind of model, its terms).
    pub note: &'static str,
}

/// Every served model, the default first.
pub const SERVED: &[Served] = &[
    Served {
        file: MODEL_FILE,
        label: "SmolLM2-135M-Instruct Q4_1 (default)",
        note: "an instruct model with a chat template",
    },
    Served {
        file: GEMMA3_MODEL_FILE,
        label: "Gemma 3 270M Q4_K_M",
        note: "the base model (raw text only), under the Gemma Terms of Use (ai.google.dev/gemma/terms)",
    },
];

/// The list as the page reads it: the served models whose files are in `models` (setup places
/// them), each with its size, the first one `default`.
pub fn index(models: &Path) -> Value {
    let entries: Vec<Value> = SERVED
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let bytes = std::fs::metadata(models.join(m.file)).ok()?.len();
            Some(json!({
                "file": m.file,
                "label": m.label,
                "note": m.note,
                "bytes": bytes,
                "default": i == 0,
            }))
        })
        .collect();
    json!({ "models": entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_only_the_files_that_are_there() {
        let dir = std::env::temp_dir().join(format!("xtask-catalog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(GEMMA3_MODEL_FILE), b"GGUF1234").unwrap();
        let index = index(&dir);
        let models = index["models"].as_array().unwrap();
        assert_eq!(models.len(), 1, "{index}");
        assert_eq!(models[0]["file"], GEMMA3_MODEL_FILE);
        assert_eq!(models[0]["bytes"], 8);
        assert_eq!(models[0]["default"], false);
        std::fs::write(dir.join(MODEL_FILE), b"GGUF").unwrap();
        let index = super::index(&dir);
        assert_eq!(index["models"][0]["file"], MODEL_FILE);
        assert_eq!(index["models"][0]["default"], true);
        assert_eq!(index["models"].as_array().unwrap().len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
