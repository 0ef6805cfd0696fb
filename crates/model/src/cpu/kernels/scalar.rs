//! The reference kernels: tokscope-gguf's dequantization and dot products, one row at a time.
//! The scalar path of every machine, the fallback of the SIMD paths for what they do not cover,
//! and the oracle the kernel tests compare them with.

use tokscope_gguf::GgmlType;
use tokscope_gguf::blocks::{self, BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, QK, QK_K};

use super::acts::QuantActs;

/// [`matmul`](super::matmul) by the reference code, row by row (the oracle of the SIMD paths).
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

/// The reference of [`dot_exact`](super::dot_exact): each block of weights (32 values of a float
/// format) dequantized by [`blocks::dequantize_row`] (`d·q` for Q8_0, `d·(q−8)` for Q4_0,
/// `d·q + m` for Q4_1, a super-block's 256 values for a K-quant, the value for F16/BF16/F32),
/// then `s += w_i·a_i` in element order, in f32.
///
/// # Panics
/// If `w` is not the encoding of `a.len()` values of type `ty` (a caller bug).
pub fn dot_exact_scalar(ty: GgmlType, w: &[u8], a: &[f32]) -> f32 {
    let chunk = ty.block_layout().map_or(QK, |(block, _)| block.max(QK));
    let Some(chunk_bytes) = ty.bytes_for(chunk as u64).filter(|&b| b > 0) else {
        unreachable!("weight type {ty} is refused at load")
    };
    assert_eq!(
        ty.bytes_for(a.len() as u64),
        Some(w.len() as u64),
        "weight row of {ty} does not hold {} values",
        a.len()
    );
    let mut buf = [0.0f32; QK_K];
    let mut s = 0.0f32;
    // Float rows may end in a partial chunk; block rows never do (bytes_for checked it).
    for (wc, ac) in w.chunks(chunk_bytes as usize).zip(a.chunks(chunk)) {
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
    use bytemuck::cast_slice;
    match ty {
        GgmlType::Q5_0 => blocks::vec_dot_q5_0_q8_0(cast_slice(w), cast_slice(a)),
        GgmlType::Q5_1 => blocks::vec_dot_q5_1_q8_1(cast_slice(w), cast_slice(a)),
        GgmlType::IQ4_NL => blocks::vec_dot_iq4_nl_q8_0(cast_slice(w), cast_slice(a)),
        GgmlType::Q2_K
        | GgmlType::Q3_K
        | GgmlType::Q4_K
        | GgmlType::Q5_K
        | GgmlType::Q6_K
        | GgmlType::IQ4_XS => blocks::vec_dot_super_q8_k(ty, w, cast_slice(a)),
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
