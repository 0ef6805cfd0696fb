//! The C arithmetic ggml's quantizers rely on, reproduced bit for bit: its nearest-integer trick,
//! float-to-integer casts as x86-64 performs them, and the f16 round trip of a block's scales.

use tokscope_gguf::blocks::{f16_bits_to_f32, f32_to_f16_bits};

/// ggml's `nearest_int`: adding 1.5·2²³ leaves the rounded integer (ties to even) in the low
/// mantissa bits. Out of its range (|x| > 2²²−1, inf, NaN) it returns what those bits say, as ggml
/// does with its assert compiled out.
pub(crate) fn nearest_int(x: f32) -> i32 {
    let bits = (x + 12_582_912.0f32).to_bits() as i32;
    (bits & 0x007f_ffff) - 0x0040_0000
}

/// A C cast of a float to a 32-bit integer as x86-64 compiles it (`cvttss2si`): truncation, and
/// the "integer indefinite" `i32::MIN` for NaN and out-of-range values (narrower casts then keep
/// its low bits, i.e. 0).
pub(crate) fn c_int(x: f32) -> i32 {
    if !(-2_147_483_648.0..2_147_483_648.0).contains(&x) {
        i32::MIN
    } else {
        x as i32
    }
}

/// `MAX(a, b)` as ggml's macro computes it: `a > b ? a : b`.
pub(crate) fn c_max(a: f32, b: f32) -> f32 {
    if a > b { a } else { b }
}

/// `d ? 1/d : 0`, the reciprocal ggml multiplies by.
pub(crate) fn inverse(d: f32) -> f32 {
    if d != 0.0 { 1.0 / d } else { 0.0 }
}

/// `GGML_FP32_TO_FP16` (round to nearest even), little-endian bits.
pub(crate) fn f16(x: f32) -> [u8; 2] {
    f32_to_f16_bits(x)
}

/// The value a block will hold after its f16 round trip (`GGML_FP16_TO_FP32(GGML_FP32_TO_FP16(x))`).
pub(crate) fn f16_round(x: f32) -> f32 {
    f16_bits_to_f32(f16(x))
}

/// Packs 2-bit values: byte `l` of each 32-byte group holds the elements `l`, `l+32`, `l+64`,
/// `l+96` of its 128-element half, lowest first (Q2_K and Q3_K's `qs`).
pub(crate) fn pack_2bit(levels: &[u8; 256], qs: &mut [u8]) {
    for (half, out) in qs.chunks_exact_mut(32).enumerate() {
        let l0 = &levels[128 * half..];
        for (l, q) in out.iter_mut().enumerate() {
            *q = l0[l] | (l0[l + 32] << 2) | (l0[l + 64] << 4) | (l0[l + 96] << 6);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_int_rounds_ties_to_even() {
        assert_eq!(nearest_int(2.5), 2);
        assert_eq!(nearest_int(3.5), 4);
        assert_eq!(nearest_int(-2.5), -2);
        assert_eq!(nearest_int(-0.4), 0);
        assert_eq!(nearest_int(4_194_303.0), 4_194_303);
        // What the bit trick gives for inf: the mantissa bits of inf, all zero.
        assert_eq!(nearest_int(f32::INFINITY), -0x40_0000);
    }

    #[test]
    fn c_int_truncates_and_gives_indefinite_out_of_range() {
        assert_eq!(c_int(8.99), 8);
        assert_eq!(c_int(-0.99), 0);
        assert_eq!(c_int(f32::NAN), i32::MIN);
        assert_eq!(c_int(f32::INFINITY), i32::MIN);
        assert_eq!(c_int(3e9), i32::MIN);
        assert_eq!(c_int(-2_147_483_648.0), i32::MIN);
        assert_eq!(c_int(2_147_483_520.0), 2_147_483_520);
    }
}
