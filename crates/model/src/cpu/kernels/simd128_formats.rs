//! simd128 block decodes of the formats of K-quant files (Q5_0, Q5_1, IQ4_NL, Q2_K..Q6_K,
//! IQ4_XS), for the shared loops of `tile.rs` (its exact loop too: these formats' sub-block
//! scales do not fit `simd128.rs`'s own exact loop of 32-element blocks).
//!
//! As in `avx2_formats.rs`, each format unpacks a group of 32 weights to 32 integer bytes in
//! element order and says its per-16-element integer scales and minimums and its `d`, `dmin`:
//! every value is `(d·sc)·q − dmin·m`. Exact path: bytes widened to f32 and dequantized as
//! `q·(d·sc) + (−dmin·m)` (the product is exact, so the sum's one rounding gives
//! `blocks::dequantize_row`'s bits). q8 path: `i32x4_dot_i16x8` of the widened quants per 16
//! elements times the sub-block scale, in i32; the minimums dotted with Q8_K's 16-element sums.

use core::arch::wasm32::*;
use core::marker::PhantomData;

use tokscope_gguf::GgmlType;
use tokscope_gguf::blocks::{
    self, BlockIq4Nl, BlockIq4Xs, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5_0, BlockQ5_1, BlockQ5K,
    BlockQ6K, BlockQ8_0, BlockQ8_1, BlockQ8K, IQ4_LEVELS,
};

use super::acts::QuantActs;
use super::format::{
    Format, GROUP, Iq4Nl, Iq4Xs, Q2K, Q3K, Q4K, Q5_0, Q5_1, Q5K, Q6K, QuantFormat,
};
use super::simd128::V4;
use super::tile::{self, ExactDecode, ExactSimd, QuantDecode, Tiles};

impl ExactSimd for V4 {
    type Group = [v128; 8];
    #[inline(always)]
    unsafe fn load_group(a: &[f32; GROUP]) -> [v128; 8] {
        // SAFETY: each load reads 4 of the group's 32 f32; v128_load has no alignment requirement.
        core::array::from_fn(|k| unsafe { v128_load(a[4 * k..].as_ptr().cast()) })
    }
    #[inline(always)]
    unsafe fn add(a: v128, b: v128) -> v128 {
        f32x4_add(a, b)
    }
    /// simd128 has no fused multiply-add: two roundings.
    #[inline(always)]
    unsafe fn fmadd(a: v128, b: v128, c: v128) -> v128 {
        f32x4_add(f32x4_mul(a, b), c)
    }
}

/// A format whose values are `(d·sc)·q − dmin·m` with integer quants `q`, and integer scales
/// `sc` and minimums `m` per 16 elements.
pub(super) trait IntGroups: Format {
    /// Whether the quants are signed bytes (else unsigned, below 128).
    const SIGNED: bool;
    /// Whether the values have a minimum.
    const MIN: bool;
    /// `d` and `dmin` (0 without minimums).
    fn d_dmin(w: &Self::W) -> (f32, f32);
    /// `sc` and `m` of each 16 elements (the first `BLOCK / 16` entries).
    fn sub_scales(w: &Self::W) -> ([i16; 16], [i16; 16]);
    /// The 32 quants of group `g` (`< GROUPS`), element order: bytes 0..16 and 16..32.
    fn int_group(w: &Self::W, g: usize) -> [v128; 2];
}

/// `d·sc` and `dmin·m` of each 16 elements of a block, exact.
#[derive(Clone, Copy)]
pub(super) struct Scales16 {
    mul: [f32; 16],
    min: [f32; 16],
}

impl<K: IntGroups> ExactDecode<V4> for K {
    type Scales = Scales16;
    #[inline(always)]
    unsafe fn scales(w: &K::W) -> Scales16 {
        let (d, dmin) = K::d_dmin(w);
        let (sc, m) = K::sub_scales(w);
        let mut s = Scales16 {
            mul: [0.0; 16],
            min: [0.0; 16],
        };
        for k in 0..K::BLOCK / 16 {
            s.mul[k] = d * sc[k] as f32;
            if K::MIN {
                s.min[k] = -(dmin * m[k] as f32);
            }
        }
        s
    }
    #[inline(always)]
    unsafe fn group(w: &K::W, s: Scales16, g: usize) -> [v128; 8] {
        let q = K::int_group(w, g);
        core::array::from_fn(|k| {
            let half = q[k / 4];
            let h16 = match (K::SIGNED, (k / 2) % 2) {
                (true, 0) => i16x8_extend_low_i8x16(half),
                (true, _) => i16x8_extend_high_i8x16(half),
                (false, 0) => u16x8_extend_low_u8x16(half),
                (false, _) => u16x8_extend_high_u8x16(half),
            };
            let i32s = if k % 2 == 0 {
                i32x4_extend_low_i16x8(h16)
            } else {
                i32x4_extend_high_i16x8(h16)
            };
            let sub = 2 * g + k / 4;
            let v = f32x4_mul(f32x4_convert_i32x4(i32s), f32x4_splat(s.mul[sub]));
            if K::MIN {
                f32x4_add(v, f32x4_splat(s.min[sub]))
            } else {
                v
            }
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Unpacking.

fn load16(b: &[u8]) -> v128 {
    assert!(b.len() >= 16);
    // SAFETY: 16 readable bytes (asserted); v128_load has no alignment requirement.
    unsafe { v128_load(b.as_ptr().cast()) }
}

/// 32 bytes.
fn load32(b: &[u8]) -> [v128; 2] {
    [load16(b), load16(&b[16..])]
}

/// 16 bytes of packed nibbles → elements 0..16 (low nibbles) and 16..32 (high nibbles).
fn nibbles(qs: &[u8]) -> [v128; 2] {
    let raw = load16(qs);
    [v128_and(raw, u8x16_splat(0x0f)), u8x16_shr(raw, 4)]
}

/// `(b >> shift) & mask` on every byte.
fn shift_mask(b: [v128; 2], shift: u32, mask: u8) -> [v128; 2] {
    b.map(|v| v128_and(u8x16_shr(v, shift), u8x16_splat(mask)))
}

/// Bytes of `b` with bit `bit` set: 0xff, else 0.
fn has_bit(b: [v128; 2], bit: usize) -> [v128; 2] {
    let m = u8x16_splat(1 << bit);
    b.map(|v| i8x16_eq(v128_and(v, m), m))
}

/// Bit `j` of `x` as byte `j` (0..32): 0xff where set, 0 where clear.
fn bits_to_bytes(x: u32) -> [v128; 2] {
    let v = u32x4_splat(x);
    let bit = u64x2_splat(0x8040_2010_0804_0201);
    let lo = u8x16_swizzle(v, u8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
    let hi = u8x16_swizzle(v, u8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    [lo, hi].map(|s| i8x16_eq(v128_and(s, bit), bit))
}

/// IQ4 levels of nibble bytes.
fn levels(q: [v128; 2]) -> [v128; 2] {
    let table: [u8; 16] = bytemuck::cast(IQ4_LEVELS);
    let t = load16(&table);
    q.map(|v| u8x16_swizzle(t, v))
}

/// Q5_0 and Q5_1's five-bit quants (0..32).
fn q5_quants(qh: [u8; 4], qs: &[u8; 16]) -> [v128; 2] {
    let n = nibbles(qs);
    let h = bits_to_bytes(u32::from_le_bytes(qh));
    core::array::from_fn(|i| v128_or(n[i], v128_and(h[i], u8x16_splat(0x10))))
}

const ONE: [i16; 16] = [1; 16];

impl IntGroups for Q5_0 {
    const SIGNED: bool = true;
    const MIN: bool = false;
    fn d_dmin(w: &BlockQ5_0) -> (f32, f32) {
        (blocks::f16_bits_to_f32(w.d), 0.0)
    }
    fn sub_scales(_: &BlockQ5_0) -> ([i16; 16], [i16; 16]) {
        (ONE, ONE)
    }
    fn int_group(w: &BlockQ5_0, _: usize) -> [v128; 2] {
        q5_quants(w.qh, &w.qs).map(|v| i8x16_sub(v, i8x16_splat(16)))
    }
}

/// `d·q + m` is `(d·1)·q − (−m)·1`.
impl IntGroups for Q5_1 {
    const SIGNED: bool = false;
    const MIN: bool = true;
    fn d_dmin(w: &BlockQ5_1) -> (f32, f32) {
        (blocks::f16_bits_to_f32(w.d), -blocks::f16_bits_to_f32(w.m))
    }
    fn sub_scales(_: &BlockQ5_1) -> ([i16; 16], [i16; 16]) {
        (ONE, ONE)
    }
    fn int_group(w: &BlockQ5_1, _: usize) -> [v128; 2] {
        q5_quants(w.qh, &w.qs)
    }
}

impl IntGroups for Iq4Nl {
    const SIGNED: bool = true;
    const MIN: bool = false;
    fn d_dmin(w: &BlockIq4Nl) -> (f32, f32) {
        (blocks::f16_bits_to_f32(w.d), 0.0)
    }
    fn sub_scales(_: &BlockIq4Nl) -> ([i16; 16], [i16; 16]) {
        (ONE, ONE)
    }
    fn int_group(w: &BlockIq4Nl, _: usize) -> [v128; 2] {
        levels(nibbles(&w.qs))
    }
}

/// Element `32g + l` of Q2_K and Q3_K: bit pair `g % 4` of `qs[32·(g / 4) + l]`.
fn crumbs(qs: &[u8; 64], g: usize) -> [v128; 2] {
    shift_mask(load32(&qs[32 * (g / 4)..]), 2 * (g % 4) as u32, 3)
}

impl IntGroups for Q2K {
    const SIGNED: bool = false;
    const MIN: bool = true;
    fn d_dmin(w: &BlockQ2K) -> (f32, f32) {
        (
            blocks::f16_bits_to_f32(w.d),
            blocks::f16_bits_to_f32(w.dmin),
        )
    }
    fn sub_scales(w: &BlockQ2K) -> ([i16; 16], [i16; 16]) {
        (
            w.scales.map(|s| (s & 0x0f) as i16),
            w.scales.map(|s| (s >> 4) as i16),
        )
    }
    fn int_group(w: &BlockQ2K, g: usize) -> [v128; 2] {
        crumbs(&w.qs, g)
    }
}

impl IntGroups for Q3K {
    const SIGNED: bool = true;
    const MIN: bool = false;
    fn d_dmin(w: &BlockQ3K) -> (f32, f32) {
        (blocks::f16_bits_to_f32(w.d), 0.0)
    }
    fn sub_scales(w: &BlockQ3K) -> ([i16; 16], [i16; 16]) {
        (blocks::q3_k_scales(&w.scales).map(|s| s as i16), [0; 16])
    }
    fn int_group(w: &BlockQ3K, g: usize) -> [v128; 2] {
        let q = crumbs(&w.qs, g);
        let high = has_bit(load32(&w.hmask), g);
        // q − 4 where the high bit is clear.
        core::array::from_fn(|i| {
            let four = v128_andnot(i8x16_splat(4), high[i]);
            i8x16_sub(q[i], four)
        })
    }
}

/// Q4_K and Q5_K's sub-block scales and minimums, each repeated for both 16-element halves.
fn k4_scales(scales: &[u8; 12]) -> ([i16; 16], [i16; 16]) {
    let pairs: [(u8, u8); 8] = core::array::from_fn(|j| blocks::k4_scale_min(scales, j));
    (
        core::array::from_fn(|k| pairs[k / 2].0 as i16),
        core::array::from_fn(|k| pairs[k / 2].1 as i16),
    )
}

/// Sub-block `g` of Q4_K and Q5_K: nibble `g % 2` of `qs[32·(g / 2)..]`.
fn k4_nibbles(qs: &[u8; 128], g: usize) -> [v128; 2] {
    shift_mask(load32(&qs[32 * (g / 2)..]), 4 * (g % 2) as u32, 0x0f)
}

impl IntGroups for Q4K {
    const SIGNED: bool = false;
    const MIN: bool = true;
    fn d_dmin(w: &BlockQ4K) -> (f32, f32) {
        (
            blocks::f16_bits_to_f32(w.d),
            blocks::f16_bits_to_f32(w.dmin),
        )
    }
    fn sub_scales(w: &BlockQ4K) -> ([i16; 16], [i16; 16]) {
        k4_scales(&w.scales)
    }
    fn int_group(w: &BlockQ4K, g: usize) -> [v128; 2] {
        k4_nibbles(&w.qs, g)
    }
}

impl IntGroups for Q5K {
    const SIGNED: bool = false;
    const MIN: bool = true;
    fn d_dmin(w: &BlockQ5K) -> (f32, f32) {
        (
            blocks::f16_bits_to_f32(w.d),
            blocks::f16_bits_to_f32(w.dmin),
        )
    }
    fn sub_scales(w: &BlockQ5K) -> ([i16; 16], [i16; 16]) {
        k4_scales(&w.scales)
    }
    fn int_group(w: &BlockQ5K, g: usize) -> [v128; 2] {
        let n = k4_nibbles(&w.qs, g);
        let h = has_bit(load32(&w.qh), g);
        core::array::from_fn(|i| v128_or(n[i], v128_and(h[i], u8x16_splat(0x10))))
    }
}

impl IntGroups for Q6K {
    const SIGNED: bool = true;
    const MIN: bool = false;
    fn d_dmin(w: &BlockQ6K) -> (f32, f32) {
        (blocks::f16_bits_to_f32(w.d), 0.0)
    }
    fn sub_scales(w: &BlockQ6K) -> ([i16; 16], [i16; 16]) {
        (w.scales.map(|s| s as i16), [0; 16])
    }
    /// Group `g = 4h + k`: nibble `k / 2` of `ql[64h + 32·(k % 2)..]`, bit pair `k` of
    /// `qh[32h..]`, minus 32.
    fn int_group(w: &BlockQ6K, g: usize) -> [v128; 2] {
        let (h, k) = (g / 4, g % 4);
        let low = shift_mask(
            load32(&w.ql[64 * h + 32 * (k % 2)..]),
            4 * (k / 2) as u32,
            0x0f,
        );
        let high = shift_mask(load32(&w.qh[32 * h..]), 2 * k as u32, 3);
        core::array::from_fn(|i| {
            let q = v128_or(low[i], i8x16_shl(high[i], 4));
            i8x16_sub(q, i8x16_splat(32))
        })
    }
}

impl IntGroups for Iq4Xs {
    const SIGNED: bool = true;
    const MIN: bool = false;
    fn d_dmin(w: &BlockIq4Xs) -> (f32, f32) {
        (blocks::f16_bits_to_f32(w.d), 0.0)
    }
    fn sub_scales(w: &BlockIq4Xs) -> ([i16; 16], [i16; 16]) {
        let h = u16::from_le_bytes(w.scales_h);
        let sc: [i16; 8] = core::array::from_fn(|sub| {
            let low = (w.scales_l[sub / 2] >> (4 * (sub % 2))) & 0x0f;
            let high = ((h >> (2 * sub)) & 3) as u8;
            (low | (high << 4)) as i16 - 32
        });
        (core::array::from_fn(|k| sc[k / 2]), [0; 16])
    }
    fn int_group(w: &BlockIq4Xs, g: usize) -> [v128; 2] {
        levels(nibbles(&w.qs[16 * g..]))
    }
}

// ---------------------------------------------------------------------------------------------
// q8 path.

/// Σ x·y of 16 signed bytes each, as four i32 lanes (exact: |x·y| ≤ 2^14).
#[inline(always)]
fn dot_i8x16(x: v128, y: v128) -> v128 {
    let lo = i32x4_dot_i16x8(i16x8_extend_low_i8x16(x), i16x8_extend_low_i8x16(y));
    let hi = i32x4_dot_i16x8(i16x8_extend_high_i8x16(x), i16x8_extend_high_i8x16(y));
    i32x4_add(lo, hi)
}

/// Σ w·a of a 32-element block's quants with 32 activation quants, as f32 lanes.
#[inline(always)]
fn products32(w: [v128; 2], a: &[i8; 32]) -> v128 {
    let a: &[u8; 32] = bytemuck::cast_ref(a);
    let a = load32(a);
    f32x4_convert_i32x4(i32x4_add(dot_i8x16(w[0], a[0]), dot_i8x16(w[1], a[1])))
}

macro_rules! quant32 {
    ($($name:ident: $w:ty, $a:ty, |$wv:ident, $av:ident| $w_sc:expr, $a_sc:expr;)*) => {$(
        impl QuantDecode<V4> for $name {
            type Decoded = [v128; 2];
            #[inline(always)]
            unsafe fn decode(w: &$w) -> [v128; 2] {
                <$name as IntGroups>::int_group(w, 0)
            }
            #[inline(always)]
            unsafe fn products(w: [v128; 2], a: &$a) -> v128 {
                products32(w, &a.qs)
            }
            #[inline(always)]
            unsafe fn w_scales($wv: &$w) -> [f32; 2] {
                $w_sc
            }
            #[inline(always)]
            unsafe fn a_scales($av: &$a) -> [f32; 2] {
                $a_sc
            }
        }
    )*};
}

fn f16(bits: [u8; 2]) -> f32 {
    blocks::f16_bits_to_f32(bits)
}

quant32! {
    Q5_0: BlockQ5_0, BlockQ8_0, |w, a| [f16(w.d), 0.0], [f16(a.d), 0.0];
    Q5_1: BlockQ5_1, BlockQ8_1, |w, a| [f16(w.d), f16(w.m)], [f16(a.d), f16(a.s)];
    Iq4Nl: BlockIq4Nl, BlockQ8_0, |w, a| [f16(w.d), 0.0], [f16(a.d), 0.0];
}

/// A super-block format, dotted with Q8_K.
pub(super) trait SuperGroups: IntGroups {}
impl SuperGroups for Q2K {}
impl SuperGroups for Q3K {}
impl SuperGroups for Q4K {}
impl SuperGroups for Q5K {}
impl SuperGroups for Q6K {}
impl SuperGroups for Iq4Xs {}

/// A super-block unpacked for the q8 dot: its 256 quants as signed bytes (every format's fit),
/// the sub-block scales and the minimums.
#[derive(Clone, Copy)]
pub(super) struct Unpacked {
    q: [v128; 16],
    scales: [i16; 16],
    mins: [i16; 16],
}

impl<K: SuperGroups + QuantFormat<A = BlockQ8K>> QuantDecode<V4> for K {
    type Decoded = Unpacked;
    #[inline(always)]
    unsafe fn decode(w: &K::W) -> Unpacked {
        let (scales, mins) = K::sub_scales(w);
        let mut q = [i8x16_splat(0); 16];
        for g in 0..8 {
            let [a, b] = K::int_group(w, g);
            q[2 * g] = a;
            q[2 * g + 1] = b;
        }
        Unpacked { q, scales, mins }
    }
    #[inline(always)]
    unsafe fn products(w: Unpacked, a: &BlockQ8K) -> v128 {
        let a: &[u8; 256] = bytemuck::cast_ref(&a.qs);
        let mut acc = i32x4_splat(0);
        for k in 0..16 {
            let p = dot_i8x16(w.q[k], load16(&a[16 * k..]));
            acc = i32x4_add(acc, i32x4_mul(p, i32x4_splat(w.scales[k] as i32)));
        }
        f32x4_convert_i32x4(acc)
    }
    #[inline(always)]
    unsafe fn w_scales(w: &K::W) -> [f32; 2] {
        let (d, dmin) = K::d_dmin(w);
        [d, dmin]
    }
    #[inline(always)]
    unsafe fn a_scales(a: &BlockQ8K) -> [f32; 2] {
        let d = f32::from_le_bytes(a.d);
        [d, d]
    }
    /// `−(dmin·d_a)·Σ m·bsum`.
    #[inline(always)]
    unsafe fn offset(sc: [f32; 2], w: Unpacked, a: &BlockQ8K) -> [f32; 2] {
        let summs: i32 = (0..16)
            .map(|k| w.mins[k] as i32 * blocks::q8_k_bsum(a, k) as i32)
            .sum();
        [0.0, -(sc[1] * summs as f32)]
    }
}

// ---------------------------------------------------------------------------------------------
// The shared loops with these decodes.

/// The exact tiles of format `K`.
struct Exact<K>(PhantomData<K>);

impl<K: ExactDecode<V4>> Tiles for Exact<K> {
    type W = K::W;
    type A = [f32; GROUP];
    const PER_BLOCK: usize = K::GROUPS;
    #[inline]
    unsafe fn tile<const R: usize, const T: usize>(
        w: [&[K::W]; R],
        a: [&[[f32; GROUP]]; T],
    ) -> [[f32; T]; R] {
        // SAFETY: simd128 is enabled at compile time.
        unsafe { tile::exact::<V4, K, R, T>(w, a) }
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

/// Calls `$f::<Marker>` for the weight type, or evaluates `$other`.
macro_rules! by_format {
    ($ty:expr, $f:ident, ($($arg:expr),*), $other:expr) => {
        match $ty {
            GgmlType::Q5_0 => $f::<Q5_0>($($arg),*),
            GgmlType::Q5_1 => $f::<Q5_1>($($arg),*),
            GgmlType::IQ4_NL => $f::<Iq4Nl>($($arg),*),
            GgmlType::Q2_K => $f::<Q2K>($($arg),*),
            GgmlType::Q3_K => $f::<Q3K>($($arg),*),
            GgmlType::Q4_K => $f::<Q4K>($($arg),*),
            GgmlType::Q5_K => $f::<Q5K>($($arg),*),
            GgmlType::Q6_K => $f::<Q6K>($($arg),*),
            GgmlType::IQ4_XS => $f::<Iq4Xs>($($arg),*),
            _ => $other,
        }
    };
}

fn dot_of<K: QuantDecode<V4>>(w: &[u8], a: &[u8]) -> f32 {
    // SAFETY: simd128 is enabled at compile time.
    unsafe { tile::dot_quant::<Quant<K>>(w, a) }
}

fn matmul_of<K: QuantDecode<V4>>(rows: &[u8], acts: &QuantActs, out: &mut [f32]) {
    // SAFETY: simd128 is enabled at compile time.
    unsafe { tile::matmul_quant::<Quant<K>>(rows, acts, out) }
}

fn dot_exact_of<K: ExactDecode<V4>>(ty: GgmlType, w: &[u8], a: &[f32]) -> f32 {
    // SAFETY: simd128 is enabled at compile time.
    unsafe { tile::dot_exact::<Exact<K>>(ty, w, a) }
}

fn matmul_exact_of<K: ExactDecode<V4>>(
    ty: GgmlType,
    rows: &[u8],
    acts: &QuantActs,
    out: &mut [f32],
) {
    // SAFETY: simd128 is enabled at compile time.
    unsafe { tile::matmul_exact::<Exact<K>>(ty, rows, acts, out) }
}

/// The q8 dot of a format of K-quant files; None for other types.
pub(super) fn dot(ty: GgmlType, w: &[u8], a: &[u8]) -> Option<f32> {
    by_format!(ty, dot_of, (w, a), return None).into()
}

/// The q8 matmul of a format of K-quant files; false (nothing done) for other types.
pub(super) fn matmul(ty: GgmlType, rows: &[u8], acts: &QuantActs, out: &mut [f32]) -> bool {
    by_format!(ty, matmul_of, (rows, acts, out), return false);
    true
}

/// The exact dot of a format of K-quant files; None for other types.
pub(super) fn dot_exact(ty: GgmlType, w: &[u8], a: &[f32]) -> Option<f32> {
    by_format!(ty, dot_exact_of, (ty, w, a), return None).into()
}

/// The exact matmul of a format of K-quant files; false (nothing done) for other types.
pub(super) fn matmul_exact(ty: GgmlType, rows: &[u8], acts: &QuantActs, out: &mut [f32]) -> bool {
    by_format!(ty, matmul_exact_of, (ty, rows, acts, out), return false);
    true
}
