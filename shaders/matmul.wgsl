// matmul_<type>: Y = X · Wᵀ for a batch of tokens (prefill): each workgroup computes a tile of WG
// rows × MM_TOKENS tokens, so each weight block is read and dequantized once for all the tile's
// tokens (matvec.wgsl reads it once per token). The tile's inputs are staged in workgroup memory
// MM_CHUNK elements of each token at a time; every invocation reads them from there.
//
// Bindings: matvec.wgsl's (the host places that file before this one; binding 6 is unused):
//   0 quants, 1 scales (row-major, or the rowwise matvec's lane-interleaved layout where
//   mv.interleaved is 1), 2 x [token][cols], 3 y, 4 mv, 5 batch. The input is x as it is (a
//   batch's RMSNorm is a launch of its own: mv.norm must be 0) or, with mv.swiglu, silu(gate) · up
//   (staged once per element and token).
// Dispatch: one workgroup per WG rows (x, folded into y past 65535 as in matvec.wgsl), one per
// MM_TOKENS tokens in z. Invocation i computes row WG · workgroup + i for the tile's tokens.
// Every invocation stages and meets the barriers; rows past `rows` and tokens past `n_tokens`
// compute and store nothing (staged as zeros). `cols` is a multiple of 32, MM_CHUNK too.
// Workgroup memory: MM_TOKENS · MM_CHUNK f32 (8 KiB for 8 × 256), within WebGPU's 16 KiB.

const MM_CHUNK4: u32 = MM_CHUNK / 4u;

var<workgroup> xs: array<vec4<f32>, MM_TOKENS * MM_CHUNK4>;

// Where one row's words and scales are: word w at quants[q + w · step], scale k at
// scales[s + k · step] (step 1 row-major, RW_LANES interleaved).
struct RowAt {
    q: u32,
    s: u32,
    step: u32,
}

fn row_at(row: u32, words_per_row: u32, scales_per_row: u32) -> RowAt {
    if (mv.interleaved == 0u) {
        return RowAt(row * words_per_row, row * scales_per_row, 1u);
    }
    let group = row / RW_LANES;
    let lane = row % RW_LANES;
    return RowAt(group * RW_LANES * words_per_row + lane,
                 group * RW_LANES * scales_per_row + lane, RW_LANES);
}

fn w_word(at: RowAt, w: u32) -> u32 {
    return quants[at.q + w * at.step];
}

fn w_scale(at: RowAt, k: u32) -> f32 {
    return f32(scales[at.s + k * at.step]);
}

// Block `b` of a row (32 weights) dequantized, elements 4j..4j+3 in element j.
alias Block = array<vec4<f32>, 8>;

fn mm_q4_0(at: RowAt, b: u32) -> Block {
    let d = w_scale(at, b);
    var w: Block;
    for (var j = 0u; j < 4u; j++) {
        let q = w_word(at, 4u * b + j);
        w[j] = (q4_low(q) - 8.0) * d;
        w[j + 4u] = (q4_high(q) - 8.0) * d;
    }
    return w;
}

fn mm_q4_1(at: RowAt, b: u32) -> Block {
    let d = w_scale(at, 2u * b);
    let m = w_scale(at, 2u * b + 1u);
    var w: Block;
    for (var j = 0u; j < 4u; j++) {
        let q = w_word(at, 4u * b + j);
        w[j] = q4_low(q) * d + m;
        w[j + 4u] = q4_high(q) * d + m;
    }
    return w;
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
        w[j] = f32_words(w_word(at, k), w_word(at, k + 1u), w_word(at, k + 2u), w_word(at, k + 3u));
    }
    return w;
}

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

// Adds block `w` (at element 32 · b of the row, within the chunk from k0) times each of the
// tile's staged tokens to `acc`.
fn accumulate(acc: ptr<function, array<f32, MM_TOKENS>>, w: Block, b: u32, k0: u32) {
    let o = (32u * b - k0) / 4u;
    for (var t = 0u; t < MM_TOKENS; t++) {
        let xo = t * MM_CHUNK4 + o;
        (*acc)[t] += ((dot(w[0], xs[xo]) + dot(w[1], xs[xo + 1u]))
                      + (dot(w[2], xs[xo + 2u]) + dot(w[3], xs[xo + 3u])))
                   + ((dot(w[4], xs[xo + 4u]) + dot(w[5], xs[xo + 5u]))
                      + (dot(w[6], xs[xo + 6u]) + dot(w[7], xs[xo + 7u])));
    }
}

// Stores the tile's totals of `row` (tokens past n_tokens skipped).
fn store_tile(row: u32, t0: u32, acc: array<f32, MM_TOKENS>) {
    for (var t = 0u; t < MM_TOKENS; t++) {
        if (t0 + t < batch.n_tokens) {
            store(t0 + t, row, acc[t]);
        }
    }
}

@compute @workgroup_size(WG)
fn matmul_q4_0(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let row = (wid.x + wid.y * nwg.x) * WG + lid;
    let t0 = wid.z * MM_TOKENS;
    let at = row_at(row, mv.cols / 8u, mv.cols / QK);
    var acc: array<f32, MM_TOKENS>;
    for (var k0 = 0u; k0 < mv.cols; k0 += MM_CHUNK) {
        stage(lid, t0, k0);
        if (row < mv.rows) {
            for (var b = k0 / QK; b < min(k0 + MM_CHUNK, mv.cols) / QK; b++) {
                accumulate(&acc, mm_q4_0(at, b), b, k0);
            }
        }
    }
    if (row < mv.rows) {
        store_tile(row, t0, acc);
    }
}

@compute @workgroup_size(WG)
fn matmul_q4_1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let row = (wid.x + wid.y * nwg.x) * WG + lid;
    let t0 = wid.z * MM_TOKENS;
    let at = row_at(row, mv.cols / 8u, 2u * (mv.cols / QK));
    var acc: array<f32, MM_TOKENS>;
    for (var k0 = 0u; k0 < mv.cols; k0 += MM_CHUNK) {
        stage(lid, t0, k0);
        if (row < mv.rows) {
            for (var b = k0 / QK; b < min(k0 + MM_CHUNK, mv.cols) / QK; b++) {
                accumulate(&acc, mm_q4_1(at, b), b, k0);
            }
        }
    }
    if (row < mv.rows) {
        store_tile(row, t0, acc);
    }
}

@compute @workgroup_size(WG)
fn matmul_q8_0(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let row = (wid.x + wid.y * nwg.x) * WG + lid;
    let t0 = wid.z * MM_TOKENS;
    let at = row_at(row, mv.cols / 4u, mv.cols / QK);
    var acc: array<f32, MM_TOKENS>;
    for (var k0 = 0u; k0 < mv.cols; k0 += MM_CHUNK) {
        stage(lid, t0, k0);
        if (row < mv.rows) {
            for (var b = k0 / QK; b < min(k0 + MM_CHUNK, mv.cols) / QK; b++) {
                accumulate(&acc, mm_q8_0(at, b), b, k0);
            }
        }
    }
    if (row < mv.rows) {
        store_tile(row, t0, acc);
    }
}

@compute @workgroup_size(WG)
fn matmul_f16(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let row = (wid.x + wid.y * nwg.x) * WG + lid;
    let t0 = wid.z * MM_TOKENS;
    let at = row_at(row, mv.cols / 2u, 0u);
    var acc: array<f32, MM_TOKENS>;
    for (var k0 = 0u; k0 < mv.cols; k0 += MM_CHUNK) {
        stage(lid, t0, k0);
        if (row < mv.rows) {
            for (var b = k0 / QK; b < min(k0 + MM_CHUNK, mv.cols) / QK; b++) {
                accumulate(&acc, mm_f16(at, b), b, k0);
            }
        }
    }
    if (row < mv.rows) {
        store_tile(row, t0, acc);
    }
}

@compute @workgroup_size(WG)
fn matmul_bf16(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let row = (wid.x + wid.y * nwg.x) * WG + lid;
    let t0 = wid.z * MM_TOKENS;
    let at = row_at(row, mv.cols / 2u, 0u);
    var acc: array<f32, MM_TOKENS>;
    for (var k0 = 0u; k0 < mv.cols; k0 += MM_CHUNK) {
        stage(lid, t0, k0);
        if (row < mv.rows) {
            for (var b = k0 / QK; b < min(k0 + MM_CHUNK, mv.cols) / QK; b++) {
                accumulate(&acc, mm_bf16(at, b), b, k0);
            }
        }
    }
    if (row < mv.rows) {
        store_tile(row, t0, acc);
    }
}

@compute @workgroup_size(WG)
fn matmul_f32(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let row = (wid.x + wid.y * nwg.x) * WG + lid;
    let t0 = wid.z * MM_TOKENS;
    let at = row_at(row, mv.cols, 0u);
    var acc: array<f32, MM_TOKENS>;
    for (var k0 = 0u; k0 < mv.cols; k0 += MM_CHUNK) {
        stage(lid, t0, k0);
        if (row < mv.rows) {
            for (var b = k0 / QK; b < min(k0 + MM_CHUNK, mv.cols) / QK; b++) {
                accumulate(&acc, mm_f32(at, b), b, k0);
            }
        }
    }
    if (row < mv.rows) {
        store_tile(row, t0, acc);
    }
}
