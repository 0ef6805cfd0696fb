//! Tokenization of the default model against llama.cpp: every case of
//! tests/golden/tokenization.json (made by tests/golden/make_golden.py with llama-cpp-python)
//! must give the same ids. TOKSCOPE_TOKENIZATION_CASES may name another case file.

mod common;

use serde_json::Value;
use tokscope_tokenizer::Tokenizer;

#[test]
fn default_model_matches_llama_cpp() {
    let tokenizer = Tokenizer::from_gguf(&common::default_model_metadata()).unwrap();
    let path = std::env::var("TOKSCOPE_TOKENIZATION_CASES")
        .map(Into::into)
        .unwrap_or_else(|_| common::repo_path("tests/golden/tokenization.json"));
    let json = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let golden: Value = serde_json::from_str(&json).unwrap();
    let cases = golden["cases"].as_array().expect("a \"cases\" array");
    assert!(!cases.is_empty(), "no cases in {}", path.display());

    let mut failures = Vec::new();
    for case in cases {
        let text = case["text"].as_str().expect("text");
        let special = case["special"].as_bool().expect("special");
        let expected: Vec<u32> = case["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|id| id.as_u64().expect("id") as u32)
            .collect();
        let actual = tokenizer.encode(text, special).unwrap();
        if actual != expected {
            failures.push(format!(
                "text {text:?} special={special}\n  llama.cpp: {expected:?}\n  tokscope:  {actual:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from llama.cpp:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
