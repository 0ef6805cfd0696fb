//! Matrix products straight from the GGUF blocks, never expanding a weight tensor to f32 in memory.
//! Two paths, chosen by the activations' type ([`QuantActs`]):
//!
//! - exact (f32 activations, [`QuantActs::set_f32`]): each weight block is dequantized in registers
//!   (`d·q`, `d·(q−8)`, `d·q + m`, or the float value) and multiplied with the f32 activations,
//!   summed in f32: llama.cpp's f32 arithmetic on the file's dequantized weights, up to the order
//!   of the sum. The default of the CPU backend.
//! - fast (8-bit activations, [`QuantActs::quantize`]), as llama.cpp's CPU backend does it:
//!   activations are quantized to the weight type's dot format (Q8_0, Q8_1, F16, ...) once, then
//!   integer dot products per block. On small models this rounding moves log-probabilities by up
//!   to ~1 nat against any other implementation.
//!
//! The scalar path (tokscope-gguf's reference dot products, `scalar.rs`) is always compiled; SIMD
//! paths are picked at run time natively (AVX2+FMA+F16C, detected once: `isa.rs`) and at compile
//! time under wasm (simd128). The files:
//!
//! - `format.rs`: the weight formats as types (block, block size, q8 pairing), no ISA;
//! - `tile.rs`: the loops every ISA shares (tiles of rows × tokens walked block by block, the
//!   drivers cutting a product into tiles), over two traits: an ISA's vector arithmetic and a
//!   format's block decode on that ISA;
//! - `avx2.rs`, `avx512.rs`, `simd128.rs`: each ISA's arithmetic and block decodes (AVX-512:
//!   sixteen-lane exact tiles for the block formats), plus what has no shared loop (float dots,
//!   quantizers, simd128's exact path); `avx2_formats.rs`: AVX2's decodes of the formats of
//!   K-quant files (Q5_x, IQ4_x, K-quants), whose integer groups AVX-512 widens too;
//!   `simd128_formats.rs`: simd128's decodes of those formats;
//! - `x86.rs`: which x86 kernels take each format; `acts.rs`: the activations.
//!
//! A new format is a marker in `format.rs`, one decode per ISA, and a row in each dispatch.

use tokscope_gguf::GgmlType;

mod acts;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx2_formats;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
mod format;
mod isa;
mod scalar;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128_formats;
#[cfg(test)]
mod tests;
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
mod tile;
#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
use acts::quantize_row;
pub use acts::{QuantActs, quantize_row_scalar};
pub use isa::{Isa, isa, isa_label};
pub use scalar::{dot_exact_scalar, dot_scalar, matmul_scalar};

/// `out[r * acts.n + t] = dot(weight row r, activation row t)` for every row in `rows`
/// (`out.len() / acts.n` rows of type `ty` with `acts.cols` columns, row-major blocks), with the
/// fastest kernels of this machine ([`isa`]).
///
/// F32 activations ([`QuantActs::set_f32`]) take the exact kernels (`dot_exact`) for every
/// weight type; quantized ones the integer dot products of their format.
///
/// # Panics
/// If `acts.n == 0` or the shapes disagree (a caller bug).
pub fn matmul(ty: GgmlType, rows: &[u8], acts: &QuantActs, out: &mut [f32]) {
    if acts.ty == Some(GgmlType::F32) {
        return matmul_exact(ty, rows, acts, out);
    }
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: isa() checked AVX2, FMA and F16C.
        Isa::Avx2 => unsafe { x86::matmul(ty, rows, acts, out) },
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Isa::Simd128 => simd128::matmul(ty, rows, acts, out),
        _ => matmul_scalar(ty, rows, acts, out),
    }
}

/// One weight row dotted with one quantized activation row, by the fastest kernel of this machine.
pub fn dot(ty: GgmlType, w: &[u8], a: &[u8]) -> f32 {
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: isa() checked AVX2, FMA and F16C.
        Isa::Avx2 => unsafe { x86::dot(ty, w, a) },
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Isa::Simd128 => simd128::dot(ty, w, a),
        _ => dot_scalar(ty, w, a),
    }
}

/// [`matmul`] with f32 activations, by the fastest exact kernels of this machine.
fn matmul_exact(ty: GgmlType, rows: &[u8], acts: &QuantActs, out: &mut [f32]) {
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: isa() checked AVX2, FMA and F16C.
        Isa::Avx2 => unsafe { x86::matmul_exact(ty, rows, acts, out) },
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Isa::Simd128 => simd128::matmul_exact(ty, rows, acts, out),
        _ => matmul_scalar(ty, rows, acts, out),
    }
}

/// One weight row of type `ty` dotted with one f32 activation row, by the fastest exact kernel of
/// this machine: `Σ w_i·a_i` of the dequantized weights, summed in f32.
pub fn dot_exact(ty: GgmlType, w: &[u8], a: &[f32]) -> f32 {
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: isa() checked AVX2, FMA and F16C.
        Isa::Avx2 => unsafe { x86::dot_exact(ty, w, a) },
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Isa::Simd128 => simd128::dot_exact(ty, w, a),
        _ => dot_exact_scalar(ty, w, a),
    }
}
