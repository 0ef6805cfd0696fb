// Q6_K as whole GGUF blocks (common/blocks.wgsl): 256 elements in 210 bytes, ql[128] qh[64]
// scales[16] (signed bytes) d (f16). In each 128-element half h, quarter k takes nibble k / 2 of
// ql[64h + 32 · (k % 2) + l] and bit pair k of qh[32h + l] as its low and high bits; element i is
// d · scales[i / 16] · (q − 32). Bit-for-bit the values of crates/gguf's decoder (ggml's
// dequantize_row_q6_K).

fn dq4_q6_k(at: RowAt, e: u32) -> vec4<f32> {
    let o = e / 256u * 210u;
    let i = e % 256u;
    let h = i / 128u;
    let k = (i % 128u) / 32u;
    let l = i % 32u;
    let low = bytes_masked(b_u32(at, o + 64u * h + 32u * (k % 2u) + l) >> (4u * (k / 2u)), 0xfu);
    let high = bytes_masked(b_u32(at, o + 128u + 32u * h + l) >> (2u * k), 3u);
    let q = vec4<i32>(low | (high << vec4<u32>(4u))) - vec4<i32>(32);
    let sc = f32(extractBits(bitcast<i32>(b_byte(at, o + 192u + i / 16u)), 0u, 8u));
    return (b_f16(at, o + 208u) * sc) * vec4<f32>(q);
}
