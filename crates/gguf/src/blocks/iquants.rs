//! Decoders of the non-linear 4-bit formats: each nibble indexes a fixed table of 16 levels
//! (ggml's `kvalues_iq4nl`), times the block's scale. Layouts and order of operations are ggml's
//! (`dequantize_row_iq4_nl`, `dequantize_row_iq4_xs` of `ggml-quants.c`).

use super::{Decoder, Scale, f16_at};

pub(crate) const IQ4_NL: Decoder = Decoder::new(iq4_nl, &[Scale::F16(0)]);
pub(crate) const IQ4_XS: Decoder = Decoder::new(iq4_xs, &[Scale::F16(0)]);

/// The 16 levels a nibble stands for, roughly uniform in the square root of the magnitude.
pub const LEVELS: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// 32 values from 16 bytes: byte `j` holds value `j` in its low nibble and `j + 16` in its high.
fn levels(d: f32, qs: &[u8], y: &mut [f32]) {
    for (j, &q) in qs.iter().enumerate() {
        y[j] = d * LEVELS[(q & 0x0f) as usize] as f32;
        y[j + 16] = d * LEVELS[(q >> 4) as usize] as f32;
    }
}

/// IQ4_NL (`d qs[16]`): 32 elements, `d·level`.
fn iq4_nl(b: &[u8], y: &mut [f32]) {
    levels(f16_at(b, 0), &b[2..18], y);
}

/// IQ4_XS (`d scales_h: u16 scales_l[4] qs[128]`): eight sub-blocks of 32, each `d·(s − 32)·level`
/// with the six-bit `s` from nibble `sub % 2` of `scales_l[sub / 2]` and bit pair `sub` of
/// `scales_h`.
fn iq4_xs(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let scales_h = u16::from_le_bytes([b[2], b[3]]);
    let (scales_l, qs) = (&b[4..8], &b[8..136]);
    for (sub, y) in y.chunks_exact_mut(32).enumerate() {
        let low = (scales_l[sub / 2] >> (4 * (sub % 2))) & 0x0f;
        let high = ((scales_h >> (2 * sub)) & 3) as u8;
        let dl = d * ((low | (high << 4)) as i32 - 32) as f32;
        levels(dl, &qs[16 * sub..][..16], y);
    }
}
