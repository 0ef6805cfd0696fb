//! Quantization as llama.cpp does it, bit for bit: ggml's reference quantizers (the blocks
//! `ggml_quantize_chunk` writes without an importance matrix) for Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
//! Q2_K–Q6_K, IQ4_NL and IQ4_XS; llama.cpp's file types and its per-tensor choice of type
//! (`llama-quant.cpp`), fallbacks included; and the requantization of a whole GGUF model.
//!
//! The block decoders live in tokscope-gguf; the quantizers here are their inverse as ggml defines
//! it, including what its C arithmetic does with odd inputs (tiny values whose reciprocal scale
//! overflows, all-zero blocks), so that a model file made here equals llama.cpp's byte for byte.

mod cmath;
mod ftype;
mod iq4;
mod kquants;
mod legacy;
mod model;
mod rules;
mod search;

pub use ftype::FileType;
pub use model::{Options, Report, TensorReport, hparams, quantize_model, requantize_tensor};
pub use rules::{Fallback, Hparams, TensorPlan, plan_tensors};

use thiserror::Error;
use tokscope_gguf::GgmlType;

/// Why values could not be quantized.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum QuantError {
    #[error("tokscope cannot quantize to {0}")]
    Unsupported(GgmlType),
    #[error(
        "tensor {tensor}: rows of {cols} values hold no whole {ty} blocks, and llama.cpp has no fallback type for {ty}"
    )]
    NoFallback {
        tensor: String,
        ty: GgmlType,
        cols: u64,
    },
    #[error("model metadata: {0}")]
    Metadata(String),
    #[error("tensor {tensor}: {source}")]
    Decode {
        tensor: String,
        source: tokscope_gguf::BlockError,
    },
    #[error("a row of {len} values is not a whole number of {ty} blocks of {block}")]
    Length {
        ty: GgmlType,
        block: usize,
        len: usize,
    },
}

/// One block's encoder: `x` is the block's values, `out` its bytes.
type Encode = fn(x: &[f32], out: &mut [u8]);

/// The encoder of a quantized type, with its (elements, bytes) per block.
fn encoder(t: GgmlType) -> Option<(Encode, usize, usize)> {
    let e: Encode = match t {
        GgmlType::Q4_0 => legacy::q4_0,
        GgmlType::Q4_1 => legacy::q4_1,
        GgmlType::Q5_0 => legacy::q5_0,
        GgmlType::Q5_1 => legacy::q5_1,
        GgmlType::Q8_0 => legacy::q8_0,
        GgmlType::Q2_K => kquants::q2_k,
        GgmlType::Q3_K => kquants::q3_k,
        GgmlType::Q4_K => kquants::q4_k,
        GgmlType::Q5_K => kquants::q5_k,
        GgmlType::Q6_K => kquants::q6_k,
        GgmlType::IQ4_NL => iq4::iq4_nl,
        GgmlType::IQ4_XS => iq4::iq4_xs,
        _ => return None,
    };
    let (block, bytes) = t.block_layout()?;
    Some((e, block, bytes))
}

/// True for the types [`quantize`] can make: the quantized formats above and F32, F16, BF16.
pub fn can_quantize(t: GgmlType) -> bool {
    encoder(t).is_some() || matches!(t, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16)
}

/// Encodes `src` (whole blocks: one or more rows of a width that is a multiple of the block) as
/// `ggml_quantize_chunk(t, src, …, imatrix = NULL)` does; F16 and BF16 round to nearest even.
pub fn quantize(t: GgmlType, src: &[f32]) -> Result<Vec<u8>, QuantError> {
    match encoder(t) {
        Some((encode, block, bytes)) => {
            if !src.len().is_multiple_of(block) {
                return Err(QuantError::Length {
                    ty: t,
                    block,
                    len: src.len(),
                });
            }
            let mut out = vec![0u8; src.len() / block * bytes];
            for (x, y) in src.chunks_exact(block).zip(out.chunks_exact_mut(bytes)) {
                encode(x, y);
            }
            Ok(out)
        }
        None if can_quantize(t) => {
            Ok(tokscope_gguf::blocks::quantize_row(t, src)
                .expect("float conversions take any length"))
        }
        None => Err(QuantError::Unsupported(t)),
    }
}
