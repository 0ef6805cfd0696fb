// matvec_<type>_rowwise: the matvec of matvec.wgsl (its bindings, params and input helpers,
// which the host places before this file) for adapters that run on the CPU (lavapipe,
// SwiftShader): each invocation computes whole rows, with no barriers (a barrier there costs a
// coroutine switch per SIMD group) and no cross-lane sums.
//
// Dispatch: one invocation per RW_GROUPS row groups of RW_LANES rows and tile of TILE tokens:
// ceil(rows / (RW_LANES · RW_GROUPS)) · RW_LANES invocations in x (WG per workgroup),
// ceil(n_tokens / TILE) workgroups in z. Invocations past `rows` and tokens past the last return
// at once, a SIMD group of RW_LANES invocations together. `cols` is a multiple of 32. Where the
// adapter has subgroups it takes batched steps too (prefill: a tile's tokens one after another),
// instead of matmul.wgsl and its barriers. (Loading each weight block once for all of a tile's
// tokens was no faster on SwiftShader: the loads overlap the arithmetic; tests/bench/README.md.)
//
// Layout (crates/gpu/src/weights.rs, `interleave`): rows in groups of RW_LANES (the SIMD width
// of a software adapter), padded with zero rows to a multiple of RW_LANES · RW_GROUPS; word w of
// row r at ((r / RW_LANES) · words_per_row + w) · RW_LANES + r % RW_LANES, scales likewise.
// Invocation i takes lane i % RW_LANES of groups RW_GROUPS · (i / RW_LANES) + g, so a SIMD
// group's loads are adjacent words; each loop iteration reads a whole block of 32 weights.
//
// Cost on SwiftShader: every storage load of a value that may differ between lanes is a gather
// of one 32-bit element per lane, whatever the addresses, so a kernel costs about one gather per
// 32-bit element it loads per SIMD group. The block's 32 inputs are the same in every lane: each
// invocation loading them all cost 73% of the matvec's time, which `rw_inputs` cuts where the
// adapter has subgroups (common/rowwise_x_subgroup.wgsl).

// SwiftShader's compiler (Subzero) shifts vectors only by a literal amount, which a SPIR-V
// shift never is there: it runs every shift lane by lane (without them the Q8_0 LM head takes a
// third of its former time). So quants are unpacked with masks and multiplies, each element read
// in place, scaled by a power of two that the inputs (rw_q4_inputs) or the block's scale undo
// exactly.

// The nibbles of a Q4 word in place: the low nibbles of its four bytes (elements 4w..4w+3 of the
// block, times 2^0, 2^8, 2^16, 2^24) and the high ones (16+4w.., times 2^4 .. 2^28), as f32
// (exact). The top nibble would be negative as an i32: it is read as nibble - 8 (bit 31
// flipped), and XBlock.top adds the 8 back.
fn q4_lo(q: u32) -> vec4<f32> {
    return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(q & 0xfu, q & 0xf00u, q & 0xf0000u,
                                                  q & 0xf000000u)));
}

fn q4_hi(q: u32) -> vec4<f32> {
    return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(q & 0xf0u, q & 0xf000u, q & 0xf00000u,
                                                  (q & 0xf0000000u) ^ 0x80000000u)));
}

// Σ nibble · x over one Q4 block of one row, from inputs scaled by rw_q4_inputs: word w (at
// q + w · RW_LANES) holds elements 4w..4w+3 in its low nibbles and 16+4w.. in its high ones.
// Unrolled by hand: a software adapter's compiler may keep a loop.
fn rw_q4_sum(q: u32, xv: XBlock) -> f32 {
    let q0 = quants[q];
    let q1 = quants[q + RW_LANES];
    let q2 = quants[q + 2u * RW_LANES];
    let q3 = quants[q + 3u * RW_LANES];
    let lo = (dot(q4_lo(q0), xv.x0) + dot(q4_lo(q1), xv.x1))
           + (dot(q4_lo(q2), xv.x2) + dot(q4_lo(q3), xv.x3));
    let hi = (dot(q4_hi(q0), xv.x4) + dot(q4_hi(q1), xv.x5))
           + (dot(q4_hi(q2), xv.x6) + dot(q4_hi(q3), xv.x7));
    return (lo + hi) + xv.top;
}

// The four signed bytes of a Q8_0 word, each moved to the top byte by a multiply and read as an
// i32: byte · 2^24, which rw_block_q8_0 undoes. (A multiply by a single power of two would
// become a shift again in SwiftShader's SPIR-V optimizer; these four differ.)
fn q8_i(q: u32) -> vec4<f32> {
    let s = vec4<i32>(bitcast<i32>(q)) * vec4<i32>(16777216, 65536, 256, 1);
    return vec4<f32>(s & vec4<i32>(bitcast<i32>(0xff000000u)));
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
    return f32(scales[s]) * ((a + b) * 5.9604644775390625e-8);
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
// computes (`rw_inputs`: common/rowwise_x.wgsl or common/rowwise_x_subgroup.wgsl), and their sum
// (Q4's m and offset terms use it).
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
    // 8 · the inputs of the block's top nibbles (elements 19, 23, 27, 31), which rw_q4_sum
    // reads as nibble - 8: set by rw_q4_inputs, 0 for the other types.
    top: f32,
}

fn rw_x(xb: u32, lane: u32) -> XBlock {
    var v = rw_inputs(xb, lane);
    let s = (v.x0 + v.x1) + (v.x2 + v.x3) + ((v.x4 + v.x5) + (v.x6 + v.x7));
    v.sum = dot(s, vec4<f32>(1.0));
    return v;
}

// The inputs as rw_q4_sum reads them: each divided by the power of two its nibble is read at
// (exact), once per block and invocation instead of once per row.
fn rw_q4_inputs(xb: u32, lane: u32) -> XBlock {
    var v = rw_x(xb, lane);
    v.top = 8.0 * ((v.x4.w + v.x5.w) + (v.x6.w + v.x7.w));
    let lo = vec4<f32>(1.0, 0.00390625, 1.52587890625e-5, 5.9604644775390625e-8);
    let hi = lo * 0.0625;
    v.x0 *= lo;
    v.x1 *= lo;
    v.x2 *= lo;
    v.x3 *= lo;
    v.x4 *= hi;
    v.x5 *= hi;
    v.x6 *= hi;
    v.x7 *= hi;
    return v;
}

// Each type's inputs: the entry points call rw_x_{{T}}.
fn rw_x_q4_0(xb: u32, lane: u32) -> XBlock {
    return rw_q4_inputs(xb, lane);
}

fn rw_x_q4_1(xb: u32, lane: u32) -> XBlock {
    return rw_q4_inputs(xb, lane);
}

fn rw_x_q8_0(xb: u32, lane: u32) -> XBlock {
    return rw_x(xb, lane);
}

fn rw_x_f16(xb: u32, lane: u32) -> XBlock {
    return rw_x(xb, lane);
}

fn rw_x_bf16(xb: u32, lane: u32) -> XBlock {
    return rw_x(xb, lane);
}

fn rw_x_f32(xb: u32, lane: u32) -> XBlock {
    return rw_x(xb, lane);
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

// The rowwise variant, one entry point per split format (`//{{#each split}}`: the host writes the
// region out once per format, {{T}} its suffix, {{WORDS}} and {{SCALES}} its quant words and
// scales per block; crates/gpu/src/pipelines.rs).
//{{#each split}}
@compute @workgroup_size(WG)
fn matvec_{{T}}_rowwise(@builtin(global_invocation_id) gid: vec3<u32>) {
    let cols = mv.cols;
    let words_per_row = (cols / QK) * {{WORDS}};
    let scales_per_row = (cols / QK) * {{SCALES}};
    let rows = rw_rows(gid.x, words_per_row, scales_per_row);
    let lane = gid.x % RW_LANES;
    // The whole SIMD group or none of it (rw_inputs may share loads between its lanes).
    if (rows.row - lane >= mv.rows) {
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
            let xv = rw_x_{{T}}(xb, lane);
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

// Formats held as whole blocks (common/blocks.wgsl, shaders/formats/): block b's 32 elements of
// a row dequantized by the format's dq4, each row's words RW_LANES apart as above.
//{{#each blocks}}
fn rw_block_{{T}}(at: RowAt, b: u32, xv: XBlock) -> f32 {
    let e = 32u * b;
    return ((dot(dq4_{{T}}(at, e), xv.x0) + dot(dq4_{{T}}(at, e + 4u), xv.x1))
            + (dot(dq4_{{T}}(at, e + 8u), xv.x2) + dot(dq4_{{T}}(at, e + 12u), xv.x3)))
         + ((dot(dq4_{{T}}(at, e + 16u), xv.x4) + dot(dq4_{{T}}(at, e + 20u), xv.x5))
            + (dot(dq4_{{T}}(at, e + 24u), xv.x6) + dot(dq4_{{T}}(at, e + 28u), xv.x7)));
}

@compute @workgroup_size(WG)
fn matvec_{{T}}_rowwise(@builtin(global_invocation_id) gid: vec3<u32>) {
    let cols = mv.cols;
    let words_per_row = row_words_{{T}}(cols);
    let rows = rw_rows(gid.x, words_per_row, 0u);
    let lane = gid.x % RW_LANES;
    // The whole SIMD group or none of it (rw_inputs may share loads between its lanes).
    if (rows.row - lane >= mv.rows) {
        return;
    }
    let gq = RW_LANES * words_per_row;
    let t_end = min(gid.z * TILE + TILE, batch.n_tokens);
    for (var t = gid.z * TILE; t < t_end; t++) {
        var acc = vec4<f32>(0.0);
        for (var b = 0u; b < cols / 32u; b++) {
            let xv = rw_x(t * (cols / 4u) + 8u * b, lane);
            acc += vec4<f32>(rw_block_{{T}}(RowAt(rows.q, 0u, RW_LANES), b, xv),
                             rw_block_{{T}}(RowAt(rows.q + gq, 0u, RW_LANES), b, xv),
                             rw_block_{{T}}(RowAt(rows.q + 2u * gq, 0u, RW_LANES), b, xv),
                             rw_block_{{T}}(RowAt(rows.q + 3u * gq, 0u, RW_LANES), b, xv));
        }
        rw_store(t, rows, acc);
    }
}
//{{/each}}
