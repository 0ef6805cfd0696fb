//! The backend's buffers and its graph: every launch of a decode step and of a batched step
//! (prefill), with its pipeline, bind group and grid, recorded once at load from the uploaded
//! weights and buffers.

use super::upload::{GpuWeight, Loader, Place, Region, aligned};
use crate::context::GpuContext;
use crate::error::GpuError;
use crate::formats::Arithmetic;
use crate::formats::kernel_suffix;
use crate::kernels::{
    self, ADD, ATTENTION, ATTENTION_LANES, AddParams, AttentionSplit, Batch, EMBED, Family, MATMUL,
    MATMUL_TOKENS, MATVEC, MATVEC_ROWWISE, MATVEC_ROWWISE_SUBGROUP, MATVEC_SUBGROUP,
    MATVEC_SUBGROUP_ROWS, MATVEC_TILE, MatvecParams, ModelParams, RMSNORM,
};
use crate::limits;
use crate::options::{Choice, MAX_BATCH, MatvecVariant};
use crate::summary::{self, MAX_TOP, SUMMARY, SummaryParams, summary_floats};
use tokscope_model::config::names;
use tokscope_model::file::TensorSource;
use tokscope_model::{Config, ModelFile, RopeStyle};

/// The llama-family model on a GPU through wgpu, in f32 arithmetic: f32 activations, weights
/// dequantized in the kernels (their block scales stored as f16 where the adapter has
/// shader-f16: [`Arithmetic`]), f32 accumulation and an f32 KV cache (the CPU backend's default).
pub struct GpuBackend {
    pub(super) ctx: GpuContext,
    pub(super) arithmetic: Arithmetic,
    /// Kernels use subgroup operations ([`LoadOptions::subgroups`]).
    pub(super) subgroups: bool,
    /// [`LoadOptions::gpu_summary`].
    pub(crate) gpu_summary: bool,
    pub(super) cfg: Config,
    pub(super) n_ctx: usize,
    pub(super) len: usize,
    pub(super) base: ModelParams,
    pub(super) params: wgpu::Buffer,
    /// The step's token ids.
    pub(super) tokens: wgpu::Buffer,
    /// The step's token count for the matvecs ([`Batch`]).
    pub(super) batch: wgpu::Buffer,
    /// The residual stream, `[token][n_embd]`, and a copy of the step's last row.
    pub(super) x: wgpu::Buffer,
    pub(super) x_last: wgpu::Buffer,
    /// The launches of a step of one token (matvecs, norms folded in where the variant can).
    pub(super) decode: Launches,
    /// The launches of a step of several tokens (the matmul, norms as launches of their own).
    pub(super) batched: Launches,
    /// Final norm and LM head over `x_last` only (decode's launches).
    pub(super) head_last: Vec<Dispatch>,
    pub(super) logits: wgpu::Buffer,
    /// Where in `logits` the last computed position's row starts, in floats (`None` before the
    /// first readback step).
    pub(super) last_row: Option<usize>,
    /// The summary of the last position (shaders/summary.wgsl), its params and launch.
    pub(super) summary_out: wgpu::Buffer,
    pub(super) summary_params: wgpu::Buffer,
    /// The summary's two launches (shaders/summary.wgsl).
    pub(super) summary: [Dispatch; 2],
    pub(super) staging: wgpu::Buffer,
    /// [`LoadOptions::launches_per_submit`].
    pub(super) launches_per_submit: usize,
}

/// What the z dimension of a launch's grid counts.
#[derive(Clone, Copy)]
pub(super) enum PerToken {
    /// One per token of the step.
    Each,
    /// One per tile of this many tokens (the rowwise matvec, the matmul).
    Tiles(u32),
}

/// One recorded kernel launch: pipeline, its bind group (made at load) and the workgroup grid,
/// x and y fixed, z from the step's token count.
#[derive(Clone)]
pub(super) struct Dispatch {
    pub(super) pipeline: wgpu::ComputePipeline,
    pub(super) bind_group: wgpu::BindGroup,
    pub(super) groups: (u32, u32),
    pub(super) per_token: PerToken,
    /// What the launch computes, for profiles: the entry point, and a projection's shape
    /// (`matvec_q4_1 576×1536`).
    pub(super) label: String,
    /// Weight bytes the launch reads (a projection's part), for profiles; 0 for the rest.
    pub(super) weight_bytes: u64,
}

/// The launches of a step, recorded at load for one [`Mode`].
pub(super) struct Launches {
    /// Every launch from the embedding (one per part) to the last layer's down projection.
    pub(super) layers: Vec<Dispatch>,
    /// Final norm and LM head over every token of the step.
    pub(super) head_all: Vec<Dispatch>,
}

/// How a step's projections run: one token through the matvecs, or a batch through the matmul.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One token: the matvec variant in use, RMSNorms folded in where it can.
    Decode,
    /// Several tokens: the matmul (each weight block read once per tile of tokens), after an
    /// rmsnorm launch that normalizes the batch once.
    Batched,
}

/// An RMSNorm folded into the matvecs that read its output (shaders/matvec.wgsl, `norm`).
struct Norm {
    weight: wgpu::Buffer,
    eps: f32,
}

/// What a matvec computes from its input buffer before multiplying (shaders/matvec.wgsl).
#[derive(Clone, Copy)]
enum Fold<'n> {
    /// The input as it is.
    None,
    /// The RMSNorm of the residual stream (`norm`).
    Norm(&'n Norm),
    /// silu(gate) · up of the gate/up buffer, up from this element (the pipeline constant
    /// `SWIGLU`).
    SwiGlu { up_base: usize },
    /// Attention's output, its chunks' partial softmaxes combined (`attn_head_dim`).
    Attention {
        head_dim: u32,
        split: AttentionSplit,
    },
}

impl Loader<'_> {
    /// The input of the projections that follow an RMSNorm of `x`: `x` with the norm folded into
    /// them (the workgroup and subgroup matvecs when decoding), or `h` after an rmsnorm launch
    /// (the rowwise matvec, whose every invocation would recompute the norm, and batched steps,
    /// which normalize each token once).
    fn norm_input<'b, 'n>(
        &mut self,
        (x, h): (&'b wgpu::Buffer, &'b wgpu::Buffer),
        norm: &'n Norm,
        params: &wgpu::Buffer,
        mode: Mode,
        out: &mut Vec<Dispatch>,
    ) -> (&'b wgpu::Buffer, Fold<'n>) {
        if mode == Mode::Decode && self.matvec != MatvecVariant::Rowwise {
            return (x, Fold::Norm(norm));
        }
        let buffers = [x, &norm.weight, h, params];
        out.push(self.dispatch(&RMSNORM, "rmsnorm", &buffers, (1, 1), PerToken::Each));
        (h, Fold::None)
    }

    fn dispatch(
        &mut self,
        family: &Family,
        entry: &str,
        buffers: &[&wgpu::Buffer],
        groups: (u32, u32),
        per_token: PerToken,
    ) -> Dispatch {
        let regions: Vec<Region> = buffers.iter().map(|&b| Region::whole(b)).collect();
        self.dispatch_regions(family, entry, &regions, groups, per_token)
    }

    /// [`Loader::dispatch`] with bindings that may be parts of buffers.
    fn dispatch_regions(
        &mut self,
        family: &Family,
        entry: &str,
        regions: &[Region],
        groups: (u32, u32),
        per_token: PerToken,
    ) -> Dispatch {
        self.dispatch_with(family, (entry, &[]), regions, groups, per_token)
    }

    /// [`Loader::dispatch_regions`] of a pipeline with values for its `override` constants.
    fn dispatch_with(
        &mut self,
        family: &Family,
        (entry, constants): (&str, &[(&str, f64)]),
        regions: &[Region],
        groups: (u32, u32),
        per_token: PerToken,
    ) -> Dispatch {
        let kernel = self
            .pipelines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_with(family, entry, self.arithmetic, constants);
        let entries: Vec<wgpu::BindGroupEntry> = regions
            .iter()
            .enumerate()
            .map(|(i, r)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: r.binding(),
            })
            .collect();
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(entry),
            layout: &kernel.layout,
            entries: &entries,
        });
        Dispatch {
            pipeline: kernel.pipeline,
            bind_group,
            groups,
            per_token,
            label: entry.to_string(),
            weight_bytes: 0,
        }
    }

    /// `y (+)= W_i · x` for each weight of a projection (one, or the matrices of a
    /// [`Loader::projection`]) and every token of the step (`batch` holds their count), each
    /// writing where its place says: one launch per part of each weight, of the matvec variant in
    /// use (`mode` decode) or the matmul (batched).
    #[allow(clippy::too_many_arguments)]
    fn project(
        &mut self,
        weights: &[(GpuWeight, Place)],
        (x, fold): (&wgpu::Buffer, Fold),
        y: &wgpu::Buffer,
        accumulate: bool,
        batch: &wgpu::Buffer,
        mode: Mode,
        out: &mut Vec<Dispatch>,
    ) {
        for (w, place) in weights {
            let suffix = kernel_suffix(w.ty).unwrap_or("f32");
            // Batches take the tiled matmul, except where the rowwise matvec shares its loads
            // over subgroups (SwiftShader): there the matmul's barriers cost more than the
            // matvec's tiles of tokens save.
            let matmul = mode == Mode::Batched && !self.rowwise_batches;
            let (family, entry) = match (matmul, self.matvec) {
                (true, _) => (&MATMUL, format!("matmul_{suffix}")),
                (_, MatvecVariant::Workgroup) => (&MATVEC, format!("matvec_{suffix}")),
                (_, MatvecVariant::Rowwise) => (self.rowwise, format!("matvec_{suffix}_rowwise")),
                (_, MatvecVariant::Subgroup) => {
                    (&MATVEC_SUBGROUP, format!("matvec_{suffix}_subgroup"))
                }
            };
            let norm = match fold {
                Fold::Norm(n) => Some(n),
                _ => None,
            };
            // The o projection of split attention reads the chunks combined (its pipeline's
            // ATTN_INPUT), heads of this size split so; the down projection reads silu(gate) · up
            // (its pipeline's SWIGLU). Pipeline constants leave the other matvecs without the
            // branch.
            let ([head_dim, chunk_min, max_chunks], constants): (_, &[(&str, f64)]) = match fold {
                Fold::Attention { head_dim, split } => (
                    [head_dim, split.min_len, split.max_chunks],
                    &[("ATTN_INPUT", 1.0)],
                ),
                Fold::SwiGlu { .. } => ([0; 3], &[("SWIGLU", 1.0)]),
                _ => ([0; 3], &[]),
            };
            for part in &w.parts {
                let params = self.uniform(
                    &entry,
                    &MatvecParams {
                        rows: part.rows as u32,
                        cols: w.cols as u32,
                        y_offset: (place.base + part.first_row) as u32,
                        accumulate: accumulate as u32,
                        y_stride: place.stride as u32,
                        seg: place.seg.map(|v| v as u32),
                        seg_base: place.seg_base.map(|v| v as u32),
                        norm: norm.is_some() as u32,
                        eps: norm.map_or(0.0, |n| n.eps),
                        up_base: match fold {
                            Fold::SwiGlu { up_base } => up_base as u32,
                            _ => 0,
                        },
                        interleaved: (self.matvec == MatvecVariant::Rowwise) as u32,
                        attn_head_dim: head_dim,
                        attn_chunk_min: chunk_min,
                        attn_max_chunks: max_chunks,
                        _pad: [0; 4],
                    },
                );
                let (groups, per_token) = match (matmul, self.matvec) {
                    (true, _) => {
                        let tiles = part.rows.div_ceil(kernels::WORKGROUP_SIZE as usize);
                        let grid = kernels::groups_per_row(tiles);
                        (grid, PerToken::Tiles(MATMUL_TOKENS))
                    }
                    (_, MatvecVariant::Workgroup) => {
                        (kernels::groups_per_row(part.rows), PerToken::Each)
                    }
                    (_, MatvecVariant::Rowwise) => {
                        let lanes =
                            part.rows.div_ceil(kernels::RW_ROWS) * kernels::RW_LANES as usize;
                        (kernels::groups_for(lanes), PerToken::Tiles(MATVEC_TILE))
                    }
                    (_, MatvecVariant::Subgroup) => {
                        let blocks = part.rows.div_ceil(MATVEC_SUBGROUP_ROWS as usize);
                        (kernels::groups_per_row(blocks), PerToken::Each)
                    }
                };
                let weight_of_norm = norm.map_or(&self.dummy, |n| &n.weight).clone();
                let buffers = [
                    &part.quants,
                    &part.scales,
                    x,
                    y,
                    &params,
                    batch,
                    &weight_of_norm,
                ];
                let regions: Vec<Region> = buffers.iter().map(|&b| Region::whole(b)).collect();
                let mut d =
                    self.dispatch_with(family, (&entry, constants), &regions, groups, per_token);
                d.label = format!("{entry} {}×{}", part.rows, w.cols);
                d.weight_bytes = part.quants.size() + part.scales.size();
                out.push(d);
            }
        }
    }
}

/// The (cos, sin) table of every position and rotated pair, computed as the CPU backend's
/// `ops::rope` does (angles advanced multiplicatively in f32, then f32 cos and sin).
fn rope_table(cfg: &Config, n_ctx: usize) -> Vec<[f32; 2]> {
    let half = cfg.rope_dims / 2;
    let theta_scale = cfg.rope_base.powf(-2.0 / cfg.rope_dims as f32);
    let mut table = Vec::with_capacity(n_ctx * half);
    for pos in 0..n_ctx {
        let mut theta = pos as f32;
        for _ in 0..half {
            table.push([theta.cos(), theta.sin()]);
            theta *= theta_scale;
        }
    }
    table
}

impl GpuBackend {
    pub(super) fn build(
        ctx: &GpuContext,
        (file, source): (&ModelFile, &dyn TensorSource),
        n_ctx: usize,
        Choice {
            max_binding,
            matvec,
            arithmetic,
            split,
            subgroups,
            gpu_summary,
            launches_per_submit,
            wrong_embedding,
        }: Choice,
    ) -> Result<Self, GpuError> {
        let cfg = file.config.clone();
        if cfg.kv_dim() > cfg.q_dim() {
            return Err(GpuError::Unsupported(format!(
                "more key/value heads ({}) than query heads ({})",
                cfg.n_head_kv, cfg.n_head
            )));
        }
        if !cfg.head_dim.is_multiple_of(4)
            || cfg.head_dim > kernels::MAX_HEAD_DIM
            || !cfg.n_embd.is_multiple_of(32)
        {
            return Err(GpuError::Unsupported(format!(
                "head dimension {} and width {} (the kernels need multiples of 4 and 32, and a \
                 head dimension of at most {})",
                cfg.head_dim,
                cfg.n_embd,
                kernels::MAX_HEAD_DIM
            )));
        }
        let device = &ctx.device;
        // Adapters that run on the CPU (the rowwise matvec's) with subgroups: there the matmul's and
        // attention.wgsl's barriers cost more than the rowwise matvec's tiles and
        // attention_lanes.wgsl, which share loads over a SIMD group instead.
        let cpu_lanes = matvec == MatvecVariant::Rowwise && subgroups;
        let mut ld = Loader {
            device,
            file,
            source,
            pipelines: &ctx.pipelines,
            max_binding,
            matvec,
            rowwise: match subgroups {
                true => &MATVEC_ROWWISE_SUBGROUP,
                false => &MATVEC_ROWWISE,
            },
            rowwise_batches: cpu_lanes,
            arithmetic,
            dummy: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("unused binding"),
                size: 16,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            }),
        };
        let (d, q_dim, kv_dim, b) = (cfg.n_embd, cfg.q_dim(), cfg.kv_dim(), MAX_BATCH);
        let none = wgpu::BufferUsages::empty();
        let x = ld.storage("x", b * d, wgpu::BufferUsages::COPY_SRC)?;
        let x_last = ld.storage("x last", d, wgpu::BufferUsages::COPY_DST)?;
        let h = ld.storage("h", b * d, none)?;
        // q, k and v are regions of one buffer, as are gate and up: the stacked matvecs write
        // them in one launch. Each region is [token][its width].
        let (k_base, v_base) = (aligned(b * q_dim), aligned(b * q_dim) + aligned(b * kv_dim));
        let qkv = ld.storage("qkv", v_base + b * kv_dim, none)?;
        let q = Region::floats(&qkv, 0, b * q_dim);
        let k = Region::floats(&qkv, k_base, b * kv_dim);
        let v = Region::floats(&qkv, v_base, b * kv_dim);
        // Attention's output: o per chunk, then (m, l, 0, 0) per chunk, token and head.
        let chunks = split.max_chunks as usize;
        let att = ld.storage("att", chunks * b * (q_dim + 4 * cfg.n_head), none)?;
        let attention_params = ld.uniform(
            "attention",
            &kernels::AttentionParams {
                k_base: k_base as u32,
                v_base: v_base as u32,
                chunk_min: split.min_len,
                max_chunks: split.max_chunks,
            },
        );
        let up_base = aligned(b * cfg.n_ff);
        let gu = ld.storage("gate, up", up_base + b * cfg.n_ff, none)?;
        let scores = ld.storage("scores", b * cfg.n_head * n_ctx, none)?;
        let logits = ld.storage("logits", b * cfg.n_vocab, wgpu::BufferUsages::COPY_SRC)?;
        let tokens = ld.storage("tokens", b, wgpu::BufferUsages::COPY_DST)?;
        let table = ld.upload(
            "rope table",
            &rope_table(&cfg, n_ctx),
            wgpu::BufferUsages::STORAGE,
        )?;
        let base = ModelParams {
            n_embd: d as u32,
            n_head: cfg.n_head as u32,
            n_head_kv: cfg.n_head_kv as u32,
            head_dim: cfg.head_dim as u32,
            rope_half: (cfg.rope_dims / 2) as u32,
            rope_neox: (cfg.rope_style == RopeStyle::Neox) as u32,
            n_ctx: n_ctx as u32,
            n_ff: cfg.n_ff as u32,
            rms_eps: cfg.rms_eps,
            attn_scale: 1.0 / (cfg.head_dim as f32).sqrt(),
            ..Default::default()
        };
        let uniform_dst = wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST;
        let params = ld.upload("model params", &[base], uniform_dst)?;
        let batch = ld.upload("batch", &[Batch::default()], uniform_dst)?;
        let batch_one = ld.uniform(
            "batch of one",
            &Batch {
                n_tokens: 1,
                pos: 0,
                _pad: [0; 2],
            },
        );
        let each = PerToken::Each;

        let mut layers = Vec::new();
        let mut batched_layers = Vec::new();
        let token_embd = ld.weight_in(names::TOKEN_EMBD, cfg.n_vocab, d, false)?;
        let embed_entry = format!("embed_{}", kernel_suffix(token_embd.ty).unwrap_or("f32"));
        for part in &token_embd.parts {
            let range = ld.uniform(
                "embed part",
                &kernels::EmbedPart {
                    first_row: part.first_row as u32,
                    rows: part.rows as u32,
                    _pad: [0; 2],
                },
            );
            let buffers = [&part.quants, &part.scales, &tokens, &x, &params, &range];
            let groups = kernels::groups_for(d / 4);
            let regions: Vec<Region> = buffers.iter().map(|&b| Region::whole(b)).collect();
            let wrong: &[(&str, f64)] = match wrong_embedding {
                true => &[("WRONG_ROW", 1.0)],
                false => &[],
            };
            layers.push(ld.dispatch_with(&EMBED, (&embed_entry, wrong), &regions, groups, each));
        }
        batched_layers.extend(layers.iter().cloned());

        for l in 0..cfg.n_layer {
            let name = |part: &str| names::block(l, part);
            let norm = |weight| Norm {
                weight,
                eps: cfg.rms_eps,
            };
            let attn_norm = norm(ld.vector(&name("attn_norm.weight"), d)?);
            let qkv_parts = [
                (name("attn_q.weight"), q_dim),
                (name("attn_k.weight"), kv_dim),
                (name("attn_v.weight"), kv_dim),
            ];
            let qkv_parts = qkv_parts.each_ref().map(|(n, r)| (n.as_str(), *r));
            let w_qkv = ld.projection(&qkv_parts, d, &[0, k_base, v_base])?;
            let wo = [(
                ld.weight(&name("attn_output.weight"), d, q_dim)?,
                Place::whole(d),
            )];
            let ffn_norm = norm(ld.vector(&name("ffn_norm.weight"), d)?);
            let ffn_parts = [
                (name("ffn_gate.weight"), cfg.n_ff),
                (name("ffn_up.weight"), cfg.n_ff),
            ];
            let ffn_parts = ffn_parts.each_ref().map(|(n, r)| (n.as_str(), *r));
            let w_gu = ld.projection(&ffn_parts, d, &[0, up_base])?;
            let w_down = [(
                ld.weight(&name("ffn_down.weight"), d, cfg.n_ff)?,
                Place::whole(d),
            )];
            let k_cache = ld.storage("k cache", n_ctx * kv_dim, none)?;
            let v_cache = ld.storage("v cache", n_ctx * kv_dim, none)?;

            // From the q/k/v biases to the attention: the same launches in either mode.
            let mut attention = Vec::new();
            if cfg.qkv_bias {
                let biases = [
                    ("attn_q.bias", &q, q_dim),
                    ("attn_k.bias", &k, kv_dim),
                    ("attn_v.bias", &v, kv_dim),
                ];
                for (bias, out, len) in biases {
                    let bias = ld.vector(&name(bias), len)?;
                    let n = AddParams {
                        n: len as u32,
                        _pad: [0; 3],
                    };
                    let n = ld.uniform("add", &n);
                    let groups = kernels::groups_for(len);
                    let regions = [Region::whole(&bias), out.clone(), Region::whole(&n)];
                    attention.push(ld.dispatch_regions(&ADD, "add", &regions, groups, each));
                }
            }
            // RoPE and the KV append happen inside the attention launch.
            let attend = [
                &table,
                &qkv,
                &k_cache,
                &v_cache,
                &scores,
                &att,
                &params,
                &attention_params,
            ];
            let groups = (cfg.n_head as u32, split.max_chunks);
            let (family, entry) = match cpu_lanes {
                true => (&ATTENTION_LANES, "attention_lanes"),
                false => (&ATTENTION, "attention"),
            };
            attention.push(ld.dispatch(family, entry, &attend, groups, each));

            for (mode, out) in [
                (Mode::Decode, &mut layers),
                (Mode::Batched, &mut batched_layers),
            ] {
                let input = ld.norm_input((&x, &h), &attn_norm, &params, mode, out);
                ld.project(&w_qkv, input, &qkv, false, &batch, mode, out);
                out.extend(attention.iter().cloned());
                // Split, attention leaves a partial softmax per chunk, which the o projection
                // combines; unsplit, the output itself.
                let head_dim = cfg.head_dim as u32;
                let input = match split.max_chunks {
                    1 => (&att, Fold::None),
                    _ => (&att, Fold::Attention { head_dim, split }),
                };
                ld.project(&wo, input, &x, true, &batch, mode, out);
                let input = ld.norm_input((&x, &h), &ffn_norm, &params, mode, out);
                ld.project(&w_gu, input, &gu, false, &batch, mode, out);
                // The down projection reads gate and up and multiplies silu(gate) · up itself.
                let input = (&gu, Fold::SwiGlu { up_base });
                ld.project(&w_down, input, &x, true, &batch, mode, out);
            }
        }

        let output_norm = Norm {
            weight: ld.vector(names::OUTPUT_NORM, d)?,
            eps: cfg.rms_eps,
        };
        let output = if cfg.tied_embeddings && matvec != MatvecVariant::Rowwise {
            token_embd
        } else if cfg.tied_embeddings {
            // The rowwise matvec reads its own layout: the embedding is uploaded a second time.
            ld.weight(names::TOKEN_EMBD, cfg.n_vocab, d)?
        } else {
            ld.weight(names::OUTPUT, cfg.n_vocab, d)?
        };
        let output = [(output, Place::whole(cfg.n_vocab))];
        // The final norm and the LM head over every token (each mode's launches), or over the
        // last one (copied to x_last; decode's launches).
        let mut head_all = Vec::new();
        let mut batched_head_all = Vec::new();
        let mut head_last = Vec::new();
        for (x, batch, mode, head) in [
            (&x, &batch, Mode::Decode, &mut head_all),
            (&x, &batch, Mode::Batched, &mut batched_head_all),
            (&x_last, &batch_one, Mode::Decode, &mut head_last),
        ] {
            let input = ld.norm_input((x, &h), &output_norm, &params, mode, head);
            ld.project(&output, input, &logits, false, batch, mode, head);
        }
        let summary_out = ld.storage(
            "summary",
            summary_floats(MAX_TOP),
            wgpu::BufferUsages::COPY_SRC,
        )?;
        let summary_params =
            ld.upload("summary params", &[SummaryParams::default()], uniform_dst)?;
        let chunks = ld.storage("summary chunks", summary::CHUNK_FLOATS, none)?;
        let (_, n_chunks) = summary::chunking(cfg.n_vocab);
        let summary_buffers = [&logits, &summary_out, &summary_params, &chunks];
        let summary = [
            ld.dispatch(
                &SUMMARY,
                "summary_chunk",
                &summary_buffers,
                (n_chunks, 1),
                PerToken::Each,
            ),
            ld.dispatch(
                &SUMMARY,
                "summary",
                &summary_buffers,
                (1, 1),
                PerToken::Each,
            ),
        ];
        let readback = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
        let size = ((b * cfg.n_vocab).max(summary_floats(MAX_TOP)) * 4) as u64;
        limits::check_buffer(device, "logits readback", size, readback)?;
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("logits readback"),
            size,
            usage: readback,
            mapped_at_creation: false,
        });
        Ok(Self {
            ctx: ctx.clone(),
            arithmetic,
            subgroups,
            gpu_summary,
            cfg,
            n_ctx,
            len: 0,
            base,
            params,
            tokens,
            batch,
            x,
            x_last,
            decode: Launches { layers, head_all },
            batched: Launches {
                layers: batched_layers,
                head_all: batched_head_all,
            },
            head_last,
            logits,
            last_row: None,
            summary_out,
            summary_params,
            summary,
            staging,
            launches_per_submit,
        })
    }
}
