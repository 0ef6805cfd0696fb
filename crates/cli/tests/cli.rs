//! The `tokscope` binary as a user runs it: output formats, exit codes, error messages.

mod common;

use std::process::Output;

use common::{model, tokscope};

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn tokenize_prints_a_json_array_of_ids() {
    let m = model();
    let o = tokscope(&[
        "tokenize",
        "--model",
        m.to_str().unwrap(),
        "--text",
        "<|im_start|>Hello 123",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let plain: Vec<u32> = serde_json::from_str(stdout(&o).trim()).unwrap();
    let o = tokscope(&[
        "tokenize",
        "--model",
        m.to_str().unwrap(),
        "--text",
        "<|im_start|>Hello 123",
        "--special",
    ]);
    let special: Vec<u32> = serde_json::from_str(stdout(&o).trim()).unwrap();
    // With --special the control token is one id (1); without, it is spelled out in pieces.
    assert_eq!(special[0], 1);
    assert!(plain.len() > special.len() && !plain.contains(&1));
    // Digits are split one by one by SmolLM2's pre-tokenizer.
    assert_eq!(&special[special.len() - 3..], &plain[plain.len() - 3..]);
}

#[test]
fn generate_jsonl_streams_steps_then_done() {
    let m = model();
    let o = tokscope(&[
        "generate",
        "--model",
        m.to_str().unwrap(),
        "--prompt",
        "The capital of France is",
        "--max-tokens",
        "4",
        "--temperature",
        "0",
        "--top",
        "3",
        "--format",
        "jsonl",
        "--threads",
        "1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let events: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (done, steps) = events.split_last().unwrap();
    assert_eq!(done["type"], "done");
    assert_eq!(done["tokens"].as_u64().unwrap() as usize, steps.len());
    assert!(!steps.is_empty() && steps.len() <= 4);
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(s["type"], "step");
        assert_eq!(s["index"], i);
        // Greedy: the chosen token is the top-1 and has rank 0.
        assert_eq!(s["rank"], 0);
        assert_eq!(s["top"][0]["id"], s["token"]["id"]);
        assert_eq!(s["top"].as_array().unwrap().len(), 3);
        let lp = s["logprob"].as_f64().unwrap();
        assert!(lp <= 0.0 && s["entropy"].as_f64().unwrap() >= 0.0);
        for key in ["position", "sampling", "bf", "ms"] {
            assert!(s.get(key).is_some(), "step lacks {key}");
        }
    }
}

#[test]
fn score_reports_per_token_statistics_and_perplexity() {
    let m = model();
    let o = tokscope(&[
        "score",
        "--model",
        m.to_str().unwrap(),
        "--prompt",
        "The capital of France is",
        "--text",
        " Paris. It is a big city.",
        "--threads",
        "1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let events: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (done, steps) = events.split_last().unwrap();
    let logprobs: Vec<f64> = steps
        .iter()
        .map(|s| s["logprob"].as_f64().unwrap())
        .collect();
    let ppl = (-logprobs.iter().sum::<f64>() / logprobs.len() as f64).exp();
    assert!((done["score"]["perplexity"].as_f64().unwrap() - ppl).abs() < 1e-9 * ppl);
    for s in steps {
        let bits = -s["logprob"].as_f64().unwrap() / std::f64::consts::LN_2;
        assert!((s["surprisal"].as_f64().unwrap() - bits).abs() < 1e-9);
        assert!(["green", "yellow", "red", "purple"].contains(&s["gltr"].as_str().unwrap()));
    }
}

#[test]
fn a_missing_model_is_a_clear_error_with_nonzero_exit() {
    let o = tokscope(&[
        "generate",
        "--model",
        "/nonexistent/model.gguf",
        "--prompt",
        "hi",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/nonexistent/model.gguf"), "{err}");
    assert!(o.stdout.is_empty());
}

#[test]
fn a_truncated_model_is_a_clear_error() {
    let bytes = std::fs::read(model()).unwrap();
    let dir = std::env::temp_dir().join(format!("tokscope-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cut = dir.join("truncated.gguf");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let o = tokscope(&[
        "generate",
        "--model",
        cut.to_str().unwrap(),
        "--prompt",
        "hi",
    ]);
    std::fs::remove_dir_all(&dir).ok();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("past the end"), "{err}");
}

#[test]
fn text_output_shows_each_step_and_the_reply() {
    let m = model();
    let o = tokscope(&[
        "generate",
        "--model",
        m.to_str().unwrap(),
        "--chat",
        "--prompt",
        "What is the capital of France?",
        "--max-tokens",
        "8",
        "--temperature",
        "0",
        "--threads",
        "1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    assert!(
        out.contains("logp") && out.contains("rank") && out.contains("nats"),
        "{out}"
    );
    assert!(out.contains("The capital of France is Paris"), "{out}");
    // Not a terminal: no colour escapes.
    assert!(!out.contains('\x1b'));
}
