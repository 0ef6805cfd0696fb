// IQ4_NL and IQ4_XS as whole GGUF blocks (common/blocks.wgsl): each nibble indexes a fixed table
// of 16 levels (IQ4_LEVELS, ggml's kvalues_iq4nl), times a scale; in each 32 elements, byte j of
// their 16 quant bytes holds element j in its low nibble and j + 16 in its high one.
//   IQ4_NL  18 bytes per 32 elements: d (f16) qs[16]                  value d · level
//   IQ4_XS  136 bytes per 256: d (f16) scales_h (u16) scales_l[4] qs[128], eight sub-blocks of
//           32, each d · (s − 32) · level, six-bit s from nibble sub % 2 of scales_l[sub / 2] and
//           bit pair sub of scales_h
// Bit-for-bit the values of crates/gguf's decoders (ggml's dequantize_row_iq4_nl, _iq4_xs).

// A private variable: indexed at run time (naga and Tint copy a constant array per index).
var<private> IQ4_LEVELS: array<f32, 16> = array<f32, 16>(
    -127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0,
    1.0, 13.0, 25.0, 38.0, 53.0, 69.0, 89.0, 113.0);

// The levels of elements j .. j + 3 (j a multiple of 4) of 32 whose quant bytes start at `o`.
fn iq4_levels(at: RowAt, o: u32, j: u32) -> vec4<f32> {
    let n = bytes_masked(b_u32(at, o + j % 16u) >> (4u * (j / 16u)), 0xfu);
    return vec4<f32>(IQ4_LEVELS[n.x], IQ4_LEVELS[n.y], IQ4_LEVELS[n.z], IQ4_LEVELS[n.w]);
}

fn dq4_iq4_nl(at: RowAt, e: u32) -> vec4<f32> {
    let o = e / 32u * 18u;
    return b_f16(at, o) * iq4_levels(at, o + 2u, e % 32u);
}

fn dq4_iq4_xs(at: RowAt, e: u32) -> vec4<f32> {
    let o = e / 256u * 136u;
    let sub = (e % 256u) / 32u;
    let low = (b_byte(at, o + 4u + sub / 2u) >> (4u * (sub % 2u))) & 0xfu;
    let high = (b_u32(at, o) >> (16u + 2u * sub)) & 3u;
    let dl = b_f16(at, o) * f32(i32(low | (high << 4u)) - 32);
    return dl * iq4_levels(at, o + 8u + 16u * sub, e % 32u);
}
