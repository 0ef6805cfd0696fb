//! Compiled kernels: each family's module source (host constants, helpers, the weight formats'
//! dequantization, per-format entry points written out from templates) and a pipeline cache keyed
//! by variant name (`matvec_q4_1`, which doubles as the label) and, for the kernels that read
//! weights, the [`Arithmetic`] they hold scales in.

use crate::formats::{Arithmetic, FORMATS, Format, Layout};
use crate::kernels::{
    Access, Family, MATMUL_CHUNK, MATMUL_TOKENS, MATVEC_SUBGROUP_ROWS, MATVEC_TILE, RW_GROUPS,
    RW_LANES,
};
use std::collections::HashMap;

/// What every module that reads weights includes besides its family's helpers: the byte readers
/// of whole blocks and the per-format row sizes.
const BLOCKS: &str = include_str!("../../../shaders/common/blocks.wgsl");

/// The formats' dequantization files, each once (several formats share one).
fn format_sources() -> Vec<&'static str> {
    let mut files: Vec<(&str, &'static str)> = Vec::new();
    for f in &FORMATS {
        if !files.contains(&f.wgsl) {
            files.push(f.wgsl);
        }
    }
    files.into_iter().map(|(_, source)| source).collect()
}

/// The module source of `family`: the enable directives, the scale type's alias (kernels that
/// read weights), the host's constants, the helpers (and the formats' dequantization), then the
/// kernel file.
pub fn full_source(family: &Family, arithmetic: Arithmetic) -> String {
    let alias = if family.weights {
        arithmetic.header()
    } else {
        ""
    };
    let mut s = format!(
        "{}{alias}const WG: u32 = {}u;\nconst TILE: u32 = {MATVEC_TILE}u;\nconst SG_ROWS: u32 = {MATVEC_SUBGROUP_ROWS}u;\nconst RW_LANES: u32 = {RW_LANES}u;\nconst RW_GROUPS: u32 = {RW_GROUPS}u;\nconst MM_TOKENS: u32 = {MATMUL_TOKENS}u;\nconst MM_CHUNK: u32 = {MATMUL_CHUNK}u;\n",
        family.enables, family.workgroup,
    );
    for (name, value) in family.defines {
        s.push_str(&format!("const {name}: u32 = {value}u;\n"));
    }
    let formats = match family.weights {
        true => format_sources().into_iter().chain([BLOCKS]).collect(),
        false => Vec::new(),
    };
    for h in family.helpers.iter().chain(&formats) {
        s.push_str(&expand_per_type(h));
        s.push('\n');
    }
    s.push_str(&expand_per_type(family.source));
    s
}

/// Opens and closes a region of a shader that the host writes out once per weight format: every
/// format (`type`), those of [`Layout::Split`] (`split`) or of [`Layout::Blocks`] (`blocks`).
type Which = fn(&Format) -> bool;

const EACH: [(&str, Which); 3] = [
    ("//{{#each type}}", |_| true),
    ("//{{#each split}}", |f| {
        matches!(f.layout, Layout::Split { .. })
    }),
    ("//{{#each blocks}}", |f| f.layout == Layout::Blocks),
];
const END_EACH: &str = "//{{/each}}";

/// A shader with each region between a `//{{#each …}}` line and a `//{{/each}}` line written
/// out once per format of its kind ([`FORMATS`]): `{{T}}` becomes the format's suffix (`q4_1`),
/// `{{WORDS}}` and `{{SCALES}}` a split format's u32 quant words and scales per block of 32
/// elements (0 for whole blocks), `{{BLOCK}}` and `{{BYTES}}` the elements and bytes of a GGUF
/// block. WGSL has no generics, and the per-format entry points differ only in these, so each is
/// written once (as llama.cpp's shader templates do). A region left open runs to the end.
fn expand_per_type(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut region: Option<(String, Which)> = None;
    for line in src.split_inclusive('\n') {
        let open = EACH.iter().find(|(tag, _)| *tag == line.trim());
        match (open, line.trim(), &mut region) {
            (Some(&(_, which)), _, None) => region = Some((String::new(), which)),
            (_, END_EACH, Some((body, which))) => {
                write_per_type(&mut out, body, *which);
                region = None;
            }
            (_, _, Some((body, _))) => body.push_str(line),
            (_, _, None) => out.push_str(line),
        }
    }
    if let Some((body, which)) = region {
        write_per_type(&mut out, &body, which);
    }
    out
}

fn write_per_type(out: &mut String, body: &str, which: Which) {
    for f in FORMATS.iter().filter(|f| which(f)) {
        let (words, scales) = match f.layout {
            Layout::Split { words, scales } => (words, scales),
            Layout::Blocks => (0, 0),
        };
        out.push_str(
            &body
                .replace("{{T}}", f.suffix)
                .replace("{{WORDS}}", &format!("{words}u"))
                .replace("{{SCALES}}", &format!("{scales}u"))
                .replace("{{BLOCK}}", &format!("{}u", f.block_elems))
                .replace("{{BYTES}}", &format!("{}u", f.block_bytes)),
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
                    source: wgpu::ShaderSource::Wgsl(full_source(family, arithmetic).into()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::MATVEC_SUBGROUP;
    use crate::kernels::{EMBED, MATMUL, MATVEC, MATVEC_ROWWISE, MATVEC_ROWWISE_SUBGROUP};

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
        assert_eq!(out.matches("fn f_").count(), FORMATS.len());
        assert_eq!(out.matches("{{").count(), 1, "{out}");
    }

    #[test]
    fn split_and_block_regions_expand_for_their_formats_only() {
        let src = "//{{#each split}}\nfn s_{{T}}() {}\n//{{/each}}\n//{{#each blocks}}\nfn b_{{T}}() -> u32 { return {{BLOCK}} + {{BYTES}}; }\n//{{/each}}\n";
        let out = expand_per_type(src);
        assert!(
            out.contains("fn s_q8_0() {}") && !out.contains("fn s_q4_k"),
            "{out}"
        );
        assert!(
            out.contains("fn b_q6_k() -> u32 { return 256u + 210u; }"),
            "{out}"
        );
        assert!(!out.contains("fn b_q4_0"), "{out}");
        assert_eq!(out.matches("fn ").count(), FORMATS.len());
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
            let src = full_source(family, Arithmetic::F32);
            let code = src.lines().filter(|l| !l.trim_start().starts_with("//"));
            assert!(
                code.clone().all(|l| !l.contains("{{")),
                "{}: a template left unexpanded",
                family.file
            );
            for f in &FORMATS {
                let entry = format!("fn {}", pattern.replace("{}", f.suffix));
                assert_eq!(src.matches(&entry).count(), 1, "{}: {entry}", family.file);
            }
        }
    }
}
