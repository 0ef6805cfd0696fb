// attention: one query head of one token against every cached position up to the token's own
// (causal; grouped-query attention: query head h reads KV head h / (n_head / n_head_kv));
// softmax in f32.
//
// Bindings (group 0):
//   0  q        read        array<vec4<f32>>  rotated queries, [token][n_head · head_dim]
//   1  k_cache  read        array<vec4<f32>>  [position][kv head][head_dim]
//   2  v_cache  read        array<vec4<f32>>  same layout
//   3  scores   read_write  array<f32>        scratch, [token][n_head][n_ctx]
//   4  out      read_write  array<vec4<f32>>  [token][n_head · head_dim]
//   5  p        uniform     ModelParams       pos, n_head, n_head_kv, head_dim, n_ctx, attn_scale
// Dispatch: one workgroup of WG per query head (x) and token (z); token t sees positions
// 0 ..= pos + t. Invocations stride over positions for the scores; for the weighted sum of
// values they split into groups, each group's invocations one vec4 of the head's dimensions
// each, the groups striding over positions, and the groups' sums are added through workgroup
// memory. head_dim is a multiple of 4.

@group(0) @binding(0) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> k_cache: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v_cache: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> scores: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(5) var<uniform> p: ModelParams;

// -f32::MAX written exactly: Chrome (Tint) refuses a literal such as -3.4028235e38 that only rounds to it.
const NEG_MAX: f32 = -3.40282346638528859811704183484516925440e38;

// Each invocation's part of the weighted sum of values.
var<workgroup> partial: array<vec4<f32>, WG>;

@compute @workgroup_size(WG)
fn attention(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.x;
    let t = wid.z;
    let n_kv = p.pos + t + 1u;
    let hd = p.head_dim;
    let kv_dim = p.n_head_kv * hd;
    let q_dim = p.n_head * hd;
    let kv_head = h / (p.n_head / p.n_head_kv);
    let row = (t * p.n_head + h) * p.n_ctx;

    var local_max = NEG_MAX;
    for (var pos = lid; pos < n_kv; pos += WG) {
        let kb = (pos * kv_dim + kv_head * hd) / 4u;
        let qb = (t * q_dim + h * hd) / 4u;
        var s = 0.0;
        for (var i = 0u; i < hd / 4u; i++) {
            s += dot(q[qb + i], k_cache[kb + i]);
        }
        s *= p.attn_scale;
        scores[row + pos] = s;
        local_max = max(local_max, s);
    }
    let m = workgroup_max(lid, local_max);

    var local_sum = 0.0;
    for (var pos = lid; pos < n_kv; pos += WG) {
        let e = exp(scores[row + pos] - m);
        scores[row + pos] = e;
        local_sum += e;
    }
    let inv = 1.0 / workgroup_sum(lid, local_sum);
    // Every invocation now reads the weights the others wrote.
    storageBarrier();

    // The head's vec4 columns, WG at a time (one pass unless head_dim > 4 · WG).
    let columns = hd / 4u;
    let v_head = (kv_head * hd) / 4u;
    let out_head = (t * q_dim + h * hd) / 4u;
    for (var c0 = 0u; c0 < columns; c0 += WG) {
        let width = min(columns - c0, WG);
        let groups = WG / width;
        let c = c0 + lid % width;
        let g = lid / width;
        var acc = vec4<f32>(0.0);
        if (g < groups) {
            for (var pos = g; pos < n_kv; pos += groups) {
                acc += scores[row + pos] * v_cache[pos * (kv_dim / 4u) + v_head + c];
            }
        }
        partial[lid] = acc;
        workgroupBarrier();
        if (lid < width) {
            var sum = vec4<f32>(0.0);
            for (var j = 0u; j < groups; j++) {
                sum += partial[j * width + lid];
            }
            out[out_head + c0 + lid] = sum * inv;
        }
        workgroupBarrier();
    }
}
