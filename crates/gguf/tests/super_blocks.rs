//! The formats added for K-quant files (Q5_0, Q5_1, IQ4_NL, Q2_K..Q6_K, IQ4_XS): the integer view
//! of a super-block decodes bit for bit as the decoders do, Q8_K's quantizer rounds as ggml's
//! `quantize_row_q8_K_ref`, and every reference dot product agrees with the f64 dot of the
//! dequantized rows on random valid blocks.

use tokscope_gguf::GgmlType;
use tokscope_gguf::blocks::*;

/// SplitMix64: deterministic test data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|_| scale * ((self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0))
            .collect()
    }
}

const NEW_TYPES: [GgmlType; 9] = [
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::IQ4_NL,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::IQ4_XS,
];

const SUPER_TYPES: [GgmlType; 6] = [
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::IQ4_XS,
];

fn dequant(t: GgmlType, bytes: &[u8], n: usize) -> Vec<f32> {
    let mut out = vec![f32::NAN; n];
    dequantize_row(t, bytes, &mut out).unwrap();
    out
}

#[test]
fn new_formats_pair_with_llama_cpp_dot_types() {
    use GgmlType::*;
    for (w, a) in [
        (Q5_0, Q8_0),
        (IQ4_NL, Q8_0),
        (Q5_1, Q8_1),
        (Q2_K, Q8_K),
        (Q3_K, Q8_K),
        (Q4_K, Q8_K),
        (Q5_K, Q8_K),
        (Q6_K, Q8_K),
        (IQ4_XS, Q8_K),
    ] {
        assert_eq!(vec_dot_type(w), Some(a), "{w}");
    }
    assert_eq!(vec_dot_type(Q8_K), None);
    assert_eq!(vec_dot_type(IQ2_XXS), None);
}

#[test]
fn super_block_integers_decode_as_the_decoders() {
    let mut rng = Rng(7);
    for ty in SUPER_TYPES {
        let bytes = random_blocks(ty, 64, 0.5, || rng.next()).unwrap();
        let (_, size) = ty.block_layout().unwrap();
        for b in bytes.chunks_exact(size) {
            let s = super_ints(ty, b).unwrap();
            let want = dequant(ty, b, QK_K);
            for (e, &want) in want.iter().enumerate() {
                let k = e / 16;
                let got = (s.d * s.scales[k] as f32) * s.q[e] as f32 - s.dmin * s.mins[k] as f32;
                assert_eq!(got.to_bits(), want.to_bits(), "{ty} element {e}");
            }
        }
    }
    assert!(super_ints(GgmlType::Q4_0, &[0; 18]).is_none());
}

#[test]
fn random_blocks_are_valid_and_have_the_asked_rms() {
    let mut rng = Rng(8);
    for ty in NEW_TYPES {
        let (block, size) = ty.block_layout().unwrap();
        let bytes = random_blocks(ty, 16, 0.25, || rng.next()).unwrap();
        assert_eq!(bytes.len(), 16 * size);
        check_blocks(ty, &bytes).unwrap();
        let v = dequant(ty, &bytes, 16 * block);
        let rms = (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt();
        assert!((rms - 0.25).abs() < 0.01, "{ty}: rms {rms}");
    }
    assert!(random_blocks(GgmlType::IQ2_XXS, 1, 1.0, || 0).is_err());
}

#[test]
fn q8_k_rounds_half_to_even_and_keeps_block_sums() {
    // max = −127: iscale = 1, d = 1, so the quants are nearest_int of the inputs themselves.
    let mut x = vec![0.0f32; QK_K];
    x[0] = -127.0;
    x[1..6].copy_from_slice(&[0.5, 1.5, 2.5, -0.5, -2.5]);
    x[17] = 126.6;
    let q = quantize_row(GgmlType::Q8_K, &x).unwrap();
    let b: &[BlockQ8K] = bytemuck::cast_slice(&q);
    assert_eq!(f32::from_le_bytes(b[0].d), 1.0);
    assert_eq!(&b[0].qs[..6], &[-127, 0, 2, 2, 0, -2]);
    assert_eq!(b[0].qs[17], 127);
    assert_eq!(q8_k_bsum(&b[0], 0), -127 + 2 + 2 - 2);
    assert_eq!(q8_k_bsum(&b[0], 1), 127);
    // A positive extreme gives a negative scale: max = 127 maps to −127 with d = −1.
    x[0] = 127.0;
    let q = quantize_row(GgmlType::Q8_K, &x).unwrap();
    let b: &[BlockQ8K] = bytemuck::cast_slice(&q);
    assert_eq!(f32::from_le_bytes(b[0].d), -1.0);
    assert_eq!(&b[0].qs[..3], &[-127, 0, -2]);
    // An all-zero block is all zeros.
    let q = quantize_row(GgmlType::Q8_K, &[0.0; QK_K]).unwrap();
    assert!(q.iter().all(|&b| b == 0));
}

#[test]
fn q8_k_round_trips_within_half_a_step_and_sums_its_quants() {
    let mut rng = Rng(9);
    for scale in [1e-3, 1.0, 50.0] {
        let x = rng.vec(4 * QK_K, scale);
        let q = quantize_row(GgmlType::Q8_K, &x).unwrap();
        let back = dequant(GgmlType::Q8_K, &q, x.len());
        let b: &[BlockQ8K] = bytemuck::cast_slice(&q);
        for ((xb, bb), blk) in x.chunks(QK_K).zip(back.chunks(QK_K)).zip(b) {
            let amax = xb.iter().fold(0.0f32, |a, v| a.max(v.abs()));
            for (a, b) in xb.iter().zip(bb) {
                assert!((a - b).abs() <= amax / 127.0 * 0.5001, "{a} -> {b}");
            }
            for k in 0..QK_K / 16 {
                let s: i32 = blk.qs[16 * k..16 * k + 16].iter().map(|&q| q as i32).sum();
                assert_eq!(q8_k_bsum(blk, k) as i32, s);
            }
        }
    }
}

/// The reference dot of a weight row of `ty` with an activation row of its dot format.
fn reference_dot(ty: GgmlType, w: &[u8], a: &[u8]) -> f32 {
    use bytemuck::cast_slice as c;
    match ty {
        GgmlType::Q5_0 => vec_dot_q5_0_q8_0(c(w), c(a)),
        GgmlType::Q5_1 => vec_dot_q5_1_q8_1(c(w), c(a)),
        GgmlType::IQ4_NL => vec_dot_iq4_nl_q8_0(c(w), c(a)),
        _ => vec_dot_super_q8_k(ty, w, c(a)),
    }
}

/// How far a reference dot may be from the f64 dot of the dequantized rows: `1e-5` of the terms
/// it rounds (`Σ|w·a|`, with each value's parts `d·sc·q` and `dmin·m` counted apart, since the
/// super-blocks sum them separately), plus for Q5_1 the f16 rounding of the activation sums `s`
/// its `m·s` terms use (computed from the unrounded scale: 2^-10 relative, as in blocks.rs).
fn tolerance(ty: GgmlType, w: &[u8], a: &[u8], wd: &[f32], ad: &[f32]) -> f64 {
    let (block, size) = ty.block_layout().unwrap();
    let mut mag = 0.0;
    let mut extra = 0.0;
    if super_ints(ty, &w[..size]).is_some() {
        for (wb, ab) in w.chunks_exact(size).zip(ad.chunks(block)) {
            let s = super_ints(ty, wb).unwrap();
            for (e, &a) in ab.iter().enumerate() {
                let k = e / 16;
                let parts = (s.d * s.scales[k] as f32 * s.q[e] as f32).abs()
                    + (s.dmin * s.mins[k] as f32).abs();
                mag += parts as f64 * a.abs() as f64;
            }
        }
    } else {
        mag = wd
            .iter()
            .zip(ad)
            .map(|(&x, &y)| (x as f64 * y as f64).abs())
            .sum();
    }
    if ty == GgmlType::Q5_1 {
        let wb: &[BlockQ5_1] = bytemuck::cast_slice(w);
        let ab: &[BlockQ8_1] = bytemuck::cast_slice(a);
        for (wb, ab) in wb.iter().zip(ab) {
            let m = f16_bits_to_f32(wb.m).abs() as f64;
            let s = f16_bits_to_f32(ab.s).abs() as f64;
            let q_sum: f64 = ab.qs.iter().map(|&q| (q as f64).abs()).sum();
            extra += m * (s * 2f64.powi(-10) + (q_sum + 1.0) * 2f64.powi(-24));
        }
    }
    1e-5 * mag + extra + 1e-12
}

#[test]
fn reference_dots_match_dequantized_rows() {
    let mut rng = Rng(10);
    for ty in NEW_TYPES {
        let (block, _) = ty.block_layout().unwrap();
        let at = vec_dot_type(ty).unwrap();
        for n_blocks in [1, 3, 8] {
            let n = n_blocks * block;
            let w = random_blocks(ty, n_blocks, 0.1, || rng.next()).unwrap();
            let a = quantize_row(at, &rng.vec(n, 2.0)).unwrap();
            let (wd, ad) = (dequant(ty, &w, n), dequant(at, &a, n));
            let exact: f64 = wd.iter().zip(&ad).map(|(&p, &q)| p as f64 * q as f64).sum();
            let tolerance = tolerance(ty, &w, &a, &wd, &ad);
            let got = reference_dot(ty, &w, &a);
            assert!(
                (got as f64 - exact).abs() <= tolerance,
                "{ty} × {n_blocks}: {got} vs {exact} (tolerance {tolerance})"
            );
        }
    }
}
