//! wasm32 kernels with the simd128 proposal (chosen at compile time with
//! `-C target-feature=+simd128`; every current browser has it).
//!
//! Integer formats: quants widened i8 → i16 and multiplied pairwise into i32 by
//! `i32x4_dot_i16x8`, the block's i32 sum converted to f32 and scaled by `d_w · d_a` into an f32x4
//! accumulator. F16 has no vector conversion in simd128 and stays on the scalar path; the
//! quantizers are the scalar ones.

use core::arch::wasm32::*;

use tokscope_gguf::GgmlType;
use tokscope_gguf::blocks::{self, BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1};

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
