//! Decoders of the K-quants: 256-element super-blocks of 16 or 8 sub-blocks, each with its own
//! small integer scale (and minimum) times the super-block's f16 `d` (and `dmin`). Layouts and
//! order of operations are ggml's (`dequantize_row_q*_K` of `ggml-quants.c`).

use super::{Decoder, QK_K, Scale, f16_at};

pub(crate) const Q2_K: Decoder = Decoder::new(q2_k, &[Scale::F16(80), Scale::F16(82)]);
pub(crate) const Q3_K: Decoder = Decoder::new(q3_k, &[Scale::F16(108)]);
pub(crate) const Q4_K: Decoder = Decoder::new(q4_k, &[Scale::F16(0), Scale::F16(2)]);
pub(crate) const Q5_K: Decoder = Decoder::new(q5_k, &[Scale::F16(0), Scale::F16(2)]);
pub(crate) const Q6_K: Decoder = Decoder::new(q6_k, &[Scale::F16(208)]);
pub(crate) const Q8_K: Decoder = Decoder::new(q8_k, &[Scale::F32(0)]);

/// Q2_K (`scales[16] qs[64] d dmin`): element `e` is `d·sc − dmin·m` with the low and high
/// nibble of `scales[e / 16]`, and `q` the 2-bit field `2·j` of byte `32·h + e % 32` of `qs`,
/// where `h` is the 128-element half and `j` the 32-element group within it.
fn q2_k(b: &[u8], y: &mut [f32]) {
    let (scales, qs) = (&b[0..16], &b[16..80]);
    let (d, dmin) = (f16_at(b, 80), f16_at(b, 82));
    for (e, y) in y.iter_mut().enumerate() {
        let sc = scales[e / 16];
        let (dl, ml) = (d * (sc & 0x0f) as f32, dmin * (sc >> 4) as f32);
        let (h, j, l) = (e / 128, (e % 128) / 32, e % 32);
        let q = (qs[32 * h + l] >> (2 * j)) & 3;
        *y = dl * q as f32 - ml;
    }
}

/// The 16 six-bit scales of Q3_K, packed in 12 bytes: low nibbles in bytes 0..8 (elements 0..8
/// from the low nibbles, 8..16 from the high ones), top two bits in bytes 8..12 (scale `i`
/// from byte `8 + i % 4`, bit pair `i / 4`); the stored value is offset by 32.
pub fn q3_k_scales(s: &[u8]) -> [i32; 16] {
    std::array::from_fn(|i| {
        let low = if i < 8 { s[i] & 0x0f } else { s[i - 8] >> 4 };
        let high = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
        (low | (high << 4)) as i32 - 32
    })
}

/// Q3_K (`hmask[32] qs[64] scales[12] d`): `d·sc·(q − 4·(1 − hbit))`, with `q` as in Q2_K and
/// the high bit of element `e` being bit `4·h + j` of `hmask[e % 32]`.
fn q3_k(b: &[u8], y: &mut [f32]) {
    let (hmask, qs) = (&b[0..32], &b[32..96]);
    let scales = q3_k_scales(&b[96..108]);
    let d = f16_at(b, 108);
    for (e, y) in y.iter_mut().enumerate() {
        let dl = d * scales[e / 16] as f32;
        let (h, j, l) = (e / 128, (e % 128) / 32, e % 32);
        let q = ((qs[32 * h + l] >> (2 * j)) & 3) as i32;
        let offset = if hmask[l] & (1 << (4 * h + j)) != 0 {
            0
        } else {
            4
        };
        *y = dl * (q - offset) as f32;
    }
}

/// The scale and minimum of sub-block `j` (0..8) of Q4_K and Q5_K: six bits each, packed in 12
/// bytes (the first four of each in the low six bits of bytes 0..8, the last four from nibbles of
/// bytes 8..12 with their top two bits from the spare bits of bytes 0..8).
pub fn k4_scale_min(s: &[u8], j: usize) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        (
            (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        )
    }
}

/// Q4_K (`d dmin scales[12] qs[128]`): eight sub-blocks of 32, `d·sc·q − dmin·m`; sub-blocks
/// `2c` and `2c + 1` take the low and high nibbles of `qs[32c..32c + 32]`.
fn q4_k(b: &[u8], y: &mut [f32]) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let (scales, qs) = (&b[4..16], &b[16..144]);
    for (sub, y) in y.chunks_exact_mut(32).enumerate() {
        let (sc, m) = k4_scale_min(scales, sub);
        let (d1, m1) = (d * sc as f32, dmin * m as f32);
        let q = &qs[32 * (sub / 2)..][..32];
        let shift = 4 * (sub % 2);
        for (y, &q) in y.iter_mut().zip(q) {
            *y = d1 * ((q >> shift) & 0x0f) as f32 - m1;
        }
    }
}

/// Q5_K (`d dmin scales[12] qh[32] qs[128]`): as Q4_K with a fifth bit, bit `sub` of `qh[l]`.
fn q5_k(b: &[u8], y: &mut [f32]) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let (scales, qh, qs) = (&b[4..16], &b[16..48], &b[48..176]);
    for (sub, y) in y.chunks_exact_mut(32).enumerate() {
        let (sc, m) = k4_scale_min(scales, sub);
        let (d1, m1) = (d * sc as f32, dmin * m as f32);
        let q = &qs[32 * (sub / 2)..][..32];
        let shift = 4 * (sub % 2);
        for (l, (y, &q)) in y.iter_mut().zip(q).enumerate() {
            let high = ((qh[l] >> sub) & 1) << 4;
            *y = d1 * (((q >> shift) & 0x0f) | high) as f32 - m1;
        }
    }
}

/// Q6_K (`ql[128] qh[64] scales[16] d`): `d·sc·(q − 32)` with signed 8-bit `scales[e / 16]`.
/// In each 128-element half `h`, quarter `k` takes nibble `k / 2` of `ql[64h + 32·(k % 2) + l]`
/// and bit pair `k` of `qh[32h + l]`.
fn q6_k(b: &[u8], y: &mut [f32]) {
    let (ql, qh, scales) = (&b[0..128], &b[128..192], &b[192..208]);
    let d = f16_at(b, 208);
    for (e, y) in y.iter_mut().enumerate() {
        let (h, k, l) = (e / 128, (e % 128) / 32, e % 32);
        let low = (ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 0x0f;
        let high = (qh[32 * h + l] >> (2 * k)) & 3;
        let q = (low | (high << 4)) as i32 - 32;
        *y = d * scales[e / 16] as i8 as f32 * q as f32;
    }
}

/// Q8_K (`d: f32, qs[256], bsums[16]`): `d·q`; the block sums only serve dot products.
fn q8_k(b: &[u8], y: &mut [f32]) {
    let d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    for (y, &q) in y.iter_mut().zip(&b[4..4 + QK_K]) {
        *y = d * q as i8 as f32;
    }
}
