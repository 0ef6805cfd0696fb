// Q4_K and Q5_K as whole GGUF blocks (common/blocks.wgsl): 256 elements in eight sub-blocks of
// 32, each d · sc · q − dmin · m with six-bit sc and m packed in 12 bytes (k_scale_min).
//   Q4_K  144 bytes: d dmin (f16) scales[12] qs[128]
//   Q5_K  176 bytes: d dmin (f16) scales[12] qh[32] qs[128]
// Sub-blocks 2c and 2c + 1 take the low and high nibbles of qs[32c .. 32c + 32]; Q5_K's fifth
// bit of element l of sub-block s is bit s of qh[l]. Bit-for-bit the values of crates/gguf's
// decoders (ggml's dequantize_row_q4_K, dequantize_row_q5_K).

// The scale and minimum of sub-block j, from the 12 scale bytes at `o`: the first four in the low
// six bits of bytes 0..8, the last four from nibbles of bytes 8..12 with their top two bits from
// the spare bits of bytes 0..8.
fn k_scale_min(at: RowAt, o: u32, j: u32) -> vec2<f32> {
    if (j < 4u) {
        return vec2<f32>(f32(b_byte(at, o + j) & 63u), f32(b_byte(at, o + j + 4u) & 63u));
    }
    let packed = b_byte(at, o + j + 4u);
    let sc = (packed & 0xfu) | ((b_byte(at, o + j - 4u) >> 6u) << 4u);
    let m = (packed >> 4u) | ((b_byte(at, o + j) >> 6u) << 4u);
    return vec2<f32>(f32(sc), f32(m));
}

// d · sc and dmin · m of the sub-block of element i of the block at `o`.
fn k_sub_scales(at: RowAt, o: u32, i: u32) -> vec2<f32> {
    let sm = k_scale_min(at, o + 4u, i / 32u);
    return vec2<f32>(b_f16(at, o) * sm.x, b_f16(at, o + 2u) * sm.y);
}

fn dq4_q4_k(at: RowAt, e: u32) -> vec4<f32> {
    let o = e / 256u * 144u;
    let i = e % 256u;
    let s = k_sub_scales(at, o, i);
    let sub = i / 32u;
    let qs = b_u32(at, o + 16u + 32u * (sub / 2u) + i % 32u) >> (4u * (sub % 2u));
    return s.x * vec4<f32>(bytes_masked(qs, 0xfu)) - s.y;
}

fn dq4_q5_k(at: RowAt, e: u32) -> vec4<f32> {
    let o = e / 256u * 176u;
    let i = e % 256u;
    let s = k_sub_scales(at, o, i);
    let sub = i / 32u;
    let l = i % 32u;
    let qs = b_u32(at, o + 48u + 32u * (sub / 2u) + l) >> (4u * (sub % 2u));
    let high = bytes_masked(b_u32(at, o + 16u + l) >> sub, 1u) << vec4<u32>(4u);
    return s.x * vec4<f32>(bytes_masked(qs, 0xfu) | high) - s.y;
}
