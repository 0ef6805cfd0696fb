// Workgroup-wide reductions through workgroup memory: the fallback every adapter has (subgroup
// reductions are a later optimisation where the adapter offers them).
//
// `WG`, the workgroup size of every tokscope kernel, is not defined here: the host prepends
// `const WG: u32 = …;` from its one constant (crates/gpu/src/kernels.rs, `WORKGROUP_SIZE`), a power of two.
// Call these from uniform control flow only: they contain barriers.

var<workgroup> wg_scratch: array<f32, WG>;

// The sum of `v` over the workgroup, returned to every invocation.
fn workgroup_sum(lid: u32, v: f32) -> f32 {
    wg_scratch[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            wg_scratch[lid] += wg_scratch[lid + s];
        }
        workgroupBarrier();
    }
    let total = wg_scratch[0];
    workgroupBarrier();
    return total;
}

// The maximum of `v` over the workgroup, returned to every invocation.
fn workgroup_max(lid: u32, v: f32) -> f32 {
    wg_scratch[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            wg_scratch[lid] = max(wg_scratch[lid], wg_scratch[lid + s]);
        }
        workgroupBarrier();
    }
    let m = wg_scratch[0];
    workgroupBarrier();
    return m;
}
