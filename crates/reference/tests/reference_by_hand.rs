//! The reference checked on its own against a model small enough to work out on paper, so that the
//! spec itself is verified independently of any backend.
//!
//! The model: vocabulary 4, width 4, one layer, one head of dimension 4, RoPE base 10000 over
//! adjacent pairs, rms eps 0, F32 weights:
//! - token t embeds to 2·e_t; every norm weight is 1;
//! - Wq = Wk = Wv = I, Wgate = Wup = Wdown = I;
//! - Wo and the LM head are the cyclic shift S with (S x)[i] = x[(i + 3) % 4], which is not its
//!   own transpose, so a transposed weight would be caught.
//!
//! Tokens [0, 1]:
//! - position 0: h = rmsnorm(2e₀) = 2e₀; attention sees only itself, o = v = 2e₀; x = 2e₀ + S·2e₀
//!   = (2, 2, 0, 0).
//! - position 1: h = 2e₁. RoPE at position 1 turns pair (0, 1) by 1 radian: q = k₁ = 2(−sin 1,
//!   cos 1, 0, 0), while k₀ = 2e₀ (position 0 is not rotated). Scores q·k / sqrt(4):
//!   s₀ = −2 sin 1, s₁ = 2. With p = softmax(s₀, s₁): o = 2p₀e₀ + 2p₁e₁, x = 2e₁ + S o
//!   = (0, 2 + 2p₀, 2p₁, 0).
//! - then per position: h = x / rms(x); x += silu(h)·h; logits = S (x / rms(x)).

use tokscope_gguf::writer::GgufWriter;
use tokscope_gguf::{GgmlType, Value};
use tokscope_reference::Reference;

const N: usize = 4;

fn identity() -> Vec<f32> {
    (0..N * N)
        .map(|i| if i / N == i % N { 1.0 } else { 0.0 })
        .collect()
}

/// Row-major matrix of `(S x)[i] = x[(i + 3) % 4]`.
fn shift() -> Vec<f32> {
    (0..N * N)
        .map(|i| if i % N == (i / N + 3) % N { 1.0 } else { 0.0 })
        .collect()
}

fn hand_model() -> Vec<u8> {
    let mut w = GgufWriter::new();
    let u = |v: u32| Value::U32(v);
    w.metadata("general.architecture", Value::String("llama".into()));
    w.metadata("llama.vocab_size", u(4));
    w.metadata("llama.context_length", u(16));
    w.metadata("llama.embedding_length", u(4));
    w.metadata("llama.block_count", u(1));
    w.metadata("llama.feed_forward_length", u(4));
    w.metadata("llama.attention.head_count", u(1));
    w.metadata("llama.attention.head_count_kv", u(1));
    w.metadata("llama.rope.freq_base", Value::F32(10_000.0));
    w.metadata("llama.attention.layer_norm_rms_epsilon", Value::F32(0.0));
    w.metadata("tokenizer.ggml.model", Value::String("gpt2".into()));
    w.metadata(
        "tokenizer.ggml.tokens",
        Value::strings(["a", "b", "c", "d"]),
    );
    let embd: Vec<f32> = identity().iter().map(|v| 2.0 * v).collect();
    let ones = vec![1.0f32; N];
    let mut t = |name: &str, dims: &[u64], values: &[f32]| {
        w.tensor_f32(name, dims, GgmlType::F32, values).unwrap();
    };
    let m = [N as u64, N as u64];
    let v = [N as u64];
    t("token_embd.weight", &m, &embd);
    t("blk.0.attn_norm.weight", &v, &ones);
    t("blk.0.attn_q.weight", &m, &identity());
    t("blk.0.attn_k.weight", &m, &identity());
    t("blk.0.attn_v.weight", &m, &identity());
    t("blk.0.attn_output.weight", &m, &shift());
    t("blk.0.ffn_norm.weight", &v, &ones);
    t("blk.0.ffn_gate.weight", &m, &identity());
    t("blk.0.ffn_up.weight", &m, &identity());
    t("blk.0.ffn_down.weight", &m, &identity());
    t("output_norm.weight", &v, &ones);
    t("output.weight", &m, &shift());
    w.to_bytes()
}

/// The feed-forward residual, final norm and LM head of the walkthrough above.
fn finish(mut x: [f64; N]) -> [f64; N] {
    let rms = |x: &[f64; N]| (x.iter().map(|v| v * v).sum::<f64>() / N as f64).sqrt();
    let silu = |v: f64| v / (1.0 + (-v).exp());
    let r = rms(&x);
    for v in x.iter_mut() {
        let h = *v / r;
        *v += silu(h) * h;
    }
    let r = rms(&x);
    let y = x.map(|v| v / r);
    [y[3], y[0], y[1], y[2]]
}

#[test]
fn reference_matches_the_hand_computed_model() {
    let reference = Reference::from_gguf(&hand_model()).unwrap();
    let logits = reference.forward(&[0, 1]).unwrap();

    let p1 = 1.0 / (1.0 + (-2.0f64 * 1f64.sin() - 2.0).exp());
    let p0 = 1.0 - p1;
    let expected = [
        finish([2.0, 2.0, 0.0, 0.0]),
        finish([0.0, 2.0 + 2.0 * p0, 2.0 * p1, 0.0]),
    ];
    assert_eq!(logits.len(), 2);
    for (pos, (got, want)) in logits.iter().zip(&expected).enumerate() {
        for (g, w) in got.iter().zip(want) {
            assert!(
                (*g as f64 - w).abs() < 1e-5,
                "position {pos}: {got:?} vs {want:?}"
            );
        }
    }
    // Position 0 works out to exactly S·(√2, √2, 0, 0): a sanity check of the walkthrough itself.
    let s = 2f64.sqrt();
    for (g, w) in expected[0].iter().zip([0.0, s, s, 0.0]) {
        assert!((g - w).abs() < 1e-12);
    }
}

#[test]
fn a_prefix_does_not_see_later_tokens() {
    // Causality: the logits of a prefix are the same whatever follows it.
    let reference = Reference::from_gguf(&hand_model()).unwrap();
    let short = reference.forward(&[2, 1]).unwrap();
    let long = reference.forward(&[2, 1, 3, 0]).unwrap();
    for (a, b) in short.iter().zip(&long) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-6);
        }
    }
}

#[test]
fn bad_input_is_an_error() {
    let reference = Reference::from_gguf(&hand_model()).unwrap();
    assert!(reference.forward(&[]).is_err());
    assert!(reference.forward(&[0, 4]).is_err());
    assert!(Reference::from_gguf(b"GGUF").is_err());
}
