//! The scalar reference dot products of Q5_0, Q5_1 and IQ4_NL (with Q8_0 or Q8_1 activations)
//! and of the super-block formats (the K-quants and IQ4_XS, with Q8_K activations), and Q8_K's
//! quantizer. Integer sums per block as ggml's generic `ggml_vec_dot_*` take them, then one f32
//! term per block (ggml spreads a super-block's sum over eight f32 lanes: the same integers,
//! rounded in another order).

use bytemuck::Zeroable;

use super::basic::high_bit;
use super::iquants::LEVELS;
use super::kquants::{k4_scale_min, q3_k_scales};
use super::layouts::{BlockIq4Nl, BlockQ5_0, BlockQ5_1, BlockQ8K, QK_K};
use super::{BlockQ8_0, BlockQ8_1, QK, f16_at, f16_bits_to_f32};
use crate::types::GgmlType;

/// `Σ x·y` of two rows of small integers, in i32.
fn dot_i8(x: &[i8], y: &[i8]) -> i32 {
    x.iter().zip(y).map(|(&a, &b)| a as i32 * b as i32).sum()
}

/// The 32 five-bit quants of a Q5 block in element order, minus `bias`.
fn q5_quants(qh: [u8; 4], qs: &[u8; QK / 2], bias: i8) -> [i8; QK] {
    let qh = u32::from_le_bytes(qh);
    std::array::from_fn(|e| {
        let j = e % (QK / 2);
        let nibble = if e < QK / 2 { qs[j] & 0x0f } else { qs[j] >> 4 };
        (nibble | high_bit(qh, e)) as i8 - bias
    })
}

/// The 32 IQ4_NL levels of 16 bytes of nibbles (byte `j`: elements `j` and `j + 16`).
fn iq4_levels(qs: &[u8]) -> [i8; QK] {
    std::array::from_fn(|e| {
        let q = qs[e % (QK / 2)];
        LEVELS[if e < QK / 2 { q & 0x0f } else { q >> 4 } as usize]
    })
}

/// `ggml_vec_dot_q5_0_q8_0`, generic path: `sumf += (dx·dy)·sumi` per block.
///
/// # Panics
/// If the rows have different block counts.
pub fn vec_dot_q5_0_q8_0(x: &[BlockQ5_0], y: &[BlockQ8_0]) -> f32 {
    assert_eq!(x.len(), y.len(), "rows of different lengths");
    let mut sumf = 0.0f32;
    for (x, y) in x.iter().zip(y) {
        let sumi = dot_i8(&q5_quants(x.qh, &x.qs, 16), &y.qs);
        sumf += (f16_bits_to_f32(x.d) * f16_bits_to_f32(y.d)) * sumi as f32;
    }
    sumf
}

/// `ggml_vec_dot_q5_1_q8_1`, generic path: `sumf += (dx·dy)·sumi + m·s` per block.
///
/// # Panics
/// If the rows have different block counts.
pub fn vec_dot_q5_1_q8_1(x: &[BlockQ5_1], y: &[BlockQ8_1]) -> f32 {
    assert_eq!(x.len(), y.len(), "rows of different lengths");
    let mut sumf = 0.0f32;
    for (x, y) in x.iter().zip(y) {
        let sumi = dot_i8(&q5_quants(x.qh, &x.qs, 0), &y.qs);
        sumf += (f16_bits_to_f32(x.d) * f16_bits_to_f32(y.d)) * sumi as f32
            + f16_bits_to_f32(x.m) * f16_bits_to_f32(y.s);
    }
    sumf
}

/// `ggml_vec_dot_iq4_nl_q8_0`, generic path: `sumf += (dy·dx)·sumi` per block.
///
/// # Panics
/// If the rows have different block counts.
pub fn vec_dot_iq4_nl_q8_0(x: &[BlockIq4Nl], y: &[BlockQ8_0]) -> f32 {
    assert_eq!(x.len(), y.len(), "rows of different lengths");
    let mut sumf = 0.0f32;
    for (x, y) in x.iter().zip(y) {
        let sumi = dot_i8(&iq4_levels(&x.qs), &y.qs);
        sumf += (f16_bits_to_f32(y.d) * f16_bits_to_f32(x.d)) * sumi as f32;
    }
    sumf
}

/// A super-block as integers: element `e` is `d·scales[e / 16]·q[e] − dmin·mins[e / 16]` (a
/// format with sub-blocks of 32 repeats each scale twice; one without minimums has `dmin = 0`).
#[derive(Clone, Debug, PartialEq)]
pub struct SuperInts {
    pub d: f32,
    pub dmin: f32,
    pub q: [i8; QK_K],
    pub scales: [i16; QK_K / 16],
    pub mins: [i16; QK_K / 16],
}

/// The integers of one super-block of `ty` (`b` exactly its bytes), or None for a type that is
/// not a super-block weight format (Q2_K..Q6_K, IQ4_XS).
pub fn super_ints(ty: GgmlType, b: &[u8]) -> Option<SuperInts> {
    let mut s = SuperInts {
        d: 0.0,
        dmin: 0.0,
        q: [0; QK_K],
        scales: [0; QK_K / 16],
        mins: [0; QK_K / 16],
    };
    // Element e = 128·h + 32·j + l of the 2-bit formats: bit pair j of qs[32·h + l].
    let crumb = |qs: &[u8], e: usize| (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
    match ty {
        GgmlType::Q2_K => {
            let (scales, qs) = (&b[0..16], &b[16..80]);
            (s.d, s.dmin) = (f16_at(b, 80), f16_at(b, 82));
            s.scales = std::array::from_fn(|k| (scales[k] & 0x0f) as i16);
            s.mins = std::array::from_fn(|k| (scales[k] >> 4) as i16);
            s.q = std::array::from_fn(|e| crumb(qs, e) as i8);
        }
        GgmlType::Q3_K => {
            let (hmask, qs) = (&b[0..32], &b[32..96]);
            s.d = f16_at(b, 108);
            s.scales = q3_k_scales(&b[96..108]).map(|v| v as i16);
            s.q = std::array::from_fn(|e| {
                let high = hmask[e % 32] & (1 << (e / 32)) != 0;
                crumb(qs, e) as i8 - if high { 0 } else { 4 }
            });
        }
        GgmlType::Q4_K | GgmlType::Q5_K => {
            (s.d, s.dmin) = (f16_at(b, 0), f16_at(b, 2));
            let scales = &b[4..16];
            for k in 0..16 {
                let (sc, m) = k4_scale_min(scales, k / 2);
                (s.scales[k], s.mins[k]) = (sc as i16, m as i16);
            }
            let (qh, qs) = if ty == GgmlType::Q5_K {
                (Some(&b[16..48]), &b[48..176])
            } else {
                (None, &b[16..144])
            };
            s.q = std::array::from_fn(|e| {
                let sub = e / 32;
                let low = (qs[32 * (sub / 2) + e % 32] >> (4 * (sub % 2))) & 0x0f;
                let high = qh.map_or(0, |qh| ((qh[e % 32] >> sub) & 1) << 4);
                (low | high) as i8
            });
        }
        GgmlType::Q6_K => {
            let (ql, qh, scales) = (&b[0..128], &b[128..192], &b[192..208]);
            s.d = f16_at(b, 208);
            s.scales = std::array::from_fn(|k| scales[k] as i8 as i16);
            s.q = std::array::from_fn(|e| {
                let (h, k, l) = (e / 128, (e % 128) / 32, e % 32);
                let low = (ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 0x0f;
                let high = (qh[32 * h + l] >> (2 * k)) & 3;
                (low | (high << 4)) as i8 - 32
            });
        }
        GgmlType::IQ4_XS => {
            s.d = f16_at(b, 0);
            let scales_h = u16::from_le_bytes([b[2], b[3]]);
            let (scales_l, qs) = (&b[4..8], &b[8..136]);
            for k in 0..16 {
                let sub = k / 2;
                let low = (scales_l[sub / 2] >> (4 * (sub % 2))) & 0x0f;
                let high = ((scales_h >> (2 * sub)) & 3) as u8;
                s.scales[k] = (low | (high << 4)) as i16 - 32;
            }
            for sub in 0..8 {
                let levels = iq4_levels(&qs[16 * sub..][..16]);
                s.q[32 * sub..][..32].copy_from_slice(&levels);
            }
        }
        _ => return None,
    }
    Some(s)
}

/// The sum of the 16 quants `16·k..16·k + 16` of a Q8_K block.
pub fn q8_k_bsum(y: &BlockQ8K, k: usize) -> i16 {
    i16::from_le_bytes(y.bsums[k])
}

/// The dot product of a row of super-blocks of `ty` (Q2_K..Q6_K, IQ4_XS) with a Q8_K row, as
/// ggml's generic `ggml_vec_dot_*_q8_K`: per super-block the integer sums `Σ_k sc_k·Σ q·a` and
/// `Σ_k m_k·bsum_k`, then `sumf += (d·dy)·isum − (dmin·dy)·summs`.
///
/// # Panics
/// If `ty` is not one of those formats or the rows have different block counts.
pub fn vec_dot_super_q8_k(ty: GgmlType, x: &[u8], y: &[BlockQ8K]) -> f32 {
    let Some((_, bytes)) = ty.block_layout().filter(|&(block, _)| block == QK_K) else {
        panic!("{ty} is not a super-block format")
    };
    assert_eq!(x.len(), y.len() * bytes, "rows of different lengths");
    let mut sumf = 0.0f32;
    for (xb, y) in x.chunks_exact(bytes).zip(y) {
        let s = super_ints(ty, xb).unwrap_or_else(|| panic!("{ty} is not a super-block format"));
        let (mut isum, mut summs) = (0i32, 0i32);
        for k in 0..QK_K / 16 {
            let r = 16 * k..16 * (k + 1);
            isum += s.scales[k] as i32 * dot_i8(&s.q[r.clone()], &y.qs[r]);
            summs += s.mins[k] as i32 * q8_k_bsum(y, k) as i32;
        }
        let dy = f32::from_le_bytes(y.d);
        sumf += (s.d * dy) * isum as f32 - (s.dmin * dy) * summs as f32;
    }
    sumf
}

/// `nearest_int` of ggml: round half to even through the f32 sum with 1.5·2^23, bit for bit
/// (for any input, as the C code computes it).
fn nearest_int(f: f32) -> i32 {
    let v = f + 12_582_912.0;
    (v.to_bits() as i32 & 0x007f_ffff) - 0x0040_0000
}

/// `quantize_row_q8_K_ref`: the element of largest magnitude (sign kept) maps to −127,
/// `q = min(127, nearest_int(−127/max · x))`, `d = 1/iscale`, and the sums of each 16 quants.
///
/// # Panics
/// If `x.len() != y.len() * QK_K`.
pub fn quantize_row_q8_k(x: &[f32], y: &mut [BlockQ8K]) {
    assert_eq!(
        x.len(),
        y.len() * QK_K,
        "input is not exactly one block row"
    );
    for (x, b) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        let (mut max, mut amax) = (0.0f32, 0.0f32);
        for &v in x {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        if amax == 0.0 {
            *b = BlockQ8K::zeroed();
            continue;
        }
        let iscale = -127.0 / max;
        for (q, &v) in b.qs.iter_mut().zip(x) {
            *q = nearest_int(iscale * v).min(127) as i8;
        }
        for (k, sum) in b.bsums.iter_mut().enumerate() {
            let s: i32 = b.qs[16 * k..16 * (k + 1)].iter().map(|&q| q as i32).sum();
            *sum = (s as i16).to_le_bytes();
        }
        b.d = (1.0 / iscale).to_le_bytes();
    }
}
