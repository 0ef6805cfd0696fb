// summary: the next-token distribution of one row of logits reduced on the GPU, so that a step
// reads back a few hundred bytes instead of the vocabulary: log-sum-exp, entropy (nats), the
// largest logit, the top-N tokens by logit (ties broken by the lower id), the logprob and rank of
// a token being scored, and optionally a token drawn with crates/dist's warpers for the host's
// uniform draw.
//
// Bindings (group 0, both entry points):
//   0  logits  read        array<f32>      one row of n_vocab logits
//   1  out     read_write  array<f32>      HEADER values (below), then (id bits, logit) × top_n
//   2  s       uniform     SummaryParams
//   3  chunks  read_write  array<f32>      scratch: one record of REC values per chunk
// Dispatch, two launches in one pass:
//   summary_chunk  one workgroup per chunk of the vocabulary (x, s.n_chunks of s.chunk tokens):
//                  the chunk's max, its Σ exp(z − max) and Σ exp(z − max)(z − max) (so chunks
//                  combine exactly), the tokens ranked before the scored one, and the chunk's
//                  best tokens, sorted (its head: the global head's tokens in this chunk are
//                  among them)
//   summary        a single workgroup: combines the chunks, merges their heads, and samples
// Every reduction goes through workgroup memory (common/reduce.wgsl). Sums are f32: entropies
// agree with an f64 computation to ~1e-6 relative. The logits must be finite.
//
// Header (u32 values stored as their bits):
//   0 lse   1 entropy   2 max logit   3 target logprob   4 target rank (NONE without a target)
//   5 sample status: 0 not asked, DRAWN, or why the GPU cannot decide (NEEDS_*: the host then
//     samples from the full logits)
//   6 drawn id   7 its rank   8 its logprob   9 its logprob under the warped distribution
//   10 entropy of the warped distribution (nats)   11 tokens the warpers kept
//
// Sampling follows crates/dist's `warp` + `Sampler::sample` (metrics.md §3): temperature, then
// top-k (keep z ≥ the k-th largest, ties kept), top-p (keep the shortest head, descending, whose
// mass reaches top_p; the mass is over the top-k set), min-p (keep p ≥ min_p · max p), then the
// inverse CDF of u over the kept tokens in descending order. The sorted part of the distribution
// the kernel holds is its top MAX_TOP tokens (the head), so it decides only when
//   top-k's k-th token lies in the head (k ≤ MAX_TOP, or top-k off),
//   top-p's mass is reached within the head (or the top-k set lies wholly in it), and
//   the inverse CDF walk ends within the head (likely for peaked distributions and small u);
// the masses of sets larger than the head come from full passes over the vocabulary. Typical
// sampling and the repetition penalty are left to the host. Everything is f32 where crates/dist
// uses f64, so a draw within ~1e-6 of a boundary between two tokens may pick the other one.

struct SummaryParams {
    n_vocab: u32,
    top_n: u32,     // top tokens written, at most MAX_TOP (set by the host like WG)
    scored: u32,    // the token scored: its logprob and rank; NONE for none
    sample: u32,    // 1: draw a token, 0: summary only
    inv_temp: f32,  // 1 / temperature; 0 means temperature 0 (greedy)
    top_k: u32,     // 0 = off
    top_p: f32,     // 1 = off
    min_p: f32,     // 0 = off
    u: f32,         // the uniform draw, in [0, 1)
    chunk: u32,     // tokens per chunk (summary_chunk)
    n_chunks: u32,  // chunks, at most MAX_CHUNKS
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> s: SummaryParams;
@group(0) @binding(3) var<storage, read_write> chunks: array<f32>;

// A chunk's record: max, Σ exp(z − max), Σ exp(z − max)(z − max), tokens ranked before the
// scored one, head size (bits), 3 unused, then (id bits, logit) × head size, best first.
const MAX_CHUNKS: u32 = 16u;
const REC: u32 = 8u + 2u * MAX_TOP;

var<workgroup> best_id: array<u32, WG>;
// The head: the top tokens, best first.
var<workgroup> head_z: array<f32, MAX_TOP>;
var<workgroup> head_id: array<u32, MAX_TOP>;

// The head is found from a histogram of how far each logit lies below the largest, BUCKET_SCALE
// buckets per nat (the last bucket takes everything further down): the buckets down to the one
// where the count reaches the head's size hold every token of the head, and, when they hold at
// most CAP tokens, those are gathered and sorted in workgroup memory. Four passes over the
// vocabulary instead of one per head token; a flat distribution (more than CAP tokens that
// close to the top) falls back to selecting the head token by token.
const BUCKETS: u32 = 256u;
const BUCKET_SCALE: f32 = 8.0;
const CAP: u32 = 512u;
var<workgroup> hist: array<atomic<u32>, BUCKETS>;
var<workgroup> n_cand: atomic<u32>;
// Candidates: a chunk's gathered tokens (CAP), or every chunk's head in the merge (MERGE).
const MERGE: u32 = MAX_CHUNKS * MAX_TOP;
var<workgroup> cand_z: array<f32, MERGE>;
var<workgroup> cand_id: array<u32, MERGE>;
// The last bucket gathered, or NONE to select token by token.
var<workgroup> cut: u32;
var<workgroup> n_found: u32;

const NONE: u32 = 0xffffffffu;
const HEADER: u32 = 12u;
// -f32::MAX written exactly (Chrome refuses a literal that only rounds to it).
const NEG_MAX: f32 = -3.40282346638528859811704183484516925440e38;

// Sample status codes (header 5), mirrored by crates/gpu/src/summary.rs.
const DRAWN: u32 = 1u;
const NEEDS_TOP_K: u32 = 2u;   // top_k > the head
const NEEDS_TOP_P: u32 = 3u;   // the top-p mass lies beyond the head
const NEEDS_TAIL: u32 = 4u;    // the inverse CDF walk leaves the head

// True when (a, ia) ranks before (b, ib): larger logit first, then lower id. NONE ranks last.
fn ranks_before(a: f32, ia: u32, b: f32, ib: u32) -> bool {
    if (ib == NONE) {
        return ia != NONE;
    }
    if (ia == NONE) {
        return false;
    }
    return a > b || (a == b && ia < ib);
}

// The best-ranked (logit, id) over the workgroup, through wg_scratch and best_id.
fn workgroup_best(lid: u32, v: f32, id: u32) -> u32 {
    wg_scratch[lid] = v;
    best_id[lid] = id;
    workgroupBarrier();
    for (var k = WG / 2u; k > 0u; k = k >> 1u) {
        if (lid < k && ranks_before(wg_scratch[lid + k], best_id[lid + k], wg_scratch[lid], best_id[lid])) {
            wg_scratch[lid] = wg_scratch[lid + k];
            best_id[lid] = best_id[lid + k];
        }
        workgroupBarrier();
    }
    // Uniform across the workgroup, so callers may branch on it.
    let best = workgroupUniformLoad(&best_id[0]);
    workgroupBarrier();
    return best;
}

fn bucket(z: f32, mx: f32) -> u32 {
    return u32(min((mx - z) * BUCKET_SCALE, f32(BUCKETS - 1u)));
}

// Sorts the first n (a power of two) candidates best first (bitonic network; padding entries are
// NONE and rank last).
fn sort_candidates(lid: u32, n: u32) {
    for (var k = 2u; k <= n; k = k << 1u) {
        for (var j = k >> 1u; j > 0u; j = j >> 1u) {
            for (var i = lid; i < n; i += WG) {
                let l = i ^ j;
                if (l > i) {
                    // In blocks with (i & k) == 0 the better entry goes first, else last.
                    let l_first = ranks_before(cand_z[l], cand_id[l], cand_z[i], cand_id[i]);
                    if (l_first == ((i & k) == 0u)) {
                        let z = cand_z[i];
                        let id = cand_id[i];
                        cand_z[i] = cand_z[l];
                        cand_id[i] = cand_id[l];
                        cand_z[l] = z;
                        cand_id[l] = id;
                    }
                }
            }
            workgroupBarrier();
        }
    }
}

// The smallest power of two ≥ n (and ≥ 2): how many candidates a sort takes.
fn sort_size(n: u32) -> u32 {
    return 1u << (32u - countLeadingZeros(max(n, 2u) - 1u));
}

fn put_u32(i: u32, v: u32) {
    out[i] = bitcast<f32>(v);
}

// Header 5..11 for a drawn token: head entry `i`, the warped distribution's mass `w`
// (Σ exp(y) over the kept tokens, y the tempered logit minus the largest), `wy` (Σ exp(y)·y)
// and its size.
fn put_drawn(i: u32, lse: f32, mx: f32, w: f32, wy: f32, kept: u32) {
    let y = (head_z[i] - mx) * s.inv_temp;
    put_u32(5u, DRAWN);
    put_u32(6u, head_id[i]);
    put_u32(7u, i);
    out[8] = head_z[i] - lse;
    out[9] = y - log(w);
    // H = −Σ p ln p with p = exp(y) / w: H = ln w − Σ exp(y) y / w.
    out[10] = max(log(w) - wy / w, 0.0);
    put_u32(11u, kept);
}

// The head's size: top_n, or for sampling the whole head (one token when greedy).
fn head_size() -> u32 {
    var rounds = s.top_n;
    if (s.sample != 0u) {
        rounds = select(MAX_TOP, max(rounds, 1u), s.inv_temp == 0.0);
    }
    return min(rounds, MAX_TOP);
}

@compute @workgroup_size(WG)
fn summary_chunk(@builtin(workgroup_id) wid: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let first = wid.x * s.chunk;
    let end = max(min(first + s.chunk, s.n_vocab), first);
    let rec = wid.x * REC;
    var m = NEG_MAX;
    for (var i = first + lid; i < end; i += WG) {
        m = max(m, logits[i]);
    }
    let mc = workgroup_max(lid, m);
    var zt = 0.0;
    if (s.scored < s.n_vocab) {
        zt = logits[s.scored];
    }
    var sum = 0.0;
    var sum_z = 0.0;
    var above = 0.0;  // tokens ranked before the target (counts are exact in f32 below 2^24)
    for (var i = first + lid; i < end; i += WG) {
        let z = logits[i];
        let e = exp(z - mc);
        sum += e;
        sum_z += e * (z - mc);
        if (z > zt || (z == zt && i < s.scored)) {
            above += 1.0;
        }
        let b = bucket(z, mc);
        if (b < BUCKETS - 1u) {
            atomicAdd(&hist[b], 1u);  // the last bucket is not counted: it is all the rest
        }
    }
    let total = workgroup_sum(lid, sum);
    let total_z = workgroup_sum(lid, sum_z);
    let rank = workgroup_sum(lid, above);

    // The chunk's head: gathered from the buckets that hold it and sorted, or where more than CAP
    // tokens lie that close to the top, selected token by token.
    var rounds = min(head_size(), end - first);
    var n_head = 0u;
    if (lid == 0u) {
        var taken = 0u;
        var last = 0u;
        for (; last < BUCKETS - 1u; last++) {
            taken += atomicLoad(&hist[last]);
            if (taken >= rounds) {
                break;
            }
        }
        if (last == BUCKETS - 1u) {
            taken = end - first;
        }
        cut = select(last, NONE, taken > CAP);
    }
    let gathered = workgroupUniformLoad(&cut);
    if (gathered != NONE && rounds > 0u) {
        for (var i = first + lid; i < end; i += WG) {
            let z = logits[i];
            if (bucket(z, mc) <= gathered) {
                let slot = atomicAdd(&n_cand, 1u);
                cand_z[slot] = z;
                cand_id[slot] = i;
            }
        }
        workgroupBarrier();
        if (lid == 0u) {
            n_found = atomicLoad(&n_cand);
        }
        let found = workgroupUniformLoad(&n_found);
        let n_sort = sort_size(found);
        for (var i = found + lid; i < n_sort; i += WG) {
            cand_z[i] = NEG_MAX;
            cand_id[i] = NONE;
        }
        workgroupBarrier();
        sort_candidates(lid, n_sort);
        n_head = min(rounds, found);
        for (var r = lid; r < n_head; r += WG) {
            chunks[rec + 8u + 2u * r] = bitcast<f32>(cand_id[r]);
            chunks[rec + 9u + 2u * r] = cand_z[r];
        }
        rounds = 0u;  // nothing left to select below
    }
    // Round r takes the best token ranked after round r − 1's.
    var prev = mc + 1.0;
    var prev_id = NONE;
    for (var r = 0u; r < rounds; r++) {
        var v = 0.0;
        var id = NONE;
        for (var i = first + lid; i < end; i += WG) {
            let z = logits[i];
            let after_prev = prev_id == NONE || ranks_before(prev, prev_id, z, i);
            if (after_prev && ranks_before(z, i, v, id)) {
                v = z;
                id = i;
            }
        }
        let winner = workgroup_best(lid, v, id);
        if (winner == NONE) {
            break;
        }
        prev_id = winner;
        prev = logits[winner];
        n_head = r + 1u;
        if (lid == 0u) {
            chunks[rec + 8u + 2u * r] = bitcast<f32>(winner);
            chunks[rec + 9u + 2u * r] = prev;
        }
    }
    if (lid == 0u) {
        chunks[rec] = mc;
        chunks[rec + 1u] = total;
        chunks[rec + 2u] = total_z;
        chunks[rec + 3u] = rank;
        chunks[rec + 4u] = bitcast<f32>(n_head);
    }
}

@compute @workgroup_size(WG)
fn summary(@builtin(local_invocation_index) lid: u32) {
    // Combine the chunks: with the overall max mx, Σ exp(z − mx) = Σ_c exp(m_c − mx) S_c and
    // Σ exp(z − mx)(z − mx) = Σ_c exp(m_c − mx) (T_c + (m_c − mx) S_c).
    var m = NEG_MAX;
    for (var c = lid; c < s.n_chunks; c += WG) {
        m = max(m, chunks[c * REC]);
    }
    let mx = workgroup_max(lid, m);
    var sum = 0.0;
    var sum_z = 0.0;
    var above = 0.0;
    for (var c = lid; c < s.n_chunks; c += WG) {
        let mc = chunks[c * REC];
        let sc = chunks[c * REC + 1u];
        let f = exp(mc - mx);
        sum += f * sc;
        sum_z += f * (chunks[c * REC + 2u] + (mc - mx) * sc);
        above += chunks[c * REC + 3u];
    }
    let total = workgroup_sum(lid, sum);
    let total_z = workgroup_sum(lid, sum_z);
    let rank = workgroup_sum(lid, above);
    let lse = mx + log(total);
    let has_target = s.scored < s.n_vocab;
    var zt = 0.0;
    if (has_target) {
        zt = logits[s.scored];
    }
    if (lid == 0u) {
        out[0] = lse;
        // H = −Σ p ln p with ln p = (z − max) − ln Σ: H = ln Σ − Σ p (z − max).
        out[1] = log(total) - total_z / total;
        out[2] = mx;
        out[3] = select(0.0, zt - lse, has_target);
        put_u32(4u, select(NONE, u32(rank), has_target));
        for (var k = 5u; k < HEADER; k++) {
            out[k] = 0.0;
        }
    }

    // The head: every chunk's head in its slots (as many as the head's size), merged by sorting.
    let slots = max(head_size(), 1u);
    let n_sort = sort_size(s.n_chunks * slots);
    for (var i = lid; i < n_sort; i += WG) {
        let c = i / slots;
        let r = i % slots;
        var z = NEG_MAX;
        var id = NONE;
        if (c < s.n_chunks && r < bitcast<u32>(chunks[c * REC + 4u])) {
            id = bitcast<u32>(chunks[c * REC + 8u + 2u * r]);
            z = chunks[c * REC + 9u + 2u * r];
        }
        cand_z[i] = z;
        cand_id[i] = id;
    }
    workgroupBarrier();
    sort_candidates(lid, n_sort);
    var n_head = 0u;
    for (var c = 0u; c < s.n_chunks; c++) {
        n_head += bitcast<u32>(chunks[c * REC + 4u]);
    }
    n_head = min(n_head, head_size());
    for (var r = lid; r < n_head; r += WG) {
        head_z[r] = cand_z[r];
        head_id[r] = cand_id[r];
        if (r < s.top_n) {
            out[HEADER + 2u * r] = bitcast<f32>(cand_id[r]);
            out[HEADER + 1u + 2u * r] = cand_z[r];
        }
    }
    if (s.sample == 0u) {
        return;
    }
    workgroupBarrier();
    if (s.inv_temp == 0.0) {
        // Greedy: the largest logit, lowest id on ties; a one-token distribution.
        if (lid == 0u) {
            put_drawn(0u, lse, mx, 1.0, 0.0, 1u);
        }
        return;
    }

    // Top-k's threshold on the logit (the k-th largest), if the head holds it.
    var status = DRAWN;
    var tau = NEG_MAX;
    if (s.top_k > 0u && s.top_k < s.n_vocab) {
        if (s.top_k > n_head) {
            status = NEEDS_TOP_K;
        } else {
            tau = head_z[s.top_k - 1u];
        }
    }
    // The top-k set's mass Σ exp(y) and size; then its part that min-p keeps (p ≥ min_p · max p
    // with p = exp(y) / mass and max p = 1 / mass is exp(y) ≥ min_p): mass, Σ exp(y) y, size.
    var wa = 0.0;
    var ca = 0.0;
    var wm = 0.0;
    var wym = 0.0;
    var cm = 0.0;
    for (var i = lid; i < s.n_vocab; i += WG) {
        let z = logits[i];
        if (z >= tau) {
            let y = (z - mx) * s.inv_temp;
            let e = exp(y);
            wa += e;
            ca += 1.0;
            if (e >= s.min_p) {
                wm += e;
                wym += e * y;
                cm += 1.0;
            }
        }
    }
    let w_a = workgroup_sum(lid, wa);
    let n_a = u32(workgroup_sum(lid, ca));
    var w = workgroup_sum(lid, wm);
    var wy = workgroup_sum(lid, wym);
    var kept = u32(workgroup_sum(lid, cm));
    if (lid != 0u) {
        return;
    }

    // Top-p over the top-k set: the set becomes the head's first n_top_p tokens.
    var n_top_p = MAX_TOP + 1u;  // no truncation
    if (status == DRAWN && s.top_p < 1.0) {
        var cum = 0.0;
        for (var i = 0u; i < min(n_head, n_a); i++) {
            cum += exp((head_z[i] - mx) * s.inv_temp) / w_a;
            if (cum >= s.top_p) {
                n_top_p = i + 1u;
                break;
            }
        }
        // Never reached: crates/dist keeps the whole set, which the kernel only knows in full
        // when the head holds it.
        if (n_top_p > MAX_TOP && n_a > n_head) {
            status = NEEDS_TOP_P;
        }
    }
    if (n_top_p <= MAX_TOP) {
        // Min-p over that head prefix.
        w = 0.0;
        wy = 0.0;
        kept = 0u;
        for (var i = 0u; i < n_top_p; i++) {
            let y = (head_z[i] - mx) * s.inv_temp;
            let e = exp(y);
            if (e >= s.min_p) {
                w += e;
                wy += e * y;
                kept += 1u;
            }
        }
    }
    if (status != DRAWN) {
        put_u32(5u, status);
        return;
    }
    if (kept == 1u) {
        put_drawn(0u, lse, mx, w, wy, 1u);
        return;
    }
    // Inverse CDF over the kept tokens, descending: the first whose cumulative p exceeds u. The
    // kept tokens are a prefix of the head (the order is by logit), cut by top-k, top-p, min-p.
    var cum = 0.0;
    for (var i = 0u; i < min(n_head, n_top_p); i++) {
        let e = exp((head_z[i] - mx) * s.inv_temp);
        if (head_z[i] < tau || e < s.min_p) {
            break;
        }
        cum += e / w;
        if (cum > s.u) {
            put_drawn(i, lse, mx, w, wy, kept);
            return;
        }
    }
    put_u32(5u, NEEDS_TAIL);
}
