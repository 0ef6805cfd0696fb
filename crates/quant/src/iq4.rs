//! IQ4_NL and IQ4_XS as `ggml_quantize_chunk` makes them without an importance matrix
//! (`quantize_iq4_nl`, `quantize_iq4_xs`: ggml's `quantize_row_iq4_nl_impl` with 7 trial scales
//! either side and weights `x²`). Each nibble indexes the 16 non-linear levels.

use crate::cmath::{f16, nearest_int};
use crate::search::GROUP_MAX_EPS;

/// ggml's `kvalues_iq4nl`, ascending.
const LEVELS: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// Trial scales either side of the first guess.
const NTRY: i32 = 7;

/// For integer `k` in −127..=113, how many levels are ≤ `k`.
const COUNT_AT_MOST: [u8; 241] = {
    let mut t = [0u8; 241];
    let mut k = 0;
    while k < 241 {
        let mut n = 0;
        while n < 16 && LEVELS[n] as i32 <= k as i32 - 127 {
            n += 1;
        }
        t[k] = n as u8;
        k += 1;
    }
    t
};

/// The level nearest `x` as ggml's `best_index_int8` finds it: the ends for `x` beyond them, else
/// the bracketing pair (found by ggml with a bisection; levels are integers, so `floor(x)` has the
/// same levels at or below it as `x`) and the nearer one by float differences (the upper one on
/// ties, and for NaN, which no comparison holds for).
fn best_index(x: f32) -> u8 {
    let level = |i: usize| LEVELS[i] as f32;
    if x <= level(0) {
        return 0;
    }
    if x >= level(15) || x.is_nan() {
        return 15;
    }
    // floor(x) without a libm call (x86-64's baseline has no rounding instruction).
    let t = x as i32;
    let floor = if t as f32 > x { t - 1 } else { t };
    let hi = COUNT_AT_MOST[(floor + 127) as usize] as usize;
    if x - level(hi - 1) < level(hi) - x {
        (hi - 1) as u8
    } else {
        hi as u8
    }
}

/// The best scale of one 32-value block and its levels in `levels` (left untouched for an
/// all-zero block, whose scale is 0).
fn block_scale(x: &[f32], levels: &mut [u8]) -> f32 {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        return 0.0;
    }
    let v0 = LEVELS[0] as f32;
    let mut d = -max / v0;
    let id = 1.0 / d;
    let (mut sumqx, mut sumq2) = (0.0f32, 0.0f32);
    for (l, &v) in levels.iter_mut().zip(x) {
        *l = best_index(id * v);
        let q = LEVELS[*l as usize] as f32;
        let w = v * v;
        sumqx += w * q * v;
        sumq2 += w * q * q;
    }
    d = if sumq2 > 0.0 { sumqx / sumq2 } else { 0.0 };
    let mut best = d * sumqx;
    for itry in -NTRY..=NTRY {
        let id = (itry + LEVELS[0] as i32) as f32 / max;
        let (mut sumqx, mut sumq2) = (0.0f32, 0.0f32);
        for &v in x {
            let q = LEVELS[best_index(id * v) as usize] as f32;
            let w = v * v;
            sumqx += w * q * v;
            sumq2 += w * q * q;
        }
        if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    d
}

/// Packs 32 levels per 16 bytes: byte `j` holds level `j` low and `j + 16` high.
fn pack(levels: &[u8], qs: &mut [u8]) {
    for (l, q) in levels.chunks_exact(32).zip(qs.chunks_exact_mut(16)) {
        for j in 0..16 {
            q[j] = l[j] | (l[16 + j] << 4);
        }
    }
}

/// IQ4_NL (`d qs[16]`): one block of 32, `x ≈ d·level`.
pub(crate) fn iq4_nl(x: &[f32], out: &mut [u8]) {
    let mut levels = [0u8; 32];
    let d = block_scale(x, &mut levels);
    out[0..2].copy_from_slice(&f16(d));
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    for (l, &v) in levels.iter_mut().zip(x) {
        *l = best_index(id * v);
    }
    pack(&levels, &mut out[2..18]);
}

/// IQ4_XS (`d scales_h: u16 scales_l[4] qs[128]`): 8 blocks of 32, `x ≈ d·(s − 32)·level` with
/// 6-bit `s`.
pub(crate) fn iq4_xs(x: &[f32], out: &mut [u8]) {
    let mut levels = [0u8; 256];
    let mut scales = [0.0f32; 8];
    let (mut max_scale, mut amax_scale) = (0.0f32, 0.0f32);
    for ib in 0..8 {
        let s = block_scale(&x[32 * ib..][..32], &mut levels[32 * ib..][..32]);
        scales[ib] = s;
        if s.abs() > amax_scale {
            amax_scale = s.abs();
            max_scale = s;
        }
    }
    // An all-zero super-block gives d = −0.0, stored with its sign as ggml stores it.
    let d = -max_scale / 32.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let (mut scales_h, mut scales_l) = (0u16, [0u8; 4]);
    for ib in 0..8 {
        let l = nearest_int(id * scales[ib]).clamp(-32, 31);
        let dl = d * l as f32;
        let idl = if dl != 0.0 { 1.0 / dl } else { 0.0 };
        for (q, &v) in levels[32 * ib..][..32].iter_mut().zip(&x[32 * ib..][..32]) {
            *q = best_index(idl * v);
        }
        let l = (l + 32) as u8;
        scales_l[ib / 2] |= (l & 0x0f) << (4 * (ib % 2));
        scales_h |= ((l >> 4) as u16) << (2 * ib);
    }
    out[0..2].copy_from_slice(&f16(d));
    out[2..4].copy_from_slice(&scales_h.to_le_bytes());
    out[4..8].copy_from_slice(&scales_l);
    pack(&levels, &mut out[8..136]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ggml's bisection, step by step, for the lookup to be checked against.
    fn bisect(x: f32) -> u8 {
        let level = |i: usize| LEVELS[i] as f32;
        if x <= level(0) {
            return 0;
        }
        if x >= level(15) {
            return 15;
        }
        let (mut lo, mut hi) = (0usize, 15usize);
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if x < level(mid) { hi = mid } else { lo = mid }
        }
        if x - level(hi - 1) < level(hi) - x {
            (hi - 1) as u8
        } else {
            hi as u8
        }
    }

    #[test]
    fn lookup_equals_the_bisection() {
        let mut x = -130.0f32;
        while x < 116.0 {
            for v in [x, x.next_up(), x.next_down()] {
                assert_eq!(best_index(v), bisect(v), "{v}");
            }
            x += 0.125;
        }
        for v in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 1e-45] {
            assert_eq!(best_index(v), bisect(v), "{v}");
        }
    }
}
