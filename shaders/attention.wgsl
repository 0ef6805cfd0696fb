// attention: one query head of one token against every cached position up to the token's own
// (causal; grouped-query attention: query head h reads KV head h / (n_head / n_head_kv));
// softmax in f32. Where the host splits attention (ap.max_chunks > 1, hardware GPUs), the
// positions of a decode step are split into chunks (common/attn_split.wgsl), one workgroup
// each, so that a long context fills a GPU of many cores: each writes its chunk's partial
// softmax, the maximum score m, l = Σ e^(s − m) and o = Σ e^(s − m) · v, and the o
// projection's matvec combines the chunks as it reads them (shaders/matvec.wgsl, ATTN_INPUT).
// Unsplit (ap.max_chunks = 1), the workgroup writes the output itself, o / l. CPU-run adapters
// with subgroups take attention_lanes.wgsl instead: the same results without barriers.
// RoPE and the KV append are folded in: the workgroup rotates its own query; the keys and
// values of the step's tokens (positions pos ..) are read from the step's q/k/v buffer, each
// key rotated as it is read, and the first query head of each KV head writes its token's
// rotated key and value into the cache for later steps (no workgroup of this launch reads those
// slots, so there is no race). Rotation as common/rope.wgsl, the same arithmetic either way.
//
// Bindings (group 0):
//   0  table    read        array<vec2<f32>>  (cos, sin) per position and pair, common/rope.wgsl
//   1  qkv      read        array<vec4<f32>>  the step's q [token][n_head · head_dim] from element
//                                             0, k and v [token][n_head_kv · head_dim] from
//                                             ap.k_base and ap.v_base
//   2  k_cache  read_write  array<vec4<f32>>  [position][kv head][head_dim], f32
//   3  v_cache  read_write  array<vec4<f32>>  same layout
//   4  scores   read_write  array<f32>        scratch, [token][n_head][n_ctx]
//   5  out      read_write  array<vec4<f32>>  o per chunk, [chunk][token][n_head · head_dim]
//                                             (ap.max_chunks chunks), then (m, l, 0, 0) per
//                                             [chunk][token][n_head]
//   6  p        uniform     ModelParams       pos, n_head, n_head_kv, head_dim, rope_half,
//                                             rope_neox, n_ctx, attn_scale
//   7  ap       uniform     AttentionParams
// Dispatch: one workgroup of WG per query head (x), chunk (y: ap.max_chunks) and token (z);
// token t is at position pos + t and sees positions 0 ..= pos + t, split into
// attn_chunks(pos + t + 1, n_tokens) chunks (more than one in decode steps only); workgroups of
// chunks past those return at once, and a chunk left empty by the even division writes o = 0,
// m = NEG_MAX, l = 0. The first chunk's workgroup does the KV append. Invocations stride over
// the chunk's positions for the scores; for the weighted sum of values they split into groups,
// each group's invocations one vec4 of
// the head's dimensions each, the groups striding over positions, and the groups' sums are
// added through workgroup memory. head_dim is a multiple of 4 and at most MAX_HEAD_DIM (the
// host checks both, and pos + n_tokens <= n_ctx).

struct AttentionParams {
    k_base: u32,      // element of qkv where the keys start, a multiple of 4
    v_base: u32,      // element of qkv where the values start, a multiple of 4
    chunk_min: u32,   // positions per chunk at least (common/attn_split.wgsl)
    max_chunks: u32,  // chunks per head and token at most: the dispatch's y
}

@group(0) @binding(0) var<storage, read> table: array<vec2<f32>>;
@group(0) @binding(1) var<storage, read> qkv: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> k_cache: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> v_cache: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> scores: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(6) var<uniform> p: ModelParams;
@group(0) @binding(7) var<uniform> ap: AttentionParams;

const MAX_HEAD_DIM: u32 = 256u;

// The workgroup's query, rotated.
var<workgroup> query: array<vec4<f32>, MAX_HEAD_DIM / 4u>;

// Each invocation's part of the weighted sum of values.
var<workgroup> partial: array<vec4<f32>, WG>;

// Element `i` of the head that starts at element `head` of qkv (a query or a key), rotated for
// position `pos`.
fn rotated(head: u32, i: u32, pos: u32) -> f32 {
    let rp = rope_pair(i, p.rope_half, p.rope_neox != 0u);
    let e = head + i;
    let own = qkv[e / 4u][e % 4u];
    if (!rp.rotated) {
        return own;
    }
    let partner = head + rp.partner;
    let cs = table[pos * p.rope_half + rp.pair];
    return rope_rotate(own, qkv[partner / 4u][partner % 4u], cs, rp.first);
}

// Elements 4c .. 4c + 3 of that head, rotated.
fn rotated4(head: u32, c: u32, pos: u32) -> vec4<f32> {
    return vec4<f32>(rotated(head, 4u * c, pos), rotated(head, 4u * c + 1u, pos),
                     rotated(head, 4u * c + 2u, pos), rotated(head, 4u * c + 3u, pos));
}

// Vec4 `c` of KV head `kv_head`'s key and value at a position before the step's: from the cache.
fn cached_key4(pos: u32, kv_head: u32, c: u32) -> vec4<f32> {
    return k_cache[(pos * p.n_head_kv * p.head_dim + kv_head * p.head_dim) / 4u + c];
}

fn cached_value4(pos: u32, kv_head: u32, c: u32) -> vec4<f32> {
    return v_cache[(pos * p.n_head_kv * p.head_dim + kv_head * p.head_dim) / 4u + c];
}

// The same at any position: from the cache before the step, else the step's own key, rotated,
// and value.
fn key4(pos: u32, kv_head: u32, c: u32) -> vec4<f32> {
    if (pos < p.pos) {
        return cached_key4(pos, kv_head, c);
    }
    let kv_dim = p.n_head_kv * p.head_dim;
    return rotated4(ap.k_base + (pos - p.pos) * kv_dim + kv_head * p.head_dim, c, pos);
}

fn value4(pos: u32, kv_head: u32, c: u32) -> vec4<f32> {
    if (pos < p.pos) {
        return cached_value4(pos, kv_head, c);
    }
    let kv_dim = p.n_head_kv * p.head_dim;
    return qkv[(ap.v_base + (pos - p.pos) * kv_dim + kv_head * p.head_dim) / 4u + c];
}

// The positions chunk `chunk` of token `t` attends to, first ..< end, and how many chunks the
// token's positions were split into (a workgroup whose chunk is past them returns).
struct Span {
    first: u32,
    end: u32,
    chunks: u32,
}

fn chunk_span(chunk: u32, t: u32) -> Span {
    let n_kv = p.pos + t + 1u;
    let chunks = attn_chunks(n_kv, p.n_tokens, ap.chunk_min, ap.max_chunks);
    let chunk_len = (n_kv + chunks - 1u) / chunks;
    let first = min(chunk * chunk_len, n_kv);
    return Span(first, min(first + chunk_len, n_kv), chunks);
}

@compute @workgroup_size(WG)
fn attention(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
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
    let kv_dim = p.n_head_kv * hd;
    let q_dim = p.n_head * hd;
    let kv_head = h / (p.n_head / p.n_head_kv);
    let row = (t * p.n_head + h) * p.n_ctx;
    let own_pos = p.pos + t;

    for (var c = lid; c < hd / 4u; c += WG) {
        query[c] = rotated4(t * q_dim + h * hd, c, own_pos);
    }
    // The first chunk of the first query head of the KV head appends the token's key and value
    // to the cache.
    if (chunk == 0u && h % (p.n_head / p.n_head_kv) == 0u) {
        let slot = (own_pos * kv_dim + kv_head * hd) / 4u;
        for (var c = lid; c < hd / 4u; c += WG) {
            k_cache[slot + c] = key4(own_pos, kv_head, c);
            v_cache[slot + c] = value4(own_pos, kv_head, c);
        }
    }
    workgroupBarrier();

    var local_max = NEG_MAX;
    for (var pos = first + lid; pos < end; pos += WG) {
        var s = 0.0;
        for (var i = 0u; i < hd / 4u; i++) {
            s += dot(query[i], key4(pos, kv_head, i));
        }
        s *= p.attn_scale;
        scores[row + pos] = s;
        local_max = max(local_max, s);
    }
    let m = workgroup_max(lid, local_max);

    var local_sum = 0.0;
    for (var pos = first + lid; pos < end; pos += WG) {
        let e = exp(scores[row + pos] - m);
        scores[row + pos] = e;
        local_sum += e;
    }
    let l = workgroup_sum(lid, local_sum);
    if (lid == 0u) {
        let stats = attn_stats_at(chunk, t, h, p.n_tokens, p.n_head, q_dim / 4u, ap.max_chunks);
        out[stats] = vec4<f32>(m, l, 0.0, 0.0);
    }
    // Every invocation now reads the weights the others wrote.
    storageBarrier();

    // The head's vec4 columns, WG at a time (one pass unless head_dim > 4 · WG).
    let columns = hd / 4u;
    let out_head = ((chunk * p.n_tokens + t) * q_dim + h * hd) / 4u;
    for (var c0 = 0u; c0 < columns; c0 += WG) {
        let width = min(columns - c0, WG);
        let groups = WG / width;
        let c = c0 + lid % width;
        let g = lid / width;
        var acc = vec4<f32>(0.0);
        if (g < groups) {
            for (var pos = first + g; pos < end; pos += groups) {
                acc += scores[row + pos] * value4(pos, kv_head, c);
            }
        }
        partial[lid] = acc;
        workgroupBarrier();
        if (lid < width) {
            var sum = vec4<f32>(0.0);
            for (var j = 0u; j < groups; j++) {
                sum += partial[j * width + lid];
            }
            // Unsplit (one chunk at most), the output itself; else the chunk's o, which the o
            // projection combines.
            if (ap.max_chunks == 1u) {
                out[out_head + c0 + lid] = sum / l;
            } else {
                out[out_head + c0 + lid] = sum;
            }
        }
        workgroupBarrier();
    }
}
