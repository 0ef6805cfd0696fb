//! The weight formats the GPU reads, one table row each: how a format's blocks are held on the
//! GPU and which WGSL file dequantizes them. The row drives the upload (crates/gpu/src/weights.rs),
//! the kernels' per-format entry points (crates/gpu/src/pipelines.rs writes them out from one
//! template per kernel) and the choice of kernel at load; a type without a row is refused.
//! Adding a format is one row here and one `dq4_<suffix>` function in its WGSL file.

use tokscope_gguf::GgmlType;

/// Elements per block of the formats whose scales move to a binding of their own.
pub const QK: usize = 32;

/// How a format's blocks sit in GPU memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Repacked at load into `words` u32 quant words and `scales` f16 block scales (f32 or f16:
    /// [`Arithmetic`]) per [`QK`] elements, the scales in a binding of their own: the formats
    /// whose kernels are written per format (shaders/common/quant.wgsl).
    Split { words: usize, scales: usize },
    /// GGUF's blocks as they are, each row padded to whole u32 words; the format's
    /// `dq4_<suffix>` reads its bytes at offsets (shaders/common/blocks.wgsl): any block size,
    /// 4-byte aligned or not.
    Blocks,
}

/// One format on the GPU.
#[derive(Clone, Copy, Debug)]
pub struct Format {
    pub ty: GgmlType,
    /// The name in kernel variant names (`matvec_q4_k`) and WGSL functions (`dq4_q4_k`).
    pub suffix: &'static str,
    /// Elements and bytes of one GGUF block.
    pub block_elems: usize,
    pub block_bytes: usize,
    pub layout: Layout,
    /// The WGSL file (under shaders/) that dequantizes it, and its text: `dq4_<suffix>` for
    /// [`Layout::Blocks`].
    pub wgsl: (&'static str, &'static str),
}

/// A WGSL file under shaders/ and its text.
macro_rules! wgsl {
    ($file:literal) => {
        ($file, include_str!(concat!("../../../shaders/", $file)))
    };
}

const fn split(
    ty: GgmlType,
    suffix: &'static str,
    (elems, bytes): (usize, usize),
    (words, scales): (usize, usize),
) -> Format {
    Format {
        ty,
        suffix,
        block_elems: elems,
        block_bytes: bytes,
        layout: Layout::Split { words, scales },
        wgsl: wgsl!("common/quant.wgsl"),
    }
}

const fn blocks(
    ty: GgmlType,
    suffix: &'static str,
    (elems, bytes): (usize, usize),
    wgsl: (&'static str, &'static str),
) -> Format {
    Format {
        ty,
        suffix,
        block_elems: elems,
        block_bytes: bytes,
        layout: Layout::Blocks,
        wgsl,
    }
}

/// Every format a kernel reads (a float type's "block" is one element, as in ggml).
pub const FORMATS: [Format; 15] = [
    split(GgmlType::Q4_0, "q4_0", (32, 18), (4, 1)),
    split(GgmlType::Q4_1, "q4_1", (32, 20), (4, 2)),
    split(GgmlType::Q8_0, "q8_0", (32, 34), (8, 1)),
    split(GgmlType::F16, "f16", (1, 2), (16, 0)),
    split(GgmlType::BF16, "bf16", (1, 2), (16, 0)),
    split(GgmlType::F32, "f32", (1, 4), (32, 0)),
    blocks(GgmlType::Q5_0, "q5_0", (32, 22), wgsl!("formats/q5.wgsl")),
    blocks(GgmlType::Q5_1, "q5_1", (32, 24), wgsl!("formats/q5.wgsl")),
    blocks(
        GgmlType::Q2_K,
        "q2_k",
        (256, 84),
        wgsl!("formats/q2_k.wgsl"),
    ),
    blocks(
        GgmlType::Q3_K,
        "q3_k",
        (256, 110),
        wgsl!("formats/q3_k.wgsl"),
    ),
    blocks(
        GgmlType::Q4_K,
        "q4_k",
        (256, 144),
        wgsl!("formats/q45_k.wgsl"),
    ),
    blocks(
        GgmlType::Q5_K,
        "q5_k",
        (256, 176),
        wgsl!("formats/q45_k.wgsl"),
    ),
    blocks(
        GgmlType::Q6_K,
        "q6_k",
        (256, 210),
        wgsl!("formats/q6_k.wgsl"),
    ),
    blocks(
        GgmlType::IQ4_NL,
        "iq4_nl",
        (32, 18),
        wgsl!("formats/iq4.wgsl"),
    ),
    blocks(
        GgmlType::IQ4_XS,
        "iq4_xs",
        (256, 136),
        wgsl!("formats/iq4.wgsl"),
    ),
];

/// `ty`'s row, or `None` if no kernel reads it.
pub fn format(ty: GgmlType) -> Option<&'static Format> {
    FORMATS.iter().find(|f| f.ty == ty)
}

/// The types of the table, for messages: "Q4_0, Q4_1, …".
pub fn names() -> String {
    let names: Vec<&str> = FORMATS.iter().map(|f| f.ty.name()).collect();
    names.join(", ")
}

/// The name of a type in kernel variant names (`matvec_q4_1`), or `None` if no kernel reads it.
pub fn kernel_suffix(ty: GgmlType) -> Option<&'static str> {
    format(ty).map(|f| f.suffix)
}

/// How the kernels that read weights (embed, matvec) hold the split formats' f16 scales:
/// prepended to their modules as `alias st = f32;` or `enable f16; alias st = f16;`
/// (common/quant.wgsl). As in llama.cpp's WebGPU backend, f16 is a storage type only: each scale
/// is widened to f32 before use and dequantization, products and sums are f32 in both, so both
/// give the same results (f16 dequantization was rejected: tests/bench/README.md).
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
    pub fn header(self) -> &'static str {
        match self {
            Arithmetic::F32 => "alias st = f32;\n",
            Arithmetic::F16 => "enable f16;\nalias st = f16;\n",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_agree_with_ggml_block_layouts() {
        for f in &FORMATS {
            assert_eq!(
                f.ty.block_layout(),
                Some((f.block_elems, f.block_bytes)),
                "{}",
                f.ty
            );
            if let Layout::Split { words, scales } = f.layout {
                // The repacked words and f16 scales hold 32 elements' bytes exactly.
                let bytes = f.block_bytes * QK / f.block_elems;
                assert_eq!(4 * words + 2 * scales, bytes, "{}", f.ty);
            }
            assert!(f.ty.decoder().is_some(), "{}: no reference decoder", f.ty);
        }
        let mut suffixes: Vec<_> = FORMATS.iter().map(|f| f.suffix).collect();
        suffixes.sort();
        suffixes.dedup();
        assert_eq!(suffixes.len(), FORMATS.len());
    }
}
