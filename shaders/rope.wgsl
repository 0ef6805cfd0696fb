// rope_q: the step's queries rotated to its position (keys are rotated by kv_append.wgsl as they
// enter the cache).
//
// Bindings (group 0):
//   0  table  read        array<vec2<f32>>  (cos, sin) per position and pair, common/rope.wgsl
//   1  src    read        array<f32>        q, [token][n_head · head_dim]
//   2  dst    read_write  array<f32>        rotated q, same shape
//   3  p      uniform     ModelParams       pos, n_head, head_dim, rope_half, rope_neox
// Dispatch: one invocation per element, ceil(n_head · head_dim / WG) workgroups in x, one per
// token in z (token t is at position pos + t); extra invocations return.

@group(0) @binding(0) var<storage, read> table: array<vec2<f32>>;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<uniform> p: ModelParams;

@compute @workgroup_size(WG)
fn rope_q(@builtin(global_invocation_id) gid: vec3<u32>) {
    let q_dim = p.n_head * p.head_dim;
    if (gid.x >= q_dim) {
        return;
    }
    let e = gid.z * q_dim + gid.x;
    let head = e - e % p.head_dim;
    let rp = rope_pair(e % p.head_dim, p.rope_half, p.rope_neox != 0u);
    if (!rp.rotated) {
        dst[e] = src[e];
        return;
    }
    let cs = table[(p.pos + gid.z) * p.rope_half + rp.pair];
    dst[e] = rope_rotate(src[e], src[head + rp.partner], cs, rp.first);
}
