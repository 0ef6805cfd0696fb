//! Block formats: hand-built blocks decode to known values, the reference quantizers round as
//! llama.cpp does, round trips stay within each format's error bound, and the reference dot
//! products agree with the f64 dot of the dequantized rows.

use bytemuck::Zeroable;
use proptest::prelude::*;
use tokscope_gguf::GgmlType;
use tokscope_gguf::blocks::*;

const F16_ONE: [u8; 2] = [0x00, 0x3c];
const F16_HALF: [u8; 2] = [0x00, 0x38];
const F16_QUARTER: [u8; 2] = [0x00, 0x34];
const F16_TWO: [u8; 2] = [0x00, 0x40];
const F16_MINUS_ONE: [u8; 2] = [0x00, 0xbc];

fn dequant(t: GgmlType, bytes: &[u8], n: usize) -> Vec<f32> {
    let mut out = vec![f32::NAN; n];
    dequantize_row(t, bytes, &mut out).unwrap();
    out
}

#[test]
fn f16_and_bf16_bits_decode_to_known_values() {
    assert_eq!(f16_bits_to_f32(F16_ONE), 1.0);
    assert_eq!(f16_bits_to_f32([0x00, 0xc0]), -2.0);
    assert_eq!(f16_bits_to_f32(F16_HALF), 0.5);
    assert_eq!(f16_bits_to_f32([0x01, 0x00]), 2f32.powi(-24)); // smallest subnormal
    assert_eq!(f16_bits_to_f32([0xff, 0x7b]), 65504.0); // largest finite
    assert_eq!(bf16_bits_to_f32([0x80, 0x3f]), 1.0);
    assert_eq!(bf16_bits_to_f32([0x40, 0xc0]), -3.0);
}

#[test]
fn f32_to_f16_rounds_to_nearest_even() {
    // 1 + 2^-11 lies halfway between 1 (even mantissa) and 1 + 2^-10.
    assert_eq!(f32_to_f16_bits(1.0 + 2f32.powi(-11)), [0x00, 0x3c]);
    // 1 + 3 * 2^-11 lies halfway between 0x3c01 and 0x3c02 (even).
    assert_eq!(f32_to_f16_bits(1.0 + 3.0 * 2f32.powi(-11)), [0x02, 0x3c]);
    // Just above halfway rounds up.
    assert_eq!(
        f32_to_f16_bits(1.0 + 2f32.powi(-11) + 2f32.powi(-20)),
        [0x01, 0x3c]
    );
    // 65520 is halfway between 65504 and 65536: rounds to even, which overflows to infinity.
    assert_eq!(f32_to_f16_bits(65520.0), [0x00, 0x7c]);
    assert_eq!(f32_to_f16_bits(-0.5), [0x00, 0xb8]);
}

#[test]
fn f32_to_bf16_rounds_to_nearest_even() {
    assert_eq!(f32_to_bf16_bits(1.0 + 2f32.powi(-8)), [0x80, 0x3f]);
    assert_eq!(f32_to_bf16_bits(1.0 + 3.0 * 2f32.powi(-8)), [0x82, 0x3f]);
    let nan = f32_to_bf16_bits(f32::NAN);
    assert!(bf16_bits_to_f32(nan).is_nan());
}

#[test]
fn q4_0_block_decodes_low_nibbles_first() {
    let mut qs = [0u8; 16];
    for (j, q) in qs.iter_mut().enumerate() {
        // Low nibble j (element j), high nibble 15 - j (element 16 + j).
        *q = j as u8 | ((15 - j as u8) << 4);
    }
    let block = BlockQ4_0 { d: F16_HALF, qs };
    let out = dequant(GgmlType::Q4_0, bytemuck::bytes_of(&block), QK);
    for j in 0..16 {
        assert_eq!(out[j], (j as f32 - 8.0) * 0.5, "element {j}");
        assert_eq!(out[16 + j], (7.0 - j as f32) * 0.5, "element {}", 16 + j);
    }
    assert_eq!((out[0], out[15], out[16], out[31]), (-4.0, 3.5, 3.5, -4.0));
}

#[test]
fn q4_1_block_decodes_scale_and_offset() {
    let mut qs = [0u8; 16];
    qs[0] = 0x40; // element 0: q = 0, element 16: q = 4
    qs[5] = 0xf3; // element 5: q = 3, element 21: q = 15
    let block = BlockQ4_1 {
        d: F16_QUARTER,
        m: F16_MINUS_ONE,
        qs,
    };
    let out = dequant(GgmlType::Q4_1, bytemuck::bytes_of(&block), QK);
    assert_eq!(out[0], -1.0);
    assert_eq!(out[16], 0.0);
    assert_eq!(out[5], -0.25);
    assert_eq!(out[21], 2.75);
    assert_eq!(out[1], -1.0);
}

#[test]
fn q8_blocks_decode_to_scaled_integers() {
    let mut qs = [0i8; 32];
    qs[0] = -128;
    qs[1] = 127;
    qs[31] = -3;
    let b0 = BlockQ8_0 { d: F16_TWO, qs };
    let out = dequant(GgmlType::Q8_0, bytemuck::bytes_of(&b0), QK);
    assert_eq!(
        (out[0], out[1], out[2], out[31]),
        (-256.0, 254.0, 0.0, -6.0)
    );

    // Q8_1's s is only used by dot products: decoding ignores it.
    let b1 = BlockQ8_1 {
        d: F16_HALF,
        s: [0xff, 0x7b],
        qs,
    };
    let out = dequant(GgmlType::Q8_1, bytemuck::bytes_of(&b1), QK);
    assert_eq!((out[0], out[1], out[31]), (-64.0, 63.5, -1.5));
}

#[test]
fn float_rows_decode_little_endian() {
    let bytes = [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0];
    assert_eq!(dequant(GgmlType::F32, &bytes, 2), [1.0, -2.0]);
    assert_eq!(dequant(GgmlType::F16, &bytes, 4), [0.0, 1.875, 0.0, -2.0]);
    assert_eq!(dequant(GgmlType::BF16, &bytes, 4), [0.0, 1.0, 0.0, -2.0]);
}

#[test]
fn blocks_cast_from_unaligned_bytes() {
    // One Q4_0 block starting at an odd address.
    let mut bytes = [0u8; 19];
    bytes[1..3].copy_from_slice(&F16_ONE);
    bytes[3] = 0x21;
    let blocks: &[BlockQ4_0] = bytemuck::cast_slice(&bytes[1..]);
    assert_eq!(blocks[0].qs[0], 0x21);
    let out = dequant(GgmlType::Q4_0, &bytes[1..], QK);
    assert_eq!((out[0], out[16]), (-7.0, -6.0));
}

#[test]
fn q8_0_quantizer_rounds_halves_away_from_zero() {
    let mut x = [0.0f32; 32];
    x[..7].copy_from_slice(&[127.0, -63.5, 0.5, -0.5, 1.5, 2.5, -2.5]);
    let mut y = [BlockQ8_0::zeroed(); 1];
    quantize_row_q8_0(&x, &mut y);
    assert_eq!(y[0].d, F16_ONE);
    assert_eq!(&y[0].qs[..8], &[127, -64, 1, -1, 2, 3, -3, 0]);
}

#[test]
fn q8_1_quantizer_stores_scaled_sum() {
    let mut x = [0.0f32; 32];
    x[0] = -127.0;
    x[1] = 1.0;
    x[20] = 2.4;
    let mut y = [BlockQ8_1::zeroed(); 1];
    quantize_row_q8_1(&x, &mut y);
    assert_eq!(y[0].d, F16_ONE);
    assert_eq!((y[0].qs[0], y[0].qs[1], y[0].qs[20]), (-127, 1, 2));
    assert_eq!(f16_bits_to_f32(y[0].s), -124.0);
}

#[test]
fn q4_0_quantizer_maps_signed_max_to_minus_eight() {
    let mut x = [0.0f32; 32];
    x[0] = -8.0; // largest magnitude: d = -8 / -8 = 1
    x[1] = 7.0; // 7 + 8.5 -> 15
    x[2] = 0.5; // 9.0 -> 9
    x[3] = -0.5; // 8.0 -> 8
    x[4] = -7.6; // 0.9 -> 0
    x[16] = 7.9; // 16.4 -> 16, clamped to 15
    let mut y = [BlockQ4_0::zeroed(); 1];
    quantize_row_q4_0(&x, &mut y);
    assert_eq!(y[0].d, F16_ONE);
    assert_eq!(&y[0].qs[..6], &[0xf0, 0x8f, 0x89, 0x88, 0x80, 0x88]);

    // A positive maximum gives a negative scale; it still decodes to itself.
    let mut x = [0.0f32; 32];
    x[7] = 4.0;
    quantize_row_q4_0(&x, &mut y);
    assert_eq!(f16_bits_to_f32(y[0].d), -0.5);
    assert_eq!(y[0].qs[7], 0x80);
    let out = dequant(GgmlType::Q4_0, bytemuck::cast_slice(&y), QK);
    assert_eq!(out, x);
}

#[test]
fn q4_1_quantizer_uses_min_and_range() {
    let mut x = [0.0f32; 32];
    x[0] = -1.0; // min
    x[1] = 14.0; // max: d = 15 / 15 = 1
    x[2] = 0.49; // 1.49 + 0.5 -> 1
    x[3] = 0.5; // 1.5 + 0.5 -> 2
    let mut y = [BlockQ4_1::zeroed(); 1];
    quantize_row_q4_1(&x, &mut y);
    assert_eq!((y[0].d, y[0].m), (F16_ONE, F16_MINUS_ONE));
    assert_eq!(&y[0].qs[..5], &[0x10, 0x1f, 0x11, 0x12, 0x11]);
}

#[test]
fn all_zero_blocks_quantize_to_zero() {
    let x = [0.0f32; 64];
    for t in [
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q8_0,
        GgmlType::Q8_1,
    ] {
        let bytes = quantize_row(t, &x).unwrap();
        assert_eq!(dequant(t, &bytes, 64), x, "{t}");
    }
}

#[test]
fn length_and_type_errors() {
    let mut out = [0.0f32; 32];
    assert_eq!(
        dequantize_row(GgmlType::Q4_0, &[0; 17], &mut out),
        Err(BlockError::Length {
            expected: 18,
            found: 17
        })
    );
    assert_eq!(
        dequantize_row(GgmlType::Q8_0, &[0; 34], &mut out[..31]),
        Err(BlockError::Length {
            expected: 32,
            found: 31
        })
    );
    assert_eq!(
        dequantize_row(GgmlType::IQ2_XXS, &[0; 66], &mut [0.0; 256]),
        Err(BlockError::Unsupported(GgmlType::IQ2_XXS))
    );
    assert_eq!(
        quantize_row(GgmlType::Q4_1, &[0.0; 33]),
        Err(BlockError::Length {
            expected: 64,
            found: 33
        })
    );
    assert_eq!(quantize_row(GgmlType::F16, &[1.0; 3]).unwrap().len(), 6);
    let message = BlockError::Unsupported(GgmlType::IQ2_XXS).to_string();
    assert!(message.contains("IQ2_XXS"), "{message}");
}

#[test]
fn vec_dot_types_follow_llama_cpp() {
    use GgmlType::*;
    assert_eq!(vec_dot_type(Q4_0), Some(Q8_0));
    assert_eq!(vec_dot_type(Q4_1), Some(Q8_1));
    assert_eq!(vec_dot_type(Q8_0), Some(Q8_0));
    assert_eq!(vec_dot_type(F16), Some(F16));
    assert_eq!(vec_dot_type(BF16), Some(BF16));
    assert_eq!(vec_dot_type(F32), Some(F32));
    assert_eq!(vec_dot_type(Q4_K), Some(Q8_K));
}

#[test]
fn hand_built_dot_products() {
    let x = [BlockQ8_0 {
        d: F16_ONE,
        qs: [1; 32],
    }];
    let y = [BlockQ8_0 {
        d: F16_HALF,
        qs: [2; 32],
    }];
    assert_eq!(vec_dot_q8_0_q8_0(&x, &y), 32.0);
    // Q4_0 nibbles 9 and 7 are +1 and -1: the two halves cancel.
    let w = [BlockQ4_0 {
        d: F16_ONE,
        qs: [0x79; 16],
    }];
    assert_eq!(vec_dot_q4_0_q8_0(&w, &y), 0.0);
    // Q4_1: (1 * 0.5) * sum(q * 2) + m * s, with every q = 1, m = -1, s = 2.
    let w = [BlockQ4_1 {
        d: F16_ONE,
        m: F16_MINUS_ONE,
        qs: [0x11; 16],
    }];
    let a = [BlockQ8_1 {
        d: F16_HALF,
        s: F16_TWO,
        qs: [2; 32],
    }];
    assert_eq!(vec_dot_q4_1_q8_1(&w, &a), 32.0 - 2.0);
    assert_eq!(
        vec_dot_f16_f16(&[F16_TWO, F16_HALF], &[F16_HALF, F16_HALF]),
        1.25
    );
    assert_eq!(vec_dot_f32(&[1.0, 2.0, 3.0], &[4.0, -5.0, 6.0]), 12.0);
}

/// Largest |x - dequantize(quantize(x))| the format allows for one block, from its definition
/// plus the f16 rounding of the stored scale and offset (relative 2^-11, and 2^-25 absolute in
/// the subnormal range).
fn block_error_bound(t: GgmlType, x: &[f32]) -> f32 {
    let amax = x.iter().fold(0.0f32, |a, v| a.max(v.abs()));
    let min = x.iter().fold(f32::MAX, |a, &v| a.min(v));
    let max = x.iter().fold(-f32::MAX, |a, &v| a.max(v));
    let f16_err = |v: f32| v.abs() * 2f32.powi(-11) + 2f32.powi(-25);
    match t {
        // Up to one step at the clamped end (x / d = 8 stored as 7), half a step elsewhere.
        GgmlType::Q4_0 => amax / 8.0 + 8.0 * f16_err(amax / 8.0),
        GgmlType::Q4_1 => {
            let d = (max - min) / 15.0;
            d / 2.0 + 15.0 * f16_err(d) + f16_err(min)
        }
        GgmlType::Q8_0 | GgmlType::Q8_1 => {
            let d = amax / 127.0;
            d / 2.0 + 127.0 * f16_err(d)
        }
        GgmlType::F16 => f16_err(amax),
        GgmlType::BF16 => amax * 2f32.powi(-8),
        _ => 0.0,
    }
}

fn row(blocks: std::ops::Range<usize>) -> impl Strategy<Value = Vec<f32>> {
    (blocks, -3i32..3).prop_flat_map(|(n, scale_exp)| {
        let scale = 10f32.powi(scale_exp);
        prop::collection::vec(-1.0f32..1.0, n * QK)
            .prop_map(move |v| v.into_iter().map(|x| x * scale).collect())
    })
}

const TYPES: [GgmlType; 7] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q8_0,
    GgmlType::Q8_1,
];

proptest! {
    #[test]
    fn round_trip_within_format_bound(x in row(1..5)) {
        for t in TYPES {
            let bytes = quantize_row(t, &x).unwrap();
            prop_assert_eq!(bytes.len() as u64, t.bytes_for(x.len() as u64).unwrap());
            let back = dequant(t, &bytes, x.len());
            for (xb, bb) in x.chunks(QK).zip(back.chunks(QK)) {
                let bound = block_error_bound(t, xb) * 1.0001;
                for (a, b) in xb.iter().zip(bb) {
                    prop_assert!((a - b).abs() <= bound, "{}: {} -> {} (bound {})", t, a, b, bound);
                }
            }
        }
    }

    #[test]
    fn integers_round_trip_exactly_through_q8(mut q in prop::collection::vec(-127i32..=127, QK)) {
        q[0] = 127; // amax 127 makes d exactly 1
        let x: Vec<f32> = q.iter().map(|&v| v as f32).collect();
        for t in [GgmlType::Q8_0, GgmlType::Q8_1] {
            prop_assert_eq!(&dequant(t, &quantize_row(t, &x).unwrap(), QK), &x);
        }
    }

    #[test]
    fn dot_products_match_dequantized_rows(w in row(1..5), a_seed in row(4..5)) {
        let a = &a_seed[..w.len()];
        let n = w.len();
        for wt in TYPES {
            let Some(at) = vec_dot_type(wt) else { continue };
            let wq = quantize_row(wt, &w).unwrap();
            let aq = quantize_row(at, a).unwrap();
            let wd = dequant(wt, &wq, n);
            let ad = dequant(at, &aq, n);
            let exact: f64 = wd.iter().zip(&ad).map(|(&p, &q)| p as f64 * q as f64).sum();
            let magnitude: f64 = wd.iter().zip(&ad).map(|(&p, &q)| (p as f64 * q as f64).abs()).sum();
            let mut tolerance = 1e-5 * magnitude + 1e-12;
            let got = match wt {
                GgmlType::Q4_0 => vec_dot_q4_0_q8_0(bytemuck::cast_slice(&wq), bytemuck::cast_slice(&aq)),
                GgmlType::Q8_0 => vec_dot_q8_0_q8_0(bytemuck::cast_slice(&wq), bytemuck::cast_slice(&aq)),
                GgmlType::Q4_1 => {
                    let wb: &[BlockQ4_1] = bytemuck::cast_slice(&wq);
                    let ab: &[BlockQ8_1] = bytemuck::cast_slice(&aq);
                    // The per-block sum s is stored as f16: its rounding is part of the format.
                    for (wb, ab) in wb.iter().zip(ab) {
                        // s was computed from the unrounded scale, the dequantized row uses the
                        // f16 one: both differ by f16 rounding (2^-11 relative, 2^-25 subnormal).
                        let m = f16_bits_to_f32(wb.m).abs() as f64;
                        let s = f16_bits_to_f32(ab.s).abs() as f64;
                        let q_sum: f64 = ab.qs.iter().map(|&q| (q as f64).abs()).sum();
                        tolerance += m * (s * 2f64.powi(-10) + (q_sum + 1.0) * 2f64.powi(-24));
                    }
                    vec_dot_q4_1_q8_1(wb, ab)
                }
                GgmlType::F16 => vec_dot_f16_f16(bytemuck::cast_slice(&wq), bytemuck::cast_slice(&aq)),
                GgmlType::BF16 => vec_dot_bf16_bf16(bytemuck::cast_slice(&wq), bytemuck::cast_slice(&aq)),
                GgmlType::F32 => vec_dot_f32(&wd, &ad),
                _ => unreachable!(),
            };
            prop_assert!((got as f64 - exact).abs() <= tolerance,
                "{}: {} vs {} (tolerance {})", wt, got, exact, tolerance);
        }
    }
}
