//! The 32-element formats Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 as `ggml_quantize_chunk` makes them
//! without an importance matrix (`quantize_row_*_ref`). Each function encodes one block: `x` is
//! 32 values, `out` the block's bytes.

use crate::cmath::{c_int, c_max, f16, inverse};

/// Elements per block.
const QK: usize = 32;

/// The element of largest magnitude, sign kept (the first one on ties).
fn signed_absmax(x: &[f32]) -> f32 {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    max
}

/// (min, max) starting from (FLT_MAX, −FLT_MAX), as the offset formats scan a block.
fn min_max(x: &[f32]) -> (f32, f32) {
    let (mut min, mut max) = (f32::MAX, -f32::MAX);
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

/// `(int8_t)v` through a 32-bit conversion, then `MIN(limit, ·)`, stored as a byte.
fn clamp_i8(v: f32, limit: i32) -> u8 {
    (c_int(v) as i8 as i32).min(limit) as u8
}

/// Q4_0 (`d qs[16]`): `d = max / −8`, `q = min(15, (int8)(x/d + 8.5))`.
pub(crate) fn q4_0(x: &[f32], out: &mut [u8]) {
    let d = signed_absmax(x) / -8.0;
    let id = inverse(d);
    out[0..2].copy_from_slice(&f16(d));
    for j in 0..QK / 2 {
        let q0 = clamp_i8(x[j] * id + 8.5, 15);
        let q1 = clamp_i8(x[j + QK / 2] * id + 8.5, 15);
        out[2 + j] = q0 | (q1 << 4);
    }
}

/// Q4_1 (`d m qs[16]`): `d = (max − min) / 15`, `m = min`, `q = min(15, (int8)((x−min)/d + 0.5))`.
pub(crate) fn q4_1(x: &[f32], out: &mut [u8]) {
    let (min, max) = min_max(x);
    let d = (max - min) / 15.0;
    let id = inverse(d);
    out[0..2].copy_from_slice(&f16(d));
    out[2..4].copy_from_slice(&f16(min));
    for j in 0..QK / 2 {
        let q0 = clamp_i8((x[j] - min) * id + 0.5, 15);
        let q1 = clamp_i8((x[j + QK / 2] - min) * id + 0.5, 15);
        out[4 + j] = q0 | (q1 << 4);
    }
}

/// Q5_0 (`d qh[4] qs[16]`): `d = max / −16`, `q = min(31, (int8)(x/d + 16.5))`, fifth bits in `qh`.
pub(crate) fn q5_0(x: &[f32], out: &mut [u8]) {
    let d = signed_absmax(x) / -16.0;
    let id = inverse(d);
    out[0..2].copy_from_slice(&f16(d));
    let mut qh = 0u32;
    for j in 0..QK / 2 {
        let q0 = clamp_i8(x[j] * id + 16.5, 31);
        let q1 = clamp_i8(x[j + QK / 2] * id + 16.5, 31);
        out[6 + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
        qh |= (((q0 & 0x10) >> 4) as u32) << j;
        qh |= (((q1 & 0x10) >> 4) as u32) << (j + QK / 2);
    }
    out[2..6].copy_from_slice(&qh.to_le_bytes());
}

/// Q5_1 (`d m qh[4] qs[16]`): `d = (max − min) / 31`, `q = (uint8)((x−min)/d + 0.5)` unclamped.
pub(crate) fn q5_1(x: &[f32], out: &mut [u8]) {
    let (min, max) = min_max(x);
    let d = (max - min) / 31.0;
    let id = inverse(d);
    out[0..2].copy_from_slice(&f16(d));
    out[2..4].copy_from_slice(&f16(min));
    let mut qh = 0u32;
    for j in 0..QK / 2 {
        let q0 = c_int((x[j] - min) * id + 0.5) as u8;
        let q1 = c_int((x[j + QK / 2] - min) * id + 0.5) as u8;
        out[8 + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
        qh |= (((q0 & 0x10) >> 4) as u32) << j;
        qh |= (((q1 & 0x10) >> 4) as u32) << (j + QK / 2);
    }
    out[4..8].copy_from_slice(&qh.to_le_bytes());
}

/// Q8_0 (`d qs[32]`): `d = amax / 127`, `q = (int8)roundf(x/d)` (halves away from zero).
pub(crate) fn q8_0(x: &[f32], out: &mut [u8]) {
    let amax = x.iter().fold(0.0f32, |a, v| c_max(a, v.abs()));
    let d = amax / 127.0;
    let id = inverse(d);
    out[0..2].copy_from_slice(&f16(d));
    for (q, &v) in out[2..].iter_mut().zip(x) {
        *q = c_int((v * id).round()) as u8;
    }
}
