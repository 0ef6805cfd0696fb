//! wasm32 kernels with the simd128 proposal (chosen at compile time with
//! `-C target-feature=+simd128`; every current browser has it).
//!
//! Integer formats: quants widened i8 → i16 and multiplied pairwise into i32 by
//! `i32x4_dot_i16x8`, the block's i32 sum converted to f32 and scaled by `d_w · d_a` into an f32x4
//! accumulator. F16 has no vector conversion in simd128 and stays on the scalar path; the
//! quantizers are the scalar ones.

use core::arch::wasm32::*;

use tokscope_gguf::GgmlType;
use tokscope_gguf::blocks::{self, BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, QK};

use super::QuantActs;

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

/// Accumulates `scale · Σ(lanes of the i32 block sum)` in four f32 lanes.
fn accumulate(acc: v128, sumi: v128, scale: f32) -> v128 {
    f32x4_add(
        acc,
        f32x4_mul(f32x4_convert_i32x4(sumi), f32x4_splat(scale)),
    )
}

fn dot_q4_0_q8_0(x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
    assert_eq!(x.len(), y.len(), "rows of different lengths");
    let mut acc = f32x4_splat(0.0);
    for (x, y) in x.iter().zip(y) {
        let q = unpack_nibbles(&x.qs).map(|v| i8x16_sub(v, i8x16_splat(8)));
        let a = load_i8x32(&y.qs);
        let sumi = i32x4_add(dot_i8x16(q[0], a[0]), dot_i8x16(q[1], a[1]));
        let d = blocks::f16_bits_to_f32(x.d) * blocks::f16_bits_to_f32(y.d);
        acc = accumulate(acc, sumi, d);
    }
    hsum(acc)
}

fn dot_q4_1_q8_1(x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
    assert_eq!(x.len(), y.len(), "rows of different lengths");
    let mut acc = f32x4_splat(0.0);
    let mut offset = 0.0f32;
    for (x, y) in x.iter().zip(y) {
        // Nibbles are 0..=15, so the signed widening reads them correctly.
        let q = unpack_nibbles(&x.qs);
        let a = load_i8x32(&y.qs);
        let sumi = i32x4_add(dot_i8x16(q[0], a[0]), dot_i8x16(q[1], a[1]));
        let d = blocks::f16_bits_to_f32(x.d) * blocks::f16_bits_to_f32(y.d);
        acc = accumulate(acc, sumi, d);
        offset += blocks::f16_bits_to_f32(x.m) * blocks::f16_bits_to_f32(y.s);
    }
    hsum(acc) + offset
}

fn dot_q8_0_q8_0(x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
    assert_eq!(x.len(), y.len(), "rows of different lengths");
    let mut acc = f32x4_splat(0.0);
    for (x, y) in x.iter().zip(y) {
        let (w, a) = (load_i8x32(&x.qs), load_i8x32(&y.qs));
        let sumi = i32x4_add(dot_i8x16(w[0], a[0]), dot_i8x16(w[1], a[1]));
        let d = blocks::f16_bits_to_f32(x.d) * blocks::f16_bits_to_f32(y.d);
        acc = accumulate(acc, sumi, d);
    }
    hsum(acc)
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
        GgmlType::Q4_0 => dot_q4_0_q8_0(bytemuck::cast_slice(w), bytemuck::cast_slice(a)),
        GgmlType::Q4_1 => dot_q4_1_q8_1(bytemuck::cast_slice(w), bytemuck::cast_slice(a)),
        GgmlType::Q8_0 => dot_q8_0_q8_0(bytemuck::cast_slice(w), bytemuck::cast_slice(a)),
        GgmlType::F32 => dot_float(w, a, 4, load8_f32, |b| {
            f32::from_le_bytes([b[0], b[1], b[2], b[3]])
        }),
        GgmlType::BF16 => dot_float(w, a, 2, load8_bf16, |b| {
            blocks::bf16_bits_to_f32([b[0], b[1]])
        }),
        _ => super::dot_scalar(ty, w, a),
    }
}

/// `super::matmul` with these kernels, one dot per (row, token).
pub fn matmul(ty: GgmlType, rows: &[u8], acts: &QuantActs, out: &mut [f32]) {
    let n = acts.n;
    let row_bytes = rows.len() / (out.len() / n);
    for (w, out_r) in rows.chunks_exact(row_bytes).zip(out.chunks_exact_mut(n)) {
        for (t, o) in out_r.iter_mut().enumerate() {
            *o = dot(ty, w, acts.row(t));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Exact path: f32 activations, each weight block dequantized into eight f32x4 with the reference's
// arithmetic (`(q − 8)·d`, `q·d`, `q·d + m` as separate multiply and add: bit-equal weights), then
// multiplied and added in four f32x4 accumulators. F16 weights stay on the scalar path.

/// Eight i8 lanes of `v` (low half if `!HIGH`) widened to two i32x4 and converted to f32.
fn i8x8_to_f32<const HIGH: bool>(v: v128) -> [v128; 2] {
    let h = if HIGH {
        i16x8_extend_high_i8x16(v)
    } else {
        i16x8_extend_low_i8x16(v)
    };
    [
        f32x4_convert_i32x4(i32x4_extend_low_i16x8(h)),
        f32x4_convert_i32x4(i32x4_extend_high_i16x8(h)),
    ]
}

/// 32 quant bytes (two vectors of 16, element order; nibbles are 0..=15, also correct as i8) as
/// eight f32x4.
fn quants_to_f32(q: [v128; 2]) -> [v128; 8] {
    let [a, b] = i8x8_to_f32::<false>(q[0]);
    let [c, d] = i8x8_to_f32::<true>(q[0]);
    let [e, f] = i8x8_to_f32::<false>(q[1]);
    let [g, h] = i8x8_to_f32::<true>(q[1]);
    [a, b, c, d, e, f, g, h]
}

/// Σ w·a of 32 dequantized weights and 32 activations into four accumulators.
fn fma_block(acc: &mut [v128; 4], w: [v128; 8], a: &[f32; QK]) {
    for (k, w) in w.into_iter().enumerate() {
        let a = load16(bytemuck::cast_ref(
            <&[f32; 4]>::try_from(&a[4 * k..4 * k + 4]).unwrap(),
        ));
        acc[k % 4] = f32x4_add(acc[k % 4], f32x4_mul(w, a));
    }
}

/// The exact dot of `a.len()` whole blocks: `dequant(b)` gives block `b`'s 32 weights.
fn dot_exact_blocks(a: &[[f32; QK]], dequant: impl Fn(usize) -> [v128; 8]) -> f32 {
    let mut acc = [f32x4_splat(0.0); 4];
    for (b, a) in a.iter().enumerate() {
        fma_block(&mut acc, dequant(b), a);
    }
    hsum(f32x4_add(
        f32x4_add(acc[0], acc[1]),
        f32x4_add(acc[2], acc[3]),
    ))
}

/// [`dot_exact_blocks`] over a row of quant blocks.
fn dot_exact_quant<W: bytemuck::Pod>(
    w: &[u8],
    a: &[[f32; QK]],
    dequant: fn(&W) -> [v128; 8],
) -> f32 {
    let w: &[W] = bytemuck::cast_slice(w);
    assert_eq!(w.len(), a.len(), "rows of different lengths");
    dot_exact_blocks(a, |b| dequant(&w[b]))
}

fn dequant_q4_0(w: &BlockQ4_0) -> [v128; 8] {
    let d = f32x4_splat(blocks::f16_bits_to_f32(w.d));
    let q = unpack_nibbles(&w.qs).map(|v| i8x16_sub(v, i8x16_splat(8)));
    quants_to_f32(q).map(|q| f32x4_mul(q, d))
}

fn dequant_q4_1(w: &BlockQ4_1) -> [v128; 8] {
    let d = f32x4_splat(blocks::f16_bits_to_f32(w.d));
    let m = f32x4_splat(blocks::f16_bits_to_f32(w.m));
    quants_to_f32(unpack_nibbles(&w.qs)).map(|q| f32x4_add(f32x4_mul(q, d), m))
}

fn dequant_q8_0(w: &BlockQ8_0) -> [v128; 8] {
    let d = f32x4_splat(blocks::f16_bits_to_f32(w.d));
    quants_to_f32(load_i8x32(&w.qs)).map(|q| f32x4_mul(q, d))
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
    let s = dot_exact_blocks(ab, |b| {
        dequant_float(&w_whole[b * group..(b + 1) * group], elem, load8)
    });
    if a_tail.is_empty() {
        s
    } else {
        s + super::dot_exact_scalar(ty, w_tail, a_tail)
    }
}

/// One weight row of type `ty` dotted exactly with one f32 activation row.
pub fn dot_exact(ty: GgmlType, w: &[u8], a: &[f32]) -> f32 {
    let ab = a.as_chunks::<QK>().0;
    match ty {
        GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q8_0 if ab.len() * QK != a.len() => {
            super::dot_exact_scalar(ty, w, a)
        }
        GgmlType::Q4_0 => dot_exact_quant(w, ab, dequant_q4_0),
        GgmlType::Q4_1 => dot_exact_quant(w, ab, dequant_q4_1),
        GgmlType::Q8_0 => dot_exact_quant(w, ab, dequant_q8_0),
        GgmlType::F32 => dot_exact_float(ty, w, a, 4, load8_f32),
        GgmlType::BF16 => dot_exact_float(ty, w, a, 2, load8_bf16),
        _ => super::dot_exact_scalar(ty, w, a),
    }
}

/// `super::matmul_exact` with these kernels, one dot per (row, token).
pub fn matmul_exact(ty: GgmlType, rows: &[u8], acts: &QuantActs, out: &mut [f32]) {
    let n = acts.n;
    let row_bytes = rows.len() / (out.len() / n);
    for (w, out_r) in rows.chunks_exact(row_bytes).zip(out.chunks_exact_mut(n)) {
        for (t, o) in out_r.iter_mut().enumerate() {
            *o = dot_exact(ty, w, acts.row_f32(t));
        }
    }
}
