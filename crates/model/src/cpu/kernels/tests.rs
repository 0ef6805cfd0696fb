//! SIMD kernels checked against the scalar reference, through the dispatchers (`dot`, `matmul`,
//! `quantize_row`), so whatever [`isa`] this machine or build has is the one tested: AVX2 on
//! x86_64, simd128 on wasm32 (on a scalar-only machine they compare the reference with itself).
//!
//! Dots: the SIMD paths sum in another order (eight lanes, FMA), so they may differ from the
//! scalar result by rounding only. The bound used is `(2·terms + 8) · ε · mag`, where `terms` is
//! the number of blocks (quantized) or elements (float), `ε = f32::EPSILON` and
//! `mag = Σ|w_i·a_i|` over the dequantized rows (+ `Σ|m·s|` for Q4_1): the classic bound of a
//! reordered f32 sum, twice (scalar and SIMD both round). Without cancellation (all-positive data)
//! this is `2·terms + 8` ulps of the result. Quantizers must be bit-exact.

use tokscope_gguf::GgmlType;
use tokscope_gguf::blocks::{self, BlockQ4_1, BlockQ8_1, QK};

use super::*;

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
    /// Uniform in [-1, 1).
    fn f(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.f() * scale).collect()
    }
}

const WEIGHT_TYPES: [GgmlType; 6] = [
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q8_0,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::F32,
];

/// Block counts tested: 1, 2, 3, 18 (width 576) and 48 (width 1536).
const LENGTHS: [usize; 5] = [1, 2, 3, 18, 48];

fn quantize_weights(ty: GgmlType, x: &[f32]) -> Vec<u8> {
    blocks::quantize_row(ty, x).unwrap()
}

fn acts_of(x: &[f32], n: usize, ty: GgmlType) -> QuantActs {
    let mut a = QuantActs::default();
    a.quantize(x, n, x.len() / n, ty);
    a
}

/// `Σ|w_i·a_i|` of the dequantized rows, plus `Σ|m·s|` for Q4_1: the scale of the rounding error.
fn magnitude(ty: GgmlType, w: &[u8], a_ty: GgmlType, a: &[u8], cols: usize) -> f64 {
    let mut wf = vec![0.0; cols];
    let mut af = vec![0.0; cols];
    blocks::dequantize_row(ty, w, &mut wf).unwrap();
    blocks::dequantize_row(a_ty, a, &mut af).unwrap();
    let mut mag: f64 = wf
        .iter()
        .zip(&af)
        .map(|(&x, &y)| (x as f64 * y as f64).abs())
        .sum();
    if ty == GgmlType::Q4_1 {
        let wb: &[BlockQ4_1] = bytemuck::cast_slice(w);
        let ab: &[BlockQ8_1] = bytemuck::cast_slice(a);
        for (wb, ab) in wb.iter().zip(ab) {
            let ms = blocks::f16_bits_to_f32(wb.m) * blocks::f16_bits_to_f32(ab.s);
            mag += ms.abs() as f64;
        }
    }
    mag
}

fn assert_close(ty: GgmlType, w: &[u8], acts: &QuantActs, t: usize, got: f32, what: &str) {
    let want = dot_scalar(ty, w, acts.row(t));
    let cols = acts.cols;
    let terms = if blocks::vec_dot_type(ty) == Some(ty) {
        cols
    } else {
        cols / QK
    };
    let mag = magnitude(ty, w, acts.ty.unwrap(), acts.row(t), cols);
    let bound = (2 * terms + 8) as f64 * f32::EPSILON as f64 * mag;
    assert!(got.is_finite(), "{what}: {ty} cols {cols}: got {got}");
    assert!(
        ((got - want) as f64).abs() <= bound,
        "{what}: {ty} cols {cols}: got {got}, scalar {want}, bound {bound}"
    );
}

/// Weight rows and activations of several shapes and distributions.
fn cases(rng: &mut Rng, cols: usize) -> Vec<(&'static str, Vec<f32>, Vec<f32>)> {
    let mut v = vec![
        ("random", rng.vec(cols, 1.0), rng.vec(cols, 3.0)),
        (
            "positive",
            rng.vec(cols, 1.0).iter().map(|x| x.abs() + 0.1).collect(),
            { rng.vec(cols, 2.0).iter().map(|x| x.abs()).collect() },
        ),
        ("all equal", vec![0.75; cols], vec![-1.5; cols]),
        ("zeros", vec![0.0; cols], rng.vec(cols, 1.0)),
        ("zero acts", rng.vec(cols, 1.0), vec![0.0; cols]),
    ];
    // ±max: the quantized extremes (q = ±127, nibbles 0 and 15); 100 keeps Q8_1's `s = d·Σq`
    // (up to 32·100) inside f16's range.
    let alt: Vec<f32> = (0..cols)
        .map(|i| if i % 3 == 0 { -100.0 } else { 100.0 })
        .collect();
    v.push(("±max", alt.clone(), alt.iter().map(|x| -x).collect()));
    v
}

/// The build the browser runs is compiled with simd128, so these tests must run its simd128 kernels:
/// built without it they would only compare the scalar reference with itself (`cargo xtask test
/// wasm-kernels` checks that this test ran).
#[cfg(target_arch = "wasm32")]
#[test]
fn wasm_runs_the_simd128_kernels() {
    assert_eq!(
        isa(),
        Isa::Simd128,
        "built without -C target-feature=+simd128: the scalar kernels would be tested"
    );
}

#[test]
fn simd_dots_match_scalar() {
    eprintln!("kernels under test: {}", isa().name());
    let mut rng = Rng(1);
    for ty in WEIGHT_TYPES {
        for nb in LENGTHS {
            let cols = nb * QK;
            for (what, w, a) in cases(&mut rng, cols) {
                let w = quantize_weights(ty, &w);
                let acts = acts_of(&a, 1, ty);
                let got = dot(ty, &w, acts.row(0));
                assert_close(ty, &w, &acts, 0, got, what);
            }
        }
    }
}

#[test]
fn float_dots_handle_tails() {
    let mut rng = Rng(2);
    for ty in [GgmlType::F16, GgmlType::BF16, GgmlType::F32] {
        for cols in [1, 7, 8, 9, 31, 33, 100] {
            let w = quantize_weights(ty, &rng.vec(cols, 1.0));
            let acts = acts_of(&rng.vec(cols, 1.0), 1, ty);
            let got = dot(ty, &w, acts.row(0));
            assert_close(ty, &w, &acts, 0, got, "tail");
        }
    }
}

#[test]
fn q8_0_weights_with_minus_128_are_exact() {
    // A weight quant of -128 (legal in a file, never made by the quantizer) against ±127.
    let mut w = vec![0u8; 34];
    w[..2].copy_from_slice(&blocks::f32_to_f16_bits(1.0));
    w[2..].fill(0x80);
    let mut a = vec![0u8; 34];
    a[..2].copy_from_slice(&blocks::f32_to_f16_bits(1.0));
    for (i, q) in a[2..].iter_mut().enumerate() {
        *q = if i % 2 == 0 { 127 } else { (-127i8) as u8 };
    }
    let want = -128.0 * 127.0 * 16.0 + 128.0 * 127.0 * 16.0;
    assert_eq!(dot(GgmlType::Q8_0, &w, &a), want);
    a[2..].fill(127);
    assert_eq!(dot(GgmlType::Q8_0, &w, &a), -128.0 * 127.0 * 32.0);
    assert_eq!(dot_scalar(GgmlType::Q8_0, &w, &a), -128.0 * 127.0 * 32.0);
}

/// Rows whose quantization exercises roundf's halves, signs, zeros and the fallback blocks.
fn quantizer_inputs(rng: &mut Rng) -> Vec<Vec<f32>> {
    let mut rows = vec![
        rng.vec(18 * QK, 1.0),
        rng.vec(QK, 1e-3),
        rng.vec(2 * QK, 1e30),
    ];
    // amax 127 ⇒ d = 1, id = 1: every value below is exactly on a half.
    let mut halves: Vec<f32> = (0..QK).map(|i| i as f32 - 15.5).collect();
    halves[0] = 127.0;
    halves[1] = -126.5;
    halves[2] = 0.5;
    halves[3] = -0.5;
    rows.push(halves);
    rows.push(vec![0.0; QK]);
    rows.push(vec![-0.0; QK]);
    rows.push(vec![2.5; QK]);
    rows.push(
        (0..QK)
            .map(|i| if i % 2 == 0 { f32::MAX } else { -f32::MAX })
            .collect(),
    );
    rows.push((0..QK).map(|i| i as f32 * 1e-40).collect()); // subnormal: 1/d overflows
    let mut special = rng.vec(3 * QK, 1.0);
    special[5] = f32::INFINITY;
    special[QK + 7] = f32::NAN;
    special[2 * QK + 1] = f32::NEG_INFINITY;
    rows.push(special);
    rows
}

#[test]
fn simd_quantizers_are_bit_exact() {
    let mut rng = Rng(3);
    for x in quantizer_inputs(&mut rng) {
        for ty in [GgmlType::Q8_0, GgmlType::Q8_1] {
            let bytes = ty.bytes_for(x.len() as u64).unwrap() as usize;
            let (mut got, mut want) = (vec![0xaa; bytes], vec![0x55; bytes]);
            quantize_row(ty, &x, &mut got);
            quantize_row_scalar(ty, &x, &mut want);
            assert_eq!(got, want, "{ty} of {:?}", &x[..4]);
        }
    }
}

#[test]
fn quant_acts_use_the_reference_quantizer() {
    // Whatever path QuantActs takes, its bytes are the reference encoding.
    let mut rng = Rng(4);
    let x = rng.vec(3 * 64, 2.0);
    for ty in WEIGHT_TYPES {
        let acts = acts_of(&x, 3, ty);
        let dot_ty = blocks::vec_dot_type(ty).unwrap();
        for t in 0..3 {
            let want = blocks::quantize_row(dot_ty, &x[t * 64..(t + 1) * 64]).unwrap();
            assert_eq!(acts.row(t), &want[..], "{ty} row {t}");
        }
    }
}

#[test]
fn matmul_equals_row_by_row_dots() {
    let mut rng = Rng(5);
    let cols = 18 * QK;
    for ty in WEIGHT_TYPES {
        for n_rows in [1, 3, 4, 5, 9] {
            let w = quantize_weights(ty, &rng.vec(n_rows * cols, 1.0));
            let row_bytes = w.len() / n_rows;
            for n in 1..=5 {
                let acts = acts_of(&rng.vec(n * cols, 2.0), n, ty);
                let mut out = vec![f32::NAN; n_rows * n];
                matmul(ty, &w, &acts, &mut out);
                let mut scalar = vec![f32::NAN; n_rows * n];
                matmul_scalar(ty, &w, &acts, &mut scalar);
                for r in 0..n_rows {
                    let wr = &w[r * row_bytes..(r + 1) * row_bytes];
                    for t in 0..n {
                        // Same kernel, same order of operations: bit-equal to the single dot
                        // (F32 weights have F32 activations, which take the exact kernels).
                        let o = out[r * n + t];
                        let (single, reference) = if ty == GgmlType::F32 {
                            let a = acts.row_f32(t);
                            (dot_exact(ty, wr, a), dot_exact_scalar(ty, wr, a))
                        } else {
                            let a = acts.row(t);
                            (dot(ty, wr, a), dot_scalar(ty, wr, a))
                        };
                        assert_eq!(o, single, "{ty} r {r} t {t} n {n}");
                        assert_eq!(scalar[r * n + t], reference);
                        assert_close(ty, wr, &acts, t, o, "matmul");
                    }
                }
            }
        }
    }
}

#[test]
fn quantized_dot_tracks_the_f32_dot() {
    // Scalar against f32: Q8 activations (relative error ≤ 1/254 per element) and 4/8-bit weights
    // keep a positive dot within a few percent of the exact one.
    let mut rng = Rng(6);
    let cols = 48 * QK;
    let w: Vec<f32> = rng.vec(cols, 1.0).iter().map(|x| x.abs() + 0.5).collect();
    let a: Vec<f32> = rng.vec(cols, 1.0).iter().map(|x| x.abs() + 0.5).collect();
    let exact: f64 = w.iter().zip(&a).map(|(&x, &y)| x as f64 * y as f64).sum();
    for (ty, tol) in [
        (GgmlType::Q4_0, 0.05),
        (GgmlType::Q4_1, 0.03),
        (GgmlType::Q8_0, 0.01),
    ] {
        let wq = quantize_weights(ty, &w);
        let acts = acts_of(&a, 1, ty);
        let got = dot(ty, &wq, acts.row(0)) as f64;
        assert!((got - exact).abs() <= tol * exact, "{ty}: {got} vs {exact}");
    }
}

// ---- Exact path (f32 activations) ----
//
// Both the scalar reference and the SIMD kernels compute `Σ w_i·a_i` of the dequantized weights
// with f32 products and f32 sums, in different orders (SIMD: 16 lanes, FMA, then a tree). Each is
// within `γ_n · Σ|w_i·a_i|` of the exact sum of those values (the classic dot-product bound,
// `γ_n ≈ n·ε/2`, n = `cols` products), so the checks use `(cols + 8) · ε · mag` against an f64
// dot, and twice that between SIMD and scalar. AVX2 computes Q4_1's `d·q + m` with one FMA,
// within half an ulp of the reference's two roundings: one more `ε/2 · mag`, inside the `+ 8`.
// Products that underflow lose up to 2^-149 each whatever their size: `cols · 2^-149` is added.

/// The weight row's values as `blocks::dequantize_row` decodes them.
fn dequantized(ty: GgmlType, w: &[u8], cols: usize) -> Vec<f32> {
    let mut wf = vec![0.0; cols];
    blocks::dequantize_row(ty, w, &mut wf).unwrap();
    wf
}

/// The f64 dot of the dequantized weights with `a`, and `Σ|w_i·a_i|`.
fn exact_dot(ty: GgmlType, w: &[u8], a: &[f32]) -> (f64, f64) {
    let wf = dequantized(ty, w, a.len());
    let dot = wf.iter().zip(a).map(|(&x, &y)| x as f64 * y as f64).sum();
    let mag = wf
        .iter()
        .zip(a)
        .map(|(&x, &y)| (x as f64 * y as f64).abs())
        .sum();
    (dot, mag)
}

/// The rounding bound of one f32 evaluation of a `cols`-term dot of magnitude `mag`.
fn exact_bound(cols: usize, mag: f64) -> f64 {
    (cols + 8) as f64 * f32::EPSILON as f64 * mag + cols as f64 * 2f64.powi(-149)
}

fn assert_exact(ty: GgmlType, w: &[u8], a: &[f32], got: f32, what: &str) {
    let cols = a.len();
    let (want, mag) = exact_dot(ty, w, a);
    let bound = exact_bound(cols, mag);
    let scalar = dot_exact_scalar(ty, w, a);
    assert!(got.is_finite(), "{what}: {ty} cols {cols}: got {got}");
    assert!(
        (scalar as f64 - want).abs() <= bound,
        "{what}: {ty} cols {cols}: scalar {scalar}, f64 {want}, bound {bound}"
    );
    assert!(
        (got as f64 - want).abs() <= bound,
        "{what}: {ty} cols {cols}: got {got}, f64 {want}, bound {bound}"
    );
    assert!(
        ((got - scalar) as f64).abs() <= 2.0 * bound,
        "{what}: {ty} cols {cols}: got {got}, scalar {scalar}, bound {}",
        2.0 * bound
    );
}

/// Exact-path inputs: the quantized-path cases plus activation extremes the 8-bit path cannot
/// carry (huge and subnormal values).
fn exact_cases(rng: &mut Rng, cols: usize) -> Vec<(&'static str, Vec<f32>, Vec<f32>)> {
    let mut v = cases(rng, cols);
    v.push(("huge acts", rng.vec(cols, 1.0), rng.vec(cols, 1e30)));
    v.push(("subnormal acts", rng.vec(cols, 1.0), rng.vec(cols, 1e-39)));
    // Q4_1 weights around zero: `d·q + m` cancels (m ≈ -7.5·d).
    v.push((
        "cancelling",
        (0..cols).map(|i| (i % 16) as f32 - 7.5).collect(),
        rng.vec(cols, 1.0),
    ));
    v
}

#[test]
fn scalar_exact_dot_dequantizes_like_the_reader() {
    // One nonzero activation picks one dequantized weight: the reference must return it exactly.
    let mut rng = Rng(7);
    for ty in WEIGHT_TYPES {
        let cols = 3 * QK;
        let w = quantize_weights(ty, &rng.vec(cols, 2.0));
        let wf = dequantized(ty, &w, cols);
        for i in [0, 1, 15, 16, 17, 31, 32, 63, 95] {
            let mut a = vec![0.0; cols];
            a[i] = 1.0;
            assert_eq!(dot_exact_scalar(ty, &w, &a), wf[i], "{ty} element {i}");
            // SIMD: bit-equal too, except Q4_1's one-FMA `d·q + m` (within half an ulp).
            let got = dot_exact(ty, &w, &a);
            let tol = if ty == GgmlType::Q4_1 {
                f32::EPSILON * wf[i].abs()
            } else {
                0.0
            };
            assert!(
                (got - wf[i]).abs() <= tol,
                "{ty} element {i}: {got} vs {}",
                wf[i]
            );
        }
    }
}

#[test]
fn exact_dots_match_f64() {
    let mut rng = Rng(8);
    for ty in WEIGHT_TYPES {
        for nb in LENGTHS {
            let cols = nb * QK;
            for (what, w, a) in exact_cases(&mut rng, cols) {
                let w = quantize_weights(ty, &w);
                assert_exact(ty, &w, &a, dot_exact(ty, &w, &a), what);
            }
        }
    }
}

#[test]
fn exact_float_dots_handle_tails() {
    let mut rng = Rng(9);
    for ty in [GgmlType::F16, GgmlType::BF16, GgmlType::F32] {
        for cols in [1, 7, 8, 9, 31, 33, 63, 100] {
            let w = quantize_weights(ty, &rng.vec(cols, 1.0));
            let a = rng.vec(cols, 1.0);
            assert_exact(ty, &w, &a, dot_exact(ty, &w, &a), "tail");
        }
    }
}

#[test]
fn exact_dots_propagate_nan_and_inf() {
    let cols = 2 * QK;
    for ty in WEIGHT_TYPES {
        let w = quantize_weights(ty, &vec![0.5; cols]);
        for bad in [f32::NAN, f32::INFINITY] {
            let mut a = vec![1.0; cols];
            a[QK + 3] = bad;
            let (got, scalar) = (dot_exact(ty, &w, &a), dot_exact_scalar(ty, &w, &a));
            assert!(
                !got.is_finite() && !scalar.is_finite(),
                "{ty}: {got} {scalar}"
            );
        }
    }
}

#[test]
fn exact_matmul_equals_row_by_row_dots() {
    let mut rng = Rng(10);
    for cols in [18 * QK, 48 * QK] {
        for ty in WEIGHT_TYPES {
            for n_rows in [1, 3, 4, 5, 9] {
                let w = quantize_weights(ty, &rng.vec(n_rows * cols, 1.0));
                let row_bytes = w.len() / n_rows;
                for n in 1..=5 {
                    let x = rng.vec(n * cols, 2.0);
                    let mut acts = QuantActs::default();
                    acts.set_f32(&x, n, cols);
                    assert_eq!(acts.ty, Some(GgmlType::F32));
                    let mut out = vec![f32::NAN; n_rows * n];
                    matmul(ty, &w, &acts, &mut out);
                    let mut scalar = vec![f32::NAN; n_rows * n];
                    matmul_scalar(ty, &w, &acts, &mut scalar);
                    for r in 0..n_rows {
                        let wr = &w[r * row_bytes..(r + 1) * row_bytes];
                        for t in 0..n {
                            let a = &x[t * cols..(t + 1) * cols];
                            assert_eq!(acts.row_f32(t), a);
                            // Same kernel, same order of operations: bit-equal to the single dot.
                            let o = out[r * n + t];
                            assert_eq!(o, dot_exact(ty, wr, a), "{ty} r {r} t {t} n {n}");
                            assert_eq!(scalar[r * n + t], dot_exact_scalar(ty, wr, a));
                            assert_exact(ty, wr, a, o, "matmul");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn exact_matmul_handles_float_rows_with_partial_groups() {
    let mut rng = Rng(11);
    let cols = 40;
    for ty in [GgmlType::F16, GgmlType::BF16, GgmlType::F32] {
        let w = quantize_weights(ty, &rng.vec(5 * cols, 1.0));
        for n in [1, 2, 5] {
            let x = rng.vec(n * cols, 1.0);
            let mut acts = QuantActs::default();
            acts.set_f32(&x, n, cols);
            let mut out = vec![f32::NAN; 5 * n];
            matmul(ty, &w, &acts, &mut out);
            let rb = w.len() / 5;
            for r in 0..5 {
                for t in 0..n {
                    let a = &x[t * cols..(t + 1) * cols];
                    assert_exact(ty, &w[r * rb..(r + 1) * rb], a, out[r * n + t], "partial");
                }
            }
        }
    }
}

#[test]
fn exact_path_is_closer_to_f32_than_the_q8_path() {
    // The reason the exact path exists: on a 1536-wide dot the 8-bit activations alone move the
    // result by far more than f32 rounding does.
    let mut rng = Rng(12);
    let cols = 48 * QK;
    for ty in [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0] {
        let w = quantize_weights(ty, &rng.vec(cols, 1.0));
        let a = rng.vec(cols, 1.0);
        let (want, _) = exact_dot(ty, &w, &a);
        let exact_err = (dot_exact(ty, &w, &a) as f64 - want).abs();
        let q8_err = (dot(ty, &w, acts_of(&a, 1, ty).row(0)) as f64 - want).abs();
        assert!(
            exact_err * 100.0 < q8_err,
            "{ty}: exact {exact_err}, q8 {q8_err}"
        );
    }
}

#[test]
fn quantize_for_f32_weights_keeps_f32_rows() {
    let x: Vec<f32> = (0..64).map(|i| i as f32 * 0.25 - 3.0).collect();
    let acts = acts_of(&x, 2, GgmlType::F32);
    assert_eq!(acts.ty, Some(GgmlType::F32));
    assert_eq!(acts.row_f32(1), &x[32..]);
    assert_eq!(acts.row(1), bytemuck::cast_slice::<f32, u8>(&x[32..]));
    assert_eq!(acts.row_bytes(), 128);
}

/// The dispatchers above test the best tiles of this CPU (AVX-512 where present); this checks the
/// AVX2 tiles too, and the AVX-512 ones by name, whatever the dispatch.
#[cfg(target_arch = "x86_64")]
#[test]
fn exact_avx2_and_avx512_tiles_match_f64() {
    if isa() != Isa::Avx2 {
        return;
    }
    let levels: &[bool] = if isa::has_avx512() {
        &[false, true]
    } else {
        &[false]
    };
    let mut rng = Rng(13);
    for &avx512 in levels {
        for ty in WEIGHT_TYPES {
            for nb in LENGTHS {
                let cols = nb * QK;
                for (what, w, a) in exact_cases(&mut rng, cols) {
                    let w = quantize_weights(ty, &w);
                    // SAFETY: isa() checked AVX2, FMA and F16C; `levels` checked AVX-512F.
                    let got = unsafe { x86::dot_exact_with(ty, &w, &a, avx512) };
                    assert_exact(ty, &w, &a, got, what);
                }
            }
            let (cols, n_rows) = (18 * QK, 6);
            let w = quantize_weights(ty, &rng.vec(n_rows * cols, 1.0));
            let rb = w.len() / n_rows;
            for n in 1..=5 {
                let x = rng.vec(n * cols, 1.0);
                let mut acts = QuantActs::default();
                acts.set_f32(&x, n, cols);
                let mut out = vec![f32::NAN; n_rows * n];
                // SAFETY: as above.
                unsafe { x86::matmul_exact_with(ty, &w, &acts, &mut out, avx512) };
                for r in 0..n_rows {
                    for t in 0..n {
                        let (wr, a) = (&w[r * rb..(r + 1) * rb], &x[t * cols..(t + 1) * cols]);
                        // SAFETY: as above.
                        let single = unsafe { x86::dot_exact_with(ty, wr, a, avx512) };
                        assert_eq!(out[r * n + t], single, "{ty} avx512 {avx512} r {r} t {t}");
                        assert_exact(ty, wr, a, single, "tiles");
                    }
                }
            }
        }
    }
}

/// Block rows whose f16 scales are the corner cases of the f16 → f32 conversion (the simd128 exact
/// tiles convert them four at a time with bit tricks): subnormal, largest subnormal, smallest
/// normal, largest finite, negative, an ordinary value; `m` (Q4_1) takes the next one.
#[test]
fn exact_dots_decode_every_kind_of_f16_scale() {
    let scales: [u16; 6] = [0x0001, 0x03ff, 0x0400, 0x7bff, 0xbc00, 0x3555];
    let mut rng = Rng(13);
    let n_blocks = 3;
    for ty in [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0] {
        let block_bytes = ty.bytes_for(QK as u64).unwrap() as usize;
        let n_rows = scales.len();
        let mut w = Vec::new();
        for r in 0..n_rows {
            for b in 0..n_blocks {
                w.extend_from_slice(&scales[(r + b) % n_rows].to_le_bytes());
                if ty == GgmlType::Q4_1 {
                    w.extend_from_slice(&scales[(r + b + 1) % n_rows].to_le_bytes());
                }
                while w.len() % block_bytes != 0 {
                    w.push(rng.next() as u8);
                }
            }
        }
        let cols = n_blocks * QK;
        let rb = w.len() / n_rows;
        let x = rng.vec(cols, 1.0);
        let mut acts = QuantActs::default();
        acts.set_f32(&x, 1, cols);
        let mut out = vec![f32::NAN; n_rows];
        matmul(ty, &w, &acts, &mut out);
        for (r, &o) in out.iter().enumerate() {
            let wr = &w[r * rb..(r + 1) * rb];
            assert_exact(ty, wr, &x, dot_exact(ty, wr, &x), "f16 scale");
            assert_exact(ty, wr, &x, o, "f16 scale, matmul");
        }
    }
}

// ---- The formats of K-quant files (Q5_0, Q5_1, IQ4_NL, Q2_K..Q6_K, IQ4_XS) ----
//
// No quantizer here makes them: the weights are random valid blocks (`blocks::random_blocks`)
// and blocks whose quant bytes are all 0x00, all 0xff or alternating, with the scales of a random
// block. The bounds are those above, with the q8 magnitude counting a value's parts apart where a
// format sums them apart (`d·sc·q` and `dmin·m` of the super-blocks, Q5_1's `m·s`).

const K_FILE_TYPES: [GgmlType; 9] = [
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

/// Weight rows of `n_blocks` blocks of `ty`: random, then the byte patterns (scales kept).
fn k_file_rows(rng: &mut Rng, ty: GgmlType, n_blocks: usize) -> Vec<(&'static str, Vec<u8>)> {
    let random = blocks::random_blocks(ty, n_blocks, 0.5, || rng.next()).unwrap();
    let (_, size) = ty.block_layout().unwrap();
    let scales = ty.decoder().unwrap().scales;
    let is_scale = |i: usize| {
        scales.iter().any(|s| {
            let (o, n) = match *s {
                blocks::Scale::F16(o) => (o, 2),
                blocks::Scale::F32(o) => (o, 4),
            };
            (o..o + n).contains(&(i % size))
        })
    };
    let mut out = vec![("random blocks", random.clone())];
    for (what, fill) in [
        ("0x00", [0u8, 0]),
        ("0xff", [0xff, 0xff]),
        ("0xaa55", [0xaa, 0x55]),
    ] {
        let w = random
            .iter()
            .enumerate()
            .map(|(i, &b)| if is_scale(i) { b } else { fill[i % 2] })
            .collect();
        out.push((what, w));
    }
    out
}

/// The block counts of `ty` tested: up to 1536 columns.
fn k_file_lengths(ty: GgmlType) -> Vec<usize> {
    if ty.block_layout().unwrap().0 == QK {
        vec![1, 2, 3, 18, 48]
    } else {
        vec![1, 2, 3, 6]
    }
}

/// The q8 rounding scale of a K-quant file format's dot: [`magnitude`] with a value's parts
/// counted apart where the format sums them apart.
fn k_file_magnitude(ty: GgmlType, w: &[u8], acts: &QuantActs, t: usize) -> f64 {
    let a_ty = acts.ty.unwrap();
    let cols = acts.cols;
    let mut af = vec![0.0; cols];
    blocks::dequantize_row(a_ty, acts.row(t), &mut af).unwrap();
    let (block, size) = ty.block_layout().unwrap();
    if block == QK {
        let mut mag = magnitude(ty, w, a_ty, acts.row(t), cols);
        if ty == GgmlType::Q5_1 {
            let wb: &[blocks::BlockQ5_1] = bytemuck::cast_slice(w);
            let ab: &[BlockQ8_1] = bytemuck::cast_slice(acts.row(t));
            for (wb, ab) in wb.iter().zip(ab) {
                let ms = blocks::f16_bits_to_f32(wb.m) * blocks::f16_bits_to_f32(ab.s);
                mag += ms.abs() as f64;
            }
        }
        return mag;
    }
    let mut mag = 0.0;
    for (wb, ab) in w.chunks_exact(size).zip(af.chunks(block)) {
        let s = blocks::super_ints(ty, wb).unwrap();
        for (e, &a) in ab.iter().enumerate() {
            let k = e / 16;
            let parts = (s.d * s.scales[k] as f32 * s.q[e] as f32).abs()
                + (s.dmin * s.mins[k] as f32).abs();
            mag += parts as f64 * a.abs() as f64;
        }
    }
    mag
}

fn assert_k_file_close(ty: GgmlType, w: &[u8], acts: &QuantActs, t: usize, got: f32, what: &str) {
    let want = dot_scalar(ty, w, acts.row(t));
    let cols = acts.cols;
    let mag = k_file_magnitude(ty, w, acts, t);
    let bound = (2 * (cols / QK) + 8) as f64 * f32::EPSILON as f64 * mag;
    assert!(got.is_finite(), "{what}: {ty} cols {cols}: got {got}");
    assert!(
        ((got - want) as f64).abs() <= bound,
        "{what}: {ty} cols {cols}: got {got}, scalar {want}, bound {bound}"
    );
}

#[test]
fn k_file_formats_exact_dots_pick_each_weight_bit_for_bit() {
    let mut rng = Rng(20);
    for ty in K_FILE_TYPES {
        let block = ty.block_layout().unwrap().0;
        for (what, w) in k_file_rows(&mut rng, ty, 2) {
            let cols = 2 * block;
            let wf = dequantized(ty, &w, cols);
            for i in [
                0,
                1,
                15,
                16,
                17,
                31,
                32,
                63,
                64,
                100,
                127,
                128,
                200,
                cols - 1,
            ] {
                if i >= cols {
                    continue;
                }
                let mut a = vec![0.0; cols];
                a[i] = 1.0;
                assert_eq!(
                    dot_exact_scalar(ty, &w, &a),
                    wf[i],
                    "{ty} {what} element {i}"
                );
                // Equal as numbers: a sum that starts at +0 turns a −0 weight into +0.
                assert_eq!(dot_exact(ty, &w, &a), wf[i], "{ty} {what} element {i}");
            }
        }
    }
}

#[test]
fn k_file_formats_exact_dots_and_matmuls_match_f64() {
    let mut rng = Rng(21);
    for ty in K_FILE_TYPES {
        let block = ty.block_layout().unwrap().0;
        for nb in k_file_lengths(ty) {
            let cols = nb * block;
            for (what, w) in k_file_rows(&mut rng, ty, nb) {
                for a in [rng.vec(cols, 1.0), rng.vec(cols, 1e30)] {
                    assert_exact(ty, &w, &a, dot_exact(ty, &w, &a), what);
                }
            }
        }
        let (cols, n_rows) = (2 * block.max(3 * QK), 5);
        let nb = cols / block;
        let w: Vec<u8> = (0..n_rows)
            .flat_map(|_| blocks::random_blocks(ty, nb, 0.5, || rng.next()).unwrap())
            .collect();
        let rb = w.len() / n_rows;
        for n in 1..=5 {
            let x = rng.vec(n * cols, 2.0);
            let mut acts = QuantActs::default();
            acts.set_f32(&x, n, cols);
            let mut out = vec![f32::NAN; n_rows * n];
            matmul(ty, &w, &acts, &mut out);
            for r in 0..n_rows {
                for t in 0..n {
                    let (wr, a) = (&w[r * rb..(r + 1) * rb], &x[t * cols..(t + 1) * cols]);
                    assert_eq!(
                        out[r * n + t],
                        dot_exact(ty, wr, a),
                        "{ty} r {r} t {t} n {n}"
                    );
                    assert_exact(ty, wr, a, out[r * n + t], "matmul");
                }
            }
        }
    }
}

#[test]
fn k_file_formats_q8_dots_and_matmuls_match_scalar() {
    let mut rng = Rng(22);
    for ty in K_FILE_TYPES {
        let block = ty.block_layout().unwrap().0;
        for nb in k_file_lengths(ty) {
            let cols = nb * block;
            for (what, w) in k_file_rows(&mut rng, ty, nb) {
                let alt: Vec<f32> = (0..cols)
                    .map(|i| if i % 3 == 0 { -100.0 } else { 100.0 })
                    .collect();
                for a in [rng.vec(cols, 3.0), alt, vec![0.0; cols]] {
                    let acts = acts_of(&a, 1, ty);
                    assert_eq!(acts.ty, blocks::vec_dot_type(ty));
                    let got = dot(ty, &w, acts.row(0));
                    assert_k_file_close(ty, &w, &acts, 0, got, what);
                }
            }
        }
        let (cols, n_rows) = (2 * block.max(3 * QK), 5);
        let nb = cols / block;
        let w: Vec<u8> = (0..n_rows)
            .flat_map(|_| blocks::random_blocks(ty, nb, 0.5, || rng.next()).unwrap())
            .collect();
        let rb = w.len() / n_rows;
        for n in 1..=5 {
            let acts = acts_of(&rng.vec(n * cols, 2.0), n, ty);
            let mut out = vec![f32::NAN; n_rows * n];
            matmul(ty, &w, &acts, &mut out);
            for r in 0..n_rows {
                let wr = &w[r * rb..(r + 1) * rb];
                for t in 0..n {
                    assert_eq!(out[r * n + t], dot(ty, wr, acts.row(t)), "{ty} r {r} t {t}");
                    assert_k_file_close(ty, wr, &acts, t, out[r * n + t], "matmul");
                }
            }
        }
    }
}

/// The AVX2 and AVX-512 exact tiles by name (the dispatch above tests only the best).
#[cfg(target_arch = "x86_64")]
#[test]
fn k_file_formats_exact_avx2_and_avx512_tiles_match_f64() {
    if isa() != Isa::Avx2 {
        return;
    }
    let levels: &[bool] = if isa::has_avx512() {
        &[false, true]
    } else {
        &[false]
    };
    let mut rng = Rng(23);
    for &avx512 in levels {
        for ty in K_FILE_TYPES {
            let block = ty.block_layout().unwrap().0;
            for nb in k_file_lengths(ty) {
                let cols = nb * block;
                for (what, w) in k_file_rows(&mut rng, ty, nb) {
                    let a = rng.vec(cols, 1.0);
                    // SAFETY: isa() checked AVX2, FMA and F16C; `levels` checked AVX-512F.
                    let got = unsafe { x86::dot_exact_with(ty, &w, &a, avx512) };
                    assert_exact(ty, &w, &a, got, what);
                    let mut one_hot = vec![0.0; cols];
                    one_hot[cols - 1] = 1.0;
                    let wf = dequantized(ty, &w, cols);
                    // SAFETY: as above.
                    let got = unsafe { x86::dot_exact_with(ty, &w, &one_hot, avx512) };
                    assert_eq!(got, wf[cols - 1], "{ty} {what}");
                }
            }
            let cols = 2 * block.max(3 * QK);
            let n_rows = 6;
            let w: Vec<u8> = (0..n_rows)
                .flat_map(|_| blocks::random_blocks(ty, cols / block, 0.5, || rng.next()).unwrap())
                .collect();
            let rb = w.len() / n_rows;
            for n in 1..=5 {
                let x = rng.vec(n * cols, 1.0);
                let mut acts = QuantActs::default();
                acts.set_f32(&x, n, cols);
                let mut out = vec![f32::NAN; n_rows * n];
                // SAFETY: as above.
                unsafe { x86::matmul_exact_with(ty, &w, &acts, &mut out, avx512) };
                for r in 0..n_rows {
                    for t in 0..n {
                        let (wr, a) = (&w[r * rb..(r + 1) * rb], &x[t * cols..(t + 1) * cols]);
                        // SAFETY: as above.
                        let single = unsafe { x86::dot_exact_with(ty, wr, a, avx512) };
                        assert_eq!(out[r * n + t], single, "{ty} avx512 {avx512} r {r} t {t}");
                        assert_exact(ty, wr, a, single, "tiles");
                    }
                }
            }
        }
    }
}
