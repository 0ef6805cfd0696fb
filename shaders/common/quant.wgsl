// Weight formats as the GPU holds them: each GGUF tensor repacked at load into u32 words of quants
// (`quants`) and f32 block scales (`scales`), because WGSL storage arrays have 4-byte elements while
// GGUF's blocks are 18 (Q4_0), 20 (Q4_1) and 34 (Q8_0) bytes. The repacking is
// crates/gpu/src/weights.rs; the quants keep their GGUF bit layout, only the scales move out.
//
//   type  words per 32 elements  scales per block   element value
//   Q4_0  4                      d                  (nibble - 8) · d, byte j: low = elem j, high = elem j+16
//   Q4_1  4                      d, m (interleaved) nibble · d + m, same nibble order as Q4_0
//   Q8_0  8                      d                  int8 · d, byte j = elem j
//   F16   16                     none               two halves per word, low half first
//   BF16  16                     none               two bfloat16 per word, low first
//   F32   32                     none               the f32 bits
//
// Scales are stored as `st`, which the host declares before this file (crates/gpu/src/formats.rs,
// `Arithmetic`): `alias st = f32;` (GGUF's f16 scales widened at load), or, where the adapter has
// shader-f16, `enable f16; alias st = f16;` (GGUF's scales as they are, half the bytes, loaded
// natively). Kernels widen a scale to f32 before using it, so both give the same values: all
// dequantization, products and sums are f32, as in llama.cpp's WebGPU backend. (Dequantizing in
// f16 was measured: KL up to 9.8e-5 nats per step against the CPU backend on the default model,
// too close to the 1e-4 bound.)

const QK: u32 = 32u; // elements per block of every quantized type

// The eight nibbles of a Q4 quant word as two vec4s: elements 4j..4j+3 (low nibbles of the four
// bytes) and elements 16+4j..16+4j+3 (high nibbles), where j is the word's index in its block.
fn q4_low(q: u32) -> vec4<f32> {
    return vec4<f32>(vec4<u32>(q, q >> 8u, q >> 16u, q >> 24u) & vec4<u32>(0xfu));
}

fn q4_high(q: u32) -> vec4<f32> {
    return vec4<f32>(vec4<u32>(q >> 4u, q >> 12u, q >> 20u, q >> 28u) & vec4<u32>(0xfu));
}

// The four signed bytes of a Q8_0 quant word, in element order.
fn q8_word(q: u32) -> vec4<f32> {
    let s = bitcast<i32>(q);
    return vec4<f32>(f32(extractBits(s, 0u, 8u)), f32(extractBits(s, 8u, 8u)),
                     f32(extractBits(s, 16u, 8u)), f32(extractBits(s, 24u, 8u)));
}

// Two F16 words (four elements) as f32.
fn f16_words(a: u32, b: u32) -> vec4<f32> {
    return vec4<f32>(unpack2x16float(a), unpack2x16float(b));
}

// Two BF16 words (four elements) as f32: a bfloat16 is the high half of an f32.
fn bf16_words(a: u32, b: u32) -> vec4<f32> {
    return vec4<f32>(bitcast<f32>(a << 16u), bitcast<f32>(a & 0xffff0000u),
                     bitcast<f32>(b << 16u), bitcast<f32>(b & 0xffff0000u));
}

// Four F32 words as f32.
fn f32_words(a: u32, b: u32, c: u32, d: u32) -> vec4<f32> {
    return bitcast<vec4<f32>>(vec4<u32>(a, b, c, d));
}
