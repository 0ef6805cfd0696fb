//! AVX-512 block decodes of the exact path for the block formats (Q4_0, Q4_1, Q8_0): the AVX2
//! tiles are bound by the per-block conversions (eight-lane widening, int→f32, dequantizing FMA),
//! which sixteen lanes halve. A block of 32 weights is two vectors: the low nibbles (or quants
//! 0..16) and the high ones (16..32), each widened u8/i8 → i32 → f32 and scaled as in `avx2.rs`
//! (Q4_0, Q8_0: bit-equal to `blocks::dequantize_row`; Q4_1: `d·q + m` in one FMA).
//!
//! The formats of K-quant files use the integer groups of `avx2_formats.rs`, widened to sixteen
//! lanes here.
//!
//! `x86.rs` picks these over the AVX2 tiles when the CPU has AVX-512F; every function here
//! requires AVX-512F, AVX2, FMA and F16C.

use std::arch::x86_64::*;
use std::marker::PhantomData;

use tokscope_gguf::GgmlType;
use tokscope_gguf::blocks::{BlockQ4_0, BlockQ4_1, BlockQ8_0};

use super::acts::QuantActs;
use super::avx2_formats::{IntGroups, Scales16, scales16};
use super::format::{GROUP, Q4_0, Q4_1, Q8_0};
use super::tile::{self, ExactDecode, ExactSimd, Simd, Tiles};

/// Sixteen f32 lanes: AVX-512's vectors for the shared loops.
pub(super) struct V16;

impl Simd for V16 {
    type F = __m512;
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn zero() -> __m512 {
        _mm512_setzero_ps()
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn hsum(v: __m512) -> f32 {
        _mm512_reduce_add_ps(v)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn prefetch(p: *const u8) {
        _mm_prefetch::<_MM_HINT_T0>(p.cast());
    }
}

impl ExactSimd for V16 {
    type Group = [__m512; 2];
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn load_group(a: &[f32; GROUP]) -> [__m512; 2] {
        // SAFETY: each load reads 16 of the group's 32 f32.
        std::array::from_fn(|k| unsafe { _mm512_loadu_ps(a[16 * k..].as_ptr()) })
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
        _mm512_add_ps(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn fmadd(a: __m512, b: __m512, c: __m512) -> __m512 {
        _mm512_fmadd_ps(a, b, c)
    }
}

/// f16 bits broadcast to sixteen f32 lanes.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
fn f16_splat(bits: [u8; 2]) -> __m512 {
    _mm512_broadcastss_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(
        u16::from_le_bytes(bits) as i32
    )))
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

impl ExactDecode<V16> for Q4_0 {
    /// `d`.
    type Scales = __m512;
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn scales(w: &BlockQ4_0) -> __m512 {
        f16_splat(w.d)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn group(w: &BlockQ4_0, d: __m512, _: usize) -> [__m512; 2] {
        unsafe { nibbles_to_f32(&w.qs, 8) }.map(|q| _mm512_mul_ps(q, d))
    }
}

impl ExactDecode<V16> for Q4_1 {
    /// `(d, m)`.
    type Scales = (__m512, __m512);
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn scales(w: &BlockQ4_1) -> (__m512, __m512) {
        (f16_splat(w.d), f16_splat(w.m))
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn group(w: &BlockQ4_1, (d, m): (__m512, __m512), _: usize) -> [__m512; 2] {
        unsafe { nibbles_to_f32(&w.qs, 0) }.map(|q| _mm512_fmadd_ps(q, d, m))
    }
}

impl ExactDecode<V16> for Q8_0 {
    /// `d`.
    type Scales = __m512;
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn scales(w: &BlockQ8_0) -> __m512 {
        f16_splat(w.d)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn group(w: &BlockQ8_0, d: __m512, _: usize) -> [__m512; 2] {
        // SAFETY: each load reads 16 of the 32 quant bytes.
        std::array::from_fn(|k| unsafe {
            let q = _mm512_cvtepi8_epi32(_mm_loadu_si128(w.qs[16 * k..].as_ptr().cast()));
            _mm512_mul_ps(_mm512_cvtepi32_ps(q), d)
        })
    }
}

/// The formats of K-quant files: the integer groups of `avx2_formats.rs` in sixteen lanes.
impl<K: IntGroups> ExactDecode<V16> for K {
    type Scales = Scales16;
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn scales(w: &K::W) -> Scales16 {
        unsafe { scales16::<K>(w) }
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn group(w: &K::W, s: Scales16, g: usize) -> [__m512; 2] {
        let q = unsafe { K::int_group(w, g) };
        let halves = [_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1)];
        std::array::from_fn(|k| {
            let i = if K::SIGNED {
                _mm512_cvtepi8_epi32(halves[k])
            } else {
                _mm512_cvtepu8_epi32(halves[k])
            };
            let v = _mm512_cvtepi32_ps(i);
            let mul = _mm512_set1_ps(s.mul[2 * g + k]);
            if K::MIN {
                _mm512_fmadd_ps(v, mul, _mm512_set1_ps(-s.min[2 * g + k]))
            } else {
                _mm512_mul_ps(v, mul)
            }
        })
    }
}

/// The exact tiles of format `K`.
struct Exact<K>(PhantomData<K>);

impl<K: ExactDecode<V16>> Tiles for Exact<K> {
    type W = K::W;
    type A = [f32; GROUP];
    const PER_BLOCK: usize = K::GROUPS;
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn tile<const R: usize, const T: usize>(
        w: [&[K::W]; R],
        a: [&[[f32; GROUP]]; T],
    ) -> [[f32; T]; R] {
        unsafe { tile::exact::<V16, K, R, T>(w, a) }
    }
}

/// [`tile::dot_exact`] for format `K`.
///
/// # Safety
/// AVX-512F, AVX2, FMA and F16C must be available.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub(super) unsafe fn dot_exact<K: ExactDecode<V16>>(ty: GgmlType, w: &[u8], a: &[f32]) -> f32 {
    unsafe { tile::dot_exact::<Exact<K>>(ty, w, a) }
}

/// [`tile::matmul_exact`] for format `K`.
///
/// # Safety
/// AVX-512F, AVX2, FMA and F16C must be available.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub(super) unsafe fn matmul_exact<K: ExactDecode<V16>>(
    ty: GgmlType,
    rows: &[u8],
    acts: &QuantActs,
    out: &mut [f32],
) {
    unsafe { tile::matmul_exact::<Exact<K>>(ty, rows, acts, out) }
}
