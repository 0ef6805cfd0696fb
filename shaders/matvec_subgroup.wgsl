// matvec_<type>_subgroup: the matvec of matvec.wgsl (its bindings, params and units, which the
// host places before this file) with subgroup reductions, for adapters with the `subgroups`
// feature: each subgroup takes one row at a time, its lanes stride over the row's units
// (neighbouring lanes read neighbouring quant words) and `subgroupAdd` sums them in registers,
// with no workgroup barrier.
//
// Dispatch: one workgroup per SG_ROWS rows (x, folded into y past 65535 as in matvec.wgsl), one
// per token in z. SG_ROWS is set by the host like WG. A workgroup of WG invocations has
// WG / subgroup_size subgroups, each looping over SG_ROWS / that many rows (any subgroup size
// up to WG works; invocations of a subgroup are assumed consecutive, as on every Vulkan, Metal
// and D3D12 implementation for one-dimensional workgroups). Rows past `rows` are skipped.

// x_scale (matvec.wgsl) for one subgroup, without barriers.
fn x_scale_sg(lane: u32, sg: u32, t: u32) -> f32 {
    if (mv.norm == 0u) {
        return 1.0;
    }
    return norm_scale(subgroupAdd(x_sq_part(t, lane, sg)));
}

// One entry point per weight type (`//{{#each type}}`: the host writes the region out once per
// type, {{T}} its suffix; crates/gpu/src/pipelines.rs).
//{{#each type}}
@compute @workgroup_size(WG)
fn matvec_{{T}}_subgroup(@builtin(workgroup_id) wid: vec3<u32>,
                        @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32,
                        @builtin(subgroup_invocation_id) lane: u32,
                        @builtin(subgroup_size) sg: u32) {
    let first = (wid.x + wid.y * nwg.x) * SG_ROWS;
    let scale = x_scale_sg(lane, sg, wid.z);
    for (var r = lid / sg; r < SG_ROWS; r += WG / sg) {
        let row = first + r;
        var acc = 0.0;
        if (row < mv.rows) {
            for (var u = lane; u < units_{{T}}(); u += sg) {
                acc += unit_dot(unit_{{T}}(row, u), wid.z);
            }
        }
        let total = subgroupAdd(acc);
        if (lane == 0u && row < mv.rows) {
            store(wid.z, row, total * scale);
        }
    }
}
//{{/each}}
