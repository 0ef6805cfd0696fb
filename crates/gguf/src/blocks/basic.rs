//! Decoders of the float types and the 32-element blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1), in
//! ggml's layouts and order of operations (`dequantize_row_*` of `ggml-quants.c`).

use super::{Decoder, QK, Scale, bf16_bits_to_f32, f16_at, f16_bits_to_f32};

pub(crate) const F32: Decoder = Decoder::new(f32_value, &[]);
pub(crate) const F16: Decoder = Decoder::new(f16_value, &[]);
pub(crate) const BF16: Decoder = Decoder::new(bf16_value, &[]);
pub(crate) const Q4_0: Decoder = Decoder::new(q4_0, &[Scale::F16(0)]);
pub(crate) const Q4_1: Decoder = Decoder::new(q4_1, &[Scale::F16(0), Scale::F16(2)]);
pub(crate) const Q5_0: Decoder = Decoder::new(q5_0, &[Scale::F16(0)]);
pub(crate) const Q5_1: Decoder = Decoder::new(q5_1, &[Scale::F16(0), Scale::F16(2)]);
pub(crate) const Q8_0: Decoder = Decoder::new(q8_0, &[Scale::F16(0)]);
pub(crate) const Q8_1: Decoder = Decoder::new(q8_1, &[Scale::F16(0)]);

fn f32_value(b: &[u8], y: &mut [f32]) {
    y[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
}

fn f16_value(b: &[u8], y: &mut [f32]) {
    y[0] = f16_bits_to_f32([b[0], b[1]]);
}

fn bf16_value(b: &[u8], y: &mut [f32]) {
    y[0] = bf16_bits_to_f32([b[0], b[1]]);
}

/// `d·(q − 8)`: byte `j` holds element `j` in its low nibble and `j + 16` in its high nibble.
fn q4_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    for (j, &q) in b[2..18].iter().enumerate() {
        y[j] = ((q & 0x0f) as i32 - 8) as f32 * d;
        y[j + QK / 2] = ((q >> 4) as i32 - 8) as f32 * d;
    }
}

/// `d·q + m`, nibbles as Q4_0.
fn q4_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
    for (j, &q) in b[4..20].iter().enumerate() {
        y[j] = (q & 0x0f) as f32 * d + m;
        y[j + QK / 2] = (q >> 4) as f32 * d + m;
    }
}

/// The fifth bit of element `j` of a Q5 block: bit `j` of the little-endian u32 `qh`.
pub(crate) fn high_bit(qh: u32, j: usize) -> u8 {
    ((qh >> j) as u8 & 1) << 4
}

/// `d·(q − 16)`: nibbles as Q4_0, fifth bits in `qh`.
fn q5_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    for (j, &q) in b[6..22].iter().enumerate() {
        let x0 = ((q & 0x0f) | high_bit(qh, j)) as i32 - 16;
        let x1 = ((q >> 4) | high_bit(qh, j + QK / 2)) as i32 - 16;
        y[j] = x0 as f32 * d;
        y[j + QK / 2] = x1 as f32 * d;
    }
}

/// `d·q + m`, bits as Q5_0.
fn q5_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    for (j, &q) in b[8..24].iter().enumerate() {
        let x0 = (q & 0x0f) | high_bit(qh, j);
        let x1 = (q >> 4) | high_bit(qh, j + QK / 2);
        y[j] = x0 as f32 * d + m;
        y[j + QK / 2] = x1 as f32 * d + m;
    }
}

/// `d·q` with `q` a signed byte.
fn q8_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    for (y, &q) in y.iter_mut().zip(&b[2..34]) {
        *y = q as i8 as f32 * d;
    }
}

/// As Q8_0 after the two scale fields (`d`, then the sum `s` that only dot products use).
fn q8_1(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    for (y, &q) in y.iter_mut().zip(&b[4..36]) {
        *y = q as i8 as f32 * d;
    }
}
