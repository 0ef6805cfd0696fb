//! The llama-family hyper-parameters, read from GGUF metadata.

use crate::error::{ModelError, Result};
use tokscope_gguf::Metadata;

/// How RoPE pairs the dimensions of a head: llama.cpp's `LLAMA_ROPE_TYPE_NORM` rotates adjacent
/// pairs (2i, 2i+1), `NEOX` rotates (i, i + d/2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeStyle {
    Norm,
    Neox,
}

/// Everything the forward pass needs to know about a model's shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `general.architecture`, e.g. "llama" or "qwen2".
    pub arch: String,
    pub n_vocab: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    pub n_ff: usize,
    /// Dimensions of each head that RoPE rotates (the rest pass through).
    pub rope_dims: usize,
    pub rope_base: f32,
    pub rope_style: RopeStyle,
    pub rms_eps: f32,
    /// The context the model was trained with (the default context size of a session).
    pub n_ctx_train: usize,
    /// True when there is no `output.weight` and the token embedding doubles as the LM head.
    pub tied_embeddings: bool,
    /// Qwen2 has biases on the q, k and v projections.
    pub qkv_bias: bool,
}

/// Architectures whose graph is llama's (up to RoPE style and q/k/v biases).
const LLAMA_LIKE: &[(&str, RopeStyle)] = &[
    ("llama", RopeStyle::Norm),
    ("mistral", RopeStyle::Norm),
    ("qwen2", RopeStyle::Neox),
];

impl Config {
    /// Reads the hyper-parameters; `tensor_names` tells whether the LM head is tied and biases exist.
    pub fn from_metadata<'a>(
        md: &Metadata,
        tensor_names: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Result<Self> {
        let arch = md
            .get_str("general.architecture")
            .ok_or_else(|| ModelError::MissingKey("general.architecture".into()))?
            .to_string();
        let rope_style = LLAMA_LIKE
            .iter()
            .find(|(a, _)| *a == arch)
            .map(|&(_, s)| s)
            .ok_or_else(|| ModelError::UnsupportedArchitecture(arch.clone()))?;
        let key = |k: &str| format!("{arch}.{k}");
        let get = |k: &str| -> Result<usize> {
            md.get_u64(&key(k))
                .map(|v| v as usize)
                .ok_or_else(|| ModelError::MissingKey(key(k)))
        };
        let n_embd = get("embedding_length")?;
        let n_head = get("attention.head_count")?;
        let n_head_kv = md
            .get_u64(&key("attention.head_count_kv"))
            .map_or(n_head, |v| v as usize);
        let n_layer = get("block_count")?;
        let n_ff = get("feed_forward_length")?;
        let n_vocab = match md.get_u64(&key("vocab_size")) {
            Some(v) => v as usize,
            None => md
                .get_array("tokenizer.ggml.tokens")
                .map(tokscope_gguf::Array::len)
                .ok_or_else(|| ModelError::MissingKey(key("vocab_size")))?,
        };
        if n_head == 0
            || n_head_kv == 0
            || !n_embd.is_multiple_of(n_head)
            || !n_head.is_multiple_of(n_head_kv)
        {
            return Err(ModelError::Invalid(format!(
                "{n_head} heads, {n_head_kv} KV heads and width {n_embd} do not divide evenly"
            )));
        }
        let head_dim = md
            .get_u64(&key("attention.key_length"))
            .map_or(n_embd / n_head, |v| v as usize);
        let rope_dims = md
            .get_u64(&key("rope.dimension_count"))
            .map_or(head_dim, |v| v as usize);
        if rope_dims > head_dim || !rope_dims.is_multiple_of(2) || !head_dim.is_multiple_of(2) {
            return Err(ModelError::Invalid(format!(
                "RoPE over {rope_dims} of {head_dim} head dimensions"
            )));
        }
        let limits = [n_embd, n_head, n_layer, n_ff, n_vocab, head_dim];
        if limits.iter().any(|&v| v == 0 || v > 1 << 20) || n_layer > 1024 || head_dim > 512 {
            return Err(ModelError::Invalid(format!(
                "implausible dimensions: width {n_embd}, heads {n_head}, layers {n_layer}, ffn {n_ff}, vocab {n_vocab}"
            )));
        }
        let has = |name: &str| tensor_names.clone().into_iter().any(|n| n == name);
        Ok(Self {
            rope_base: md.get_f64(&key("rope.freq_base")).unwrap_or(10_000.0) as f32,
            rms_eps: md
                .get_f64(&key("attention.layer_norm_rms_epsilon"))
                .unwrap_or(1e-5) as f32,
            n_ctx_train: md.get_u64(&key("context_length")).unwrap_or(2048) as usize,
            tied_embeddings: !has("output.weight"),
            qkv_bias: has("blk.0.attn_q.bias"),
            arch,
            n_vocab,
            n_embd,
            n_layer,
            n_head,
            n_head_kv,
            head_dim,
            n_ff,
            rope_dims,
            rope_style,
        })
    }

    /// Width of the K and V projections (all KV heads).
    pub fn kv_dim(&self) -> usize {
        self.n_head_kv * self.head_dim
    }

    /// Width of the Q projection and the attention output.
    pub fn q_dim(&self) -> usize {
        self.n_head * self.head_dim
    }
}

/// GGUF tensor names of the llama graph, in one place.
pub mod names {
    pub const TOKEN_EMBD: &str = "token_embd.weight";
    pub const OUTPUT_NORM: &str = "output_norm.weight";
    pub const OUTPUT: &str = "output.weight";

    /// `blk.{layer}.{part}`, e.g. `block(3, "attn_q.weight")`.
    pub fn block(layer: usize, part: &str) -> String {
        format!("blk.{layer}.{part}")
    }
}
