//! Gemma 3 270M's SentencePiece tokenizer against llama.cpp: every case of
//! tests/golden/tokenization_gemma3.json (made by tests/golden/make_golden_gemma3.py with
//! llama-cpp-python) must give the same ids, BOS included as the file asks, and every recorded
//! token must show the same bytes.

#[allow(dead_code)] // The default model's loader serves the other tests.
mod common;

use serde_json::Value;
use tokscope_tokenizer::Tokenizer;

/// As `cargo xtask setup` names it (`GEMMA3_MODEL_FILE` in crates/xtask/src/setup.rs).
const GEMMA3_MODEL_FILE: &str = "gemma-3-270m.Q4_K_M.gguf";

fn golden() -> Value {
    let path = common::repo_path("tests/golden/tokenization_gemma3.json");
    let json = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&json).unwrap()
}

fn tokenizer() -> Tokenizer {
    Tokenizer::from_gguf(&common::model_metadata(GEMMA3_MODEL_FILE)).unwrap()
}

fn ids(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .expect("an array of ids")
        .iter()
        .map(|id| id.as_u64().expect("id") as u32)
        .collect()
}

#[test]
fn vocabulary_facts_match_llama_cpp() {
    let (t, g) = (tokenizer(), golden());
    assert_eq!(t.vocab_size() as u64, g["n_vocab"].as_u64().unwrap());
    assert_eq!(t.bos_id().map(u64::from), g["bos_id"].as_u64());
    assert_eq!(t.eos_id().map(u64::from), g["eos_id"].as_u64());
    assert_eq!(Some(t.add_bos()), g["add_bos"].as_bool());
    assert_eq!(Some(t.add_eos()), g["add_eos"].as_bool());
    let eog: Vec<u32> = (0..t.vocab_size() as u32)
        .filter(|&id| t.is_end_of_generation(id))
        .collect();
    assert_eq!(eog, ids(&g["eog_ids"]));
}

#[test]
fn every_case_matches_llama_cpp() {
    let (t, g) = (tokenizer(), golden());
    let cases = g["cases"].as_array().expect("a \"cases\" array");
    assert!(!cases.is_empty(), "no cases");
    let mut failures = Vec::new();
    for case in cases {
        let text = case["text"].as_str().expect("text");
        let special = case["special"].as_bool().expect("special");
        let expected = ids(&case["ids"]);
        // What llama_tokenize gives with add_special: BOS and EOS as the file says.
        let mut actual: Vec<u32> = t.bos_id().filter(|_| t.add_bos()).into_iter().collect();
        actual.extend(t.encode(text, special).unwrap());
        actual.extend(t.eos_id().filter(|_| t.add_eos()));
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

#[test]
fn token_pieces_match_llama_cpp() {
    let (t, g) = (tokenizer(), golden());
    let pieces = g["pieces"].as_array().expect("a \"pieces\" array");
    let mut failures = Vec::new();
    for entry in pieces {
        let id = entry[0].as_u64().expect("id") as u32;
        let hex = entry[1].as_str().expect("hex");
        let expected: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex byte"))
            .collect();
        let actual = t.token_bytes(id);
        if actual != expected {
            failures.push(format!(
                "token {id}: llama.cpp {:?}, tokscope {:?}",
                String::from_utf8_lossy(&expected),
                String::from_utf8_lossy(&actual)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} pieces differ:\n{}",
        failures.len(),
        pieces.len(),
        failures.join("\n")
    );
}

#[test]
fn streaming_decode_reassembles_byte_fallback() {
    let t = tokenizer();
    // U+10FFFF has no token of its own: it comes as four byte tokens.
    let ids = t.encode("\u{10FFFF}", false).unwrap();
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert!(ids.iter().all(|&id| t.token_bytes(id).len() == 1));
    for text in ["\u{10FFFF}\u{E000} x", "a  b\t\n<b>c</b>", "👨‍👩‍👧‍👦 café"] {
        let ids = t.encode(text, false).unwrap();
        let mut decoder = t.decoder();
        let mut out: String = ids.iter().map(|&id| decoder.push(id)).collect();
        out.push_str(&decoder.flush());
        assert_eq!(out, text, "{ids:?}");
    }
}
