//! The hyper-parameters of the supported architectures, read from GGUF metadata: one llama-shaped
//! graph with optional parts (QK-norm, Gemma's extra norms and GeGLU, sliding windows, RoPE scaling).

use crate::error::{ModelError, Result};
use tokscope_gguf::Metadata;

/// How RoPE pairs the dimensions of a head: llama.cpp's `LLAMA_ROPE_TYPE_NORM` rotates adjacent
/// pairs (2i, 2i+1), `NEOX` rotates (i, i + d/2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeStyle {
    Norm,
    Neox,
}

/// The feed-forward block's gated activation: `down(act(gate x) * up x)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FfnActivation {
    /// SiLU (llama, qwen).
    Silu,
    /// GELU, tanh approximation (Gemma's GeGLU).
    GeluTanh,
}

/// Gemma's interleaved local layers: attention over the last `window` positions only, with their
/// own RoPE base; every `pattern`-th layer (the last of each group) attends globally.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SlidingWindow {
    /// Positions a local layer's query sees, itself included.
    pub window: usize,
    /// Layer `l` is local unless `l % pattern == pattern - 1`.
    pub pattern: usize,
    /// RoPE base of the local layers (the global ones use [`Config::rope_base`]).
    pub rope_base: f32,
}

impl SlidingWindow {
    /// Whether layer `layer` attends only within the window.
    pub fn is_local(&self, layer: usize) -> bool {
        layer % self.pattern < self.pattern - 1
    }
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
    /// Linear RoPE scaling of the global layers: angles are multiplied by it (1: none).
    pub rope_freq_scale: f32,
    /// Llama 3's RoPE scaling: `rope_freqs.weight` divides each pair's angle.
    pub rope_freq_factors: bool,
    pub rms_eps: f32,
    /// The context the model was trained with (the default context size of a session).
    pub n_ctx_train: usize,
    /// True when there is no `output.weight` and the token embedding doubles as the LM head.
    pub tied_embeddings: bool,
    /// Qwen2 has biases on the q, k and v projections.
    pub qkv_bias: bool,
    /// An RMS norm over each query and key head before RoPE (qwen3, gemma3).
    pub qk_norm: bool,
    /// Gemma: RMS norms after attention and after the feed-forward block, before each residual add.
    pub post_norms: bool,
    pub ffn_activation: FfnActivation,
    /// The token embedding is multiplied by this (Gemma: √n_embd; others 1).
    pub embd_scale: f32,
    /// Attention scores are `q·k` times this (usually `1/√head_dim`).
    pub attn_scale: f32,
    pub sliding_window: Option<SlidingWindow>,
}

/// The architectures tokscope runs and their RoPE style.
const ARCHITECTURES: &[(&str, RopeStyle)] = &[
    ("llama", RopeStyle::Norm),
    ("mistral", RopeStyle::Norm),
    ("qwen2", RopeStyle::Neox),
    ("qwen3", RopeStyle::Neox),
    ("gemma3", RopeStyle::Neox),
];

impl Config {
    /// Reads the hyper-parameters; `tensor_names` tells whether the LM head is tied, biases exist
    /// and RoPE has frequency factors.
    pub fn from_metadata<'a>(
        md: &Metadata,
        tensor_names: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Result<Self> {
        let arch = md
            .get_str("general.architecture")
            .ok_or_else(|| ModelError::MissingKey("general.architecture".into()))?
            .to_string();
        let rope_style = ARCHITECTURES
            .iter()
            .find(|(a, _)| *a == arch)
            .map(|&(_, s)| s)
            .ok_or_else(|| ModelError::UnsupportedArchitecture(arch.clone()))?;
        let gemma = arch == "gemma3";
        // The newer architectures get no defaults: a missing key is an error, as in llama.cpp.
        let strict = matches!(arch.as_str(), "qwen3" | "gemma3");
        let key = |k: &str| format!("{arch}.{k}");
        let get = |k: &str| -> Result<usize> {
            md.get_u64(&key(k))
                .map(|v| v as usize)
                .ok_or_else(|| ModelError::MissingKey(key(k)))
        };
        let get_f32 = |k: &str, default: f32| -> Result<f32> {
            match md.get_f64(&key(k)) {
                Some(v) => Ok(v as f32),
                None if strict => Err(ModelError::MissingKey(key(k))),
                None => Ok(default),
            }
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
        let key_length = md.get_u64(&key("attention.key_length"));
        if n_head == 0
            || n_head_kv == 0
            || (key_length.is_none() && !n_embd.is_multiple_of(n_head))
            || !n_head.is_multiple_of(n_head_kv)
        {
            return Err(ModelError::Invalid(format!(
                "{n_head} heads, {n_head_kv} KV heads and width {n_embd} do not divide evenly"
            )));
        }
        let head_dim = key_length.map_or(n_embd / n_head, |v| v as usize);
        if let Some(v) = md.get_u64(&key("attention.value_length"))
            && v as usize != head_dim
        {
            return Err(ModelError::Invalid(format!(
                "value heads of {v} dimensions and key heads of {head_dim} (tokscope needs them equal)"
            )));
        }
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
        // llama.cpp's defaults where it has them: RoPE base 10,000.
        let rope_base = get_f32("rope.freq_base", 10_000.0)?;
        let rms_eps = get_f32("attention.layer_norm_rms_epsilon", 1e-5)?;
        let n_ctx_train = match md.get_u64(&key("context_length")) {
            Some(v) => v as usize,
            None if strict => return Err(ModelError::MissingKey(key("context_length"))),
            None => 2048,
        };
        let rope_freq_scale = rope_scaling(md, &key)?;
        let sliding_window = if gemma {
            let window = get("attention.sliding_window")?;
            // llama.cpp hardcodes Gemma 3's pattern (5 local layers, then 1 global) and local RoPE base.
            Some(SlidingWindow {
                window,
                pattern: 6,
                rope_base: 10_000.0,
            })
        } else {
            None
        };
        // llama.cpp hardcodes Gemma 3 27B's (62 layers) query scale as 1/√(n_embd / n_head).
        let attn_scale = if gemma && n_layer == 62 {
            1.0 / ((n_embd / n_head) as f32).sqrt()
        } else {
            1.0 / (head_dim as f32).sqrt()
        };
        let has = |name: &str| tensor_names.clone().into_iter().any(|n| n == name);
        let config = Self {
            rope_base,
            rms_eps,
            n_ctx_train,
            tied_embeddings: !has(names::OUTPUT),
            qkv_bias: has("blk.0.attn_q.bias"),
            // llama.cpp's graph reads RoPE factors for llama-like files only.
            rope_freq_factors: rope_style == RopeStyle::Norm && has(names::ROPE_FREQS),
            rope_freq_scale,
            qk_norm: matches!(arch.as_str(), "qwen3" | "gemma3"),
            post_norms: gemma,
            ffn_activation: if gemma {
                FfnActivation::GeluTanh
            } else {
                FfnActivation::Silu
            },
            embd_scale: if gemma { (n_embd as f32).sqrt() } else { 1.0 },
            attn_scale,
            sliding_window,
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
        };
        config.check_numbers()?;
        Ok(config)
    }

    /// Refuses non-finite or non-positive scales and bases, which would make every logit NaN.
    fn check_numbers(&self) -> Result<()> {
        let mut numbers = vec![
            ("rope.freq_base", self.rope_base),
            ("rope.scaling.factor", 1.0 / self.rope_freq_scale),
        ];
        if let Some(sw) = &self.sliding_window {
            if sw.window == 0 {
                return Err(ModelError::Invalid(
                    "a sliding window of 0 positions".into(),
                ));
            }
            numbers.push(("local RoPE base", sw.rope_base));
        }
        for (name, v) in numbers {
            if !(v.is_finite() && v > 0.0) {
                return Err(ModelError::Invalid(format!("{name} is {v}")));
            }
        }
        if !(self.rms_eps.is_finite() && self.rms_eps >= 0.0) {
            return Err(ModelError::Invalid(format!(
                "attention.layer_norm_rms_epsilon is {}",
                self.rms_eps
            )));
        }
        Ok(())
    }

    /// Width of the K and V projections (all KV heads).
    pub fn kv_dim(&self) -> usize {
        self.n_head_kv * self.head_dim
    }

    /// Width of the Q projection and the attention output.
    pub fn q_dim(&self) -> usize {
        self.n_head * self.head_dim
    }

    /// RoPE base and linear scale of layer `layer`: local layers have their own base and no scaling.
    pub fn rope_of_layer(&self, layer: usize) -> (f32, f32) {
        match &self.sliding_window {
            Some(sw) if sw.is_local(layer) => (sw.rope_base, 1.0),
            _ => (self.rope_base, self.rope_freq_scale),
        }
    }

    /// The parts of this model's graph beyond llama's (with qwen2's biases), named for errors of
    /// backends that compute only that graph; empty for plain llama-family files.
    pub fn graph_extensions(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.qk_norm {
            out.push("QK-norm");
        }
        if self.post_norms {
            out.push("post-norms");
        }
        if self.ffn_activation != FfnActivation::Silu {
            out.push("GeGLU");
        }
        if self.embd_scale != 1.0 {
            out.push("a scaled embedding");
        }
        if self.attn_scale != 1.0 / (self.head_dim as f32).sqrt() {
            out.push("a custom attention scale");
        }
        if self.sliding_window.is_some() {
            out.push("sliding-window layers");
        }
        if self.rope_freq_scale != 1.0 || self.rope_freq_factors {
            out.push("RoPE scaling");
        }
        out
    }
}

/// The linear RoPE scale (`1 / rope.scaling.factor`) where the file asks for linear scaling or
/// none; other scaling types (YaRN, LongRoPE) are refused.
fn rope_scaling(md: &Metadata, key: &dyn Fn(&str) -> String) -> Result<f32> {
    let kind = md.get_str(&key("rope.scaling.type")).unwrap_or("linear");
    // llama.cpp reads the factor under its current name, then the old one.
    let factor = md
        .get_f64(&key("rope.scaling.factor"))
        .or_else(|| md.get_f64(&key("rope.scale_linear")))
        .unwrap_or(0.0);
    match kind {
        "none" => Ok(1.0),
        "linear" if factor == 0.0 => Ok(1.0),
        "linear" => Ok((1.0 / factor) as f32),
        other => Err(ModelError::Invalid(format!(
            "RoPE scaling {other:?} (tokscope runs linear scaling and Llama 3's frequency factors)"
        ))),
    }
}

/// GGUF tensor names of the llama graph, in one place.
pub mod names {
    pub const TOKEN_EMBD: &str = "token_embd.weight";
    pub const OUTPUT_NORM: &str = "output_norm.weight";
    pub const OUTPUT: &str = "output.weight";
    /// Llama 3's per-pair RoPE frequency divisors (`rope_dims / 2` values).
    pub const ROPE_FREQS: &str = "rope_freqs.weight";

    /// `blk.{layer}.{part}`, e.g. `block(3, "attn_q.weight")`.
    pub fn block(layer: usize, part: &str) -> String {
        format!("blk.{layer}.{part}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokscope_gguf::Value;

    /// Gemma 3 270M's metadata (the keys its file has), with `edit` applied.
    fn gemma3(edit: impl FnOnce(&mut Metadata)) -> Metadata {
        let mut md = Metadata::default();
        md.insert(
            "general.architecture".into(),
            Value::String("gemma3".into()),
        );
        for (k, v) in [
            ("context_length", 32_768),
            ("embedding_length", 640),
            ("block_count", 18),
            ("feed_forward_length", 2048),
            ("attention.head_count", 4),
            ("attention.head_count_kv", 1),
            ("attention.key_length", 256),
            ("attention.value_length", 256),
            ("attention.sliding_window", 512),
            ("vocab_size", 262_144),
        ] {
            md.insert(format!("gemma3.{k}"), Value::U32(v));
        }
        md.insert("gemma3.rope.freq_base".into(), Value::F32(1e6));
        md.insert(
            "gemma3.attention.layer_norm_rms_epsilon".into(),
            Value::F32(1e-6),
        );
        edit(&mut md);
        md
    }

    fn config(md: &Metadata) -> Result<Config> {
        Config::from_metadata(md, ["token_embd.weight"])
    }

    #[test]
    fn gemma3_reads_its_graph_parts() {
        let c = config(&gemma3(|_| {})).unwrap();
        assert_eq!((c.head_dim, c.q_dim(), c.kv_dim()), (256, 1024, 256));
        assert_eq!(c.rope_style, RopeStyle::Neox);
        assert!(c.qk_norm && c.post_norms && c.tied_embeddings);
        assert_eq!(c.ffn_activation, FfnActivation::GeluTanh);
        assert_eq!(c.embd_scale, 640f32.sqrt());
        assert_eq!(c.attn_scale, 1.0 / 16.0);
        let sw = c.sliding_window.unwrap();
        assert_eq!(sw.window, 512);
        let local: Vec<bool> = (0..12).map(|l| sw.is_local(l)).collect();
        assert_eq!(local, [&[true; 5][..], &[false]].concat().repeat(2));
        assert_eq!(c.rope_of_layer(0), (10_000.0, 1.0));
        assert_eq!(c.rope_of_layer(5), (1e6, 1.0));
        assert!(!c.graph_extensions().is_empty());
    }

    #[test]
    fn gemma3_without_its_keys_is_refused_by_name() {
        for key in [
            "gemma3.attention.sliding_window",
            "gemma3.attention.layer_norm_rms_epsilon",
            "gemma3.rope.freq_base",
            "gemma3.context_length",
        ] {
            let md = gemma3(|md| {
                md.insert(key.into(), Value::String("absent".into()));
            });
            match config(&md) {
                Err(ModelError::MissingKey(k)) => assert_eq!(k, key),
                other => panic!("{key}: {other:?}"),
            }
        }
        let md = gemma3(|md| {
            md.insert("gemma3.attention.sliding_window".into(), Value::U32(0));
        });
        assert!(
            config(&md)
                .unwrap_err()
                .to_string()
                .contains("sliding window")
        );
    }

    #[test]
    fn rope_scaling_is_linear_or_refused() {
        let md = gemma3(|md| {
            md.insert(
                "gemma3.rope.scaling.type".into(),
                Value::String("linear".into()),
            );
            md.insert("gemma3.rope.scaling.factor".into(), Value::F32(8.0));
        });
        let c = config(&md).unwrap();
        assert_eq!(c.rope_freq_scale, 0.125);
        // Local layers keep their own unscaled RoPE.
        assert_eq!(
            (c.rope_of_layer(0), c.rope_of_layer(5)),
            ((1e4, 1.0), (1e6, 0.125))
        );
        for (kind, factor) in [
            ("yarn", 4.0),
            ("longrope", 4.0),
            ("linear", -2.0),
            ("linear", f32::NAN),
        ] {
            let md = gemma3(|md| {
                md.insert(
                    "gemma3.rope.scaling.type".into(),
                    Value::String(kind.into()),
                );
                md.insert("gemma3.rope.scaling.factor".into(), Value::F32(factor));
            });
            let err = config(&md).unwrap_err().to_string();
            assert!(
                err.contains("RoPE scaling") || err.contains("scaling.factor"),
                "{kind} {factor}: {err}"
            );
        }
    }

    #[test]
    fn llama_files_are_plain_and_qwen3_has_qk_norm() {
        let llama = |arch: &str, tensors: &[&str]| {
            let mut md = Metadata::default();
            md.insert("general.architecture".into(), Value::String(arch.into()));
            for (k, v) in [
                ("context_length", 64),
                ("embedding_length", 64),
                ("block_count", 1),
                ("feed_forward_length", 128),
                ("attention.head_count", 2),
                ("vocab_size", 16),
            ] {
                md.insert(format!("{arch}.{k}"), Value::U32(v));
            }
            md.insert(
                format!("{arch}.attention.layer_norm_rms_epsilon"),
                Value::F32(1e-6),
            );
            md.insert(format!("{arch}.rope.freq_base"), Value::F32(1e6));
            Config::from_metadata(&md, tensors.iter().copied())
        };
        let plain = llama("llama", &[]).unwrap();
        assert!(plain.graph_extensions().is_empty());
        assert!(!plain.rope_freq_factors);
        let llama3 = llama("llama", &[names::ROPE_FREQS]).unwrap();
        assert!(llama3.rope_freq_factors);
        assert_eq!(llama3.graph_extensions(), ["RoPE scaling"]);
        let qwen3 = llama("qwen3", &[]).unwrap();
        assert!(qwen3.qk_norm && !qwen3.post_norms);
        assert_eq!(qwen3.rope_style, RopeStyle::Neox);
        assert_eq!(qwen3.graph_extensions(), ["QK-norm"]);
        assert!(matches!(
            llama("gemma2", &[]),
            Err(ModelError::UnsupportedArchitecture(a)) if a == "gemma2"
        ));
    }
}
