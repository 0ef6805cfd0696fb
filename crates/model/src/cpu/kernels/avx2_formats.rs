//! AVX2 block decodes of the formats of K-quant files (Q5_0, Q5_1, IQ4_NL, Q2_K..Q6_K, IQ4_XS).
//!
//! Each format unpacks a group of 32 weights to 32 integer bytes in element order
//! ([`IntGroups::int_group`]) and says its per-16-element integer scales and minimums and its
//! float `d`, `dmin`: every value is `(d·sc)·q − dmin·m`. From that one decode:
//!
//! - exact path: the bytes widened to f32 and dequantized with one FMA (`q · (d·sc) − dmin·m`):
//!   `d·sc` and `dmin·m` are exact in f32 (an f16 times a small integer) and so is `q·(d·sc)`, so
//!   the one rounding of the FMA gives `blocks::dequantize_row`'s bits. AVX-512 widens the same
//!   bytes to sixteen lanes (`avx512.rs`).
//! - q8 path, 32-element formats: as Q4_0 and Q4_1 in `avx2.rs` (signed quants by the sign trick,
//!   Q5_1's `m·s` as the offset term).
//! - q8 path, super-blocks against Q8_K: per 32-element chunk `maddubs` (pairs of `|q|·±a` in
//!   i16), then `madd` with the sub-block scales (i16 lanes 0..8: sub-block `2c`, 8..16: `2c + 1`)
//!   into i32, summed over the chunks; the minimums dotted with the activation's 16-element sums
//!   (`bsums`) give the offset term `−dmin·d_a·Σ m·bsum`.
//!
//! Every function here requires AVX2, FMA and F16C; `x86.rs` calls them only after checking.

use std::arch::x86_64::*;

use tokscope_gguf::blocks::{
    self, BlockIq4Nl, BlockIq4Xs, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5_0, BlockQ5_1, BlockQ5K,
    BlockQ6K, BlockQ8_0, BlockQ8_1, BlockQ8K, IQ4_LEVELS,
};

use super::avx2::{Signed, V8, bytes_to_f32, dot_signed, dot_u8_i8, f16_one, load_i8x32};
use super::format::{Format, GROUP, Iq4Nl, Iq4Xs, Q2K, Q3K, Q4K, Q5_0, Q5_1, Q5K, Q6K};
use super::tile::{ExactDecode, QuantDecode, QuantSimd};

/// A format whose values are `(d·sc)·q − dmin·m` with integer quants `q`, and integer scales
/// `sc` and minimums `m` per 16 elements.
pub(super) trait IntGroups: Format {
    /// Whether the quants are signed bytes (else unsigned, below 128).
    const SIGNED: bool;
    /// Whether the values have a minimum (`dmin·m ≠ 0` possible).
    const MIN: bool;
    /// `d` and `dmin` (0 without minimums).
    ///
    /// # Safety
    /// AVX2, FMA and F16C must be available (so for every method here).
    unsafe fn d_dmin(w: &Self::W) -> (f32, f32);
    /// `sc` and `m` of each 16 elements (the first `BLOCK / 16` entries).
    ///
    /// # Safety
    /// As [`IntGroups::d_dmin`].
    unsafe fn sub_scales(w: &Self::W) -> ([i16; 16], [i16; 16]);
    /// The 32 quants of group `g` (`< GROUPS`), element order.
    ///
    /// # Safety
    /// As [`IntGroups::d_dmin`].
    unsafe fn int_group(w: &Self::W, g: usize) -> __m256i;
}

/// The float scale and minimum of each 16 elements of a block: `d·sc` and `dmin·m`, exact.
#[derive(Clone, Copy)]
pub(super) struct Scales16 {
    pub mul: [f32; 16],
    pub min: [f32; 16],
}

/// [`Scales16`] of a block.
///
/// # Safety
/// AVX2, FMA and F16C must be available.
#[inline(always)]
pub(super) unsafe fn scales16<K: IntGroups>(w: &K::W) -> Scales16 {
    unsafe {
        let (d, dmin) = K::d_dmin(w);
        let (sc, m) = K::sub_scales(w);
        let n = K::BLOCK / 16;
        let mut s = Scales16 {
            mul: [0.0; 16],
            min: [0.0; 16],
        };
        for k in 0..n {
            s.mul[k] = d * sc[k] as f32;
            if K::MIN {
                s.min[k] = dmin * m[k] as f32;
            }
        }
        s
    }
}

impl<K: IntGroups> ExactDecode<V8> for K {
    type Scales = Scales16;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scales(w: &K::W) -> Scales16 {
        unsafe { scales16::<K>(w) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn group(w: &K::W, s: Scales16, g: usize) -> [__m256; 4] {
        let q = unsafe { K::int_group(w, g) };
        let lo = _mm256_castsi256_si128(q);
        let hi = _mm256_extracti128_si256(q, 1);
        let halves = [
            lo,
            _mm_unpackhi_epi64(lo, lo),
            hi,
            _mm_unpackhi_epi64(hi, hi),
        ];
        std::array::from_fn(|k| {
            let v = if K::SIGNED {
                bytes_to_f32::<true>(halves[k])
            } else {
                bytes_to_f32::<false>(halves[k])
            };
            let sub = 2 * g + k / 2;
            let mul = _mm256_set1_ps(s.mul[sub]);
            if K::MIN {
                _mm256_fmadd_ps(v, mul, _mm256_set1_ps(-s.min[sub]))
            } else {
                _mm256_mul_ps(v, mul)
            }
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Unpacking.

/// 16 bytes of packed nibbles → 32 bytes: low nibbles (elements 0..16), then high (16..32).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn nibbles(qs: &[u8; 16]) -> __m256i {
    // SAFETY: 16 readable bytes; unaligned load.
    let raw = unsafe { _mm_loadu_si128(qs.as_ptr().cast()) };
    let both = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);
    _mm256_and_si256(both, _mm256_set1_epi8(0x0f))
}

/// 32 bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn load32(b: &[u8]) -> __m256i {
    assert!(b.len() >= 32);
    // SAFETY: 32 readable bytes (asserted); unaligned load.
    unsafe { _mm256_loadu_si256(b.as_ptr().cast()) }
}

/// Bit `j` of `x` as byte `j`: 0xff where set, 0 where clear.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn bits_to_bytes(x: u32) -> __m256i {
    let v = _mm256_set1_epi32(x as i32);
    // Byte j takes byte j / 8 of x (the shuffle works per 128-bit lane; every lane holds x).
    let pick = _mm256_setr_epi8(
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3,
        3, 3,
    );
    let bit = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
    let spread = _mm256_and_si256(_mm256_shuffle_epi8(v, pick), bit);
    _mm256_cmpeq_epi8(spread, bit)
}

/// `(b >> shift) & mask` on every byte (the shift works on 16-bit lanes; the mask drops what
/// crossed over from the neighbour byte).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn shift_mask(b: __m256i, shift: usize, mask: i8) -> __m256i {
    let s = _mm256_srl_epi16(b, _mm_cvtsi32_si128(shift as i32));
    _mm256_and_si256(s, _mm256_set1_epi8(mask))
}

/// Bytes of `b` with bit `bit` set: 0xff, else 0.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn has_bit(b: __m256i, bit: usize) -> __m256i {
    let m = _mm256_set1_epi8((1u8 << bit) as i8);
    _mm256_cmpeq_epi8(_mm256_and_si256(b, m), m)
}

/// IQ4 levels of 32 nibble bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn levels(q: __m256i) -> __m256i {
    let table: [u8; 16] = bytemuck::cast(IQ4_LEVELS);
    // SAFETY: 16 readable bytes.
    let t = unsafe { _mm_loadu_si128(table.as_ptr().cast()) };
    _mm256_shuffle_epi8(_mm256_set_m128i(t, t), q)
}

/// Q5_0 and Q5_1's five-bit quants (0..32).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5_quants(qh: [u8; 4], qs: &[u8; 16]) -> __m256i {
    let high = _mm256_and_si256(
        bits_to_bytes(u32::from_le_bytes(qh)),
        _mm256_set1_epi8(0x10),
    );
    _mm256_or_si256(unsafe { nibbles(qs) }, high)
}

const ONE: [i16; 16] = [1; 16];

impl IntGroups for Q5_0 {
    const SIGNED: bool = true;
    const MIN: bool = false;
    #[inline(always)]
    unsafe fn d_dmin(w: &BlockQ5_0) -> (f32, f32) {
        (blocks::f16_bits_to_f32(w.d), 0.0)
    }
    #[inline(always)]
    unsafe fn sub_scales(_: &BlockQ5_0) -> ([i16; 16], [i16; 16]) {
        (ONE, ONE)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn int_group(w: &BlockQ5_0, _: usize) -> __m256i {
        _mm256_sub_epi8(unsafe { q5_quants(w.qh, &w.qs) }, _mm256_set1_epi8(16))
    }
}

/// `d·q + m` is `(d·1)·q − (−m)·1`.
impl IntGroups for Q5_1 {
    const SIGNED: bool = false;
    const MIN: bool = true;
    #[inline(always)]
    unsafe fn d_dmin(w: &BlockQ5_1) -> (f32, f32) {
        (blocks::f16_bits_to_f32(w.d), -blocks::f16_bits_to_f32(w.m))
    }
    #[inline(always)]
    unsafe fn sub_scales(_: &BlockQ5_1) -> ([i16; 16], [i16; 16]) {
        (ONE, ONE)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn int_group(w: &BlockQ5_1, _: usize) -> __m256i {
        unsafe { q5_quants(w.qh, &w.qs) }
    }
}

impl IntGroups for Iq4Nl {
    const SIGNED: bool = true;
    const MIN: bool = false;
    #[inline(always)]
    unsafe fn d_dmin(w: &BlockIq4Nl) -> (f32, f32) {
        (blocks::f16_bits_to_f32(w.d), 0.0)
    }
    #[inline(always)]
    unsafe fn sub_scales(_: &BlockIq4Nl) -> ([i16; 16], [i16; 16]) {
        (ONE, ONE)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn int_group(w: &BlockIq4Nl, _: usize) -> __m256i {
        levels(unsafe { nibbles(&w.qs) })
    }
}

/// Element `32g + l` of Q2_K and Q3_K: bit pair `g % 4` of `qs[32·(g / 4) + l]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn crumbs(qs: &[u8; 64], g: usize) -> __m256i {
    shift_mask(unsafe { load32(&qs[32 * (g / 4)..]) }, 2 * (g % 4), 3)
}

impl IntGroups for Q2K {
    const SIGNED: bool = false;
    const MIN: bool = true;
    #[inline(always)]
    unsafe fn d_dmin(w: &BlockQ2K) -> (f32, f32) {
        (
            blocks::f16_bits_to_f32(w.d),
            blocks::f16_bits_to_f32(w.dmin),
        )
    }
    #[inline(always)]
    unsafe fn sub_scales(w: &BlockQ2K) -> ([i16; 16], [i16; 16]) {
        (
            w.scales.map(|s| (s & 0x0f) as i16),
            w.scales.map(|s| (s >> 4) as i16),
        )
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn int_group(w: &BlockQ2K, g: usize) -> __m256i {
        unsafe { crumbs(&w.qs, g) }
    }
}

impl IntGroups for Q3K {
    const SIGNED: bool = true;
    const MIN: bool = false;
    #[inline(always)]
    unsafe fn d_dmin(w: &BlockQ3K) -> (f32, f32) {
        (blocks::f16_bits_to_f32(w.d), 0.0)
    }
    #[inline(always)]
    unsafe fn sub_scales(w: &BlockQ3K) -> ([i16; 16], [i16; 16]) {
        (blocks::q3_k_scales(&w.scales).map(|s| s as i16), [0; 16])
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn int_group(w: &BlockQ3K, g: usize) -> __m256i {
        let q = unsafe { crumbs(&w.qs, g) };
        // q − 4 where the high bit is clear: subtract 4 and add it back where set.
        let high = _mm256_and_si256(has_bit(unsafe { load32(&w.hmask) }, g), _mm256_set1_epi8(4));
        _mm256_add_epi8(_mm256_sub_epi8(q, _mm256_set1_epi8(4)), high)
    }
}

/// Q4_K and Q5_K's sub-block scales and minimums, each repeated for both 16-element halves.
#[inline(always)]
fn k4_scales(scales: &[u8; 12]) -> ([i16; 16], [i16; 16]) {
    let pairs: [(u8, u8); 8] = std::array::from_fn(|j| blocks::k4_scale_min(scales, j));
    (
        std::array::from_fn(|k| pairs[k / 2].0 as i16),
        std::array::from_fn(|k| pairs[k / 2].1 as i16),
    )
}

/// Sub-block `g` of Q4_K and Q5_K: nibble `g % 2` of `qs[32·(g / 2)..]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn k4_nibbles(qs: &[u8; 128], g: usize) -> __m256i {
    shift_mask(unsafe { load32(&qs[32 * (g / 2)..]) }, 4 * (g % 2), 0x0f)
}

impl IntGroups for Q4K {
    const SIGNED: bool = false;
    const MIN: bool = true;
    #[inline(always)]
    unsafe fn d_dmin(w: &BlockQ4K) -> (f32, f32) {
        (
            blocks::f16_bits_to_f32(w.d),
            blocks::f16_bits_to_f32(w.dmin),
        )
    }
    #[inline(always)]
    unsafe fn sub_scales(w: &BlockQ4K) -> ([i16; 16], [i16; 16]) {
        k4_scales(&w.scales)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn int_group(w: &BlockQ4K, g: usize) -> __m256i {
        unsafe { k4_nibbles(&w.qs, g) }
    }
}

impl IntGroups for Q5K {
    const SIGNED: bool = false;
    const MIN: bool = true;
    #[inline(always)]
    unsafe fn d_dmin(w: &BlockQ5K) -> (f32, f32) {
        (
            blocks::f16_bits_to_f32(w.d),
            blocks::f16_bits_to_f32(w.dmin),
        )
    }
    #[inline(always)]
    unsafe fn sub_scales(w: &BlockQ5K) -> ([i16; 16], [i16; 16]) {
        k4_scales(&w.scales)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn int_group(w: &BlockQ5K, g: usize) -> __m256i {
        let high = _mm256_and_si256(has_bit(unsafe { load32(&w.qh) }, g), _mm256_set1_epi8(0x10));
        _mm256_or_si256(unsafe { k4_nibbles(&w.qs, g) }, high)
    }
}

impl IntGroups for Q6K {
    const SIGNED: bool = true;
    const MIN: bool = false;
    #[inline(always)]
    unsafe fn d_dmin(w: &BlockQ6K) -> (f32, f32) {
        (blocks::f16_bits_to_f32(w.d), 0.0)
    }
    #[inline(always)]
    unsafe fn sub_scales(w: &BlockQ6K) -> ([i16; 16], [i16; 16]) {
        (w.scales.map(|s| s as i16), [0; 16])
    }
    /// Group `g = 4h + k`: nibble `k / 2` of `ql[64h + 32·(k % 2)..]`, bit pair `k` of
    /// `qh[32h..]`, minus 32.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn int_group(w: &BlockQ6K, g: usize) -> __m256i {
        let (h, k) = (g / 4, g % 4);
        let low = shift_mask(
            unsafe { load32(&w.ql[64 * h + 32 * (k % 2)..]) },
            4 * (k / 2),
            0x0f,
        );
        let high = shift_mask(unsafe { load32(&w.qh[32 * h..]) }, 2 * k, 3);
        let q = _mm256_or_si256(low, _mm256_slli_epi16(high, 4));
        _mm256_sub_epi8(q, _mm256_set1_epi8(32))
    }
}

impl IntGroups for Iq4Xs {
    const SIGNED: bool = true;
    const MIN: bool = false;
    #[inline(always)]
    unsafe fn d_dmin(w: &BlockIq4Xs) -> (f32, f32) {
        (blocks::f16_bits_to_f32(w.d), 0.0)
    }
    #[inline(always)]
    unsafe fn sub_scales(w: &BlockIq4Xs) -> ([i16; 16], [i16; 16]) {
        let h = u16::from_le_bytes(w.scales_h);
        let sc: [i16; 8] = std::array::from_fn(|sub| {
            let low = (w.scales_l[sub / 2] >> (4 * (sub % 2))) & 0x0f;
            let high = ((h >> (2 * sub)) & 3) as u8;
            (low | (high << 4)) as i16 - 32
        });
        (std::array::from_fn(|k| sc[k / 2]), [0; 16])
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn int_group(w: &BlockIq4Xs, g: usize) -> __m256i {
        let qs: &[u8; 16] = w.qs[16 * g..16 * g + 16].try_into().unwrap();
        levels(unsafe { nibbles(qs) })
    }
}

// ---------------------------------------------------------------------------------------------
// q8 path, 32-element formats.

/// Signed quants as [`Signed`] for the sign trick.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn signed(q: __m256i) -> Signed {
    Signed {
        abs: _mm256_sign_epi8(q, q),
        sign: q,
    }
}

impl QuantDecode<V8> for Q5_0 {
    type Decoded = Signed;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn decode(w: &BlockQ5_0) -> Signed {
        signed(unsafe { Q5_0::int_group(w, 0) })
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn products(w: Signed, a: &BlockQ8_0) -> __m256 {
        dot_signed(w, unsafe { load_i8x32(&a.qs) })
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn w_scales(w: &BlockQ5_0) -> __m128 {
        f16_one(w.d)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn a_scales(a: &BlockQ8_0) -> __m128 {
        f16_one(a.d)
    }
}

impl QuantDecode<V8> for Q5_1 {
    type Decoded = __m256i;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn decode(w: &BlockQ5_1) -> __m256i {
        unsafe { Q5_1::int_group(w, 0) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn products(w: __m256i, a: &BlockQ8_1) -> __m256 {
        dot_u8_i8(w, unsafe { load_i8x32(&a.qs) })
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn w_scales(w: &BlockQ5_1) -> __m128 {
        super::avx2::f16_pair([w.d[0], w.d[1], w.m[0], w.m[1]])
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn a_scales(a: &BlockQ8_1) -> __m128 {
        super::avx2::f16_pair([a.d[0], a.d[1], a.s[0], a.s[1]])
    }
}

impl QuantDecode<V8> for Iq4Nl {
    type Decoded = Signed;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn decode(w: &BlockIq4Nl) -> Signed {
        signed(unsafe { Iq4Nl::int_group(w, 0) })
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn products(w: Signed, a: &BlockQ8_0) -> __m256 {
        dot_signed(w, unsafe { load_i8x32(&a.qs) })
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn w_scales(w: &BlockIq4Nl) -> __m128 {
        f16_one(w.d)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn a_scales(a: &BlockQ8_0) -> __m128 {
        f16_one(a.d)
    }
}

// ---------------------------------------------------------------------------------------------
// q8 path, super-blocks against Q8_K.

/// A super-block format, dotted with Q8_K.
pub(super) trait SuperGroups: IntGroups {}

/// A super-block unpacked for the q8 dot: per 32-element chunk the quants (absolute values of
/// signed ones) and their signs, the scales as i16 lanes, and the minimums.
#[derive(Clone, Copy)]
pub(super) struct Unpacked {
    q: [__m256i; 8],
    sign: [__m256i; 8],
    scales: [__m256i; 8],
    mins: __m256i,
}

impl SuperGroups for Q2K {}
impl SuperGroups for Q3K {}
impl SuperGroups for Q4K {}
impl SuperGroups for Q5K {}
impl SuperGroups for Q6K {}
impl SuperGroups for Iq4Xs {}

impl<K: SuperGroups + super::format::QuantFormat<A = BlockQ8K>> QuantDecode<V8> for K {
    type Decoded = Unpacked;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn decode(w: &K::W) -> Unpacked {
        unsafe {
            let (sc, m) = K::sub_scales(w);
            let mut u = Unpacked {
                q: [_mm256_setzero_si256(); 8],
                sign: [_mm256_setzero_si256(); 8],
                scales: [_mm256_setzero_si256(); 8],
                mins: _mm256_loadu_si256(m.as_ptr().cast()),
            };
            for c in 0..8 {
                let q = K::int_group(w, c);
                if K::SIGNED {
                    u.q[c] = _mm256_sign_epi8(q, q);
                    u.sign[c] = q;
                } else {
                    u.q[c] = q;
                }
                u.scales[c] =
                    _mm256_set_m128i(_mm_set1_epi16(sc[2 * c + 1]), _mm_set1_epi16(sc[2 * c]));
            }
            u
        }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn products(w: Unpacked, a: &BlockQ8K) -> __m256 {
        let mut acc = _mm256_setzero_si256();
        for c in 0..8 {
            // SAFETY: 32 of the 256 quant bytes.
            let mut y = unsafe { _mm256_loadu_si256(a.qs[32 * c..].as_ptr().cast()) };
            if K::SIGNED {
                y = _mm256_sign_epi8(y, w.sign[c]);
            }
            // Pairs of adjacent elements: i16 lanes 0..8 are sub-block 2c, 8..16 are 2c + 1.
            let pairs = _mm256_maddubs_epi16(w.q[c], y);
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, w.scales[c]));
        }
        _mm256_cvtepi32_ps(acc)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn w_scales(w: &K::W) -> __m128 {
        let (d, dmin) = unsafe { K::d_dmin(w) };
        _mm_setr_ps(d, dmin, 0.0, 0.0)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn a_scales(a: &BlockQ8K) -> __m128 {
        _mm_set1_ps(f32::from_le_bytes(a.d))
    }
    /// `−(dmin·d_a)·Σ m·bsum`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn offset(sc: __m128, w: Unpacked, a: &BlockQ8K) -> __m128 {
        // SAFETY: the 32 bytes of the sixteen sums.
        let bsums = unsafe { _mm256_loadu_si256(a.bsums.as_ptr().cast()) };
        let p = _mm256_madd_epi16(w.mins, bsums);
        let s = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
        let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
        let summs = _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 1)));
        unsafe { V8::scales_mul(sc, _mm_setr_ps(0.0, -(summs as f32), 0.0, 0.0)) }
    }
}

/// Whether `GROUP` matches the 32-byte groups unpacked here.
const _: () = assert!(GROUP == 32);
