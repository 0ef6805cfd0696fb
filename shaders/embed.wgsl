// embed_<type>: the step's token embedding row, dequantized into the residual stream.
//
// Bindings (group 0):
//   0  quants  read        array<u32>        the embedding (or its part holding the token), common/quant.wgsl
//   1  scales  read        array<f32>        block scales; a dummy for F16/BF16/F32
//   2  out     read_write  array<vec4<f32>>  the residual stream, n_embd elements
//   3  p       uniform     ModelParams       token_row (row within this part), n_embd
// Dispatch: one invocation per four elements, ceil(n_embd / 4 / WG) workgroups of WG; invocations
// past the row return. n_embd is a multiple of 32.

@group(0) @binding(0) var<storage, read> quants: array<u32>;
@group(0) @binding(1) var<storage, read> scales: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> p: ModelParams;

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

@compute @workgroup_size(WG)
fn embed_q4_0(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= p.n_embd / 4u) {
        return;
    }
    let row = p.token_row;
    let d = scales[row * (p.n_embd / QK) + i / 8u];
    out[i] = (q4_quad(row, i) - 8.0) * d;
}

@compute @workgroup_size(WG)
fn embed_q4_1(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= p.n_embd / 4u) {
        return;
    }
    let row = p.token_row;
    let b = row * (p.n_embd / QK) + i / 8u;
    out[i] = q4_quad(row, i) * scales[2u * b] + scales[2u * b + 1u];
}

@compute @workgroup_size(WG)
fn embed_q8_0(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= p.n_embd / 4u) {
        return;
    }
    let row = p.token_row;
    let d = scales[row * (p.n_embd / QK) + i / 8u];
    out[i] = q8_word(quants[row * (p.n_embd / 4u) + i]) * d;
}

@compute @workgroup_size(WG)
fn embed_f16(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= p.n_embd / 4u) {
        return;
    }
    let base = p.token_row * (p.n_embd / 2u) + 2u * i;
    out[i] = f16_words(quants[base], quants[base + 1u]);
}

@compute @workgroup_size(WG)
fn embed_bf16(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= p.n_embd / 4u) {
        return;
    }
    let base = p.token_row * (p.n_embd / 2u) + 2u * i;
    out[i] = bf16_words(quants[base], quants[base + 1u]);
}

@compute @workgroup_size(WG)
fn embed_f32(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= p.n_embd / 4u) {
        return;
    }
    let base = p.token_row * p.n_embd + 4u * i;
    out[i] = f32_words(quants[base], quants[base + 1u], quants[base + 2u], quants[base + 3u]);
}
