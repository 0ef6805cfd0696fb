//! The WGSL kernel families (shaders/): their sources, the host's constants they are built with,
//! the Rust mirrors of their params and their binding layouts. crates/gpu/src/pipelines.rs builds
//! modules and pipelines from them.

use bytemuck::{Pod, Zeroable};

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
    pub enables: &'static str,
    /// True for the kernels that read weights: their module is built per [`crate::Arithmetic`]
    /// with every format's dequantization (crates/gpu/src/formats.rs).
    pub weights: bool,
    /// The module's `WG`: [`WORKGROUP_SIZE`] except where one workgroup does all the work.
    pub workgroup: u32,
    pub source: &'static str,
    pub helpers: &'static [&'static str],
    /// Constants of the family's own, prepended as `const NAME: u32 = value;`.
    pub defines: &'static [(&'static str, u32)],
    pub bindings: &'static [Access],
}

pub(crate) const REDUCE: &str = include_str!("../../../shaders/common/reduce.wgsl");
const MODEL_PARAMS: &str = include_str!("../../../shaders/common/model_params.wgsl");
const ROPE: &str = include_str!("../../../shaders/common/rope.wgsl");
const ATTN_SPLIT: &str = include_str!("../../../shaders/common/attn_split.wgsl");

pub const EMBED: Family = Family {
    file: "embed.wgsl",
    enables: "",
    weights: true,
    workgroup: WORKGROUP_SIZE,
    source: include_str!("../../../shaders/embed.wgsl"),
    helpers: &[MODEL_PARAMS],
    defines: &[],
    bindings: &[R, R, R, W, U, U],
};
const MATVEC_SOURCE: &str = include_str!("../../../shaders/matvec.wgsl");

pub const MATVEC: Family = Family {
    file: "matvec.wgsl",
    enables: "",
    weights: true,
    workgroup: WORKGROUP_SIZE,
    source: MATVEC_SOURCE,
    helpers: &[REDUCE, ATTN_SPLIT],
    defines: &[],
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
    helpers: &[REDUCE, ATTN_SPLIT, MATVEC_SOURCE],
    defines: &[],
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
        ATTN_SPLIT,
        MATVEC_SOURCE,
        include_str!("../../../shaders/common/rowwise_x.wgsl"),
    ],
    defines: &[],
    bindings: &[R, R, R, W, U, U, R],
};
/// [`MATVEC_ROWWISE`] where the adapter has subgroups: a SIMD group's lanes share the inputs'
/// loads (shaders/common/rowwise_x_subgroup.wgsl; SwiftShader's Q4_1 matvecs 2.4× faster).
pub const MATVEC_ROWWISE_SUBGROUP: Family = Family {
    file: "matvec_rowwise.wgsl+subgroup",
    enables: SUBGROUPS,
    helpers: &[
        REDUCE,
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
    helpers: &[REDUCE, ATTN_SPLIT, MATVEC_SOURCE],
    defines: &[],
    bindings: &[R, R, R, W, U, U, R],
};
pub const RMSNORM: Family = Family {
    file: "rmsnorm.wgsl",
    enables: "",
    weights: false,
    workgroup: WORKGROUP_SIZE,
    source: include_str!("../../../shaders/rmsnorm.wgsl"),
    helpers: &[REDUCE, MODEL_PARAMS],
    defines: &[],
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
    defines: &[],
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
    defines: &[],
    bindings: ATTENTION.bindings,
};
pub const ADD: Family = Family {
    file: "add.wgsl",
    enables: "",
    weights: false,
    workgroup: WORKGROUP_SIZE,
    source: include_str!("../../../shaders/add.wgsl"),
    helpers: &[],
    defines: &[],
    bindings: &[R, W, U],
};

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
}
