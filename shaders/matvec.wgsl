// matvec_<type>: Y = X · Wᵀ for the step's tokens, one weight matrix held in its quantized form,
// dequantized in registers, f32 accumulation (the projections and the LM head; one token when
// decoding, a batch in prefill).
//
// Bindings (group 0):
//   0  quants  read        array<u32>        the weight's quant words, row-major (common/quant.wgsl)
//   1  scales  read        array<st>         block scales (Q4_1: d, m pairs), f32 or f16
//                                            (common/quant.wgsl); a dummy for F16/BF16/F32
//   2  x       read        array<vec4<f32>>  the inputs, [token][cols]
//   3  y       read_write  array<f32>        the outputs, [token][y_stride]; row r of token t goes
//                                            to y[t · y_stride + y_offset + r]
//   4  mv      uniform     MatvecParams
//   5  batch   uniform     Batch             tokens in this step
// Variants (same bindings and per-unit arithmetic; the host picks one per adapter):
//   matvec_<type>          one workgroup per (row, token): rows = x + y · num_workgroups.x (the
//                          host folds more than 65535 rows into y), token = z; WG invocations
//                          (common/reduce.wgsl) stride over the row's units, then a
//                          workgroup-memory sum. For GPUs.
//   matvec_<type>_rowwise  one invocation per row and tile of TILE tokens (set by the host
//                          like WG): ceil(rows / WG)
//                          workgroups in x, ceil(n_tokens / TILE) in z. Each weight unit is
//                          dequantized once per tile; no barriers. For adapters that run on the
//                          CPU (lavapipe, SwiftShader), where a barrier costs a coroutine switch
//                          per SIMD lane group.
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
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

struct Batch {
    n_tokens: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> quants: array<u32>;
@group(0) @binding(1) var<storage, read> scales: array<st>;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> mv: MatvecParams;
@group(0) @binding(5) var<uniform> batch: Batch;

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
    let i = t * mv.y_stride + mv.y_offset + row;
    if (mv.accumulate != 0u) {
        y[i] = y[i] + total;
    } else {
        y[i] = total;
    }
}

fn unit_dot(w: Unit, t: u32) -> f32 {
    let base = t * (mv.cols / 4u);
    return dot(w.a, x[base + w.xa]) + dot(w.b, x[base + w.xb]);
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

@compute @workgroup_size(WG)
fn matvec_q4_0(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let row = wid.x + wid.y * nwg.x;
    if (row >= mv.rows) {
        return;
    }
    var acc = 0.0;
    for (var u = lid; u < units_q4_0(); u += WG) {
        acc += unit_dot(unit_q4_0(row, u), wid.z);
    }
    let total = workgroup_sum(lid, acc);
    if (lid == 0u) {
        store(wid.z, row, total);
    }
}

@compute @workgroup_size(WG)
fn matvec_q4_0_rowwise(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    if (row >= mv.rows) {
        return;
    }
    if (batch.n_tokens == 1u) {
        // Decoding: one token, a plain loop (no tile bookkeeping).
        var sum = 0.0;
        for (var u = 0u; u < units_q4_0(); u++) {
            sum += unit_dot(unit_q4_0(row, u), 0u);
        }
        store(0u, row, sum);
        return;
    }
    let t0 = gid.z * TILE;
    let n = min(TILE, batch.n_tokens - t0);
    var acc: array<f32, TILE>;
    for (var u = 0u; u < units_q4_0(); u++) {
        let w = unit_q4_0(row, u);
        // A constant trip count keeps `acc` in registers once the compiler unrolls the loop.
        for (var t = 0u; t < TILE; t++) {
            if (t < n) {
                acc[t] += unit_dot(w, t0 + t);
            }
        }
    }
    for (var t = 0u; t < n; t++) {
        store(t0 + t, row, acc[t]);
    }
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

@compute @workgroup_size(WG)
fn matvec_q4_1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let row = wid.x + wid.y * nwg.x;
    if (row >= mv.rows) {
        return;
    }
    var acc = 0.0;
    for (var u = lid; u < units_q4_1(); u += WG) {
        acc += unit_dot(unit_q4_1(row, u), wid.z);
    }
    let total = workgroup_sum(lid, acc);
    if (lid == 0u) {
        store(wid.z, row, total);
    }
}

@compute @workgroup_size(WG)
fn matvec_q4_1_rowwise(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    if (row >= mv.rows) {
        return;
    }
    if (batch.n_tokens == 1u) {
        // Decoding: one token, a plain loop (no tile bookkeeping).
        var sum = 0.0;
        for (var u = 0u; u < units_q4_1(); u++) {
            sum += unit_dot(unit_q4_1(row, u), 0u);
        }
        store(0u, row, sum);
        return;
    }
    let t0 = gid.z * TILE;
    let n = min(TILE, batch.n_tokens - t0);
    var acc: array<f32, TILE>;
    for (var u = 0u; u < units_q4_1(); u++) {
        let w = unit_q4_1(row, u);
        // A constant trip count keeps `acc` in registers once the compiler unrolls the loop.
        for (var t = 0u; t < TILE; t++) {
            if (t < n) {
                acc[t] += unit_dot(w, t0 + t);
            }
        }
    }
    for (var t = 0u; t < n; t++) {
        store(t0 + t, row, acc[t]);
    }
}

// Q8_0: units per row, and unit `u` of `row` dequantized.
fn units_q8_0() -> u32 {
    return mv.cols / 4u;
}

fn unit_q8_0(row: u32, u: u32) -> Unit {
    let d = f32(scales[row * (mv.cols / QK) + u / 8u]);
    return Unit(q8_word(quants[row * (mv.cols / 4u) + u]) * d, vec4<f32>(0.0), u, u);
}

@compute @workgroup_size(WG)
fn matvec_q8_0(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let row = wid.x + wid.y * nwg.x;
    if (row >= mv.rows) {
        return;
    }
    var acc = 0.0;
    for (var u = lid; u < units_q8_0(); u += WG) {
        acc += unit_dot(unit_q8_0(row, u), wid.z);
    }
    let total = workgroup_sum(lid, acc);
    if (lid == 0u) {
        store(wid.z, row, total);
    }
}

@compute @workgroup_size(WG)
fn matvec_q8_0_rowwise(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    if (row >= mv.rows) {
        return;
    }
    if (batch.n_tokens == 1u) {
        // Decoding: one token, a plain loop (no tile bookkeeping).
        var sum = 0.0;
        for (var u = 0u; u < units_q8_0(); u++) {
            sum += unit_dot(unit_q8_0(row, u), 0u);
        }
        store(0u, row, sum);
        return;
    }
    let t0 = gid.z * TILE;
    let n = min(TILE, batch.n_tokens - t0);
    var acc: array<f32, TILE>;
    for (var u = 0u; u < units_q8_0(); u++) {
        let w = unit_q8_0(row, u);
        // A constant trip count keeps `acc` in registers once the compiler unrolls the loop.
        for (var t = 0u; t < TILE; t++) {
            if (t < n) {
                acc[t] += unit_dot(w, t0 + t);
            }
        }
    }
    for (var t = 0u; t < n; t++) {
        store(t0 + t, row, acc[t]);
    }
}

// F16: units per row, and unit `u` of `row` dequantized.
fn units_f16() -> u32 {
    return mv.cols / 4u;
}

fn unit_f16(row: u32, u: u32) -> Unit {
    let k = row * (mv.cols / 2u) + 2u * u;
    return Unit(f16_words(quants[k], quants[k + 1u]), vec4<f32>(0.0), u, u);
}

@compute @workgroup_size(WG)
fn matvec_f16(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let row = wid.x + wid.y * nwg.x;
    if (row >= mv.rows) {
        return;
    }
    var acc = 0.0;
    for (var u = lid; u < units_f16(); u += WG) {
        acc += unit_dot(unit_f16(row, u), wid.z);
    }
    let total = workgroup_sum(lid, acc);
    if (lid == 0u) {
        store(wid.z, row, total);
    }
}

@compute @workgroup_size(WG)
fn matvec_f16_rowwise(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    if (row >= mv.rows) {
        return;
    }
    if (batch.n_tokens == 1u) {
        // Decoding: one token, a plain loop (no tile bookkeeping).
        var sum = 0.0;
        for (var u = 0u; u < units_f16(); u++) {
            sum += unit_dot(unit_f16(row, u), 0u);
        }
        store(0u, row, sum);
        return;
    }
    let t0 = gid.z * TILE;
    let n = min(TILE, batch.n_tokens - t0);
    var acc: array<f32, TILE>;
    for (var u = 0u; u < units_f16(); u++) {
        let w = unit_f16(row, u);
        // A constant trip count keeps `acc` in registers once the compiler unrolls the loop.
        for (var t = 0u; t < TILE; t++) {
            if (t < n) {
                acc[t] += unit_dot(w, t0 + t);
            }
        }
    }
    for (var t = 0u; t < n; t++) {
        store(t0 + t, row, acc[t]);
    }
}

// BF16: units per row, and unit `u` of `row` dequantized.
fn units_bf16() -> u32 {
    return mv.cols / 4u;
}

fn unit_bf16(row: u32, u: u32) -> Unit {
    let k = row * (mv.cols / 2u) + 2u * u;
    return Unit(bf16_words(quants[k], quants[k + 1u]), vec4<f32>(0.0), u, u);
}

@compute @workgroup_size(WG)
fn matvec_bf16(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let row = wid.x + wid.y * nwg.x;
    if (row >= mv.rows) {
        return;
    }
    var acc = 0.0;
    for (var u = lid; u < units_bf16(); u += WG) {
        acc += unit_dot(unit_bf16(row, u), wid.z);
    }
    let total = workgroup_sum(lid, acc);
    if (lid == 0u) {
        store(wid.z, row, total);
    }
}

@compute @workgroup_size(WG)
fn matvec_bf16_rowwise(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    if (row >= mv.rows) {
        return;
    }
    if (batch.n_tokens == 1u) {
        // Decoding: one token, a plain loop (no tile bookkeeping).
        var sum = 0.0;
        for (var u = 0u; u < units_bf16(); u++) {
            sum += unit_dot(unit_bf16(row, u), 0u);
        }
        store(0u, row, sum);
        return;
    }
    let t0 = gid.z * TILE;
    let n = min(TILE, batch.n_tokens - t0);
    var acc: array<f32, TILE>;
    for (var u = 0u; u < units_bf16(); u++) {
        let w = unit_bf16(row, u);
        // A constant trip count keeps `acc` in registers once the compiler unrolls the loop.
        for (var t = 0u; t < TILE; t++) {
            if (t < n) {
                acc[t] += unit_dot(w, t0 + t);
            }
        }
    }
    for (var t = 0u; t < n; t++) {
        store(t0 + t, row, acc[t]);
    }
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

@compute @workgroup_size(WG)
fn matvec_f32(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let row = wid.x + wid.y * nwg.x;
    if (row >= mv.rows) {
        return;
    }
    var acc = 0.0;
    for (var u = lid; u < units_f32(); u += WG) {
        acc += unit_dot(unit_f32(row, u), wid.z);
    }
    let total = workgroup_sum(lid, acc);
    if (lid == 0u) {
        store(wid.z, row, total);
    }
}

@compute @workgroup_size(WG)
fn matvec_f32_rowwise(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    if (row >= mv.rows) {
        return;
    }
    if (batch.n_tokens == 1u) {
        // Decoding: one token, a plain loop (no tile bookkeeping).
        var sum = 0.0;
        for (var u = 0u; u < units_f32(); u++) {
            sum += unit_dot(unit_f32(row, u), 0u);
        }
        store(0u, row, sum);
        return;
    }
    let t0 = gid.z * TILE;
    let n = min(TILE, batch.n_tokens - t0);
    var acc: array<f32, TILE>;
    for (var u = 0u; u < units_f32(); u++) {
        let w = unit_f32(row, u);
        // A constant trip count keeps `acc` in registers once the compiler unrolls the loop.
        for (var t = 0u; t < TILE; t++) {
            if (t < n) {
                acc[t] += unit_dot(w, t0 + t);
            }
        }
    }
    for (var t = 0u; t < n; t++) {
        store(t0 + t, row, acc[t]);
    }
}
