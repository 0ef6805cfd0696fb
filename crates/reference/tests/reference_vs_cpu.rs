//! Differential test: the CPU backend against the reference on random tiny models written with the
//! GGUF writer, over GQA ratios 1 and 3, head dims 32 and 64, tied and untied LM heads, and Q4_0,
//! Q4_1, Q8_0 and F16 weights (every combination), plus a qwen2-style model (NeoX RoPE, biases).
//!
//! **Relative difference** of one position's logits `a` (backend) against `b` (reference):
//! `max_i |a_i − b_i| / max_i |b_i|`; a configuration's number is the largest over its positions.
//!
//! The CPU backend has two arithmetics ([`Precision`]):
//! - `Exact` (its default): f32 activations against the file's weights. Compared with the exact
//!   reference and held to the bound, 1e-3.
//! - `Q8`: llama.cpp's, activations rounded to Q8_0/Q8_1 (f16 for F16 weights) before each
//!   matmul. Compared with the reference doing the same roundings ([`Activations::LikeLlamaCpp`]),
//!   where the two agree to ~1e-6 — until one value lands within float noise of a rounding
//!   boundary and rounds the other way in one of them. From there the two are as far apart as
//!   two independent roundings (the same size as the drift from the exact model, ~1e-2 on these
//!   random models), so a single fixed bound cannot hold for every random model. The Q8 test
//!   therefore prints both numbers (against the emulation and against the exact model) for every
//!   configuration and asserts: every configuration within [`Q8_DRIFT_BOUND`] of both, and most
//!   configurations (those without such a flip) within 1e-3 of the emulation.

use tokscope_gguf::GgmlType;
use tokscope_model::cpu::{CpuBackend, Precision};
use tokscope_model::{Backend, LogitsFor, ModelBytes, ModelFile};
use tokscope_reference::tiny::{TinySpec, tiny_llama_gguf};
use tokscope_reference::{Activations, Reference};

/// The bound.
const BOUND: f32 = 1e-3;
/// The bound for 8-bit activations where a rounding flip has decoupled backend and emulation.
const Q8_DRIFT_BOUND: f32 = 3e-2;
/// Share of Q8 configurations that must meet [`BOUND`] against the emulation.
const Q8_MIN_SHARE_WITHIN_BOUND: f32 = 0.75;

const PROMPT: [u32; 7] = [3, 17, 42, 8, 29, 0, 61];

/// `max|a − b| / max|b|`.
fn relative(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let diff = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    let scale = b.iter().map(|y| y.abs()).fold(0.0, f32::max);
    diff / scale
}

/// The largest per-position relative difference between concatenated backend logits and the
/// reference's per-position logits.
fn max_relative(backend: &[f32], reference: &[Vec<f32>]) -> f32 {
    let n_vocab = reference[0].len();
    assert_eq!(backend.len(), reference.len() * n_vocab);
    backend
        .chunks_exact(n_vocab)
        .zip(reference)
        .map(|(a, b)| relative(a, b))
        .fold(0.0, f32::max)
}

fn cpu(bytes: &[u8], precision: Precision) -> CpuBackend {
    let file = ModelFile::from_bytes(ModelBytes::Owned(bytes.to_vec())).unwrap();
    let mut backend = CpuBackend::new(file, 2).unwrap();
    backend.set_precision(precision);
    backend
}

/// Every combination the issue names: (name, spec).
fn configurations() -> Vec<(String, TinySpec)> {
    let mut out = Vec::new();
    for (n_head, n_head_kv) in [(2, 2), (6, 2)] {
        for head_dim in [32, 64] {
            for tied in [false, true] {
                for ty in [
                    GgmlType::Q4_0,
                    GgmlType::Q4_1,
                    GgmlType::Q8_0,
                    GgmlType::F16,
                ] {
                    let spec = TinySpec {
                        n_head,
                        n_head_kv,
                        head_dim,
                        n_embd: n_head * head_dim,
                        n_ff: 2 * n_head * head_dim + 64,
                        tied,
                        weight_type: ty,
                        embd_type: ty,
                        ..TinySpec::default()
                    };
                    let name = format!(
                        "gqa {} hd {head_dim} {} {ty}",
                        n_head / n_head_kv,
                        if tied { "tied" } else { "untied" }
                    );
                    out.push((name, spec));
                }
            }
        }
    }
    out.push((
        "qwen2 gqa 2 hd 32 untied Q8_0".into(),
        TinySpec {
            arch: "qwen2",
            n_head: 4,
            n_head_kv: 2,
            ..TinySpec::default()
        },
    ));
    out
}

#[test]
fn prefill_logits_match_the_exact_reference() {
    let mut failures = Vec::new();
    for (i, (name, spec)) in configurations().into_iter().enumerate() {
        let bytes = tiny_llama_gguf(&spec, 1000 + i as u64);
        let expected = Reference::from_gguf(&bytes)
            .unwrap()
            .forward(&PROMPT)
            .unwrap();
        let logits = cpu(&bytes, Precision::Exact)
            .forward(&PROMPT, LogitsFor::All)
            .unwrap();
        let rel = max_relative(&logits, &expected);
        println!("exact  {name:<34} {rel:>10.3e}");
        if rel.is_nan() || rel > BOUND {
            failures.push(format!("{name}: {rel:.3e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "over {BOUND:e}:\n{}",
        failures.join("\n")
    );
}

#[test]
fn prefill_logits_with_8_bit_activations_match_the_emulating_reference() {
    let mut failures = Vec::new();
    let mut within = 0;
    let configs = configurations();
    println!(
        "{:<34} {:>12} {:>12}",
        "Q8 configuration", "vs emulated", "vs exact"
    );
    for (i, (name, spec)) in configs.iter().enumerate() {
        let bytes = tiny_llama_gguf(spec, 1000 + i as u64);
        let mut reference = Reference::from_gguf(&bytes).unwrap();
        let exact = reference.forward(&PROMPT).unwrap();
        reference.set_activations(Activations::LikeLlamaCpp);
        let emulated = reference.forward(&PROMPT).unwrap();

        let logits = cpu(&bytes, Precision::Q8)
            .forward(&PROMPT, LogitsFor::All)
            .unwrap();
        let rel_emulated = max_relative(&logits, &emulated);
        let rel_exact = max_relative(&logits, &exact);
        println!("{name:<34} {rel_emulated:>12.3e} {rel_exact:>12.3e}");
        within += usize::from(rel_emulated <= BOUND);
        if [rel_emulated, rel_exact]
            .iter()
            .any(|r| r.is_nan() || *r > Q8_DRIFT_BOUND)
        {
            failures.push(format!(
                "{name}: {rel_emulated:.3e} vs emulated, {rel_exact:.3e} vs exact"
            ));
        }
    }
    let share = within as f32 / configs.len() as f32;
    println!(
        "within {BOUND:e} of the emulation: {within} of {}",
        configs.len()
    );
    assert!(
        failures.is_empty(),
        "over {Q8_DRIFT_BOUND:e}:\n{}",
        failures.join("\n")
    );
    assert!(
        share >= Q8_MIN_SHARE_WITHIN_BOUND,
        "only {within} of {} configurations within {BOUND:e} of the emulation",
        configs.len()
    );
}

/// A few configurations for the cache properties (they do not depend on the weight format).
fn cache_configurations() -> Vec<(String, TinySpec)> {
    configurations()
        .into_iter()
        .filter(|(_, s)| s.weight_type == GgmlType::Q4_1 || s.arch == "qwen2")
        .collect()
}

#[test]
fn decoding_token_by_token_matches_prefill() {
    for (i, (name, spec)) in cache_configurations().into_iter().enumerate() {
        let bytes = tiny_llama_gguf(&spec, 2000 + i as u64);
        let expected = Reference::from_gguf(&bytes)
            .unwrap()
            .forward(&PROMPT)
            .unwrap();

        let mut all = cpu(&bytes, Precision::Exact);
        let all_logits = all.forward(&PROMPT, LogitsFor::All).unwrap();

        // Prefill 3, then one token at a time.
        let mut step = cpu(&bytes, Precision::Exact);
        let mut stepped = step.forward(&PROMPT[..3], LogitsFor::All).unwrap();
        for &t in &PROMPT[3..] {
            stepped.extend(step.forward(&[t], LogitsFor::Last).unwrap());
        }
        assert_eq!(step.cache_len(), PROMPT.len());
        let vs_all = max_relative(&stepped, &to_rows(&all_logits, spec.n_vocab));
        let vs_reference = max_relative(&stepped, &expected);
        println!("{name}: decode vs prefill {vs_all:.3e}, vs reference {vs_reference:.3e}");
        assert!(
            vs_all <= 1e-5,
            "{name}: decode differs from prefill by {vs_all:e}"
        );
        assert!(
            vs_reference <= BOUND,
            "{name}: decode differs from the reference by {vs_reference:e}"
        );
    }
}

#[test]
fn truncate_then_rerun_is_a_clean_fork() {
    let other_tail: [u32; 4] = [5, 5, 50, 12];
    for (i, (name, spec)) in cache_configurations().into_iter().enumerate() {
        let bytes = tiny_llama_gguf(&spec, 3000 + i as u64);
        let reference = Reference::from_gguf(&bytes).unwrap();
        let mut backend = cpu(&bytes, Precision::Exact);
        let first = backend.forward(&PROMPT, LogitsFor::All).unwrap();

        for k in [0, 3, 6] {
            // Rolling back and replaying the same tail gives the same logits.
            backend.truncate(k);
            assert_eq!(backend.cache_len(), k);
            let again = backend.forward(&PROMPT[k..], LogitsFor::All).unwrap();
            let same = max_relative(&again, &to_rows(&first[k * spec.n_vocab..], spec.n_vocab));
            assert!(
                same <= 1e-5,
                "{name}: replay after truncate({k}) differs by {same:e}"
            );

            // A different tail after the rollback sees none of the forgotten positions.
            backend.truncate(k);
            let forked = backend.forward(&other_tail, LogitsFor::All).unwrap();
            let mut sequence = PROMPT[..k].to_vec();
            sequence.extend(other_tail);
            let expected = reference.forward(&sequence).unwrap();
            let fork = max_relative(&forked, &expected[k..]);
            println!("{name}: truncate({k}) replay {same:.3e}, fork vs reference {fork:.3e}");
            assert!(
                fork <= BOUND,
                "{name}: fork at {k} differs from the reference by {fork:e}"
            );

            // Back to the original sequence for the next k.
            backend.truncate(k);
            backend.forward(&PROMPT[k..], LogitsFor::Last).unwrap();
        }
    }
}

fn to_rows(flat: &[f32], n_vocab: usize) -> Vec<Vec<f32>> {
    flat.chunks_exact(n_vocab).map(<[f32]>::to_vec).collect()
}

/// The formats of K-quant files (Q5_0, Q5_1, IQ4_NL, the K-quants, IQ4_XS), each in every 2-D
/// weight of a model whose widths are multiples of 256 (so super-blocks fit): the CPU backend
/// loads it and computes what the reference computes, exactly within [`BOUND`], with 8-bit
/// activations (Q8_0, Q8_1 or Q8_K, as llama.cpp pairs them) within [`Q8_DRIFT_BOUND`].
#[test]
fn models_of_every_k_quant_file_format_match_the_reference() {
    let mut failures = Vec::new();
    for (i, ty) in [
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::IQ4_NL,
        GgmlType::Q2_K,
        GgmlType::Q3_K,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
        GgmlType::IQ4_XS,
    ]
    .into_iter()
    .enumerate()
    {
        let spec = TinySpec {
            n_embd: 256,
            n_head: 4,
            n_head_kv: 2,
            head_dim: 64,
            n_ff: 512,
            weight_type: ty,
            embd_type: ty,
            ..TinySpec::default()
        };
        let bytes = tiny_llama_gguf(&spec, 9000 + i as u64);
        let file = ModelFile::from_bytes(ModelBytes::Owned(bytes.clone())).unwrap();
        assert_eq!(file.tensor("blk.0.ffn_down.weight").unwrap().ggml_type, ty);
        let mut reference = Reference::from_gguf(&bytes).unwrap();
        let exact = reference.forward(&PROMPT).unwrap();
        reference.set_activations(Activations::LikeLlamaCpp);
        let emulated = reference.forward(&PROMPT).unwrap();
        let logits = cpu(&bytes, Precision::Exact)
            .forward(&PROMPT, LogitsFor::All)
            .unwrap();
        let rel = max_relative(&logits, &exact);
        let q8 = cpu(&bytes, Precision::Q8)
            .forward(&PROMPT, LogitsFor::All)
            .unwrap();
        let rel_q8 = max_relative(&q8, &emulated);
        println!("{ty:<8} exact {rel:>10.3e}  q8 vs emulated {rel_q8:>10.3e}");
        if rel.is_nan() || rel > BOUND || rel_q8.is_nan() || rel_q8 > Q8_DRIFT_BOUND {
            failures.push(format!("{ty}: exact {rel:.3e}, q8 {rel_q8:.3e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
