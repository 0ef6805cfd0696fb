//! What the session's integration tests share: the default model, loaded from the source tree.

use std::path::PathBuf;

use tokscope_model::ModelFile;

/// The workspace root (where models/ and tests/golden/ live).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The default model that `cargo xtask setup` places in models/; a missing file fails the test
/// with the command that fetches it.
#[allow(dead_code)] // each test file is its own crate
pub fn default_model() -> ModelFile {
    let path = root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo xtask setup`",
        path.display()
    );
    ModelFile::open(&path).expect("the default model loads")
}

/// A file of tests/golden (llama.cpp's data), parsed.
#[allow(dead_code)] // each test file is its own crate
pub fn golden(name: &str) -> serde_json::Value {
    let text =
        std::fs::read_to_string(root().join("tests/golden").join(name)).expect("golden file");
    serde_json::from_str(&text).expect("golden JSON")
}

/// A JSON array of token ids.
#[allow(dead_code)]
pub fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// What [`assert_teacher_forced`] checked: the positions and the largest differences it found.
#[derive(Debug, Default)]
#[allow(dead_code)]
pub struct Agreement {
    pub positions: usize,
    /// Over the top 20 of every position.
    pub max_logprob_diff: f64,
    pub max_entropy_diff: f64,
}

/// Runs every prompt of a logprobs golden file (tests/golden/logprobs.json's schema) teacher-forced
/// through `session` in one forward pass, and checks each teacher-forced (continuation) position
/// against llama.cpp: |ΔH| < 1e-3 nats, |Δlogprob| < 0.01 for each of its top 20, and the same
/// top-1 where llama.cpp's margin exceeds 1e-3. Returns what it checked.
#[allow(dead_code)]
pub fn assert_teacher_forced(
    session: &mut tokscope_session::Session,
    g: &serde_json::Value,
) -> Agreement {
    use tokscope_model::LogitsFor;
    let vocab = session.backend().config().n_vocab;
    let mut checked = Agreement::default();
    for prompt in g["prompts"].as_array().unwrap() {
        let name = prompt["name"].as_str().unwrap();
        let seq = ids(&prompt["ids"]);
        session.backend_mut().truncate(0);
        let logits = session.backend_mut().forward(&seq, LogitsFor::All).unwrap();
        for pos in prompt["positions"].as_array().unwrap() {
            if !pos["continuation"].as_bool().unwrap() {
                continue;
            }
            checked.positions += 1;
            let at = pos["pos"].as_u64().unwrap() as usize;
            let row = &logits[at * vocab..(at + 1) * vocab];
            let s = tokscope_dist::summarize(row).unwrap();
            let want_h = pos["entropy"].as_f64().unwrap();
            checked.max_entropy_diff = checked.max_entropy_diff.max((s.entropy - want_h).abs());
            assert!(
                (s.entropy - want_h).abs() < 1e-3,
                "{name} position {at}: entropy {} vs llama.cpp {want_h}",
                s.entropy
            );
            let top = pos["top"].as_array().unwrap();
            for entry in top {
                let id = entry[0].as_u64().unwrap() as u32;
                let want = entry[1].as_f64().unwrap();
                let got = tokscope_dist::logprob(row, s.lse, id).unwrap();
                checked.max_logprob_diff = checked.max_logprob_diff.max((got - want).abs());
                assert!(
                    (got - want).abs() < 0.01,
                    "{name} position {at} token {id}: logprob {got} vs llama.cpp {want}"
                );
            }
            if pos["top2_margin"].as_f64().unwrap() > 1e-3 {
                let want = top[0][0].as_u64().unwrap() as u32;
                assert_eq!(
                    tokscope_dist::argmax(row).unwrap(),
                    want,
                    "{name} position {at}: top-1"
                );
            }
        }
    }
    checked
}

/// The model file a golden file of tests/golden/formats was made on, which `cargo xtask setup`
/// makes in models/: a missing file, or one that is not llama.cpp's (its SHA-256), fails the test
/// with the command that makes it.
#[allow(dead_code)]
pub fn golden_format_model(g: &serde_json::Value) -> ModelFile {
    use sha2::{Digest, Sha256};
    let path = root().join("models").join(g["file"].as_str().unwrap());
    assert!(
        path.is_file(),
        "{} is missing: run `cargo xtask setup`",
        path.display()
    );
    let bytes = std::fs::read(&path).unwrap();
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        digest,
        g["file_sha256"].as_str().unwrap(),
        "{} is not the file llama.cpp made: run `cargo xtask setup`",
        path.display()
    );
    ModelFile::from_bytes(tokscope_model::ModelBytes::Owned(bytes))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
