//! The WGSL kernels (shaders/): their sources, the Rust mirrors of their params, their binding
//! layouts and a pipeline cache keyed by variant name (`matvec_q4_1`, which doubles as the label).

use bytemuck::{Pod, Zeroable};
use std::collections::HashMap;

/// Invocations per workgroup of every kernel: the one place it is set. Prepended to each shader as
/// `const WG`; a power of two (the reductions halve it).
pub const WORKGROUP_SIZE: u32 = 64;

/// Tokens one invocation of a rowwise matvec computes together (each weight unit is dequantized
/// once per tile); prepended to each shader as `const TILE`.
pub const MATVEC_TILE: u32 = 8;

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
    /// Elements per token in y (all rows of the weight).
    pub y_stride: u32,
    pub _pad: [u32; 3],
}
const _: () = assert!(std::mem::size_of::<MatvecParams>() == 32);

/// matvec's per-step uniform: tokens in the step (shaders/matvec.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct Batch {
    pub n_tokens: u32,
    pub _pad: [u32; 3],
}
const _: () = assert!(std::mem::size_of::<Batch>() == 16);

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
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct SummaryParams {
    pub n_vocab: u32,
    pub top_n: u32,
    pub _pad: [u32; 2],
}
const _: () = assert!(std::mem::size_of::<SummaryParams>() == 16);

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
    source: &'static str,
    helpers: &'static [&'static str],
    pub bindings: &'static [Access],
}

const REDUCE: &str = include_str!("../../../shaders/common/reduce.wgsl");
const QUANT: &str = include_str!("../../../shaders/common/quant.wgsl");
const MODEL_PARAMS: &str = include_str!("../../../shaders/common/model_params.wgsl");
const ROPE: &str = include_str!("../../../shaders/common/rope.wgsl");

pub const EMBED: Family = Family {
    file: "embed.wgsl",
    enables: "",
    source: include_str!("../../../shaders/embed.wgsl"),
    helpers: &[QUANT, MODEL_PARAMS],
    bindings: &[R, R, R, W, U, U],
};
const MATVEC_SOURCE: &str = include_str!("../../../shaders/matvec.wgsl");

pub const MATVEC: Family = Family {
    file: "matvec.wgsl",
    enables: "",
    source: MATVEC_SOURCE,
    helpers: &[REDUCE, QUANT],
    bindings: &[R, R, R, W, U, U],
};
/// The subgroup variants: matvec.wgsl's bindings and units, then the subgroup entry points.
pub const MATVEC_SUBGROUP: Family = Family {
    file: "matvec_subgroup.wgsl",
    // Browsers want the WGSL extension enabled; naga (native) takes subgroup operations without
    // it and refuses the directive.
    enables: if cfg!(target_arch = "wasm32") {
        "enable subgroups;\n"
    } else {
        ""
    },
    source: include_str!("../../../shaders/matvec_subgroup.wgsl"),
    helpers: &[REDUCE, QUANT, MATVEC_SOURCE],
    bindings: &[R, R, R, W, U, U],
};
pub const RMSNORM: Family = Family {
    file: "rmsnorm.wgsl",
    enables: "",
    source: include_str!("../../../shaders/rmsnorm.wgsl"),
    helpers: &[REDUCE, MODEL_PARAMS],
    bindings: &[R, R, W, U],
};
pub const ROPE_Q: Family = Family {
    file: "rope.wgsl",
    enables: "",
    source: include_str!("../../../shaders/rope.wgsl"),
    helpers: &[ROPE, MODEL_PARAMS],
    bindings: &[R, R, W, U],
};
pub const KV_APPEND: Family = Family {
    file: "kv_append.wgsl",
    enables: "",
    source: include_str!("../../../shaders/kv_append.wgsl"),
    helpers: &[ROPE, MODEL_PARAMS],
    bindings: &[R, R, R, W, W, U],
};
pub const ATTENTION: Family = Family {
    file: "attention.wgsl",
    enables: "",
    source: include_str!("../../../shaders/attention.wgsl"),
    helpers: &[REDUCE, MODEL_PARAMS],
    bindings: &[R, R, R, W, W, U],
};
pub const SILU_MUL: Family = Family {
    file: "silu_mul.wgsl",
    enables: "",
    source: include_str!("../../../shaders/silu_mul.wgsl"),
    helpers: &[MODEL_PARAMS],
    bindings: &[R, W, U],
};
pub const ADD: Family = Family {
    file: "add.wgsl",
    enables: "",
    source: include_str!("../../../shaders/add.wgsl"),
    helpers: &[],
    bindings: &[R, W, U],
};

pub const SUMMARY: Family = Family {
    file: "summary.wgsl",
    enables: "",
    source: include_str!("../../../shaders/summary.wgsl"),
    helpers: &[REDUCE],
    bindings: &[R, W, U],
};

impl Family {
    /// The module source: the host's constants, the helpers, then the kernel file.
    pub fn full_source(&self) -> String {
        let mut s = format!(
            "{}const WG: u32 = {WORKGROUP_SIZE}u;\nconst TILE: u32 = {MATVEC_TILE}u;\nconst SG_ROWS: u32 = {MATVEC_SUBGROUP_ROWS}u;\n",
            self.enables
        );
        for h in self.helpers {
            s.push_str(h);
            s.push('\n');
        }
        s.push_str(self.source);
        s
    }
}

/// One compute pipeline with the layout its bind groups are made with.
#[derive(Clone)]
pub struct Kernel {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

/// Compiled pipelines, each built once: modules by file, pipelines by entry point.
pub struct Pipelines {
    device: wgpu::Device,
    modules: HashMap<&'static str, wgpu::ShaderModule>,
    kernels: HashMap<String, Kernel>,
}

impl Pipelines {
    pub fn new(device: &wgpu::Device) -> Self {
        Self {
            device: device.clone(),
            modules: HashMap::new(),
            kernels: HashMap::new(),
        }
    }

    /// The pipeline of entry point `entry` (the variant name) of `family`.
    pub fn get(&mut self, family: &Family, entry: &str) -> Kernel {
        if let Some(k) = self.kernels.get(entry) {
            return k.clone();
        }
        let device = &self.device;
        let module = self.modules.entry(family.file).or_insert_with(|| {
            device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(family.file),
                source: wgpu::ShaderSource::Wgsl(family.full_source().into()),
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
            label: Some(entry),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(entry),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: Some(&pipeline_layout),
            module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        });
        let kernel = Kernel { pipeline, layout };
        self.kernels.insert(entry.to_string(), kernel.clone());
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
}
