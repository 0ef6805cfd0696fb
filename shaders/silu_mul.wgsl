// silu_mul: gate = silu(gate) · up, the SwiGLU of the feed-forward block, in place. Gate and up
// are two regions of one buffer (the stacked gate/up matvec writes both in one launch).
//
// Bindings (group 0):
//   0  gu    read_write  array<f32>   gate [token][n_ff] from 0, overwritten with the product;
//                                     up [token][n_ff] from element sp.up_base
//   1  p     uniform     ModelParams  n_ff
//   2  sp    uniform     SiluParams
// Dispatch: one invocation per element, ceil(n_ff / WG) workgroups in x, one per token in z;
// extra invocations return.

struct SiluParams {
    up_base: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> gu: array<f32>;
@group(0) @binding(1) var<uniform> p: ModelParams;
@group(0) @binding(2) var<uniform> sp: SiluParams;

@compute @workgroup_size(WG)
fn silu_mul(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= p.n_ff) {
        return;
    }
    let i = gid.z * p.n_ff + gid.x;
    let g = gu[i];
    gu[i] = g / (1.0 + exp(-g)) * gu[sp.up_base + i];
}
