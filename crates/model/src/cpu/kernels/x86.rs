//! x86_64 dispatch: which kernels take each weight type, AVX2's or, for the exact tiles of the
//! block formats, AVX-512's where the CPU has AVX-512F. One row per format and path.
//!
//! Every function here requires AVX2, FMA and F16C; `super` calls them only after checking.

use tokscope_gguf::GgmlType;

use super::acts::QuantActs;
use super::format::{
    Bf16, F16, F32, Iq4Nl, Iq4Xs, Q2K, Q3K, Q4_0, Q4_1, Q4K, Q5_0, Q5_1, Q5K, Q6K, Q8_0,
};
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
            GgmlType::Q5_0 => avx2::dot::<Q5_0>(w, a),
            GgmlType::Q5_1 => avx2::dot::<Q5_1>(w, a),
            GgmlType::IQ4_NL => avx2::dot::<Iq4Nl>(w, a),
            GgmlType::Q2_K => avx2::dot::<Q2K>(w, a),
            GgmlType::Q3_K => avx2::dot::<Q3K>(w, a),
            GgmlType::Q4_K => avx2::dot::<Q4K>(w, a),
            GgmlType::Q5_K => avx2::dot::<Q5K>(w, a),
            GgmlType::Q6_K => avx2::dot::<Q6K>(w, a),
            GgmlType::IQ4_XS => avx2::dot::<Iq4Xs>(w, a),
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
            GgmlType::Q5_0 => avx2::matmul::<Q5_0>(rows, acts, out),
            GgmlType::Q5_1 => avx2::matmul::<Q5_1>(rows, acts, out),
            GgmlType::IQ4_NL => avx2::matmul::<Iq4Nl>(rows, acts, out),
            GgmlType::Q2_K => avx2::matmul::<Q2K>(rows, acts, out),
            GgmlType::Q3_K => avx2::matmul::<Q3K>(rows, acts, out),
            GgmlType::Q4_K => avx2::matmul::<Q4K>(rows, acts, out),
            GgmlType::Q5_K => avx2::matmul::<Q5K>(rows, acts, out),
            GgmlType::Q6_K => avx2::matmul::<Q6K>(rows, acts, out),
            GgmlType::IQ4_XS => avx2::matmul::<Iq4Xs>(rows, acts, out),
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
            GgmlType::Q5_0 if avx512 => avx512::dot_exact::<Q5_0>(ty, w, a),
            GgmlType::Q5_1 if avx512 => avx512::dot_exact::<Q5_1>(ty, w, a),
            GgmlType::IQ4_NL if avx512 => avx512::dot_exact::<Iq4Nl>(ty, w, a),
            GgmlType::Q2_K if avx512 => avx512::dot_exact::<Q2K>(ty, w, a),
            GgmlType::Q3_K if avx512 => avx512::dot_exact::<Q3K>(ty, w, a),
            GgmlType::Q4_K if avx512 => avx512::dot_exact::<Q4K>(ty, w, a),
            GgmlType::Q5_K if avx512 => avx512::dot_exact::<Q5K>(ty, w, a),
            GgmlType::Q6_K if avx512 => avx512::dot_exact::<Q6K>(ty, w, a),
            GgmlType::IQ4_XS if avx512 => avx512::dot_exact::<Iq4Xs>(ty, w, a),
            GgmlType::Q4_0 => avx2::dot_exact::<Q4_0>(ty, w, a),
            GgmlType::Q4_1 => avx2::dot_exact::<Q4_1>(ty, w, a),
            GgmlType::Q8_0 => avx2::dot_exact::<Q8_0>(ty, w, a),
            GgmlType::Q5_0 => avx2::dot_exact::<Q5_0>(ty, w, a),
            GgmlType::Q5_1 => avx2::dot_exact::<Q5_1>(ty, w, a),
            GgmlType::IQ4_NL => avx2::dot_exact::<Iq4Nl>(ty, w, a),
            GgmlType::Q2_K => avx2::dot_exact::<Q2K>(ty, w, a),
            GgmlType::Q3_K => avx2::dot_exact::<Q3K>(ty, w, a),
            GgmlType::Q4_K => avx2::dot_exact::<Q4K>(ty, w, a),
            GgmlType::Q5_K => avx2::dot_exact::<Q5K>(ty, w, a),
            GgmlType::Q6_K => avx2::dot_exact::<Q6K>(ty, w, a),
            GgmlType::IQ4_XS => avx2::dot_exact::<Iq4Xs>(ty, w, a),
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
            GgmlType::Q5_0 if avx512 => avx512::matmul_exact::<Q5_0>(ty, rows, acts, out),
            GgmlType::Q5_1 if avx512 => avx512::matmul_exact::<Q5_1>(ty, rows, acts, out),
            GgmlType::IQ4_NL if avx512 => avx512::matmul_exact::<Iq4Nl>(ty, rows, acts, out),
            GgmlType::Q2_K if avx512 => avx512::matmul_exact::<Q2K>(ty, rows, acts, out),
            GgmlType::Q3_K if avx512 => avx512::matmul_exact::<Q3K>(ty, rows, acts, out),
            GgmlType::Q4_K if avx512 => avx512::matmul_exact::<Q4K>(ty, rows, acts, out),
            GgmlType::Q5_K if avx512 => avx512::matmul_exact::<Q5K>(ty, rows, acts, out),
            GgmlType::Q6_K if avx512 => avx512::matmul_exact::<Q6K>(ty, rows, acts, out),
            GgmlType::IQ4_XS if avx512 => avx512::matmul_exact::<Iq4Xs>(ty, rows, acts, out),
            GgmlType::Q4_0 => avx2::matmul_exact::<Q4_0>(ty, rows, acts, out),
            GgmlType::Q4_1 => avx2::matmul_exact::<Q4_1>(ty, rows, acts, out),
            GgmlType::Q8_0 => avx2::matmul_exact::<Q8_0>(ty, rows, acts, out),
            GgmlType::Q5_0 => avx2::matmul_exact::<Q5_0>(ty, rows, acts, out),
            GgmlType::Q5_1 => avx2::matmul_exact::<Q5_1>(ty, rows, acts, out),
            GgmlType::IQ4_NL => avx2::matmul_exact::<Iq4Nl>(ty, rows, acts, out),
            GgmlType::Q2_K => avx2::matmul_exact::<Q2K>(ty, rows, acts, out),
            GgmlType::Q3_K => avx2::matmul_exact::<Q3K>(ty, rows, acts, out),
            GgmlType::Q4_K => avx2::matmul_exact::<Q4K>(ty, rows, acts, out),
            GgmlType::Q5_K => avx2::matmul_exact::<Q5K>(ty, rows, acts, out),
            GgmlType::Q6_K => avx2::matmul_exact::<Q6K>(ty, rows, acts, out),
            GgmlType::IQ4_XS => avx2::matmul_exact::<Iq4Xs>(ty, rows, acts, out),
            GgmlType::F16 => avx2::matmul_exact::<F16>(ty, rows, acts, out),
            GgmlType::BF16 => avx2::matmul_exact::<Bf16>(ty, rows, acts, out),
            GgmlType::F32 => avx2::matmul_exact::<F32>(ty, rows, acts, out),
            _ => matmul_scalar(ty, rows, acts, out),
        }
    }
}
