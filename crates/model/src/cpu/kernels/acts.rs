//! Activation rows as the kernels take them: quantized to a weight type's dot format (the q8
//! path) or kept in f32 (the exact path).

use tokscope_gguf::GgmlType;
use tokscope_gguf::blocks;

#[cfg(target_arch = "x86_64")]
use super::avx2;
#[cfg(target_arch = "x86_64")]
use super::isa::{Isa, isa};

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

    /// Keeps `x` (`n` rows of `cols`) in f32, reusing the buffer: [`matmul`](super::matmul) then takes the exact
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
pub(super) fn quantize_row(ty: GgmlType, src: &[f32], dst: &mut [u8]) {
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
        GgmlType::Q8_K => blocks::quantize_row_q8_k(src, bytemuck::cast_slice_mut(dst)),
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
