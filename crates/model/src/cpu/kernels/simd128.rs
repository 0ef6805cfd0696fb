//! wasm32 kernels with the simd128 proposal (chosen at compile time with
//! `-C target-feature=+simd128`; every current browser has it).
//!
//! Integer formats (q8 path, the shared loop of `tile.rs`): quants widened i8 → i16 and multiplied
//! pairwise into i32 by `i32x4_dot_i16x8`, the block's i32 sum converted to f32 and scaled by
//! `d_w · d_a` into an f32x4 accumulator. F16 has no vector conversion in simd128 and stays on the
//! scalar path; the quantizers are the scalar ones. The exact path has its own loop (below). The
//! formats of K-quant files are decoded in `simd128_formats.rs`, for the shared loops.

use core::arch::wasm32::*;

use core::marker::PhantomData;

use tokscope_gguf::GgmlType;
use tokscope_gguf::blocks::{self, BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, QK};

use super::acts::QuantActs;
use super::format::{Format, Q4_0, Q4_1, Q8_0};
use super::scalar::{dot_exact_scalar, dot_scalar};
use super::simd128_formats;
use super::tile::{self, QuantDecode, QuantSimd, Simd, Tiles};

/// 16 bytes as a vector.
fn load16(b: &[u8; 16]) -> v128 {
    // SAFETY: 16 readable bytes; v128_load has no alignment requirement.
    unsafe { v128_load(b.as_ptr().cast()) }
}

/// 32 signed bytes as two vectors.
fn load_i8x32(qs: &[i8; 32]) -> [v128; 2] {
    let b: &[u8; 32] = bytemuck::cast_ref(qs);
    [
        load16(b[..16].try_into().unwrap()),
        load16(b[16..].try_into().unwrap()),
    ]
}

/// Σ x·y of 16 signed bytes each, as four i32 lanes (exact: |x·y| ≤ 2^14).
fn dot_i8x16(x: v128, y: v128) -> v128 {
    let lo = i32x4_dot_i16x8(i16x8_extend_low_i8x16(x), i16x8_extend_low_i8x16(y));
    let hi = i32x4_dot_i16x8(i16x8_extend_high_i8x16(x), i16x8_extend_high_i8x16(y));
    i32x4_add(lo, hi)
}

/// 16 bytes of packed nibbles → elements 0..16 (low nibbles) and 16..32 (high nibbles).
fn unpack_nibbles(qs: &[u8; 16]) -> [v128; 2] {
    let raw = load16(qs);
    [v128_and(raw, u8x16_splat(0x0f)), u8x16_shr(raw, 4)]
}

/// Sum of the four lanes.
fn hsum(v: v128) -> f32 {
    f32x4_extract_lane::<0>(v)
        + f32x4_extract_lane::<1>(v)
        + f32x4_extract_lane::<2>(v)
        + f32x4_extract_lane::<3>(v)
}

/// Four f32 lanes: simd128's vectors for the shared q8 loop (scales as two scalars).
pub(super) struct V4;

impl Simd for V4 {
    type F = v128;
    #[inline(always)]
    unsafe fn zero() -> v128 {
        f32x4_splat(0.0)
    }
    #[inline(always)]
    unsafe fn hsum(v: v128) -> f32 {
        hsum(v)
    }
    #[inline(always)]
    unsafe fn prefetch(_: *const u8) {}
}

impl QuantSimd for V4 {
    type Scales = [f32; 2];
    #[inline(always)]
    unsafe fn scales_zero() -> [f32; 2] {
        [0.0; 2]
    }
    #[inline(always)]
    unsafe fn scales_mul(a: [f32; 2], b: [f32; 2]) -> [f32; 2] {
        [a[0] * b[0], a[1] * b[1]]
    }
    #[inline(always)]
    unsafe fn scales_add(a: [f32; 2], b: [f32; 2]) -> [f32; 2] {
        [a[0] + b[0], a[1] + b[1]]
    }
    #[inline(always)]
    unsafe fn offset(s: [f32; 2]) -> f32 {
        s[1]
    }
    #[inline(always)]
    unsafe fn scale_add(acc: v128, s: [f32; 2], p: v128) -> v128 {
        f32x4_add(acc, f32x4_mul(p, f32x4_splat(s[0])))
    }
}

/// Σ x·y of two blocks of 32 signed bytes, as f32 lanes.
#[inline(always)]
fn block_products(x: [v128; 2], y: &[i8; 32]) -> v128 {
    let a = load_i8x32(y);
    f32x4_convert_i32x4(i32x4_add(dot_i8x16(x[0], a[0]), dot_i8x16(x[1], a[1])))
}

/// f16 bits as lane 0, and lane 1.
#[inline(always)]
fn scale_pair(d: [u8; 2], m: Option<[u8; 2]>) -> [f32; 2] {
    [
        blocks::f16_bits_to_f32(d),
        m.map_or(0.0, blocks::f16_bits_to_f32),
    ]
}

impl QuantDecode<V4> for Q4_0 {
    type Decoded = [v128; 2];
    #[inline(always)]
    unsafe fn decode(w: &BlockQ4_0) -> [v128; 2] {
        unpack_nibbles(&w.qs).map(|v| i8x16_sub(v, i8x16_splat(8)))
    }
    #[inline(always)]
    unsafe fn products(w: [v128; 2], a: &BlockQ8_0) -> v128 {
        block_products(w, &a.qs)
    }
    #[inline(always)]
    unsafe fn w_scales(w: &BlockQ4_0) -> [f32; 2] {
        scale_pair(w.d, None)
    }
    #[inline(always)]
    unsafe fn a_scales(a: &BlockQ8_0) -> [f32; 2] {
        scale_pair(a.d, None)
    }
}

impl QuantDecode<V4> for Q4_1 {
    type Decoded = [v128; 2];
    /// Nibbles are 0..=15, so the signed widening reads them correctly.
    #[inline(always)]
    unsafe fn decode(w: &BlockQ4_1) -> [v128; 2] {
        unpack_nibbles(&w.qs)
    }
    #[inline(always)]
    unsafe fn products(w: [v128; 2], a: &BlockQ8_1) -> v128 {
        block_products(w, &a.qs)
    }
    #[inline(always)]
    unsafe fn w_scales(w: &BlockQ4_1) -> [f32; 2] {
        scale_pair(w.d, Some(w.m))
    }
    #[inline(always)]
    unsafe fn a_scales(a: &BlockQ8_1) -> [f32; 2] {
        scale_pair(a.d, Some(a.s))
    }
}

impl QuantDecode<V4> for Q8_0 {
    type Decoded = [v128; 2];
    #[inline(always)]
    unsafe fn decode(w: &BlockQ8_0) -> [v128; 2] {
        load_i8x32(&w.qs)
    }
    #[inline(always)]
    unsafe fn products(w: [v128; 2], a: &BlockQ8_0) -> v128 {
        block_products(w, &a.qs)
    }
    #[inline(always)]
    unsafe fn w_scales(w: &BlockQ8_0) -> [f32; 2] {
        scale_pair(w.d, None)
    }
    #[inline(always)]
    unsafe fn a_scales(a: &BlockQ8_0) -> [f32; 2] {
        scale_pair(a.d, None)
    }
}

/// The q8 tiles of format `K`.
struct Quant<K>(PhantomData<K>);

impl<K: QuantDecode<V4>> Tiles for Quant<K> {
    type W = K::W;
    type A = K::A;
    const PER_BLOCK: usize = 1;
    #[inline]
    unsafe fn tile<const R: usize, const T: usize>(
        w: [&[K::W]; R],
        a: [&[K::A]; T],
    ) -> [[f32; T]; R] {
        // SAFETY: simd128 is enabled at compile time.
        unsafe { tile::quant::<V4, K, R, T>(w, a) }
    }
}

/// Dot of two float rows, eight elements (`elem` bytes each) at a time: `load8` widens them to
/// two f32x4, `scalar` converts one element of the tail.
fn dot_float(
    w: &[u8],
    a: &[u8],
    elem: usize,
    load8: impl Fn(&[u8]) -> [v128; 2],
    scalar: impl Fn(&[u8]) -> f32,
) -> f32 {
    let mut acc = [f32x4_splat(0.0); 2];
    let mut wc = w.chunks_exact(8 * elem);
    let mut ac = a.chunks_exact(8 * elem);
    for (w, a) in (&mut wc).zip(&mut ac) {
        let (x, y) = (load8(w), load8(a));
        acc[0] = f32x4_add(acc[0], f32x4_mul(x[0], y[0]));
        acc[1] = f32x4_add(acc[1], f32x4_mul(x[1], y[1]));
    }
    let tail: f32 = wc
        .remainder()
        .chunks_exact(elem)
        .zip(ac.remainder().chunks_exact(elem))
        .map(|(w, a)| scalar(w) * scalar(a))
        .sum();
    hsum(f32x4_add(acc[0], acc[1])) + tail
}

/// 32 bytes of f32 → two vectors.
fn load8_f32(b: &[u8]) -> [v128; 2] {
    [
        load16(b[..16].try_into().unwrap()),
        load16(b[16..32].try_into().unwrap()),
    ]
}

/// 16 bytes of bf16 → two f32 vectors (bf16 is the top half of an f32).
fn load8_bf16(b: &[u8]) -> [v128; 2] {
    let v = load16(b[..16].try_into().unwrap());
    [
        i32x4_shl(u32x4_extend_low_u16x8(v), 16),
        i32x4_shl(u32x4_extend_high_u16x8(v), 16),
    ]
}

/// One weight row of type `ty` dotted with one activation row of its dot format.
pub fn dot(ty: GgmlType, w: &[u8], a: &[u8]) -> f32 {
    match ty {
        // SAFETY (all three): simd128 is enabled at compile time.
        GgmlType::Q4_0 => unsafe { tile::dot_quant::<Quant<Q4_0>>(w, a) },
        GgmlType::Q4_1 => unsafe { tile::dot_quant::<Quant<Q4_1>>(w, a) },
        GgmlType::Q8_0 => unsafe { tile::dot_quant::<Quant<Q8_0>>(w, a) },
        GgmlType::F32 => dot_float(w, a, 4, load8_f32, |b| {
            f32::from_le_bytes([b[0], b[1], b[2], b[3]])
        }),
        GgmlType::BF16 => dot_float(w, a, 2, load8_bf16, |b| {
            blocks::bf16_bits_to_f32([b[0], b[1]])
        }),
        _ => simd128_formats::dot(ty, w, a).unwrap_or_else(|| dot_scalar(ty, w, a)),
    }
}

/// `super::matmul` with these kernels: tiles for the block formats, one dot per (row, token)
/// for the others.
pub fn matmul(ty: GgmlType, rows: &[u8], acts: &QuantActs, out: &mut [f32]) {
    // SAFETY (all three): simd128 is enabled at compile time.
    match ty {
        GgmlType::Q4_0 => unsafe { tile::matmul_quant::<Quant<Q4_0>>(rows, acts, out) },
        GgmlType::Q4_1 => unsafe { tile::matmul_quant::<Quant<Q4_1>>(rows, acts, out) },
        GgmlType::Q8_0 => unsafe { tile::matmul_quant::<Quant<Q8_0>>(rows, acts, out) },
        _ if simd128_formats::matmul(ty, rows, acts, out) => {}
        _ => tile::matmul_rows(rows, acts, out, |w, t| dot(ty, w, acts.row(t))),
    }
}

// ---------------------------------------------------------------------------------------------
// Exact path: f32 activations. Block formats (`w = d·q`, `d·(q − 8)` or `d·q + m`) are summed as
// `Σ_blocks d·(Σ q·a) + m·(Σ a)`: the integer quants converted to f32 (exact) are multiplied with
// the activations, and the block's scale applied once to that sum; `Σ a` per block is computed
// once per activation row and shared by every weight row. Same terms as the reference, grouped
// differently (the kernel tests bound the rounding). Up to four weight rows at a time share the
// activation loads and the f16 → f32 conversion of their scales. Float formats (F32, BF16) are
// widened exactly and multiplied element by element; F16 weights stay on the scalar path.

/// f16 bits in the low half of each u32 lane as f32, exactly (subnormals, ±inf and NaN included):
/// the f16 exponent and mantissa shifted into f32 position, then rescaled by 2^112.
#[inline(always)]
fn f16x4_to_f32(h: v128) -> v128 {
    let mag = v128_and(h, u32x4_splat(0x7fff));
    let sign = i32x4_shl(v128_and(h, u32x4_splat(0x8000)), 16);
    let shifted = i32x4_shl(mag, 13);
    // 2^112 = 2^(127 − 15): moves the f16 exponent bias to f32's; exact for normals and subnormals.
    let finite = f32x4_mul(shifted, f32x4_splat(f32::from_bits(0x7780_0000)));
    let special = v128_or(shifted, u32x4_splat(0x7f80_0000));
    let is_special = i32x4_ge(mag, u32x4_splat(0x7c00));
    v128_or(v128_bitselect(special, finite, is_special), sign)
}

/// A block format whose weights are `d·q`, or `d·q + m`, with small integers `q`.
///
/// The quants are unpacked in the order cheapest for simd128, without byte shuffles: lane `i` of
/// the 32-bit lanes of 16 packed bytes holds bytes `4i..4i + 4`, so shifting and masking every
/// lane gives vector `k` = byte `k` of each lane (elements `k, 4 + k, 8 + k, 12 + k`). The
/// activations are permuted once per row to match ([`permute_block`]).
trait IntBlock: Format {
    /// Whether the block carries the offset `m`.
    const HAS_MIN: bool;
    /// The 32 integer quants as eight f32x4 (exact integers), in [`permute_block`]'s order.
    fn quants(w: &Self::W) -> [v128; 8];
    /// The f16 bits of `d` (low half) and `m` (high half; 0 without an offset).
    fn scale_bits(w: &Self::W) -> u32;
}

/// 16 bytes of packed nibbles (element `j` in the low nibble of byte `j`, element `16 + j` in its
/// high nibble), unpacked in [`permute_block`]'s order as i32 lanes.
#[inline(always)]
fn nibble_lanes(qs: &[u8; 16]) -> [v128; 8] {
    let raw = load16(qs);
    let m = u32x4_splat(0xf);
    [
        v128_and(raw, m),
        v128_and(u32x4_shr(raw, 8), m),
        v128_and(u32x4_shr(raw, 16), m),
        v128_and(u32x4_shr(raw, 24), m),
        v128_and(u32x4_shr(raw, 4), m),
        v128_and(u32x4_shr(raw, 12), m),
        v128_and(u32x4_shr(raw, 20), m),
        u32x4_shr(raw, 28),
    ]
}

/// 16 signed bytes as four i32 vectors, vector `k` holding byte `k` of each 32-bit lane.
#[inline(always)]
fn i8_lanes(raw: v128) -> [v128; 4] {
    [
        i32x4_shr(i32x4_shl(raw, 24), 24),
        i32x4_shr(i32x4_shl(raw, 16), 24),
        i32x4_shr(i32x4_shl(raw, 8), 24),
        i32x4_shr(raw, 24),
    ]
}

#[inline(always)]
fn scale_bits(d: [u8; 2], m: [u8; 2]) -> u32 {
    u32::from_le_bytes([d[0], d[1], m[0], m[1]])
}

impl IntBlock for Q4_0 {
    const HAS_MIN: bool = false;
    #[inline(always)]
    fn quants(w: &Self::W) -> [v128; 8] {
        nibble_lanes(&w.qs).map(|q| f32x4_convert_i32x4(i32x4_sub(q, i32x4_splat(8))))
    }
    #[inline(always)]
    fn scale_bits(w: &Self::W) -> u32 {
        scale_bits(w.d, [0, 0])
    }
}

impl IntBlock for Q4_1 {
    const HAS_MIN: bool = true;
    #[inline(always)]
    fn quants(w: &Self::W) -> [v128; 8] {
        nibble_lanes(&w.qs).map(|q| f32x4_convert_i32x4(q))
    }
    #[inline(always)]
    fn scale_bits(w: &Self::W) -> u32 {
        scale_bits(w.d, w.m)
    }
}

impl IntBlock for Q8_0 {
    const HAS_MIN: bool = false;
    #[inline(always)]
    fn quants(w: &Self::W) -> [v128; 8] {
        let [lo, hi] = load_i8x32(&w.qs);
        let (lo, hi) = (i8_lanes(lo), i8_lanes(hi));
        [lo[0], lo[1], lo[2], lo[3], hi[0], hi[1], hi[2], hi[3]].map(|q| f32x4_convert_i32x4(q))
    }
    #[inline(always)]
    fn scale_bits(w: &Self::W) -> u32 {
        scale_bits(w.d, [0, 0])
    }
}

/// A block of 32 activations in the order of [`IntBlock::quants`]: vector `k < 4` holds elements
/// `k, 4 + k, 8 + k, 12 + k`, vector `4 + k` the same sixteen further on (a 4 × 4 transpose of
/// each half).
fn permute_block(a: &[f32; QK]) -> [v128; 8] {
    core::array::from_fn(|j| {
        let base = if j < 4 { 0 } else { 16 };
        let k = j % 4;
        f32x4(
            a[base + k],
            a[base + 4 + k],
            a[base + 8 + k],
            a[base + 12 + k],
        )
    })
}

/// One activation row prepared for the block kernels: its blocks permuted ([`permute_block`])
/// and, per block, the four lane sums of its 32 values (what a Q4_1 block's `m` multiplies).
struct PreparedRow {
    blocks: Vec<[v128; 8]>,
    sums: Vec<v128>,
}

impl PreparedRow {
    fn new(a: &[[f32; QK]]) -> Self {
        let blocks: Vec<[v128; 8]> = a.iter().map(permute_block).collect();
        let sums = blocks
            .iter()
            .map(|v| {
                let s01 = f32x4_add(f32x4_add(v[0], v[1]), f32x4_add(v[2], v[3]));
                let s23 = f32x4_add(f32x4_add(v[4], v[5]), f32x4_add(v[6], v[7]));
                f32x4_add(s01, s23)
            })
            .collect();
        PreparedRow { blocks, sums }
    }
}

/// Σ q·a of one block in four lanes (two independent chains).
#[inline(always)]
fn block_dot(q: [v128; 8], a: &[v128; 8]) -> v128 {
    let mut s0 = f32x4_mul(q[0], a[0]);
    let mut s1 = f32x4_mul(q[1], a[1]);
    for k in (2..8).step_by(2) {
        s0 = f32x4_add(s0, f32x4_mul(q[k], a[k]));
        s1 = f32x4_add(s1, f32x4_mul(q[k + 1], a[k + 1]));
    }
    f32x4_add(s0, s1)
}

/// The scales of block `b` of up to four rows, f16 → f32 together: lanes (d0, m0, d1, m1) and
/// (d2, m2, d3, m3).
#[inline(always)]
fn tile_scales<K: IntBlock, const R: usize>(rows: &[&[K::W]; R], b: usize) -> [v128; 2] {
    let bits: [u32; 4] =
        core::array::from_fn(|r| if r < R { K::scale_bits(&rows[r][b]) } else { 0 });
    let v = u32x4(bits[0], bits[1], bits[2], bits[3]);
    let lo = f16x4_to_f32(u32x4_extend_low_u16x8(v));
    let hi = if R > 2 {
        f16x4_to_f32(u32x4_extend_high_u16x8(v))
    } else {
        lo
    };
    [lo, hi]
}

/// Row `r`'s `(d, m)` from [`tile_scales`], each splatted to four lanes.
#[inline(always)]
fn row_scales(s: &[v128; 2], r: usize) -> (v128, v128) {
    let v = s[r / 2];
    if r.is_multiple_of(2) {
        (
            i32x4_shuffle::<0, 0, 0, 0>(v, v),
            i32x4_shuffle::<1, 1, 1, 1>(v, v),
        )
    } else {
        (
            i32x4_shuffle::<2, 2, 2, 2>(v, v),
            i32x4_shuffle::<3, 3, 3, 3>(v, v),
        )
    }
}

/// The exact dots of `R` (1 to 4) weight rows of blocks with one prepared activation row.
fn tile_exact<K: IntBlock, const R: usize>(rows: [&[K::W]; R], a: &PreparedRow) -> [f32; R] {
    const { assert!(R >= 1 && R <= 4 && K::GROUPS == 1) };
    let nb = a.blocks.len();
    for row in rows {
        assert_eq!(row.len(), nb, "rows of different lengths");
    }
    assert_eq!(a.sums.len(), nb);
    let mut acc = [f32x4_splat(0.0); R];
    for (b, (av, sum)) in a.blocks.iter().zip(&a.sums).enumerate() {
        let scales = tile_scales::<K, R>(&rows, b);
        for r in 0..R {
            let (d, m) = row_scales(&scales, r);
            let s = block_dot(K::quants(&rows[r][b]), av);
            acc[r] = f32x4_add(acc[r], f32x4_mul(d, s));
            if K::HAS_MIN {
                acc[r] = f32x4_add(acc[r], f32x4_mul(m, *sum));
            }
        }
    }
    acc.map(hsum)
}

/// One row of blocks dotted exactly with one f32 row; a row that is not whole blocks by the
/// scalar code.
fn dot_exact_quant<K: IntBlock>(ty: GgmlType, w: &[u8], a: &[f32]) -> f32 {
    if !a.len().is_multiple_of(K::BLOCK) {
        return dot_exact_scalar(ty, w, a);
    }
    let w: &[K::W] = bytemuck::cast_slice(w);
    let [s] = tile_exact::<K, 1>([w], &PreparedRow::new(a.as_chunks::<QK>().0));
    s
}

/// Weight rows per tile of [`matmul_exact_quant`].
const TILE: usize = 4;

/// `super::matmul_exact` for a block format: [`TILE`] weight rows at a time, each tile dotted
/// with every activation row while its weights are in cache. Every output is computed exactly as
/// [`dot_exact_quant`] computes it (rows do not interact).
fn matmul_exact_quant<K: IntBlock>(ty: GgmlType, rows: &[u8], acts: &QuantActs, out: &mut [f32]) {
    if !acts.cols.is_multiple_of(K::BLOCK) {
        return tile::matmul_rows(rows, acts, out, |w, t| {
            dot_exact_scalar(ty, w, acts.row_f32(t))
        });
    }
    let n = acts.n;
    let n_rows = out.len() / n;
    let w: &[K::W] = bytemuck::cast_slice(rows);
    let nb = w.len() / n_rows;
    let a: Vec<PreparedRow> = (0..n)
        .map(|t| PreparedRow::new(acts.row_f32(t).as_chunks::<QK>().0))
        .collect();
    let row = |r: usize| &w[r * nb..(r + 1) * nb];
    let mut r = 0;
    while r + TILE <= n_rows {
        for (t, a) in a.iter().enumerate() {
            let s = tile_exact::<K, TILE>(core::array::from_fn(|k| row(r + k)), a);
            for (k, s) in s.into_iter().enumerate() {
                out[(r + k) * n + t] = s;
            }
        }
        r += TILE;
    }
    for r in r..n_rows {
        for (t, a) in a.iter().enumerate() {
            let [s] = tile_exact::<K, 1>([row(r)], a);
            out[r * n + t] = s;
        }
    }
}

/// A block of 32 activations as eight f32x4, in element order.
fn load_block(a: &[f32; QK]) -> [v128; 8] {
    let b: &[u8; 4 * QK] = bytemuck::cast_ref(a);
    let (chunks, _) = b.as_chunks::<16>();
    core::array::from_fn(|k| load16(&chunks[k]))
}

/// Σ w·a of 32 float weights and 32 activations into four accumulators.
fn fma_block(acc: &mut [v128; 4], w: [v128; 8], a: &[f32; QK]) {
    for (k, (w, a)) in w.into_iter().zip(load_block(a)).enumerate() {
        acc[k % 4] = f32x4_add(acc[k % 4], f32x4_mul(w, a));
    }
}

/// 32 float weights of `elem` bytes each (`load8` widens eight of them) as eight f32x4.
fn dequant_float(w: &[u8], elem: usize, load8: impl Fn(&[u8]) -> [v128; 2]) -> [v128; 8] {
    let mut out = [f32x4_splat(0.0); 8];
    for (k, c) in w.chunks_exact(8 * elem).enumerate() {
        let [x, y] = load8(c);
        out[2 * k] = x;
        out[2 * k + 1] = y;
    }
    out
}

/// A float row's whole groups of 32 by SIMD, the rest by the scalar code.
fn dot_exact_float(
    ty: GgmlType,
    w: &[u8],
    a: &[f32],
    elem: usize,
    load8: impl Fn(&[u8]) -> [v128; 2] + Copy,
) -> f32 {
    let (ab, a_tail) = a.as_chunks::<QK>();
    let (w_whole, w_tail) = w.split_at(ab.len() * QK * elem);
    let group = QK * elem;
    let mut acc = [f32x4_splat(0.0); 4];
    for (b, a) in ab.iter().enumerate() {
        let w = dequant_float(&w_whole[b * group..(b + 1) * group], elem, load8);
        fma_block(&mut acc, w, a);
    }
    let s = hsum(f32x4_add(
        f32x4_add(acc[0], acc[1]),
        f32x4_add(acc[2], acc[3]),
    ));
    if a_tail.is_empty() {
        s
    } else {
        s + dot_exact_scalar(ty, w_tail, a_tail)
    }
}

/// One weight row of type `ty` dotted exactly with one f32 activation row.
pub fn dot_exact(ty: GgmlType, w: &[u8], a: &[f32]) -> f32 {
    match ty {
        GgmlType::Q4_0 => dot_exact_quant::<Q4_0>(ty, w, a),
        GgmlType::Q4_1 => dot_exact_quant::<Q4_1>(ty, w, a),
        GgmlType::Q8_0 => dot_exact_quant::<Q8_0>(ty, w, a),
        GgmlType::F32 => dot_exact_float(ty, w, a, 4, load8_f32),
        GgmlType::BF16 => dot_exact_float(ty, w, a, 2, load8_bf16),
        _ => simd128_formats::dot_exact(ty, w, a).unwrap_or_else(|| dot_exact_scalar(ty, w, a)),
    }
}

/// `super::matmul_exact` with these kernels: block formats by row tiles, the rest one dot per
/// (row, token).
pub fn matmul_exact(ty: GgmlType, rows: &[u8], acts: &QuantActs, out: &mut [f32]) {
    match ty {
        GgmlType::Q4_0 => matmul_exact_quant::<Q4_0>(ty, rows, acts, out),
        GgmlType::Q4_1 => matmul_exact_quant::<Q4_1>(ty, rows, acts, out),
        GgmlType::Q8_0 => matmul_exact_quant::<Q8_0>(ty, rows, acts, out),
        _ if simd128_formats::matmul_exact(ty, rows, acts, out) => {}
        _ => tile::matmul_rows(rows, acts, out, |w, t| dot_exact(ty, w, acts.row_f32(t))),
    }
}
