//! Matrix products straight from the GGUF blocks, never expanding a weight tensor to f32 in memory.
//! Two paths, chosen by the activations' type ([`QuantActs`]):
//!
//! - exact (f32 activations, [`QuantActs::set_f32`]): each weight block is dequantized in registers
//!   (`d·q`, `d·(q−8)`, `d·q + m`, or the float value) and multiplied with the f32 activations,
//!   summed in f32: llama.cpp's f32 arithmetic on the file's dequantized weights, up to the order
//!   of the sum. The default of the CPU backend.
//! - fast (8-bit activations, [`QuantActs::quantize`]), as llama.cpp's CPU backend does it:
//!   activations are quantized to the weight type's dot format (Q8_0, Q8_1, F16, ...) once, then
//!   integer dot products per block. On small models this rounding moves log-probabilities by up
//!   to ~1 nat against any other implementation.
//!
//! The scalar path (tokscope-gguf's reference dot products) is always compiled; SIMD paths are
//! picked at run time natively (AVX2+FMA+F16C, detected once) and at compile time under wasm
//! (simd128). One file per architecture: `avx2.rs`, `simd128.rs`, plus `avx512.rs`: sixteen-lane
//! exact tiles for the block formats, used by `avx2.rs` when the CPU has AVX-512F.

use tokscope_gguf::GgmlType;
use tokscope_gguf::blocks::{self, BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, QK};

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128;
#[cfg(test)]
mod tests;

/// The instruction set the kernels run with on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// The reference code of tokscope-gguf.
    Scalar,
    /// x86_64 AVX2 with FMA and F16C.
    Avx2,
    /// wasm32 simd128 (chosen when compiled with `-C target-feature=+simd128`).
    Simd128,
}

impl Isa {
    /// Short lowercase name, for logs and benchmark labels.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Simd128 => "simd128",
        }
    }
}

/// What the kernels run with, for logs and `describe`: the instruction set, and on x86_64
/// whether the exact tiles use AVX-512F.
pub fn isa_label() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if isa() == Isa::Avx2 && avx2::has_avx512() {
        return "avx2+avx512f";
    }
    isa().name()
}

/// The best instruction set available, detected once (natively) and cached.
pub fn isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        static ISA: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *ISA.get_or_init(|| {
            if is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("f16c")
            {
                Isa::Avx2
            } else {
                Isa::Scalar
            }
        })
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        Isa::Simd128
    }
    #[cfg(not(any(
        target_arch = "x86_64",
        all(target_arch = "wasm32", target_feature = "simd128")
    )))]
    {
        Isa::Scalar
    }
}

/// `n` activation rows of `cols` values, either quantized to the format a weight type is dotted
/// with ([`QuantActs::quantize`], llama.cpp's fast path) or kept in f32 ([`QuantActs::set_f32`],
/// the exact path: every weight type is then dequantized block by block in registers).
#[derive(Clone, Debug, Default)]
pub struct QuantActs {
    /// The dot format (see [`blocks::vec_dot_type`]), not the weight type; F32 after `set_f32`.
    pub ty: Option<GgmlType>,
    pub n: usize,
    pub cols: usize,
    /// Quantized rows, `row_bytes()` bytes each (unused when `ty` is F32).
    data: Vec<u8>,
    /// F32 rows, `cols` values each (used only when `ty` is F32), aligned for vector loads.
    f32s: Vec<f32>,
}

impl QuantActs {
    /// Bytes of one quantized row.
    pub fn row_bytes(&self) -> usize {
        self.ty
            .and_then(|t| t.bytes_for(self.cols as u64))
            .unwrap_or(0) as usize
    }

    /// The quantized row `t` (little-endian f32 bytes when `ty` is F32).
    pub fn row(&self, t: usize) -> &[u8] {
        if self.ty == Some(GgmlType::F32) {
            return bytemuck::cast_slice(self.row_f32(t));
        }
        let rb = self.row_bytes();
        &self.data[t * rb..(t + 1) * rb]
    }

    /// The f32 row `t`; empty unless `ty` is F32.
    pub fn row_f32(&self, t: usize) -> &[f32] {
        if self.ty != Some(GgmlType::F32) {
            return &[];
        }
        &self.f32s[t * self.cols..(t + 1) * self.cols]
    }

    /// Quantizes `x` (`n` rows of `cols`) for dotting with weights of type `weight`, reusing the buffer.
    pub fn quantize(&mut self, x: &[f32], n: usize, cols: usize, weight: GgmlType) {
        let ty = blocks::vec_dot_type(weight).expect("weight type checked at load");
        if ty == GgmlType::F32 {
            return self.set_f32(x, n, cols);
        }
        assert_eq!(x.len(), n * cols, "activation shape");
        self.ty = Some(ty);
        self.n = n;
        self.cols = cols;
        let rb = self.row_bytes();
        self.data.resize(n * rb, 0);
        for (src, dst) in x.chunks_exact(cols).zip(self.data.chunks_exact_mut(rb)) {
            quantize_row(ty, src, dst);
        }
    }

    /// Keeps `x` (`n` rows of `cols`) in f32, reusing the buffer: [`matmul`] then takes the exact
    /// path for every weight type (f32 products of the dequantized weights, f32 sums).
    pub fn set_f32(&mut self, x: &[f32], n: usize, cols: usize) {
        assert_eq!(x.len(), n * cols, "activation shape");
        self.ty = Some(GgmlType::F32);
        self.n = n;
        self.cols = cols;
        self.f32s.clear();
        self.f32s.extend_from_slice(x);
    }
}

/// Quantizes one row to the dot format `ty` (bit-identical on every path).
fn quantize_row(ty: GgmlType, src: &[f32], dst: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    if isa() == Isa::Avx2 {
        // SAFETY: isa() checked AVX2, FMA and F16C.
        match ty {
            GgmlType::Q8_0 => {
                return unsafe { avx2::quantize_row_q8_0(src, bytemuck::cast_slice_mut(dst)) };
            }
            GgmlType::Q8_1 => {
                return unsafe { avx2::quantize_row_q8_1(src, bytemuck::cast_slice_mut(dst)) };
            }
            _ => {}
        }
    }
    quantize_row_scalar(ty, src, dst)
}

/// Quantizes one row to the dot format `ty` with the reference code.
pub fn quantize_row_scalar(ty: GgmlType, src: &[f32], dst: &mut [u8]) {
    match ty {
        GgmlType::Q8_0 => blocks::quantize_row_q8_0(src, bytemuck::cast_slice_mut(dst)),
        GgmlType::Q8_1 => blocks::quantize_row_q8_1(src, bytemuck::cast_slice_mut(dst)),
        GgmlType::F32 => {
            for (v, d) in src.iter().zip(dst.chunks_exact_mut(4)) {
                d.copy_from_slice(&v.to_le_bytes());
            }
        }
        _ => {
            let q = blocks::quantize_row(ty, src).expect("dot formats are quantizable");
            dst.copy_from_slice(&q);
        }
    }
}

/// `out[r * acts.n + t] = dot(weight row r, activation row t)` for every row in `rows`
/// (`out.len() / acts.n` rows of type `ty` with `acts.cols` columns, row-major blocks), with the
/// fastest kernels of this machine ([`isa`]).
///
/// F32 activations ([`QuantActs::set_f32`]) take the exact kernels (`dot_exact`) for every
/// weight type; quantized ones the integer dot products of their format.
///
/// # Panics
/// If `acts.n == 0` or the shapes disagree (a caller bug).
pub fn matmul(ty: GgmlType, rows: &[u8], acts: &QuantActs, out: &mut [f32]) {
    if acts.ty == Some(GgmlType::F32) {
        return matmul_exact(ty, rows, acts, out);
    }
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: isa() checked AVX2, FMA and F16C.
        Isa::Avx2 => unsafe { avx2::matmul(ty, rows, acts, out) },
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Isa::Simd128 => simd128::matmul(ty, rows, acts, out),
        _ => matmul_scalar(ty, rows, acts, out),
    }
}

/// One weight row dotted with one quantized activation row, by the fastest kernel of this machine.
pub fn dot(ty: GgmlType, w: &[u8], a: &[u8]) -> f32 {
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: isa() checked AVX2, FMA and F16C.
        Isa::Avx2 => unsafe { avx2::dot(ty, w, a) },
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Isa::Simd128 => simd128::dot(ty, w, a),
        _ => dot_scalar(ty, w, a),
    }
}

/// [`matmul`] by the reference code, row by row (the oracle of the SIMD paths).
pub fn matmul_scalar(ty: GgmlType, rows: &[u8], acts: &QuantActs, out: &mut [f32]) {
    let exact = acts.ty == Some(GgmlType::F32);
    let n = acts.n;
    let n_rows = out.len() / n;
    let rb = rows.len() / n_rows;
    for (r, out_r) in out.chunks_exact_mut(n).enumerate() {
        let w = &rows[r * rb..(r + 1) * rb];
        for (t, o) in out_r.iter_mut().enumerate() {
            *o = if exact {
                dot_exact_scalar(ty, w, acts.row_f32(t))
            } else {
                dot_scalar(ty, w, acts.row(t))
            };
        }
    }
}

/// [`matmul`] with f32 activations, by the fastest exact kernels of this machine.
fn matmul_exact(ty: GgmlType, rows: &[u8], acts: &QuantActs, out: &mut [f32]) {
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: isa() checked AVX2, FMA and F16C.
        Isa::Avx2 => unsafe { avx2::matmul_exact(ty, rows, acts, out) },
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Isa::Simd128 => simd128::matmul_exact(ty, rows, acts, out),
        _ => matmul_scalar(ty, rows, acts, out),
    }
}

/// One weight row of type `ty` dotted with one f32 activation row, by the fastest exact kernel of
/// this machine: `Σ w_i·a_i` of the dequantized weights, summed in f32.
pub fn dot_exact(ty: GgmlType, w: &[u8], a: &[f32]) -> f32 {
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: isa() checked AVX2, FMA and F16C.
        Isa::Avx2 => unsafe { avx2::dot_exact(ty, w, a) },
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Isa::Simd128 => simd128::dot_exact(ty, w, a),
        _ => dot_exact_scalar(ty, w, a),
    }
}

/// The reference of [`dot_exact`]: each block of 32 weights dequantized by
/// [`blocks::dequantize_row`] (`d·q` for Q8_0, `d·(q−8)` for Q4_0, `d·q + m` for Q4_1, the value
/// for F16/BF16/F32), then `s += w_i·a_i` in element order, in f32.
///
/// # Panics
/// If `w` is not the encoding of `a.len()` values of type `ty` (a caller bug).
pub fn dot_exact_scalar(ty: GgmlType, w: &[u8], a: &[f32]) -> f32 {
    let Some(chunk_bytes) = ty.bytes_for(QK as u64).filter(|&b| b > 0) else {
        unreachable!("weight type {ty} is refused at load")
    };
    assert_eq!(
        ty.bytes_for(a.len() as u64),
        Some(w.len() as u64),
        "weight row of {ty} does not hold {} values",
        a.len()
    );
    let mut buf = [0.0f32; QK];
    let mut s = 0.0f32;
    // Float rows may end in a partial chunk; block rows never do (bytes_for checked it).
    for (wc, ac) in w.chunks(chunk_bytes as usize).zip(a.chunks(QK)) {
        let wf = &mut buf[..ac.len()];
        blocks::dequantize_row(ty, wc, wf).expect("weight type checked at load");
        for (x, y) in wf.iter().zip(ac) {
            s += x * y;
        }
    }
    s
}

/// One weight row dotted with one quantized activation row, by the reference code.
pub fn dot_scalar(ty: GgmlType, w: &[u8], a: &[u8]) -> f32 {
    match ty {
        GgmlType::Q4_0 => blocks::vec_dot_q4_0_q8_0(
            bytemuck::cast_slice::<u8, BlockQ4_0>(w),
            bytemuck::cast_slice::<u8, BlockQ8_0>(a),
        ),
        GgmlType::Q4_1 => blocks::vec_dot_q4_1_q8_1(
            bytemuck::cast_slice::<u8, BlockQ4_1>(w),
            bytemuck::cast_slice::<u8, BlockQ8_1>(a),
        ),
        GgmlType::Q8_0 => blocks::vec_dot_q8_0_q8_0(
            bytemuck::cast_slice::<u8, BlockQ8_0>(w),
            bytemuck::cast_slice::<u8, BlockQ8_0>(a),
        ),
        GgmlType::F16 => blocks::vec_dot_f16_f16(bytemuck::cast_slice(w), bytemuck::cast_slice(a)),
        GgmlType::F32 => {
            let mut s = 0.0f32;
            for (x, y) in w.chunks_exact(4).zip(a.chunks_exact(4)) {
                s += f32::from_le_bytes(x.try_into().unwrap())
                    * f32::from_le_bytes(y.try_into().unwrap());
            }
            s
        }
        GgmlType::BF16 => {
            let mut s = 0.0f32;
            for (x, y) in w.chunks_exact(2).zip(a.chunks_exact(2)) {
                s +=
                    blocks::bf16_bits_to_f32([x[0], x[1]]) * blocks::bf16_bits_to_f32([y[0], y[1]]);
            }
            s
        }
        other => unreachable!("weight type {other} is refused at load"),
    }
}
