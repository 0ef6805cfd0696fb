// Q2_K as whole GGUF blocks (common/blocks.wgsl): 256 elements in 84 bytes, scales[16] qs[64]
// d dmin (f16). Element i: d · (sc & 15) · q − dmin · (sc >> 4), sc = scales[i / 16], q the
// 2-bit field 2 · ((i % 128) / 32) of qs[32 · (i / 128) + i % 32]. Bit-for-bit the values of
// crates/gguf's decoder (ggml's dequantize_row_q2_K).

fn dq4_q2_k(at: RowAt, e: u32) -> vec4<f32> {
    let o = e / 256u * 84u;
    let i = e % 256u;
    let sc = b_byte(at, o + i / 16u);
    let dl = b_f16(at, o + 80u) * f32(sc & 0xfu);
    let ml = b_f16(at, o + 82u) * f32(sc >> 4u);
    let qs = b_u32(at, o + 16u + 32u * (i / 128u) + i % 32u) >> (2u * ((i % 128u) / 32u));
    return dl * vec4<f32>(bytes_masked(qs, 3u)) - ml;
}
