//! The llama graph on the GPU: weights uploaded once in their quantized form, every buffer and bind
//! group made at load, a step (a decoded token, or a batch of up to [`MAX_BATCH`] prompt tokens)
//! recorded from those launches with no round trip inside it, only the logits or their summary
//! read back.

use crate::context::GpuContext;
use crate::error::GpuError;
use crate::kernels::{
    self, ADD, ATTENTION, ATTENTION_LANES, AddParams, Arithmetic, AttentionSplit, Batch, EMBED,
    Family, MATMUL, MATMUL_TOKENS, MATVEC, MATVEC_ROWWISE, MATVEC_ROWWISE_SUBGROUP,
    MATVEC_SUBGROUP, MATVEC_SUBGROUP_ROWS, MATVEC_TILE, MatvecParams, ModelParams, Pipelines,
    RMSNORM, SUMMARY, SummaryParams,
};
use crate::limits;
use crate::readback;
use crate::summary::{self, GpuSummary, MAX_TOP, SummaryRequest, summary_floats};
use crate::weights::{self, kernel_suffix};
use std::sync::Mutex;
use tokscope_gguf::GgmlType;
use tokscope_model::config::names;
use tokscope_model::file::TensorSource;
use tokscope_model::{Backend, Config, LogitsFor, ModelError, ModelFile, RopeStyle};
use wgpu::util::DeviceExt;

/// Tokens one step runs at most: prefill goes through the graph in batches of this many, and
/// the activation, score and logit buffers are sized for it.
pub const MAX_BATCH: usize = 32;

/// Default launches per command buffer ([`LoadOptions::launches_per_submit`]): on an H200 a
/// decode step of the default model's shape ran at 376 tok/s in pieces of 64 launches against 306
/// tok/s whole in one run, and the same either way in another (tests/bench/README.md).
pub const LAUNCHES_PER_SUBMIT: usize = 64;

/// What the z dimension of a launch's grid counts.
#[derive(Clone, Copy)]
enum PerToken {
    /// One per token of the step.
    Each,
    /// One per tile of this many tokens (the rowwise matvec, the matmul).
    Tiles(u32),
}

/// One recorded kernel launch: pipeline, its bind group (made at load) and the workgroup grid,
/// x and y fixed, z from the step's token count.
#[derive(Clone)]
struct Dispatch {
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    groups: (u32, u32),
    per_token: PerToken,
    /// What the launch computes, for profiles: the entry point, and a projection's shape
    /// (`matvec_q4_1 576×1536`).
    label: String,
    /// Weight bytes the launch reads (a projection's part), for profiles; 0 for the rest.
    weight_bytes: u64,
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
    ty: GgmlType,
    cols: usize,
    parts: Vec<WeightPart>,
}

/// The llama-family model on a GPU through wgpu, in f32 arithmetic: f32 activations, weights
/// dequantized in the kernels (their block scales stored as f16 where the adapter has
/// shader-f16: [`Arithmetic`]), f32 accumulation and an f32 KV cache (the CPU backend's default).
pub struct GpuBackend {
    ctx: GpuContext,
    arithmetic: Arithmetic,
    /// Kernels use subgroup operations ([`LoadOptions::subgroups`]).
    subgroups: bool,
    /// [`LoadOptions::gpu_summary`].
    pub(crate) gpu_summary: bool,
    cfg: Config,
    n_ctx: usize,
    len: usize,
    base: ModelParams,
    params: wgpu::Buffer,
    /// The step's token ids.
    tokens: wgpu::Buffer,
    /// The step's token count for the matvecs ([`Batch`]).
    batch: wgpu::Buffer,
    /// The residual stream, `[token][n_embd]`, and a copy of the step's last row.
    x: wgpu::Buffer,
    x_last: wgpu::Buffer,
    /// The launches of a step of one token (matvecs, norms folded in where the variant can).
    decode: Launches,
    /// The launches of a step of several tokens (the matmul, norms as launches of their own).
    batched: Launches,
    /// Final norm and LM head over `x_last` only (decode's launches).
    head_last: Vec<Dispatch>,
    logits: wgpu::Buffer,
    /// Where in `logits` the last computed position's row starts, in floats (`None` before the
    /// first readback step).
    last_row: Option<usize>,
    /// The summary of the last position (shaders/summary.wgsl), its params and launch.
    summary_out: wgpu::Buffer,
    summary_params: wgpu::Buffer,
    /// The summary's two launches (shaders/summary.wgsl).
    summary: [Dispatch; 2],
    staging: wgpu::Buffer,
    /// [`LoadOptions::launches_per_submit`].
    launches_per_submit: usize,
}

/// The launches of a step, recorded at load for one [`Mode`].
struct Launches {
    /// Every launch from the embedding (one per part) to the last layer's down projection.
    layers: Vec<Dispatch>,
    /// Final norm and LM head over every token of the step.
    head_all: Vec<Dispatch>,
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

/// Builds buffers, weights and launches for one model (what `GpuBackend::load` needs in one place).
struct Loader<'a> {
    device: &'a wgpu::Device,
    file: &'a ModelFile,
    /// Where the tensors' bytes are read from, one weight part at a time.
    source: &'a dyn TensorSource,
    pipelines: &'a Mutex<Pipelines>,
    max_binding: u64,
    matvec: MatvecVariant,
    /// The rowwise matvec's kernels: [`MATVEC_ROWWISE_SUBGROUP`] where the device has subgroups.
    rowwise: &'static Family,
    /// Batched steps use the rowwise matvec too (rowwise with subgroups), not the matmul.
    rowwise_batches: bool,
    arithmetic: Arithmetic,
    /// A 16-byte buffer bound where a kernel's layout has a binding the weight type does not use.
    dummy: wgpu::Buffer,
}

/// A binding: a whole buffer or a range of one (the q, k and v regions of the q/k/v buffer).
#[derive(Clone)]
struct Region<'b> {
    buffer: &'b wgpu::Buffer,
    /// Byte offset and size; `None` for the whole buffer.
    range: Option<(u64, u64)>,
}

impl<'b> Region<'b> {
    fn whole(buffer: &'b wgpu::Buffer) -> Self {
        Region {
            buffer,
            range: None,
        }
    }

    /// `floats` f32 elements from element `first`.
    fn floats(buffer: &'b wgpu::Buffer, first: usize, floats: usize) -> Self {
        Region {
            buffer,
            range: Some(((first * 4) as u64, (floats * 4) as u64)),
        }
    }

    fn binding(&self) -> wgpu::BindingResource<'b> {
        match self.range {
            None => self.buffer.as_entire_binding(),
            Some((offset, size)) => wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: self.buffer,
                offset,
                size: wgpu::BufferSize::new(size),
            }),
        }
    }
}

/// Where a matvec's outputs go in y (shaders/matvec.wgsl's MatvecParams), in elements.
#[derive(Clone, Copy)]
struct Place {
    base: usize,
    stride: usize,
    seg: [usize; 2],
    seg_base: [usize; 2],
}

impl Place {
    /// All of y, `[token][rows]`.
    fn whole(rows: usize) -> Self {
        Place {
            base: 0,
            stride: rows,
            seg: [0; 2],
            seg_base: [0; 2],
        }
    }
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

/// `floats` rounded up to whole 256-byte units: region starts that any adapter can bind at
/// (WebGPU's largest `minStorageBufferOffsetAlignment`).
fn aligned(floats: usize) -> usize {
    floats.next_multiple_of(64)
}

impl<'a> Loader<'a> {
    /// A buffer of `floats` f32 values, refused where the adapter could not bind it whole.
    fn storage(
        &self,
        label: &str,
        floats: usize,
        usage: wgpu::BufferUsages,
    ) -> Result<wgpu::Buffer, GpuError> {
        let size = (floats.max(4) as u64).saturating_mul(4);
        let usage = wgpu::BufferUsages::STORAGE | usage;
        limits::check_buffer(self.device, label, size, usage)?;
        Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage,
            mapped_at_creation: false,
        }))
    }

    /// A buffer holding `data`, refused where the adapter could not bind it whole.
    fn upload<T: bytemuck::Pod>(
        &self,
        label: &str,
        data: &[T],
        usage: wgpu::BufferUsages,
    ) -> Result<wgpu::Buffer, GpuError> {
        let size = std::mem::size_of_val(data) as u64;
        limits::check_buffer(self.device, label, size, usage)?;
        Ok(self.create_init(label, data, usage))
    }

    fn create_init<T: bytemuck::Pod>(
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

    /// A uniform of a few words: within every adapter's limits (WebGPU guarantees 64 KiB).
    fn uniform<T: bytemuck::Pod>(&self, label: &str, value: &T) -> wgpu::Buffer {
        self.create_init(
            label,
            std::slice::from_ref(value),
            wgpu::BufferUsages::UNIFORM,
        )
    }

    /// A norm weight or bias, dequantized to f32 (these vectors are tiny).
    fn vector(&self, name: &str, len: usize) -> Result<wgpu::Buffer, GpuError> {
        let v = self.file.vector_from(self.source, name, len)?;
        self.upload(name, &v, wgpu::BufferUsages::STORAGE)
    }

    /// A 2-D weight for the matvec variant in use, repacked and split into parts that each fit
    /// one storage binding.
    fn weight(&self, name: &str, rows: usize, cols: usize) -> Result<GpuWeight, GpuError> {
        self.weight_in(name, rows, cols, self.matvec == MatvecVariant::Rowwise)
    }

    /// A 2-D weight, row-major (`interleaved` false: what embed and the other matvecs read) or in
    /// the rowwise matvec's lane-interleaved layout.
    fn weight_in(
        &self,
        name: &str,
        rows: usize,
        cols: usize,
        interleaved: bool,
    ) -> Result<GpuWeight, GpuError> {
        let w = self.file.weight(name, rows, cols)?;
        let mut per_part = weights::rows_per_part(w.ty, rows, cols, self.max_binding);
        if interleaved && per_part < rows {
            // Whole lane blocks per part (padding never pushes a part past the binding).
            per_part = (per_part / kernels::RW_ROWS * kernels::RW_ROWS).max(kernels::RW_ROWS);
        }
        let row_bytes = w.row_bytes();
        let mut parts = Vec::new();
        for first_row in (0..rows).step_by(per_part) {
            let n = per_part.min(rows - first_row);
            let start = (w.offset + first_row * row_bytes) as u64;
            // The bytes read are dropped once repacked (in the browser they are wasm memory).
            let data = self.source.read(start, n * row_bytes)?;
            let packed = weights::repack(name, w.ty, &data, n, cols)?;
            drop(data);
            parts.push(self.part(name, (w.ty, cols, interleaved), packed, first_row, n)?);
        }
        Ok(GpuWeight {
            ty: w.ty,
            cols,
            parts,
        })
    }

    /// Rows `first_row..first_row + rows` of a weight of type `ty` and width `cols`, repacked,
    /// uploaded in the row-major layout or (`interleaved`) the rowwise matvec's.
    fn part(
        &self,
        label: &str,
        (ty, cols, interleaved): (GgmlType, usize, bool),
        mut packed: weights::Packed,
        first_row: usize,
        rows: usize,
    ) -> Result<WeightPart, GpuError> {
        if interleaved {
            let (lanes, groups) = (kernels::RW_LANES as usize, kernels::RW_GROUPS as usize);
            packed = weights::interleave(&packed, ty, rows, cols, lanes, groups);
        }
        Ok(WeightPart {
            first_row,
            rows,
            quants: self.upload(label, &packed.quants, wgpu::BufferUsages::STORAGE)?,
            scales: self.upload(
                label,
                &packed.scale_words(self.arithmetic),
                wgpu::BufferUsages::STORAGE,
            )?,
        })
    }

    /// Weights that share an input, type and width (q/k/v; gate/up) stacked row-wise into one
    /// matrix, so one launch computes them all; `None` where their types differ or the stack
    /// would not fit one storage binding (they are then launched one by one).
    fn stacked(&self, parts: &[(&str, usize)], cols: usize) -> Result<Option<GpuWeight>, GpuError> {
        let refs = parts
            .iter()
            .map(|&(name, rows)| self.file.weight(name, rows, cols))
            .collect::<Result<Vec<_>, _>>()?;
        let ty = refs[0].ty;
        let rows: usize = parts.iter().map(|p| p.1).sum();
        if refs.iter().any(|w| w.ty != ty)
            || kernel_suffix(ty).is_none()
            || weights::rows_per_part(ty, rows, cols, self.max_binding) < rows
        {
            return Ok(None);
        }
        let mut packed = weights::Packed::default();
        for (w, &(name, n)) in refs.iter().zip(parts) {
            let data = self.source.read(w.offset as u64, n * w.row_bytes())?;
            let p = weights::repack(name, ty, &data, n, cols)?;
            packed.quants.extend(p.quants);
            packed.scales.extend(p.scales);
        }
        let interleaved = self.matvec == MatvecVariant::Rowwise;
        let part = self.part(parts[0].0, (ty, cols, interleaved), packed, 0, rows)?;
        Ok(Some(GpuWeight {
            ty,
            cols,
            parts: vec![part],
        }))
    }

    /// Matrices sharing an input (q/k/v; gate/up), each to write its own region of the output,
    /// `[token][its rows]` from `bases[i]` (in elements): one stacked weight when they stack,
    /// else one weight per matrix.
    fn projection(
        &self,
        parts: &[(&str, usize)],
        cols: usize,
        bases: &[usize],
    ) -> Result<Vec<(GpuWeight, Place)>, GpuError> {
        if let Some(w) = self.stacked(parts, cols)? {
            // With two matrices the third segment starts at the last row and is never reached.
            let place = Place {
                base: 0,
                stride: parts[0].1,
                seg: [parts[0].1, parts[0].1 + parts[1].1],
                seg_base: [bases[1], bases.get(2).copied().unwrap_or(0)],
            };
            return Ok(vec![(w, place)]);
        }
        let mut out = Vec::new();
        for (&(name, rows), &base) in parts.iter().zip(bases) {
            let place = Place {
                base,
                ..Place::whole(rows)
            };
            out.push((self.weight(name, rows, cols)?, place));
        }
        Ok(out)
    }

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

/// How a matrix-vector product is spread over the GPU (shaders/matvec.wgsl).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatvecVariant {
    /// One workgroup per row with a workgroup-memory reduction: for GPUs.
    Workgroup,
    /// One invocation per row, no barriers: for adapters that run on the CPU.
    Rowwise,
    /// One subgroup per row with `subgroupAdd`: where the adapter has subgroups.
    Subgroup,
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
    /// How block scales are held (default: f16 where the adapter has shader-f16, else f32).
    pub arithmetic: Option<Arithmetic>,
    /// Launches per command buffer within a step (default [`LAUNCHES_PER_SUBMIT`]; `usize::MAX`
    /// for the whole step in one). Submitting a step in pieces lets the GPU start while the host
    /// still records the rest.
    pub launches_per_submit: Option<usize>,
    /// How attention splits a token's positions over workgroups (default:
    /// [`AttentionSplit::NONE`] on software adapters, [`AttentionSplit::GPU`] otherwise).
    pub attention_split: Option<AttentionSplit>,
    /// Whether kernels may use subgroup operations (default: where the device has them;
    /// `Some(false)` runs the fallbacks, as on an adapter without them).
    pub subgroups: Option<bool>,
    /// Whether a generation step's distribution is summarized on the GPU (default: yes), or its
    /// logits read back for the host to summarize: faster on SwiftShader, where each of the
    /// summary's workgroup barriers costs a coroutine switch per SIMD group.
    pub gpu_summary: Option<bool>,
    /// Test-only: the embedding kernel reads each token's neighbour's row (shaders/embed.wgsl's
    /// `WRONG_ROW`), a deliberately wrong kernel for the browser's WebGPU self-check to catch.
    pub test_wrong_embedding: bool,
}

/// The kernels a load settled on from [`LoadOptions`] and the adapter.
#[derive(Clone, Copy)]
struct KernelChoice {
    matvec: MatvecVariant,
    arithmetic: Arithmetic,
    split: AttentionSplit,
    subgroups: bool,
    /// [`LoadOptions::test_wrong_embedding`].
    wrong_embedding: bool,
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
        Self::with_source(ctx, file, file, n_ctx, options)
    }

    /// As [`GpuBackend::with_options`], each weight read from `source` just before its upload
    /// and dropped after it (`file` may hold only its header: the browser streams a `Blob`).
    pub fn with_source(
        ctx: &GpuContext,
        file: &ModelFile,
        source: &dyn TensorSource,
        n_ctx: usize,
        options: LoadOptions,
    ) -> Result<Self, GpuError> {
        let extensions = file.config.graph_extensions();
        if !extensions.is_empty() {
            return Err(GpuError::Unsupported(format!(
                "{} files need {}, which only the CPU backend computes",
                file.config.arch,
                extensions.join(", ")
            )));
        }
        // Before anything is allocated (the RoPE table alone grows with the context).
        limits::check_context(&ctx.device, &file.config, n_ctx.max(1))?;
        let limits = ctx.device.limits();
        let max_binding = options.max_binding.unwrap_or(
            limits
                .max_storage_buffer_binding_size
                .min(limits.max_buffer_size),
        );
        // The workgroup variant decodes faster than the subgroup one on the one hardware GPU
        // measured (H200, Vulkan: 306 against 250 tok/s; tests/bench/README.md), which prefills
        // faster (7,000 against 5,300 tok/s); decoding is what the tool spends its time on.
        let matvec = options.matvec.unwrap_or(if ctx.is_software() {
            MatvecVariant::Rowwise
        } else {
            MatvecVariant::Workgroup
        });
        let subgroups = ctx.has_subgroups() && options.subgroups != Some(false);
        if matvec == MatvecVariant::Subgroup && !subgroups {
            return Err(GpuError::Unsupported(
                "the subgroup matvec on an adapter without subgroups".into(),
            ));
        }
        let arithmetic = options.arithmetic.unwrap_or(match ctx.has_f16() {
            true => Arithmetic::F16,
            false => Arithmetic::F32,
        });
        if arithmetic == Arithmetic::F16 && !ctx.has_f16() {
            return Err(GpuError::Unsupported(
                "f16 scales on an adapter without shader-f16".into(),
            ));
        }
        let split = options.attention_split.unwrap_or(match ctx.is_software() {
            true => AttentionSplit::NONE,
            false => AttentionSplit::GPU,
        });
        let mut gpu = Self::load(
            ctx,
            (file, source),
            n_ctx,
            max_binding,
            KernelChoice {
                matvec,
                arithmetic,
                split,
                subgroups,
                wrong_embedding: options.test_wrong_embedding,
            },
        )?;
        gpu.gpu_summary = options.gpu_summary.unwrap_or(true);
        gpu.launches_per_submit = options
            .launches_per_submit
            .unwrap_or(LAUNCHES_PER_SUBMIT)
            .max(1);
        Ok(gpu)
    }

    fn load(
        ctx: &GpuContext,
        file: (&ModelFile, &dyn TensorSource),
        n_ctx: usize,
        max_binding: u64,
        kernels: KernelChoice,
    ) -> Result<Self, GpuError> {
        let device = &ctx.device;
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let built = Self::build(ctx, file, n_ctx.max(1), max_binding, kernels);
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
        (file, source): (&ModelFile, &dyn TensorSource),
        n_ctx: usize,
        max_binding: u64,
        KernelChoice {
            matvec,
            arithmetic,
            split,
            subgroups,
            wrong_embedding,
        }: KernelChoice,
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
            gpu_summary: true,
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
            launches_per_submit: usize::MAX,
        })
    }

    /// How the weights' block scales are held on the GPU.
    pub fn arithmetic(&self) -> Arithmetic {
        self.arithmetic
    }

    /// Records and submits one step: `tokens` (at most [`MAX_BATCH`]) at positions `pos..`, then
    /// what `out` asks for, copied to the readback buffer.
    /// With a `timer`, each launch runs in a compute pass of its own between two timestamps.
    fn submit_step(
        &self,
        tokens: &[u32],
        pos: usize,
        out: Option<Output>,
        mut timer: Option<&mut Timer>,
    ) {
        let n = tokens.len();
        let queue = &self.ctx.queue;
        let params = ModelParams {
            n_tokens: n as u32,
            pos: pos as u32,
            ..self.base
        };
        queue.write_buffer(&self.params, 0, bytemuck::bytes_of(&params));
        let batch = Batch {
            n_tokens: n as u32,
            pos: pos as u32,
            _pad: [0; 2],
        };
        queue.write_buffer(&self.batch, 0, bytemuck::bytes_of(&batch));
        queue.write_buffer(&self.tokens, 0, bytemuck::cast_slice(tokens));
        let new_encoder = || {
            self.ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("step"),
                })
        };
        let graph = match n {
            1 => &self.decode,
            _ => &self.batched,
        };
        let head_all: &[Dispatch] = match out {
            Some(Output::All) => &graph.head_all,
            _ => &[],
        };
        // Pieces of `launches_per_submit` launches, each but the last submitted as recorded.
        let mut launches = graph.layers.iter().chain(head_all).peekable();
        let mut encoder = new_encoder();
        while launches.peek().is_some() {
            record(
                &mut encoder,
                launches.by_ref().take(self.launches_per_submit),
                n,
                timer.as_deref_mut(),
            );
            if launches.peek().is_some() {
                let full = std::mem::replace(&mut encoder, new_encoder());
                queue.submit([full.finish()]);
            }
        }
        let n_vocab = self.cfg.n_vocab;
        let row = (self.cfg.n_embd * 4) as u64;
        let last = (n - 1) as u64 * row;
        let copy_floats = match out {
            None => 0,
            Some(Output::All) => n * n_vocab,
            Some(Output::Last) => {
                encoder.copy_buffer_to_buffer(&self.x, last, &self.x_last, 0, row);
                record(&mut encoder, self.head_last.iter(), 1, timer);
                n_vocab
            }
            Some(Output::Summary(p)) => {
                queue.write_buffer(&self.summary_params, 0, bytemuck::bytes_of(&p));
                encoder.copy_buffer_to_buffer(&self.x, last, &self.x_last, 0, row);
                let head = self.head_last.iter().chain(&self.summary);
                record(&mut encoder, head, 1, timer);
                let bytes = (summary_floats(p.top_n as usize) * 4) as u64;
                encoder.copy_buffer_to_buffer(&self.summary_out, 0, &self.staging, 0, bytes);
                0
            }
        };
        if copy_floats > 0 {
            let bytes = (copy_floats * 4) as u64;
            encoder.copy_buffer_to_buffer(&self.logits, 0, &self.staging, 0, bytes);
        }
        queue.submit([encoder.finish()]);
    }

    /// The async core of [`Backend::forward`] (the browser awaits it; native code blocks on it).
    pub async fn forward_async(
        &mut self,
        tokens: &[u32],
        which: LogitsFor,
    ) -> Result<Vec<f32>, GpuError> {
        let out = match which {
            LogitsFor::All => Output::All,
            LogitsFor::Last => Output::Last,
        };
        self.run(tokens, out).await
    }

    /// Runs `tokens` like [`Backend::forward`] but reads back only the summary of the last
    /// position's distribution (a few hundred bytes instead of the vocabulary's logits), with the
    /// `top_n` (at most [`MAX_TOP`]) most likely tokens.
    pub async fn forward_summary_async(
        &mut self,
        tokens: &[u32],
        top_n: usize,
    ) -> Result<GpuSummary, GpuError> {
        let request = SummaryRequest {
            top_n,
            ..SummaryRequest::default()
        };
        self.forward_summary_with_async(tokens, &request).await
    }

    /// [`GpuBackend::forward_summary_async`], blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn forward_summary(
        &mut self,
        tokens: &[u32],
        top_n: usize,
    ) -> Result<GpuSummary, GpuError> {
        pollster::block_on(self.forward_summary_async(tokens, top_n))
    }

    /// Runs `tokens` and summarizes the last position's distribution as `request` asks: its top
    /// tokens, the scored token's logprob and rank, and a token drawn as crates/dist would for
    /// the request's uniform draw. Where the GPU cannot decide the draw
    /// ([`crate::GpuSample::Undecided`]), [`GpuBackend::last_logits_async`] gives the logits to
    /// sample from on the host. Errors, before running anything, on a bad token or bad settings.
    pub async fn forward_summary_with_async(
        &mut self,
        tokens: &[u32],
        request: &SummaryRequest,
    ) -> Result<GpuSummary, GpuError> {
        let (p, host) = summary::params(request, self.cfg.n_vocab)?;
        let raw = self.run(tokens, Output::Summary(p)).await?;
        Ok(summary::decode(&raw, &p, host))
    }

    /// [`GpuBackend::forward_summary_with_async`], blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn forward_summary_with(
        &mut self,
        tokens: &[u32],
        request: &SummaryRequest,
    ) -> Result<GpuSummary, GpuError> {
        pollster::block_on(self.forward_summary_with_async(tokens, request))
    }

    /// The logits of the last position the previous call computed (for the host to sample from
    /// where the GPU could not decide), read back from GPU memory without running the model.
    pub async fn last_logits_async(&self) -> Result<Vec<f32>, GpuError> {
        let Some(row) = self.last_row else {
            return Err(GpuError::Readback(
                "no position has been computed yet".into(),
            ));
        };
        let n_vocab = self.cfg.n_vocab;
        let mut encoder = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("last logits"),
            });
        let bytes = (n_vocab * 4) as u64;
        encoder.copy_buffer_to_buffer(&self.logits, (row * 4) as u64, &self.staging, 0, bytes);
        self.ctx.queue.submit([encoder.finish()]);
        readback::read_f32(&self.ctx.device, &self.staging, n_vocab)
            .await
            .map_err(|e| self.ctx.take_fault().unwrap_or(e))
    }

    /// [`GpuBackend::last_logits_async`], blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn last_logits(&self) -> Result<Vec<f32>, GpuError> {
        pollster::block_on(self.last_logits_async())
    }

    /// Errors, before anything runs, if `tokens` would overflow the context or are not in the
    /// vocabulary, or if the device has failed.
    fn check(&self, tokens: &[u32]) -> Result<(), GpuError> {
        if self.len + tokens.len() > self.n_ctx {
            return Err(ModelError::ContextOverflow {
                needed: self.len + tokens.len(),
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
        match self.ctx.take_fault() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Runs `tokens` in steps of at most [`MAX_BATCH`] and reads back what `out` asks for.
    async fn run(&mut self, tokens: &[u32], out: Output) -> Result<Vec<f32>, GpuError> {
        let n = tokens.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        self.check(tokens)?;
        let n_vocab = self.cfg.n_vocab;
        let mut result = Vec::new();
        let mut done = 0;
        for chunk in tokens.chunks(MAX_BATCH) {
            let last_chunk = done + chunk.len() == n;
            let step_out = match out {
                Output::All => Some(Output::All),
                other => last_chunk.then_some(other),
            };
            self.submit_step(chunk, self.len + done, step_out, None);
            done += chunk.len();
            let floats = match step_out {
                None => continue,
                Some(Output::All) => chunk.len() * n_vocab,
                Some(Output::Last) => n_vocab,
                Some(Output::Summary(p)) => summary_floats(p.top_n as usize),
            };
            // The last position's logits row: the step's last token, or the head's single row.
            self.last_row = Some(match step_out {
                Some(Output::All) => (chunk.len() - 1) * n_vocab,
                _ => 0,
            });
            let read = readback::read_f32(&self.ctx.device, &self.staging, floats)
                .await
                // A failed map is usually the symptom; the device's own report says why.
                .map_err(|e| self.ctx.take_fault().unwrap_or(e))?;
            result.extend(read);
        }
        if let Some(e) = self.ctx.take_fault() {
            return Err(e);
        }
        self.len += n;
        Ok(result)
    }
}

mod profile;
use profile::Timer;
pub use profile::{LaunchTime, StepProfile};

/// What a step reads back.
#[derive(Clone, Copy)]
enum Output {
    /// Every token's logits.
    All,
    /// The last token's logits.
    Last,
    /// The summary of the last token's distribution (shaders/summary.wgsl's uniform).
    Summary(SummaryParams),
}

/// Records launches into one compute pass for a step of `n` tokens; with a `timer`, each into a
/// pass of its own that the timer's timestamps open and close.
fn record<'a>(
    encoder: &mut wgpu::CommandEncoder,
    dispatches: impl Iterator<Item = &'a Dispatch>,
    n: usize,
    timer: Option<&mut Timer>,
) {
    let launch = |pass: &mut wgpu::ComputePass, d: &Dispatch| {
        let z = match d.per_token {
            PerToken::Each => n as u32,
            PerToken::Tiles(tile) => (n as u32).div_ceil(tile),
        };
        pass.set_pipeline(&d.pipeline);
        pass.set_bind_group(0, &d.bind_group, &[]);
        pass.dispatch_workgroups(d.groups.0, d.groups.1, z);
    };
    let Some(timer) = timer else {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("step"),
            timestamp_writes: None,
        });
        dispatches.for_each(|d| launch(&mut pass, d));
        return;
    };
    for d in dispatches {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(&d.label),
            timestamp_writes: timer.next(d),
        });
        launch(&mut pass, d);
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

    /// The browser's path: awaits the readback instead of blocking on it.
    fn forward_async<'a>(
        &'a mut self,
        tokens: &'a [u32],
        which: LogitsFor,
    ) -> tokscope_model::ForwardFuture<'a> {
        Box::pin(async move { Ok(GpuBackend::forward_async(self, tokens, which).await?) })
    }

    /// The GPU's answer: the summary kernel's few hundred bytes instead of the logits.
    fn forward_step_async<'a>(
        &'a mut self,
        tokens: &'a [u32],
        query: &'a tokscope_model::StepQuery,
    ) -> tokscope_model::StepFuture<'a> {
        Box::pin(async move { Ok(self.step_async(tokens, query).await?) })
    }

    fn describe(&self) -> String {
        format!(
            "gpu: {} ({} scales, f32 arithmetic{})",
            self.ctx.describe(),
            self.arithmetic().name(),
            if self.subgroups { ", subgroups" } else { "" }
        )
    }
}
