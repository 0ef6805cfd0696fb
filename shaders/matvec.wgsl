// matvec_<type>: y = W · x for one weight matrix held in its quantized form, dequantized in
// registers, f32 accumulation (the decode step's projections and the LM head).
//
// Bindings (group 0):
//   0  quants  read        array<u32>        the weight's quant words, row-major (common/quant.wgsl)
//   1  scales  read        array<f32>        block scales (Q4_1: d, m pairs); a dummy for F16/BF16/F32
//   2  x       read        array<vec4<f32>>  the input, `cols` elements
//   3  y       read_write  array<f32>        the output; row r goes to y[y_offset + r]
//   4  mv      uniform     MatvecParams
// Dispatch: one workgroup per row, rows = x + y · num_workgroups.x (the host folds more than 65535
// rows into y); WG invocations (common/reduce.wgsl) stride over the row's quant words, then a
// workgroup-memory sum. Workgroups past `rows` return at once. `cols` is a multiple of 32.
// Weights larger than one storage binding are split into row ranges, one dispatch each.

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

fn row_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// Reduces the invocations' partial dot products and writes the row's output.
fn finish_row(lid: u32, row: u32, partial: f32) {
    let total = workgroup_sum(lid, partial);
    if (lid == 0u) {
        let i = mv.y_offset + row;
        if (mv.accumulate != 0u) {
            y[i] = y[i] + total;
        } else {
            y[i] = total;
        }
    }
}

@compute @workgroup_size(WG)
fn matvec_q4_0(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let row = row_index(wid, nwg);
    if (row >= mv.rows) {
        return;
    }
    let words = mv.cols / 8u;
    var acc = 0.0;
    for (var w = lid; w < words; w += WG) {
        let block = w / 4u;
        let j = w % 4u;
        let q = quants[row * words + w];
        let d = scales[row * (mv.cols / QK) + block];
        let xi = block * 8u + j; // x as vec4: elements 32·block + 4j ..
        acc += d * (dot(q4_low(q) - 8.0, x[xi]) + dot(q4_high(q) - 8.0, x[xi + 4u]));
    }
    finish_row(lid, row, acc);
}

@compute @workgroup_size(WG)
fn matvec_q4_1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let row = row_index(wid, nwg);
    if (row >= mv.rows) {
        return;
    }
    let words = mv.cols / 8u;
    var acc = 0.0;
    for (var w = lid; w < words; w += WG) {
        let block = w / 4u;
        let j = w % 4u;
        let q = quants[row * words + w];
        let b = row * (mv.cols / QK) + block;
        let d = scales[2u * b];
        let m = scales[2u * b + 1u];
        let xi = block * 8u + j;
        let lo = x[xi];
        let hi = x[xi + 4u];
        acc += d * (dot(q4_low(q), lo) + dot(q4_high(q), hi)) + m * dot(lo + hi, vec4<f32>(1.0));
    }
    finish_row(lid, row, acc);
}

@compute @workgroup_size(WG)
fn matvec_q8_0(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let row = row_index(wid, nwg);
    if (row >= mv.rows) {
        return;
    }
    let words = mv.cols / 4u;
    var acc = 0.0;
    for (var w = lid; w < words; w += WG) {
        let d = scales[row * (mv.cols / QK) + w / 8u];
        acc += d * dot(q8_word(quants[row * words + w]), x[w]);
    }
    finish_row(lid, row, acc);
}

@compute @workgroup_size(WG)
fn matvec_f16(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let row = row_index(wid, nwg);
    if (row >= mv.rows) {
        return;
    }
    let quads = mv.cols / 4u;
    let base = row * (mv.cols / 2u);
    var acc = 0.0;
    for (var i = lid; i < quads; i += WG) {
        acc += dot(f16_words(quants[base + 2u * i], quants[base + 2u * i + 1u]), x[i]);
    }
    finish_row(lid, row, acc);
}

@compute @workgroup_size(WG)
fn matvec_bf16(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let row = row_index(wid, nwg);
    if (row >= mv.rows) {
        return;
    }
    let quads = mv.cols / 4u;
    let base = row * (mv.cols / 2u);
    var acc = 0.0;
    for (var i = lid; i < quads; i += WG) {
        acc += dot(bf16_words(quants[base + 2u * i], quants[base + 2u * i + 1u]), x[i]);
    }
    finish_row(lid, row, acc);
}

@compute @workgroup_size(WG)
fn matvec_f32(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let row = row_index(wid, nwg);
    if (row >= mv.rows) {
        return;
    }
    let quads = mv.cols / 4u;
    let base = row * mv.cols;
    var acc = 0.0;
    for (var i = lid; i < quads; i += WG) {
        let k = base + 4u * i;
        acc += dot(f32_words(quants[k], quants[k + 1u], quants[k + 2u], quants[k + 3u]), x[i]);
    }
    finish_row(lid, row, acc);
}
