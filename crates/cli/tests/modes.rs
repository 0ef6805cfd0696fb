//! The speculate, compare and branch subcommands as a user runs them.

mod common;

use std::process::Output;

use serde_json::Value;

fn tokscope(args: &[&str]) -> Output {
    let m = common::model().to_str().unwrap().to_string();
    let mut all = vec![
        args[0],
        "--model",
        &m,
        "--backend",
        "cpu",
        "--threads",
        "2",
        "--ctx",
        "128",
    ];
    all.extend(&args[1..]);
    common::tokscope(&all)
}

fn events(o: &Output) -> Vec<Value> {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn token_ids(ev: &[Value]) -> Vec<u64> {
    ev.iter()
        .filter(|e| e["type"] == "step")
        .map(|e| e["token"]["id"].as_u64().unwrap())
        .collect()
}

const PROMPT: &str = "One, two, three, four. One, two, three,";

#[test]
fn speculate_greedy_matches_generate_and_reports_acceptance() {
    let common = [
        "--prompt",
        PROMPT,
        "--max-tokens",
        "8",
        "--temperature",
        "0",
        "--format",
        "jsonl",
    ];
    let plain = events(&tokscope(&[&["generate"][..], &common].concat()));
    let spec = events(&tokscope(
        &[
            &["speculate", "--drafter", "ngram", "--gamma", "4"][..],
            &common,
        ]
        .concat(),
    ));
    assert_eq!(token_ids(&spec), token_ids(&plain));
    let done = spec.last().unwrap();
    assert_eq!(done["type"], "done");
    let s = &done["spec"];
    assert_eq!(s["drafter"], "ngram");
    assert!(s["n_drafted"].as_u64().unwrap() > 0, "{s}");
    let rate = s["acceptance_rate"].as_f64().unwrap();
    let (acc, drafted) = (
        s["n_accepted"].as_f64().unwrap(),
        s["n_drafted"].as_f64().unwrap(),
    );
    assert!((rate - acc / drafted).abs() < 1e-12);
    // The first step of each round lists the round's drafts with q, p and the acceptance probability.
    let first = &spec[0]["spec"];
    assert_eq!(first["round"], 0);
    for d in first["drafts"].as_array().unwrap() {
        assert_eq!(d["q"], 1.0, "prompt lookup drafts are one-hot");
        assert_eq!(d["accept_prob"], d["p"]);
    }
}

#[test]
fn speculate_refuses_bad_settings_with_clear_errors() {
    let o = tokscope(&["speculate", "--prompt", "Hi", "--drafter", "model"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--draft-model"));
    let o = tokscope(&["speculate", "--prompt", "Hi", "--gamma", "17"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("17"));
}

#[test]
fn compare_two_prompts_reports_divergences_and_contrast() {
    let ev = events(&tokscope(&[
        "compare",
        "--prompt",
        "The capital of France is",
        "--prompt-b",
        "Bananas are",
        "--mode",
        "cd",
        "--alpha",
        "0.1",
        "--ignore-eos",
        "--max-tokens",
        "4",
        "--temperature",
        "0",
        "--format",
        "jsonl",
    ]));
    let steps: Vec<&Value> = ev.iter().filter(|e| e["type"] == "step").collect();
    assert_eq!(steps.len(), 4);
    for s in &steps {
        let c = &s["compare"];
        assert_eq!(c["mode"], "cd");
        assert!(c["kl_ab"].as_f64().unwrap() > 0.0 && c["tv"].as_f64().unwrap() > 0.0);
        // Greedy CD picks the top of the contrast distribution.
        assert_eq!(c["top_mixed"][0]["id"], s["token"]["id"]);
    }
    assert!(ev.last().unwrap()["compare"]["mean_js"].as_f64().unwrap() > 0.0);
}

#[test]
fn branch_samples_m_continuations() {
    let ev = events(&tokscope(&[
        "branch",
        "--prompt",
        "My favourite food is",
        "--prefix",
        " pizza",
        "--samples",
        "3",
        "--max-tokens",
        "4",
        "--seed",
        "1",
        "--format",
        "jsonl",
    ]));
    let done = ev.last().unwrap();
    assert_eq!(done["samples"]["samples"], 3);
    assert_eq!(done["samples"]["sample_bf"].as_array().unwrap().len(), 3);
    assert_eq!(ev.iter().filter(|e| e["type"] == "step").count(), 12);
    assert!(done["samples"]["bf"].as_f64().unwrap() >= 1.0);
}

#[test]
fn multidraft_greedy_matches_generate_and_reports_kseq() {
    let common = [
        "--prompt",
        PROMPT,
        "--max-tokens",
        "8",
        "--temperature",
        "0",
        "--format",
        "jsonl",
    ];
    let plain = events(&tokscope(&[&["generate"][..], &common].concat()));
    let multi = events(&tokscope(
        &[
            &[
                "speculate",
                "--drafter",
                "early-exit",
                "--exit-layer",
                "6",
                "--gamma",
                "3",
                "--drafts",
                "3",
            ][..],
            &common,
        ]
        .concat(),
    ));
    assert_eq!(token_ids(&multi), token_ids(&plain));
    let s = &multi.last().unwrap()["spec"];
    let m = &s["multi"];
    assert_eq!(m["drafts"], 3, "{s}");
    assert!(m["mean_kseq_accept"].as_f64().unwrap() <= m["mean_optimal"].as_f64().unwrap() + 1e-9);
    // The first token was decided by K-SEQ over all three candidates at draft position 0.
    let check = &multi[0]["spec"]["multi"];
    assert_eq!(check["depth"], 0);
    assert_eq!(check["candidates"].as_array().unwrap().len(), 3);
}

#[test]
fn multidraft_refuses_deterministic_drafters() {
    let o = tokscope(&[
        "speculate",
        "--prompt",
        "Hi",
        "--drafter",
        "ngram",
        "--drafts",
        "2",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("deterministic"));
    let o = tokscope(&["speculate", "--prompt", "Hi", "--drafts", "17"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("17"));
}
