//! x86_64 kernels for CPUs with AVX2, FMA and F16C (every x86 CPU since 2013/2015): this ISA's
//! vector arithmetic and block decodes for the shared loops of `tile.rs`, its float dots of the q8
//! path and its Q8_0/Q8_1 quantizers.
//!
//! q8 path: the weight block's quants are widened to 32 bytes, multiplied with the 32 activation
//! quants by `_mm256_maddubs_epi16` (unsigned × signed bytes, pairs summed to i16; a signed weight
//! is made unsigned by moving its sign onto the activation), summed to eight i32 by
//! `_mm256_madd_epi16`, converted to f32 and accumulated with one FMA by the block's combined scale
//! `d_w · d_a`. Q4_1 adds its offset term `m · s` per block in a second, 128-bit accumulator.
//!
//! Exact path: each weight block of 32 values is dequantized in registers into four vectors of
//! eight f32 and multiplied-accumulated with FMA. Q4_0 and Q8_0 weights are bit-equal to
//! `blocks::dequantize_row`'s (an exact integer times `d`, one rounding); Q4_1's `d·q + m` is one
//! FMA, within half an ulp of the reference's two roundings. Float formats are widened exactly.
//!
//! Every function here requires AVX2, FMA and F16C; `x86.rs` calls them only after checking.

use std::arch::x86_64::*;
use std::marker::PhantomData;

use tokscope_gguf::GgmlType;
use tokscope_gguf::blocks::{self, BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, QK};

use super::acts::QuantActs;
use super::format::{Bf16, F16, F32, GROUP, Q4_0, Q4_1, Q8_0};
use super::tile::{self, ExactDecode, ExactSimd, QuantDecode, QuantSimd, Simd, Tiles};

/// Eight f32 lanes: AVX2's vectors for the shared loops.
pub(super) struct V8;

impl Simd for V8 {
    type F = __m256;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn zero() -> __m256 {
        _mm256_setzero_ps()
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn hsum(v: __m256) -> f32 {
        hsum(v)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn prefetch(p: *const u8) {
        _mm_prefetch::<_MM_HINT_T0>(p.cast());
    }
}

impl ExactSimd for V8 {
    type Group = [__m256; 4];
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load_group(a: &[f32; GROUP]) -> [__m256; 4] {
        // SAFETY: each load reads 8 of the group's 32 f32.
        std::array::from_fn(|k| unsafe { _mm256_loadu_ps(a[8 * k..].as_ptr()) })
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn add(a: __m256, b: __m256) -> __m256 {
        _mm256_add_ps(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn fmadd(a: __m256, b: __m256, c: __m256) -> __m256 {
        _mm256_fmadd_ps(a, b, c)
    }
}

impl QuantSimd for V8 {
    type Scales = __m128;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scales_zero() -> __m128 {
        _mm_setzero_ps()
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scales_mul(a: __m128, b: __m128) -> __m128 {
        _mm_mul_ps(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scales_add(a: __m128, b: __m128) -> __m128 {
        _mm_add_ps(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn offset(s: __m128) -> f32 {
        _mm_cvtss_f32(_mm_movehdup_ps(s))
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scale_add(acc: __m256, s: __m128, p: __m256) -> __m256 {
        _mm256_fmadd_ps(_mm256_broadcastss_ps(s), p, acc)
    }
}

/// Sum of the eight lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}

// ---------------------------------------------------------------------------------------------
// q8 path: block decodes.

/// Two f16 values (4 bytes, little-endian) converted to f32 lanes 0 and 1.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn f16_pair(bytes: [u8; 4]) -> __m128 {
    _mm_cvtph_ps(_mm_cvtsi32_si128(i32::from_le_bytes(bytes)))
}

/// One f16 value (lane 0).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn f16_one(bits: [u8; 2]) -> __m128 {
    _mm_cvtph_ps(_mm_cvtsi32_si128(u16::from_le_bytes(bits) as i32))
}

/// 16 bytes of packed nibbles → 32 bytes: low nibbles (elements 0..16), then high (16..32).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn unpack_nibbles(qs: &[u8; 16]) -> __m256i {
    // SAFETY: 16 readable bytes; unaligned load.
    let raw = unsafe { _mm_loadu_si128(qs.as_ptr().cast()) };
    let both = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);
    _mm256_and_si256(both, _mm256_set1_epi8(0x0f))
}

/// 32 signed bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn load_i8x32(qs: &[i8; 32]) -> __m256i {
    // SAFETY: 32 readable bytes; unaligned load.
    unsafe { _mm256_loadu_si256(qs.as_ptr().cast()) }
}

/// Σ u·s of 32 unsigned × 32 signed bytes as eight f32 lanes. The i16 pair sums cannot saturate
/// while `u ≤ 128` and `|s| ≤ 127` (2 · 128 · 127 < 32767).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dot_u8_i8(u: __m256i, s: __m256i) -> __m256 {
    let pairs = _mm256_maddubs_epi16(u, s);
    _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
}

/// A signed weight block decoded for `maddubs`: its absolute values and itself (for the signs).
#[derive(Clone, Copy)]
pub(super) struct Signed {
    pub(super) abs: __m256i,
    pub(super) sign: __m256i,
}

/// Σ w·a for signed weights: `|w| · (a · sign(w))`. Activation quants must not be -128 (the
/// quantizers produce -127..=127).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dot_signed(w: Signed, a: __m256i) -> __m256 {
    dot_u8_i8(w.abs, _mm256_sign_epi8(a, w.sign))
}

impl QuantDecode<V8> for Q4_0 {
    type Decoded = Signed;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn decode(w: &BlockQ4_0) -> Signed {
        let q = unsafe { unpack_nibbles(&w.qs) };
        let sign = _mm256_sub_epi8(q, _mm256_set1_epi8(8));
        Signed {
            abs: _mm256_sign_epi8(sign, sign),
            sign,
        }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn products(w: Signed, a: &BlockQ8_0) -> __m256 {
        dot_signed(w, unsafe { load_i8x32(&a.qs) })
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn w_scales(w: &BlockQ4_0) -> __m128 {
        f16_one(w.d)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn a_scales(a: &BlockQ8_0) -> __m128 {
        f16_one(a.d)
    }
}

impl QuantDecode<V8> for Q4_1 {
    type Decoded = __m256i;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn decode(w: &BlockQ4_1) -> __m256i {
        unsafe { unpack_nibbles(&w.qs) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn products(w: __m256i, a: &BlockQ8_1) -> __m256 {
        dot_u8_i8(w, unsafe { load_i8x32(&a.qs) })
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn w_scales(w: &BlockQ4_1) -> __m128 {
        f16_pair([w.d[0], w.d[1], w.m[0], w.m[1]])
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn a_scales(a: &BlockQ8_1) -> __m128 {
        f16_pair([a.d[0], a.d[1], a.s[0], a.s[1]])
    }
}

impl QuantDecode<V8> for Q8_0 {
    type Decoded = Signed;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn decode(w: &BlockQ8_0) -> Signed {
        let sign = unsafe { load_i8x32(&w.qs) };
        // |-128| stays 0x80, which maddubs reads as the unsigned 128: still exact.
        Signed {
            abs: _mm256_sign_epi8(sign, sign),
            sign,
        }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn products(w: Signed, a: &BlockQ8_0) -> __m256 {
        dot_signed(w, unsafe { load_i8x32(&a.qs) })
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn w_scales(w: &BlockQ8_0) -> __m128 {
        f16_one(w.d)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn a_scales(a: &BlockQ8_0) -> __m128 {
        f16_one(a.d)
    }
}

// ---------------------------------------------------------------------------------------------
// Exact path: block decodes.

/// Eight bytes (the low half of `b`) widened to f32: zero-extended, or sign-extended if `SIGNED`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn bytes_to_f32<const SIGNED: bool>(b: __m128i) -> __m256 {
    let i = if SIGNED {
        _mm256_cvtepi8_epi32(b)
    } else {
        _mm256_cvtepu8_epi32(b)
    };
    _mm256_cvtepi32_ps(i)
}

/// 16 bytes of packed nibbles → the 32 nibbles as f32, element order (low nibbles first),
/// each minus `bias` (exact integer arithmetic before the conversion).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn nibbles_to_f32<const SIGNED: bool>(qs: &[u8; 16], bias: i8) -> [__m256; 4] {
    // SAFETY: 16 readable bytes; unaligned load.
    let raw = unsafe { _mm_loadu_si128(qs.as_ptr().cast()) };
    let mask = _mm_set1_epi8(0x0f);
    let b = _mm_set1_epi8(bias);
    let lo = _mm_sub_epi8(_mm_and_si128(raw, mask), b);
    let hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(raw, 4), mask), b);
    [
        bytes_to_f32::<SIGNED>(lo),
        bytes_to_f32::<SIGNED>(_mm_unpackhi_epi64(lo, lo)),
        bytes_to_f32::<SIGNED>(hi),
        bytes_to_f32::<SIGNED>(_mm_unpackhi_epi64(hi, hi)),
    ]
}

/// f16 bits broadcast to eight f32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16_splat(bits: [u8; 2]) -> __m256 {
    _mm256_broadcastss_ps(f16_one(bits))
}

impl ExactDecode<V8> for Q4_0 {
    /// `d`.
    type Scales = __m256;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scales(w: &BlockQ4_0) -> __m256 {
        f16_splat(w.d)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn group(w: &BlockQ4_0, d: __m256, _: usize) -> [__m256; 4] {
        unsafe { nibbles_to_f32::<true>(&w.qs, 8) }.map(|q| _mm256_mul_ps(q, d))
    }
}

impl ExactDecode<V8> for Q4_1 {
    /// `(d, m)`.
    type Scales = (__m256, __m256);
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scales(w: &BlockQ4_1) -> (__m256, __m256) {
        (f16_splat(w.d), f16_splat(w.m))
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn group(w: &BlockQ4_1, (d, m): (__m256, __m256), _: usize) -> [__m256; 4] {
        unsafe { nibbles_to_f32::<false>(&w.qs, 0) }.map(|q| _mm256_fmadd_ps(q, d, m))
    }
}

impl ExactDecode<V8> for Q8_0 {
    /// `d`.
    type Scales = __m256;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scales(w: &BlockQ8_0) -> __m256 {
        f16_splat(w.d)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn group(w: &BlockQ8_0, d: __m256, _: usize) -> [__m256; 4] {
        // SAFETY: each load reads 8 of the 32 quant bytes.
        std::array::from_fn(|k| unsafe {
            let q = _mm_loadl_epi64(w.qs[8 * k..].as_ptr().cast());
            _mm256_mul_ps(bytes_to_f32::<true>(q), d)
        })
    }
}

/// F16C conversion, exact.
impl ExactDecode<V8> for F16 {
    type Scales = ();
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scales(_: &[[u8; 2]; 32]) {}
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn group(w: &[[u8; 2]; 32], _: (), _: usize) -> [__m256; 4] {
        // SAFETY: each load reads 16 of the 64 bytes.
        std::array::from_fn(|k| unsafe {
            _mm256_cvtph_ps(_mm_loadu_si128(w[8 * k..].as_ptr().cast()))
        })
    }
}

/// The top half of an f32: a 16-bit shift, exact.
impl ExactDecode<V8> for Bf16 {
    type Scales = ();
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scales(_: &[[u8; 2]; 32]) {}
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn group(w: &[[u8; 2]; 32], _: (), _: usize) -> [__m256; 4] {
        // SAFETY: each load reads 16 of the 64 bytes.
        std::array::from_fn(|k| unsafe {
            let h = _mm256_cvtepu16_epi32(_mm_loadu_si128(w[8 * k..].as_ptr().cast()));
            _mm256_castsi256_ps(_mm256_slli_epi32(h, 16))
        })
    }
}

impl ExactDecode<V8> for F32 {
    type Scales = ();
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scales(_: &[[u8; 4]; 32]) {}
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn group(w: &[[u8; 4]; 32], _: (), _: usize) -> [__m256; 4] {
        // SAFETY: each load reads 32 of the 128 bytes.
        std::array::from_fn(|k| unsafe { _mm256_loadu_ps(w[8 * k..].as_ptr().cast()) })
    }
}

// ---------------------------------------------------------------------------------------------
// The shared loops instantiated with this ISA's features.

/// The exact tiles of format `K`.
struct Exact<K>(PhantomData<K>);

impl<K: ExactDecode<V8>> Tiles for Exact<K> {
    type W = K::W;
    type A = [f32; GROUP];
    const PER_BLOCK: usize = K::GROUPS;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn tile<const R: usize, const T: usize>(
        w: [&[K::W]; R],
        a: [&[[f32; GROUP]]; T],
    ) -> [[f32; T]; R] {
        unsafe { tile::exact::<V8, K, R, T>(w, a) }
    }
}

/// The q8 tiles of format `K`.
struct Quant<K>(PhantomData<K>);

impl<K: QuantDecode<V8>> Tiles for Quant<K> {
    type W = K::W;
    type A = K::A;
    const PER_BLOCK: usize = 1;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn tile<const R: usize, const T: usize>(
        w: [&[K::W]; R],
        a: [&[K::A]; T],
    ) -> [[f32; T]; R] {
        unsafe { tile::quant::<V8, K, R, T>(w, a) }
    }
}

/// [`tile::dot_quant`] for format `K`.
///
/// # Safety
/// AVX2, FMA and F16C must be available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot<K: QuantDecode<V8>>(w: &[u8], a: &[u8]) -> f32 {
    unsafe { tile::dot_quant::<Quant<K>>(w, a) }
}

/// [`tile::matmul_quant`] for format `K`.
///
/// # Safety
/// AVX2, FMA and F16C must be available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn matmul<K: QuantDecode<V8>>(rows: &[u8], acts: &QuantActs, out: &mut [f32]) {
    unsafe { tile::matmul_quant::<Quant<K>>(rows, acts, out) }
}

/// [`tile::dot_exact`] for format `K`.
///
/// # Safety
/// AVX2, FMA and F16C must be available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_exact<K: ExactDecode<V8>>(ty: GgmlType, w: &[u8], a: &[f32]) -> f32 {
    unsafe { tile::dot_exact::<Exact<K>>(ty, w, a) }
}

/// [`tile::matmul_exact`] for format `K`.
///
/// # Safety
/// AVX2, FMA and F16C must be available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn matmul_exact<K: ExactDecode<V8>>(
    ty: GgmlType,
    rows: &[u8],
    acts: &QuantActs,
    out: &mut [f32],
) {
    unsafe { tile::matmul_exact::<Exact<K>>(ty, rows, acts, out) }
}

// ---------------------------------------------------------------------------------------------
// q8 path of the float formats: activations in the weight's own format.

/// Dot of two f16 rows: F16C conversion, f32 FMA in four accumulators.
///
/// # Safety
/// AVX2, FMA and F16C must be available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_f16(w: &[u8], a: &[u8]) -> f32 {
    // SAFETY: each load reads 16 bytes inside a 16-byte chunk.
    let load = |c: &[u8]| unsafe { _mm256_cvtph_ps(_mm_loadu_si128(c.as_ptr().cast())) };
    dot_wide(w, a, 16, load, |b| blocks::f16_bits_to_f32([b[0], b[1]]))
}

/// Dot of two bf16 rows: bf16 is the top half of an f32, so widening is a 16-bit shift.
///
/// # Safety
/// AVX2, FMA and F16C must be available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_bf16(w: &[u8], a: &[u8]) -> f32 {
    // SAFETY: each load reads 16 bytes inside a 16-byte chunk.
    let load = |c: &[u8]| unsafe {
        let h = _mm256_cvtepu16_epi32(_mm_loadu_si128(c.as_ptr().cast()));
        _mm256_castsi256_ps(_mm256_slli_epi32(h, 16))
    };
    dot_wide(w, a, 16, load, |b| blocks::bf16_bits_to_f32([b[0], b[1]]))
}

/// Dot of two f32 rows.
///
/// # Safety
/// AVX2, FMA and F16C must be available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_f32(w: &[u8], a: &[u8]) -> f32 {
    // SAFETY: each load reads 32 bytes inside a 32-byte chunk.
    let load = |c: &[u8]| unsafe { _mm256_loadu_ps(c.as_ptr().cast()) };
    dot_wide(w, a, 32, load, |b| {
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    })
}

/// Shared loop of the float dots: `load` turns `step` bytes into 8 f32 lanes; four independent
/// accumulators hide the FMA latency; the tail (under 8 elements) goes through `scalar`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_wide(
    w: &[u8],
    a: &[u8],
    step: usize,
    load: impl Fn(&[u8]) -> __m256,
    scalar: impl Fn(&[u8]) -> f32,
) -> f32 {
    let elem = step / 8;
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut w4 = w.chunks_exact(4 * step);
    let mut a4 = a.chunks_exact(4 * step);
    for (w, a) in (&mut w4).zip(&mut a4) {
        for (i, acc) in acc.iter_mut().enumerate() {
            let r = i * step..(i + 1) * step;
            *acc = _mm256_fmadd_ps(load(&w[r.clone()]), load(&a[r]), *acc);
        }
    }
    let mut w1 = w4.remainder().chunks_exact(step);
    let mut a1 = a4.remainder().chunks_exact(step);
    for (w, a) in (&mut w1).zip(&mut a1) {
        acc[0] = _mm256_fmadd_ps(load(w), load(a), acc[0]);
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let tail: f32 = w1
        .remainder()
        .chunks_exact(elem)
        .zip(a1.remainder().chunks_exact(elem))
        .map(|(w, a)| scalar(w) * scalar(a))
        .sum();
    hsum(sum) + tail
}

// ---------------------------------------------------------------------------------------------
// Quantizers of the activations.

/// One block of 32 values quantized like `quantize_row_q8_0_ref`; returns the quants as four
/// vectors of eight i32 (element order) and `d`, or None when the block holds a NaN/inf or its
/// scale's reciprocal overflows: those rare blocks take the scalar path, whose saturating casts
/// this code does not imitate.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn quantize_block(x: &[f32]) -> Option<([__m256i; 4], f32)> {
    // SAFETY: x has 32 elements (chunks_exact(QK) in the callers); each load reads 8.
    let v: [__m256; 4] = std::array::from_fn(|i| unsafe { _mm256_loadu_ps(x[8 * i..].as_ptr()) });
    let sign_bit = _mm256_set1_ps(-0.0);
    let abs = v.map(|v| _mm256_andnot_ps(sign_bit, v));
    let nan = v.iter().fold(_mm256_setzero_ps(), |m, &v| {
        _mm256_or_ps(m, _mm256_cmp_ps(v, v, _CMP_UNORD_Q))
    });
    let m = _mm256_max_ps(_mm256_max_ps(abs[0], abs[1]), _mm256_max_ps(abs[2], abs[3]));
    let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    let amax = _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    if _mm256_movemask_ps(nan) != 0 || !amax.is_finite() || !id.is_finite() {
        return None;
    }
    let id = _mm256_set1_ps(id);
    let half = _mm256_set1_ps(0.5);
    let q = v.map(|v| {
        // roundf: truncate, then step away from zero when the (exact) fraction is ≥ 0.5.
        let x = _mm256_mul_ps(v, id);
        let t = _mm256_round_ps(x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        let frac = _mm256_andnot_ps(sign_bit, _mm256_sub_ps(x, t));
        let one = _mm256_or_ps(_mm256_set1_ps(1.0), _mm256_and_ps(sign_bit, x));
        let step = _mm256_and_ps(_mm256_cmp_ps(frac, half, _CMP_GE_OQ), one);
        _mm256_cvttps_epi32(_mm256_add_ps(t, step))
    });
    Some((q, d))
}

/// Packs four vectors of eight i32 (each within -127..=127) into 32 bytes in element order.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn store_i8x32(q: [__m256i; 4], dst: &mut [i8; 32]) {
    // packs works per 128-bit lane; the permute restores element order.
    let p = _mm256_packs_epi16(
        _mm256_packs_epi32(q[0], q[1]),
        _mm256_packs_epi32(q[2], q[3]),
    );
    let p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    // SAFETY: 32 writable bytes; unaligned store.
    unsafe { _mm256_storeu_si256(dst.as_mut_ptr().cast(), p) }
}

/// `blocks::quantize_row_q8_0`, bit for bit.
///
/// # Safety
/// AVX2, FMA and F16C must be available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn quantize_row_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    assert_eq!(x.len(), y.len() * QK, "input is not exactly one block row");
    for (x, b) in x.chunks_exact(QK).zip(y.iter_mut()) {
        match quantize_block(x) {
            Some((q, d)) => {
                b.d = blocks::f32_to_f16_bits(d);
                unsafe { store_i8x32(q, &mut b.qs) };
            }
            None => blocks::quantize_row_q8_0(x, std::slice::from_mut(b)),
        }
    }
}

/// `blocks::quantize_row_q8_1`, bit for bit.
///
/// # Safety
/// AVX2, FMA and F16C must be available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn quantize_row_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
    assert_eq!(x.len(), y.len() * QK, "input is not exactly one block row");
    for (x, b) in x.chunks_exact(QK).zip(y.iter_mut()) {
        match quantize_block(x) {
            Some((q, d)) => {
                let s =
                    _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
                let s = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
                let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
                let sum = _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 1)));
                b.d = blocks::f32_to_f16_bits(d);
                b.s = blocks::f32_to_f16_bits(sum as f32 * d);
                unsafe { store_i8x32(q, &mut b.qs) };
            }
            None => blocks::quantize_row_q8_1(x, std::slice::from_mut(b)),
        }
    }
}
