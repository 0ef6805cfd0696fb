//! Random tiny llama-family models written as GGUF files, for differential tests: small enough to
//! run through the reference in milliseconds, shaped like real models (GQA, tied or untied LM
//! head, quantized weights, f32 norms; llama, qwen2, qwen3 and gemma3 graphs, Llama 3's RoPE
//! scaling) and loadable by any GGUF engine.

use tokscope_gguf::blocks::{self, BlockError};
use tokscope_gguf::writer::GgufWriter;
use tokscope_gguf::{Array, GgmlType, Value};
use tokscope_model::config::names;

/// The shape and storage of a tiny model. `n_embd`, `n_head · head_dim` and `n_ff` must be
/// multiples of the weight type's block (32, or 256 for the K-quants and IQ4_XS).
#[derive(Clone, Debug, PartialEq)]
pub struct TinySpec {
    pub n_vocab: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    pub n_ff: usize,
    /// No `output.weight`: the token embedding doubles as the LM head.
    pub tied: bool,
    /// Type of every 2-D weight except the token embedding.
    pub weight_type: GgmlType,
    /// Type of the token embedding (real files often keep it at Q8_0 or F16).
    pub embd_type: GgmlType,
    /// `general.architecture`: "llama" (adjacent-pair RoPE), "qwen2" (NeoX RoPE, q/k/v biases),
    /// "qwen3" (NeoX RoPE, QK-norm) or "gemma3" (QK-norm, post-norms, GeGLU, sliding windows).
    pub arch: &'static str,
    pub rope_base: f32,
    pub rms_eps: f32,
    pub n_ctx: usize,
    /// gemma3's `attention.sliding_window`.
    pub sliding_window: usize,
    /// Llama 3's RoPE scaling, written as `rope_freqs.weight` as llama.cpp's converter does.
    pub llama3_rope: Option<Llama3Rope>,
}

/// The `rope_scaling` of a Llama 3.1+ config: long wavelengths are slowed by `factor`, short ones
/// kept, those between blended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Llama3Rope {
    pub factor: f64,
    pub low_freq_factor: f64,
    pub high_freq_factor: f64,
    pub original_context: f64,
}

impl Llama3Rope {
    /// The divisor of each RoPE pair's frequency (`rope_dims / 2` values), as in Meta's
    /// reference code: wavelengths under `original_context / high_freq_factor` keep 1, those
    /// over `original_context / low_freq_factor` get `factor`, the rest a smooth blend.
    pub fn factors(&self, rope_dims: usize, base: f32) -> Vec<f32> {
        let low_wavelen = self.original_context / self.low_freq_factor;
        let high_wavelen = self.original_context / self.high_freq_factor;
        (0..rope_dims / 2)
            .map(|i| {
                let freq = 1.0 / (base as f64).powf(2.0 * i as f64 / rope_dims as f64);
                let wavelen = 2.0 * std::f64::consts::PI / freq;
                let f = if wavelen < high_wavelen {
                    1.0
                } else if wavelen > low_wavelen {
                    self.factor
                } else {
                    let smooth = (self.original_context / wavelen - self.low_freq_factor)
                        / (self.high_freq_factor - self.low_freq_factor);
                    1.0 / ((1.0 - smooth) / self.factor + smooth)
                };
                f as f32
            })
            .collect()
    }
}

impl Default for TinySpec {
    /// Two layers, width 128, 4 query heads over 2 KV heads of 32, Q8_0 weights, untied.
    fn default() -> Self {
        Self {
            n_vocab: 64,
            n_embd: 128,
            n_layer: 2,
            n_head: 4,
            n_head_kv: 2,
            head_dim: 32,
            n_ff: 256,
            tied: false,
            weight_type: GgmlType::Q8_0,
            embd_type: GgmlType::Q8_0,
            arch: "llama",
            rope_base: 10_000.0,
            rms_eps: 1e-5,
            n_ctx: 256,
            sliding_window: 4,
            llama3_rope: None,
        }
    }
}

/// A GGUF file of a random model of shape `spec`; the same `seed` gives the same bytes.
///
/// Weights are uniform with standard deviation `1/sqrt(fan_in)` (so every matmul keeps unit-scale
/// activations), embeddings have unit standard deviation and norm weights lie in [0.75, 1.25].
/// The vocabulary is a consistent gpt2-style BPE: the letters, then two-letter tokens with the
/// merges that build them.
///
/// A weight type without a quantizer here (Q5_x, the K-quants, IQ4_x) gets random valid blocks
/// instead ([`blocks::random_blocks`]) with the root mean square of the values drawn for it,
/// their bits seeded by those values: deterministic too.
///
/// # Panics
/// If the writer refuses a tensor: only when `spec` breaks the block-size rule above.
pub fn tiny_llama_gguf(spec: &TinySpec, seed: u64) -> Vec<u8> {
    let mut rng = SplitMix64(seed);
    let mut w = GgufWriter::new();
    let arch = spec.arch;
    let key = |k: &str| format!("{arch}.{k}");
    let u32v = |v: usize| Value::U32(v as u32);

    w.metadata("general.architecture", Value::String(arch.into()));
    w.metadata("general.name", Value::String(format!("tiny-{arch}-{seed}")));
    w.metadata(&key("vocab_size"), u32v(spec.n_vocab));
    w.metadata(&key("context_length"), u32v(spec.n_ctx));
    w.metadata(&key("embedding_length"), u32v(spec.n_embd));
    w.metadata(&key("block_count"), u32v(spec.n_layer));
    w.metadata(&key("feed_forward_length"), u32v(spec.n_ff));
    w.metadata(&key("attention.head_count"), u32v(spec.n_head));
    w.metadata(&key("attention.head_count_kv"), u32v(spec.n_head_kv));
    w.metadata(&key("attention.key_length"), u32v(spec.head_dim));
    w.metadata(&key("attention.value_length"), u32v(spec.head_dim));
    w.metadata(&key("rope.dimension_count"), u32v(spec.head_dim));
    w.metadata(&key("rope.freq_base"), Value::F32(spec.rope_base));
    w.metadata(
        &key("attention.layer_norm_rms_epsilon"),
        Value::F32(spec.rms_eps),
    );
    if arch == "gemma3" {
        w.metadata(&key("attention.sliding_window"), u32v(spec.sliding_window));
    }

    let (tokens, merges) = vocabulary(spec.n_vocab);
    w.metadata("tokenizer.ggml.model", Value::String("gpt2".into()));
    w.metadata("tokenizer.ggml.pre", Value::String("default".into()));
    w.metadata(
        "tokenizer.ggml.token_type",
        Value::Array(Array::I32(vec![1; tokens.len()])),
    );
    w.metadata("tokenizer.ggml.tokens", string_array(tokens));
    w.metadata("tokenizer.ggml.merges", string_array(merges));

    let (d, q_dim, kv_dim) = (
        spec.n_embd,
        spec.n_head * spec.head_dim,
        spec.n_head_kv * spec.head_dim,
    );
    let mut tensor = |name: &str, rows: usize, cols: usize, ty: GgmlType, values: Vec<f32>| {
        let dims: Vec<u64> = if rows == 1 {
            vec![cols as u64]
        } else {
            vec![cols as u64, rows as u64]
        };
        let written = match w.tensor_f32(name, &dims, ty, &values) {
            Err(BlockError::Unsupported(_)) => random_tensor(ty, &values).map(|bytes| {
                w.tensor_raw(name, &dims, ty, bytes);
            }),
            other => other.map(drop),
        };
        if let Err(e) = written {
            panic!("tiny model tensor {name} ({rows}×{cols} {ty}): {e}");
        }
    };

    tensor(
        names::TOKEN_EMBD,
        spec.n_vocab,
        d,
        spec.embd_type,
        rng.uniform(spec.n_vocab * d, 3f32.sqrt()),
    );
    if let Some(scaling) = &spec.llama3_rope {
        let factors = scaling.factors(spec.head_dim, spec.rope_base);
        tensor(names::ROPE_FREQS, 1, factors.len(), GgmlType::F32, factors);
    }
    let qk_norm = matches!(arch, "qwen3" | "gemma3");
    for l in 0..spec.n_layer {
        let part = |p: &str| names::block(l, p);
        let wt = spec.weight_type;
        tensor(
            &part("attn_norm.weight"),
            1,
            d,
            GgmlType::F32,
            rng.norm_weights(d),
        );
        tensor(&part("attn_q.weight"), q_dim, d, wt, rng.matrix(q_dim, d));
        tensor(&part("attn_k.weight"), kv_dim, d, wt, rng.matrix(kv_dim, d));
        tensor(&part("attn_v.weight"), kv_dim, d, wt, rng.matrix(kv_dim, d));
        if arch == "qwen2" {
            tensor(
                &part("attn_q.bias"),
                1,
                q_dim,
                GgmlType::F32,
                rng.uniform(q_dim, 0.5),
            );
            tensor(
                &part("attn_k.bias"),
                1,
                kv_dim,
                GgmlType::F32,
                rng.uniform(kv_dim, 0.5),
            );
            tensor(
                &part("attn_v.bias"),
                1,
                kv_dim,
                GgmlType::F32,
                rng.uniform(kv_dim, 0.5),
            );
        }
        if qk_norm {
            for name in ["attn_q_norm.weight", "attn_k_norm.weight"] {
                let values = rng.norm_weights(spec.head_dim);
                tensor(&part(name), 1, spec.head_dim, GgmlType::F32, values);
            }
        }
        tensor(
            &part("attn_output.weight"),
            d,
            q_dim,
            wt,
            rng.matrix(d, q_dim),
        );
        if arch == "gemma3" {
            for name in ["post_attention_norm.weight", "post_ffw_norm.weight"] {
                let values = rng.norm_weights(d);
                tensor(&part(name), 1, d, GgmlType::F32, values);
            }
        }
        tensor(
            &part("ffn_norm.weight"),
            1,
            d,
            GgmlType::F32,
            rng.norm_weights(d),
        );
        tensor(
            &part("ffn_gate.weight"),
            spec.n_ff,
            d,
            wt,
            rng.matrix(spec.n_ff, d),
        );
        tensor(
            &part("ffn_up.weight"),
            spec.n_ff,
            d,
            wt,
            rng.matrix(spec.n_ff, d),
        );
        tensor(
            &part("ffn_down.weight"),
            d,
            spec.n_ff,
            wt,
            rng.matrix(d, spec.n_ff),
        );
    }
    tensor(names::OUTPUT_NORM, 1, d, GgmlType::F32, rng.norm_weights(d));
    if !spec.tied {
        tensor(
            names::OUTPUT,
            spec.n_vocab,
            d,
            spec.weight_type,
            rng.matrix(spec.n_vocab, d),
        );
    }
    w.to_bytes()
}

/// Random valid blocks of `ty` as many as `values` fill, with their root mean square, the bits
/// drawn from a generator seeded by the values.
fn random_tensor(ty: GgmlType, values: &[f32]) -> Result<Vec<u8>, BlockError> {
    let Some((block, _)) = ty.block_layout() else {
        return Err(BlockError::Unsupported(ty));
    };
    let mean_sq = values.iter().map(|v| v * v).sum::<f32>() / values.len().max(1) as f32;
    let seed = values.iter().fold(values.len() as u64, |h, v| {
        h.rotate_left(5) ^ v.to_bits() as u64
    });
    let mut rng = SplitMix64(seed);
    blocks::random_blocks(ty, values.len() / block, mean_sq.sqrt(), || rng.next_u64())
}

/// The tiny models that llama.cpp ran for tests/golden/logprobs_tiny_archs.json, as (name, spec,
/// seed): one per graph llama.cpp has and real small files lack. F32 weights, so that llama.cpp
/// computes in f32 as tokscope's exact arithmetic does.
pub fn golden_arch_models() -> Vec<(&'static str, TinySpec, u64)> {
    let f32_spec = TinySpec {
        weight_type: GgmlType::F32,
        embd_type: GgmlType::F32,
        ..TinySpec::default()
    };
    vec![
        (
            "qwen3",
            // Query heads wider than the model (4 × 48 > 128), as in Qwen3.
            TinySpec {
                arch: "qwen3",
                head_dim: 48,
                rms_eps: 1e-6,
                rope_base: 1_000_000.0,
                ..f32_spec.clone()
            },
            41,
        ),
        (
            "llama3_rope",
            TinySpec {
                rope_base: 500_000.0,
                llama3_rope: Some(Llama3Rope {
                    factor: 8.0,
                    low_freq_factor: 1.0,
                    high_freq_factor: 4.0,
                    original_context: 32.0,
                }),
                ..f32_spec.clone()
            },
            42,
        ),
        (
            "qwen2_bias",
            TinySpec {
                arch: "qwen2",
                ..f32_spec.clone()
            },
            43,
        ),
        (
            "gemma3",
            // Seven layers: five local, the global sixth, a local seventh; a window of 4. Untied:
            // unit-variance embeddings as the LM head would make every distribution one-hot.
            TinySpec {
                arch: "gemma3",
                n_layer: 7,
                head_dim: 64,
                n_head: 2,
                n_head_kv: 1,
                rms_eps: 1e-6,
                rope_base: 1_000_000.0,
                sliding_window: 4,
                ..f32_spec
            },
            44,
        ),
    ]
}

/// `n` tokens: "a".."z", then "aa", "ab", ... (each with the merge that builds it from two letters).
fn vocabulary(n: usize) -> (Vec<String>, Vec<String>) {
    let letters: Vec<char> = ('a'..='z').collect();
    let mut tokens = Vec::with_capacity(n);
    let mut merges = Vec::new();
    for i in 0..n {
        if i < letters.len() {
            tokens.push(letters[i].to_string());
        } else {
            let j = i - letters.len();
            let (a, b) = (
                letters[(j / letters.len()) % letters.len()],
                letters[j % letters.len()],
            );
            tokens.push(format!("{a}{b}"));
            merges.push(format!("{a} {b}"));
        }
    }
    (tokens, merges)
}

fn string_array(items: Vec<String>) -> Value {
    Value::strings(items)
}

/// SplitMix64: a tiny, well-mixed, seedable generator (no dependency needed for test data).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    fn next_signed(&mut self) -> f32 {
        // 24 random bits give every representable step of an f32 in [0, 1).
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    /// `n` values uniform in [-a, a) (standard deviation `a / sqrt(3)`).
    fn uniform(&mut self, n: usize, a: f32) -> Vec<f32> {
        (0..n).map(|_| a * self.next_signed()).collect()
    }

    /// A `rows × cols` weight with standard deviation `1/sqrt(cols)`.
    fn matrix(&mut self, rows: usize, cols: usize) -> Vec<f32> {
        self.uniform(rows * cols, (3.0 / cols as f32).sqrt())
    }

    /// Norm weights around 1, in [0.75, 1.25).
    fn norm_weights(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| 1.0 + 0.25 * self.next_signed()).collect()
    }
}

/// The weight formats of K-quant files that have golden data from llama.cpp on a tiny model each
/// (`tests/golden/make_golden_formats.py`, checked by `tests/golden_formats.rs`).
pub const GOLDEN_FORMATS: [GgmlType; 9] = [
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::IQ4_NL,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::IQ4_XS,
];

/// The tiny model of one of [`GOLDEN_FORMATS`]: every 2-D weight (the token embedding too) of
/// type `ty`, widths multiples of 256 so that super-blocks fit, two layers, GQA 2.
pub fn golden_format_model(ty: GgmlType) -> Vec<u8> {
    let spec = TinySpec {
        n_vocab: 96,
        n_embd: 256,
        n_head: 4,
        n_head_kv: 2,
        head_dim: 64,
        n_ff: 512,
        weight_type: ty,
        embd_type: ty,
        ..TinySpec::default()
    };
    tiny_llama_gguf(&spec, 20_000 + u64::from(ty.id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_uniform_in_range_and_seeded() {
        let a = SplitMix64(7).uniform(10_000, 1.0);
        assert_eq!(a, SplitMix64(7).uniform(10_000, 1.0));
        assert_ne!(a, SplitMix64(8).uniform(10_000, 1.0));
        assert!(a.iter().all(|v| (-1.0..1.0).contains(v)));
        let mean = a.iter().sum::<f32>() / a.len() as f32;
        let var = a.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / a.len() as f32;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0 / 3.0).abs() < 0.02, "variance {var}");
    }

    #[test]
    fn vocabulary_merges_build_its_pairs() {
        let (tokens, merges) = vocabulary(30);
        assert_eq!(tokens.len(), 30);
        assert_eq!(&tokens[..2], ["a", "b"]);
        assert_eq!(&tokens[26..], ["aa", "ab", "ac", "ad"]);
        assert_eq!(merges, ["a a", "a b", "a c", "a d"]);
    }
}
