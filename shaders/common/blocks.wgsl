// Reading a weight row wherever it sits: word w of a row at quants[at.q + w · at.step] (step 1
// row-major, RW_LANES in the rowwise matvec's lane-interleaved layout), scale k at
// scales[at.s + k · at.step]. Included in every kernel that reads weights (crates/gpu/src/
// pipelines.rs), which declares `quants: array<u32>` and `scales: array<st>`.
//
// Formats held as whole GGUF blocks (crates/gpu/src/formats.rs, `Layout::Blocks`): each row starts
// on a word boundary, its blocks back to back from there, its last word padded with zeros. A
// block is rarely 4-byte aligned (Q6_K: 210 bytes), so the readers below take byte offsets within
// the row; a format's `dq4_<T>(at, e)` (shaders/formats/) dequantizes elements e .. e + 3 (e a
// multiple of 4) of the row from them.

struct RowAt {
    q: u32,
    s: u32,
    step: u32,
}

fn w_word(at: RowAt, w: u32) -> u32 {
    return quants[at.q + w * at.step];
}

fn w_scale(at: RowAt, k: u32) -> f32 {
    return f32(scales[at.s + k * at.step]);
}

// Byte `o` of the row.
fn b_byte(at: RowAt, o: u32) -> u32 {
    return (w_word(at, o / 4u) >> (8u * (o % 4u))) & 0xffu;
}

// The four bytes from `o` (any alignment) as a little-endian u32: their first byte in its low
// bits. The row's padding keeps a read that ends inside the row inside its words.
fn b_u32(at: RowAt, o: u32) -> u32 {
    let shift = 8u * (o % 4u);
    let lo = w_word(at, o / 4u);
    if (shift == 0u) {
        return lo;
    }
    return (lo >> shift) | (w_word(at, o / 4u + 1u) << (32u - shift));
}

// The f16 at even byte offset `o`, as f32.
fn b_f16(at: RowAt, o: u32) -> f32 {
    return unpack2x16float(w_word(at, o / 4u) >> (8u * (o % 4u))).x;
}

// Each byte of `v` masked with `mask`, in byte order: four quants from one word.
fn bytes_masked(v: u32, mask: u32) -> vec4<u32> {
    return vec4<u32>(v, v >> 8u, v >> 16u, v >> 24u) & vec4<u32>(mask);
}

// u32 words per row of `cols` elements of each format (the split formats' quant words).
//{{#each split}}
fn row_words_{{T}}(cols: u32) -> u32 {
    return cols / QK * {{WORDS}};
}

fn row_scales_{{T}}(cols: u32) -> u32 {
    return cols / QK * {{SCALES}};
}
//{{/each}}
//{{#each blocks}}
fn row_words_{{T}}(cols: u32) -> u32 {
    return (cols / {{BLOCK}} * {{BYTES}} + 3u) / 4u;
}

fn row_scales_{{T}}(cols: u32) -> u32 {
    return 0u;
}
//{{/each}}
