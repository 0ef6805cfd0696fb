//! Fidelity against llama.cpp on the architectures no small real file covers: the tiny models of
//! tests/golden/logprobs_tiny_archs.json (qwen3, llama with Llama 3's RoPE scaling, qwen2 with
//! biases, gemma3 with sliding windows; F32 weights), regenerated here by tokscope's GGUF writer
//! and checked byte for byte against the files llama.cpp ran (sha256). At every teacher-forced
//! position, the CPU backend and the reference must give the fidelity: top-1 identical
//! where llama.cpp's margin exceeds 1e-3, top-20 |Δlogprob| < 0.01, |ΔH| < 1e-3 nats.

use sha2::{Digest, Sha256};
use tokscope_model::cpu::CpuBackend;
use tokscope_model::{Backend, LogitsFor, ModelBytes, ModelFile};
use tokscope_reference::Reference;
use tokscope_reference::tiny::{golden_arch_models, tiny_llama_gguf};

fn golden() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/golden/logprobs_tiny_archs.json"
    );
    let text = std::fs::read_to_string(path).expect("golden file");
    serde_json::from_str(&text).expect("golden JSON")
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// Log-softmax (f64) and entropy (nats) of one logits row.
fn log_softmax(row: &[f32]) -> (Vec<f64>, f64) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lse = max
        + row
            .iter()
            .map(|&z| (z as f64 - max).exp())
            .sum::<f64>()
            .ln();
    let logp: Vec<f64> = row.iter().map(|&z| z as f64 - lse).collect();
    let entropy = -logp.iter().map(|lp| lp.exp() * lp).sum::<f64>();
    (logp, entropy)
}

/// The three checks of `logits` (`n_vocab` per position) against one golden prompt;
/// returns the largest |Δlogprob| and |ΔH| seen.
fn check(who: &str, logits: &[f32], prompt: &serde_json::Value, n_vocab: usize) -> (f64, f64) {
    let (mut worst_lp, mut worst_h) = (0.0f64, 0.0f64);
    for pos in prompt["positions"].as_array().unwrap() {
        let at = pos["pos"].as_u64().unwrap() as usize;
        let (logp, entropy) = log_softmax(&logits[at * n_vocab..(at + 1) * n_vocab]);
        let dh = (entropy - pos["entropy"].as_f64().unwrap()).abs();
        assert!(dh < 1e-3, "{who} position {at}: entropy off by {dh}");
        worst_h = worst_h.max(dh);
        let top = pos["top"].as_array().unwrap();
        for entry in top {
            let id = entry[0].as_u64().unwrap() as usize;
            let d = (logp[id] - entry[1].as_f64().unwrap()).abs();
            assert!(
                d < 0.01,
                "{who} position {at} token {id}: logprob off by {d}"
            );
            worst_lp = worst_lp.max(d);
        }
        if pos["top2_margin"].as_f64().unwrap() > 1e-3 {
            let argmax = (0..n_vocab)
                .max_by(|&a, &b| logp[a].total_cmp(&logp[b]).then(b.cmp(&a)))
                .unwrap();
            assert_eq!(
                argmax as u64,
                top[0][0].as_u64().unwrap(),
                "{who} position {at}: top-1"
            );
        }
    }
    (worst_lp, worst_h)
}

#[test]
fn tiny_architectures_match_llama_cpp() {
    let g = golden();
    let models = g["models"].as_array().unwrap();
    let specs = golden_arch_models();
    assert_eq!(models.len(), specs.len(), "one golden entry per tiny model");
    for ((name, spec, seed), want) in specs.into_iter().zip(models) {
        assert_eq!(want["name"], name);
        let bytes = tiny_llama_gguf(&spec, seed);
        let sha: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            want["file_sha256"], sha,
            "{name}: the writer no longer makes the file llama.cpp ran"
        );
        let n_vocab = want["n_vocab"].as_u64().unwrap() as usize;
        let reference = Reference::from_gguf(&bytes).unwrap();
        let file = ModelFile::from_bytes(ModelBytes::Owned(bytes)).unwrap();
        let mut cpu = CpuBackend::new(file, 2).unwrap();
        for prompt in want["prompts"].as_array().unwrap() {
            let seq = ids(&prompt["ids"]);
            let who = format!("{name} {}", prompt["name"]);
            cpu.truncate(0);
            let logits = cpu.forward(&seq, LogitsFor::All).unwrap();
            let (lp, h) = check(&format!("cpu {who}"), &logits, prompt, n_vocab);
            let spec_logits: Vec<f32> = reference.forward(&seq).unwrap().concat();
            let (rlp, rh) = check(&format!("reference {who}"), &spec_logits, prompt, n_vocab);
            println!(
                "{who:<22} cpu: |Δlogprob| {lp:.2e} |ΔH| {h:.2e}   reference: {rlp:.2e} {rh:.2e}"
            );
        }
    }
}
