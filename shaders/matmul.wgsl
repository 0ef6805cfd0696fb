// matmul_<type>: Y = X · Wᵀ for a batch of tokens (prefill; CPU-run adapters with subgroups take
// matvec_rowwise.wgsl's tiles instead): each workgroup computes a tile of
// WG rows × MM_TOKENS tokens, so each weight block is read from memory once for the tile's
// tokens (matvec.wgsl reads it once per token). The tile's inputs are staged in workgroup memory
// MM_CHUNK elements of each token at a time; every invocation reads them from there.
//
// Bindings: matvec.wgsl's (the host places that file before this one; binding 6 is unused):
//   0 quants, 1 scales (row-major, or the rowwise matvec's lane-interleaved layout where
//   mv.interleaved is 1), 2 x [token][cols], 3 y, 4 mv, 5 batch. The input is x as it is (a
//   batch's RMSNorm is a launch of its own: mv.norm must be 0) or, with SWIGLU, silu(gate) · up
//   (staged once per element and token).
// Dispatch: one workgroup per WG rows (x, folded into y past 65535 as in matvec.wgsl), one per
// MM_TOKENS tokens in z. Invocation i computes two adjacent rows, 2 · (i % (WG / 2)) and the
// next, for half of the tile's tokens, 4 · (i / (WG / 2)) .. + 3 (MM_TOKENS is 8): each input
// read from workgroup memory serves two rows (on a CPU adapter such reads are gathers, the
// kernel's main cost), each weight block is dequantized by two invocations.
// Every invocation stages and meets the barriers; rows past `rows` are read as the last row and
// not stored, tokens past `n_tokens` are staged as zeros and not stored. `cols` is a multiple of
// 32, MM_CHUNK too.
// Workgroup memory: MM_TOKENS · MM_CHUNK f32 (8 KiB for 8 × 256), within WebGPU's 16 KiB.

const MM_CHUNK4: u32 = MM_CHUNK / 4u;

var<workgroup> xs: array<vec4<f32>, MM_TOKENS * MM_CHUNK4>;

// Where one row's words and scales are (common/blocks.wgsl's RowAt).
fn row_at(row: u32, words_per_row: u32, scales_per_row: u32) -> RowAt {
    if (mv.interleaved == 0u) {
        return RowAt(row * words_per_row, row * scales_per_row, 1u);
    }
    let group = row / RW_LANES;
    let lane = row % RW_LANES;
    return RowAt(group * RW_LANES * words_per_row + lane,
                 group * RW_LANES * scales_per_row + lane, RW_LANES);
}

// Block `b` of a row (32 weights) dequantized, elements 4j..4j+3 in element j.
alias Block = array<vec4<f32>, 8>;

fn mm_q4_0(at: RowAt, b: u32) -> Block {
    let d = w_scale(at, b);
    let q0 = w_word(at, 4u * b);
    let q1 = w_word(at, 4u * b + 1u);
    let q2 = w_word(at, 4u * b + 2u);
    let q3 = w_word(at, 4u * b + 3u);
    return Block((q4_low(q0) - 8.0) * d, (q4_low(q1) - 8.0) * d, (q4_low(q2) - 8.0) * d,
                 (q4_low(q3) - 8.0) * d, (q4_high(q0) - 8.0) * d, (q4_high(q1) - 8.0) * d,
                 (q4_high(q2) - 8.0) * d, (q4_high(q3) - 8.0) * d);
}

fn mm_q4_1(at: RowAt, b: u32) -> Block {
    let d = w_scale(at, 2u * b);
    let m = w_scale(at, 2u * b + 1u);
    let q0 = w_word(at, 4u * b);
    let q1 = w_word(at, 4u * b + 1u);
    let q2 = w_word(at, 4u * b + 2u);
    let q3 = w_word(at, 4u * b + 3u);
    return Block(q4_low(q0) * d + m, q4_low(q1) * d + m, q4_low(q2) * d + m, q4_low(q3) * d + m,
                 q4_high(q0) * d + m, q4_high(q1) * d + m, q4_high(q2) * d + m,
                 q4_high(q3) * d + m);
}

fn mm_q8_0(at: RowAt, b: u32) -> Block {
    let d = w_scale(at, b);
    var w: Block;
    for (var j = 0u; j < 8u; j++) {
        w[j] = q8_word(w_word(at, 8u * b + j)) * d;
    }
    return w;
}

fn mm_f16(at: RowAt, b: u32) -> Block {
    var w: Block;
    for (var j = 0u; j < 8u; j++) {
        w[j] = f16_words(w_word(at, 16u * b + 2u * j), w_word(at, 16u * b + 2u * j + 1u));
    }
    return w;
}

fn mm_bf16(at: RowAt, b: u32) -> Block {
    var w: Block;
    for (var j = 0u; j < 8u; j++) {
        w[j] = bf16_words(w_word(at, 16u * b + 2u * j), w_word(at, 16u * b + 2u * j + 1u));
    }
    return w;
}

fn mm_f32(at: RowAt, b: u32) -> Block {
    var w: Block;
    for (var j = 0u; j < 8u; j++) {
        let k = 32u * b + 4u * j;
        w[j] = f32_words(w_word(at, k), w_word(at, k + 1u), w_word(at, k + 2u),
                         w_word(at, k + 3u));
    }
    return w;
}

// Formats held as whole blocks (common/blocks.wgsl, shaders/formats/).
//{{#each blocks}}
fn mm_{{T}}(at: RowAt, b: u32) -> Block {
    var w: Block;
    for (var j = 0u; j < 8u; j++) {
        w[j] = dq4_{{T}}(at, 32u * b + 4u * j);
    }
    return w;
}
//{{/each}}

// Stages elements k0 .. k0 + MM_CHUNK of the tile's tokens (from t0) in xs, [token][chunk].
// Workgroup-wide: call from uniform control flow.
fn stage(lid: u32, t0: u32, k0: u32) {
    workgroupBarrier(); // the previous chunk is no longer read
    let cols4 = mv.cols / 4u;
    for (var i = lid; i < MM_TOKENS * MM_CHUNK4; i += WG) {
        let t = t0 + i / MM_CHUNK4;
        let c = k0 / 4u + i % MM_CHUNK4;
        var v = vec4<f32>(0.0);
        if (t < batch.n_tokens && c < cols4) {
            v = x_at(t * cols4 + c);
        }
        xs[i] = v;
    }
    workgroupBarrier();
}

// Σ a · x over one block.
fn block_dot(a: Block, x: Block) -> f32 {
    return ((dot(a[0], x[0]) + dot(a[1], x[1])) + (dot(a[2], x[2]) + dot(a[3], x[3])))
         + ((dot(a[4], x[4]) + dot(a[5], x[5])) + (dot(a[6], x[6]) + dot(a[7], x[7])));
}

// Blocks `wa` and `wb` (the invocation's two rows) times one token's staged block from vec4 `xo`
// of xs, read once for both.
fn token_dots(wa: Block, wb: Block, xo: u32) -> vec2<f32> {
    let x = Block(xs[xo], xs[xo + 1u], xs[xo + 2u], xs[xo + 3u], xs[xo + 4u], xs[xo + 5u],
                  xs[xo + 6u], xs[xo + 7u]);
    return vec2<f32>(block_dot(wa, x), block_dot(wb, x));
}

// What an invocation computes: rows `row` and `row + 1`, tokens `t` .. `t + 3` of the tile
// that starts at token `t0`; `xo` is where its first token's chunk starts in xs (in vec4s).
struct Tile {
    row: u32,
    t0: u32,
    t: u32,
    xo: u32,
}

fn tile(wid: vec3<u32>, groups_x: u32, lid: u32) -> Tile {
    let half = lid / (WG / 2u);
    let t0 = wid.z * MM_TOKENS;
    return Tile((wid.x + wid.y * groups_x) * WG + 2u * (lid % (WG / 2u)), t0, t0 + 4u * half,
                4u * half * MM_CHUNK4);
}

// Where row `row` of the tile is read from (rows past the last read the last one).
fn tile_row(row: u32, words_per_row: u32, scales_per_row: u32) -> RowAt {
    return row_at(min(row, mv.rows - 1u), words_per_row, scales_per_row);
}

// The two rows' sums for the invocation's four tokens.
struct Acc {
    a: vec4<f32>,
    b: vec4<f32>,
}

// Adds the two rows' block `b` (`wa`, `wb`) times the invocation's staged tokens, whose chunk
// starts at element k0, to `acc`.
fn accumulate(acc: ptr<function, Acc>, wa: Block, wb: Block, tl: Tile, b: u32, k0: u32) {
    let xo = tl.xo + (32u * b - k0) / 4u;
    let s0 = token_dots(wa, wb, xo);
    let s1 = token_dots(wa, wb, xo + MM_CHUNK4);
    let s2 = token_dots(wa, wb, xo + 2u * MM_CHUNK4);
    let s3 = token_dots(wa, wb, xo + 3u * MM_CHUNK4);
    (*acc).a += vec4<f32>(s0.x, s1.x, s2.x, s3.x);
    (*acc).b += vec4<f32>(s0.y, s1.y, s2.y, s3.y);
}

// Stores the invocation's sums (rows past `rows` and tokens past n_tokens skipped).
fn store_tile(tl: Tile, acc: Acc) {
    for (var j = 0u; j < 4u; j++) {
        if (tl.t + j < batch.n_tokens) {
            if (tl.row < mv.rows) {
                store(tl.t + j, tl.row, acc.a[j]);
            }
            if (tl.row + 1u < mv.rows) {
                store(tl.t + j, tl.row + 1u, acc.b[j]);
            }
        }
    }
}

// One entry point per weight type (`//{{#each type}}`: the host writes the region out once per
// type, {{T}} its suffix; crates/gpu/src/pipelines.rs).
//{{#each type}}
@compute @workgroup_size(WG)
fn matmul_{{T}}(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let tl = tile(wid, nwg.x, lid);
    let words_per_row = row_words_{{T}}(mv.cols);
    let scales_per_row = row_scales_{{T}}(mv.cols);
    let ra = tile_row(tl.row, words_per_row, scales_per_row);
    let rb = tile_row(tl.row + 1u, words_per_row, scales_per_row);
    var acc = Acc(vec4<f32>(0.0), vec4<f32>(0.0));
    for (var k0 = 0u; k0 < mv.cols; k0 += MM_CHUNK) {
        stage(lid, tl.t0, k0);
        for (var b = k0 / QK; b < min(k0 + MM_CHUNK, mv.cols) / QK; b++) {
            accumulate(&acc, mm_{{T}}(ra, b), mm_{{T}}(rb, b), tl, b, k0);
        }
    }
    store_tile(tl, acc);
}
//{{/each}}
