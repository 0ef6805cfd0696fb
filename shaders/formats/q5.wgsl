// Q5_0 and Q5_1 as whole GGUF blocks (common/blocks.wgsl): 32 elements each, byte j of qs holding
// element j in its low nibble and j + 16 in its high one, the fifth bit of element j bit j of
// the little-endian u32 qh.
//   Q5_0  22 bytes: d (f16), qh, qs[16]         value (q - 16) · d
//   Q5_1  24 bytes: d, m (f16), qh, qs[16]      value q · d + m
// Bit-for-bit the values of crates/gguf's decoders (ggml's dequantize_row_q5_*).

// The five-bit quants of elements j .. j + 3 of a block (j a multiple of 4), from the block's qh
// and the qs bytes at `qs_at` (its start).
fn q5_quants(at: RowAt, qs_at: u32, qh: u32, j: u32) -> vec4<f32> {
    let nib = b_u32(at, qs_at + j % 16u) >> (4u * (j / 16u));
    let high = (vec4<u32>(qh >> j, qh >> (j + 1u), qh >> (j + 2u), qh >> (j + 3u)) & vec4<u32>(1u));
    return vec4<f32>(bytes_masked(nib, 0xfu) | (high << vec4<u32>(4u)));
}

fn dq4_q5_0(at: RowAt, e: u32) -> vec4<f32> {
    let o = e / 32u * 22u;
    let q = q5_quants(at, o + 6u, b_u32(at, o + 2u), e % 32u);
    return (q - 16.0) * b_f16(at, o);
}

fn dq4_q5_1(at: RowAt, e: u32) -> vec4<f32> {
    let o = e / 32u * 24u;
    let q = q5_quants(at, o + 8u, b_u32(at, o + 4u), e % 32u);
    return q * b_f16(at, o) + b_f16(at, o + 2u);
}
