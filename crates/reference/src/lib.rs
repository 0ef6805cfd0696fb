//! The llama-family forward pass written plainly with Burn tensors (ndarray backend, f32) from
//! dequantized weights: the executable specification that the CPU and GPU backends are
//! differentially tested against. Clarity wins over speed everywhere in this crate.
//!
//! The graph is llama.cpp's llama graph with the optional parts of qwen2, qwen3 and gemma3
//! (in brackets, each present where [`Config`] says so):
//! ```text
//! x = token_embd[token] [· √n_embd]
//! per layer:  h = rmsnorm(x) · attn_norm
//!             q, k, v = Wq h (+ bq), Wk h (+ bk), Wv h (+ bv)
//!             [q, k = rmsnorm(q) · q_norm, rmsnorm(k) · k_norm       per head]
//!             q, k = rope(q, pos), rope(k, pos)            per head, the layer's base and scaling
//!             o = softmax(q·kᵀ · attn_scale + mask) · v    (query head j reads KV head j / group)
//!                 mask: causal [and, in a local layer, only the last `window` positions]
//!             x += [rmsnorm(] Wo o [) · post_attention_norm]
//!             h = rmsnorm(x) · ffn_norm
//!             x += [rmsnorm(] Wdown (act(Wgate h) * (Wup h)) [) · post_ffw_norm]
//!                 act: silu, [or ggml's f16-table GELU]
//! logits = Wout (rmsnorm(x) · output_norm)                  Wout = token_embd when tied
//! ```
//! with `rmsnorm(x) = x / sqrt(mean(x²) + eps)`; RoPE turns pair `i` at position `pos` by
//! `freq_scale · pos · base^(-2i/rope_dims) / factor_i` (Llama 3's `rope_freqs` factors).

pub mod tiny;

use burn::tensor::activation::{silu, softmax};
use burn::tensor::{DType, Device, Tensor, TensorData};
use tokscope_gguf::{GgmlType, Gguf, blocks};
use tokscope_model::config::names;
use tokscope_model::{Config, FfnActivation, RopeStyle};

/// What happens to the activations that enter each weight matmul.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Activations {
    /// Exact f32: the mathematical model.
    #[default]
    Exact,
    /// Rounded the way llama.cpp's CPU backend stores them: each matmul's input goes through the
    /// format that weight type is dotted with ([`blocks::vec_dot_type`]: Q8_0 for Q4_0 and Q8_0
    /// weights, Q8_1 for Q4_1, F16 for F16), with Q4_1's f16 block sums; keys and values stay
    /// f32, as the CPU backend keeps its cache (llama.cpp's default cache is f16). This splits a
    /// backend's difference from the exact model into "activation quantization" and "the rest".
    LikeLlamaCpp,
}

/// A weight matrix `rows × cols` (outputs × inputs, `y = W x`), dequantized, with the type it was
/// stored as (which decides how [`Activations::LikeLlamaCpp`] rounds its inputs).
struct Weight {
    w: Tensor<2>,
    ty: GgmlType,
    /// Q4_1 only: each block's offset `m`, `rows × cols/32`. llama.cpp's Q4_1·Q8_1 dot adds
    /// `m · s` per block with the activation block's sum `s` stored as f16, which
    /// [`Activations::LikeLlamaCpp`] reproduces.
    q4_1_mins: Option<Tensor<2>>,
}

/// One transformer block.
struct Layer {
    attn_norm: Tensor<1>,
    q: Weight,
    k: Weight,
    v: Weight,
    /// Qwen2's q/k/v biases.
    qkv_bias: Option<[Tensor<1>; 3]>,
    /// QK-norm weights (qwen3, gemma3), `head_dim` each.
    qk_norm: Option<[Tensor<1>; 2]>,
    o: Weight,
    /// Gemma's norms after attention and after the feed-forward block.
    post_norms: Option<[Tensor<1>; 2]>,
    ffn_norm: Tensor<1>,
    gate: Weight,
    up: Weight,
    down: Weight,
}

/// The whole model, weights dequantized to f32 Burn tensors.
pub struct Reference {
    config: Config,
    device: Device,
    activations: Activations,
    /// `n_vocab × n_embd`, row `t` is token `t`'s embedding.
    token_embd: Vec<f32>,
    layers: Vec<Layer>,
    output_norm: Tensor<1>,
    /// The LM head, `n_vocab × n_embd` (the token embedding when tied).
    output: Weight,
    /// Llama 3's RoPE frequency factors, `rope_dims / 2`.
    rope_freqs: Option<Vec<f32>>,
}

impl Reference {
    /// Reads a GGUF file of a llama-family model and dequantizes every weight, on Burn's plain
    /// CPU backend.
    pub fn from_gguf(bytes: &[u8]) -> Result<Self, String> {
        // The ndarray backend is deprecated in Burn 0.22 in favour of flex, but it is the plain
        // CPU backend the architecture names for the reference; it still computes in f32.
        #[allow(deprecated)]
        Self::from_gguf_on(bytes, Device::ndarray())
    }

    /// [`Reference::from_gguf`] on another Burn device: with the `wgpu` feature, Burn's own GPU
    /// backend, which the benchmarks compare tokscope's kernels against.
    pub fn from_gguf_on(bytes: &[u8], device: Device) -> Result<Self, String> {
        let gguf = Gguf::parse(bytes).map_err(|e| e.to_string())?;
        let config =
            Config::from_metadata(&gguf.metadata, gguf.tensors.iter().map(|t| t.name.as_str()))
                .map_err(|e| e.to_string())?;
        let loader = Loader {
            gguf: &gguf,
            device: &device,
        };

        let c = &config;
        let (token_embd, _) = loader.matrix(names::TOKEN_EMBD, c.n_vocab, c.n_embd)?;
        let mut layers = Vec::with_capacity(c.n_layer);
        for l in 0..c.n_layer {
            let part = |p: &str| names::block(l, p);
            let qkv_bias = if c.qkv_bias {
                Some([
                    loader.vector(&part("attn_q.bias"), c.q_dim())?,
                    loader.vector(&part("attn_k.bias"), c.kv_dim())?,
                    loader.vector(&part("attn_v.bias"), c.kv_dim())?,
                ])
            } else {
                None
            };
            let qk_norm = if c.qk_norm {
                Some([
                    loader.vector(&part("attn_q_norm.weight"), c.head_dim)?,
                    loader.vector(&part("attn_k_norm.weight"), c.head_dim)?,
                ])
            } else {
                None
            };
            let post_norms = if c.post_norms {
                Some([
                    loader.vector(&part("post_attention_norm.weight"), c.n_embd)?,
                    loader.vector(&part("post_ffw_norm.weight"), c.n_embd)?,
                ])
            } else {
                None
            };
            layers.push(Layer {
                attn_norm: loader.vector(&part("attn_norm.weight"), c.n_embd)?,
                q: loader.weight(&part("attn_q.weight"), c.q_dim(), c.n_embd)?,
                k: loader.weight(&part("attn_k.weight"), c.kv_dim(), c.n_embd)?,
                v: loader.weight(&part("attn_v.weight"), c.kv_dim(), c.n_embd)?,
                qkv_bias,
                qk_norm,
                post_norms,
                o: loader.weight(&part("attn_output.weight"), c.n_embd, c.q_dim())?,
                ffn_norm: loader.vector(&part("ffn_norm.weight"), c.n_embd)?,
                gate: loader.weight(&part("ffn_gate.weight"), c.n_ff, c.n_embd)?,
                up: loader.weight(&part("ffn_up.weight"), c.n_ff, c.n_embd)?,
                down: loader.weight(&part("ffn_down.weight"), c.n_embd, c.n_ff)?,
            });
        }
        let output_norm = loader.vector(names::OUTPUT_NORM, c.n_embd)?;
        let output = if c.tied_embeddings {
            loader.weight(names::TOKEN_EMBD, c.n_vocab, c.n_embd)?
        } else {
            loader.weight(names::OUTPUT, c.n_vocab, c.n_embd)?
        };
        let rope_freqs = if c.rope_freq_factors {
            Some(loader.dequantized(names::ROPE_FREQS, &[c.rope_dims / 2])?.0)
        } else {
            None
        };
        Ok(Self {
            config,
            device,
            activations: Activations::Exact,
            token_embd,
            layers,
            output_norm,
            output,
            rope_freqs,
        })
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Chooses how activations enter the weight matmuls (exact by default).
    pub fn set_activations(&mut self, activations: Activations) {
        self.activations = activations;
    }

    /// Logits (`n_vocab` each) for every position of `tokens`, which sit at positions `0..`,
    /// with full causal attention. Errors on an empty input or a token id outside the vocabulary.
    pub fn forward(&self, tokens: &[u32]) -> Result<Vec<Vec<f32>>, String> {
        let c = &self.config;
        let n = tokens.len();
        if n == 0 {
            return Err("no tokens".into());
        }

        // x = token_embd[token]
        let mut x0 = Vec::with_capacity(n * c.n_embd);
        for &t in tokens {
            let t = t as usize;
            if t >= c.n_vocab {
                return Err(format!(
                    "token {t} is outside the vocabulary of {}",
                    c.n_vocab
                ));
            }
            x0.extend_from_slice(&self.token_embd[t * c.n_embd..(t + 1) * c.n_embd]);
        }
        let mut x = self.tensor2(x0, n, c.n_embd).mul_scalar(c.embd_scale);

        for (l, layer) in self.layers.iter().enumerate() {
            let (base, freq_scale) = c.rope_of_layer(l);
            let rope = self.rope_matrices(n, base, freq_scale);
            let window = c
                .sliding_window
                .filter(|sw| sw.is_local(l))
                .map(|sw| sw.window);
            let mask = self.causal_mask(n, window);
            // Attention.
            let h = rms_norm(x.clone(), &layer.attn_norm, c.rms_eps);
            let mut q = self.matmul(h.clone(), &layer.q)?;
            let mut k = self.matmul(h.clone(), &layer.k)?;
            let mut v = self.matmul(h, &layer.v)?;
            if let Some([bq, bk, bv]) = &layer.qkv_bias {
                q = q + bq.clone().unsqueeze();
                k = k + bk.clone().unsqueeze();
                v = v + bv.clone().unsqueeze();
            }
            let o = self.attention(q, k, v, layer.qk_norm.as_ref(), &rope, &mask)?;
            let mut attn_out = self.matmul(o, &layer.o)?;
            if let Some([post, _]) = &layer.post_norms {
                attn_out = rms_norm(attn_out, post, c.rms_eps);
            }
            x = x + attn_out;

            // Feed-forward (gated: SwiGLU or GeGLU).
            let h = rms_norm(x.clone(), &layer.ffn_norm, c.rms_eps);
            let gate = self.matmul(h.clone(), &layer.gate)?;
            let gate = match c.ffn_activation {
                FfnActivation::Silu => silu(gate),
                FfnActivation::GeluTanh => self.gelu_like_ggml(gate)?,
            };
            let up = self.matmul(h, &layer.up)?;
            let mut ffn_out = self.matmul(gate * up, &layer.down)?;
            if let Some([_, post]) = &layer.post_norms {
                ffn_out = rms_norm(ffn_out, post, c.rms_eps);
            }
            x = x + ffn_out;
        }
        let h = rms_norm(x, &self.output_norm, c.rms_eps);
        let logits = to_vec(self.matmul(h, &self.output)?)?;
        Ok(logits
            .chunks_exact(c.n_vocab)
            .map(<[f32]>::to_vec)
            .collect())
    }

    /// Causal multi-head attention with grouped KV heads. `q` is `n × (n_head·head_dim)`, `k` and
    /// `v` are `n × (n_head_kv·head_dim)`; returns the heads' outputs concatenated, `n × q_dim`.
    /// With `qk_norm`, each query and key head is RMS-normed (times its weight) before RoPE.
    fn attention(
        &self,
        q: Tensor<2>,
        k: Tensor<2>,
        v: Tensor<2>,
        qk_norm: Option<&[Tensor<1>; 2]>,
        rope: &Tensor<3>,
        mask: &Tensor<3>,
    ) -> Result<Tensor<2>, String> {
        let c = &self.config;
        let n = q.dims()[0];
        let (d, n_head, n_kv) = (c.head_dim, c.n_head, c.n_head_kv);
        let group = n_head / n_kv;

        let (mut q, mut k) = (q.reshape([n, n_head, d]), k.reshape([n, n_kv, d]));
        if let Some([qn, kn]) = qk_norm {
            q = rms_norm_heads(q, qn, c.rms_eps);
            k = rms_norm_heads(k, kn, c.rms_eps);
        }
        // RoPE: each position's head vectors times that position's rotation matrix
        // ([n, heads, d] · [n, d, d]ᵀ, one matrix per position).
        let q = q.matmul(rope.clone().transpose());
        let k = k.matmul(rope.clone().transpose());
        let v = v.reshape([n, n_kv, d]);

        // GQA: KV head h serves query heads h·group .. (h+1)·group, so repeating each KV head
        // `group` times in place lines KV head j / group up with query head j.
        let expand = |t: Tensor<3>| -> Tensor<3> {
            t.unsqueeze_dim::<4>(2)
                .repeat_dim(2, group)
                .reshape([n, n_head, d])
        };
        let (k, v) = (expand(k), expand(v));

        // Per head: softmax(q kᵀ / sqrt(d) + mask) v, as [heads, n, d] batches.
        let q = q.swap_dims(0, 1);
        let k = k.swap_dims(0, 1);
        let v = v.swap_dims(0, 1);
        let scores = q.matmul(k.transpose()).mul_scalar(c.attn_scale) + mask.clone();
        let out = softmax(scores, 2).matmul(v);
        Ok(out.swap_dims(0, 1).reshape([n, n_head * d]))
    }

    /// `x Wᵀ` for activation rows `x` (`y = W x` per row), with the activations first rounded the
    /// way [`Activations`] says.
    fn matmul(&self, x: Tensor<2>, w: &Weight) -> Result<Tensor<2>, String> {
        match self.activations {
            Activations::Exact => Ok(x.matmul(w.w.clone().transpose())),
            Activations::LikeLlamaCpp => {
                let (x, block_sum_error) = self.round_like_llama_cpp(x, w.ty)?;
                let y = x.matmul(w.w.clone().transpose());
                Ok(match (&w.q4_1_mins, block_sum_error) {
                    // Σ_blocks m · (s − Σ a): what the f16 block sums add to the exact product.
                    (Some(mins), Some(err)) => y + err.matmul(mins.clone().transpose()),
                    _ => y,
                })
            }
        }
    }

    /// Each row of `x` quantized to the activation format llama.cpp dots `weight` with, then
    /// dequantized back to f32. For Q8_1 (Q4_1 weights) also returns, per row and block, how far
    /// the block's stored f16 sum `s` is from the sum of its dequantized values.
    fn round_like_llama_cpp(
        &self,
        x: Tensor<2>,
        weight: GgmlType,
    ) -> Result<(Tensor<2>, Option<Tensor<2>>), String> {
        let dot_ty =
            blocks::vec_dot_type(weight).ok_or_else(|| format!("no dot format for {weight}"))?;
        if dot_ty == GgmlType::F32 {
            return Ok((x, None));
        }
        let [n, cols] = x.dims();
        let mut values = to_vec(x)?;
        let mut sum_errors = Vec::new();
        for row in values.chunks_exact_mut(cols) {
            let q = blocks::quantize_row(dot_ty, row).map_err(|e| e.to_string())?;
            blocks::dequantize_row(dot_ty, &q, row).map_err(|e| e.to_string())?;
            if dot_ty == GgmlType::Q8_1 {
                let block_bytes = q.len() / (cols / blocks::QK);
                for (block, a) in q
                    .chunks_exact(block_bytes)
                    .zip(row.chunks_exact(blocks::QK))
                {
                    let s = blocks::f16_bits_to_f32([block[2], block[3]]);
                    sum_errors.push(s - a.iter().sum::<f32>());
                }
            }
        }
        let sum_errors =
            (dot_ty == GgmlType::Q8_1).then(|| self.tensor2(sum_errors, n, cols / blocks::QK));
        Ok((self.tensor2(values, n, cols), sum_errors))
    }

    /// GELU as ggml's CPU backend computes it (the one llama.cpp's numbers come from): the tanh
    /// approximation at the input rounded to f16, rounded to f16; 0 at or below −10 and the
    /// identity at or above 10.
    fn gelu_like_ggml(&self, x: Tensor<2>) -> Result<Tensor<2>, String> {
        let [rows, cols] = x.dims();
        let f16 = |v: f32| half::f16::from_f32(v).to_f32();
        let values = to_vec(x)?
            .into_iter()
            .map(|v| {
                if v <= -10.0 {
                    0.0
                } else if v >= 10.0 {
                    v
                } else {
                    let v = f16(v) as f64;
                    let t =
                        ((2.0 / std::f64::consts::PI).sqrt() * v * (1.0 + 0.044715 * v * v)).tanh();
                    f16((0.5 * v * (1.0 + t)) as f32)
                }
            })
            .collect();
        Ok(self.tensor2(values, rows, cols))
    }

    /// One RoPE rotation matrix per position, `[n, head_dim, head_dim]`: pair `i` (dims
    /// `(2i, 2i+1)` for [`RopeStyle::Norm`], `(i, i + rope_dims/2)` for Neox) is rotated by
    /// `pos · base^(-2i/rope_dims)`; dims past `rope_dims` pass through unchanged.
    /// The angle is scaled by `freq_scale` and divided by the pair's Llama 3 factor, if any.
    fn rope_matrices(&self, n: usize, base: f32, freq_scale: f32) -> Tensor<3> {
        let c = &self.config;
        let d = c.head_dim;
        let half = c.rope_dims / 2;
        let mut m = vec![0.0f32; n * d * d];
        for pos in 0..n {
            let r = &mut m[pos * d * d..(pos + 1) * d * d];
            for j in 0..d {
                r[j * d + j] = 1.0;
            }
            for i in 0..half {
                let (a, b) = match c.rope_style {
                    RopeStyle::Norm => (2 * i, 2 * i + 1),
                    RopeStyle::Neox => (i, i + half),
                };
                let factor = self.rope_freqs.as_ref().map_or(1.0, |f| f[i] as f64);
                let theta = freq_scale as f64 * pos as f64 / factor
                    * (base as f64).powf(-2.0 * i as f64 / c.rope_dims as f64);
                let (sin, cos) = (theta.sin() as f32, theta.cos() as f32);
                // out[a] = x[a] cos − x[b] sin;  out[b] = x[a] sin + x[b] cos
                r[a * d + a] = cos;
                r[a * d + b] = -sin;
                r[b * d + a] = sin;
                r[b * d + b] = cos;
            }
        }
        Tensor::from_data(TensorData::new(m, [n, d, d]), (&self.device, DType::F32))
    }

    /// `[1, n, n]`: 0 where key position ≤ query position (and, with a `window`, query − key <
    /// window), −∞ elsewhere.
    fn causal_mask(&self, n: usize, window: Option<usize>) -> Tensor<3> {
        let mut m = vec![0.0f32; n * n];
        for query in 0..n {
            for key in 0..n {
                let seen = key <= query && window.is_none_or(|w| query - key < w);
                if !seen {
                    m[query * n + key] = f32::NEG_INFINITY;
                }
            }
        }
        Tensor::from_data(TensorData::new(m, [1, n, n]), (&self.device, DType::F32))
    }

    fn tensor2(&self, values: Vec<f32>, rows: usize, cols: usize) -> Tensor<2> {
        Tensor::from_data(
            TensorData::new(values, [rows, cols]),
            (&self.device, DType::F32),
        )
    }
}

/// `x / sqrt(mean(x²) + eps) · weight`, per row.
fn rms_norm(x: Tensor<2>, weight: &Tensor<1>, eps: f32) -> Tensor<2> {
    let mean_square = x.clone().powi_scalar(2).mean_dim(1);
    x / mean_square.add_scalar(eps).sqrt() * weight.clone().unsqueeze()
}

/// [`rms_norm`] over the last dimension of `[n, heads, d]`, one weight of `d` for every head.
fn rms_norm_heads(x: Tensor<3>, weight: &Tensor<1>, eps: f32) -> Tensor<3> {
    let mean_square = x.clone().powi_scalar(2).mean_dim(2);
    x / mean_square.add_scalar(eps).sqrt() * weight.clone().unsqueeze()
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, String> {
    t.into_data()
        .try_into_vec::<f32>()
        .map_err(|e| format!("{e:?}"))
}

/// Reads and dequantizes tensors of one GGUF file, checking their shapes.
struct Loader<'a, 'b> {
    gguf: &'a Gguf<'b>,
    device: &'a Device,
}

impl Loader<'_, '_> {
    /// A tensor's values as f32, after checking that its ggml dims are `dims`.
    fn dequantized(&self, name: &str, dims: &[usize]) -> Result<(Vec<f32>, GgmlType), String> {
        let t = self
            .gguf
            .tensor(name)
            .ok_or_else(|| format!("missing tensor {name}"))?;
        let want: Vec<u64> = dims.iter().map(|&d| d as u64).collect();
        if t.dims != want {
            return Err(format!("{name}: dims {:?}, expected {want:?}", t.dims));
        }
        let mut out = vec![0.0; dims.iter().product()];
        blocks::dequantize_row(t.ggml_type, self.gguf.tensor_data(t), &mut out)
            .map_err(|e| format!("{name}: {e}"))?;
        Ok((out, t.ggml_type))
    }

    /// A `rows × cols` matrix as row-major f32 (ggml dims `[cols, rows]`).
    fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<(Vec<f32>, GgmlType), String> {
        self.dequantized(name, &[cols, rows])
    }

    fn weight(&self, name: &str, rows: usize, cols: usize) -> Result<Weight, String> {
        let (values, ty) = self.matrix(name, rows, cols)?;
        let q4_1_mins = (ty == GgmlType::Q4_1).then(|| {
            let data = self
                .gguf
                .tensor(name)
                .map(|t| self.gguf.tensor_data(t))
                .unwrap_or(&[]);
            // A Q4_1 block is d (f16), m (f16), 16 bytes of nibbles.
            let mins = data
                .chunks_exact(20)
                .map(|b| blocks::f16_bits_to_f32([b[2], b[3]]))
                .collect();
            self.tensor2(mins, rows, cols / blocks::QK)
        });
        Ok(Weight {
            w: self.tensor2(values, rows, cols),
            ty,
            q4_1_mins,
        })
    }

    fn vector(&self, name: &str, len: usize) -> Result<Tensor<1>, String> {
        let (values, _) = self.dequantized(name, &[len])?;
        Ok(Tensor::from_data(
            TensorData::new(values, [len]),
            (self.device, DType::F32),
        ))
    }

    fn tensor2(&self, values: Vec<f32>, rows: usize, cols: usize) -> Tensor<2> {
        Tensor::from_data(
            TensorData::new(values, [rows, cols]),
            (self.device, DType::F32),
        )
    }
}
