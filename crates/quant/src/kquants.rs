//! The K-quants Q2_K, Q3_K, Q4_K, Q5_K and Q6_K as `ggml_quantize_chunk` makes them without an
//! importance matrix (`quantize_row_q*_K_ref`): per sub-block a scale search (`search`), then the
//! sub-block scales quantized against the super-block's f16 `d` (and `dmin`), then every value
//! requantized with the scales as stored. Each function encodes one 256-element super-block.

use crate::cmath::{f16, f16_round, nearest_int, pack_2bit};
use crate::search::{GROUP_MAX_EPS, Qkx2, make_q3_quants, make_qx_quants};

/// Elements per super-block.
const QK_K: usize = 256;

/// Q2_K (`scales[16] qs[64] d dmin`): 16 sub-blocks of 16, `x ≈ d·s·q − dmin·m`, 2-bit `q`, 4-bit
/// `s` and `m`.
pub(crate) fn q2_k(x: &[f32], out: &mut [u8]) {
    const FIT: Qkx2 = Qkx2 {
        nmax: 3,
        rmin: -0.5,
        rdelta: 0.1,
        nstep: 15,
        mad: true,
    };
    const Q4SCALE: f32 = 15.0;
    let mut levels = [0u8; QK_K];
    let (mut scales, mut mins) = ([0.0f32; 16], [0.0f32; 16]);
    let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
    for j in 0..16 {
        let xs = &x[16 * j..16 * j + 16];
        let weights: [f32; 16] = std::array::from_fn(|l| xs[l].abs());
        (scales[j], mins[j]) = FIT.fit(xs, &weights, &mut levels[16 * j..16 * j + 16]);
        if scales[j] > max_scale {
            max_scale = scales[j];
        }
        if mins[j] > max_min {
            max_min = mins[j];
        }
    }
    let mut sc = [0u8; 16];
    let d = if max_scale > 0.0 {
        let iscale = Q4SCALE / max_scale;
        for j in 0..16 {
            sc[j] = nearest_int(iscale * scales[j]) as u8;
        }
        f16(max_scale / Q4SCALE)
    } else {
        f16(0.0)
    };
    let dmin = if max_min > 0.0 {
        let iscale = Q4SCALE / max_min;
        for j in 0..16 {
            sc[j] = (sc[j] as i32 | (nearest_int(iscale * mins[j]) << 4)) as u8;
        }
        f16(max_min / Q4SCALE)
    } else {
        f16(0.0)
    };
    let (df, dminf) = (f16_to_f32(d), f16_to_f32(dmin));
    for j in 0..16 {
        let dl = df * (sc[j] & 0x0f) as f32;
        if dl == 0.0 {
            continue;
        }
        let ml = dminf * (sc[j] >> 4) as f32;
        for ii in 0..16 {
            let l = nearest_int((x[16 * j + ii] + ml) / dl).clamp(0, 3);
            levels[16 * j + ii] = l as u8;
        }
    }
    out[0..16].copy_from_slice(&sc);
    pack_2bit(&levels, &mut out[16..80]);
    out[80..82].copy_from_slice(&d);
    out[82..84].copy_from_slice(&dmin);
}

fn f16_to_f32(b: [u8; 2]) -> f32 {
    tokscope_gguf::blocks::f16_bits_to_f32(b)
}

/// Q3_K (`hmask[32] qs[64] scales[12] d`): 16 sub-blocks of 16, `x ≈ d·(s − 32)·(q − 4)` with
/// 3-bit `q` (low two bits in `qs`, the third in `hmask`) and 6-bit `s`.
pub(crate) fn q3_k(x: &[f32], out: &mut [u8]) {
    let mut levels = [0i8; QK_K];
    let mut scales = [0.0f32; 16];
    let (mut max_scale, mut amax) = (0.0f32, 0.0f32);
    for j in 0..16 {
        scales[j] = make_q3_quants(4, &x[16 * j..16 * j + 16], &mut levels[16 * j..16 * j + 16]);
        if scales[j].abs() > amax {
            amax = scales[j].abs();
            max_scale = scales[j];
        }
    }
    let mut packed = [0u8; 12];
    let d = if max_scale != 0.0 {
        let iscale = -32.0 / max_scale;
        for (j, &s) in scales.iter().enumerate() {
            // ggml keeps the rounded scale in an int8_t before clamping it.
            let l = ((nearest_int(iscale * s) as i8).clamp(-32, 31) + 32) as u8;
            if j < 8 {
                packed[j] = l & 0x0f;
            } else {
                packed[j - 8] |= (l & 0x0f) << 4;
            }
            packed[8 + j % 4] |= (l >> 4) << (2 * (j / 4));
        }
        f16(1.0 / iscale)
    } else {
        f16(0.0)
    };
    let df = f16_to_f32(d);
    for j in 0..16 {
        let low = if j < 8 {
            packed[j] & 0x0f
        } else {
            packed[j - 8] >> 4
        };
        let s = (low | (((packed[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) as i32 - 32;
        let dl = df * s as f32;
        if dl == 0.0 {
            continue;
        }
        for ii in 0..16 {
            let l = nearest_int(x[16 * j + ii] / dl).clamp(-4, 3);
            levels[16 * j + ii] = (l + 4) as i8;
        }
    }
    let mut low = [0u8; QK_K];
    let hmask = &mut out[0..32];
    hmask.fill(0);
    for (e, &l) in levels.iter().enumerate() {
        let mut l = l as u8;
        if l > 3 {
            hmask[e % 32] |= 1 << (e / 32);
            l -= 4;
        }
        low[e] = l;
    }
    pack_2bit(&low, &mut out[32..96]);
    out[96..108].copy_from_slice(&packed);
    out[108..110].copy_from_slice(&d);
}

/// Q4_K and Q5_K's sub-block fit: weights `sqrt(mean x²) + |x|`.
fn fit_sub_blocks(x: &[f32], fit: &Qkx2, levels: &mut [u8; QK_K]) -> ([f32; 8], [f32; 8]) {
    let (mut scales, mut mins) = ([0.0f32; 8], [0.0f32; 8]);
    for j in 0..8 {
        let xs = &x[32 * j..32 * j + 32];
        let mut sum_x2 = 0.0f32;
        for &v in xs {
            sum_x2 += v * v;
        }
        let av_x = (sum_x2 / 32.0).sqrt();
        let weights: [f32; 32] = std::array::from_fn(|l| av_x + xs[l].abs());
        (scales[j], mins[j]) = fit.fit(xs, &weights, &mut levels[32 * j..32 * j + 32]);
    }
    (scales, mins)
}

/// Packs Q4_K/Q5_K's eight 6-bit scales and mins into 12 bytes; returns (d, dmin) as stored.
fn pack_scales_mins(scales: &[f32; 8], mins: &[f32; 8], out: &mut [u8]) -> ([u8; 2], [u8; 2]) {
    let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
    for j in 0..8 {
        if scales[j] > max_scale {
            max_scale = scales[j];
        }
        if mins[j] > max_min {
            max_min = mins[j];
        }
    }
    let inv_scale = if max_scale > 0.0 {
        63.0 / max_scale
    } else {
        0.0
    };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let packed = &mut out[0..12];
    packed.fill(0);
    for j in 0..8 {
        let ls = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        let lm = (nearest_int(inv_min * mins[j]) as u8).min(63);
        if j < 4 {
            packed[j] = ls;
            packed[j + 4] = lm;
        } else {
            packed[j + 4] = (ls & 0x0f) | ((lm & 0x0f) << 4);
            packed[j - 4] |= (ls >> 4) << 6;
            packed[j] |= (lm >> 4) << 6;
        }
    }
    (f16(max_scale / 63.0), f16(max_min / 63.0))
}

/// Sub-block `j`'s (scale, min) from the 12 packed bytes (ggml's `get_scale_min_k4`).
fn scale_min(packed: &[u8], j: usize) -> (u8, u8) {
    if j < 4 {
        (packed[j] & 63, packed[j + 4] & 63)
    } else {
        (
            (packed[j + 4] & 0x0f) | ((packed[j - 4] >> 6) << 4),
            (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4),
        )
    }
}

/// Requantizes every value of Q4_K/Q5_K with the stored scales: `l = round((x + dm) / d)`.
fn requantize(x: &[f32], packed: &[u8], d: [u8; 2], dmin: [u8; 2], nmax: i32, levels: &mut [u8]) {
    let (df, dminf) = (f16_to_f32(d), f16_to_f32(dmin));
    for j in 0..8 {
        let (sc, m) = scale_min(packed, j);
        let dl = df * sc as f32;
        if dl == 0.0 {
            continue;
        }
        let dm = dminf * m as f32;
        for ii in 0..32 {
            levels[32 * j + ii] = nearest_int((x[32 * j + ii] + dm) / dl).clamp(0, nmax) as u8;
        }
    }
}

/// Q4_K (`d dmin scales[12] qs[128]`): 8 sub-blocks of 32, `x ≈ d·s·q − dmin·m`, 4-bit `q`.
pub(crate) fn q4_k(x: &[f32], out: &mut [u8]) {
    const FIT: Qkx2 = Qkx2 {
        nmax: 15,
        rmin: -1.0,
        rdelta: 0.1,
        nstep: 20,
        mad: false,
    };
    let mut levels = [0u8; QK_K];
    let (scales, mins) = fit_sub_blocks(x, &FIT, &mut levels);
    let (d, dmin) = pack_scales_mins(&scales, &mins, &mut out[4..16]);
    requantize(x, &out[4..16], d, dmin, 15, &mut levels);
    out[0..2].copy_from_slice(&d);
    out[2..4].copy_from_slice(&dmin);
    for (c, qs) in out[16..144].chunks_exact_mut(32).enumerate() {
        for (l, q) in qs.iter_mut().enumerate() {
            *q = levels[64 * c + l] | (levels[64 * c + l + 32] << 4);
        }
    }
}

/// Q5_K (`d dmin scales[12] qh[32] qs[128]`): as Q4_K with 5-bit `q`, fifth bits in `qh`.
pub(crate) fn q5_k(x: &[f32], out: &mut [u8]) {
    const FIT: Qkx2 = Qkx2 {
        nmax: 31,
        rmin: -0.5,
        rdelta: 0.1,
        nstep: 15,
        mad: false,
    };
    let mut levels = [0u8; QK_K];
    let (scales, mins) = fit_sub_blocks(x, &FIT, &mut levels);
    let (d, dmin) = pack_scales_mins(&scales, &mins, &mut out[4..16]);
    requantize(x, &out[4..16], d, dmin, 31, &mut levels);
    out[0..2].copy_from_slice(&d);
    out[2..4].copy_from_slice(&dmin);
    let (qh, qs) = out[16..176].split_at_mut(32);
    qh.fill(0);
    for (c, qs) in qs.chunks_exact_mut(32).enumerate() {
        for (l, q) in qs.iter_mut().enumerate() {
            let (mut l1, mut l2) = (levels[64 * c + l], levels[64 * c + l + 32]);
            if l1 > 15 {
                l1 -= 16;
                qh[l] |= 1 << (2 * c);
            }
            if l2 > 15 {
                l2 -= 16;
                qh[l] |= 2 << (2 * c);
            }
            *q = l1 | (l2 << 4);
        }
    }
}

/// Q6_K (`ql[128] qh[64] scales[16] d`): 16 sub-blocks of 16, `x ≈ d·s·(q − 32)`, 6-bit `q`,
/// signed 8-bit `s`.
pub(crate) fn q6_k(x: &[f32], out: &mut [u8]) {
    let mut levels = [0i8; QK_K];
    let mut scales = [0.0f32; 16];
    let (mut max_scale, mut max_abs_scale) = (0.0f32, 0.0f32);
    for ib in 0..16 {
        scales[ib] = make_qx_quants(32, &x[16 * ib..16 * ib + 16], &mut levels[16 * ib..][..16]);
        if scales[ib].abs() > max_abs_scale {
            max_abs_scale = scales[ib].abs();
            max_scale = scales[ib];
        }
    }
    out.fill(0);
    if max_abs_scale < GROUP_MAX_EPS {
        return;
    }
    let iscale = -128.0 / max_scale;
    let d = f16(1.0 / iscale);
    let mut sc = [0i8; 16];
    for ib in 0..16 {
        sc[ib] = nearest_int(iscale * scales[ib]).min(127) as i8;
    }
    let df = f16_round(1.0 / iscale);
    for j in 0..16 {
        let dl = df * sc[j] as f32;
        if dl == 0.0 {
            continue;
        }
        for ii in 0..16 {
            let l = nearest_int(x[16 * j + ii] / dl).clamp(-32, 31);
            levels[16 * j + ii] = (l + 32) as i8;
        }
    }
    let (ql, rest) = out.split_at_mut(128);
    let (qh, rest) = rest.split_at_mut(64);
    for half in 0..2 {
        let l0 = &levels[128 * half..];
        let (ql, qh) = (&mut ql[64 * half..], &mut qh[32 * half..]);
        for l in 0..32 {
            let q = |k: usize| l0[l + 32 * k] as u8;
            ql[l] = (q(0) & 0x0f) | ((q(2) & 0x0f) << 4);
            ql[l + 32] = (q(1) & 0x0f) | ((q(3) & 0x0f) << 4);
            qh[l] = (q(0) >> 4) | ((q(1) >> 4) << 2) | ((q(2) >> 4) << 4) | ((q(3) >> 4) << 6);
        }
    }
    for (s, o) in sc.iter().zip(&mut rest[0..16]) {
        *o = *s as u8;
    }
    rest[16..18].copy_from_slice(&d);
}
