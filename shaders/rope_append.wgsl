// rope_append: the attention's inputs for the step, in one launch: its queries rotated to their
// positions, and its keys (rotated) and values written into cache slots pos .. pos + n_tokens of
// one layer. Cache layout: [position][kv head][head_dim], f32 (as the CPU backend's default).
//
// Bindings (group 0):
//   0  table    read        array<vec2<f32>>  (cos, sin) per position and pair, common/rope.wgsl
//   1  q        read        array<f32>        the step's queries, [token][n_head · head_dim]
//   2  q_rot    read_write  array<f32>        the rotated queries, same shape
//   3  k        read        array<f32>        the step's keys, [token][n_head_kv · head_dim]
//   4  v        read        array<f32>        the step's values, same shape
//   5  k_cache  read_write  array<f32>        n_ctx · n_head_kv · head_dim elements
//   6  v_cache  read_write  array<f32>        same shape
//   7  p        uniform     ModelParams       pos, n_head, n_head_kv, head_dim, rope_half,
//                                             rope_neox
// Dispatch: one invocation per query element (the KV width is never larger), ceil(n_head ·
// head_dim / WG) workgroups in x, one per token in z (token t is at position pos + t); extra
// invocations return. The host checks pos + n_tokens <= n_ctx before submitting.

@group(0) @binding(0) var<storage, read> table: array<vec2<f32>>;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read_write> q_rot: array<f32>;
@group(0) @binding(3) var<storage, read> k: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<f32>;
@group(0) @binding(5) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(6) var<storage, read_write> v_cache: array<f32>;
@group(0) @binding(7) var<uniform> p: ModelParams;

// Element `i` of the token row starting at element `row`, rotated for position `pos`.
fn rotated_q(row: u32, i: u32, pos: u32) -> f32 {
    let rp = rope_pair(i % p.head_dim, p.rope_half, p.rope_neox != 0u);
    let e = row + i;
    if (!rp.rotated) {
        return q[e];
    }
    let head = e - i % p.head_dim;
    return rope_rotate(q[e], q[head + rp.partner], table[pos * p.rope_half + rp.pair], rp.first);
}

// The same for a key.
fn rotated_k(row: u32, i: u32, pos: u32) -> f32 {
    let rp = rope_pair(i % p.head_dim, p.rope_half, p.rope_neox != 0u);
    let e = row + i;
    if (!rp.rotated) {
        return k[e];
    }
    let head = e - i % p.head_dim;
    return rope_rotate(k[e], k[head + rp.partner], table[pos * p.rope_half + rp.pair], rp.first);
}

@compute @workgroup_size(WG)
fn rope_append(@builtin(global_invocation_id) gid: vec3<u32>) {
    let q_dim = p.n_head * p.head_dim;
    let kv_dim = p.n_head_kv * p.head_dim;
    let i = gid.x;
    if (i >= q_dim) {
        return;
    }
    let pos = p.pos + gid.z;
    q_rot[gid.z * q_dim + i] = rotated_q(gid.z * q_dim, i, pos);
    if (i < kv_dim) {
        let slot = pos * kv_dim + i;
        v_cache[slot] = v[gid.z * kv_dim + i];
        k_cache[slot] = rotated_k(gid.z * kv_dim, i, pos);
    }
}
