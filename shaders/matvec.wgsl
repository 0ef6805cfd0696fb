// matvec_<type>: Y = X · Wᵀ for the step's tokens, one weight matrix held in its quantized form,
// dequantized in registers, f32 accumulation (the projections and the LM head; one token when
// decoding, a batch in prefill).
//
// Bindings (group 0):
//   0  quants  read        array<u32>        the weight's quant words, row-major (common/quant.wgsl)
//   1  scales  read        array<st>         block scales (Q4_1: d, m pairs), f32 or f16
//                                            (common/quant.wgsl); a dummy for F16/BF16/F32
//   2  x       read        array<vec4<f32>>  the inputs, [token][cols] (mv.swiglu: the gate/up
//                                            buffer, gate [token][cols] from 0, up from up_base;
//                                            mv.attn_head_dim: attention's chunks, combined)
//   3  y       read_write  array<f32>        the outputs, [token][y_stride]; row r of token t goes
//                                            to y[t · y_stride + y_offset + r]
//   4  mv      uniform     MatvecParams
//   5  batch   uniform     Batch             tokens in this step, the first one's position
//   6  nw      read        array<vec4<f32>>  the folded RMSNorm's weights (mv.norm; else a dummy)
// Variants (same bindings and per-unit arithmetic; the host picks one per adapter):
//   matvec_<type>          one workgroup per (row, token): rows = x + y · num_workgroups.x (the
//                          host folds more than 65535 rows into y), token = z; WG invocations
//                          (common/reduce.wgsl) stride over the row's units, then a
//                          workgroup-memory sum. For GPUs.
//   matvec_<type>_rowwise  one invocation per RW_GROUPS row groups of RW_LANES rows and tile of
//                          TILE tokens: ceil(rows / (RW_LANES · RW_GROUPS)) · RW_LANES invocations
//                          in x (WG per workgroup), ceil(n_tokens / TILE) workgroups in z. Reads
//                          the lane-interleaved layout below; no barriers. For adapters that run
//                          on the CPU (lavapipe, SwiftShader), where a barrier costs a coroutine
//                          switch per SIMD lane group.
// The rowwise layout (crates/gpu/src/weights.rs, `interleave`): rows in groups of RW_LANES (the
// SIMD width of a software adapter), padded with zero rows to a multiple of RW_LANES · RW_GROUPS;
// word w of row r at ((r / RW_LANES) · words_per_row + w) · RW_LANES + r % RW_LANES, scales
// likewise. Invocation i takes lane i % RW_LANES of groups RW_GROUPS · (i / RW_LANES) + g, so
// the RW_LANES invocations of a SIMD group read adjacent words (one vector load, not a gather)
// and the same x (one broadcast load); each loop iteration reads a whole block of 32 weights.
// Invocations and workgroups past `rows` or the last token return at once. `cols` is a
// multiple of 32. Weights larger than one storage binding are split into row ranges, one
// dispatch each.
//
// A unit is the piece of a row one loop iteration handles: one quant word (Q4: 8 elements,
// Q8_0: 4) or four elements of a float type, dequantized into `Unit`.

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
    // 1: the SwiGLU folded in (the down projection): x holds gate and up, and the input is
    // silu(gate) · up, computed where it is read (as silu_mul computed it, in f32).
    swiglu: u32,
    up_base: u32,     // element of x where up starts (mv.swiglu), a multiple of 4
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
    if (mv.swiglu == 0u) {
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

// The workgroup variant, one entry point per weight type (`//{{#each type}}`: the host writes
// the region out once per type, {{T}} its suffix; crates/gpu/src/kernels.rs).
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

// ---- rowwise variants (lane-interleaved layout, see the heading) ----

// Nibble pairs of a Q4 word as f32: the low nibbles of its four bytes, and the high nibbles in
// place (16 · nibble). Converted from i32: unsigned conversion takes several instructions on
// a CPU's SIMD units (SwiftShader), signed one.
fn q4_lo(q: u32) -> vec4<f32> {
    return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(q, q >> 8u, q >> 16u, q >> 24u) & vec4<u32>(0xfu)));
}

fn q4_hi16(q: u32) -> vec4<f32> {
    return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(q, q >> 8u, q >> 16u, q >> 24u)
                                        & vec4<u32>(0xf0u)));
}

// Σ nibble · x over one Q4 block of one row: word w (at q + w · RW_LANES) holds elements 4w..4w+3
// in its low nibbles and 16+4w.. in its high ones. The high nibbles are read as 16 · nibble and
// their sum scaled by 1/16, exact in f32. Unrolled by hand: a software adapter's compiler
// may keep a loop.
fn rw_q4_sum(q: u32, xv: XBlock) -> f32 {
    let q0 = quants[q];
    let q1 = quants[q + RW_LANES];
    let q2 = quants[q + 2u * RW_LANES];
    let q3 = quants[q + 3u * RW_LANES];
    let lo = (dot(q4_lo(q0), xv.x0) + dot(q4_lo(q1), xv.x1))
           + (dot(q4_lo(q2), xv.x2) + dot(q4_lo(q3), xv.x3));
    let hi = (dot(q4_hi16(q0), xv.x4) + dot(q4_hi16(q1), xv.x5))
           + (dot(q4_hi16(q2), xv.x6) + dot(q4_hi16(q3), xv.x7));
    return lo + hi * 0.0625;
}

// The four signed bytes of a Q8_0 word by constant shifts.
fn q8_i(q: u32) -> vec4<f32> {
    let s = bitcast<i32>(q);
    return vec4<f32>(vec4<i32>(s << 24u, s << 16u, s << 8u, s) >> vec4<u32>(24u));
}

// One block's contribution to one row: `q` and `s` index the row's first quant word and scale
// of the block, `xv` the block's inputs.
fn rw_block_q4_0(q: u32, s: u32, xv: XBlock) -> f32 {
    return f32(scales[s]) * (rw_q4_sum(q, xv) - 8.0 * xv.sum);
}

fn rw_block_q4_1(q: u32, s: u32, xv: XBlock) -> f32 {
    return f32(scales[s]) * rw_q4_sum(q, xv) + f32(scales[s + RW_LANES]) * xv.sum;
}

fn rw_block_q8_0(q: u32, s: u32, xv: XBlock) -> f32 {
    let a = (dot(q8_i(quants[q]), xv.x0) + dot(q8_i(quants[q + RW_LANES]), xv.x1))
          + (dot(q8_i(quants[q + 2u * RW_LANES]), xv.x2)
             + dot(q8_i(quants[q + 3u * RW_LANES]), xv.x3));
    let b = (dot(q8_i(quants[q + 4u * RW_LANES]), xv.x4)
             + dot(q8_i(quants[q + 5u * RW_LANES]), xv.x5))
          + (dot(q8_i(quants[q + 6u * RW_LANES]), xv.x6)
             + dot(q8_i(quants[q + 7u * RW_LANES]), xv.x7));
    return f32(scales[s]) * (a + b);
}

// Float types: eight vec4s of elements per block, element k·4.. of the block from `words(q, k)`.
fn rw_f16(q: u32, k: u32) -> vec4<f32> {
    return f16_words(quants[q + 2u * k * RW_LANES], quants[q + (2u * k + 1u) * RW_LANES]);
}

fn rw_bf16(q: u32, k: u32) -> vec4<f32> {
    return bf16_words(quants[q + 2u * k * RW_LANES], quants[q + (2u * k + 1u) * RW_LANES]);
}

fn rw_f32(q: u32, k: u32) -> vec4<f32> {
    let i = q + 4u * k * RW_LANES;
    return f32_words(quants[i], quants[i + RW_LANES], quants[i + 2u * RW_LANES],
                     quants[i + 3u * RW_LANES]);
}

fn rw_block_f16(q: u32, s: u32, xv: XBlock) -> f32 {
    return ((dot(rw_f16(q, 0u), xv.x0) + dot(rw_f16(q, 1u), xv.x1))
            + (dot(rw_f16(q, 2u), xv.x2) + dot(rw_f16(q, 3u), xv.x3)))
         + ((dot(rw_f16(q, 4u), xv.x4) + dot(rw_f16(q, 5u), xv.x5))
            + (dot(rw_f16(q, 6u), xv.x6) + dot(rw_f16(q, 7u), xv.x7)));
}

fn rw_block_bf16(q: u32, s: u32, xv: XBlock) -> f32 {
    return ((dot(rw_bf16(q, 0u), xv.x0) + dot(rw_bf16(q, 1u), xv.x1))
            + (dot(rw_bf16(q, 2u), xv.x2) + dot(rw_bf16(q, 3u), xv.x3)))
         + ((dot(rw_bf16(q, 4u), xv.x4) + dot(rw_bf16(q, 5u), xv.x5))
            + (dot(rw_bf16(q, 6u), xv.x6) + dot(rw_bf16(q, 7u), xv.x7)));
}

fn rw_block_f32(q: u32, s: u32, xv: XBlock) -> f32 {
    return ((dot(rw_f32(q, 0u), xv.x0) + dot(rw_f32(q, 1u), xv.x1))
            + (dot(rw_f32(q, 2u), xv.x2) + dot(rw_f32(q, 3u), xv.x3)))
         + ((dot(rw_f32(q, 4u), xv.x4) + dot(rw_f32(q, 5u), xv.x5))
            + (dot(rw_f32(q, 6u), xv.x6) + dot(rw_f32(q, 7u), xv.x7)));
}

// The 32 inputs of one block, loaded once per block and shared by every row an invocation
// computes, and their sum (Q4's m and offset terms use it).
struct XBlock {
    x0: vec4<f32>,
    x1: vec4<f32>,
    x2: vec4<f32>,
    x3: vec4<f32>,
    x4: vec4<f32>,
    x5: vec4<f32>,
    x6: vec4<f32>,
    x7: vec4<f32>,
    sum: f32,
}

fn rw_x(xb: u32) -> XBlock {
    var v = XBlock(x_at(xb), x_at(xb + 1u), x_at(xb + 2u), x_at(xb + 3u), x_at(xb + 4u),
                   x_at(xb + 5u), x_at(xb + 6u), x_at(xb + 7u), 0.0);
    let s = (v.x0 + v.x1) + (v.x2 + v.x3) + ((v.x4 + v.x5) + (v.x6 + v.x7));
    v.sum = dot(s, vec4<f32>(1.0));
    return v;
}

// Where invocation `i`'s rows start: the first quant word and scale of its first row, and that
// row's index (its other rows follow every RW_LANES).
struct RwRows {
    q: u32,
    s: u32,
    row: u32,
}

fn rw_rows(i: u32, words_per_row: u32, scales_per_row: u32) -> RwRows {
    let group = (i / RW_LANES) * RW_GROUPS;
    let lane = i % RW_LANES;
    return RwRows(group * RW_LANES * words_per_row + lane,
                  group * RW_LANES * scales_per_row + lane,
                  group * RW_LANES + lane);
}

// Stores invocation rows' totals (rows past `rows` are padding).
fn rw_store(t: u32, rows: RwRows, acc: vec4<f32>) {
    for (var g = 0u; g < RW_GROUPS; g++) {
        let row = rows.row + g * RW_LANES;
        if (row < mv.rows) {
            store(t, row, acc[g]);
        }
    }
}

// The rowwise variant, one entry point per weight type: {{WORDS}} and {{SCALES}} are the type's
// quant words and scales per block.
//{{#each type}}
@compute @workgroup_size(WG)
fn matvec_{{T}}_rowwise(@builtin(global_invocation_id) gid: vec3<u32>) {
    let cols = mv.cols;
    let words_per_row = (cols / QK) * {{WORDS}};
    let scales_per_row = (cols / QK) * {{SCALES}};
    let rows = rw_rows(gid.x, words_per_row, scales_per_row);
    if (rows.row >= mv.rows) {
        return;
    }
    // Group g's words and scales start g · RW_LANES rows further on.
    let gq = RW_LANES * words_per_row;
    let gs = RW_LANES * scales_per_row;
    let t_end = min(gid.z * TILE + TILE, batch.n_tokens);
    for (var t = gid.z * TILE; t < t_end; t++) {
        var acc = vec4<f32>(0.0);
        var q = rows.q;
        var s = rows.s;
        for (var xb = t * (cols / 4u); xb < (t + 1u) * (cols / 4u); xb += 8u) {
            let xv = rw_x(xb);
            acc += vec4<f32>(rw_block_{{T}}(q, s, xv), rw_block_{{T}}(q + gq, s + gs, xv),
                             rw_block_{{T}}(q + 2u * gq, s + 2u * gs, xv),
                             rw_block_{{T}}(q + 3u * gq, s + 3u * gs, xv));
            q += {{WORDS}} * RW_LANES;
            s += {{SCALES}} * RW_LANES;
        }
        rw_store(t, rows, acc);
    }
}
//{{/each}}
