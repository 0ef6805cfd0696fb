// add: y += b element-wise (Qwen2's q, k and v biases; residual connections are fused into
// matvec's `accumulate`).
//
// Bindings (group 0):
//   0  b  read        array<f32>  n elements
//   1  y  read_write  array<f32>  [token][n]: b is added to every token's row
//   2  a  uniform     AddParams
// Dispatch: one invocation per element, ceil(n / WG) workgroups in x, one per token in z;
// extra invocations return.

struct AddParams {
    n: u32,  // elements
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> b: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> a: AddParams;

@compute @workgroup_size(WG)
fn add(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= a.n) {
        return;
    }
    let i = gid.z * a.n + gid.x;
    y[i] = y[i] + b[gid.x];
}
