// attention_lanes: attention.wgsl's attention (its bindings, params, dispatch and helpers, which
// the host places before this file) for adapters that run on the CPU and have subgroups
// (SwiftShader): a workgroup is one SIMD group of WG = 4 invocations, the head's vec4 columns
// dealt out among them (lane l takes columns l, l + 4, ...), the score's partial dot products
// summed with `subgroupAdd`. No workgroup memory and no barriers: on SwiftShader each barrier
// costs a coroutine switch per SIMD group, which made attention over 16 positions take as long
// as a matvec over 1.8M weights. Two passes, as attention.wgsl: the scores and their maximum m,
// then Σ e^(s − m) and Σ e^(s − m) · v; the scores go through the `scores` scratch.
//
// Dispatch: as attention.wgsl, one workgroup per query head (x), chunk (y) and token (z).

// A lane's columns of the query and of the weighted sum of values, at most MAX_HEAD_DIM / 16
// vec4s each.
const LANE_COLUMNS: u32 = MAX_HEAD_DIM / 16u;

// The score of one position from the lanes' partial dot products, stored in the scratch. Every
// lane stores the same score, so each reads back its own store later without a barrier.
fn store_score(i: u32, part: f32) -> f32 {
    let s = subgroupAdd(part) * p.attn_scale;
    scores[i] = s;
    return s;
}

@compute @workgroup_size(WG)
fn attention_lanes(@builtin(workgroup_id) wid: vec3<u32>,
                   @builtin(local_invocation_index) lane: u32) {
    let h = wid.x;
    let chunk = wid.y;
    let t = wid.z;
    let span = chunk_span(chunk, t);
    if (chunk >= span.chunks) {
        return;
    }
    let first = span.first;
    let end = span.end;
    let hd = p.head_dim;
    let columns = hd / 4u;
    let kv_dim = p.n_head_kv * hd;
    let q_dim = p.n_head * hd;
    let kv_head = h / (p.n_head / p.n_head_kv);
    let row = (t * p.n_head + h) * p.n_ctx;
    let own_pos = p.pos + t;

    var q: array<vec4<f32>, LANE_COLUMNS>;
    for (var i = 0u; lane + 4u * i < columns; i++) {
        q[i] = rotated4(t * q_dim + h * hd, lane + 4u * i, own_pos);
    }
    // The first chunk of the first query head of the KV head appends the token's key and value
    // to the cache (no workgroup of this launch reads that slot from the cache).
    if (chunk == 0u && h % (p.n_head / p.n_head_kv) == 0u) {
        let slot = (own_pos * kv_dim + kv_head * hd) / 4u;
        for (var c = lane; c < columns; c += 4u) {
            k_cache[slot + c] = key4(own_pos, kv_head, c);
            v_cache[slot + c] = value4(own_pos, kv_head, c);
        }
    }

    // Positions before the step's come from the cache, in loops of their own: SwiftShader runs
    // the code of a branch even where no lane takes it, and key4's rotation of the step's own
    // keys would cost every cached position.
    let cached_end = clamp(p.pos, first, end);
    var m = NEG_MAX;
    for (var pos = first; pos < cached_end; pos++) {
        var part = 0.0;
        for (var i = 0u; lane + 4u * i < columns; i++) {
            part += dot(q[i], cached_key4(pos, kv_head, lane + 4u * i));
        }
        m = max(m, store_score(row + pos, part));
    }
    for (var pos = cached_end; pos < end; pos++) {
        var part = 0.0;
        for (var i = 0u; lane + 4u * i < columns; i++) {
            part += dot(q[i], key4(pos, kv_head, lane + 4u * i));
        }
        m = max(m, store_score(row + pos, part));
    }

    var o: array<vec4<f32>, LANE_COLUMNS>;
    var l = 0.0;
    for (var pos = first; pos < cached_end; pos++) {
        let e = exp(scores[row + pos] - m);
        l += e;
        for (var i = 0u; lane + 4u * i < columns; i++) {
            o[i] += e * cached_value4(pos, kv_head, lane + 4u * i);
        }
    }
    for (var pos = cached_end; pos < end; pos++) {
        let e = exp(scores[row + pos] - m);
        l += e;
        for (var i = 0u; lane + 4u * i < columns; i++) {
            o[i] += e * value4(pos, kv_head, lane + 4u * i);
        }
    }
    if (lane == 0u && ap.max_chunks > 1u) {
        let stats = attn_stats_at(chunk, t, h, p.n_tokens, p.n_head, q_dim / 4u, ap.max_chunks);
        out[stats] = vec4<f32>(m, l, 0.0, 0.0);
    }
    // Unsplit (one chunk at most), the output itself; else the chunk's o, which the o
    // projection combines.
    let out_head = ((chunk * p.n_tokens + t) * q_dim + h * hd) / 4u;
    for (var i = 0u; lane + 4u * i < columns; i++) {
        if (ap.max_chunks == 1u) {
            out[out_head + lane + 4u * i] = o[i] / l;
        } else {
            out[out_head + lane + 4u * i] = o[i];
        }
    }
}
