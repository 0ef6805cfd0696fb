//! AVX-512 tiles of the exact path for the block formats (Q4_0, Q4_1, Q8_0): the AVX2 tiles are
//! bound by the per-block conversions (eight-lane widening, int→f32, dequantizing FMA), which
//! sixteen lanes halve. A block of 32 weights is two vectors: the low nibbles (or quants 0..16)
//! and the high ones (16..32), each widened u8/i8 → i32 → f32 and scaled as in `avx2.rs`
//! (Q4_0, Q8_0: bit-equal to `blocks::dequantize_row`; Q4_1: `d·q + m` in one FMA).
//!
//! Used through `avx2::matmul_exact` (its tiling driver and dispatch) when the CPU has AVX-512F;
//! every function here requires AVX-512F, AVX2, FMA and F16C.

use std::arch::x86_64::*;

use tokscope_gguf::blocks::{BlockQ4_0, BlockQ4_1, BlockQ8_0, QK};

use super::avx2::{self, ExactTile, PREFETCH_BYTES};

/// The AVX-512 tiles of the block format `K` (one of `avx2`'s format markers).
pub(super) struct Z<K>(std::marker::PhantomData<K>);

/// A block format dequantized into two vectors of sixteen f32.
pub(super) trait Dequant16 {
    type W: bytemuck::Pod;
    /// # Safety
    /// AVX-512F, AVX2, FMA and F16C must be available.
    unsafe fn dequant(w: &Self::W) -> [__m512; 2];
}

/// f16 bits broadcast to sixteen f32 lanes.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
fn f16_splat(bits: [u8; 2]) -> __m512 {
    _mm512_broadcastss_ps(avx2::f16_one(bits))
}

/// 16 bytes of packed nibbles → the 32 nibbles as f32 (low nibbles = elements 0..16 first), each
/// minus `bias` in exact integer arithmetic before the conversion.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn nibbles_to_f32(qs: &[u8; 16], bias: i32) -> [__m512; 2] {
    // SAFETY: 16 readable bytes; unaligned load.
    let raw = unsafe { _mm_loadu_si128(qs.as_ptr().cast()) };
    let mask = _mm_set1_epi8(0x0f);
    let b = _mm512_set1_epi32(bias);
    let lo = _mm512_cvtepu8_epi32(_mm_and_si128(raw, mask));
    let hi = _mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(raw, 4), mask));
    [lo, hi].map(|q| _mm512_cvtepi32_ps(_mm512_sub_epi32(q, b)))
}

impl Dequant16 for avx2::Q4_0 {
    type W = BlockQ4_0;
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn dequant(w: &BlockQ4_0) -> [__m512; 2] {
        let d = f16_splat(w.d);
        unsafe { nibbles_to_f32(&w.qs, 8) }.map(|q| _mm512_mul_ps(q, d))
    }
}

impl Dequant16 for avx2::Q4_1 {
    type W = BlockQ4_1;
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn dequant(w: &BlockQ4_1) -> [__m512; 2] {
        let (d, m) = (f16_splat(w.d), f16_splat(w.m));
        unsafe { nibbles_to_f32(&w.qs, 0) }.map(|q| _mm512_fmadd_ps(q, d, m))
    }
}

impl Dequant16 for avx2::Q8_0 {
    type W = BlockQ8_0;
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn dequant(w: &BlockQ8_0) -> [__m512; 2] {
        let d = f16_splat(w.d);
        // SAFETY: each load reads 16 of the 32 quant bytes.
        std::array::from_fn(|k| unsafe {
            let q = _mm512_cvtepi8_epi32(_mm_loadu_si128(w.qs[16 * k..].as_ptr().cast()));
            _mm512_mul_ps(_mm512_cvtepi32_ps(q), d)
        })
    }
}

/// `avx2::tile_exact` with sixteen lanes: two accumulators per (row, token), one per half block.
///
/// # Safety
/// AVX-512F, AVX2, FMA and F16C must be available.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn tile<K: Dequant16, const R: usize, const T: usize>(
    w: [&[K::W]; R],
    a: [&[[f32; QK]]; T],
) -> [[f32; T]; R] {
    let nb = w[0].len();
    assert!(w.iter().all(|w| w.len() == nb) && a.iter().all(|a| a.len() >= nb));
    let mut acc = [[[_mm512_setzero_ps(); 2]; T]; R];
    for b in 0..nb {
        for w in w {
            let ahead = (&w[b] as *const K::W)
                .cast::<i8>()
                .wrapping_add(PREFETCH_BYTES);
            _mm_prefetch::<_MM_HINT_T0>(ahead);
        }
        for r in 0..R {
            let x = unsafe { K::dequant(&w[r][b]) };
            for t in 0..T {
                let ab = &a[t][b];
                for (k, acc) in acc[r][t].iter_mut().enumerate() {
                    // SAFETY: reads 16 of the block's 32 f32.
                    let y = unsafe { _mm512_loadu_ps(ab[16 * k..].as_ptr()) };
                    *acc = _mm512_fmadd_ps(x[k], y, *acc);
                }
            }
        }
    }
    std::array::from_fn(|r| {
        std::array::from_fn(|t| _mm512_reduce_add_ps(_mm512_add_ps(acc[r][t][0], acc[r][t][1])))
    })
}

impl<K: Dequant16> ExactTile for Z<K> {
    type W = K::W;
    #[inline]
    unsafe fn tile<const R: usize, const T: usize>(
        w: [&[K::W]; R],
        a: [&[[f32; QK]]; T],
    ) -> [[f32; T]; R] {
        // SAFETY: the caller checked AVX-512F (`avx2::has_avx512`), AVX2, FMA and F16C.
        unsafe { tile::<K, R, T>(w, a) }
    }
}
