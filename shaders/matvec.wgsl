// matvec_<type>: y = W · x for one weight matrix held in its quantized form, dequantized in
// registers, f32 accumulation (the decode step's projections and the LM head).
//
// Bindings (group 0):
//   0  quants  read        array<u32>        the weight's quant words, row-major (common/quant.wgsl)
//   1  scales  read        array<f32>        block scales (Q4_1: d, m pairs); a dummy for F16/BF16/F32
//   2  x       read        array<vec4<f32>>  the input, `cols` elements
//   3  y       read_write  array<f32>        the output; row r goes to y[y_offset + r]
//   4  mv      uniform     MatvecParams
// Variants (same bindings, same arithmetic per unit, the host picks one per adapter):
//   matvec_<type>          one workgroup per row, rows = x + y · num_workgroups.x (the host folds
//                          more than 65535 rows into y); WG invocations (common/reduce.wgsl) stride
//                          over the row's units, then a workgroup-memory sum. For GPUs.
//   matvec_<type>_rowwise  one invocation per row, ceil(rows / WG) workgroups, no barriers: for
//                          adapters that run on the CPU (lavapipe, SwiftShader), where a barrier
//                          costs a coroutine switch per SIMD lane group and a row-per-workgroup
//                          matvec spends most of its time in them.
// Invocations and workgroups past `rows` return at once. `cols` is a multiple of 32.
// Weights larger than one storage binding are split into row ranges, one dispatch each.
//
// A "unit" is the piece of a row one loop iteration handles: one quant word (Q4: 8 elements,
// Q8_0: 4) or four elements of a float type.

struct MatvecParams {
    rows: u32,        // rows of this part of the weight
    cols: u32,        // elements per row
    y_offset: u32,    // element of y that row 0 of this part writes
    accumulate: u32,  // 1: y += W·x (residual connections); 0: y = W·x
}

@group(0) @binding(0) var<storage, read> quants: array<u32>;
@group(0) @binding(1) var<storage, read> scales: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> mv: MatvecParams;

// Writes one row's result.
fn store_row(row: u32, total: f32) {
    let i = mv.y_offset + row;
    if (mv.accumulate != 0u) {
        y[i] = y[i] + total;
    } else {
        y[i] = total;
    }
}

// Q4_0: units per row, and unit `u` of `row` dotted with x.
fn units_q4_0() -> u32 {
    return mv.cols / 8u;
}

fn unit_q4_0(row: u32, u: u32) -> f32 {
    let block = u / 4u;
    let q = quants[row * (mv.cols / 8u) + u];
    let d = scales[row * (mv.cols / QK) + block];
    let xi = block * 8u + u % 4u; // x as vec4: elements 32·block + 4·(u % 4) ..
    return d * (dot(q4_low(q) - 8.0, x[xi]) + dot(q4_high(q) - 8.0, x[xi + 4u]));
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
        acc += unit_q4_0(row, u);
    }
    let total = workgroup_sum(lid, acc);
    if (lid == 0u) {
        store_row(row, total);
    }
}

@compute @workgroup_size(WG)
fn matvec_q4_0_rowwise(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    if (row >= mv.rows) {
        return;
    }
    var acc = 0.0;
    for (var u = 0u; u < units_q4_0(); u++) {
        acc += unit_q4_0(row, u);
    }
    store_row(row, acc);
}

// Q4_1: units per row, and unit `u` of `row` dotted with x.
fn units_q4_1() -> u32 {
    return mv.cols / 8u;
}

fn unit_q4_1(row: u32, u: u32) -> f32 {
    let block = u / 4u;
    let q = quants[row * (mv.cols / 8u) + u];
    let b = row * (mv.cols / QK) + block;
    let xi = block * 8u + u % 4u;
    let lo = x[xi];
    let hi = x[xi + 4u];
    return scales[2u * b] * (dot(q4_low(q), lo) + dot(q4_high(q), hi))
        + scales[2u * b + 1u] * dot(lo + hi, vec4<f32>(1.0));
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
        acc += unit_q4_1(row, u);
    }
    let total = workgroup_sum(lid, acc);
    if (lid == 0u) {
        store_row(row, total);
    }
}

@compute @workgroup_size(WG)
fn matvec_q4_1_rowwise(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    if (row >= mv.rows) {
        return;
    }
    var acc = 0.0;
    for (var u = 0u; u < units_q4_1(); u++) {
        acc += unit_q4_1(row, u);
    }
    store_row(row, acc);
}

// Q8_0: units per row, and unit `u` of `row` dotted with x.
fn units_q8_0() -> u32 {
    return mv.cols / 4u;
}

fn unit_q8_0(row: u32, u: u32) -> f32 {
    let d = scales[row * (mv.cols / QK) + u / 8u];
    return d * dot(q8_word(quants[row * (mv.cols / 4u) + u]), x[u]);
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
        acc += unit_q8_0(row, u);
    }
    let total = workgroup_sum(lid, acc);
    if (lid == 0u) {
        store_row(row, total);
    }
}

@compute @workgroup_size(WG)
fn matvec_q8_0_rowwise(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    if (row >= mv.rows) {
        return;
    }
    var acc = 0.0;
    for (var u = 0u; u < units_q8_0(); u++) {
        acc += unit_q8_0(row, u);
    }
    store_row(row, acc);
}

// F16: units per row, and unit `u` of `row` dotted with x.
fn units_f16() -> u32 {
    return mv.cols / 4u;
}

fn unit_f16(row: u32, u: u32) -> f32 {
    let k = row * (mv.cols / 2u) + 2u * u;
    return dot(f16_words(quants[k], quants[k + 1u]), x[u]);
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
        acc += unit_f16(row, u);
    }
    let total = workgroup_sum(lid, acc);
    if (lid == 0u) {
        store_row(row, total);
    }
}

@compute @workgroup_size(WG)
fn matvec_f16_rowwise(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    if (row >= mv.rows) {
        return;
    }
    var acc = 0.0;
    for (var u = 0u; u < units_f16(); u++) {
        acc += unit_f16(row, u);
    }
    store_row(row, acc);
}

// BF16: units per row, and unit `u` of `row` dotted with x.
fn units_bf16() -> u32 {
    return mv.cols / 4u;
}

fn unit_bf16(row: u32, u: u32) -> f32 {
    let k = row * (mv.cols / 2u) + 2u * u;
    return dot(bf16_words(quants[k], quants[k + 1u]), x[u]);
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
        acc += unit_bf16(row, u);
    }
    let total = workgroup_sum(lid, acc);
    if (lid == 0u) {
        store_row(row, total);
    }
}

@compute @workgroup_size(WG)
fn matvec_bf16_rowwise(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    if (row >= mv.rows) {
        return;
    }
    var acc = 0.0;
    for (var u = 0u; u < units_bf16(); u++) {
        acc += unit_bf16(row, u);
    }
    store_row(row, acc);
}

// F32: units per row, and unit `u` of `row` dotted with x.
fn units_f32() -> u32 {
    return mv.cols / 4u;
}

fn unit_f32(row: u32, u: u32) -> f32 {
    let k = row * mv.cols + 4u * u;
    return dot(f32_words(quants[k], quants[k + 1u], quants[k + 2u], quants[k + 3u]), x[u]);
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
        acc += unit_f32(row, u);
    }
    let total = workgroup_sum(lid, acc);
    if (lid == 0u) {
        store_row(row, total);
    }
}

@compute @workgroup_size(WG)
fn matvec_f32_rowwise(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    if (row >= mv.rows) {
        return;
    }
    var acc = 0.0;
    for (var u = 0u; u < units_f32(); u++) {
        acc += unit_f32(row, u);
    }
    store_row(row, acc);
}
