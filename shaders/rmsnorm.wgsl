// rmsnorm: out = x / sqrt(mean(x²) + eps) · weight over the residual stream (llama's RMSNorm).
//
// Bindings (group 0):
//   0  x       read        array<f32>   [token][n_embd]
//   1  weight  read        array<f32>   the norm's n_embd weights
//   2  out     read_write  array<f32>   [token][n_embd]
//   3  p       uniform     ModelParams  n_embd, rms_eps
// Dispatch: one workgroup of WG invocations per token (z), striding over the elements (sum of squares in
// f32, reduced in workgroup memory; the CPU backend sums in f64, a difference near 1e-7 relative).

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: ModelParams;

@compute @workgroup_size(WG)
fn rmsnorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let o = wid.z * p.n_embd;
    var sq = 0.0;
    for (var i = lid; i < p.n_embd; i += WG) {
        sq += x[o + i] * x[o + i];
    }
    let mean = workgroup_sum(lid, sq) / f32(p.n_embd);
    let scale = 1.0 / sqrt(mean + p.rms_eps);
    for (var i = lid; i < p.n_embd; i += WG) {
        out[o + i] = (x[o + i] * scale) * weight[i];
    }
}
