// matvec_<type>: Y = X · Wᵀ for the step's tokens, one weight matrix held in its quantized form,
// dequantized in registers, f32 accumulation (the projections and the LM head; one token when
// decoding, a batch in prefill).
//
// Bindings (group 0):
//   0  quants  read        array<u32>        the weight's quant words, row-major (common/quant.wgsl)
//   1  scales  read        array<st>         block scales (Q4_1: d, m pairs), f32 or f16
//                                            (common/quant.wgsl); a dummy for F16/BF16/F32
//   2  x       read        array<vec4<f32>>  the inputs, [token][cols] (SWIGLU: the gate/up
//                                            buffer, gate [token][cols] from 0, up from up_base;
//                                            mv.attn_head_dim: attention's chunks, combined)
//   3  y       read_write  array<f32>        the outputs, [token][y_stride]; row r of token t goes
//                                            to y[t · y_stride + y_offset + r]
//   4  mv      uniform     MatvecParams
//   5  batch   uniform     Batch             tokens in this step, the first one's position
//   6  nw      read        array<vec4<f32>>  the folded RMSNorm's weights (mv.norm; else a dummy)
// Variants (same bindings and per-unit arithmetic; the host picks one per adapter):
//   matvec_<type>            this file: one workgroup per (row, token): rows = x + y ·
//                            num_workgroups.x (the host folds more than 65535 rows into y),
//                            token = z; WG invocations (common/reduce.wgsl) stride over the row's
//                            units, then a workgroup-memory sum. For GPUs.
//   matvec_<type>_subgroup   matvec_subgroup.wgsl: subgroup sums instead.
//   matvec_<type>_rowwise    matvec_rowwise.wgsl: each invocation computes whole rows, no
//                            barriers, for adapters that run on the CPU.
// Weights larger than one storage binding are split into row ranges, one dispatch each.
//
// A unit is the piece of a row one loop iteration handles: one quant word (Q4: 8 elements,
// Q8_0: 4), four elements of a float type or eight of a format held as whole blocks,
// dequantized into `Unit`.

struct MatvecParams {
    rows: u32,        // rows of this part of the weight
    cols: u32,        // elements per row
    y_offset: u32,    // element of a token's output row that row 0 of this part writes
    accumulate: u32,  // 1: y += W·x (residual connections); 0: y = W·x
    y_stride: u32,    // elements per token in y (all rows of the weight)
    // A stacked weight (q/k/v, gate/up: one launch for several matrices that share an input):
    // rows from seg1 (0: not stacked) and from seg2 on belong to the second and third matrix,
    // whose outputs sit in their own regions of y from base1 and base2, [token][their rows].
    // The first matrix's rows write as above with y_stride = seg1.
    seg1: u32,
    seg2: u32,
    base1: u32,
    base2: u32,
    // 1: x is the residual stream and the matvec reads rmsnorm(x) · nw, RMSNorm folded in
    // (y = (W · (x ⊙ nw)) / sqrt(mean(x²) + eps)); the workgroup and subgroup variants only.
    norm: u32,
    eps: f32,
    up_base: u32,     // with SWIGLU: element of x where up starts, a multiple of 4
    // 1: the weight is in the rowwise matvec's lane-interleaved layout (read by matmul.wgsl).
    interleaved: u32,
    // With ATTN_INPUT (the o projection where attention is split): heads of this many
    // elements, and the chunks as attention split them (common/attn_split.wgsl).
    attn_head_dim: u32,
    attn_chunk_min: u32,
    attn_max_chunks: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    _pad3: u32,
}

struct Batch {
    n_tokens: u32,
    pos: u32,  // position of the step's first token
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> quants: array<u32>;
@group(0) @binding(1) var<storage, read> scales: array<st>;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> mv: MatvecParams;
@group(0) @binding(5) var<uniform> batch: Batch;
@group(0) @binding(6) var<storage, read> nw: array<vec4<f32>>;

// A dequantized unit: up to eight weights as two vec4s, and the vec4 indices of x (within a
// token's row) they multiply. Single-vec4 types leave `b` zero.
struct Unit {
    a: vec4<f32>,
    b: vec4<f32>,
    xa: u32,
    xb: u32,
}

// Writes one output.
fn store(t: u32, row: u32, total: f32) {
    var i = t * mv.y_stride + mv.y_offset + row;
    if (mv.seg1 != 0u && row >= mv.seg1) {
        if (row >= mv.seg2) {
            i = mv.base2 + t * (mv.rows - mv.seg2) + row - mv.seg2;
        } else {
            i = mv.base1 + t * (mv.seg2 - mv.seg1) + row - mv.seg1;
        }
    }
    if (mv.accumulate != 0u) {
        y[i] = y[i] + total;
    } else {
        y[i] = total;
    }
}

// True in the down projection's pipeline: the SwiGLU folded in, x holds gate and up, and the
// input is silu(gate) · up, computed where it is read (as silu_mul computed it, in f32). A
// pipeline constant, as ATTN_INPUT below: the untaken branch cost the other matvecs 12-17% on
// SwiftShader, which runs the code of a branch no lane takes.
override SWIGLU: bool = false;

// True in the o projection's pipeline where attention is split (crates/gpu/src/backend.rs): x is
// then attention's chunks, combined by `attention_input`. A pipeline constant, so the other
// matvecs carry no trace of the combine (on SwiftShader even an untaken branch to it cost 40%).
override ATTN_INPUT: bool = false;

// Input vec4 `i` of the o projection (counted over [token][cols]): the attention output, its
// chunks' partial softmaxes (m_c, l_c, o_c) combined as Σ e^(m_c − M) o_c / Σ e^(m_c − M) l_c,
// M the largest m_c. With one chunk that is o / l.
fn attention_input(i: u32) -> vec4<f32> {
    let row4 = mv.cols / 4u;
    let t = i / row4;
    let n_head = mv.cols / mv.attn_head_dim;
    let h = (i % row4) * 4u / mv.attn_head_dim;
    let chunks = attn_chunks(batch.pos + t + 1u, batch.n_tokens, mv.attn_chunk_min,
                             mv.attn_max_chunks);
    // Chunk c's o at c · o_stride + i, its (m, l) where attn_stats_at says.
    let o_stride = batch.n_tokens * row4;
    let n = batch.n_tokens;
    let max_chunks = mv.attn_max_chunks;
    var m = NEG_MAX;
    for (var c = 0u; c < chunks; c++) {
        m = max(m, x[attn_stats_at(c, t, h, n, n_head, row4, max_chunks)].x);
    }
    var o = vec4<f32>(0.0);
    var l = 0.0;
    for (var c = 0u; c < chunks; c++) {
        let ml = x[attn_stats_at(c, t, h, n, n_head, row4, max_chunks)];
        let w = exp(ml.x - m);
        o += w * x[c * o_stride + i];
        l += w * ml.y;
    }
    return o / l;
}

// Input vec4 `i` of x (counted over [token][cols]): x itself, with the SwiGLU folded in
// silu(gate) · up, gate at `i` and up at `i + up_base / 4`, or the attention's chunks combined.
fn x_at(i: u32) -> vec4<f32> {
    if (ATTN_INPUT) {
        return attention_input(i);
    }
    let g = x[i];
    if (!SWIGLU) {
        return g;
    }
    return g / (1.0 + exp(-g)) * x[i + mv.up_base / 4u];
}

fn unit_dot(w: Unit, t: u32) -> f32 {
    let base = t * (mv.cols / 4u);
    if (mv.norm != 0u) {
        return dot(w.a, x[base + w.xa] * nw[w.xa]) + dot(w.b, x[base + w.xb] * nw[w.xb]);
    }
    return dot(w.a, x_at(base + w.xa)) + dot(w.b, x_at(base + w.xb));
}

// One invocation's part of Σ x² over token t's input: vec4s first, first + stride, ...
fn x_sq_part(t: u32, first: u32, stride: u32) -> f32 {
    let base = t * (mv.cols / 4u);
    var sq = 0.0;
    for (var i = first; i < mv.cols / 4u; i += stride) {
        let v = x[base + i];
        sq += dot(v, v);
    }
    return sq;
}

// The folded RMSNorm's 1 / sqrt(mean(x²) + eps), from the input's Σ x².
fn norm_scale(sq: f32) -> f32 {
    return 1.0 / sqrt(sq / f32(mv.cols) + mv.eps);
}

// norm_scale for token t, or 1 without a folded norm. Workgroup-wide: call from uniform control
// flow.
fn x_scale(lid: u32, t: u32) -> f32 {
    if (mv.norm == 0u) {
        return 1.0;
    }
    return norm_scale(workgroup_sum(lid, x_sq_part(t, lid, WG)));
}

// Q4_0: units per row, and unit `u` of `row` dequantized.
fn units_q4_0() -> u32 {
    return mv.cols / 8u;
}

fn unit_q4_0(row: u32, u: u32) -> Unit {
    let block = u / 4u;
    let q = quants[row * (mv.cols / 8u) + u];
    let d = f32(scales[row * (mv.cols / QK) + block]);
    let xa = block * 8u + u % 4u; // elements 32·block + 4·(u % 4) .. (low nibbles), +16 (high)
    return Unit((q4_low(q) - 8.0) * d, (q4_high(q) - 8.0) * d, xa, xa + 4u);
}


// Q4_1: units per row, and unit `u` of `row` dequantized.
fn units_q4_1() -> u32 {
    return mv.cols / 8u;
}

fn unit_q4_1(row: u32, u: u32) -> Unit {
    let block = u / 4u;
    let q = quants[row * (mv.cols / 8u) + u];
    let b = row * (mv.cols / QK) + block;
    let d = f32(scales[2u * b]);
    let m = f32(scales[2u * b + 1u]);
    let xa = block * 8u + u % 4u;
    return Unit(q4_low(q) * d + m, q4_high(q) * d + m, xa, xa + 4u);
}


// Q8_0: units per row, and unit `u` of `row` dequantized.
fn units_q8_0() -> u32 {
    return mv.cols / 4u;
}

fn unit_q8_0(row: u32, u: u32) -> Unit {
    let d = f32(scales[row * (mv.cols / QK) + u / 8u]);
    return Unit(q8_word(quants[row * (mv.cols / 4u) + u]) * d, vec4<f32>(0.0), u, u);
}


// F16: units per row, and unit `u` of `row` dequantized.
fn units_f16() -> u32 {
    return mv.cols / 4u;
}

fn unit_f16(row: u32, u: u32) -> Unit {
    let k = row * (mv.cols / 2u) + 2u * u;
    return Unit(f16_words(quants[k], quants[k + 1u]), vec4<f32>(0.0), u, u);
}


// BF16: units per row, and unit `u` of `row` dequantized.
fn units_bf16() -> u32 {
    return mv.cols / 4u;
}

fn unit_bf16(row: u32, u: u32) -> Unit {
    let k = row * (mv.cols / 2u) + 2u * u;
    return Unit(bf16_words(quants[k], quants[k + 1u]), vec4<f32>(0.0), u, u);
}


// F32: units per row, and unit `u` of `row` dequantized.
fn units_f32() -> u32 {
    return mv.cols / 4u;
}

fn unit_f32(row: u32, u: u32) -> Unit {
    let k = row * mv.cols + 4u * u;
    return Unit(f32_words(quants[k], quants[k + 1u], quants[k + 2u], quants[k + 3u]),
                vec4<f32>(0.0), u, u);
}

// Formats held as whole blocks (common/blocks.wgsl, shaders/formats/): a unit is eight
// consecutive elements, dequantized by the format's dq4.
//{{#each blocks}}
fn units_{{T}}() -> u32 {
    return mv.cols / 8u;
}

fn unit_{{T}}(row: u32, u: u32) -> Unit {
    let at = RowAt(row * row_words_{{T}}(mv.cols), 0u, 1u);
    return Unit(dq4_{{T}}(at, 8u * u), dq4_{{T}}(at, 8u * u + 4u), 2u * u, 2u * u + 1u);
}
//{{/each}}

// The workgroup variant, one entry point per weight type (`//{{#each type}}`: the host writes
// the region out once per type, {{T}} its suffix; crates/gpu/src/pipelines.rs).
//{{#each type}}
@compute @workgroup_size(WG)
fn matvec_{{T}}(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let row = wid.x + wid.y * nwg.x;
    if (row >= mv.rows) {
        return;
    }
    let scale = x_scale(lid, wid.z);
    var acc = 0.0;
    for (var u = lid; u < units_{{T}}(); u += WG) {
        acc += unit_dot(unit_{{T}}(row, u), wid.z);
    }
    let total = workgroup_sum(lid, acc);
    if (lid == 0u) {
        store(wid.z, row, total * scale);
    }
}
//{{/each}}
