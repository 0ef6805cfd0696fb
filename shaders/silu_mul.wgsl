// silu_mul: gate = silu(gate) · up, the SwiGLU of the feed-forward block, in place.
//
// Bindings (group 0):
//   0  up    read        array<f32>   [token][n_ff]
//   1  gate  read_write  array<f32>   [token][n_ff], overwritten with the product
//   2  p     uniform     ModelParams  n_ff
// Dispatch: one invocation per element, ceil(n_ff / WG) workgroups in x, one per token in z;
// extra invocations return.

@group(0) @binding(0) var<storage, read> up: array<f32>;
@group(0) @binding(1) var<storage, read_write> gate: array<f32>;
@group(0) @binding(2) var<uniform> p: ModelParams;

@compute @workgroup_size(WG)
fn silu_mul(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= p.n_ff) {
        return;
    }
    let i = gid.z * p.n_ff + gid.x;
    let g = gate[i];
    gate[i] = g / (1.0 + exp(-g)) * up[i];
}
