//! How many positions a session's KV cache may hold: the size asked for, at most the model's
//! context length, and never more than memory allows, checked before anything is allocated.

use crate::config::Config;
use crate::error::{ModelError, Result};

/// The context of a session that asks for none where the cache is allocated whole (the GPU
/// backend, the page), or the model's context length where that is smaller: the f32 KV cache of
/// the default model costs 45 KiB per position, so its context length (8192) would take 370 MB.
pub const DEFAULT_CONTEXT: usize = 2048;

/// Most bytes of KV cache (keys and values in f32, every layer) a context may need.
#[cfg(not(target_arch = "wasm32"))]
pub const MAX_KV_BYTES: u64 = 16 << 30;
/// In the browser: wasm32 memory holds 4 GiB at most, weights included.
#[cfg(target_arch = "wasm32")]
pub const MAX_KV_BYTES: u64 = 1 << 30;

/// Most positions of any context: RoPE computes positions in f32, exact up to 2^24.
pub const MAX_POSITIONS: usize = 1 << 24;

impl Config {
    /// Bytes of KV cache one position takes (keys and values in f32, every layer).
    pub fn kv_bytes_per_position(&self) -> u64 {
        2 * self.n_layer as u64 * self.kv_dim() as u64 * 4
    }

    /// The largest context a session may have: [`MAX_POSITIONS`], and [`MAX_KV_BYTES`] of KV cache.
    pub fn max_context(&self) -> usize {
        let by_memory = MAX_KV_BYTES / self.kv_bytes_per_position().max(1);
        MAX_POSITIONS.min(usize::try_from(by_memory).unwrap_or(usize::MAX))
    }

    /// Refuses a context larger than [`Config::max_context`], naming the limit.
    pub fn check_context(&self, n_ctx: usize) -> Result<()> {
        let limit = self.max_context();
        if n_ctx <= limit {
            return Ok(());
        }
        let bytes = self.kv_bytes_per_position() as u128 * n_ctx as u128;
        Err(ModelError::ContextTooLarge {
            n_ctx,
            limit,
            why: format!(
                "its KV cache would take {} (at most {} of KV cache and {MAX_POSITIONS} positions)",
                human_bytes(bytes),
                human_bytes(MAX_KV_BYTES.into()),
            ),
        })
    }

    /// The context a session gets: `requested` (or `default` when `None`) up to the model's
    /// context length. A request past [`Config::max_context`] is an error; a model whose
    /// context length is larger than that limit gets the limit when nothing is asked.
    pub fn context_size(&self, requested: Option<usize>, default: usize) -> Result<usize> {
        match requested {
            Some(0) => Err(ModelError::Invalid(
                "a context of 0 positions (at least 1 is needed)".into(),
            )),
            Some(n) => {
                self.check_context(n)?;
                Ok(n.min(self.n_ctx_train.max(1)))
            }
            None => Ok(default.min(self.n_ctx_train).min(self.max_context()).max(1)),
        }
    }
}

/// "16 GiB", "4.3 TiB": bytes in binary units, for errors.
pub fn human_bytes(bytes: u128) -> String {
    const UNITS: [&str; 6] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bytes} bytes"),
        _ if value.fract() == 0.0 => format!("{value} {}", UNITS[unit]),
        _ => format!("{value:.1} {}", UNITS[unit]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FfnActivation, RopeStyle};

    /// The default model's shape (30 layers, 3 KV heads of 64) with context length `n_ctx_train`.
    fn config(n_ctx_train: usize) -> Config {
        Config {
            arch: "llama".into(),
            n_vocab: 49152,
            n_embd: 576,
            n_layer: 30,
            n_head: 9,
            n_head_kv: 3,
            head_dim: 64,
            n_ff: 1536,
            rope_dims: 64,
            rope_base: 10_000.0,
            rope_style: RopeStyle::Norm,
            rms_eps: 1e-5,
            n_ctx_train,
            tied_embeddings: true,
            qkv_bias: false,
            rope_freq_scale: 1.0,
            rope_freq_factors: false,
            qk_norm: false,
            post_norms: false,
            ffn_activation: FfnActivation::Silu,
            embd_scale: 1.0,
            attn_scale: 0.125,
            sliding_window: None,
        }
    }

    #[test]
    fn a_request_is_capped_by_the_context_length_and_refused_past_memory() {
        let cfg = config(8192);
        assert_eq!(cfg.kv_bytes_per_position(), 46_080);
        assert_eq!(cfg.context_size(Some(512), DEFAULT_CONTEXT).unwrap(), 512);
        assert_eq!(
            cfg.context_size(Some(100_000), DEFAULT_CONTEXT).unwrap(),
            8192
        );
        assert_eq!(
            cfg.context_size(None, DEFAULT_CONTEXT).unwrap(),
            DEFAULT_CONTEXT
        );
        assert_eq!(cfg.context_size(None, cfg.n_ctx_train).unwrap(), 8192);
        let limit = cfg.max_context();
        assert_eq!(limit as u64, MAX_KV_BYTES / 46_080);
        assert!(cfg.context_size(Some(limit), DEFAULT_CONTEXT).is_ok());
        let err = cfg
            .context_size(Some(100_000_000), DEFAULT_CONTEXT)
            .unwrap_err();
        match &err {
            ModelError::ContextTooLarge {
                n_ctx, limit: l, ..
            } => {
                assert_eq!((*n_ctx, *l), (100_000_000, limit));
            }
            other => panic!("{other}"),
        }
        let text = err.to_string();
        assert!(
            text.contains(&limit.to_string()) && text.contains("TiB"),
            "{text}"
        );
        assert!(cfg.context_size(Some(0), DEFAULT_CONTEXT).is_err());
    }

    #[test]
    fn an_absurd_context_length_gets_a_bounded_default() {
        let cfg = config(u32::MAX as usize);
        assert_eq!(
            cfg.context_size(None, DEFAULT_CONTEXT).unwrap(),
            DEFAULT_CONTEXT
        );
        assert_eq!(
            cfg.context_size(None, cfg.n_ctx_train).unwrap(),
            cfg.max_context()
        );
        // Tiny positions: the position cap binds before the memory one.
        let mut tiny = config(usize::MAX);
        tiny.n_layer = 1;
        tiny.n_head_kv = 1;
        tiny.head_dim = 4;
        assert_eq!(tiny.max_context(), MAX_POSITIONS);
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(16 << 30), "16 GiB");
        assert_eq!(human_bytes(3 << 19), "1.5 MiB");
    }
}
