//! x86_64 dispatch: which kernels take each weight type, AVX2's or, for the exact tiles of the
//! block formats, AVX-512's where the CPU has AVX-512F. One row per format and path.
//!
//! Every function here requires AVX2, FMA and F16C; `super` calls them only after checking.

use tokscope_gguf::GgmlType;

use super::acts::QuantActs;
use super::format::{Bf16, F16, F32, Q4_0, Q4_1, Q8_0};
use super::isa::has_avx512;
use super::scalar::{dot_exact_scalar, dot_scalar, matmul_scalar};
use super::{avx2, avx512, tile};

/// One weight row of type `ty` dotted with one activation row of its dot format.
///
/// # Safety
/// AVX2, FMA and F16C must be available.
pub unsafe fn dot(ty: GgmlType, w: &[u8], a: &[u8]) -> f32 {
    unsafe {
        match ty {
            GgmlType::Q4_0 => avx2::dot::<Q4_0>(w, a),
            GgmlType::Q4_1 => avx2::dot::<Q4_1>(w, a),
            GgmlType::Q8_0 => avx2::dot::<Q8_0>(w, a),
            GgmlType::F16 => avx2::dot_f16(w, a),
            GgmlType::BF16 => avx2::dot_bf16(w, a),
            GgmlType::F32 => avx2::dot_f32(w, a),
            _ => dot_scalar(ty, w, a),
        }
    }
}

/// `super::matmul` with quantized activations: tiles for the block formats, one dot per (row,
/// token) for the others.
///
/// # Safety
/// AVX2, FMA and F16C must be available.
pub unsafe fn matmul(ty: GgmlType, rows: &[u8], acts: &QuantActs, out: &mut [f32]) {
    unsafe {
        match ty {
            GgmlType::Q4_0 => avx2::matmul::<Q4_0>(rows, acts, out),
            GgmlType::Q4_1 => avx2::matmul::<Q4_1>(rows, acts, out),
            GgmlType::Q8_0 => avx2::matmul::<Q8_0>(rows, acts, out),
            _ => tile::matmul_rows(rows, acts, out, |w, t| dot(ty, w, acts.row(t))),
        }
    }
}

/// One weight row of type `ty` dotted exactly with one f32 activation row (AVX-512 tiles for the
/// block formats where the CPU has them).
///
/// # Safety
/// AVX2, FMA and F16C must be available.
pub unsafe fn dot_exact(ty: GgmlType, w: &[u8], a: &[f32]) -> f32 {
    unsafe { dot_exact_with(ty, w, a, has_avx512()) }
}

/// [`dot_exact`] with the AVX-512 tiles chosen by `avx512` (tests compare both).
///
/// # Safety
/// AVX2, FMA and F16C must be available, and AVX-512F if `avx512`.
pub unsafe fn dot_exact_with(ty: GgmlType, w: &[u8], a: &[f32], avx512: bool) -> f32 {
    unsafe {
        match ty {
            GgmlType::Q4_0 if avx512 => avx512::dot_exact::<Q4_0>(ty, w, a),
            GgmlType::Q4_1 if avx512 => avx512::dot_exact::<Q4_1>(ty, w, a),
            GgmlType::Q8_0 if avx512 => avx512::dot_exact::<Q8_0>(ty, w, a),
            GgmlType::Q4_0 => avx2::dot_exact::<Q4_0>(ty, w, a),
            GgmlType::Q4_1 => avx2::dot_exact::<Q4_1>(ty, w, a),
            GgmlType::Q8_0 => avx2::dot_exact::<Q8_0>(ty, w, a),
            GgmlType::F16 => avx2::dot_exact::<F16>(ty, w, a),
            GgmlType::BF16 => avx2::dot_exact::<Bf16>(ty, w, a),
            GgmlType::F32 => avx2::dot_exact::<F32>(ty, w, a),
            _ => dot_exact_scalar(ty, w, a),
        }
    }
}

/// `super::matmul` with f32 activations (AVX-512 tiles where the CPU has them).
///
/// # Safety
/// AVX2, FMA and F16C must be available.
pub unsafe fn matmul_exact(ty: GgmlType, rows: &[u8], acts: &QuantActs, out: &mut [f32]) {
    unsafe { matmul_exact_with(ty, rows, acts, out, has_avx512()) }
}

/// [`matmul_exact`] with the AVX-512 tiles chosen by `avx512` (tests compare both).
///
/// # Safety
/// AVX2, FMA and F16C must be available, and AVX-512F if `avx512`.
pub unsafe fn matmul_exact_with(
    ty: GgmlType,
    rows: &[u8],
    acts: &QuantActs,
    out: &mut [f32],
    avx512: bool,
) {
    unsafe {
        match ty {
            GgmlType::Q4_0 if avx512 => avx512::matmul_exact::<Q4_0>(ty, rows, acts, out),
            GgmlType::Q4_1 if avx512 => avx512::matmul_exact::<Q4_1>(ty, rows, acts, out),
            GgmlType::Q8_0 if avx512 => avx512::matmul_exact::<Q8_0>(ty, rows, acts, out),
            GgmlType::Q4_0 => avx2::matmul_exact::<Q4_0>(ty, rows, acts, out),
            GgmlType::Q4_1 => avx2::matmul_exact::<Q4_1>(ty, rows, acts, out),
            GgmlType::Q8_0 => avx2::matmul_exact::<Q8_0>(ty, rows, acts, out),
            GgmlType::F16 => avx2::matmul_exact::<F16>(ty, rows, acts, out),
            GgmlType::BF16 => avx2::matmul_exact::<Bf16>(ty, rows, acts, out),
            GgmlType::F32 => avx2::matmul_exact::<F32>(ty, rows, acts, out),
            _ => matmul_scalar(ty, rows, acts, out),
        }
    }
}
