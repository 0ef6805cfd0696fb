//! x86_64 kernels for CPUs with AVX2, FMA and F16C (every x86 CPU since 2013/2015).
//!
//! Integer formats: the weight block's quants are widened to 32 bytes, multiplied with the 32
//! activation quants by `_mm256_maddubs_epi16` (unsigned × signed bytes, pairs summed to i16; a
//! signed weight is made unsigned by moving its sign onto the activation), summed to eight i32 by
//! `_mm256_madd_epi16`, converted to f32 and accumulated with one FMA by the block's combined scale
//! `d_w · d_a`. Q4_1 adds its offset term `m · s` per block in a second, 128-bit accumulator.
//!
//! `matmul` works on tiles of R weight rows × T activation rows (const generics, registers only):
//! 4 × 1 for decode (each activation block is loaded once for four rows) and 1 × 4 for prefill
//! (each weight block is decoded once for four tokens).
//!
//! Every function here requires AVX2, FMA and F16C; `super` calls them only after checking.

use std::arch::x86_64::*;

use tokscope_gguf::GgmlType;
use tokscope_gguf::blocks::{self, BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, QK};

use super::QuantActs;

/// How far ahead of the weight block in use `tile` prefetches: 1 to 8 KiB measured alike.
pub(super) const PREFETCH_BYTES: usize = 4096;

/// How one weight block format is dotted with its activation block format.
trait QuantDot {
    type W: bytemuck::Pod;
    type A: bytemuck::Pod;
    /// The weight block's quants unpacked once, reused for every activation row of a tile.
    type Decoded: Copy;
    /// Whether `scales` carries an additive per-block term in lane 1 (Q4_1's `m · s`).
    const OFFSET: bool;

    /// # Safety
    /// AVX2, FMA and F16C must be available.
    unsafe fn decode(w: &Self::W) -> Self::Decoded;
    /// Eight f32 lanes whose sum is the block's integer dot product `Σ w_q · a_q`.
    ///
    /// # Safety
    /// AVX2, FMA and F16C must be available.
    unsafe fn products(w: Self::Decoded, a: &Self::A) -> __m256;
    /// Lane 0: `d_w`, lane 1: the weight's offset (if any), as f32.
    ///
    /// # Safety
    /// AVX2, FMA and F16C must be available.
    unsafe fn w_scales(w: &Self::W) -> __m128;
    /// Lane 0: `d_a`, lane 1: the activation's `s` (if any), as f32.
    ///
    /// # Safety
    /// AVX2, FMA and F16C must be available.
    unsafe fn a_scales(a: &Self::A) -> __m128;
}

/// Two f16 values (4 bytes, little-endian) converted to f32 lanes 0 and 1.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16_pair(bytes: [u8; 4]) -> __m128 {
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
unsafe fn load_i8x32(qs: &[i8; 32]) -> __m256i {
    // SAFETY: 32 readable bytes; unaligned load.
    unsafe { _mm256_loadu_si256(qs.as_ptr().cast()) }
}

/// Σ u·s of 32 unsigned × 32 signed bytes as eight f32 lanes. The i16 pair sums cannot saturate
/// while `u ≤ 128` and `|s| ≤ 127` (2 · 128 · 127 < 32767).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_u8_i8(u: __m256i, s: __m256i) -> __m256 {
    let pairs = _mm256_maddubs_epi16(u, s);
    _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
}

/// A signed weight block decoded for `maddubs`: its absolute values and itself (for the signs).
#[derive(Clone, Copy)]
struct Signed {
    abs: __m256i,
    sign: __m256i,
}

/// Σ w·a for signed weights: `|w| · (a · sign(w))`. Activation quants must not be -128 (the
/// quantizers produce -127..=127).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_signed(w: Signed, a: __m256i) -> __m256 {
    dot_u8_i8(w.abs, _mm256_sign_epi8(a, w.sign))
}

pub(super) struct Q4_0;
impl QuantDot for Q4_0 {
    type W = BlockQ4_0;
    type A = BlockQ8_0;
    type Decoded = Signed;
    const OFFSET: bool = false;
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

pub(super) struct Q4_1;
impl QuantDot for Q4_1 {
    type W = BlockQ4_1;
    type A = BlockQ8_1;
    type Decoded = __m256i;
    const OFFSET: bool = true;
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

pub(super) struct Q8_0;
impl QuantDot for Q8_0 {
    type W = BlockQ8_0;
    type A = BlockQ8_0;
    type Decoded = Signed;
    const OFFSET: bool = false;
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

/// Sum of the eight lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}

/// The dots of R weight rows with T activation rows, all of `nb` blocks: `out[r][t]`.
///
/// # Safety
/// AVX2, FMA and F16C must be available.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tile<K: QuantDot, const R: usize, const T: usize>(
    w: [&[K::W]; R],
    a: [&[K::A]; T],
) -> [[f32; T]; R] {
    let nb = a[0].len();
    assert!(w.iter().all(|w| w.len() == nb) && a.iter().all(|a| a.len() == nb));
    let mut acc = [[_mm256_setzero_ps(); T]; R];
    let mut offset = [[_mm_setzero_ps(); T]; R];
    for b in 0..nb {
        for w in w {
            // The hardware prefetcher alone leaves the weight stream at a quarter of L3 bandwidth
            // here (the Q8_0 LM head: 7 → 28 GB/s with this); a prefetch never faults.
            let ahead = (&w[b] as *const K::W)
                .cast::<i8>()
                .wrapping_add(PREFETCH_BYTES);
            _mm_prefetch::<_MM_HINT_T0>(ahead);
        }
        let a_sc: [__m128; T] = std::array::from_fn(|t| unsafe { K::a_scales(&a[t][b]) });
        for r in 0..R {
            let wb = &w[r][b];
            let dec = unsafe { K::decode(wb) };
            let w_sc = unsafe { K::w_scales(wb) };
            for t in 0..T {
                let p = unsafe { K::products(dec, &a[t][b]) };
                // Lane 0: d_w · d_a; lane 1: m · s (Q4_1).
                let sc = _mm_mul_ps(w_sc, a_sc[t]);
                acc[r][t] = _mm256_fmadd_ps(_mm256_broadcastss_ps(sc), p, acc[r][t]);
                if K::OFFSET {
                    offset[r][t] = _mm_add_ps(offset[r][t], sc);
                }
            }
        }
    }
    std::array::from_fn(|r| {
        std::array::from_fn(|t| {
            let mut s = hsum(acc[r][t]);
            if K::OFFSET {
                s += _mm_cvtss_f32(_mm_movehdup_ps(offset[r][t]));
            }
            s
        })
    })
}

/// One weight row dotted with one activation row (both of the same number of blocks).
///
/// # Safety
/// AVX2, FMA and F16C must be available.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_quant<K: QuantDot>(w: &[u8], a: &[u8]) -> f32 {
    unsafe { tile::<K, 1, 1>([bytemuck::cast_slice(w)], [bytemuck::cast_slice(a)])[0][0] }
}

/// `super::matmul` for a block format: 4-row tiles when `n == 1`, 4-token tiles otherwise.
///
/// # Safety
/// AVX2, FMA and F16C must be available.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn matmul_quant<K: QuantDot>(rows: &[u8], acts: &QuantActs, out: &mut [f32]) {
    let n = acts.n;
    let row_bytes = rows.len() / (out.len() / n);
    let w_rows: Vec<&[K::W]> = rows
        .chunks_exact(row_bytes)
        .map(bytemuck::cast_slice)
        .collect();
    let a_rows: Vec<&[K::A]> = (0..n).map(|t| bytemuck::cast_slice(acts.row(t))).collect();
    if n == 1 {
        let a = a_rows[0];
        let mut w_quads = w_rows.chunks_exact(4);
        let mut out_quads = out.chunks_exact_mut(4);
        for (w, o) in (&mut w_quads).zip(&mut out_quads) {
            let d = unsafe { tile::<K, 4, 1>([w[0], w[1], w[2], w[3]], [a]) };
            for (o, d) in o.iter_mut().zip(d) {
                *o = d[0];
            }
        }
        for (w, o) in w_quads.remainder().iter().zip(out_quads.into_remainder()) {
            *o = unsafe { tile::<K, 1, 1>([w], [a])[0][0] };
        }
        return;
    }
    for (w, out_r) in w_rows.iter().zip(out.chunks_exact_mut(n)) {
        let mut t = 0;
        while t < n {
            let a = &a_rows[t..];
            let o = &mut out_r[t..];
            t += match n - t {
                1 => {
                    o[0] = unsafe { tile::<K, 1, 1>([w], [a[0]])[0][0] };
                    1
                }
                2 => {
                    let d = unsafe { tile::<K, 1, 2>([w], [a[0], a[1]])[0] };
                    o[..2].copy_from_slice(&d);
                    2
                }
                3 => {
                    let d = unsafe { tile::<K, 1, 3>([w], [a[0], a[1], a[2]])[0] };
                    o[..3].copy_from_slice(&d);
                    3
                }
                _ => {
                    let d = unsafe { tile::<K, 1, 4>([w], [a[0], a[1], a[2], a[3]])[0] };
                    o[..4].copy_from_slice(&d);
                    4
                }
            };
        }
    }
}

/// Dot of two f16 rows: F16C conversion, f32 FMA in four accumulators.
///
/// # Safety
/// AVX2, FMA and F16C must be available.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_f16(w: &[u8], a: &[u8]) -> f32 {
    // SAFETY: each load reads 16 bytes inside a 16-byte chunk.
    let load = |c: &[u8]| unsafe { _mm256_cvtph_ps(_mm_loadu_si128(c.as_ptr().cast())) };
    dot_wide(w, a, 16, load, |b| blocks::f16_bits_to_f32([b[0], b[1]]))
}

/// Dot of two bf16 rows: bf16 is the top half of an f32, so widening is a 16-bit shift.
///
/// # Safety
/// AVX2, FMA and F16C must be available.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_bf16(w: &[u8], a: &[u8]) -> f32 {
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
unsafe fn dot_f32(w: &[u8], a: &[u8]) -> f32 {
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

/// One weight row of type `ty` dotted with one activation row of its dot format.
///
/// # Safety
/// AVX2, FMA and F16C must be available.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot(ty: GgmlType, w: &[u8], a: &[u8]) -> f32 {
    unsafe {
        match ty {
            GgmlType::Q4_0 => dot_quant::<Q4_0>(w, a),
            GgmlType::Q4_1 => dot_quant::<Q4_1>(w, a),
            GgmlType::Q8_0 => dot_quant::<Q8_0>(w, a),
            GgmlType::F16 => dot_f16(w, a),
            GgmlType::BF16 => dot_bf16(w, a),
            GgmlType::F32 => dot_f32(w, a),
            _ => super::dot_scalar(ty, w, a),
        }
    }
}

/// `super::matmul` with these kernels.
///
/// # Safety
/// AVX2, FMA and F16C must be available.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn matmul(ty: GgmlType, rows: &[u8], acts: &QuantActs, out: &mut [f32]) {
    unsafe {
        match ty {
            GgmlType::Q4_0 => matmul_quant::<Q4_0>(rows, acts, out),
            GgmlType::Q4_1 => matmul_quant::<Q4_1>(rows, acts, out),
            GgmlType::Q8_0 => matmul_quant::<Q8_0>(rows, acts, out),
            _ => {
                let n = acts.n;
                let row_bytes = rows.len() / (out.len() / n);
                for (w, out_r) in rows.chunks_exact(row_bytes).zip(out.chunks_exact_mut(n)) {
                    for (t, o) in out_r.iter_mut().enumerate() {
                        *o = dot(ty, w, acts.row(t));
                    }
                }
            }
        }
    }
}

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
pub unsafe fn quantize_row_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
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
pub unsafe fn quantize_row_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
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

// ---------------------------------------------------------------------------------------------
// Exact path: f32 activations, each weight block of 32 values dequantized in registers into four
// vectors of eight f32 and multiplied-accumulated with FMA. Q4_0 and Q8_0 weights are bit-equal to
// `blocks::dequantize_row`'s (an exact integer times `d`, one rounding); Q4_1's `d·q + m` is one
// FMA, within half an ulp of the reference's two roundings. Float formats are widened exactly.

/// A weight format read in groups of 32 values (one quant block, or 32 floats).
pub(super) trait Dequant {
    /// 32 values of the format.
    type W: bytemuck::Pod;
    /// The block's values in element order.
    ///
    /// # Safety
    /// AVX2, FMA and F16C must be available.
    unsafe fn dequant(w: &Self::W) -> [__m256; 4];
}

/// Eight bytes (the low half of `b`) widened to f32: zero-extended, or sign-extended if `SIGNED`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn bytes_to_f32<const SIGNED: bool>(b: __m128i) -> __m256 {
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

impl Dequant for Q4_0 {
    type W = BlockQ4_0;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dequant(w: &BlockQ4_0) -> [__m256; 4] {
        let d = f16_splat(w.d);
        unsafe { nibbles_to_f32::<true>(&w.qs, 8) }.map(|q| _mm256_mul_ps(q, d))
    }
}

impl Dequant for Q4_1 {
    type W = BlockQ4_1;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dequant(w: &BlockQ4_1) -> [__m256; 4] {
        let (d, m) = (f16_splat(w.d), f16_splat(w.m));
        unsafe { nibbles_to_f32::<false>(&w.qs, 0) }.map(|q| _mm256_fmadd_ps(q, d, m))
    }
}

impl Dequant for Q8_0 {
    type W = BlockQ8_0;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dequant(w: &BlockQ8_0) -> [__m256; 4] {
        let d = f16_splat(w.d);
        // SAFETY: each load reads 8 of the 32 quant bytes.
        std::array::from_fn(|k| unsafe {
            let q = _mm_loadl_epi64(w.qs[8 * k..].as_ptr().cast());
            _mm256_mul_ps(bytes_to_f32::<true>(q), d)
        })
    }
}

/// F16 weights, 32 at a time (F16C conversion, exact).
struct F16;
impl Dequant for F16 {
    type W = [[u8; 2]; 32];
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dequant(w: &[[u8; 2]; 32]) -> [__m256; 4] {
        // SAFETY: each load reads 16 of the 64 bytes.
        std::array::from_fn(|k| unsafe {
            _mm256_cvtph_ps(_mm_loadu_si128(w[8 * k..].as_ptr().cast()))
        })
    }
}

/// BF16 weights, 32 at a time (the top half of an f32: a 16-bit shift, exact).
struct Bf16;
impl Dequant for Bf16 {
    type W = [[u8; 2]; 32];
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dequant(w: &[[u8; 2]; 32]) -> [__m256; 4] {
        // SAFETY: each load reads 16 of the 64 bytes.
        std::array::from_fn(|k| unsafe {
            let h = _mm256_cvtepu16_epi32(_mm_loadu_si128(w[8 * k..].as_ptr().cast()));
            _mm256_castsi256_ps(_mm256_slli_epi32(h, 16))
        })
    }
}

/// F32 weights, 32 at a time.
struct F32;
impl Dequant for F32 {
    type W = [[u8; 4]; 32];
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dequant(w: &[[u8; 4]; 32]) -> [__m256; 4] {
        // SAFETY: each load reads 32 of the 128 bytes.
        std::array::from_fn(|k| unsafe { _mm256_loadu_ps(w[8 * k..].as_ptr().cast()) })
    }
}

/// The exact dots of R weight rows (whole groups of 32) with T f32 activation rows (at least as
/// long): `out[r][t]`. Two accumulators per pair, so that even a 1 × 1 tile keeps two FMA chains.
///
/// # Safety
/// AVX2, FMA and F16C must be available.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tile_exact<K: Dequant, const R: usize, const T: usize>(
    w: [&[K::W]; R],
    a: [&[[f32; QK]]; T],
) -> [[f32; T]; R] {
    let nb = w[0].len();
    assert!(w.iter().all(|w| w.len() == nb) && a.iter().all(|a| a.len() >= nb));
    let mut acc = [[[_mm256_setzero_ps(); 2]; T]; R];
    for b in 0..nb {
        for w in w {
            // As in `tile`: keeps the weight stream ahead of the hardware prefetcher.
            let ahead = (&w[b] as *const K::W)
                .cast::<i8>()
                .wrapping_add(PREFETCH_BYTES);
            _mm_prefetch::<_MM_HINT_T0>(ahead);
        }
        for r in 0..R {
            let x = unsafe { K::dequant(&w[r][b]) };
            for t in 0..T {
                let ab = &a[t][b];
                // SAFETY: each load reads 8 of the block's 32 f32.
                let y: [__m256; 4] =
                    std::array::from_fn(|k| unsafe { _mm256_loadu_ps(ab[8 * k..].as_ptr()) });
                let [acc0, acc1] = &mut acc[r][t];
                *acc0 = _mm256_fmadd_ps(x[0], y[0], *acc0);
                *acc1 = _mm256_fmadd_ps(x[1], y[1], *acc1);
                *acc0 = _mm256_fmadd_ps(x[2], y[2], *acc0);
                *acc1 = _mm256_fmadd_ps(x[3], y[3], *acc1);
            }
        }
    }
    std::array::from_fn(|r| {
        std::array::from_fn(|t| hsum(_mm256_add_ps(acc[r][t][0], acc[r][t][1])))
    })
}

/// Exact tiles of one weight format on one instruction set: `tile_exact` here, the AVX-512 tiles
/// in `avx512.rs`; the drivers below (`dot_exact_k`, `matmul_exact_k`) serve both.
pub(super) trait ExactTile {
    /// 32 weights of the format.
    type W: bytemuck::Pod;
    /// The exact dots of R weight rows with T activation rows: `out[r][t]`.
    ///
    /// # Safety
    /// The implementation's instruction set must be available.
    unsafe fn tile<const R: usize, const T: usize>(
        w: [&[Self::W]; R],
        a: [&[[f32; QK]]; T],
    ) -> [[f32; T]; R];
}

impl<K: Dequant> ExactTile for K {
    type W = K::W;
    #[inline]
    unsafe fn tile<const R: usize, const T: usize>(
        w: [&[K::W]; R],
        a: [&[[f32; QK]]; T],
    ) -> [[f32; T]; R] {
        // SAFETY: the caller checked AVX2, FMA and F16C.
        unsafe { tile_exact::<K, R, T>(w, a) }
    }
}

/// A weight row split into its whole groups of 32 and the rest (float formats only).
fn split_row<K: ExactTile>(w: &[u8]) -> (&[K::W], &[u8]) {
    let whole = w.len() - w.len() % std::mem::size_of::<K::W>();
    (bytemuck::cast_slice(&w[..whole]), &w[whole..])
}

/// One weight row dotted exactly with one f32 activation row.
///
/// # Safety
/// AVX2, FMA and F16C must be available.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_exact_k<K: ExactTile>(ty: GgmlType, w: &[u8], a: &[f32]) -> f32 {
    let (wb, w_tail) = split_row::<K>(w);
    let (ab, a_tail) = a.as_chunks::<QK>();
    assert_eq!(wb.len(), ab.len(), "rows of different lengths");
    let s = unsafe { K::tile::<1, 1>([wb], [ab])[0][0] };
    if w_tail.is_empty() {
        s
    } else {
        s + super::dot_exact_scalar(ty, w_tail, a_tail)
    }
}

/// `super::matmul_exact` for one format: 4-row tiles when `n == 1`, 4-token tiles otherwise;
/// the float formats' partial last group (rows not a multiple of 32 long) by the scalar code.
///
/// # Safety
/// AVX2, FMA and F16C must be available.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn matmul_exact_k<K: ExactTile>(
    ty: GgmlType,
    rows: &[u8],
    acts: &QuantActs,
    out: &mut [f32],
) {
    let n = acts.n;
    let row_bytes = rows.len() / (out.len() / n);
    if !row_bytes.is_multiple_of(std::mem::size_of::<K::W>()) {
        // Rows with a partial group: rare (no llama weight is such), one dot at a time.
        for (w, out_r) in rows.chunks_exact(row_bytes).zip(out.chunks_exact_mut(n)) {
            for (t, o) in out_r.iter_mut().enumerate() {
                *o = unsafe { dot_exact_k::<K>(ty, w, acts.row_f32(t)) };
            }
        }
        return;
    }
    let w_rows: Vec<&[K::W]> = rows
        .chunks_exact(row_bytes)
        .map(bytemuck::cast_slice)
        .collect();
    let a_rows: Vec<&[[f32; QK]]> = (0..n).map(|t| acts.row_f32(t).as_chunks().0).collect();
    if n == 1 {
        let a = a_rows[0];
        let mut w_quads = w_rows.chunks_exact(4);
        let mut out_quads = out.chunks_exact_mut(4);
        for (w, o) in (&mut w_quads).zip(&mut out_quads) {
            let d = unsafe { K::tile::<4, 1>([w[0], w[1], w[2], w[3]], [a]) };
            for (o, d) in o.iter_mut().zip(d) {
                *o = d[0];
            }
        }
        for (w, o) in w_quads.remainder().iter().zip(out_quads.into_remainder()) {
            *o = unsafe { K::tile::<1, 1>([w], [a])[0][0] };
        }
        return;
    }
    for (w, out_r) in w_rows.iter().zip(out.chunks_exact_mut(n)) {
        let mut t = 0;
        while t < n {
            let a = &a_rows[t..];
            let o = &mut out_r[t..];
            t += match n - t {
                1 => {
                    o[0] = unsafe { K::tile::<1, 1>([w], [a[0]])[0][0] };
                    1
                }
                2 => {
                    let d = unsafe { K::tile::<1, 2>([w], [a[0], a[1]])[0] };
                    o[..2].copy_from_slice(&d);
                    2
                }
                3 => {
                    let d = unsafe { K::tile::<1, 3>([w], [a[0], a[1], a[2]])[0] };
                    o[..3].copy_from_slice(&d);
                    3
                }
                _ => {
                    let d = unsafe { K::tile::<1, 4>([w], [a[0], a[1], a[2], a[3]])[0] };
                    o[..4].copy_from_slice(&d);
                    4
                }
            };
        }
    }
}

/// Whether the AVX-512 exact tiles can run here (detected once).
pub fn has_avx512() -> bool {
    static AVX512: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVX512.get_or_init(|| is_x86_feature_detected!("avx512f"))
}

/// One weight row of type `ty` dotted exactly with one f32 activation row (AVX-512 tiles for the
/// block formats where the CPU has them).
///
/// # Safety
/// AVX2, FMA and F16C must be available.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_exact(ty: GgmlType, w: &[u8], a: &[f32]) -> f32 {
    unsafe { dot_exact_with(ty, w, a, has_avx512()) }
}

/// [`dot_exact`] with the AVX-512 tiles chosen by `avx512` (tests compare both).
///
/// # Safety
/// AVX2, FMA and F16C must be available, and AVX-512F if `avx512`.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_exact_with(ty: GgmlType, w: &[u8], a: &[f32], avx512: bool) -> f32 {
    use super::avx512::Z;
    unsafe {
        match ty {
            GgmlType::Q4_0 if avx512 => dot_exact_k::<Z<Q4_0>>(ty, w, a),
            GgmlType::Q4_1 if avx512 => dot_exact_k::<Z<Q4_1>>(ty, w, a),
            GgmlType::Q8_0 if avx512 => dot_exact_k::<Z<Q8_0>>(ty, w, a),
            GgmlType::Q4_0 => dot_exact_k::<Q4_0>(ty, w, a),
            GgmlType::Q4_1 => dot_exact_k::<Q4_1>(ty, w, a),
            GgmlType::Q8_0 => dot_exact_k::<Q8_0>(ty, w, a),
            GgmlType::F16 => dot_exact_k::<F16>(ty, w, a),
            GgmlType::BF16 => dot_exact_k::<Bf16>(ty, w, a),
            GgmlType::F32 => dot_exact_k::<F32>(ty, w, a),
            _ => super::dot_exact_scalar(ty, w, a),
        }
    }
}

/// `super::matmul_exact` with these kernels (AVX-512 tiles where the CPU has them).
///
/// # Safety
/// AVX2, FMA and F16C must be available.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn matmul_exact(ty: GgmlType, rows: &[u8], acts: &QuantActs, out: &mut [f32]) {
    unsafe { matmul_exact_with(ty, rows, acts, out, has_avx512()) }
}

/// [`matmul_exact`] with the AVX-512 tiles chosen by `avx512` (tests compare both).
///
/// # Safety
/// AVX2, FMA and F16C must be available, and AVX-512F if `avx512`.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn matmul_exact_with(
    ty: GgmlType,
    rows: &[u8],
    acts: &QuantActs,
    out: &mut [f32],
    avx512: bool,
) {
    use super::avx512::Z;
    unsafe {
        match ty {
            GgmlType::Q4_0 if avx512 => matmul_exact_k::<Z<Q4_0>>(ty, rows, acts, out),
            GgmlType::Q4_1 if avx512 => matmul_exact_k::<Z<Q4_1>>(ty, rows, acts, out),
            GgmlType::Q8_0 if avx512 => matmul_exact_k::<Z<Q8_0>>(ty, rows, acts, out),
            GgmlType::Q4_0 => matmul_exact_k::<Q4_0>(ty, rows, acts, out),
            GgmlType::Q4_1 => matmul_exact_k::<Q4_1>(ty, rows, acts, out),
            GgmlType::Q8_0 => matmul_exact_k::<Q8_0>(ty, rows, acts, out),
            GgmlType::F16 => matmul_exact_k::<F16>(ty, rows, acts, out),
            GgmlType::BF16 => matmul_exact_k::<Bf16>(ty, rows, acts, out),
            GgmlType::F32 => matmul_exact_k::<F32>(ty, rows, acts, out),
            _ => super::matmul_scalar(ty, rows, acts, out),
        }
    }
}
