//! The WGSL kernels (shaders/): their sources, the Rust mirrors of their params, their binding
//! layouts and a pipeline cache keyed by variant name (`matvec_q4_1`, which doubles as the label)
//! and, for the kernels that read weights, the [`Arithmetic`] they dequantize in.

use crate::weights;
use bytemuck::{Pod, Zeroable};
use std::collections::HashMap;

/// Invocations per workgroup of every kernel: the one place it is set. Prepended to each shader as
/// `const WG`; a power of two (the reductions halve it).
pub const WORKGROUP_SIZE: u32 = 64;

/// Tokens one invocation of a rowwise matvec computes together (each weight unit is dequantized
/// once per tile); prepended to each shader as `const TILE`.
pub const MATVEC_TILE: u32 = 8;

/// Rows interleaved in the rowwise matvec's weight layout: the SIMD width of a software adapter
/// (SwiftShader's is 4), so that one SIMD group's loads are adjacent words; prepended as
/// `const RW_LANES` (shaders/matvec.wgsl).
pub const RW_LANES: u32 = 4;

/// Row groups one invocation of a rowwise matvec computes (each input load serves them all);
/// prepended as `const RW_GROUPS`. The kernels accumulate them in a vec4: keep it 4.
pub const RW_GROUPS: u32 = 4;

/// Rows one invocation-lane block of the rowwise matvec covers; weights are padded to a multiple.
pub const RW_ROWS: usize = (RW_LANES * RW_GROUPS) as usize;

/// Tokens one workgroup of the matmul (batched steps) computes for each of its rows, each
/// weight block read once for all of them; prepended as `const MM_TOKENS`. Each invocation
/// takes half of them, summed in a vec4: keep it 8.
pub const MATMUL_TOKENS: u32 = 8;

/// Elements of each token's input the matmul stages in workgroup memory at a time (a multiple
/// of 32; `MATMUL_TOKENS · MATMUL_CHUNK` f32 must fit WebGPU's 16 KiB); prepended as
/// `const MM_CHUNK`.
pub const MATMUL_CHUNK: u32 = 256;
const _: () =
    assert!(MATMUL_CHUNK.is_multiple_of(32) && MATMUL_TOKENS * MATMUL_CHUNK * 4 <= 16 * 1024);

/// Rows one workgroup of a subgroup matvec computes; prepended to each shader as `const SG_ROWS`.
pub const MATVEC_SUBGROUP_ROWS: u32 = 8;

/// How the kernels that read weights (embed, matvec) hold the weights' f16 data: prepended to
/// their modules as `alias st = f32;` or `enable f16; alias st = f16;` (common/quant.wgsl).
/// As in llama.cpp's WebGPU backend, f16 is a storage type only: each scale is widened to f32
/// before use and dequantization, products and sums are f32 in both, so both give the same
/// results. (f16 dequantization was measured and rejected: KL up to 9.8e-5 per step against the
/// CPU backend on the default model, against a 1e-4 bound.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Arithmetic {
    /// f32 block scales (GGUF's f16 scales widened at load): any adapter.
    #[default]
    F32,
    /// GGUF's f16 block scales kept as they are and loaded as WGSL `f16` (adapters with
    /// `shader-f16`): 2 bytes less per block of 32 weights (Q4_1: 4), 7-17% less weight traffic.
    F16,
}

impl Arithmetic {
    /// "f32" or "f16": the suffix of the pipeline labels of kernels that read weights.
    pub fn name(self) -> &'static str {
        match self {
            Arithmetic::F32 => "f32",
            Arithmetic::F16 => "f16",
        }
    }

    /// The WGSL that opens a module of a kernel that reads weights: the enable directive the
    /// f16 type needs, then the scale type's alias.
    fn header(self) -> &'static str {
        match self {
            Arithmetic::F32 => "alias st = f32;\n",
            Arithmetic::F16 => "enable f16;\nalias st = f16;\n",
        }
    }
}

/// Most workgroups one dispatch dimension may have (WebGPU's default limit).
const MAX_GROUPS_PER_DIM: u32 = 65_535;

/// The per-step uniform (shaders/common/model_params.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct ModelParams {
    pub n_tokens: u32,
    pub pos: u32,
    pub _pad3: u32,
    pub n_embd: u32,
    pub n_head: u32,
    pub n_head_kv: u32,
    pub head_dim: u32,
    pub rope_half: u32,
    pub rope_neox: u32,
    pub n_ctx: u32,
    pub n_ff: u32,
    pub _pad0: u32,
    pub rms_eps: f32,
    pub attn_scale: f32,
    pub _pad1: u32,
    pub _pad2: u32,
}
const _: () = assert!(std::mem::size_of::<ModelParams>() == 64);

/// matvec's uniform (shaders/matvec.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct MatvecParams {
    pub rows: u32,
    pub cols: u32,
    /// Element of y that row 0 of this weight part writes.
    pub y_offset: u32,
    /// 1: y += W·x; 0: y = W·x.
    pub accumulate: u32,
    /// Elements per token in y (all rows of the weight; a stacked weight's first matrix's).
    pub y_stride: u32,
    /// A stacked weight's segments (shaders/matvec.wgsl): the first rows of its second and third
    /// matrix (0: not stacked), and where their outputs start in y.
    pub seg: [u32; 2],
    pub seg_base: [u32; 2],
    /// 1: RMSNorm folded in (x is the residual stream, binding 6 the norm's weights).
    pub norm: u32,
    pub eps: f32,
    /// Where the pipeline's `SWIGLU` is set (the down projection, whose x is the gate/up buffer
    /// and its input silu(gate) · up): the element where up starts.
    pub up_base: u32,
    /// 1: the weight is in the rowwise matvec's lane-interleaved layout (shaders/matmul.wgsl).
    pub interleaved: u32,
    /// Where the pipeline's `ATTN_INPUT` is set (the o projection of split attention, whose x is
    /// a partial softmax per chunk of positions, combined as it is read): heads of this many
    /// elements, chunks as [`AttentionSplit`]. Unread otherwise.
    pub attn_head_dim: u32,
    pub attn_chunk_min: u32,
    pub attn_max_chunks: u32,
    pub _pad: [u32; 4],
}
const _: () = assert!(std::mem::size_of::<MatvecParams>() == 80);

/// matvec's per-step uniform: tokens in the step (shaders/matvec.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct Batch {
    pub n_tokens: u32,
    /// The position of the step's first token (the o projection's attention chunks).
    pub pos: u32,
    pub _pad: [u32; 2],
}
const _: () = assert!(std::mem::size_of::<Batch>() == 16);

/// attention's uniform: where the keys and values start in the q/k/v buffer, in elements
/// (shaders/attention.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct AttentionParams {
    pub k_base: u32,
    pub v_base: u32,
    /// [`AttentionSplit`].
    pub chunk_min: u32,
    pub max_chunks: u32,
}
const _: () = assert!(std::mem::size_of::<AttentionParams>() == 16);

/// How attention splits a token's cached positions over workgroups (shaders/common/attn_split.wgsl):
/// chunks of at least `min_len` positions, at most `max_chunks` per head and token. One workgroup
/// per head leaves most of a large GPU idle at long contexts; each chunk costs a partial softmax
/// that the o projection combines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionSplit {
    pub min_len: u32,
    pub max_chunks: u32,
}

impl AttentionSplit {
    /// One workgroup per head and token: adapters that run on the CPU, whose few cores the heads
    /// already fill, and where every workgroup costs.
    pub const NONE: Self = Self {
        min_len: 1 << 30,
        max_chunks: 1,
    };
    /// Hardware GPUs: a 2,048-position context in 16 chunks of 128 per head.
    pub const GPU: Self = Self {
        min_len: 128,
        max_chunks: 16,
    };
}

/// The largest head dimension attention.wgsl takes (its rotated query is held in workgroup
/// memory).
pub const MAX_HEAD_DIM: usize = 256;

/// embed's per-part uniform: the token ids one part of a split embedding holds (shaders/embed.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct EmbedPart {
    pub first_row: u32,
    pub rows: u32,
    pub _pad: [u32; 2],
}
const _: () = assert!(std::mem::size_of::<EmbedPart>() == 16);

/// add's uniform (shaders/add.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct AddParams {
    pub n: u32,
    pub _pad: [u32; 3],
}
const _: () = assert!(std::mem::size_of::<AddParams>() == 16);

/// summary's uniform (shaders/summary.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct SummaryParams {
    pub n_vocab: u32,
    pub top_n: u32,
    /// The token scored, or `u32::MAX` for none.
    pub target: u32,
    /// 1: draw a token.
    pub sample: u32,
    /// 1 / temperature; 0 for temperature 0.
    pub inv_temp: f32,
    pub top_k: u32,
    pub top_p: f32,
    pub min_p: f32,
    /// The uniform draw.
    pub u: f32,
    /// Tokens per chunk of the first launch, and chunks (at most [`crate::summary::MAX_CHUNKS`]).
    pub chunk: u32,
    pub n_chunks: u32,
    pub _pad: u32,
}
const _: () = assert!(std::mem::size_of::<SummaryParams>() == 48);

/// How a kernel uses one binding; bindings are numbered in slice order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
    Uniform,
}

use Access::{Read as R, ReadWrite as W, Uniform as U};

/// A kernel family: one WGSL file (with the shared helpers it needs) and its binding layout.
pub struct Family {
    pub file: &'static str,
    /// WGSL `enable` directives the module needs (they must open it).
    enables: &'static str,
    /// True for the kernels that read weights: their module is built per [`Arithmetic`].
    pub weights: bool,
    /// The module's `WG`: [`WORKGROUP_SIZE`] except where one workgroup does all the work.
    workgroup: u32,
    source: &'static str,
    helpers: &'static [&'static str],
    pub bindings: &'static [Access],
}

const REDUCE: &str = include_str!("../../../shaders/common/reduce.wgsl");
const QUANT: &str = include_str!("../../../shaders/common/quant.wgsl");
const MODEL_PARAMS: &str = include_str!("../../../shaders/common/model_params.wgsl");
const ROPE: &str = include_str!("../../../shaders/common/rope.wgsl");
const ATTN_SPLIT: &str = include_str!("../../../shaders/common/attn_split.wgsl");

pub const EMBED: Family = Family {
    file: "embed.wgsl",
    enables: "",
    weights: true,
    workgroup: WORKGROUP_SIZE,
    source: include_str!("../../../shaders/embed.wgsl"),
    helpers: &[QUANT, MODEL_PARAMS],
    bindings: &[R, R, R, W, U, U],
};
const MATVEC_SOURCE: &str = include_str!("../../../shaders/matvec.wgsl");

pub const MATVEC: Family = Family {
    file: "matvec.wgsl",
    enables: "",
    weights: true,
    workgroup: WORKGROUP_SIZE,
    source: MATVEC_SOURCE,
    helpers: &[REDUCE, QUANT, ATTN_SPLIT],
    bindings: &[R, R, R, W, U, U, R],
};
/// The directives a module with subgroup operations opens with. Browsers want the WGSL extension
/// enabled, and check that subgroup operations run in subgroup-uniform control flow, which
/// these kernels ensure otherwise than the analysis can see (whole SIMD groups return together);
/// naga (native) takes subgroup operations without the extension and refuses the directive.
const SUBGROUPS: &str = if cfg!(target_arch = "wasm32") {
    "enable subgroups;\ndiagnostic(off, subgroup_uniformity);\n"
} else {
    ""
};
/// The subgroup variants: matvec.wgsl's bindings and units, then the subgroup entry points.
pub const MATVEC_SUBGROUP: Family = Family {
    file: "matvec_subgroup.wgsl",
    enables: SUBGROUPS,
    weights: true,
    workgroup: WORKGROUP_SIZE,
    source: include_str!("../../../shaders/matvec_subgroup.wgsl"),
    helpers: &[REDUCE, QUANT, ATTN_SPLIT, MATVEC_SOURCE],
    bindings: &[R, R, R, W, U, U, R],
};
const MATVEC_ROWWISE_SOURCE: &str = include_str!("../../../shaders/matvec_rowwise.wgsl");
/// The rowwise variants (adapters that run on the CPU): matvec.wgsl's bindings and inputs, each
/// invocation loading the inputs itself.
pub const MATVEC_ROWWISE: Family = Family {
    file: "matvec_rowwise.wgsl",
    enables: "",
    weights: true,
    workgroup: WORKGROUP_SIZE,
    source: MATVEC_ROWWISE_SOURCE,
    helpers: &[
        REDUCE,
        QUANT,
        ATTN_SPLIT,
        MATVEC_SOURCE,
        include_str!("../../../shaders/common/rowwise_x.wgsl"),
    ],
    bindings: &[R, R, R, W, U, U, R],
};
/// [`MATVEC_ROWWISE`] where the adapter has subgroups: a SIMD group's lanes share the inputs'
/// loads (shaders/common/rowwise_x_subgroup.wgsl; SwiftShader's Q4_1 matvecs 2.4× faster).
pub const MATVEC_ROWWISE_SUBGROUP: Family = Family {
    file: "matvec_rowwise.wgsl+subgroup",
    enables: SUBGROUPS,
    helpers: &[
        REDUCE,
        QUANT,
        ATTN_SPLIT,
        MATVEC_SOURCE,
        include_str!("../../../shaders/common/rowwise_x_subgroup.wgsl"),
    ],
    ..MATVEC_ROWWISE
};
/// The batched matmul: matvec.wgsl's bindings, params and dequantization helpers, then the
/// tiled entry points.
pub const MATMUL: Family = Family {
    file: "matmul.wgsl",
    enables: "",
    weights: true,
    workgroup: WORKGROUP_SIZE,
    source: include_str!("../../../shaders/matmul.wgsl"),
    helpers: &[REDUCE, QUANT, ATTN_SPLIT, MATVEC_SOURCE],
    bindings: &[R, R, R, W, U, U, R],
};
pub const RMSNORM: Family = Family {
    file: "rmsnorm.wgsl",
    enables: "",
    weights: false,
    workgroup: WORKGROUP_SIZE,
    source: include_str!("../../../shaders/rmsnorm.wgsl"),
    helpers: &[REDUCE, MODEL_PARAMS],
    bindings: &[R, R, W, U],
};
const ATTENTION_SOURCE: &str = include_str!("../../../shaders/attention.wgsl");
pub const ATTENTION: Family = Family {
    file: "attention.wgsl",
    enables: "",
    weights: false,
    workgroup: WORKGROUP_SIZE,
    source: ATTENTION_SOURCE,
    helpers: &[REDUCE, MODEL_PARAMS, ROPE, ATTN_SPLIT],
    bindings: &[R, R, W, W, W, W, U, U],
};
/// Attention as one SIMD group per head, chunk and token, without barriers: the rowwise matvec's
/// companion on adapters that run on the CPU and have subgroups.
pub const ATTENTION_LANES: Family = Family {
    file: "attention_lanes.wgsl",
    enables: SUBGROUPS,
    weights: false,
    workgroup: RW_LANES,
    source: include_str!("../../../shaders/attention_lanes.wgsl"),
    helpers: &[REDUCE, MODEL_PARAMS, ROPE, ATTN_SPLIT, ATTENTION_SOURCE],
    bindings: ATTENTION.bindings,
};
pub const ADD: Family = Family {
    file: "add.wgsl",
    enables: "",
    weights: false,
    workgroup: WORKGROUP_SIZE,
    source: include_str!("../../../shaders/add.wgsl"),
    helpers: &[],
    bindings: &[R, W, U],
};

pub const SUMMARY: Family = Family {
    file: "summary.wgsl",
    enables: "",
    weights: false,
    // A single workgroup reads the whole vocabulary: as many invocations as WebGPU guarantees,
    // so that enough loads are in flight on a hardware GPU.
    workgroup: 256,
    source: include_str!("../../../shaders/summary.wgsl"),
    helpers: &[REDUCE],
    bindings: &[R, W, U, W],
};

impl Family {
    /// The module source: the enable directives, the scale type's alias (kernels that read
    /// weights), the host's constants, the helpers, then the kernel file.
    pub fn full_source(&self, arithmetic: Arithmetic) -> String {
        let alias = if self.weights {
            arithmetic.header()
        } else {
            ""
        };
        let mut s = format!(
            "{}{alias}const WG: u32 = {}u;\nconst TILE: u32 = {MATVEC_TILE}u;\nconst SG_ROWS: u32 = {MATVEC_SUBGROUP_ROWS}u;\nconst RW_LANES: u32 = {RW_LANES}u;\nconst RW_GROUPS: u32 = {RW_GROUPS}u;\nconst MM_TOKENS: u32 = {MATMUL_TOKENS}u;\nconst MM_CHUNK: u32 = {MATMUL_CHUNK}u;\nconst MAX_TOP: u32 = {}u;\n",
            self.enables,
            self.workgroup,
            crate::summary::MAX_TOP
        );
        for h in self.helpers {
            s.push_str(&expand_per_type(h));
            s.push('\n');
        }
        s.push_str(&expand_per_type(self.source));
        s
    }
}

/// Opens and closes a region of a shader that the host writes out once per weight type.
const EACH_TYPE: &str = "//{{#each type}}";
const END_EACH: &str = "//{{/each}}";

/// A shader with each region between a `//{{#each type}}` line and a `//{{/each}}` line written
/// out once per weight type ([`weights::FORMATS`]): `{{T}}` becomes the type's suffix (`q4_1`),
/// `{{WORDS}}` and `{{SCALES}}` its u32 quant words and scales per block of 32 elements. WGSL has
/// no generics, and the per-type entry points differ only in these, so each is written once (as
/// llama.cpp's shader templates do). A region left open runs to the end of the source.
fn expand_per_type(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut region: Option<String> = None;
    for line in src.split_inclusive('\n') {
        match (line.trim(), &mut region) {
            (EACH_TYPE, None) => region = Some(String::new()),
            (END_EACH, Some(body)) => {
                write_per_type(&mut out, body);
                region = None;
            }
            (_, Some(body)) => body.push_str(line),
            (_, None) => out.push_str(line),
        }
    }
    if let Some(body) = region {
        write_per_type(&mut out, &body);
    }
    out
}

fn write_per_type(out: &mut String, body: &str) {
    for f in &weights::FORMATS {
        out.push_str(
            &body
                .replace("{{T}}", f.suffix)
                .replace("{{WORDS}}", &format!("{}u", f.words))
                .replace("{{SCALES}}", &format!("{}u", f.scales)),
        );
    }
}

/// One compute pipeline with the layout its bind groups are made with.
#[derive(Clone)]
pub struct Kernel {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

/// Compiled pipelines, each built once: modules by file, pipelines by file and label (the entry
/// point, with the arithmetic appended for kernels that read weights: `matvec_q4_1.f16`).
pub struct Pipelines {
    device: wgpu::Device,
    modules: HashMap<(&'static str, Arithmetic), wgpu::ShaderModule>,
    kernels: HashMap<(&'static str, String), Kernel>,
}

impl Pipelines {
    pub fn new(device: &wgpu::Device) -> Self {
        Self {
            device: device.clone(),
            modules: HashMap::new(),
            kernels: HashMap::new(),
        }
    }

    /// The pipeline of entry point `entry` (the variant name) of `family`, built for
    /// `arithmetic` if the family reads weights (ignored otherwise).
    pub fn get(&mut self, family: &Family, entry: &str, arithmetic: Arithmetic) -> Kernel {
        self.get_with(family, entry, arithmetic, &[])
    }

    /// [`Pipelines::get`] with values for the module's pipeline-overridable constants
    /// (`override` in WGSL), which name the pipeline too: `matvec_q4_1.f32+ATTN_INPUT=1`.
    pub fn get_with(
        &mut self,
        family: &Family,
        entry: &str,
        arithmetic: Arithmetic,
        constants: &[(&str, f64)],
    ) -> Kernel {
        let arithmetic = if family.weights {
            arithmetic
        } else {
            Arithmetic::F32
        };
        let mut label = match family.weights {
            true => format!("{entry}.{}", arithmetic.name()),
            false => entry.to_string(),
        };
        for (name, value) in constants {
            label.push_str(&format!("+{name}={value}"));
        }
        // Families may share entry point names (the rowwise matvec's two input loaders).
        if let Some(k) = self.kernels.get(&(family.file, label.clone())) {
            return k.clone();
        }
        let device = &self.device;
        let module = self
            .modules
            .entry((family.file, arithmetic))
            .or_insert_with(|| {
                device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(family.file),
                    source: wgpu::ShaderSource::Wgsl(family.full_source(arithmetic).into()),
                })
            });
        let entries: Vec<wgpu::BindGroupLayoutEntry> = family
            .bindings
            .iter()
            .enumerate()
            .map(|(i, access)| wgpu::BindGroupLayoutEntry {
                binding: i as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: binding_type(*access),
                count: None,
            })
            .collect();
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(&label),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(&label),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&label),
            layout: Some(&pipeline_layout),
            module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                ..Default::default()
            },
            cache: None,
        });
        let kernel = Kernel { pipeline, layout };
        self.kernels.insert((family.file, label), kernel.clone());
        kernel
    }
}

/// The layout entry type of a binding used with `access`.
fn binding_type(access: Access) -> wgpu::BindingType {
    let ty = match access {
        Access::Uniform => wgpu::BufferBindingType::Uniform,
        Access::Read => wgpu::BufferBindingType::Storage { read_only: true },
        Access::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
    };
    wgpu::BindingType::Buffer {
        ty,
        has_dynamic_offset: false,
        min_binding_size: None,
    }
}

/// Workgroups for `n` invocations of one element each.
pub fn groups_for(n: usize) -> (u32, u32) {
    ((n as u32).div_ceil(WORKGROUP_SIZE), 1)
}

/// Workgroups for one workgroup per row, folded into two dimensions past 65535 rows (the kernel
/// computes `row = x + y · num_workgroups.x` and skips rows past the end).
pub fn groups_per_row(rows: usize) -> (u32, u32) {
    let rows = rows as u32;
    let x = rows.clamp(1, MAX_GROUPS_PER_DIM);
    (x, rows.div_ceil(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_grids_cover_every_row_within_the_limit() {
        for rows in [1usize, 576, 65_535, 65_536, 151_936, 262_144] {
            let (x, y) = groups_per_row(rows);
            assert!(x <= MAX_GROUPS_PER_DIM && y <= MAX_GROUPS_PER_DIM);
            assert!((x as usize) * (y as usize) >= rows);
            assert!((x as usize) * (y as usize - 1) < rows);
        }
        assert_eq!(groups_for(65), (2, 1));
    }

    #[test]
    fn per_type_regions_expand_once_per_type() {
        let src = "a // {{T}} in a comment\n//{{#each type}}\nfn f_{{T}}() -> u32 { return {{WORDS}} + {{SCALES}}; }\n//{{/each}}\nb\n";
        let out = expand_per_type(src);
        assert!(
            out.starts_with("a // {{T}} in a comment\n") && out.ends_with("}\nb\n"),
            "{out}"
        );
        assert!(
            out.contains("fn f_q4_1() -> u32 { return 4u + 2u; }"),
            "{out}"
        );
        assert!(
            out.contains("fn f_f32() -> u32 { return 32u + 0u; }"),
            "{out}"
        );
        assert_eq!(out.matches("fn f_").count(), weights::FORMATS.len());
        assert_eq!(out.matches("{{").count(), 1, "{out}");
    }

    #[test]
    fn every_weight_kernel_has_an_entry_point_per_type() {
        let entries = [
            (&EMBED, "embed_{}("),
            (&MATVEC, "matvec_{}("),
            (&MATVEC_ROWWISE, "matvec_{}_rowwise("),
            (&MATVEC_ROWWISE_SUBGROUP, "matvec_{}_rowwise("),
            (&MATVEC_SUBGROUP, "matvec_{}_subgroup("),
            (&MATMUL, "matmul_{}("),
        ];
        for (family, pattern) in entries {
            let src = family.full_source(Arithmetic::F32);
            let code = src.lines().filter(|l| !l.trim_start().starts_with("//"));
            assert!(
                code.clone().all(|l| !l.contains("{{")),
                "{}: a template left unexpanded",
                family.file
            );
            for f in &weights::FORMATS {
                let entry = format!("fn {}", pattern.replace("{}", f.suffix));
                assert_eq!(src.matches(&entry).count(), 1, "{}: {entry}", family.file);
            }
        }
    }
}
