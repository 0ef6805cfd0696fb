// Q3_K as whole GGUF blocks (common/blocks.wgsl): 256 elements in 110 bytes, hmask[32] qs[64]
// scales[12] d (f16). Element i: d · sc · (q − 4 · (1 − h)), q as in Q2_K, h bit
// 4 · (i / 128) + (i % 128) / 32 of hmask[i % 32], sc the six-bit scale i / 16 (low nibble from
// scales[0..8], top two bits from scales[8..12]) minus 32. Bit-for-bit the values of
// crates/gguf's decoder (ggml's dequantize_row_q3_K).

fn dq4_q3_k(at: RowAt, e: u32) -> vec4<f32> {
    let o = e / 256u * 110u;
    let i = e % 256u;
    let k = i / 16u;
    let low = (b_byte(at, o + 96u + k % 8u) >> (4u * (k / 8u))) & 0xfu;
    let high = (b_byte(at, o + 104u + k % 4u) >> (2u * (k / 4u))) & 3u;
    let dl = b_f16(at, o + 108u) * f32(i32(low | (high << 4u)) - 32);
    let half = i / 128u;
    let j = (i % 128u) / 32u;
    let l = i % 32u;
    let q = vec4<i32>(bytes_masked(b_u32(at, o + 32u + 32u * half + l) >> (2u * j), 3u));
    let h = vec4<i32>(bytes_masked(b_u32(at, o + l) >> (4u * half + j), 1u));
    return dl * vec4<f32>(q - 4 * (vec4<i32>(1) - h));
}
