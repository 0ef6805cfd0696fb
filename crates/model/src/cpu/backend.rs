//! The CPU backend: the llama-family graph (with its optional parts, see [`Config`]) over the
//! mapped GGUF weights, with a KV cache.

use super::kernels::{self, QuantActs};
use super::ops;
use super::pool::{Pool, share_range};
use crate::backend::{Backend, LogitsFor};
use crate::config::{Config, FfnActivation, names};
use crate::error::{ModelError, Result};
use crate::file::{ModelFile, WeightRef};

struct Layer {
    attn_norm: Vec<f32>,
    wq: WeightRef,
    wk: WeightRef,
    wv: WeightRef,
    wo: WeightRef,
    /// Qwen2's q, k and v biases.
    bias: Option<[Vec<f32>; 3]>,
    /// QK-norm weights of the query and key heads (`head_dim` each).
    qk_norm: Option<[Vec<f32>; 2]>,
    /// Gemma's norms after attention and after the feed-forward block.
    post_norms: Option<[Vec<f32>; 2]>,
    ffn_norm: Vec<f32>,
    w_gate: WeightRef,
    w_up: WeightRef,
    w_down: WeightRef,
}

/// Keys and values of every position seen so far, one buffer per layer (`[position][kv head][head_dim]`).
///
/// Stored as f32: an f16 cache (llama.cpp's default) alone moves this model's entropies by up to
/// 8e-3 nats, more than tokscope's fidelity bound (tests/golden/README.md).
struct KvCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    len: usize,
}

/// The llama-family model on the CPU.
pub struct CpuBackend {
    file: ModelFile,
    cfg: Config,
    layers: Vec<Layer>,
    token_embd: WeightRef,
    output: WeightRef,
    output_norm: Vec<f32>,
    /// Llama 3's RoPE frequency factors.
    rope_freqs: Option<Vec<f32>>,
    cache: KvCache,
    n_ctx: usize,
    pool: Pool,
    acts: QuantActs,
    precision: Precision,
}

/// How the CPU backend multiplies activations with the quantized weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// f32 activations, each weight block dequantized in registers: llama.cpp's f32 arithmetic on
    /// the file's weights, within 1e-3 nats (the default).
    #[default]
    Exact,
    /// Activations rounded to 8 bits per block (Q8_0/Q8_1) as llama.cpp's CPU backend does: faster
    /// integer dot products, but on small models the rounding noise moves log-probabilities by
    /// up to ~1 nat against any other implementation.
    Q8,
}

/// A raw output pointer shared by the pool's shares, each writing a disjoint part.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
// SAFETY: every parallel section below writes disjoint index ranges through it.
unsafe impl Sync for SharedOut {}
unsafe impl Send for SharedOut {}

impl SharedOut {
    /// The pointer, through a method so that closures capture the whole `Sync` wrapper.
    fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

impl CpuBackend {
    /// Prepares the model for the CPU with `threads` threads and the model's training context
    /// (at most [`Config::max_context`]).
    pub fn new(file: ModelFile, threads: usize) -> Result<Self> {
        let n_ctx = file.config.context_size(None, file.config.n_ctx_train)?;
        Self::with_context(file, threads, n_ctx)
    }

    /// As [`CpuBackend::new`] with an explicit context size (positions the cache may hold; an
    /// error past [`Config::max_context`]). The cache grows with the positions it holds.
    pub fn with_context(file: ModelFile, threads: usize, n_ctx: usize) -> Result<Self> {
        let n_layers = file.config.n_layer;
        Self::with_layers(file, threads, n_ctx, n_layers)
    }

    /// The model cut after its first `n_layers` blocks, then the final norm and LM head, with its own KV cache:
    /// the self-speculative (early-exit) draft model. `n_layers` must be in `1..=n_layer`.
    pub fn with_layers(
        file: ModelFile,
        threads: usize,
        n_ctx: usize,
        n_layers: usize,
    ) -> Result<Self> {
        file.config.check_context(n_ctx)?;
        if n_layers == 0 || n_layers > file.config.n_layer {
            return Err(ModelError::Invalid(format!(
                "cannot keep {n_layers} layers of a model with {}",
                file.config.n_layer
            )));
        }
        let mut cfg = file.config.clone();
        cfg.n_layer = n_layers;
        let (d, q_dim, kv_dim) = (cfg.n_embd, cfg.q_dim(), cfg.kv_dim());
        let layers = (0..cfg.n_layer)
            .map(|l| {
                let name = |part: &str| names::block(l, part);
                Ok(Layer {
                    attn_norm: file.vector(&name("attn_norm.weight"), d)?,
                    wq: file.weight(&name("attn_q.weight"), q_dim, d)?,
                    wk: file.weight(&name("attn_k.weight"), kv_dim, d)?,
                    wv: file.weight(&name("attn_v.weight"), kv_dim, d)?,
                    wo: file.weight(&name("attn_output.weight"), d, q_dim)?,
                    bias: if cfg.qkv_bias {
                        Some([
                            file.vector(&name("attn_q.bias"), q_dim)?,
                            file.vector(&name("attn_k.bias"), kv_dim)?,
                            file.vector(&name("attn_v.bias"), kv_dim)?,
                        ])
                    } else {
                        None
                    },
                    qk_norm: if cfg.qk_norm {
                        Some([
                            file.vector(&name("attn_q_norm.weight"), cfg.head_dim)?,
                            file.vector(&name("attn_k_norm.weight"), cfg.head_dim)?,
                        ])
                    } else {
                        None
                    },
                    post_norms: if cfg.post_norms {
                        Some([
                            file.vector(&name("post_attention_norm.weight"), d)?,
                            file.vector(&name("post_ffw_norm.weight"), d)?,
                        ])
                    } else {
                        None
                    },
                    ffn_norm: file.vector(&name("ffn_norm.weight"), d)?,
                    w_gate: file.weight(&name("ffn_gate.weight"), cfg.n_ff, d)?,
                    w_up: file.weight(&name("ffn_up.weight"), cfg.n_ff, d)?,
                    w_down: file.weight(&name("ffn_down.weight"), d, cfg.n_ff)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let token_embd = file.weight(names::TOKEN_EMBD, cfg.n_vocab, d)?;
        let output = if cfg.tied_embeddings {
            token_embd
        } else {
            file.weight(names::OUTPUT, cfg.n_vocab, d)?
        };
        let output_norm = file.vector(names::OUTPUT_NORM, d)?;
        let rope_freqs = if cfg.rope_freq_factors {
            let factors = file.vector(names::ROPE_FREQS, cfg.rope_dims / 2)?;
            if let Some(f) = factors.iter().find(|f| !(f.is_finite() && **f > 0.0)) {
                return Err(ModelError::Invalid(format!(
                    "{} holds the RoPE frequency factor {f}",
                    names::ROPE_FREQS
                )));
            }
            Some(factors)
        } else {
            None
        };
        Ok(Self {
            cache: KvCache {
                k: vec![Vec::new(); cfg.n_layer],
                v: vec![Vec::new(); cfg.n_layer],
                len: 0,
            },
            layers,
            token_embd,
            output,
            output_norm,
            rope_freqs,
            n_ctx: n_ctx.max(1),
            pool: Pool::new(threads),
            acts: QuantActs::default(),
            precision: Precision::default(),
            cfg,
            file,
        })
    }

    /// Chooses the arithmetic of the matrix products (see [`Precision`]).
    pub fn set_precision(&mut self, precision: Precision) {
        self.precision = precision;
    }

    /// The parsed file this backend computes from (metadata for the tokenizer, facts for the UI).
    pub fn file(&self) -> &ModelFile {
        &self.file
    }

    fn bytes(&self, w: &WeightRef) -> &[u8] {
        &self.file.bytes[w.offset..w.offset + w.n_bytes]
    }

    /// `outs[i] = x · weights[i]ᵀ` for activations `x` of `n` rows, rows split across threads.
    /// Each output is laid out `[token][row]`.
    fn project(&mut self, x: &[f32], n: usize, weights: &[WeightRef], outs: &mut [&mut Vec<f32>]) {
        let cols = weights[0].cols;
        let mut acts = std::mem::take(&mut self.acts);
        let mut i = 0;
        while i < weights.len() {
            // Weights that share a dot format share one conversion of the activations.
            let ty = weights[i].ty;
            let group_end = match self.precision {
                Precision::Exact => weights.len(),
                Precision::Q8 => (i..weights.len())
                    .find(|&j| weights[j].ty != ty)
                    .unwrap_or(weights.len()),
            };
            match self.precision {
                Precision::Exact => acts.set_f32(x, n, cols),
                Precision::Q8 => acts.quantize(x, n, cols, ty),
            }
            let mut transposed: Vec<Vec<f32>> = weights[i..group_end]
                .iter()
                .map(|w| vec![0.0; w.rows * n])
                .collect();
            {
                let ptrs: Vec<SharedOut> = transposed
                    .iter_mut()
                    .map(|t| SharedOut(t.as_mut_ptr()))
                    .collect();
                let group = &weights[i..group_end];
                let acts = &acts;
                let shares = self.pool.shares();
                self.pool.run(&|share| {
                    for (w, out) in group.iter().zip(&ptrs) {
                        let rows = share_range(w.rows, share, shares, 4);
                        if rows.is_empty() {
                            continue;
                        }
                        let rb = w.row_bytes();
                        let data =
                            &self.file.bytes[w.offset + rows.start * rb..w.offset + rows.end * rb];
                        // SAFETY: shares write disjoint row ranges of `out`, which outlives `run`.
                        let out = unsafe {
                            std::slice::from_raw_parts_mut(out.at(rows.start * n), rows.len() * n)
                        };
                        kernels::matmul(w.ty, data, acts, out);
                    }
                });
            }
            for (k, t) in transposed.into_iter().enumerate() {
                let out = &mut *outs[i + k];
                let rows = weights[i + k].rows;
                out.resize(rows * n, 0.0);
                if n == 1 {
                    out.copy_from_slice(&t);
                } else {
                    for r in 0..rows {
                        for tok in 0..n {
                            out[tok * rows + r] = t[r * n + tok];
                        }
                    }
                }
            }
            i = group_end;
        }
        self.acts = acts;
    }

    /// Causal attention of `n` new tokens at positions `start..` (queries `q`, `[token][q_dim]`)
    /// over the cache, which already holds their keys and values; writes `[token][q_dim]` into `out`.
    fn attention(&self, layer: usize, q: &[f32], n: usize, start: usize, out: &mut [f32]) {
        let cfg = &self.cfg;
        let (hd, q_dim, kv_dim) = (cfg.head_dim, cfg.q_dim(), cfg.kv_dim());
        let group = cfg.n_head / cfg.n_head_kv;
        let scale = cfg.attn_scale;
        // A local layer's query sees the last `window` positions, itself included.
        let window = cfg
            .sliding_window
            .filter(|sw| sw.is_local(layer))
            .map_or(usize::MAX, |sw| sw.window);
        let (kc, vc) = (&self.cache.k[layer], &self.cache.v[layer]);
        let jobs = n * cfg.n_head;
        let out_ptr = SharedOut(out.as_mut_ptr());
        let shares = self.pool.shares();
        self.pool.run(&|share| {
            let mut scores = Vec::new();
            let mut acc = vec![0.0f32; hd];
            for job in share_range(jobs, share, shares, 1) {
                let (t, h) = (job / cfg.n_head, job % cfg.n_head);
                let kvh = h / group;
                let len = start + t + 1;
                let first = len.saturating_sub(window);
                let qh = &q[t * q_dim + h * hd..t * q_dim + (h + 1) * hd];
                scores.clear();
                for p in first..len {
                    let k = &kc[p * kv_dim + kvh * hd..p * kv_dim + (kvh + 1) * hd];
                    let dot: f32 = qh.iter().zip(k).map(|(a, b)| a * b).sum();
                    scores.push(dot * scale);
                }
                ops::softmax(&mut scores);
                acc.fill(0.0);
                for (p, &w) in (first..len).zip(&scores) {
                    let v = &vc[p * kv_dim + kvh * hd..p * kv_dim + (kvh + 1) * hd];
                    for (a, b) in acc.iter_mut().zip(v) {
                        *a += w * b;
                    }
                }
                // SAFETY: each (token, head) job owns its own `hd` outputs.
                let dst =
                    unsafe { std::slice::from_raw_parts_mut(out_ptr.at(t * q_dim + h * hd), hd) };
                dst.copy_from_slice(&acc);
            }
        });
    }
}

impl Backend for CpuBackend {
    fn config(&self) -> &Config {
        &self.cfg
    }

    fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    fn cache_len(&self) -> usize {
        self.cache.len
    }

    fn truncate(&mut self, len: usize) {
        let len = len.min(self.cache.len);
        let kv_dim = self.cfg.kv_dim();
        for buf in self.cache.k.iter_mut().chain(self.cache.v.iter_mut()) {
            buf.truncate(len * kv_dim);
        }
        self.cache.len = len;
    }

    fn forward(&mut self, tokens: &[u32], which: LogitsFor) -> Result<Vec<f32>> {
        let n = tokens.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        if self.cache.len + n > self.n_ctx {
            return Err(ModelError::ContextOverflow {
                needed: self.cache.len + n,
                n_ctx: self.n_ctx,
            });
        }
        let cfg = self.cfg.clone();
        if let Some(&id) = tokens.iter().find(|&&id| id as usize >= cfg.n_vocab) {
            return Err(ModelError::BadToken {
                id,
                n_vocab: cfg.n_vocab,
            });
        }
        let (d, q_dim, kv_dim) = (cfg.n_embd, cfg.q_dim(), cfg.kv_dim());
        let start = self.cache.len;

        let mut x = vec![0.0f32; n * d];
        let rb = self.token_embd.row_bytes();
        for (row, &id) in x.chunks_exact_mut(d).zip(tokens) {
            let off = id as usize * rb;
            let src = &self.bytes(&self.token_embd)[off..off + rb];
            tokscope_gguf::blocks::dequantize_row(self.token_embd.ty, src, row)
                .map_err(|e| ModelError::Invalid(e.to_string()))?;
            if cfg.embd_scale != 1.0 {
                row.iter_mut().for_each(|v| *v *= cfg.embd_scale);
            }
        }

        let (mut h, mut q, mut k, mut v) = (vec![0.0; n * d], Vec::new(), Vec::new(), Vec::new());
        let (mut att, mut o, mut gate, mut up, mut down) = (
            vec![0.0; n * q_dim],
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        for l in 0..cfg.n_layer {
            let layer = &self.layers[l];
            for (xt, ht) in x.chunks_exact(d).zip(h.chunks_exact_mut(d)) {
                ops::rms_norm(xt, &layer.attn_norm, cfg.rms_eps, ht);
            }
            let (wq, wk, wv) = (layer.wq, layer.wk, layer.wv);
            self.project(&h, n, &[wq, wk, wv], &mut [&mut q, &mut k, &mut v]);
            let layer = &self.layers[l];
            if let Some([bq, bk, bv]) = &layer.bias {
                for (buf, b) in [(&mut q, bq), (&mut k, bk), (&mut v, bv)] {
                    for row in buf.chunks_exact_mut(b.len()) {
                        row.iter_mut().zip(b).for_each(|(a, b)| *a += b);
                    }
                }
            }
            if let Some([qn, kn]) = &layer.qk_norm {
                for (buf, w) in [(&mut q, qn), (&mut k, kn)] {
                    for head in buf.chunks_exact_mut(cfg.head_dim) {
                        let normed = head.to_vec();
                        ops::rms_norm(&normed, w, cfg.rms_eps, head);
                    }
                }
            }
            let (base, freq_scale) = cfg.rope_of_layer(l);
            let rope = ops::Rope {
                head_dim: cfg.head_dim,
                dims: cfg.rope_dims,
                base,
                freq_scale,
                factors: self.rope_freqs.as_deref(),
                style: cfg.rope_style,
            };
            for t in 0..n {
                rope.apply(&mut q[t * q_dim..(t + 1) * q_dim], start + t);
                rope.apply(&mut k[t * kv_dim..(t + 1) * kv_dim], start + t);
            }
            self.cache.k[l].extend_from_slice(&k);
            self.cache.v[l].extend_from_slice(&v);
            self.attention(l, &q, n, start, &mut att);
            let wo = self.layers[l].wo;
            self.project(&att, n, &[wo], &mut [&mut o]);
            if let Some([post, _]) = &self.layers[l].post_norms {
                post_norm(&mut o, post, cfg.rms_eps);
            }
            x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);

            let layer = &self.layers[l];
            for (xt, ht) in x.chunks_exact(d).zip(h.chunks_exact_mut(d)) {
                ops::rms_norm(xt, &layer.ffn_norm, cfg.rms_eps, ht);
            }
            let (wg, wu, wd) = (layer.w_gate, layer.w_up, layer.w_down);
            self.project(&h, n, &[wg, wu], &mut [&mut gate, &mut up]);
            match cfg.ffn_activation {
                FfnActivation::Silu => ops::silu_mul(&mut gate, &up),
                FfnActivation::GeluTanh => ops::gelu_mul(&mut gate, &up),
            }
            self.project(&gate, n, &[wd], &mut [&mut down]);
            if let Some([_, post]) = &self.layers[l].post_norms {
                post_norm(&mut down, post, cfg.rms_eps);
            }
            x.iter_mut().zip(&down).for_each(|(a, b)| *a += b);
        }
        self.cache.len = start + n;

        let first = match which {
            LogitsFor::Last => n - 1,
            LogitsFor::All => 0,
        };
        let m = n - first;
        let mut normed = vec![0.0; m * d];
        for (xt, ht) in x[first * d..]
            .chunks_exact(d)
            .zip(normed.chunks_exact_mut(d))
        {
            ops::rms_norm(xt, &self.output_norm, cfg.rms_eps, ht);
        }
        let mut logits = Vec::new();
        let output = self.output;
        self.project(&normed, m, &[output], &mut [&mut logits]);
        Ok(logits)
    }

    fn describe(&self) -> String {
        let precision = match self.precision {
            Precision::Exact => "f32",
            Precision::Q8 => "q8",
        };
        let threads = match self.pool.threads() {
            1 => "1 thread".to_string(),
            n => format!("{n} threads"),
        };
        format!(
            "cpu ({}, {precision} activations, {threads})",
            kernels::isa_label()
        )
    }
}

/// Gemma's post-norm, in place on every token's row of `x`.
fn post_norm(x: &mut [f32], weight: &[f32], eps: f32) {
    let mut row = vec![0.0; weight.len()];
    for xt in x.chunks_exact_mut(weight.len()) {
        row.copy_from_slice(xt);
        ops::rms_norm(&row, weight, eps, xt);
    }
}
