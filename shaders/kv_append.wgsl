// kv_append: the step's keys (rotated to their positions) and values written into cache slots
// pos .. pos + n_tokens of one layer. Cache layout: [position][kv head][head_dim], f32 (as the CPU backend's default).
//
// Bindings (group 0):
//   0  table    read        array<vec2<f32>>  (cos, sin) per position and pair, common/rope.wgsl
//   1  k        read        array<f32>        the step's keys, [token][n_head_kv · head_dim]
//   2  v        read        array<f32>        the step's values, same shape
//   3  k_cache  read_write  array<f32>        n_ctx · n_head_kv · head_dim elements
//   4  v_cache  read_write  array<f32>        same shape
//   5  p        uniform     ModelParams       pos, n_head_kv, head_dim, rope_half, rope_neox
// Dispatch: one invocation per element of the KV width, ceil(n_head_kv · head_dim / WG)
// workgroups in x, one per token in z; extra invocations return. The host checks
// pos + n_tokens <= n_ctx before submitting.

@group(0) @binding(0) var<storage, read> table: array<vec2<f32>>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(4) var<storage, read_write> v_cache: array<f32>;
@group(0) @binding(5) var<uniform> p: ModelParams;

@compute @workgroup_size(WG)
fn kv_append(@builtin(global_invocation_id) gid: vec3<u32>) {
    let kv_dim = p.n_head_kv * p.head_dim;
    if (gid.x >= kv_dim) {
        return;
    }
    let pos = p.pos + gid.z;
    let e = gid.z * kv_dim + gid.x;
    let slot = pos * kv_dim + gid.x;
    v_cache[slot] = v[e];
    let head = e - e % p.head_dim;
    let rp = rope_pair(e % p.head_dim, p.rope_half, p.rope_neox != 0u);
    if (!rp.rotated) {
        k_cache[slot] = k[e];
        return;
    }
    let cs = table[pos * p.rope_half + rp.pair];
    k_cache[slot] = rope_rotate(k[e], k[head + rp.partner], cs, rp.first);
}
