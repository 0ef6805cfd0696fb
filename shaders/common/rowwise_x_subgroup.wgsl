// The rowwise matvec's inputs (matvec_rowwise.wgsl) on adapters with subgroups: the block's 32
// inputs are the same in every lane, so each of a SIMD group's RW_LANES invocations loads a
// quarter of them (vec4s xb + lane and xb + 4 + lane, x_at's SwiGLU or attention combine
// computed once) and `subgroupBroadcast` hands each quarter to the others. On SwiftShader a
// load costs a gather whether the lanes' addresses are equal or not: this makes 8 gathers of
// 32. Lane l of a subgroup must hold quarter l: a subgroup's invocations are consecutive from a
// multiple of its size, at least 4 (WebGPU's minimum), as matvec_subgroup.wgsl also assumes.
fn rw_inputs(xb: u32, lane: u32) -> XBlock {
    let a = x_at(xb + lane);
    let b = x_at(xb + 4u + lane);
    return XBlock(subgroupBroadcast(a, 0u), subgroupBroadcast(a, 1u), subgroupBroadcast(a, 2u),
                  subgroupBroadcast(a, 3u), subgroupBroadcast(b, 0u), subgroupBroadcast(b, 1u),
                  subgroupBroadcast(b, 2u), subgroupBroadcast(b, 3u), 0.0, 0.0);
}
