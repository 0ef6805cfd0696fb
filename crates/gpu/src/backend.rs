//! The llama graph on the GPU: weights uploaded once in their quantized form, every buffer and bind
//! group made at load, one command encoder per token, only the logits read back.

use crate::context::GpuContext;
use crate::error::GpuError;
use crate::kernels::{
    self, ADD, ATTENTION, AddParams, EMBED, Family, KV_APPEND, MATVEC, MatvecParams, ModelParams,
    Pipelines, RMSNORM, ROPE_Q, SILU_MUL,
};
use crate::readback;
use crate::weights::{self, kernel_suffix};
use tokscope_model::config::names;
use tokscope_model::{Backend, Config, LogitsFor, ModelError, ModelFile, RopeStyle};
use wgpu::util::DeviceExt;

/// Logit rows read back at once when every position's logits are wanted (bounds the staging buffer).
const READBACK_ROWS: usize = 16;

/// One recorded kernel launch: pipeline, its bind group (made at load) and the workgroup grid.
struct Dispatch {
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    groups: (u32, u32),
}

/// A row range of a weight in its own buffers (weights larger than one binding are split).
struct WeightPart {
    first_row: usize,
    rows: usize,
    quants: wgpu::Buffer,
    scales: wgpu::Buffer,
}

/// A weight on the GPU, as one or more row ranges.
struct GpuWeight {
    ty: tokscope_gguf::GgmlType,
    cols: usize,
    parts: Vec<WeightPart>,
}

/// The token embedding's launch for tokens in `first_row..first_row + rows`.
struct EmbedPart {
    first_row: usize,
    rows: usize,
    dispatch: Dispatch,
}

/// The llama-family model on a GPU through wgpu, in f32 arithmetic: f32 activations, weights
/// dequantized in the kernels, f32 accumulation and an f32 KV cache (the CPU backend's default).
pub struct GpuBackend {
    ctx: GpuContext,
    cfg: Config,
    n_ctx: usize,
    len: usize,
    base: ModelParams,
    params: wgpu::Buffer,
    embed: Vec<EmbedPart>,
    /// Every layer's launches, in order, from the first rmsnorm to the last down projection.
    layers: Vec<Dispatch>,
    /// Final norm and LM head.
    head: Vec<Dispatch>,
    logits: wgpu::Buffer,
    staging: wgpu::Buffer,
}

/// Builds buffers, weights and launches for one model (what `GpuBackend::load` needs in one place).
struct Loader<'a> {
    device: &'a wgpu::Device,
    file: &'a ModelFile,
    pipelines: Pipelines,
    max_binding: u64,
    matvec: MatvecVariant,
    /// A 16-byte buffer bound where a kernel's layout has a binding the weight type does not use.
    dummy: wgpu::Buffer,
}

impl<'a> Loader<'a> {
    fn storage(&self, label: &str, floats: usize, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (floats.max(4) * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | usage,
            mapped_at_creation: false,
        })
    }

    fn upload<T: bytemuck::Pod>(
        &self,
        label: &str,
        data: &[T],
        usage: wgpu::BufferUsages,
    ) -> wgpu::Buffer {
        if data.is_empty() {
            return self.dummy.clone();
        }
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::cast_slice(data),
                usage,
            })
    }

    fn uniform<T: bytemuck::Pod>(&self, label: &str, value: &T) -> wgpu::Buffer {
        self.upload(
            label,
            std::slice::from_ref(value),
            wgpu::BufferUsages::UNIFORM,
        )
    }

    /// A norm weight or bias, dequantized to f32 (these vectors are tiny).
    fn vector(&self, name: &str, len: usize) -> Result<wgpu::Buffer, GpuError> {
        let v = self.file.vector(name, len)?;
        Ok(self.upload(name, &v, wgpu::BufferUsages::STORAGE))
    }

    /// A 2-D weight, repacked and split into parts that each fit one storage binding.
    fn weight(&self, name: &str, rows: usize, cols: usize) -> Result<GpuWeight, GpuError> {
        let w = self.file.weight(name, rows, cols)?;
        let per_part = weights::rows_per_part(w.ty, rows, cols, self.max_binding);
        let row_bytes = w.row_bytes();
        let mut parts = Vec::new();
        for first_row in (0..rows).step_by(per_part) {
            let n = per_part.min(rows - first_row);
            let start = w.offset + first_row * row_bytes;
            let data = &self.file.bytes[start..start + n * row_bytes];
            let packed = weights::repack(name, w.ty, data, n, cols)?;
            parts.push(WeightPart {
                first_row,
                rows: n,
                quants: self.upload(name, &packed.quants, wgpu::BufferUsages::STORAGE),
                scales: self.upload(name, &packed.scales, wgpu::BufferUsages::STORAGE),
            });
        }
        Ok(GpuWeight {
            ty: w.ty,
            cols,
            parts,
        })
    }

    fn dispatch(
        &mut self,
        family: &Family,
        entry: &str,
        buffers: &[&wgpu::Buffer],
        groups: (u32, u32),
    ) -> Dispatch {
        let kernel = self.pipelines.get(family, entry);
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
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
        }
    }

    /// `y (+)= W · x`, one launch per part of W.
    fn matvec(
        &mut self,
        w: &GpuWeight,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        accumulate: bool,
        out: &mut Vec<Dispatch>,
    ) {
        let suffix = kernel_suffix(w.ty).unwrap_or("f32");
        let entry = match self.matvec {
            MatvecVariant::Workgroup => format!("matvec_{suffix}"),
            MatvecVariant::Rowwise => format!("matvec_{suffix}_rowwise"),
        };
        for part in &w.parts {
            let params = self.uniform(
                &entry,
                &MatvecParams {
                    rows: part.rows as u32,
                    cols: w.cols as u32,
                    y_offset: part.first_row as u32,
                    accumulate: accumulate as u32,
                },
            );
            let groups = match self.matvec {
                MatvecVariant::Workgroup => kernels::groups_per_row(part.rows),
                MatvecVariant::Rowwise => kernels::groups_for(part.rows),
            };
            out.push(self.dispatch(
                &MATVEC,
                &entry,
                &[&part.quants, &part.scales, x, y, &params],
                groups,
            ));
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

/// How a matrix-vector product is spread over the GPU (shaders/matvec.wgsl).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatvecVariant {
    /// One workgroup per row with a workgroup-memory reduction: for GPUs.
    Workgroup,
    /// One invocation per row, no barriers: for adapters that run on the CPU.
    Rowwise,
}

/// Choices [`GpuBackend::new`] makes from the adapter, overridable so that tests run every
/// path on whichever adapter they have.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    /// Split weights larger than this many bytes into row ranges (default: the device's
    /// storage binding limit; a small value exercises the path huge vocabularies take).
    pub max_binding: Option<u64>,
    /// The matvec variant (default: rowwise on software adapters, workgroup otherwise).
    pub matvec: Option<MatvecVariant>,
}

impl GpuBackend {
    /// Uploads the model to the GPU with a cache of `n_ctx` positions.
    pub fn new(ctx: &GpuContext, file: &ModelFile, n_ctx: usize) -> Result<Self, GpuError> {
        Self::with_options(ctx, file, n_ctx, LoadOptions::default())
    }

    /// As [`GpuBackend::new`] with explicit [`LoadOptions`].
    pub fn with_options(
        ctx: &GpuContext,
        file: &ModelFile,
        n_ctx: usize,
        options: LoadOptions,
    ) -> Result<Self, GpuError> {
        let limits = ctx.device.limits();
        let max_binding = options.max_binding.unwrap_or(
            limits
                .max_storage_buffer_binding_size
                .min(limits.max_buffer_size),
        );
        let matvec = options.matvec.unwrap_or(if ctx.is_software() {
            MatvecVariant::Rowwise
        } else {
            MatvecVariant::Workgroup
        });
        Self::load(ctx, file, n_ctx, max_binding, matvec)
    }

    fn load(
        ctx: &GpuContext,
        file: &ModelFile,
        n_ctx: usize,
        max_binding: u64,
        matvec: MatvecVariant,
    ) -> Result<Self, GpuError> {
        let device = &ctx.device;
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let built = Self::build(ctx, file, n_ctx.max(1), max_binding, matvec);
        let invalid = pollster_free_pop(validation.pop());
        let out_of_memory = pollster_free_pop(oom.pop());
        if let Some(e) = out_of_memory {
            return Err(GpuError::OutOfMemory(format!("uploading the model: {e}")));
        }
        if let Some(e) = invalid {
            return Err(GpuError::Wgpu(e.to_string()));
        }
        built
    }

    fn build(
        ctx: &GpuContext,
        file: &ModelFile,
        n_ctx: usize,
        max_binding: u64,
        matvec: MatvecVariant,
    ) -> Result<Self, GpuError> {
        let cfg = file.config.clone();
        if !cfg.head_dim.is_multiple_of(4) || !cfg.n_embd.is_multiple_of(32) {
            return Err(GpuError::Unsupported(format!(
                "head dimension {} and width {} (the kernels need multiples of 4 and 32)",
                cfg.head_dim, cfg.n_embd
            )));
        }
        let device = &ctx.device;
        let mut ld = Loader {
            device,
            file,
            pipelines: Pipelines::new(device),
            max_binding,
            matvec,
            dummy: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("unused binding"),
                size: 16,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            }),
        };
        let (d, q_dim, kv_dim) = (cfg.n_embd, cfg.q_dim(), cfg.kv_dim());
        let none = wgpu::BufferUsages::empty();
        let x = ld.storage("x", d, none);
        let h = ld.storage("h", d, none);
        let q = ld.storage("q", q_dim, none);
        let q_rot = ld.storage("q_rot", q_dim, none);
        let k = ld.storage("k", kv_dim, none);
        let v = ld.storage("v", kv_dim, none);
        let att = ld.storage("att", q_dim, none);
        let gate = ld.storage("gate", cfg.n_ff, none);
        let up = ld.storage("up", cfg.n_ff, none);
        let scores = ld.storage("scores", cfg.n_head * n_ctx, none);
        let logits = ld.storage("logits", cfg.n_vocab, wgpu::BufferUsages::COPY_SRC);
        let table = ld.upload(
            "rope table",
            &rope_table(&cfg, n_ctx),
            wgpu::BufferUsages::STORAGE,
        );
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
        let params = ld.upload(
            "model params",
            &[base],
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        );

        let token_embd = ld.weight(names::TOKEN_EMBD, cfg.n_vocab, d)?;
        let embed_entry = format!("embed_{}", kernel_suffix(token_embd.ty).unwrap_or("f32"));
        let embed = token_embd
            .parts
            .iter()
            .map(|part| EmbedPart {
                first_row: part.first_row,
                rows: part.rows,
                dispatch: ld.dispatch(
                    &EMBED,
                    &embed_entry,
                    &[&part.quants, &part.scales, &x, &params],
                    kernels::groups_for(d / 4),
                ),
            })
            .collect();

        let mut layers = Vec::new();
        for l in 0..cfg.n_layer {
            let name = |part: &str| names::block(l, part);
            let attn_norm = ld.vector(&name("attn_norm.weight"), d)?;
            let wq = ld.weight(&name("attn_q.weight"), q_dim, d)?;
            let wk = ld.weight(&name("attn_k.weight"), kv_dim, d)?;
            let wv = ld.weight(&name("attn_v.weight"), kv_dim, d)?;
            let wo = ld.weight(&name("attn_output.weight"), d, q_dim)?;
            let ffn_norm = ld.vector(&name("ffn_norm.weight"), d)?;
            let w_gate = ld.weight(&name("ffn_gate.weight"), cfg.n_ff, d)?;
            let w_up = ld.weight(&name("ffn_up.weight"), cfg.n_ff, d)?;
            let w_down = ld.weight(&name("ffn_down.weight"), d, cfg.n_ff)?;
            let k_cache = ld.storage("k cache", n_ctx * kv_dim, none);
            let v_cache = ld.storage("v cache", n_ctx * kv_dim, none);

            layers.push(ld.dispatch(&RMSNORM, "rmsnorm", &[&x, &attn_norm, &h, &params], (1, 1)));
            ld.matvec(&wq, &h, &q, false, &mut layers);
            ld.matvec(&wk, &h, &k, false, &mut layers);
            ld.matvec(&wv, &h, &v, false, &mut layers);
            if cfg.qkv_bias {
                for (bias, out, len) in [
                    ("attn_q.bias", &q, q_dim),
                    ("attn_k.bias", &k, kv_dim),
                    ("attn_v.bias", &v, kv_dim),
                ] {
                    let b = ld.vector(&name(bias), len)?;
                    let p = ld.uniform(
                        "add",
                        &AddParams {
                            n: len as u32,
                            _pad: [0; 3],
                        },
                    );
                    layers.push(ld.dispatch(&ADD, "add", &[&b, out, &p], kernels::groups_for(len)));
                }
            }
            layers.push(ld.dispatch(
                &ROPE_Q,
                "rope_q",
                &[&table, &q, &q_rot, &params],
                kernels::groups_for(q_dim),
            ));
            layers.push(ld.dispatch(
                &KV_APPEND,
                "kv_append",
                &[&table, &k, &v, &k_cache, &v_cache, &params],
                kernels::groups_for(kv_dim),
            ));
            layers.push(ld.dispatch(
                &ATTENTION,
                "attention",
                &[&q_rot, &k_cache, &v_cache, &scores, &att, &params],
                (cfg.n_head as u32, 1),
            ));
            ld.matvec(&wo, &att, &x, true, &mut layers);
            layers.push(ld.dispatch(&RMSNORM, "rmsnorm", &[&x, &ffn_norm, &h, &params], (1, 1)));
            ld.matvec(&w_gate, &h, &gate, false, &mut layers);
            ld.matvec(&w_up, &h, &up, false, &mut layers);
            layers.push(ld.dispatch(
                &SILU_MUL,
                "silu_mul",
                &[&up, &gate, &params],
                kernels::groups_for(cfg.n_ff),
            ));
            ld.matvec(&w_down, &gate, &x, true, &mut layers);
        }

        let output_norm = ld.vector(names::OUTPUT_NORM, d)?;
        let output = if cfg.tied_embeddings {
            token_embd
        } else {
            ld.weight(names::OUTPUT, cfg.n_vocab, d)?
        };
        let mut head = vec![ld.dispatch(
            &RMSNORM,
            "rmsnorm",
            &[&x, &output_norm, &h, &params],
            (1, 1),
        )];
        ld.matvec(&output, &h, &logits, false, &mut head);
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("logits readback"),
            size: (READBACK_ROWS * cfg.n_vocab * 4) as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(Self {
            ctx: ctx.clone(),
            cfg,
            n_ctx,
            len: 0,
            base,
            params,
            embed,
            layers,
            head,
            logits,
            staging,
        })
    }

    /// Runs one token at position `pos`; with `slot`, copies its logits into that readback row.
    fn submit_token(&self, token: u32, pos: usize, slot: Option<usize>) {
        let token = token as usize;
        let embed = self
            .embed
            .iter()
            .find(|e| (e.first_row..e.first_row + e.rows).contains(&token))
            .unwrap_or(&self.embed[0]);
        let params = ModelParams {
            token_row: (token - embed.first_row) as u32,
            pos: pos as u32,
            n_kv: pos as u32 + 1,
            ..self.base
        };
        self.ctx
            .queue
            .write_buffer(&self.params, 0, bytemuck::bytes_of(&params));
        let mut encoder = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("step"),
            });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("step"),
                timestamp_writes: None,
            });
            let head: &[Dispatch] = if slot.is_some() { &self.head } else { &[] };
            for d in std::iter::once(&embed.dispatch)
                .chain(&self.layers)
                .chain(head)
            {
                pass.set_pipeline(&d.pipeline);
                pass.set_bind_group(0, &d.bind_group, &[]);
                pass.dispatch_workgroups(d.groups.0, d.groups.1, 1);
            }
        }
        if let Some(slot) = slot {
            let row = (self.cfg.n_vocab * 4) as u64;
            encoder.copy_buffer_to_buffer(&self.logits, 0, &self.staging, slot as u64 * row, row);
        }
        self.ctx.queue.submit([encoder.finish()]);
    }

    /// The async core of [`Backend::forward`] (the browser awaits it; native code blocks on it).
    pub async fn forward_async(
        &mut self,
        tokens: &[u32],
        which: LogitsFor,
    ) -> Result<Vec<f32>, GpuError> {
        let n = tokens.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        if self.len + n > self.n_ctx {
            return Err(ModelError::ContextOverflow {
                needed: self.len + n,
                n_ctx: self.n_ctx,
            }
            .into());
        }
        if let Some(&id) = tokens.iter().find(|&&id| id as usize >= self.cfg.n_vocab) {
            return Err(ModelError::BadToken {
                id,
                n_vocab: self.cfg.n_vocab,
            }
            .into());
        }
        if let Some(e) = self.ctx.take_fault() {
            return Err(e);
        }
        let n_vocab = self.cfg.n_vocab;
        let mut out = Vec::with_capacity(if which == LogitsFor::All {
            n * n_vocab
        } else {
            n_vocab
        });
        let mut slots = 0;
        for (i, &token) in tokens.iter().enumerate() {
            let wanted = which == LogitsFor::All || i == n - 1;
            self.submit_token(token, self.len + i, wanted.then_some(slots));
            slots += wanted as usize;
            if slots == READBACK_ROWS || (i == n - 1 && slots > 0) {
                let rows =
                    readback::read_f32(&self.ctx.device, &self.staging, slots * n_vocab).await;
                out.extend(rows?);
                slots = 0;
            }
        }
        if let Some(e) = self.ctx.take_fault() {
            return Err(e);
        }
        self.len += n;
        Ok(out)
    }
}

/// Pops an error scope natively, where the future is ready at once (wgpu-core resolves scopes
/// synchronously); in the browser the scope's result would need awaiting and is not waited for.
fn pollster_free_pop(
    fut: impl std::future::Future<Output = Option<wgpu::Error>>,
) -> Option<wgpu::Error> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        pollster::block_on(fut)
    }
    #[cfg(target_arch = "wasm32")]
    {
        drop(fut);
        None
    }
}

impl Backend for GpuBackend {
    fn config(&self) -> &Config {
        &self.cfg
    }

    fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    fn cache_len(&self) -> usize {
        self.len
    }

    /// Positions past `len` stay in GPU memory and are overwritten as the cache grows again.
    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    fn forward(&mut self, tokens: &[u32], which: LogitsFor) -> tokscope_model::Result<Vec<f32>> {
        #[cfg(not(target_arch = "wasm32"))]
        {
            Ok(pollster::block_on(self.forward_async(tokens, which))?)
        }
        #[cfg(target_arch = "wasm32")]
        {
            let _ = (tokens, which);
            Err(ModelError::Invalid(
                "the GPU backend is asynchronous in the browser: call forward_async".into(),
            ))
        }
    }

    fn describe(&self) -> String {
        format!("gpu: {} (f32)", self.ctx.describe())
    }
}
