// embed_<type>: the step's tokens' embedding rows, dequantized into the residual stream.
//
// Bindings (group 0):
//   0  quants  read        array<u32>        one part of the embedding (row range), common/quant.wgsl
//   1  scales  read        array<st>         block scales, f32 or f16 (common/quant.wgsl); a
//                                            dummy for F16/BF16/F32
//   2  tokens  read        array<u32>        the step's token ids
//   3  out     read_write  array<vec4<f32>>  the residual stream, [token][n_embd]
//   4  p       uniform     ModelParams       n_embd
//   5  part    uniform     EmbedPart         the rows this part holds
// Dispatch: one invocation per four elements, ceil(n_embd / 4 / WG) workgroups in x, one per
// token in z; one dispatch per part, each writing the tokens whose rows it holds. Invocations
// past the row return. n_embd is a multiple of 32.

struct EmbedPart {
    first_row: u32,  // token id of the part's row 0
    rows: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> quants: array<u32>;
@group(0) @binding(1) var<storage, read> scales: array<st>;
@group(0) @binding(2) var<storage, read> tokens: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> p: ModelParams;
@group(0) @binding(5) var<uniform> part: EmbedPart;

// Test-only: 1 makes every token read its neighbour's row (id ^ 1), a stand-in for a miscompiled
// kernel that the engine's WebGPU self-check must catch (crates/gpu LoadOptions::test_wrong_embedding).
override WRONG_ROW: u32 = 0u;

// The row of token `t` in this part, or `part.rows` when another part holds it.
fn part_row(t: u32) -> u32 {
    let id = tokens[t] ^ WRONG_ROW;
    if (id < part.first_row || id - part.first_row >= part.rows) {
        return part.rows;
    }
    return id - part.first_row;
}

// Q4 layouts: quad k of a block (elements 4k..4k+3) is the low nibbles of word k for k < 4, else
// the high nibbles of word k - 4.
fn q4_quad(row: u32, i: u32) -> vec4<f32> {
    let block = i / 8u;
    let k = i % 8u;
    let q = quants[row * (p.n_embd / 8u) + block * 4u + k % 4u];
    if (k < 4u) {
        return q4_low(q);
    }
    return q4_high(q);
}

// Four elements (vec4 `i` of the row) of row `row` of each type, dequantized.
fn quad_q4_0(row: u32, i: u32) -> vec4<f32> {
    return (q4_quad(row, i) - 8.0) * f32(scales[row * (p.n_embd / QK) + i / 8u]);
}

fn quad_q4_1(row: u32, i: u32) -> vec4<f32> {
    let b = row * (p.n_embd / QK) + i / 8u;
    return q4_quad(row, i) * f32(scales[2u * b]) + f32(scales[2u * b + 1u]);
}

fn quad_q8_0(row: u32, i: u32) -> vec4<f32> {
    let d = f32(scales[row * (p.n_embd / QK) + i / 8u]);
    return q8_word(quants[row * (p.n_embd / 4u) + i]) * d;
}

fn quad_f16(row: u32, i: u32) -> vec4<f32> {
    let base = row * (p.n_embd / 2u) + 2u * i;
    return f16_words(quants[base], quants[base + 1u]);
}

fn quad_bf16(row: u32, i: u32) -> vec4<f32> {
    let base = row * (p.n_embd / 2u) + 2u * i;
    return bf16_words(quants[base], quants[base + 1u]);
}

fn quad_f32(row: u32, i: u32) -> vec4<f32> {
    let base = row * p.n_embd + 4u * i;
    return f32_words(quants[base], quants[base + 1u], quants[base + 2u], quants[base + 3u]);
}

// Formats held as whole blocks (common/blocks.wgsl, shaders/formats/).
//{{#each blocks}}
fn quad_{{T}}(row: u32, i: u32) -> vec4<f32> {
    return dq4_{{T}}(RowAt(row * row_words_{{T}}(p.n_embd), 0u, 1u), 4u * i);
}
//{{/each}}

// One entry point per weight type (`//{{#each type}}`: the host writes the region out once per
// type, {{T}} its suffix; crates/gpu/src/pipelines.rs).
//{{#each type}}
@compute @workgroup_size(WG)
fn embed_{{T}}(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let row = part_row(gid.z);
    if (i >= p.n_embd / 4u || row >= part.rows) {
        return;
    }
    out[gid.z * (p.n_embd / 4u) + i] = quad_{{T}}(row, i);
}
//{{/each}}
